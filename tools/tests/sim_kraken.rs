//! The Kraken dialect of `lyra sim`: the real `feeds` Kraken v2 client (`KrakenWs` + `KrakenMd`,
//! truncation to depth) keeps a book whose every checksum verifies, sees an injected checksum
//! corruption; signed REST `AddOrder` / `QueryOrders` / `CancelOrder` with nonce rules.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use lyra_feeds::{
    checksum::ChecksumRecipe,
    instrument::InstrumentTable,
    kraken::KrakenMd,
    ws::{client_config, venues::KrakenWs, TlsRoots, WsClient, WsConfig, WsEvent},
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
    kraken::rest::api_sign,
    Credentials, SimHandle,
};
use sim_support::Http;

fn kraken_sim(step_ms: u64) -> SimHandle {
    sim_support::single_venue_sim("kraken", Dialect::Kraken, 31, step_ms)
}

#[test]
fn feeds_kraken_client_keeps_a_checksummed_book() {
    let sim = kraken_sim(2);
    let ep = sim.endpoints()[0].clone();
    let venue = VenueId(2);
    let mut table = InstrumentTable::new();
    let idx = table
        .lookup_or_add(venue, "BTC/USDT", 8, 8)
        .expect("instrument");
    let tls = client_config(&TlsRoots::PemFile(sim.ca_path().to_path_buf())).expect("tls");
    let proto = KrakenWs::new(&ep.ws, vec!["BTC/USDT".into()], 10);
    let mut client = WsClient::new(
        proto,
        WsConfig::default(),
        Some(tls),
        Arc::new(LiveClock),
        Token(1),
    )
    .expect("client");
    let mut md = KrakenMd::new(venue, 10);
    md.prepare(idx);
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(64);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut out: Vec<MdEvent> = Vec::new();
    let (mut bids, mut asks) = (BTreeMap::<i64, i64>::new(), BTreeMap::<i64, i64>::new());
    let (mut ok, mut bad, mut injected) = (0u64, 0u64, false);
    client.start(poll.registry(), &mut |_| {});
    let started = lyra_shm::clock::mono_now_ns();
    while !(injected && bad >= 1) {
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
            md.on_frame(1, &f, &mut resolve, &mut out).expect("parse");
            for e in out.drain(..) {
                match e.kind {
                    MdKind::SnapshotBegin => {
                        bids.clear();
                        asks.clear();
                    }
                    MdKind::Level => {
                        let side = if e.side == Side::Buy {
                            &mut bids
                        } else {
                            &mut asks
                        };
                        if e.qty.0 == 0 {
                            side.remove(&e.px.0);
                        } else {
                            side.insert(e.px.0, e.qty.0);
                        }
                    }
                    _ => {}
                }
                if let Some(m) = ChecksumRecipe::verify_event(
                    &e,
                    bids.iter().rev().map(|(p, q)| (*p, *q)),
                    asks.iter().map(|(p, q)| (*p, *q)),
                    8,
                    8,
                ) {
                    if m {
                        ok += 1;
                    } else {
                        bad += 1;
                    }
                }
            }
        }
        if ok >= 200 && !injected {
            assert_eq!(bad, 0, "every checksum verifies on the truncated book");
            assert!(bids.len() <= 10 && asks.len() <= 10);
            sim.inject("kraken", FaultKind::ChecksumCorruption, 1, 0, 0)
                .expect("inject");
            injected = true;
        }
    }
    assert_eq!(bad, 1);
    client.stop(poll.registry());
}

/// A signed private call; `nonce` must grow.
fn private(http: &mut Http, c: &Credentials, method: &str, nonce: u64, params: &str) -> Value {
    let body = format!("nonce={nonce}&{params}");
    let path = format!("/0/private/{method}");
    let sig = api_sign(&c.secret, &path, &nonce.to_string(), &body).expect("sign");
    let h = [
        ("API-Key".to_string(), c.api_key.clone()),
        ("API-Sign".to_string(), sig),
    ];
    http.request_with("POST", &path, &h, &body)
        .expect("answer")
        .json
}

fn dec(v: &Value) -> i64 {
    lyra_shm::decimal::parse_mantissa(v.as_str().expect("decimal").as_bytes(), 8).expect("decimal")
}

#[test]
fn kraken_signed_order_round_trip() {
    let sim = kraken_sim(0);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    let d = http.get("/0/public/Depth?pair=BTC/USDT&count=3").json;
    let ask = &d["result"]["BTC/USDT"]["asks"][0];
    let (ask_px, ask_qty) = (dec(&ask[0]), dec(&ask[1]));
    let qty = ask_qty + ONE / 1000;
    let r = private(
        &mut http,
        &c,
        "AddOrder",
        10,
        &format!(
            "pair=BTC/USDT&type=buy&ordertype=limit&price={}&volume={}&cl_ord_id=k1",
            fmt8(ask_px),
            fmt8(qty)
        ),
    );
    assert_eq!(r["error"], serde_json::json!([]), "{r}");
    let txid = r["result"]["txid"][0].as_str().expect("txid").to_string();
    let q = private(&mut http, &c, "QueryOrders", 11, &format!("txid={txid}"));
    let o = &q["result"][&txid];
    assert_eq!(
        (o["status"].as_str(), o["cl_ord_id"].as_str()),
        (Some("open"), Some("k1")),
        "{q}"
    );
    assert_eq!(dec(&o["vol_exec"]), ask_qty);
    let open = private(&mut http, &c, "OpenOrders", 12, "trades=false");
    assert_eq!(open["result"]["open"].as_object().map(|m| m.len()), Some(1));
    // A replayed nonce and a bad signature are refused.
    let r = private(&mut http, &c, "OpenOrders", 12, "trades=false");
    assert_eq!(r["error"][0], "EAPI:Invalid nonce");
    let mut bad = c.clone();
    bad.secret = "AAAA".repeat(16);
    assert_eq!(
        private(&mut http, &bad, "Balance", 13, "x=1")["error"][0],
        "EAPI:Invalid signature"
    );
    let x = private(&mut http, &c, "CancelOrder", 14, "cl_ord_id=k1");
    assert_eq!(x["result"]["count"], 1, "{x}");
    let q = private(&mut http, &c, "QueryOrders", 15, &format!("txid={txid}"));
    assert_eq!(q["result"][&txid]["status"], "canceled");
    let x = private(&mut http, &c, "CancelOrder", 16, "cl_ord_id=k1");
    assert_eq!(x["error"][0], "EOrder:Unknown order");
    let r = private(
        &mut http,
        &c,
        "AddOrder",
        17,
        &format!(
            "pair=BTC/USDT&type=buy&ordertype=limit&price={}&volume=100",
            fmt8(ask_px)
        ),
    );
    assert_eq!(r["error"][0], "EOrder:Insufficient funds");
    let bal = private(&mut http, &c, "Balance", 18, "x=1");
    assert_eq!(
        dec(&bal["result"]["BTC"]),
        ONE + ask_qty - ask_qty * 10 / 10_000
    );
}
