//! Software prefetch: a hint that the caller is about to read some memory, so its cache lines
//! start moving in while the caller works on what it already has.
//!
//! Why here: the intrinsic needs an `unsafe` block (it is a `#[target_feature]` function), and
//! only `shm` may contain `unsafe`. A prefetch never faults and never changes memory, so the
//! safe wrappers below are sound for any address; out-of-range offsets are clamped anyway, so
//! callers can hint without bounds arithmetic of their own.

/// Bytes per cache line on the targets Lyra runs on.
pub const CACHE_LINE: usize = 64;

/// Hints that `b[at..]` (its first cache line) will be read soon; a no-op past the end.
#[inline(always)]
pub fn prefetch_read(b: &[u8], at: usize) {
    if let Some(p) = b.get(at) {
        hint(std::ptr::from_ref(p));
    }
}

/// Hints that the cache lines of `b[from..to]` (clamped to `b`) will be read soon.
#[inline(always)]
pub fn prefetch_range(b: &[u8], from: usize, to: usize) {
    let to = to.min(b.len());
    let mut at = from;
    while at < to {
        hint(std::ptr::from_ref(&b[at]));
        at += CACHE_LINE;
    }
}

/// Hints that the cache line of `v` will be written soon.
#[inline(always)]
pub fn prefetch_write<T>(v: &T) {
    hint(std::ptr::from_ref(v).cast());
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn hint(p: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: `prefetcht0` is part of SSE, which every x86_64 CPU has (it is in the baseline
    // target features), and a prefetch never faults, never reads into the program state and
    // never writes: it is sound for any address, valid or not.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn hint(_p: *const u8) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_accept_any_offset_and_change_nothing() {
        let b: Vec<u8> = (0..200u8).collect();
        prefetch_read(&b, 0);
        prefetch_read(&b, 199);
        prefetch_read(&b, 200);
        prefetch_read(&b, usize::MAX);
        prefetch_read(&[], 0);
        prefetch_range(&b, 0, usize::MAX);
        prefetch_range(&b, 150, 10);
        prefetch_range(&b, usize::MAX - 1, usize::MAX);
        prefetch_write(&b[3]);
        assert!(b.iter().enumerate().all(|(i, &v)| v == i as u8));
    }
}
