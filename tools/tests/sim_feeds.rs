//! The real `feeds` Binance client against `lyra sim`, unchanged except base URL and TLS root:
//! the mio/tungstenite/rustls WebSocket client subscribes to combined streams, `BinanceMd`
//! (parser + diff-depth sync) buffers, the REST fetcher gets the snapshot, and the book syncs —
//! no gaps, and every bookTicker whose `u` equals a depth `u` matches the rebuilt top.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use lyra_feeds::{
    binance::{BinanceMd, FrameInfo, SnapshotOutcome, SyncConfig},
    instrument::InstrumentTable,
    rest::{RestClient, RestConfig},
    ws::{client_config, venues::BinanceWs, TlsRoots, WsClient, WsConfig, WsEvent},
};
use lyra_shm::{
    clock::LiveClock,
    msg::{MdEvent, MdKind, Side, VenueId},
};
use mio::{Events, Poll, Token};
use sim::{config::SimConfig, Sim};

/// A book rebuilt from the emitted events.
#[derive(Default)]
struct Book {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl Book {
    fn apply(&mut self, e: &MdEvent) {
        match e.kind {
            MdKind::SnapshotBegin => {
                self.bids.clear();
                self.asks.clear();
            }
            MdKind::Level => {
                let side = if e.side == Side::Buy {
                    &mut self.bids
                } else {
                    &mut self.asks
                };
                if e.qty.0 == 0 {
                    side.remove(&e.px.0);
                } else {
                    side.insert(e.px.0, e.qty.0);
                }
            }
            _ => {}
        }
    }
    fn top(&self) -> Option<(i64, i64, i64, i64)> {
        let (b, bq) = self.bids.iter().next_back()?;
        let (a, aq) = self.asks.iter().next()?;
        Some((*b, *bq, *a, *aq))
    }
}

#[test]
fn feeds_client_syncs_a_valid_book_from_the_simulator() {
    let cfg = SimConfig {
        seed: 11,
        step_ms: 2,
        oracle_frames: false,
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg, None).expect("start");
    let ep = sim.endpoints()[0].clone();
    let roots = TlsRoots::PemFile(sim.ca_path().to_path_buf());
    let venue = VenueId(0);
    let mut table = InstrumentTable::new();
    let idx = table
        .lookup_or_add(venue, "BTCUSDT", 8, 8)
        .expect("instrument");
    let resolved = table.resolved(idx).expect("resolved");
    let tls = client_config(&roots).expect("tls");
    let proto = BinanceWs::new(
        &ep.ws,
        vec!["btcusdt@depth@100ms".into(), "btcusdt@bookTicker".into()],
    );
    let mut client = WsClient::new(
        proto,
        WsConfig::default(),
        Some(tls),
        Arc::new(LiveClock),
        Token(1),
    )
    .expect("client");
    let rest = RestClient::new(&RestConfig::new("binance", roots)).expect("rest");
    let mut md = BinanceMd::new(venue, SyncConfig::default());
    md.prepare(idx);
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(64);
    let mut out: Vec<MdEvent> = Vec::new();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let (mut subscribed, mut buffered, mut snapshot_done) = (false, 0u32, false);
    let mut book = Book::default();
    let mut last_depth_u = 0u64;
    let (mut applied, mut checked) = (0u64, 0u64);
    client.start(poll.registry(), &mut |e| {
        if let WsEvent::Subscribed = e {
            subscribed = true;
        }
    });
    let started = lyra_shm::clock::mono_now_ns();
    while applied < 300 || checked < 20 {
        assert!(
            lyra_shm::clock::mono_now_ns() - started < 30_000_000_000,
            "no sync: applied {applied}, checked {checked}"
        );
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .expect("poll");
        for ev in events.iter() {
            client.on_ready(poll.registry(), ev, &mut |e| match e {
                WsEvent::Subscribed => subscribed = true,
                WsEvent::Data(d) => frames.push(d.to_vec()),
                WsEvent::Disconnected(r) => panic!("disconnected: {r:?}"),
                _ => {}
            });
        }
        client.on_tick(poll.registry(), &mut |_| {});
        for f in frames.drain(..) {
            let mut resolve = |s: &[u8]| table.resolve(venue, s);
            let info = md
                .on_frame(1, &f, &mut resolve, None, &mut out)
                .expect("parse");
            match info {
                FrameInfo::Depth {
                    last_id, outcome, ..
                } => {
                    buffered += 1;
                    if snapshot_done
                        && matches!(outcome, lyra_feeds::binance::DepthOutcome::Applied)
                    {
                        applied += 1;
                        last_depth_u = last_id;
                    }
                }
                FrameInfo::BookTicker { .. } => {}
                _ => {}
            }
            for e in out.drain(..) {
                if e.kind == MdKind::Bbo && e.side == Side::Sell {
                    // The pair's second half: compare with the rebuilt book when `u` matches.
                    if e.seq == last_depth_u && snapshot_done {
                        let top = book.top().expect("top");
                        assert_eq!(
                            (top.2, top.3),
                            (e.px.0, e.qty.0),
                            "ask side vs bookTicker u={}",
                            e.seq
                        );
                        checked += 1;
                    }
                } else if e.kind == MdKind::Bbo && e.seq == last_depth_u && snapshot_done {
                    let top = book.top().expect("top");
                    assert_eq!(
                        (top.0, top.1),
                        (e.px.0, e.qty.0),
                        "bid side vs bookTicker u={}",
                        e.seq
                    );
                }
                book.apply(&e);
            }
        }
        if subscribed && buffered >= 5 && !snapshot_done {
            let body = rest
                .get(&format!(
                    "{}/api/v3/depth?symbol=BTCUSDT&limit=1000",
                    ep.rest
                ))
                .expect("snapshot");
            let mut resolve = |s: &[u8]| table.resolve(venue, s);
            let info = md
                .on_frame(2, &body, &mut resolve, Some(resolved), &mut out)
                .expect("snapshot parse");
            assert!(
                matches!(
                    info,
                    FrameInfo::Snapshot {
                        outcome: SnapshotOutcome::Applied { .. },
                        ..
                    }
                ),
                "{info:?}"
            );
            snapshot_done = true;
            for e in out.drain(..) {
                book.apply(&e);
            }
        }
    }
    let s = md.sync(idx).expect("sync");
    assert!(s.is_synced());
    let c = s.counters();
    assert_eq!((c.gaps, c.resyncs, c.snapshots_too_old), (0, 0, 0), "{c:?}");
    // The rebuilt book is the simulator's book, uncrossed.
    let (b, _, a, _) = book.top().expect("top");
    assert!(b < a);
    client.stop(poll.registry());
    sim.stop();
}
