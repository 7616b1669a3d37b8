//! Latency histograms in the control segment: publish/read across mappings, snapshot
//! consistency under a concurrent publisher, and a self-consistent copy from a stuck seqlock.

use std::{
    fs::OpenOptions,
    io::{Seek, SeekFrom, Write},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use lyra_shm::control::{
    bucket_index, ControlSegment, CreateOpts, Hist, HistSnapshot, HIST_BOUNDS_NS, HIST_BUCKETS,
    SEGMENT_BYTES,
};

/// A unique segment path under /dev/shm, removed on drop.
struct TempSeg(PathBuf);

impl TempSeg {
    fn new(tag: &str) -> Self {
        let n = lyra_shm::clock::mono_now_ns();
        TempSeg(PathBuf::from(format!(
            "/dev/shm/lyra-test-{tag}-{}-{n}",
            std::process::id()
        )))
    }
}

impl Drop for TempSeg {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn create(p: &TempSeg) -> ControlSegment {
    let opts = CreateOpts {
        mlock: false,
        ..CreateOpts::default()
    };
    ControlSegment::create(&p.0, &opts).expect("create segment")
}

#[test]
fn published_histograms_read_back_from_another_mapping() {
    let p = TempSeg::new("hist-rt");
    let w = create(&p);
    let r = ControlSegment::open_with(&p.0, false).unwrap();
    for h in Hist::ALL {
        let s = r.histogram(h);
        assert_eq!((s.count, s.sum_ns), (0, 0), "{} starts empty", h.name());
        assert_eq!(s.bounds_ns, &HIST_BOUNDS_NS[..]);
        assert_eq!(s.quantile(0.5), None);
    }
    let mut built = HistSnapshot::default();
    for ns in [500, 700, 900, 20_000, 3_000_000] {
        built.record(ns);
    }
    w.publish_histogram(Hist::TickToOrder, &built.counts, built.sum_ns)
        .unwrap();
    let s = r.histogram(Hist::TickToOrder);
    assert_eq!(s, built);
    assert_eq!(s.count, 5);
    assert_eq!(s.counts[bucket_index(20_000)], 1);
    assert_eq!(s.quantile(0.5), Some(1_024)); // rank 3 of 5 is 900, in (724, 1024]
                                              // The others are untouched.
    assert_eq!(r.histogram(Hist::FrameToBook).count, 0);
    let names: Vec<_> = Hist::ALL.iter().map(|h| h.name()).collect();
    assert_eq!(
        names,
        [
            "frame_to_book",
            "book_to_intent",
            "intent_to_request",
            "tick_to_order"
        ]
    );
}

#[test]
fn snapshots_are_never_torn_by_a_concurrent_publisher() {
    let p = TempSeg::new("hist-torn");
    let w = Arc::new(create(&p));
    let r = ControlSegment::open_with(&p.0, false).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (w, stop) = (w.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) && k < 100_000 {
                k += 1;
                // Every bucket holds k and the sum encodes k: a mixed copy shows at once.
                w.publish_histogram(Hist::BookToIntent, &[k; HIST_BUCKETS], k * 1_000)
                    .unwrap();
            }
            k
        })
    };
    let mut reads = 0u64;
    while !writer.is_finished() {
        let s = r.histogram(Hist::BookToIntent);
        let k = s.counts[0];
        assert!(s.counts.iter().all(|c| *c == k), "torn buckets");
        assert_eq!(s.count, k * HIST_BUCKETS as u64, "count of another copy");
        assert_eq!(s.sum_ns, k * 1_000, "sum of another copy");
        reads += 1;
        if reads % 64 == 0 {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0 && reads > 0);
}

#[test]
fn a_stuck_seqlock_still_yields_a_self_consistent_snapshot() {
    let p = TempSeg::new("hist-stuck");
    let w = create(&p);
    let mut counts = [0u64; HIST_BUCKETS];
    counts[3] = 2;
    counts[10] = 5;
    w.publish_histogram(Hist::IntentToRequest, &counts, 12_345)
        .unwrap();
    // A publisher that died inside its copy leaves the sequence odd. The histograms are the
    // segment's last block, HIST_SLOTS slots of 640 bytes; slot 2's sequence is its first word.
    let hist_base = SEGMENT_BYTES as u64 - 8 * 640;
    let mut f = OpenOptions::new().write(true).open(&p.0).unwrap();
    f.seek(SeekFrom::Start(hist_base + 2 * 640)).unwrap();
    f.write_all(&5u64.to_le_bytes()).unwrap();
    drop(f);
    let s = w.histogram(Hist::IntentToRequest);
    assert_eq!(s.counts, counts);
    assert_eq!(s.count, 7);
    assert_eq!(s.sum_ns, 12_345);
    // The publisher cannot take the lock either, and says so instead of hanging.
    assert!(w
        .publish_histogram(Hist::IntentToRequest, &counts, 1)
        .is_err());
}
