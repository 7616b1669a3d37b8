//! Seqlock helpers over atomic words in the shared mapping.
//!
//! Writers take the lock by moving the sequence from even to odd with a CAS (several processes
//! may write: the CLI, the gate, the engine), store the payload with Relaxed stores and release it
//! by storing the next even value. Readers copy the payload with Relaxed loads and retry when the
//! sequence was odd or moved (Boehm, "Can seqlocks get along with programming language memory
//! models?", 2012). The payload words are atomics, so a torn read is a discarded value, never UB.
//! Both sides are bounded: a writer that died inside the lock must not hang every reader.

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Attempts a reader makes before reporting the record as unreadable.
const READ_ATTEMPTS: u32 = 10_000;
/// Attempts a writer makes to take the lock before giving up.
const WRITE_ATTEMPTS: u32 = 100_000;

/// Another writer held the seqlock for the whole bounded wait (or died inside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqlockBusy;

/// Backs off politely: spin hints first, then yield the core.
#[inline]
fn backoff(attempt: u32) {
    if attempt < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Runs `write` inside the seqlock `seq`.
pub(crate) fn write<R>(seq: &AtomicU64, write: impl FnOnce() -> R) -> Result<R, SeqlockBusy> {
    let mut attempt = 0;
    let start = loop {
        let s = seq.load(Ordering::Relaxed);
        if s & 1 == 0
            && seq
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            break s;
        }
        attempt += 1;
        if attempt >= WRITE_ATTEMPTS {
            return Err(SeqlockBusy);
        }
        backoff(attempt);
    };
    // The odd sequence must be visible before any payload store.
    fence(Ordering::Release);
    let r = write();
    seq.store(start + 2, Ordering::Release);
    Ok(r)
}

/// Copies a consistent payload with `read`, retrying while a writer is inside.
pub(crate) fn read<T>(seq: &AtomicU64, mut read: impl FnMut() -> T) -> Result<T, SeqlockBusy> {
    for attempt in 0..READ_ATTEMPTS {
        let s1 = seq.load(Ordering::Acquire);
        if s1 & 1 == 0 {
            let v = read();
            // Payload loads must complete before the sequence is re-checked.
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return Ok(v);
            }
        }
        backoff(attempt);
    }
    Err(SeqlockBusy)
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
