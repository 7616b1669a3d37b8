//! Issue 3's loopback fault acceptance: the live feed handler (`feeds::live::BinanceFeed`: the
//! real WebSocket client, Binance decoder, depth sync and REST resync) and the engine's `L2Book`
//! against `lyra sim` with one fault injected at a time. Each fault must make the book invalid
//! within one message (or the watchdog period), with the expected reason, and the handler must
//! resync to a book equal, level for level, to the simulator's own book at the same update id.
//!
//! The simulator is stepped by the test (`step_ms = 0`), so "the same update id" is exact: the
//! test stops stepping, waits until the client's book id equals the simulator's, and compares.
//! Waits are bounded polls (`Poll::poll` with a timeout inside `poll_wait`), never timings.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{sync::Arc, time::Duration};

use lyra_engine::book::{Applied, BookConfig, L2Book};
use lyra_feeds::{
    instrument::InstrumentTable,
    live::{BinanceFeed, BinanceFeedConfig},
    ws::TlsRoots,
};
use lyra_shm::{
    clock::{mono_now_ns, LiveClock},
    msg::{InstrumentIdx, InvalidReason, MdEvent, VenueId},
};
use sim::{
    config::{InstrumentCfg, SimConfig},
    faults::FaultKind,
    Sim, SimHandle,
};

/// Upper bound of every wait (a failure, not a measurement).
const WAIT_NS: u64 = 30_000_000_000;

struct Rig {
    sim: SimHandle,
    feed: BinanceFeed<Vec<MdEvent>>,
    book: L2Book,
    inst: InstrumentIdx,
    /// Every invalidation of the rebuilt book, in order.
    invalid: Vec<InvalidReason>,
}

impl Rig {
    /// A simulator with one instrument (BTCUSDT) and a feed on its depth stream only, so every
    /// injected market fault lands on the book under test.
    fn new(tune: impl FnOnce(&mut BinanceFeedConfig)) -> Self {
        let cfg = SimConfig {
            seed: 7,
            step_ms: 0,
            oracle_frames: false,
            instruments: vec![InstrumentCfg::default()],
            ..SimConfig::default()
        };
        let sim = Sim::start(cfg, None).expect("start simulator");
        let ep = sim.endpoint("binance").expect("binance endpoint").clone();
        let mut fc = BinanceFeedConfig::new(
            VenueId(0),
            &ep.ws,
            &ep.rest,
            TlsRoots::PemFile(sim.ca_path().to_path_buf()),
            vec!["BTCUSDT".into()],
        );
        fc.book_ticker = false;
        fc.trades = false;
        fc.snapshot_retry_ms = 50;
        // Reconnect quickly: the tests wait for resyncs after disconnects.
        fc.ws.backoff.base_ms = 20;
        fc.ws.backoff.cap_ms = 200;
        tune(&mut fc);
        let feed = BinanceFeed::new(
            &fc,
            InstrumentTable::new(),
            Vec::with_capacity(4096),
            Arc::new(LiveClock),
        )
        .expect("feed");
        let inst = feed.instrument("BTCUSDT").expect("instrument");
        let book = L2Book::new(
            VenueId(0),
            inst,
            BookConfig {
                window_slots: 4096,
                far_levels: 256,
                tick: 1_000_000, // 0.01 at scale 8
            },
        );
        let mut rig = Self {
            sim,
            feed,
            book,
            inst,
            invalid: Vec::new(),
        };
        rig.feed.start();
        rig
    }

    /// One turn: optionally one simulator step, one bounded wait of the feed, then the book
    /// stage (apply every event; a crossed book is reported back to the feed for a resync).
    fn turn(&mut self, step: bool) {
        if step {
            self.sim.step(1);
        }
        self.feed.poll_wait(Duration::from_millis(5));
        let mut crossed = false;
        let events: Vec<MdEvent> = self.feed.sink_mut().drain(..).collect();
        for e in &events {
            assert_eq!(e.instrument, self.inst);
            if let Applied::Invalidated(r) = self.book.apply(e) {
                self.invalid.push(r);
                crossed |= r == InvalidReason::Crossed;
            }
        }
        if crossed {
            self.feed.resync(self.inst, InvalidReason::Crossed);
        }
    }

    /// Turns until `done`, failing after [`WAIT_NS`].
    fn wait(&mut self, what: &str, step: bool, done: impl Fn(&Self) -> bool) {
        let start = mono_now_ns();
        while !done(self) {
            assert!(
                mono_now_ns() - start < WAIT_NS,
                "timed out waiting for {what}: stats {:?}, sync {:?}, invalid {:?}",
                self.feed.stats(),
                self.feed.sync(self.inst).map(|s| s.counters()),
                self.invalid
            );
            self.turn(step);
        }
    }

    fn sim_seq(&self) -> u64 {
        self.sim.shared().venues[0].state.lock().expect("venue").seq[0]
    }

    fn book_id(&self) -> u64 {
        self.feed.sync(self.inst).map_or(0, |s| s.book_id())
    }

    fn valid(&self) -> bool {
        self.feed.is_synced(self.inst) && self.book.is_valid()
    }

    /// Waits for a valid book (stepping), then stops stepping until the client has every update
    /// the simulator published, and compares the whole book with the simulator's.
    fn synced_and_equal(&mut self, what: &str) {
        self.wait(&format!("{what}: valid book"), true, Self::valid);
        // A few more steps so the book has moved on from the snapshot.
        for _ in 0..5 {
            self.turn(true);
        }
        self.wait(&format!("{what}: caught up"), false, |r| {
            r.book_id() == r.sim_seq()
        });
        assert!(
            self.valid(),
            "{what}: book invalid after catching up: {:?}",
            self.invalid
        );
        let (bids, asks) = {
            let st = self.sim.shared().venues[0].state.lock().expect("venue");
            (st.m.depth(0, true, 10_000), st.m.depth(0, false, 10_000))
        };
        let mine_b: Vec<(i64, i64)> = self.book.bids().map(|(p, q)| (p.0, q.0)).collect();
        let mine_a: Vec<(i64, i64)> = self.book.asks().map(|(p, q)| (p.0, q.0)).collect();
        assert!(!bids.is_empty() && !asks.is_empty());
        assert_eq!(
            mine_b,
            bids,
            "{what}: bids differ from the simulator's at u={}",
            self.book_id()
        );
        assert_eq!(
            mine_a,
            asks,
            "{what}: asks differ from the simulator's at u={}",
            self.book_id()
        );
        assert!(!self.book.is_crossed());
    }

    /// The client has caught up with everything published (stepping stopped).
    fn quiesce(&mut self) {
        self.wait("quiescence", false, |r| r.book_id() == r.sim_seq());
    }

    fn applied(&self) -> u64 {
        self.feed
            .sync(self.inst)
            .map_or(0, |s| s.counters().applied)
    }

    /// Arms `kind`, then steps until the book is invalid; returns the depth messages applied
    /// between arming and the invalidation.
    fn inject_until_invalid(&mut self, kind: FaultKind, duration_ms: u64) -> u64 {
        self.synced_and_equal("before the fault");
        self.quiesce();
        let n_invalid = self.invalid.len();
        let applied = self.applied();
        self.sim
            .inject("binance", kind, 1, duration_ms, 0)
            .expect("inject");
        self.wait(&format!("{kind:?}: invalid book"), true, |r| {
            r.invalid.len() > n_invalid
        });
        self.applied() - applied
    }
}

#[test]
fn gap_invalidates_at_once_and_resyncs() {
    let mut r = Rig::new(|_| {});
    let before = r.feed.sync(r.inst).expect("sync").counters().gaps;
    let applied = r.inject_until_invalid(FaultKind::WsGap, 0);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Gap));
    assert_eq!(applied, 0, "the gapped event itself is never applied");
    r.synced_and_equal("after the gap");
    let c = r.feed.sync(r.inst).expect("sync").counters();
    assert_eq!(c.gaps, before + 1);
    assert!(r.feed.stats().snapshots_received >= 2);
}

#[test]
fn reordered_events_invalidate_and_resync() {
    let mut r = Rig::new(|_| {});
    let applied = r.inject_until_invalid(FaultKind::WsReorder, 0);
    // The later event arrives first: its U is beyond book id + 1.
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Gap));
    assert_eq!(applied, 0);
    r.synced_and_equal("after the reorder");
}

#[test]
fn duplicated_event_is_dropped_and_the_book_stays_exact() {
    // A duplicate carries `u <= book id`: Binance's rule drops it, so the book is never wrong and
    // need not be invalidated — the exact expectation is "dropped as stale, book still equal".
    let mut r = Rig::new(|_| {});
    r.synced_and_equal("before the duplicate");
    r.quiesce();
    let c0 = r.feed.sync(r.inst).expect("sync").counters();
    let frames0 = r.feed.stats().frames;
    r.sim
        .inject("binance", FaultKind::WsDuplicate, 1, 0, 0)
        .expect("inject");
    r.wait("the duplicate", true, |r| {
        r.feed.sync(r.inst).expect("sync").counters().stale_dropped > c0.stale_dropped
    });
    let c1 = r.feed.sync(r.inst).expect("sync").counters();
    assert_eq!(c1.stale_dropped, c0.stale_dropped + 1);
    assert_eq!((c1.gaps, c1.resyncs), (c0.gaps, c0.resyncs));
    assert!(r.feed.stats().frames > frames0);
    assert!(r.invalid.is_empty(), "{:?}", r.invalid);
    r.synced_and_equal("after the duplicate");
}

#[test]
fn crossed_level_invalidates_in_the_book_stage_and_resyncs() {
    let mut r = Rig::new(|_| {});
    let applied = r.inject_until_invalid(FaultKind::CrossedLevel, 0);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Crossed));
    assert_eq!(applied, 1, "invalid right after the crossing message");
    assert_eq!(r.feed.stats().external_resyncs, 1);
    r.synced_and_equal("after the crossed level");
    // The bogus bid is gone: the snapshot replaced the book.
    assert!(!r.book.is_crossed());
}

#[test]
fn malformed_json_invalidates_and_resyncs() {
    let mut r = Rig::new(|_| {});
    let applied = r.inject_until_invalid(FaultKind::MalformedJson, 0);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Malformed));
    assert_eq!(applied, 0);
    assert_eq!(r.feed.stats().malformed, 1);
    r.synced_and_equal("after malformed JSON");
}

#[test]
fn oversized_frame_invalidates_and_resyncs_on_a_new_connection() {
    let mut r = Rig::new(|c| {
        c.ws.max_frame_bytes = 1 << 20;
        c.ws.max_message_bytes = 1 << 20;
    });
    let applied = r.inject_until_invalid(FaultKind::OversizedFrame, 0);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Oversized));
    assert_eq!(applied, 0);
    r.synced_and_equal("after the oversized frame");
    // The first connection and exactly one reconnect.
    assert_eq!(r.feed.stats().subscriptions, 2);
    assert_eq!(r.feed.stats().connection_breaks, 1);
}

#[test]
fn disconnect_1006_invalidates_and_resyncs_after_reconnect() {
    let mut r = Rig::new(|_| {});
    let applied = r.inject_until_invalid(FaultKind::WsDrop, 0);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Disconnected));
    assert_eq!(applied, 0);
    r.synced_and_equal("after the drop");
    assert_eq!(r.feed.stats().subscriptions, 2);
    assert_eq!(r.feed.stats().connection_breaks, 1);
}

#[test]
fn stall_with_pongs_answered_goes_stale_and_resyncs() {
    let mut r = Rig::new(|c| {
        c.ws.stale_after_ms = Some(300);
    });
    let applied = r.inject_until_invalid(FaultKind::WsStall, 1_500);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Stale));
    assert_eq!(applied, 0, "no data reached the book during the stall");
    r.synced_and_equal("after the stall");
}
