//! Wait strategies for idle hot threads: `spin`, `spin-yield`, `park` (DESIGN §3).
//!
//! A hot thread polls its stages; when a whole pass found no work it calls [`Waiter::idle`], and
//! [`Waiter::reset`] after a pass that did work. Parking sleeps on a [`Sleeper`] — in the engine the
//! control segment's futex word, which every halt trip bumps — so no thread sleeps through a halt.

use crate::config::WaitKind;

/// Something an idle thread can sleep on until woken or `timeout_ns` passes.
pub trait Sleeper: Send + Sync {
    /// Sleeps at most `timeout_ns`; returns early when woken (a halt trip, a shutdown).
    fn sleep(&self, timeout_ns: u64);
}

/// Spins before the first yield (about 0.1-1 µs of `pause`s: cheaper than a syscall when work is
/// about to arrive).
const SPINS_BEFORE_YIELD: u32 = 64;
/// Yields before parking.
const YIELDS_BEFORE_PARK: u32 = 16;
/// The first park is short so a newly idle pipeline stays responsive.
const PARK_MIN_NS: u64 = 50_000;
/// Parks back off up to this: the bound on how late a parked stage notices new ring data.
const PARK_MAX_NS: u64 = 1_000_000;

/// Per-thread idle state for one wait strategy.
pub struct Waiter<'a> {
    kind: WaitKind,
    idle_passes: u32,
    park_ns: u64,
    sleeper: &'a dyn Sleeper,
}

impl<'a> Waiter<'a> {
    /// A waiter of `kind` parking on `sleeper`.
    pub fn new(kind: WaitKind, sleeper: &'a dyn Sleeper) -> Self {
        Self {
            kind,
            idle_passes: 0,
            park_ns: PARK_MIN_NS,
            sleeper,
        }
    }

    /// A pass found work: spin hot again.
    #[inline]
    pub fn reset(&mut self) {
        self.idle_passes = 0;
        self.park_ns = PARK_MIN_NS;
    }

    /// A pass found no work: wait according to the strategy.
    #[inline]
    pub fn idle(&mut self) {
        self.idle_passes = self.idle_passes.saturating_add(1);
        match self.kind {
            WaitKind::Spin => std::hint::spin_loop(),
            WaitKind::SpinYield => {
                if self.idle_passes <= SPINS_BEFORE_YIELD {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            WaitKind::Park => {
                // Passes 1..=SPINS spin, the next YIELDS yield, every later one parks.
                if self.idle_passes <= SPINS_BEFORE_YIELD {
                    std::hint::spin_loop();
                } else if self.idle_passes <= SPINS_BEFORE_YIELD + YIELDS_BEFORE_PARK {
                    std::thread::yield_now();
                } else {
                    self.sleeper.sleep(self.park_ns);
                    self.park_ns = (self.park_ns * 2).min(PARK_MAX_NS);
                }
            }
        }
    }
}

/// A sleeper for code with nothing to wake it: a plain timed sleep.
#[derive(Debug, Default)]
pub struct TimedSleeper;

impl Sleeper for TimedSleeper {
    fn sleep(&self, timeout_ns: u64) {
        std::thread::sleep(std::time::Duration::from_nanos(timeout_ns));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[derive(Default)]
    struct CountingSleeper {
        sleeps: AtomicU64,
        last_ns: AtomicU64,
    }
    impl Sleeper for CountingSleeper {
        fn sleep(&self, timeout_ns: u64) {
            self.sleeps.fetch_add(1, Ordering::Relaxed);
            self.last_ns.store(timeout_ns, Ordering::Relaxed);
        }
    }

    #[test]
    fn park_escalates_spin_yield_park_and_backs_off() {
        let s = CountingSleeper::default();
        let mut w = Waiter::new(WaitKind::Park, &s);
        for _ in 0..(SPINS_BEFORE_YIELD + YIELDS_BEFORE_PARK) {
            w.idle();
        }
        assert_eq!(
            s.sleeps.load(Ordering::Relaxed),
            0,
            "spins and yields come first"
        );
        w.idle();
        assert_eq!(s.last_ns.load(Ordering::Relaxed), PARK_MIN_NS);
        for _ in 0..20 {
            w.idle();
        }
        assert_eq!(
            s.last_ns.load(Ordering::Relaxed),
            PARK_MAX_NS,
            "backoff is capped"
        );
        w.reset();
        for _ in 0..(SPINS_BEFORE_YIELD + YIELDS_BEFORE_PARK + 1) {
            w.idle();
        }
        assert_eq!(
            s.last_ns.load(Ordering::Relaxed),
            PARK_MIN_NS,
            "reset restarts the backoff"
        );
    }

    #[test]
    fn spin_strategies_never_sleep() {
        let s = CountingSleeper::default();
        for kind in [WaitKind::Spin, WaitKind::SpinYield] {
            let mut w = Waiter::new(kind, &s);
            for _ in 0..1000 {
                w.idle();
            }
        }
        assert_eq!(s.sleeps.load(Ordering::Relaxed), 0);
    }
}
