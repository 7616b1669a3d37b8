//! The diff-depth sync rules of PROTOCOLS §a.1 on small synthetic sequences: stale drop,
//! straddle, gap, snapshot too old, buffer overflow, and what is emitted.

use lyra_feeds::binance::{
    DepthOutcome, DepthSnapshot, DepthSync, DepthUpdate, SnapshotOutcome, SyncConfig,
};
use lyra_shm::msg::{md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, VenueId};

const LV: &[(i64, i64)] = &[(100, 1)];
const ASK: &[(i64, i64)] = &[(101, 2)];

fn upd(first_id: u64, last_id: u64) -> DepthUpdate<'static> {
    DepthUpdate {
        first_id,
        last_id,
        exch_ts: 0,
        recv_ts: 0,
        bids: LV,
        asks: ASK,
    }
}

fn snap(last_id: u64) -> DepthSnapshot<'static> {
    DepthSnapshot {
        last_id,
        recv_ts: 0,
        bids: &[(99, 5)],
        asks: &[(102, 5)],
    }
}

fn sync() -> DepthSync {
    DepthSync::new(VenueId(0), InstrumentIdx(0), SyncConfig::default())
}

/// The `u` (seq) of every applied update's end-of-message event, in order.
fn applied_seqs(out: &[MdEvent]) -> Vec<u64> {
    out.iter()
        .filter(|e| {
            e.kind == MdKind::Level
                && e.flags & md_flags::SNAPSHOT == 0
                && e.flags & md_flags::END_OF_MESSAGE != 0
        })
        .map(|e| e.seq)
        .collect()
}

#[test]
fn worked_example_shape_buffer_then_snapshot() {
    // Mirrors the real capture: two stale events, the straddling one BEFORE the snapshot.
    let mut s = sync();
    let mut out = Vec::new();
    assert_eq!(s.on_depth(&upd(189, 202), &mut out), DepthOutcome::Buffered);
    assert_eq!(s.on_depth(&upd(203, 207), &mut out), DepthOutcome::Buffered);
    assert_eq!(s.on_depth(&upd(208, 224), &mut out), DepthOutcome::Buffered);
    assert!(out.is_empty(), "nothing is published before a snapshot");
    assert!(!s.is_synced());
    assert_eq!(
        s.on_snapshot(&snap(218), &mut out),
        SnapshotOutcome::Applied { replayed: 1 }
    );
    assert!(s.is_synced());
    assert_eq!(s.counters().stale_dropped, 2);
    assert_eq!(out[0].kind, MdKind::SnapshotBegin);
    assert_eq!(out[3].kind, MdKind::SnapshotEnd);
    assert_eq!(out[3].seq, 218);
    assert_eq!(applied_seqs(&out), vec![224]);
    assert_eq!(s.on_depth(&upd(225, 237), &mut out), DepthOutcome::Applied);
    assert_eq!(s.book_id(), 237);
    assert_eq!(s.counters().applied, 2);
    // Every update message ends with exactly one END_OF_MESSAGE, on its last level.
    let last = out.last().unwrap();
    assert_eq!(
        (last.seq, last.aux, last.flags),
        (237, 225, md_flags::END_OF_MESSAGE)
    );
    assert_eq!(out[out.len() - 2].flags, 0);
}

#[test]
fn stale_events_after_sync_are_dropped() {
    let mut s = sync();
    let mut out = Vec::new();
    assert_eq!(
        s.on_snapshot(&snap(50), &mut out),
        SnapshotOutcome::Applied { replayed: 0 }
    );
    assert_eq!(s.on_depth(&upd(40, 50), &mut out), DepthOutcome::Stale);
    assert_eq!(
        s.on_depth(&upd(45, 55), &mut out),
        DepthOutcome::Applied,
        "straddles 51"
    );
    assert_eq!(s.on_depth(&upd(50, 55), &mut out), DepthOutcome::Stale);
    assert_eq!(s.counters().stale_dropped, 2);
}

#[test]
fn first_event_must_straddle() {
    let mut s = sync();
    let mut out = Vec::new();
    s.on_depth(&upd(10, 20), &mut out);
    s.on_depth(&upd(25, 30), &mut out); // a gap inside the buffer: 21..24 missing
                                        // Snapshot 22: event 10..20 is stale, 25..30 does not contain 23 => no bridge.
    assert_eq!(
        s.on_snapshot(&snap(22), &mut out),
        SnapshotOutcome::NoBridge
    );
    assert!(!s.is_synced());
    assert!(s.needs_snapshot());
    assert!(
        out.is_empty(),
        "a snapshot that does not bridge is never published"
    );
    assert_eq!(s.counters().gaps, 1);
    // A later snapshot that the kept event straddles syncs.
    assert_eq!(
        s.on_snapshot(&snap(26), &mut out),
        SnapshotOutcome::Applied { replayed: 1 }
    );
    assert_eq!(s.book_id(), 30);
}

#[test]
fn snapshot_older_than_first_buffered_event_is_refetched() {
    let mut s = sync();
    let mut out = Vec::new();
    s.on_depth(&upd(100, 110), &mut out);
    assert_eq!(s.on_snapshot(&snap(99), &mut out), SnapshotOutcome::TooOld);
    assert!(s.needs_snapshot());
    assert_eq!(
        s.buffered(),
        1,
        "buffered events are kept for the next snapshot"
    );
    assert_eq!(s.counters().snapshots_too_old, 1);
    assert!(out.is_empty());
    assert_eq!(
        s.on_snapshot(&snap(105), &mut out),
        SnapshotOutcome::Applied { replayed: 1 }
    );
    assert!(s.is_synced());
}

#[test]
fn gap_invalidates_and_restarts_buffering() {
    let mut s = sync();
    let mut out = Vec::new();
    s.on_snapshot(&snap(10), &mut out);
    assert_eq!(s.on_depth(&upd(11, 12), &mut out), DepthOutcome::Applied);
    out.clear();
    assert_eq!(s.on_depth(&upd(14, 15), &mut out), DepthOutcome::Gap);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].kind, out[0].reason),
        (MdKind::BookInvalid, InvalidReason::Gap)
    );
    assert!(!s.is_synced());
    assert!(s.needs_snapshot());
    assert_eq!(s.buffered(), 1, "the gapping event starts the new buffer");
    assert_eq!((s.counters().gaps, s.counters().resyncs), (1, 1));
    // Live events after the gap are buffered, not applied.
    assert_eq!(s.on_depth(&upd(16, 17), &mut out), DepthOutcome::Buffered);
    assert_eq!(
        s.on_snapshot(&snap(15), &mut out),
        SnapshotOutcome::Applied { replayed: 1 }
    );
    assert_eq!(s.book_id(), 17);
}

#[test]
fn buffer_overflow_invalidates_and_resyncs() {
    let cfg = SyncConfig {
        max_buffered_events: 3,
        max_buffered_levels: 100,
    };
    let mut s = DepthSync::new(VenueId(0), InstrumentIdx(0), cfg);
    let mut out = Vec::new();
    for i in 0..3 {
        assert_eq!(
            s.on_depth(&upd(i * 10 + 1, i * 10 + 10), &mut out),
            DepthOutcome::Buffered
        );
    }
    assert_eq!(s.on_depth(&upd(31, 40), &mut out), DepthOutcome::Overflow);
    assert_eq!(s.buffered(), 1, "bounded: the buffer restarts");
    assert_eq!(
        out.last().map(|e| (e.kind, e.reason)),
        Some((MdKind::BookInvalid, InvalidReason::Overrun))
    );
    assert_eq!(s.counters().overflows, 1);
    assert!(s.needs_snapshot());
    // Level bound too.
    let cfg = SyncConfig {
        max_buffered_events: 100,
        max_buffered_levels: 3,
    };
    let mut s = DepthSync::new(VenueId(0), InstrumentIdx(0), cfg);
    assert_eq!(s.on_depth(&upd(1, 2), &mut out), DepthOutcome::Buffered);
    assert_eq!(s.on_depth(&upd(3, 4), &mut out), DepthOutcome::Overflow);
}

#[test]
fn older_snapshot_while_synced_is_ignored_newer_restarts() {
    let mut s = sync();
    let mut out = Vec::new();
    s.on_snapshot(&snap(10), &mut out);
    s.on_depth(&upd(11, 20), &mut out);
    assert_eq!(s.on_snapshot(&snap(15), &mut out), SnapshotOutcome::Ignored);
    assert_eq!(
        s.on_snapshot(&snap(30), &mut out),
        SnapshotOutcome::Applied { replayed: 0 }
    );
    assert_eq!(s.book_id(), 30);
    assert_eq!(s.on_depth(&upd(21, 30), &mut out), DepthOutcome::Stale);
}
