//! A counting global allocator for tests that prove a hot path allocates nothing (STYLE §4).
//!
//! It lives here because implementing `GlobalAlloc` needs `unsafe`, and `shm` is the only crate
//! allowed to hold it. A test binary installs it with
//! `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();` and compares
//! [`CountingAlloc::allocations`] before and after the code under test. Counts are per process
//! (all threads): keep such tests in their own test binary with one `#[test]`.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicU64, Ordering},
};

/// The system allocator, counting every allocation and reallocation.
#[derive(Debug)]
pub struct CountingAlloc {
    allocs: AtomicU64,
}

impl CountingAlloc {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self {
            allocs: AtomicU64::new(0),
        }
    }

    /// Allocations and reallocations so far.
    pub fn allocations(&self) -> u64 {
        self.allocs.load(Ordering::Relaxed)
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so each
// upholds exactly the contract `System` does; the counter is a side effect that never touches
// the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller guarantees `layout` has non-zero size, as `System.alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence from `System`)
        // with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller guarantees `ptr`/`layout` describe a live block from `System` and
        // `new_size` is non-zero and fits `isize` when rounded to the alignment.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
