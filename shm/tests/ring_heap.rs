//! Heap ring behaviour: ordering across threads, full/empty edges, batches across the wrap,
//! and exact-once drop of non-`Copy` items.
#![cfg(not(loom))]

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
};

use lyra_shm::ring::{channel, PushError};

/// Fewer items under Miri, which runs ~1000x slower.
const ITEMS: u64 = if cfg!(miri) { 10_000 } else { 10_000_000 };

#[test]
fn ordered_delivery_across_threads_wrapping_many_times() {
    let (mut tx, mut rx) = channel::<u64>(64);
    let producer = thread::Builder::new()
        .name("ring-producer".into())
        .spawn(move || {
            for i in 0..ITEMS {
                let mut v = i;
                loop {
                    match tx.push(v) {
                        Ok(()) => break,
                        Err(PushError::Full(back)) => {
                            v = back;
                            thread::yield_now();
                        }
                    }
                }
            }
        })
        .unwrap();
    let mut expected = 0u64;
    while expected < ITEMS {
        match rx.pop() {
            Some(v) => {
                assert_eq!(v, expected, "item out of order");
                expected += 1;
            }
            None => thread::yield_now(),
        }
    }
    producer.join().unwrap();
    assert_eq!(rx.pop(), None, "nothing beyond what was pushed");
}

#[test]
fn batched_delivery_across_threads() {
    const N: u64 = ITEMS / 4;
    let (mut tx, mut rx) = channel::<u64>(128);
    let producer = thread::spawn(move || {
        let mut next = 0u64;
        let mut buf = [0u64; 48];
        while next < N {
            let len = (N - next).min(buf.len() as u64) as usize;
            for (k, b) in buf[..len].iter_mut().enumerate() {
                *b = next + k as u64;
            }
            let mut sent = 0;
            while sent < len {
                let n = tx.push_slice(&buf[sent..len]);
                if n == 0 {
                    thread::yield_now();
                }
                sent += n;
            }
            next += len as u64;
        }
    });
    let mut expected = 0u64;
    let mut buf = [0u64; 37];
    while expected < N {
        let n = rx.pop_into(&mut buf);
        if n == 0 {
            thread::yield_now();
        }
        for v in &buf[..n] {
            assert_eq!(*v, expected);
            expected += 1;
        }
    }
    producer.join().unwrap();
}

#[test]
fn full_and_empty_edges() {
    let (mut tx, mut rx) = channel::<u32>(8);
    assert_eq!(tx.capacity(), 8);
    assert_eq!(rx.capacity(), 8);
    assert!(tx.is_empty() && rx.is_empty());
    assert_eq!(rx.pop(), None, "pop from a new ring");
    for i in 0..8 {
        tx.push(i).expect("exactly capacity items fit");
    }
    assert!(tx.is_full());
    assert_eq!(tx.len(), 8);
    assert_eq!(rx.len(), 8);
    assert_eq!(
        tx.push(99),
        Err(PushError::Full(99)),
        "push into a full ring gives the value back"
    );
    assert_eq!(tx.push(98).unwrap_err().into_inner(), 98);
    assert_eq!(rx.pop(), Some(0));
    tx.push(8).expect("one slot was freed");
    assert!(tx.push(100).is_err());
    for i in 1..=8 {
        assert_eq!(rx.pop(), Some(i));
    }
    assert_eq!(rx.pop(), None, "pop from a drained ring");
    assert!(rx.is_empty());
}

#[test]
#[should_panic(expected = "not a power of two")]
fn capacity_must_be_a_power_of_two() {
    let _ = channel::<u8>(12);
}

#[test]
#[should_panic(expected = "not a power of two")]
fn capacity_zero_is_refused() {
    let _ = channel::<u8>(0);
}

#[test]
fn batches_across_the_wrap_point() {
    let (mut tx, mut rx) = channel::<u64>(8);
    // Move both indices to 5 so a batch of 6 covers slots 5,6,7,0,1,2.
    assert_eq!(tx.push_slice(&[0, 1, 2, 3, 4]), 5);
    let mut out = [0u64; 5];
    assert_eq!(rx.pop_into(&mut out), 5);
    assert_eq!(out, [0, 1, 2, 3, 4]);

    assert_eq!(tx.push_slice(&[10, 11, 12, 13, 14, 15]), 6);
    // Only 2 of 4 fit now: partial writes report how many.
    assert_eq!(tx.push_slice(&[16, 17, 18, 19]), 2);
    assert_eq!(tx.push_slice(&[20]), 0);
    let mut out = [0u64; 3];
    assert_eq!(rx.pop_into(&mut out), 3);
    assert_eq!(out, [10, 11, 12]);
    let mut rest = [0u64; 16];
    assert_eq!(rx.pop_into(&mut rest), 5);
    assert_eq!(&rest[..5], &[13, 14, 15, 16, 17]);
    assert_eq!(rx.pop_into(&mut rest), 0);

    // read_batch across the wrap, with a limit.
    assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5, 6, 7]), 7);
    let mut seen = Vec::new();
    assert_eq!(rx.read_batch(4, |v| seen.push(*v)), 4);
    assert_eq!(rx.read_batch(100, |v| seen.push(*v)), 3);
    assert_eq!(seen, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(rx.read_batch(100, |_| panic!("empty")), 0);
}

/// Counts its drops in a shared counter; carries an id to check ordering.
struct Counted {
    id: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn non_copy_items_are_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let item = |id| Counted {
        id,
        drops: Arc::clone(&drops),
    };
    let (mut tx, mut rx) = channel::<Counted>(4);
    for id in 0..4 {
        assert!(tx.push(item(id)).is_ok());
    }
    // Rejected items come back to us; dropping them here is the one drop.
    let back = tx.push(item(4)).unwrap_err().into_inner();
    assert_eq!(back.id, 4);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    let first = rx.pop().unwrap();
    assert_eq!(first.id, 0);
    drop(first);
    assert_eq!(drops.load(Ordering::SeqCst), 2);

    // read_batch drops each item after the closure sees it.
    let mut ids = Vec::new();
    assert_eq!(rx.read_batch(1, |c| ids.push(c.id)), 1);
    assert_eq!(ids, [1]);
    assert_eq!(drops.load(Ordering::SeqCst), 3);

    // Wrap once more so the leftovers straddle the wrap point.
    for id in 5..7 {
        assert!(tx.push(item(id)).is_ok());
    }
    assert_eq!(rx.len(), 4);
    drop(rx);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "the producer still holds the ring"
    );
    drop(tx);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        7,
        "the 4 queued items dropped with the ring"
    );
    assert_eq!(Arc::strong_count(&drops), 1, "no item leaked");
}

#[test]
fn read_batch_panic_drops_each_item_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx) = channel::<Counted>(8);
    for id in 0..6 {
        assert!(tx
            .push(Counted {
                id,
                drops: Arc::clone(&drops)
            })
            .is_ok());
    }
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rx.read_batch(6, |c| assert!(c.id < 2, "stop at item 2"));
    }));
    assert!(caught.is_err());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "items 0..=2 were taken and dropped"
    );
    assert_eq!(
        rx.pop().map(|c| c.id),
        Some(3),
        "the ring resumes after the panicking item"
    );
    drop((tx, rx));
    assert_eq!(drops.load(Ordering::SeqCst), 6);
}

#[test]
fn items_dropped_across_threads_exactly_once() {
    const N: u64 = 100_000;
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx) = channel::<Counted>(16);
    let d = Arc::clone(&drops);
    let producer = thread::spawn(move || {
        for id in 0..N {
            let mut v = Counted {
                id,
                drops: Arc::clone(&d),
            };
            loop {
                match tx.push(v) {
                    Ok(()) => break,
                    Err(PushError::Full(back)) => {
                        v = back;
                        thread::yield_now();
                    }
                }
            }
        }
        // Leave the producer (and whatever is queued) to be dropped on this thread.
    });
    // Take all but 10; those stay queued (they fit in 16) when both handles are dropped.
    let mut got = 0;
    while got < N - 10 {
        match rx.pop() {
            Some(c) => {
                assert_eq!(c.id, got);
                got += 1;
            }
            None => thread::yield_now(),
        }
    }
    producer.join().unwrap();
    assert_eq!(rx.len(), 10);
    assert_eq!(drops.load(Ordering::SeqCst), N as usize - 10);
    drop(rx);
    assert_eq!(drops.load(Ordering::SeqCst), N as usize);
    assert_eq!(Arc::strong_count(&drops), 1);
}

#[test]
fn handles_are_send() {
    fn is_send<T: Send>() {}
    is_send::<lyra_shm::ring::Producer<String>>();
    is_send::<lyra_shm::ring::Consumer<String>>();
}

/// Lazy release: a consumer of drop-free items hands slots back in runs (at most 1/64 of the
/// ring), and all of them as soon as a pop finds the ring empty or the consumer is dropped.
#[test]
fn slots_come_back_in_runs_and_all_of_them_when_empty() {
    let (mut tx, mut rx) = channel::<u64>(4096);
    for i in 0..4096 {
        tx.push(i).expect("capacity items fit");
    }
    // Mid-run: up to 31 pops may still be unpublished.
    for i in 0..31 {
        assert_eq!(rx.pop(), Some(i));
    }
    assert!(
        tx.push(7).is_err(),
        "31 pops of a 32-run are not published yet"
    );
    assert_eq!(rx.pop(), Some(31));
    for i in 0..32 {
        tx.push(4096 + i).expect("a full run of 32 slots came back");
    }
    assert!(tx.push(0).is_err());
    // Drain to empty: everything is handed back, the producer sees the whole ring free.
    let mut expected = 32;
    while let Some(v) = rx.pop() {
        assert_eq!(v, expected);
        expected += 1;
    }
    assert_eq!(expected, 4096 + 32);
    assert_eq!(tx.len(), 0, "an empty ring hides no slot from the producer");
    // Dropping the consumer mid-run publishes too.
    tx.push(1).unwrap();
    tx.push(2).unwrap();
    assert_eq!(rx.pop(), Some(1));
    drop(rx);
    assert_eq!(tx.len(), 1, "the dropped consumer published its pop");
}

/// Items with drop glue release every pop (the ring's drop must never see a moved-out item), and
/// small rings release every pop too.
#[test]
fn eager_release_for_drop_glue_and_small_rings() {
    let (mut tx, mut rx) = channel::<String>(4096);
    for i in 0..4096 {
        tx.push(i.to_string()).expect("fits");
    }
    assert_eq!(rx.pop().as_deref(), Some("0"));
    tx.push("x".into())
        .expect("a String slot comes back at once");
    let (mut tx, mut rx) = channel::<u64>(64);
    for i in 0..64 {
        tx.push(i).expect("fits");
    }
    assert_eq!(rx.pop(), Some(0));
    tx.push(64).expect("a 64-slot ring releases every pop");
}
