//! Bounded, lock-free single-producer single-consumer rings (DESIGN §5).
//!
//! One index protocol (`raw.rs`) runs over two kinds of memory:
//! - [`channel`]: a heap ring between threads, for any `T: Send`; items still queued when both
//!   handles are gone are dropped exactly once.
//! - [`mapped`]: a ring in a file mapping (normally under `/dev/shm`) between processes, for
//!   [`Pod`] types only, with a header that refuses a ring of another type, size or layout.
//!
//! Either way the caller gets a [`Producer`] and a [`Consumer`], separate `Send` handles. A full
//! ring is a value ([`PushError::Full`] gives the item back), never a panic or a block; an empty
//! ring pops `None`. Nothing here waits: callers spin, yield or park as their stage requires.
//!
//! Streaming many items: prefer [`Producer::push_slice`] and [`Consumer::pop_into`] /
//! [`Consumer::read_batch`], which publish one index store per batch instead of per item. With
//! per-item calls and both sides busy, each index store and each freshly written slot line crosses
//! cores, and a side that keeps polling an empty (or full) ring slows the other down.

mod heap;
#[cfg(not(loom))]
pub mod mapped;
mod pod;
mod raw;
mod sync;

use std::fmt;

use crossbeam_utils::CachePadded;

pub use heap::channel;
#[cfg(not(loom))]
pub use mapped::{MappedError, Role};
pub use pod::Pod;
use raw::{RawConsumer, RawProducer};
use sync::Arc;

/// Why a push failed; carries the item back to the caller.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// The ring holds `capacity` items; the consumer has not caught up.
    Full(T),
}

impl<T> PushError<T> {
    /// The item that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) => v,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The item may not be `Debug` (and may be large): the variant is what matters.
        f.write_str("PushError::Full(..)")
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring is full")
    }
}

impl<T> std::error::Error for PushError<T> {}

/// What keeps a ring's memory alive for as long as a handle exists.
#[allow(
    dead_code,
    reason = "held only for its drop, which frees the ring memory"
)]
enum Owner<T> {
    /// The shared heap allocation.
    Heap(Arc<heap::HeapRing<T>>),
    /// This handle's own mapping of the ring file (and its claim on a side).
    #[cfg(not(loom))]
    Mapped(mapped::MappedOwner),
}

/// The writing end of a ring. One per ring; move it to the producing thread.
pub struct Producer<T> {
    // Cache-padded: the handle's own indices are written on every push, so they get their own
    // line pair wherever the handle ends up (e.g. in a heap block next to the consumer's).
    raw: CachePadded<RawProducer<T>>,
    // Declared after `raw`: the memory `raw` points into outlives every use of it.
    _owner: Owner<T>,
}

/// The reading end of a ring. One per ring; move it to the consuming thread.
pub struct Consumer<T> {
    // Cache-padded for the same reason as the producer's.
    raw: CachePadded<RawConsumer<T>>,
    _owner: Owner<T>,
}

// SAFETY: a Producer is the ring's only writer of `tail` and of free slots, and its pointers stay
// valid wherever it goes (the owner moves with it). Sending it moves items of `T` to whichever
// thread holds the consumer, hence `T: Send`.
unsafe impl<T: Send> Send for Producer<T> {}
// SAFETY: a Consumer is the ring's only writer of `head` and reader of queued slots; as above,
// items of `T` arrive from another thread, hence `T: Send`.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T> Producer<T> {
    /// Pushes `v`; if the ring is full, returns it in [`PushError::Full`].
    ///
    /// # Errors
    /// [`PushError::Full`] when the ring holds `capacity` items.
    #[inline]
    pub fn push(&mut self, v: T) -> Result<(), PushError<T>> {
        self.raw.push(v).map_err(PushError::Full)
    }

    /// Pushes as many leading items of `src` as fit, publishing them at once; returns how many.
    #[inline]
    pub fn push_slice(&mut self, src: &[T]) -> usize
    where
        T: Copy,
    {
        self.raw.push_slice(src)
    }

    /// Items queued, as seen now (the consumer may take more at any moment).
    #[inline]
    pub fn len(&self) -> usize {
        self.raw.len() as usize
    }

    /// Whether the ring is empty, as seen now.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring is full, as seen now.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Maximum items the ring holds (a power of two).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.raw.capacity() as usize
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Hands back slots popped but not yet published (lazy release), so the producer and the
        // ring's own drop see exactly the items still queued.
        self.raw.flush();
    }
}

impl<T> Consumer<T> {
    /// Pops the oldest item, or `None` if the ring is empty. For items without drop glue the
    /// slots go back to the producer in runs of up to 32 (at most 1/64 of the ring), and all of
    /// them whenever a pop finds the ring empty or the consumer is dropped (`raw.rs`: lazy release).
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        self.raw.pop()
    }

    /// Copies up to `dst.len()` oldest items into `dst`, releasing them at once; returns how many.
    #[inline]
    pub fn pop_into(&mut self, dst: &mut [T]) -> usize
    where
        T: Copy,
    {
        self.raw.pop_into(dst)
    }

    /// Hands up to `max` oldest items to `f` in order, releasing them at once; returns how many.
    /// Each item is dropped after `f` returns.
    #[inline]
    pub fn read_batch(&mut self, max: usize, f: impl FnMut(&T)) -> usize {
        self.raw.read_batch(max, f)
    }

    /// Items queued, as seen now (the producer may add more at any moment).
    #[inline]
    pub fn len(&self) -> usize {
        self.raw.len() as usize
    }

    /// Whether the ring is empty, as seen now.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Maximum items the ring holds (a power of two).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.raw.capacity() as usize
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}
