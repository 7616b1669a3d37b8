//! Issue 3's loopback fault acceptance for the venues whose snapshot comes on the socket (OKX
//! `books`, Kraken v2 `book`): `feeds::live::SocketFeed` against `lyra sim`'s OKX and Kraken
//! dialects, with the engine's `L2Book` as the book stage verifying the venue checksums. A
//! corrupted checksum, a sequence gap (OKX) or a dropped connection makes the book invalid within
//! one message, and the handler resubscribes (or reconnects) until the book equals the
//! simulator's own book again. The simulator is stepped by the test; waits are bounded polls.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{sync::Arc, time::Duration};

use lyra_engine::book::{Applied, BookConfig, L2Book};
use lyra_feeds::{
    checksum::ChecksumRecipe,
    instrument::InstrumentTable,
    live::{KrakenVenue, OkxVenue, SocketFeed, SocketFeedConfig, SocketVenue},
    ws::TlsRoots,
};
use lyra_shm::{
    clock::{mono_now_ns, LiveClock},
    msg::{InstrumentIdx, InvalidReason, MdEvent, MdKind, VenueId},
};
use sim::{
    config::{Dialect, InstrumentCfg, SimConfig, VenueCfg},
    faults::FaultKind,
    Sim, SimHandle,
};

/// Upper bound of every wait (a failure, not a measurement).
const WAIT_NS: u64 = 30_000_000_000;
/// Prices and quantities at scale 8 (the simulator's and the decoders' scale).
const SCALE: u8 = 8;
/// Kraken book depth subscribed (and served).
const KRAKEN_DEPTH: usize = 10;

/// Bids and asks as `(px, qty)` mantissas, best first.
type Sides = (Vec<(i64, i64)>, Vec<(i64, i64)>);

struct Rig<V: SocketVenue> {
    sim: SimHandle,
    venue_name: &'static str,
    feed: SocketFeed<V, Vec<MdEvent>>,
    book: L2Book,
    inst: InstrumentIdx,
    /// Levels per side compared with the simulator (Kraken keeps only its subscribed depth).
    depth: usize,
    invalid: Vec<InvalidReason>,
    checksums_ok: u64,
}

fn start_sim(name: &str, dialect: Dialect) -> SimHandle {
    let cfg = SimConfig {
        seed: 9,
        step_ms: 0,
        oracle_frames: false,
        instruments: vec![InstrumentCfg::default()],
        venues: vec![VenueCfg {
            name: name.into(),
            dialect,
            kraken_depth: KRAKEN_DEPTH,
            ..VenueCfg::default()
        }],
        ..SimConfig::default()
    };
    Sim::start(cfg, None).expect("start simulator")
}

impl<V: SocketVenue> Rig<V> {
    fn new(
        venue_name: &'static str,
        dialect: Dialect,
        symbol: &str,
        venue: V,
        depth: usize,
    ) -> Self {
        let sim = start_sim(venue_name, dialect);
        let ep = sim.endpoint(venue_name).expect("endpoint").clone();
        let mut ws = lyra_feeds::ws::WsConfig::default();
        ws.backoff.base_ms = 20;
        ws.backoff.cap_ms = 200;
        let cfg = SocketFeedConfig {
            venue: VenueId(0),
            url: ep.ws.clone(),
            roots: TlsRoots::PemFile(sim.ca_path().to_path_buf()),
            symbols: vec![symbol.into()],
            scale: SCALE,
            snapshot_wait_ms: 1_000,
            ws,
        };
        let mut feed = SocketFeed::new(
            &cfg,
            venue,
            InstrumentTable::new(),
            Vec::with_capacity(4096),
            Arc::new(LiveClock),
        )
        .expect("feed");
        let inst = feed.instrument(symbol).expect("instrument");
        let book = L2Book::new(
            VenueId(0),
            inst,
            BookConfig {
                window_slots: 4096,
                far_levels: 256,
                tick: 1_000_000,
            },
        );
        feed.start();
        Self {
            sim,
            venue_name,
            feed,
            book,
            inst,
            depth,
            invalid: Vec::new(),
            checksums_ok: 0,
        }
    }

    /// One turn: optionally a simulator step, a bounded wait of the feed, then the book stage,
    /// which verifies each venue checksum on the rebuilt book and reports a mismatch back.
    fn turn(&mut self, step: bool) {
        if step {
            self.sim.step(1);
        }
        self.feed.poll_wait(Duration::from_millis(5));
        let events: Vec<MdEvent> = self.feed.sink_mut().drain(..).collect();
        let mut broken = None;
        for e in &events {
            if e.kind == MdKind::Checksum {
                if !self.book.is_valid() {
                    continue;
                }
                let ok = ChecksumRecipe::verify_event(
                    e,
                    self.book.bids().map(|(p, q)| (p.0, q.0)),
                    self.book.asks().map(|(p, q)| (p.0, q.0)),
                    SCALE,
                    SCALE,
                );
                match ok {
                    Some(true) => self.checksums_ok += 1,
                    Some(false) => {
                        self.book.invalidate(InvalidReason::ChecksumMismatch);
                        self.invalid.push(InvalidReason::ChecksumMismatch);
                        broken = Some(InvalidReason::ChecksumMismatch);
                    }
                    None => {}
                }
                continue;
            }
            if let Applied::Invalidated(r) = self.book.apply(e) {
                self.invalid.push(r);
                if r == InvalidReason::Crossed {
                    broken = Some(r);
                }
            }
        }
        if let Some(r) = broken {
            self.feed.resync(self.inst, r);
        }
    }

    fn wait(&mut self, what: &str, step: bool, done: impl Fn(&Self) -> bool) {
        let start = mono_now_ns();
        while !done(self) {
            assert!(
                mono_now_ns() - start < WAIT_NS,
                "timed out waiting for {what}: state {:?}, ws {:?}, stats {:?}, invalid {:?}",
                self.feed.conn_state(),
                self.feed.ws_stats(),
                self.feed.stats(),
                self.invalid
            );
            self.turn(step);
        }
    }

    fn sim_book(&self) -> Sides {
        let st = self.sim.shared().venues[0].state.lock().expect("venue");
        (
            st.m.depth(0, true, self.depth),
            st.m.depth(0, false, self.depth),
        )
    }

    fn my_book(&self) -> Sides {
        (
            self.book
                .bids()
                .take(self.depth)
                .map(|(p, q)| (p.0, q.0))
                .collect(),
            self.book
                .asks()
                .take(self.depth)
                .map(|(p, q)| (p.0, q.0))
                .collect(),
        )
    }

    fn valid(&self) -> bool {
        self.feed.is_synced(self.inst) && self.book.is_valid()
    }

    /// Waits for a valid book (stepping), steps a little further, then stops stepping and waits
    /// until the rebuilt book equals the simulator's (its last update delivered).
    fn synced_and_equal(&mut self, what: &str) {
        self.wait(&format!("{what}: valid book"), true, Self::valid);
        for _ in 0..5 {
            self.turn(true);
        }
        self.wait(
            &format!("{what}: equal to the simulator's book"),
            false,
            |r| r.valid() && r.my_book() == r.sim_book(),
        );
        let (b, a) = self.my_book();
        assert!(!b.is_empty() && !a.is_empty());
        assert!(!self.book.is_crossed());
    }

    /// Arms `kind` once a book is valid and equal, then steps until it is invalid.
    fn inject_until_invalid(&mut self, kind: FaultKind) {
        self.synced_and_equal("before the fault");
        let n = self.invalid.len();
        self.sim
            .inject(self.venue_name, kind, 1, 0, 0)
            .expect("inject");
        self.wait(&format!("{kind:?}: invalid book"), true, |r| {
            r.invalid.len() > n
        });
    }
}

fn okx() -> Rig<OkxVenue> {
    Rig::new(
        "okx",
        Dialect::Okx,
        "BTC-USDT",
        OkxVenue::new(VenueId(0), "books"),
        usize::MAX,
    )
}

fn kraken() -> Rig<KrakenVenue> {
    Rig::new(
        "kraken",
        Dialect::Kraken,
        "BTC/USDT",
        KrakenVenue::new(VenueId(0), KRAKEN_DEPTH as u32),
        KRAKEN_DEPTH,
    )
}

#[test]
fn okx_checksum_corruption_invalidates_and_resubscribes() {
    let mut r = okx();
    r.inject_until_invalid(FaultKind::ChecksumCorruption);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::ChecksumMismatch));
    assert!(
        r.checksums_ok > 0,
        "good checksums verified before the fault"
    );
    r.synced_and_equal("after the corrupted checksum");
    assert_eq!(r.feed.stats().external_resyncs, 1);
    assert!(r.feed.stats().snapshots_requested >= 1, "resubscribed");
    assert_eq!(r.feed.stats().subscriptions, 1, "no reconnect needed");
}

#[test]
fn okx_sequence_gap_invalidates_and_resubscribes() {
    let mut r = okx();
    r.inject_until_invalid(FaultKind::WsGap);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Gap));
    r.synced_and_equal("after the gap");
    assert!(r.feed.stats().snapshots_requested >= 1, "resubscribed");
    assert_eq!(r.feed.stats().subscriptions, 1);
}

#[test]
fn okx_disconnect_invalidates_and_resyncs_after_reconnect() {
    let mut r = okx();
    r.inject_until_invalid(FaultKind::WsDrop);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Disconnected));
    r.synced_and_equal("after the drop");
    assert_eq!(r.feed.stats().subscriptions, 2);
}

#[test]
fn kraken_checksum_corruption_invalidates_and_resubscribes() {
    let mut r = kraken();
    r.inject_until_invalid(FaultKind::ChecksumCorruption);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::ChecksumMismatch));
    assert!(
        r.checksums_ok > 0,
        "good checksums verified before the fault"
    );
    r.synced_and_equal("after the corrupted checksum");
    assert_eq!(r.feed.stats().external_resyncs, 1);
    assert_eq!(r.feed.stats().subscriptions, 1, "no reconnect needed");
}

#[test]
fn kraken_disconnect_invalidates_and_resyncs_after_reconnect() {
    let mut r = kraken();
    r.inject_until_invalid(FaultKind::WsDrop);
    assert_eq!(r.invalid.last(), Some(&InvalidReason::Disconnected));
    r.synced_and_equal("after the drop");
    assert_eq!(r.feed.stats().subscriptions, 2);
}
