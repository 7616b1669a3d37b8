//! The injected clock: hot paths read time through [`Clock`], so replays are reproducible.

use std::sync::atomic::{AtomicU64, Ordering};

/// Nanoseconds since the Unix epoch (wall clock) or since an arbitrary origin (monotonic).
pub type Nanos = u64;

/// A source of time. Live code uses [`MonoClock`]/[`WallClock`]; replays and tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    /// Monotonic nanoseconds, for latencies and timeouts.
    fn mono_ns(&self) -> Nanos;
    /// Wall-clock nanoseconds since the Unix epoch, for venue timestamps and audit records.
    fn wall_ns(&self) -> Nanos;
}

/// The live clock: `CLOCK_MONOTONIC` and `CLOCK_REALTIME` through the vDSO (no syscall).
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveClock;

impl Clock for LiveClock {
    #[inline]
    fn mono_ns(&self) -> Nanos {
        mono_now_ns()
    }
    #[inline]
    fn wall_ns(&self) -> Nanos {
        wall_now_ns()
    }
}

/// Monotonic now in ns (`CLOCK_MONOTONIC`, comparable across processes on one host).
#[inline]
pub fn mono_now_ns() -> Nanos {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC is always supported on Linux;
    // clock_gettime writes only into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Wall-clock now in ns since the Unix epoch (`CLOCK_REALTIME`).
#[inline]
pub fn wall_now_ns() -> Nanos {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `mono_now_ns`; CLOCK_REALTIME is always supported.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A clock that only moves when told to: replays set it from recorded receive times.
#[derive(Debug, Default)]
pub struct ManualClock {
    mono: AtomicU64,
    wall: AtomicU64,
}

impl ManualClock {
    /// A clock at the given wall time; monotonic time starts at the same value.
    pub fn new(wall_ns: Nanos) -> Self {
        Self {
            mono: AtomicU64::new(wall_ns),
            wall: AtomicU64::new(wall_ns),
        }
    }
    /// Sets both clocks to `ns` (monotonic time never moves backwards).
    pub fn set(&self, ns: Nanos) {
        self.mono.fetch_max(ns, Ordering::Relaxed);
        self.wall.store(ns, Ordering::Relaxed);
    }
    /// Advances both clocks by `ns`.
    pub fn advance(&self, ns: Nanos) {
        self.mono.fetch_add(ns, Ordering::Relaxed);
        self.wall.fetch_add(ns, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn mono_ns(&self) -> Nanos {
        self.mono.load(Ordering::Relaxed)
    }
    fn wall_ns(&self) -> Nanos {
        self.wall.load(Ordering::Relaxed)
    }
}
