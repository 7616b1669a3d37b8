//! The heap owner: a ring between threads of one process, for any `T: Send`.

use std::ptr::NonNull;

use crossbeam_utils::CachePadded;

use super::{
    raw::{lazy_release, Indices, RawConsumer, RawParts, RawProducer, Slot},
    sync::{Arc, Ordering},
    Consumer, Owner, Producer,
};

/// The allocation both handles share; the last handle dropped drops the items still queued.
pub(crate) struct HeapRing<T> {
    indices: Indices,
    slots: Box<[Slot<T>]>,
}

impl<T> Drop for HeapRing<T> {
    fn drop(&mut self) {
        // Both handles are gone (this is the last `Arc`), and the `Arc` count's Release/Acquire
        // makes their final index stores visible: `[head, tail)` is exactly the queued items.
        let head = self.indices.head.load(Ordering::Acquire);
        let tail = self.indices.tail.load(Ordering::Acquire);
        let mask = self.slots.len() as u64 - 1;
        let mut i = head;
        while i != tail {
            // SAFETY: slots in `[head, tail)` hold initialised items no handle can reach any more;
            // each is read (and so dropped) exactly once.
            drop(unsafe { self.slots[(i & mask) as usize].read() });
            i = i.wrapping_add(1);
        }
    }
}

/// A bounded SPSC ring on the heap: the producer and consumer handles, to move to two threads.
///
/// # Panics
/// If `capacity` is not a power of two (zero included): the mask arithmetic relies on it.
pub fn channel<T: Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(
        capacity.is_power_of_two(),
        "ring capacity {capacity} is not a power of two"
    );
    let ring = Arc::new(HeapRing {
        indices: Indices::new(),
        slots: (0..capacity).map(|_| Slot::new()).collect(),
    });
    // Pointers are taken from the `Arc`'s final allocation (never moved again); slots are
    // `UnsafeCell`s, so writing through pointers derived from a shared reference is allowed.
    let parts = RawParts {
        indices: NonNull::from(&ring.indices),
        slots: NonNull::from(&*ring.slots).cast::<Slot<T>>(),
        capacity: capacity as u64,
    };
    // SAFETY: `parts` points into `ring`, kept alive by the `Arc` each handle holds; capacity is a
    // power of two (asserted); exactly one producer and one consumer are made; `lazy_release`
    // batches releases only for items without drop glue.
    let (raw_p, raw_c) = unsafe {
        (
            RawProducer::new(parts),
            RawConsumer::new(parts, lazy_release::<T>(capacity as u64)),
        )
    };
    let producer = Producer {
        raw: CachePadded::new(raw_p),
        _owner: Owner::Heap(Arc::clone(&ring)),
    };
    let consumer = Consumer {
        raw: CachePadded::new(raw_c),
        _owner: Owner::Heap(ring),
    };
    (producer, consumer)
}
