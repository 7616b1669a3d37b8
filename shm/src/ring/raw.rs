//! The index protocol, written once: a producer and a consumer view over an [`Indices`] pair and a
//! slot array, wherever those live (a heap allocation or a shared mapping).
//!
//! Protocol: `tail` (written only by the producer) counts items ever pushed, `head` (written only
//! by the consumer) counts items ever popped; both grow without wrapping in practice (2^64 items)
//! and a slot is found with `index & mask`. Items in `[head, tail)` are initialised and belong to the
//! consumer; slots in `[tail, head + capacity)` are free and belong to the producer. A side
//! publishes with a Release store of its own index after touching the slots and observes the other
//! side with an Acquire load, so slot writes happen-before the matching reads and slot reads
//! happen-before the slot is overwritten. Each side keeps a private copy of its own index and a
//! cached copy of the other's, re-reading the shared one only when the cache says full/empty: the
//! common case touches no line the other side writes.
//!
//! Lazy release (heap rings of items without drop glue): a per-item `pop` publishes `head` only
//! every [`RELEASE_EVERY`] items (at most capacity / 64), whenever it finds the ring empty, and on
//! `flush`/drop of the consumer. With both sides busy, the producer then refills whole runs of
//! slots away from the line the consumer is reading, instead of writing into that very line one
//! slot after another, and the consumer makes one shared store per run instead of one per item
//! (the "lazy synchronisation" of MCRingBuffer, Lee et al. 2009). What it costs: the producer may
//! see up to that many fewer free slots while the consumer is mid-run; a consumer that finds the
//! ring empty has always published everything, so a waiting stage never holds slots back. Items
//! with drop glue release eagerly, because the ring's own drop drops the items in `[head, tail)`
//! and must never see one already moved out; mapped rings release eagerly, so a consumer process
//! that dies re-reads at most the item it was taking.

use std::{mem::MaybeUninit, ptr::NonNull};

use crossbeam_utils::CachePadded;

use super::sync::{AtomicU64, Ordering, UnsafeCell};

/// The two shared indices, each on its own (pair of) cache line(s).
#[repr(C)]
pub(crate) struct Indices {
    /// Items ever popped; written by the consumer only.
    pub(crate) head: CachePadded<AtomicU64>,
    /// Items ever pushed; written by the producer only.
    pub(crate) tail: CachePadded<AtomicU64>,
}

impl Indices {
    /// Both indices at zero (an empty ring).
    pub(crate) fn new() -> Self {
        Self {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

/// One slot: possibly-uninitialised storage for one item, written and read through raw pointers.
#[repr(transparent)]
pub(crate) struct Slot<T>(UnsafeCell<MaybeUninit<T>>);

impl<T> Slot<T> {
    /// An empty slot.
    pub(crate) fn new() -> Self {
        Self(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// Moves `v` into the slot.
    ///
    /// # Safety
    /// The caller has exclusive access to this slot (it is free and the caller is the producer),
    /// and the slot holds no live item (it would be leaked, not dropped).
    #[inline(always)]
    pub(crate) unsafe fn write(&self, v: T) {
        #[cfg(not(loom))]
        // SAFETY: exclusive access to the slot is the caller's contract; UnsafeCell allows the write
        // through a shared reference.
        unsafe {
            (*self.0.get()).write(v);
        }
        #[cfg(loom)]
        // SAFETY: as above; loom checks the exclusivity claim.
        self.0.with_mut(|p| unsafe { (*p).write(v) });
    }

    /// Moves the item out of the slot, leaving it logically empty.
    ///
    /// # Safety
    /// The slot holds an initialised item and the caller has exclusive access to it (it is the
    /// consumer, or the ring is being dropped).
    #[inline(always)]
    pub(crate) unsafe fn read(&self) -> T {
        #[cfg(not(loom))]
        // SAFETY: the slot is initialised and exclusively ours (caller's contract).
        unsafe {
            (*self.0.get()).assume_init_read()
        }
        #[cfg(loom)]
        // SAFETY: as above; loom checks the exclusivity claim.
        self.0.with(|p| unsafe { (*p).assume_init_read() })
    }
}

/// Where a ring lives: the indices and `capacity` slots, both valid for as long as the owner that
/// handed them out is alive.
pub(crate) struct RawParts<T> {
    pub(crate) indices: NonNull<Indices>,
    pub(crate) slots: NonNull<Slot<T>>,
    pub(crate) capacity: u64,
}

// Manual impls: a derive would demand `T: Copy`, but only pointers are copied.
impl<T> Clone for RawParts<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RawParts<T> {}

/// Most pops a heap consumer of drop-free items leaves unpublished (module doc: lazy release).
pub(crate) const RELEASE_EVERY: u64 = 32;

/// The release batch for a heap ring of `capacity` items of `T`: eager for items with drop glue,
/// else [`RELEASE_EVERY`] but at most 1/64 of the ring (so a mid-run consumer hides little of it).
pub(crate) fn lazy_release<T>(capacity: u64) -> u64 {
    if std::mem::needs_drop::<T>() {
        1
    } else {
        (capacity / 64).clamp(1, RELEASE_EVERY)
    }
}

/// The producer's half of the protocol.
pub(crate) struct RawProducer<T> {
    parts: RawParts<T>,
    mask: u64,
    /// Our own index (the shared `tail` always equals it between calls).
    tail: u64,
    /// Last `head` we observed; the consumer may be further on, never behind.
    head_cache: u64,
}

/// The consumer's half of the protocol.
pub(crate) struct RawConsumer<T> {
    parts: RawParts<T>,
    mask: u64,
    /// Our own index (the shared `head` always equals it between calls).
    head: u64,
    /// Last `tail` we observed; the producer may be further on, never behind.
    tail_cache: u64,
    /// The `head` last stored to the shared index (lazy release, see the module doc).
    published: u64,
    /// Publish `head` once this many pops are unpublished (1: every pop).
    release_every: u64,
}

impl<T> RawParts<T> {
    #[inline(always)]
    fn indices(&self) -> &Indices {
        // SAFETY: `indices` points at a live `Indices` for as long as the owner lives (RawParts
        // contract), and the handles holding these parts also hold the owner.
        unsafe { self.indices.as_ref() }
    }

    #[inline(always)]
    fn slot(&self, index: u64, mask: u64) -> &Slot<T> {
        // SAFETY: `index & mask < capacity`, so the slot is inside the array of `capacity` slots
        // that lives as long as the owner (RawParts contract).
        unsafe { &*self.slots.as_ptr().add((index & mask) as usize) }
    }
}

impl<T> RawProducer<T> {
    /// The producer view.
    ///
    /// # Safety
    /// `parts` describes a live ring with a power-of-two capacity that outlives this value, and no
    /// other producer of that ring exists while this one does.
    pub(crate) unsafe fn new(parts: RawParts<T>) -> Self {
        debug_assert!(parts.capacity.is_power_of_two());
        let idx = parts.indices();
        // Acquire: pairs with the previous producer's / consumer's Release, so a reopened ring
        // resumes from indices whose slot contents are visible.
        let tail = idx.tail.load(Ordering::Acquire);
        let head_cache = idx.head.load(Ordering::Acquire);
        Self {
            parts,
            mask: parts.capacity - 1,
            tail,
            head_cache,
        }
    }

    /// The ring's capacity in items.
    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.parts.capacity
    }

    /// Free slots, re-reading `head` only if the cached value shows fewer than `want`.
    #[inline(always)]
    fn free(&mut self, want: u64) -> u64 {
        let free = self.parts.capacity - self.tail.wrapping_sub(self.head_cache);
        if free >= want {
            return free;
        }
        // Acquire: the consumer's reads of the slots it released happen-before we overwrite them.
        self.head_cache = self.parts.indices().head.load(Ordering::Acquire);
        self.parts.capacity - self.tail.wrapping_sub(self.head_cache)
    }

    /// Publishes `n` slots just written.
    #[inline(always)]
    fn publish(&mut self, n: u64) {
        self.tail = self.tail.wrapping_add(n);
        // Release: our slot writes happen-before the consumer's Acquire load that sees this tail.
        self.parts
            .indices()
            .tail
            .store(self.tail, Ordering::Release);
    }

    /// Pushes `v`, or gives it back if the ring is full.
    #[inline]
    pub(crate) fn push(&mut self, v: T) -> Result<(), T> {
        if self.free(1) == 0 {
            return Err(v);
        }
        // SAFETY: `free >= 1` so slot `tail` is in `[tail, head + capacity)`: free and owned by the
        // producer (we are the only one), holding no live item.
        unsafe { self.parts.slot(self.tail, self.mask).write(v) };
        self.publish(1);
        Ok(())
    }

    /// Items in the ring as seen from the producer (the consumer may have taken some since).
    #[inline]
    pub(crate) fn len(&self) -> u64 {
        let head = self.parts.indices().head.load(Ordering::Acquire);
        self.tail.wrapping_sub(head)
    }

    /// Writes as many items of `src` as fit, in order, with one publish; returns how many.
    #[inline]
    pub(crate) fn push_slice(&mut self, src: &[T]) -> usize
    where
        T: Copy,
    {
        let n = (self.free(src.len() as u64) as usize).min(src.len());
        if n == 0 {
            return 0;
        }
        let start = self.tail;
        for (i, v) in src[..n].iter().enumerate() {
            // SAFETY: `i < n <= free`, so slot `start + i` is free and owned by the producer.
            unsafe {
                self.parts
                    .slot(start.wrapping_add(i as u64), self.mask)
                    .write(*v)
            };
        }
        self.publish(n as u64);
        n
    }
}

impl<T> RawConsumer<T> {
    /// The consumer view, publishing `head` every `release_every` pops (1 for eager release; more
    /// only for items without drop glue, see the module doc).
    ///
    /// # Safety
    /// `parts` describes a live ring with a power-of-two capacity that outlives this value, and no
    /// other consumer of that ring exists while this one does; `release_every > 1` only if `T` has
    /// no drop glue.
    pub(crate) unsafe fn new(parts: RawParts<T>, release_every: u64) -> Self {
        debug_assert!(release_every == 1 || !std::mem::needs_drop::<T>());
        debug_assert!(parts.capacity.is_power_of_two());
        let idx = parts.indices();
        let head = idx.head.load(Ordering::Acquire);
        let tail_cache = idx.tail.load(Ordering::Acquire);
        Self {
            parts,
            mask: parts.capacity - 1,
            head,
            tail_cache,
            published: head,
            release_every: release_every.max(1),
        }
    }

    /// The ring's capacity in items.
    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.parts.capacity
    }

    /// Items ready, re-reading `tail` only if the cached value shows fewer than `want`.
    #[inline(always)]
    fn ready(&mut self, want: u64) -> u64 {
        let ready = self.tail_cache.wrapping_sub(self.head);
        if ready >= want {
            return ready;
        }
        // Acquire: the producer's slot writes happen-before our reads of them.
        self.tail_cache = self.parts.indices().tail.load(Ordering::Acquire);
        let ready = self.tail_cache.wrapping_sub(self.head);
        // A mapped peer that broke the protocol must not make us read beyond the ring.
        debug_assert!(
            ready <= self.parts.capacity,
            "ring tail ran ahead of head + capacity"
        );
        ready.min(self.parts.capacity)
    }

    /// Releases `n` slots just read back to the producer.
    #[inline(always)]
    fn release(&mut self, n: u64) {
        self.head = self.head.wrapping_add(n);
        self.published = self.head;
        // Release: our slot reads happen-before the producer's Acquire load that sees this head.
        self.parts
            .indices()
            .head
            .store(self.head, Ordering::Release);
    }

    /// Pops the oldest item, or `None` if the ring is empty.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.tail_cache == self.head {
            // Empty as far as we know: hand back every slot we hold before looking again, so a
            // producer waiting on a full ring is never held back by a consumer with nothing to do.
            self.flush();
            if self.ready(1) == 0 {
                return None;
            }
        }
        // SAFETY: `ready >= 1` so slot `head` is in `[head, tail)`: initialised by the producer
        // (made visible by the Acquire load of tail) and owned by the consumer (we are the only one).
        let v = unsafe { self.parts.slot(self.head, self.mask).read() };
        self.head = self.head.wrapping_add(1);
        if self.head.wrapping_sub(self.published) >= self.release_every {
            self.flush();
        }
        Some(v)
    }

    /// Publishes every pop not yet published (lazy release), so the producer sees those slots free.
    #[inline(always)]
    pub(crate) fn flush(&mut self) {
        if self.published != self.head {
            self.published = self.head;
            // Release: our slot reads happen-before the producer's Acquire load that sees this head.
            self.parts
                .indices()
                .head
                .store(self.head, Ordering::Release);
        }
    }

    /// Items in the ring as seen from the consumer (the producer may have added some since).
    #[inline]
    pub(crate) fn len(&self) -> u64 {
        let tail = self.parts.indices().tail.load(Ordering::Acquire);
        tail.wrapping_sub(self.head).min(self.parts.capacity)
    }

    /// Reads up to `dst.len()` items into `dst`, in order, with one release; returns how many.
    #[inline]
    pub(crate) fn pop_into(&mut self, dst: &mut [T]) -> usize
    where
        T: Copy,
    {
        let n = (self.ready(dst.len() as u64) as usize).min(dst.len());
        if n == 0 {
            return 0;
        }
        let start = self.head;
        for (i, d) in dst[..n].iter_mut().enumerate() {
            // SAFETY: `i < n <= ready`, so slot `start + i` is initialised and owned by the consumer.
            *d = unsafe {
                self.parts
                    .slot(start.wrapping_add(i as u64), self.mask)
                    .read()
            };
        }
        self.release(n as u64);
        n
    }

    /// Calls `f` on up to `max` items, in order, then releases them with one store; returns how
    /// many. Each item is dropped right after `f` sees it.
    #[inline]
    pub(crate) fn read_batch(&mut self, max: usize, mut f: impl FnMut(&T)) -> usize {
        let n = (self.ready(max as u64) as usize).min(max);
        if n == 0 {
            return 0;
        }
        let start = self.head;
        let mask = self.mask;
        // Releases what was moved out even if `f` panics, so no item is dropped twice (once by
        // unwinding here, once by the ring's drop) and none is leaked.
        let mut guard = ReleaseGuard {
            consumer: self,
            taken: 0,
        };
        for i in 0..n as u64 {
            // SAFETY: `i < n <= ready`, so the slot is initialised and owned by the consumer; the
            // item is moved out and counted before `f` runs, so it is dropped exactly once.
            let v = unsafe {
                guard
                    .consumer
                    .parts
                    .slot(start.wrapping_add(i), mask)
                    .read()
            };
            guard.taken += 1;
            f(&v);
        }
        n
    }
}

/// Publishes the slots a batch read consumed when it ends, normally or by unwinding.
struct ReleaseGuard<'a, T> {
    consumer: &'a mut RawConsumer<T>,
    taken: u64,
}

impl<T> Drop for ReleaseGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.taken > 0 {
            self.consumer.release(self.taken);
        }
    }
}
