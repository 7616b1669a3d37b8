//! The OKX dialect of `lyra sim`: the real `feeds` OKX client (`OkxWs` + `OkxMd`) syncs `books`
//! (snapshot, `prevSeqId`/`seqId` chain, checksums verified on the rebuilt book with
//! `feeds::checksum`), sees injected checksum corruption and sequence gaps; signed REST order
//! round trips with exact expectations.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use lyra_feeds::{
    checksum::ChecksumRecipe,
    instrument::InstrumentTable,
    okx::OkxMd,
    ws::{client_config, venues::OkxWs, TlsRoots, WsClient, WsConfig, WsEvent},
};
use lyra_shm::{
    clock::LiveClock,
    msg::{MdEvent, MdKind, Side, VenueId},
};
use mio::{Events, Poll, Token};
use serde_json::Value;
use sim::{
    config::{fmt8, Dialect, ONE},
    faults::FaultKind,
    SimHandle,
};
use sim_support::Http;

fn okx_sim(step_ms: u64) -> SimHandle {
    sim_support::single_venue_sim("okx", Dialect::Okx, 21, step_ms)
}

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
}

#[test]
fn feeds_okx_client_syncs_books_and_sees_corruption_and_gaps() {
    let sim = okx_sim(2);
    let ep = sim.endpoints()[0].clone();
    let venue = VenueId(1);
    let mut table = InstrumentTable::new();
    let idx = table
        .lookup_or_add(venue, "BTC-USDT", 8, 8)
        .expect("instrument");
    let tls = client_config(&TlsRoots::PemFile(sim.ca_path().to_path_buf())).expect("tls");
    let proto = OkxWs::new(&ep.ws, "books", vec!["BTC-USDT".into()]);
    let mut client = WsClient::new(
        proto,
        WsConfig::default(),
        Some(tls),
        Arc::new(LiveClock),
        Token(1),
    )
    .expect("client");
    let mut md = OkxMd::new(venue);
    md.prepare(idx);
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(64);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut out: Vec<MdEvent> = Vec::new();
    let mut book = Book::default();
    let (mut ok, mut bad) = (0u64, 0u64);
    client.start(poll.registry(), &mut |_| {});
    let started = lyra_shm::clock::mono_now_ns();
    let mut injected = false;
    let mut gap_injected = false;
    loop {
        assert!(
            lyra_shm::clock::mono_now_ns() - started < 30_000_000_000,
            "checksums ok {ok} bad {bad}"
        );
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .expect("poll");
        for ev in events.iter() {
            client.on_ready(poll.registry(), ev, &mut |e| {
                if let WsEvent::Data(d) = e {
                    frames.push(d.to_vec());
                }
            });
        }
        client.on_tick(poll.registry(), &mut |_| {});
        for f in frames.drain(..) {
            let mut resolve = |s: &[u8]| table.resolve(venue, s);
            let _ = md.on_frame(1, &f, &mut resolve, &mut out);
            for e in out.drain(..) {
                book.apply(&e);
                if let Some(matches) = ChecksumRecipe::verify_event(
                    &e,
                    book.bids.iter().rev().map(|(p, q)| (*p, *q)),
                    book.asks.iter().map(|(p, q)| (*p, *q)),
                    8,
                    8,
                ) {
                    if matches {
                        ok += 1;
                    } else {
                        bad += 1;
                    }
                }
            }
        }
        if ok >= 200 && !injected {
            assert_eq!(bad, 0, "every checksum verifies on the rebuilt book");
            let c = md.book(idx).expect("book").counters();
            assert_eq!((c.snapshots, c.gaps), (1, 0), "{c:?}");
            sim.inject("okx", FaultKind::ChecksumCorruption, 1, 0, 0)
                .expect("inject");
            injected = true;
        }
        if injected && bad == 1 && !gap_injected {
            // One corrupted checksum seen; now a sequence gap (prevSeqId != last seqId).
            sim.inject("okx", FaultKind::WsGap, 1, 0, 0)
                .expect("inject");
            gap_injected = true;
        }
        if gap_injected && md.book(idx).expect("book").counters().gaps >= 1 {
            assert_eq!(bad, 1, "exactly the corrupted checksum failed");
            break;
        }
    }
    client.stop(poll.registry());
}

fn dec(v: &Value) -> i64 {
    lyra_shm::decimal::parse_mantissa(v.as_str().expect("decimal").as_bytes(), 8).expect("decimal")
}

#[test]
fn okx_signed_order_round_trip() {
    let sim = okx_sim(0);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    let book = http.get("/api/v5/market/books?instId=BTC-USDT&sz=5").json;
    assert_eq!(book["code"], "0");
    let ask_px = dec(&book["data"][0]["asks"][0][0]);
    let ask_qty = dec(&book["data"][0]["asks"][0][1]);
    let qty = ask_qty + ONE / 1000;
    let body = format!(
        r#"{{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"okx1","side":"buy","ordType":"limit","px":"{}","sz":"{}"}}"#,
        fmt8(ask_px),
        fmt8(qty)
    );
    let r = http.okx("POST", "/api/v5/trade/order", &c, &body).json;
    assert_eq!(
        (r["code"].as_str(), r["data"][0]["sCode"].as_str()),
        (Some("0"), Some("0")),
        "{r}"
    );
    assert_eq!(r["data"][0]["clOrdId"], "okx1");
    let q = http
        .okx(
            "GET",
            "/api/v5/trade/order?instId=BTC-USDT&clOrdId=okx1",
            &c,
            "",
        )
        .json;
    let o = &q["data"][0];
    assert_eq!(o["state"], "partially_filled", "{q}");
    assert_eq!(dec(&o["accFillSz"]), ask_qty);
    assert_eq!(dec(&o["fillPx"]), ask_px);
    assert_eq!(o["feeCcy"], "BTC");
    assert!(
        o["fee"].as_str().expect("fee").starts_with('-'),
        "fees paid are negative"
    );
    let pending = http
        .okx(
            "GET",
            "/api/v5/trade/orders-pending?instId=BTC-USDT",
            &c,
            "",
        )
        .json;
    assert_eq!(pending["data"].as_array().map(Vec::len), Some(1));
    let fills = http
        .okx("GET", "/api/v5/trade/fills?instId=BTC-USDT", &c, "")
        .json;
    assert_eq!(fills["data"][0]["execType"], "T");
    let x = http
        .okx(
            "POST",
            "/api/v5/trade/cancel-order",
            &c,
            r#"{"instId":"BTC-USDT","clOrdId":"okx1"}"#,
        )
        .json;
    assert_eq!(x["data"][0]["sCode"], "0", "{x}");
    let q = http
        .okx(
            "GET",
            "/api/v5/trade/order?instId=BTC-USDT&clOrdId=okx1",
            &c,
            "",
        )
        .json;
    assert_eq!(q["data"][0]["state"], "canceled");
    // Errors: cancel again, unknown order, bad signature, insufficient balance, duplicate id.
    let x = http
        .okx(
            "POST",
            "/api/v5/trade/cancel-order",
            &c,
            r#"{"instId":"BTC-USDT","clOrdId":"okx1"}"#,
        )
        .json;
    assert_eq!(
        (x["code"].as_str(), x["data"][0]["sCode"].as_str()),
        (Some("1"), Some("51400"))
    );
    let q = http
        .okx(
            "GET",
            "/api/v5/trade/order?instId=BTC-USDT&clOrdId=nope",
            &c,
            "",
        )
        .json;
    assert_eq!(q["code"], "51603");
    let mut bad = c.clone();
    bad.secret = "x".repeat(64);
    let r = http.okx("GET", "/api/v5/account/balance", &bad, "");
    assert_eq!((r.status, r.json["code"].as_str()), (401, Some("50113")));
    let big = format!(
        r#"{{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"{}","sz":"100"}}"#,
        fmt8(ask_px)
    );
    let r = http.okx("POST", "/api/v5/trade/order", &c, &big).json;
    assert_eq!(r["data"][0]["sCode"], "51008", "{r}");
    let bal = http.okx("GET", "/api/v5/account/balance", &c, "").json;
    let btc = bal["data"][0]["details"]
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d["ccy"] == "BTC")
        .expect("BTC")
        .clone();
    assert_eq!(dec(&btc["availBal"]), ONE + ask_qty - ask_qty * 10 / 10_000);
}
