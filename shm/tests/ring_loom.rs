//! Loom models of the ring's index protocol: every interleaving of one producer and one consumer
//! (with loom's weak-memory model) delivers items in order, never reads a slot being written, and
//! drops each item exactly once. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p lyra-shm --release --test ring_loom`.
#![cfg(loom)]

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use loom::thread;
use lyra_shm::ring::channel;

#[test]
fn items_arrive_in_order_through_a_wrapping_ring() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u64>(2);
        let producer = thread::spawn(move || {
            for i in 0..3 {
                while tx.push(i).is_err() {
                    thread::yield_now();
                }
            }
        });
        let mut next = 0;
        while next < 3 {
            match rx.pop() {
                Some(v) => {
                    assert_eq!(v, next);
                    next += 1;
                }
                None => thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
    });
}

#[test]
fn batches_arrive_in_order_through_a_wrapping_ring() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u64>(2);
        let producer = thread::spawn(move || {
            let items = [1, 2, 3];
            let mut sent = 0;
            while sent < items.len() {
                match tx.push_slice(&items[sent..]) {
                    0 => thread::yield_now(),
                    n => sent += n,
                }
            }
        });
        let mut got = Vec::new();
        let mut buf = [0u64; 2];
        while got.len() < 3 {
            match rx.pop_into(&mut buf) {
                0 => thread::yield_now(),
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        producer.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
    });
}

/// Counts drops; not a loom object, only read after every thread has finished.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn queued_items_are_dropped_once_whichever_handle_goes_last() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut tx, mut rx) = channel::<Counted>(2);
        let d = Arc::clone(&drops);
        let producer = thread::spawn(move || {
            for _ in 0..2 {
                let mut item = Counted(Arc::clone(&d));
                loop {
                    match tx.push(item) {
                        Ok(()) => break,
                        Err(e) => {
                            item = e.into_inner();
                            thread::yield_now();
                        }
                    }
                }
            }
            // `tx` is dropped here, racing the consumer's drop below.
        });
        // Take at most one item, then drop the consumer while the producer may still be pushing.
        let _ = rx.pop();
        drop(rx);
        producer.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

/// Lazy release (a 128-slot ring of `u64` publishes `head` every 2 pops and whenever a pop finds
/// it empty): items still arrive in order and the producer ends up seeing every slot free.
#[test]
fn lazily_released_slots_all_come_back() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u64>(128);
        let producer = thread::spawn(move || {
            for i in 0..3 {
                while tx.push(i).is_err() {
                    thread::yield_now();
                }
            }
            tx
        });
        let mut next = 0;
        while next < 3 {
            match rx.pop() {
                Some(v) => {
                    assert_eq!(v, next);
                    next += 1;
                }
                None => thread::yield_now(),
            }
        }
        assert_eq!(rx.pop(), None);
        let tx = producer.join().unwrap();
        assert_eq!(tx.len(), 0, "an empty ring hides no slot from the producer");
    });
}
