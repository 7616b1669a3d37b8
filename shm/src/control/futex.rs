//! The sleep/wake seam: a shared futex word bumped on every transition, so no thread sleeps
//! through a halt, in this process or another.
//!
//! The futex is *shared* (no `FUTEX_PRIVATE_FLAG`): the kernel keys it by the file page and offset,
//! so a waiter in the engine is woken by a `lyra halt` in another process. A `sleepers` count lets
//! a transition skip the `FUTEX_WAKE` syscall when nobody sleeps; the SeqCst pair (waiter:
//! increment sleepers, then read the word; notifier: bump the word, then read sleepers) guarantees
//! that either the notifier sees the sleeper or the kernel sees the new word and does not sleep.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use super::ControlSegment;

/// Why [`ControlSegment::wait_for_change`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The wake sequence differs from the expected value (a transition happened); the new value.
    Changed(u32),
    /// The timeout passed with no transition.
    TimedOut,
    /// Woken without a change (a signal, or a spurious wake); check and wait again.
    Spurious,
}

fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> i32 {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid, 4-byte aligned u32 inside a live MAP_SHARED mapping for the
    // whole call; FUTEX_WAIT only reads it, `ts` is a valid relative timespec, and the unused
    // uaddr2/val3 arguments are ignored for FUTEX_WAIT.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
}

fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a valid, aligned u32 in a live shared mapping; FUTEX_WAKE does not access
    // memory through it beyond keying the wait queue, and the extra arguments are ignored.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

impl ControlSegment {
    /// The current wake sequence: read it, check your condition, then
    /// [`ControlSegment::wait_for_change`] with it, so a transition in between is never missed.
    #[inline]
    pub fn wake_seq(&self) -> u32 {
        self.layout().halt.wake_seq.load(Ordering::SeqCst)
    }

    /// Sleeps until the wake sequence differs from `expected` or `timeout` passes
    /// (a shared `FUTEX_WAIT`). This is what the engine's `park` wait strategy uses.
    pub fn wait_for_change(&self, expected: u32, timeout: Duration) -> WaitOutcome {
        let halt = &self.layout().halt;
        halt.sleepers.fetch_add(1, Ordering::SeqCst);
        let now = halt.wake_seq.load(Ordering::SeqCst);
        let errno = if now != expected {
            0
        } else {
            futex_wait(&halt.wake_seq, expected, timeout)
        };
        halt.sleepers.fetch_sub(1, Ordering::SeqCst);
        let now = halt.wake_seq.load(Ordering::SeqCst);
        if now != expected {
            WaitOutcome::Changed(now)
        } else if errno == libc::ETIMEDOUT {
            WaitOutcome::TimedOut
        } else {
            WaitOutcome::Spurious
        }
    }

    /// Threads currently inside [`ControlSegment::wait_for_change`] (monitoring, benches).
    pub fn sleepers(&self) -> u32 {
        self.layout().halt.sleepers.load(Ordering::SeqCst)
    }

    /// Bumps the wake sequence and wakes every sleeper (skipping the syscall when none sleep).
    /// Transitions call it; the engine may call it to wake its parked threads (e.g. shutdown).
    pub fn notify_all(&self) {
        let halt = &self.layout().halt;
        halt.wake_seq.fetch_add(1, Ordering::SeqCst);
        if halt.sleepers.load(Ordering::SeqCst) != 0 {
            futex_wake_all(&halt.wake_seq);
        }
    }
}
