//! A counting global allocator for tests that prove a hot path allocates nothing (STYLE §4).
//!
//! It lives here because implementing `GlobalAlloc` needs `unsafe`, and `shm` is the only crate
//! allowed to hold it. A test binary installs it with
//! `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();` and compares
//! [`CountingAlloc::allocations`] before and after the code under test. Those counts are per
//! process (all threads): keep such tests in their own test binary with one `#[test]`.
//! [`CountingAlloc::thread_allocations`] counts only the calling thread's allocations, for a
//! test whose code under test runs on one thread while helpers (a venue simulator, a TLS
//! server) allocate freely on theirs.
//!
//! A dependency that allocates on a hot path and cannot be changed there (rustls allocates a
//! buffer per TLS record it encrypts or reads) is run inside [`foreign`]: its allocations still
//! count, and are also counted apart ([`CountingAlloc::thread_foreign_allocations`]), so a test
//! can hold everything else to zero and bound the dependency's share on its own — a known
//! cost, named and measured, never silently dropped. Outside a test binary the scope costs two
//! thread-local writes.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::atomic::{AtomicU64, Ordering},
};

thread_local! {
    // `const` init and no destructor: reading or bumping it never allocates (which would
    // re-enter the allocator) and it stays usable while the thread is torn down.
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
    // Allocations made inside a `foreign` scope, and how deep such scopes are nested now.
    static THREAD_FOREIGN: Cell<u64> = const { Cell::new(0) };
    static FOREIGN_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Counts one allocation on the calling thread.
fn count_thread() {
    // `try_with` rather than `with`: never panic inside the allocator, whatever the TLS state.
    let _ = THREAD_ALLOCS.try_with(|c| c.set(c.get() + 1));
    if FOREIGN_DEPTH.try_with(Cell::get).unwrap_or(0) > 0 {
        let _ = THREAD_FOREIGN.try_with(|c| c.set(c.get() + 1));
    }
}

/// Runs `f`, a call into a dependency known to allocate where Lyra cannot stop it (rustls per
/// TLS record), counting its allocations on this thread apart as well
/// ([`CountingAlloc::thread_foreign_allocations`]).
#[inline]
pub fn foreign<T>(f: impl FnOnce() -> T) -> T {
    /// Leaves the scope on return and on unwind alike.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            let _ = FOREIGN_DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    let _ = FOREIGN_DEPTH.try_with(|d| d.set(d.get() + 1));
    let _leave = Leave;
    f()
}

/// The calling thread's allocations over a span: Lyra's own, and those inside [`foreign`]
/// scopes (a dependency that allocates where Lyra cannot stop it, e.g. rustls per TLS record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadAllocs {
    /// Outside any `foreign` scope.
    pub own: u64,
    /// Inside `foreign` scopes.
    pub foreign: u64,
}

impl std::ops::AddAssign for ThreadAllocs {
    fn add_assign(&mut self, o: Self) {
        self.own += o.own;
        self.foreign += o.foreign;
    }
}

/// Runs `f` and returns the calling thread's allocations while it ran (other threads' are not
/// counted), split into own and foreign.
pub fn counted<T>(f: impl FnOnce() -> T) -> (T, ThreadAllocs) {
    let (all, foreign) = (
        CountingAlloc::thread_allocations(),
        CountingAlloc::thread_foreign_allocations(),
    );
    let out = f();
    let foreign = CountingAlloc::thread_foreign_allocations() - foreign;
    let own = CountingAlloc::thread_allocations() - all - foreign;
    (out, ThreadAllocs { own, foreign })
}

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

    /// Allocations and reallocations made so far by the calling thread through a
    /// `CountingAlloc` (the global allocator, in a test binary that installs it).
    pub fn thread_allocations() -> u64 {
        THREAD_ALLOCS.try_with(Cell::get).unwrap_or(0)
    }

    /// Of [`CountingAlloc::thread_allocations`], those made inside [`foreign`] scopes.
    pub fn thread_foreign_allocations() -> u64 {
        THREAD_FOREIGN.try_with(Cell::get).unwrap_or(0)
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so each
// upholds exactly the contract `System` does; the counters (one atomic, one const-initialised
// thread-local `Cell` that never allocates) are side effects that never touch the memory
// handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        count_thread();
        // SAFETY: the caller guarantees `layout` has non-zero size, as `System.alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        count_thread();
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
        count_thread();
        // SAFETY: the caller guarantees `ptr`/`layout` describe a live block from `System` and
        // `new_size` is non-zero and fits `isize` when rounded to the alignment.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocates and frees one block through `a` directly (the unit-test binary's global
    /// allocator is the system one).
    fn alloc_once(a: &CountingAlloc) {
        let layout = Layout::from_size_align(64, 8).expect("layout");
        // SAFETY: `layout` has a non-zero size; the block is freed right away with the same
        // layout through the same allocator, and never read or written.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            a.dealloc(p, layout);
        }
    }

    #[test]
    fn thread_count_sees_only_the_calling_thread() {
        static A: CountingAlloc = CountingAlloc::new();
        let (mine, all) = (CountingAlloc::thread_allocations(), A.allocations());
        alloc_once(&A);
        alloc_once(&A);
        assert_eq!(CountingAlloc::thread_allocations() - mine, 2);
        let other = std::thread::spawn(|| {
            let before = CountingAlloc::thread_allocations();
            for _ in 0..5 {
                alloc_once(&A);
            }
            CountingAlloc::thread_allocations() - before
        })
        .join()
        .expect("thread");
        assert_eq!(other, 5, "the other thread counts its own");
        assert_eq!(
            CountingAlloc::thread_allocations() - mine,
            2,
            "another thread's allocations are not ours"
        );
        assert_eq!(A.allocations() - all, 7, "the process count sees both");
    }

    #[test]
    fn foreign_scopes_count_apart_and_inside_the_total() {
        static A: CountingAlloc = CountingAlloc::new();
        let (total, foreign_before) = (
            CountingAlloc::thread_allocations(),
            CountingAlloc::thread_foreign_allocations(),
        );
        alloc_once(&A);
        foreign(|| {
            alloc_once(&A);
            foreign(|| alloc_once(&A));
            alloc_once(&A);
        });
        alloc_once(&A);
        let unwound = std::panic::catch_unwind(|| foreign(|| panic!("left by unwinding")));
        assert!(unwound.is_err());
        alloc_once(&A);
        assert_eq!(CountingAlloc::thread_allocations() - total, 6);
        assert_eq!(
            CountingAlloc::thread_foreign_allocations() - foreign_before,
            3,
            "only the scoped ones, the scope closed again after a panic"
        );
    }
}
