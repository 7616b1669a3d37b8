//! Seqlock helpers over atomic words in the shared mapping.
//!
//! Writers take the lock by moving the sequence from even to odd with a CAS (several processes
//! may write: the CLI, the gate, the engine), store the payload with Relaxed stores and release it
//! by storing the next even value. Readers copy the payload with Relaxed loads and retry when the
//! sequence was odd or moved (Boehm, "Can seqlocks get along with programming language memory
//! models?", 2012). The payload words are atomics, so a torn read is a discarded value, never UB.
//! Both sides are bounded: a writer that died inside the lock must not hang every reader.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use crate::clock::mono_now_ns;

/// How long a reader retries before reporting the record as unreadable. Long enough to ride out
/// a writer preempted mid-write on a busy machine, short enough that a writer that died inside
/// the lock cannot hang a reader.
const READ_BUDGET_NS: u64 = 20_000_000;
/// How long a writer waits for another writer before giving up.
const WRITE_BUDGET_NS: u64 = 200_000_000;

/// Another writer held the seqlock for the whole bounded wait (or died inside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqlockBusy;

/// Backs off politely (spin hints first, then yield the core); false once `budget_ns` has passed
/// since `*start` (read lazily, so the uncontended path never reads the clock).
#[inline]
fn backoff(attempt: u32, start: &mut u64, budget_ns: u64) -> bool {
    if attempt < 64 {
        std::hint::spin_loop();
        return true;
    }
    let now = mono_now_ns();
    if *start == 0 {
        *start = now;
    }
    std::thread::yield_now();
    now.saturating_sub(*start) < budget_ns
}

/// Runs `write` inside the seqlock `seq`.
pub(crate) fn write<R>(seq: &AtomicU64, write: impl FnOnce() -> R) -> Result<R, SeqlockBusy> {
    let (mut attempt, mut since) = (0u32, 0u64);
    let start = loop {
        let s = seq.load(Ordering::Relaxed);
        if s & 1 == 0
            && seq
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            break s;
        }
        attempt = attempt.saturating_add(1);
        if !backoff(attempt, &mut since, WRITE_BUDGET_NS) {
            return Err(SeqlockBusy);
        }
    };
    // The odd sequence must be visible before any payload store.
    fence(Ordering::Release);
    let r = write();
    seq.store(start + 2, Ordering::Release);
    Ok(r)
}

/// Copies a consistent payload with `read`, retrying while a writer is inside.
pub(crate) fn read<T>(seq: &AtomicU64, mut read: impl FnMut() -> T) -> Result<T, SeqlockBusy> {
    let (mut attempt, mut since) = (0u32, 0u64);
    loop {
        let s1 = seq.load(Ordering::Acquire);
        if s1 & 1 == 0 {
            let v = read();
            // Payload loads must complete before the sequence is re-checked.
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return Ok(v);
            }
        }
        attempt = attempt.saturating_add(1);
        if !backoff(attempt, &mut since, READ_BUDGET_NS) {
            return Err(SeqlockBusy);
        }
    }
}

/// Stores `src` into `words` as little-endian bytes, NUL-padded.
pub(crate) fn store_bytes(words: &[AtomicU64], src: &[u8]) {
    for (i, w) in words.iter().enumerate() {
        let mut chunk = [0u8; 8];
        let from = (i * 8).min(src.len());
        let to = (from + 8).min(src.len());
        chunk[..to - from].copy_from_slice(&src[from..to]);
        w.store(u64::from_le_bytes(chunk), Ordering::Relaxed);
    }
}

/// Loads `words` into `dst` (which is `words.len() * 8` bytes).
pub(crate) fn load_bytes(words: &[AtomicU64], dst: &mut [u8]) {
    for (w, chunk) in words.iter().zip(dst.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
    }
}
