//! The real `oms` Kraken client (`KrakenRest`: keep-alive rustls connection, wall-clock nonces,
//! `API-Sign`) against `lyra sim`'s Kraken dialect: AddOrder → QueryOrders / OpenOrders by client
//! id → partial fill → CancelOrder with exact expectations, an IOC larger than the top level,
//! `E…` errors mapped to the OMS classes, nonces that survive a restart, and the canary that no
//! secret ever shows.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use std::{sync::Arc, time::Duration};

use lyra_oms::{
    binance::{Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    kraken::{KrakenConfig, KrakenCredentials, KrakenRest, OrderRef},
    venue::{ErrorClass, Refusal, VenueError},
};
use lyra_shm::{
    clock::LiveClock,
    msg::{InstrumentIdx, OrdType, OrderIntent, OrderState, Side, Tif},
};
use rust_decimal::Decimal;
use sim::{config::Dialect, faults::FaultKind, SimHandle};
use sim_support::Http;

const PX_SCALE: u8 = 2;
const QTY_SCALE: u8 = 5;

fn kraken_sim() -> SimHandle {
    sim_support::single_venue_sim("kraken", Dialect::Kraken, 33, 0)
}

fn spec() -> SymbolSpec {
    SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: "BTC/USDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: PX_SCALE,
        qty_scale: QTY_SCALE,
        filters: Filters::default(),
        trading: true,
    }
}

fn client(sim: &SimHandle, secret: &str) -> KrakenRest {
    let c = &sim.credentials()[0];
    let cfg = KrakenConfig {
        rest_url: sim.endpoint("kraken").expect("kraken").rest.clone(),
        timeout: Duration::from_secs(10),
    };
    let tls = tls_config(Some(sim.ca_path())).expect("tls");
    let mut k = KrakenRest::new(
        &cfg,
        tls,
        KrakenCredentials::new(&c.api_key, secret).expect("base64 secret"),
        Arc::new(LiveClock),
    )
    .expect("client");
    k.warm().expect("connect");
    k
}

fn m(text: &serde_json::Value, scale: u8) -> i64 {
    lyra_shm::decimal::parse_mantissa(text.as_str().expect("decimal").as_bytes(), scale)
        .expect("decimal")
}

/// Top bid and ask `(px, qty)` at the spec's scales.
fn top(sim: &SimHandle) -> ((i64, i64), (i64, i64)) {
    let mut http = Http::new(sim);
    let d = http.get("/0/public/Depth?pair=BTC/USDT&count=3").json;
    let lv = |side: &str| {
        let l = &d["result"]["BTC/USDT"][side][0];
        (m(&l[0], PX_SCALE), m(&l[1], QTY_SCALE))
    };
    (lv("bids"), lv("asks"))
}

fn intent(side: Side, ord_type: OrdType, tif: Tif) -> OrderIntent {
    OrderIntent {
        side,
        ord_type,
        tif,
        ..Default::default()
    }
}

fn refusal(r: Result<impl std::fmt::Debug, VenueError>) -> (Refusal, String, ErrorClass) {
    match r {
        Err(e @ VenueError::Refused { .. }) => {
            let VenueError::Refused {
                kind, ref reason, ..
            } = e
            else {
                unreachable!()
            };
            (kind, reason.clone(), e.class())
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn kraken_client_places_queries_and_cancels() {
    let sim = kraken_sim();
    let creds = sim.credentials()[0].clone();
    let mut kr = client(&sim, &creds.secret);
    let spec = spec();
    let ((bid_px, bid_qty), (ask_px, ask_qty)) = top(&sim);
    // A GTC buy at the best ask for 0.001 BTC more than it holds: partly filled, rest resting.
    let id = ClOrdId::new("krk", 1).expect("id");
    let extra = 100; // 0.001 BTC at scale 5
    let txid = kr
        .place(
            &spec,
            &intent(Side::Buy, OrdType::Limit, Tif::Gtc),
            ask_px,
            ask_qty + extra,
            &id,
        )
        .expect("place");
    let q = kr.query(&spec, txid.as_str()).expect("query");
    assert_eq!(
        (q.order_id, q.client_id.as_str(), q.state, q.side),
        (txid, id.as_str(), OrderState::Partial, Side::Buy)
    );
    assert_eq!(
        (q.px, q.qty, q.executed, q.avg_px),
        (ask_px, ask_qty + extra, ask_qty, ask_px)
    );
    // Found by client id among open orders (how an unknown outcome without a txid resolves).
    let found = kr
        .find_open(&spec, id.as_str())
        .expect("open")
        .expect("found");
    assert_eq!(found, q);
    assert_eq!(kr.open_orders(&spec).expect("open").len(), 1);

    assert_eq!(kr.cancel(OrderRef::Client(id.as_str())).expect("cancel"), 1);
    let q = kr.query(&spec, txid.as_str()).expect("query");
    assert_eq!((q.state, q.executed), (OrderState::Canceled, ask_qty));
    assert_eq!(kr.find_open(&spec, id.as_str()).expect("open"), None);
    let (kind, reason, class) = refusal(kr.cancel(OrderRef::Client(id.as_str())));
    assert_eq!(
        (kind, reason.as_str(), class),
        (
            Refusal::NotFound,
            "EOrder:Unknown order",
            ErrorClass::Reject
        )
    );
    let (kind, _, _) = refusal(kr.query(&spec, "OSIMUL-ATED0-999999"));
    assert_eq!(kind, Refusal::NotFound);

    // An IOC sell larger than the best bid: that level trades, the remainder expires.
    let ioc = ClOrdId::new("krk", 2).expect("id");
    let t = kr
        .place(
            &spec,
            &intent(Side::Sell, OrdType::Limit, Tif::Ioc),
            bid_px,
            bid_qty + extra,
            &ioc,
        )
        .expect("ioc");
    let q = kr.query(&spec, t.as_str()).expect("query");
    assert_eq!(
        (q.state, q.executed, q.avg_px),
        (OrderState::Expired, bid_qty, bid_px)
    );

    // Not enough USDT for 100 BTC: a definite refusal.
    let (kind, reason, class) = refusal(kr.place(
        &spec,
        &intent(Side::Buy, OrdType::Limit, Tif::Gtc),
        ask_px,
        100 * 100_000,
        &ClOrdId::new("krk", 3).expect("id"),
    ));
    assert_eq!(
        (kind, reason.as_str(), class),
        (
            Refusal::InsufficientBalance,
            "EOrder:Insufficient funds",
            ErrorClass::Reject
        )
    );
    // FOK has no AddOrder spelling: refused before anything is sent.
    let e = kr
        .place(
            &spec,
            &intent(Side::Buy, OrdType::Limit, Tif::Fok),
            ask_px,
            100,
            &ClOrdId::new("krk", 4).expect("id"),
        )
        .unwrap_err();
    assert!(matches!(e, VenueError::NotSent { .. }), "{e}");

    // BTC: 1 + bought − taker fee (10 bps of the base bought) − sold.
    let fee = Decimal::new(ask_qty, QTY_SCALE as u32) * Decimal::new(10, 4);
    let bal = kr.balances().expect("balance");
    let btc = bal.iter().find(|b| b.asset == "BTC").expect("BTC");
    assert_eq!(
        btc.free + btc.locked,
        Decimal::ONE + Decimal::new(ask_qty - bid_qty, QTY_SCALE as u32) - fee
    );
    assert_eq!(kr.conn().connects(), 1, "one keep-alive connection");
}

#[test]
fn kraken_unavailable_is_unknown_and_nonces_survive_a_restart() {
    let sim = kraken_sim();
    let creds = sim.credentials()[0].clone();
    let mut kr = client(&sim, &creds.secret);
    let spec = spec();
    let ((bid_px, _), _) = top(&sim);
    let resting = intent(Side::Buy, OrdType::Limit, Tif::Gtc);
    let px = bid_px - 10_000;
    // EService:Unavailable after placing: unknown; the order is found by client id.
    sim.inject("kraken", FaultKind::Rest5xxPlaced, 1, 0, 0)
        .expect("inject");
    let a = ClOrdId::new("krk", 10).expect("id");
    let e = kr.place(&spec, &resting, px, 100, &a).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e}");
    assert!(e.to_string().contains("EService:Unavailable"), "{e}");
    let o = kr
        .find_open(&spec, a.as_str())
        .expect("open")
        .expect("placed");
    assert_eq!(o.state, OrderState::Acked);
    // Unavailable without placing: also unknown; absent from the open orders.
    sim.inject("kraken", FaultKind::Rest5xxNotPlaced, 1, 0, 0)
        .expect("inject");
    let b = ClOrdId::new("krk", 11).expect("id");
    let e = kr.place(&spec, &resting, px, 100, &b).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e}");
    assert_eq!(kr.find_open(&spec, b.as_str()).expect("open"), None);
    // The same client id while it is open: duplicate ⇒ unknown, never a plain reject.
    let e = kr.place(&spec, &resting, px, 100, &a).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e}");

    // A restart: a fresh client (fresh nonce generator) continues above the old nonces.
    let last = kr.last_nonce();
    drop(kr);
    let mut kr = client(&sim, &creds.secret);
    kr.balances()
        .expect("the new process's first nonce is accepted");
    assert!(kr.last_nonce() > last);
    assert_eq!(kr.cancel(OrderRef::Client(a.as_str())).expect("cancel"), 1);
}

#[test]
fn kraken_wrong_secret_is_refused_and_no_secret_ever_shows() {
    let sim = kraken_sim();
    let creds = sim.credentials()[0].clone();
    let spec = spec();
    let ((bid_px, _), _) = top(&sim);
    let order = intent(Side::Buy, OrdType::Limit, Tif::Gtc);
    let mut texts = Vec::new();

    let mut bad = client(&sim, &"AAAA".repeat(16));
    let e = bad
        .place(
            &spec,
            &order,
            bid_px,
            100,
            &ClOrdId::new("krk", 20).expect("id"),
        )
        .unwrap_err();
    texts.push(format!("{e} {e:?} {bad:?}"));
    let (kind, reason, class) = refusal(Err::<(), _>(e));
    assert_eq!(
        (kind, reason.as_str(), class),
        (Refusal::Auth, "EAPI:Invalid signature", ErrorClass::Reject)
    );

    let mut good = client(&sim, &creds.secret);
    texts.push(format!("{good:?}"));
    for r in [
        good.place(
            &spec,
            &order,
            bid_px,
            100 * 100_000,
            &ClOrdId::new("krk", 21).expect("id"),
        )
        .map(|_| ()),
        good.cancel(OrderRef::Client("nosuchorder")).map(|_| ()),
        good.query(&spec, "nosuchorder").map(|_| ()),
    ] {
        let e = r.unwrap_err();
        texts.push(format!("{e} {e:?}"));
    }
    let c = KrakenCredentials::new(&creds.api_key, &creds.secret).expect("creds");
    texts.push(format!("{c:?}"));
    texts.push(
        KrakenCredentials::new(&creds.api_key, "%%%")
            .unwrap_err()
            .to_string(),
    );
    for t in &texts {
        for s in [&creds.secret, &creds.api_key] {
            assert!(!t.contains(s.as_str()), "a credential leaked into: {t}");
        }
    }
}
