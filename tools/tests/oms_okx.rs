//! The real `oms` OKX client (`OkxRest`: keep-alive rustls connection, `OK-ACCESS-*` signing,
//! ISO timestamps from the tracked server-time offset) against `lyra sim`'s OKX dialect: place →
//! query by client id → partial fill → fills → cancel with exact expectations, an IOC larger than
//! the top level, lost answers as unknown outcomes, refusals mapped to the OMS classes, and the
//! canary that no secret or passphrase ever shows.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use std::{sync::Arc, time::Duration};

use lyra_oms::{
    binance::{Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    okx::{OkxConfig, OkxCredentials, OkxRest},
    venue::{ErrorClass, Refusal, VenueError},
};
use lyra_shm::{
    clock::LiveClock,
    msg::{InstrumentIdx, OrdType, OrderIntent, OrderState, Side, Tif},
};
use rust_decimal::Decimal;
use sim::{config::Dialect, faults::FaultKind, Credentials, SimHandle};
use sim_support::Http;

const PX_SCALE: u8 = 2;
const QTY_SCALE: u8 = 5;

fn okx_sim() -> SimHandle {
    sim_support::single_venue_sim("okx", Dialect::Okx, 23, 0)
}

fn spec() -> SymbolSpec {
    SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: "BTC-USDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: PX_SCALE,
        qty_scale: QTY_SCALE,
        filters: Filters::default(),
        trading: true,
    }
}

fn client(sim: &SimHandle, secret: &str, passphrase: &str) -> OkxRest {
    let c = &sim.credentials()[0];
    let cfg = OkxConfig {
        rest_url: sim.endpoint("okx").expect("okx").rest.clone(),
        timeout: Duration::from_secs(10),
        simulated_trading: false,
    };
    let tls = tls_config(Some(sim.ca_path())).expect("tls");
    OkxRest::new(
        &cfg,
        tls,
        OkxCredentials::new(&c.api_key, secret, passphrase),
        Arc::new(LiveClock),
    )
    .expect("client")
}

fn m(text: &serde_json::Value, scale: u8) -> i64 {
    lyra_shm::decimal::parse_mantissa(text.as_str().expect("decimal").as_bytes(), scale)
        .expect("decimal")
}

/// Top bid and ask `(px, qty)` at the spec's scales.
fn top(sim: &SimHandle) -> ((i64, i64), (i64, i64)) {
    let mut http = Http::new(sim);
    let b = http.get("/api/v5/market/books?instId=BTC-USDT&sz=5").json;
    let lv = |side: &str| {
        let l = &b["data"][0][side][0];
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
            let VenueError::Refused { kind, ref code, .. } = e else {
                unreachable!()
            };
            (kind, code.clone(), e.class())
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn okx_client_places_queries_fills_and_cancels() {
    let sim = okx_sim();
    let creds: Credentials = sim.credentials()[0].clone();
    // The venue clock runs 60 s ahead: unsynced requests are refused (50102 ⇒ re-sync time),
    // synced ones pass.
    sim.inject("okx", FaultKind::ClockSkew, 1, 600_000, 60_000)
        .expect("skew");
    let mut okx = client(&sim, &creds.secret, &creds.passphrase);
    let (kind, code, class) = refusal(okx.balances());
    assert_eq!(
        (kind, code.as_str(), class),
        (Refusal::Clock, "50102", ErrorClass::Reject)
    );
    let offset = okx.warm().expect("warm: connect + public time");
    assert!(
        (50_000..70_000).contains(&offset),
        "offset {offset} ms tracks the 60 s skew"
    );

    let spec = spec();
    let ((bid_px, bid_qty), (ask_px, ask_qty)) = top(&sim);
    // A GTC buy at the best ask for 0.001 BTC more than it holds: partly filled, rest resting.
    let id = ClOrdId::new("okx", 1).expect("id");
    let extra = 100; // 0.001 BTC at scale 5
    let ord_id = okx
        .place(
            &spec,
            &intent(Side::Buy, OrdType::Limit, Tif::Gtc),
            ask_px,
            ask_qty + extra,
            &id,
        )
        .expect("place");
    assert!(!ord_id.is_empty());
    let q = okx.query(&spec, id.as_str()).expect("query");
    assert_eq!(
        (q.order_id, q.client_id.as_str(), q.state, q.side),
        (ord_id, id.as_str(), OrderState::Partial, Side::Buy)
    );
    assert_eq!(
        (q.px, q.qty, q.executed, q.avg_px),
        (ask_px, ask_qty + extra, ask_qty, ask_px)
    );
    let open = okx.open_orders(&spec).expect("pending");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].client_id.as_str(), id.as_str());
    let fills = okx.fills(&spec).expect("fills");
    assert_eq!(fills.len(), 1, "{fills:?}");
    let f = &fills[0];
    assert_eq!(
        (
            f.order_id,
            f.client_id.as_str(),
            f.side,
            f.px,
            f.qty,
            f.maker
        ),
        (ord_id, id.as_str(), Side::Buy, ask_px, ask_qty, false)
    );
    // Taker fee 10 bps of the base bought, reported by OKX as negative; paid is positive here.
    let fee = Decimal::new(ask_qty, QTY_SCALE as u32) * Decimal::new(10, 4);
    assert_eq!(
        (f.fee.parse::<Decimal>().expect("fee"), f.fee_asset.as_str()),
        (fee, "BTC")
    );

    assert_eq!(okx.cancel(&spec, id.as_str()).expect("cancel"), ord_id);
    let q = okx.query(&spec, id.as_str()).expect("query");
    assert_eq!((q.state, q.executed), (OrderState::Canceled, ask_qty));
    assert!(okx.open_orders(&spec).expect("pending").is_empty());
    let (kind, code, class) = refusal(okx.cancel(&spec, id.as_str()));
    assert_eq!(
        (kind, code.as_str(), class),
        (Refusal::NotFound, "51400", ErrorClass::Reject)
    );
    let (kind, code, _) = refusal(okx.query(&spec, "nosuchorder"));
    assert_eq!((kind, code.as_str()), (Refusal::NotFound, "51603"));

    // An IOC sell larger than the best bid: that level trades, the remainder is cancelled.
    let ioc = ClOrdId::new("okx", 2).expect("id");
    okx.place(
        &spec,
        &intent(Side::Sell, OrdType::Limit, Tif::Ioc),
        bid_px,
        bid_qty + extra,
        &ioc,
    )
    .expect("ioc");
    let q = okx.query(&spec, ioc.as_str()).expect("query");
    assert_eq!(
        (q.state, q.executed, q.avg_px),
        (OrderState::Canceled, bid_qty, bid_px)
    );

    // Not enough USDT for 100 BTC: a definite refusal, nothing placed.
    let (kind, code, class) = refusal(okx.place(
        &spec,
        &intent(Side::Buy, OrdType::Limit, Tif::Gtc),
        ask_px,
        100 * 100_000,
        &ClOrdId::new("okx", 3).expect("id"),
    ));
    assert_eq!(
        (kind, code.as_str(), class),
        (Refusal::InsufficientBalance, "51008", ErrorClass::Reject)
    );

    // BTC: 1 + bought − fee − sold.
    let bal = okx.balances().expect("balance");
    let btc = bal.iter().find(|b| b.asset == "BTC").expect("BTC");
    assert_eq!(
        btc.free + btc.locked,
        Decimal::ONE + Decimal::new(ask_qty - bid_qty, QTY_SCALE as u32) - fee
    );
    assert_eq!(okx.conn().connects(), 1, "one keep-alive connection");
}

#[test]
fn okx_lost_answers_are_unknown_and_resolved_by_query() {
    let sim = okx_sim();
    let creds = sim.credentials()[0].clone();
    let mut okx = client(&sim, &creds.secret, &creds.passphrase);
    okx.warm().expect("warm");
    let spec = spec();
    let ((bid_px, _), _) = top(&sim);
    let resting = intent(Side::Buy, OrdType::Limit, Tif::Gtc);
    let px = bid_px - 10_000; // 100 USDT under the bid: rests
                              // HTTP 503 / 50004 after placing: unknown; the query finds the order.
    sim.inject("okx", FaultKind::Rest5xxPlaced, 1, 0, 0)
        .expect("inject");
    let a = ClOrdId::new("okx", 10).expect("id");
    let e = okx.place(&spec, &resting, px, 100, &a).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e}");
    assert_eq!(
        okx.query(&spec, a.as_str()).expect("query").state,
        OrderState::Acked
    );
    // 50004 without placing: also unknown; the query proves it absent.
    sim.inject("okx", FaultKind::Rest5xxNotPlaced, 1, 0, 0)
        .expect("inject");
    let b = ClOrdId::new("okx", 11).expect("id");
    let e = okx.place(&spec, &resting, px, 100, &b).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e}");
    let (kind, _, _) = refusal(okx.query(&spec, b.as_str()));
    assert_eq!(kind, Refusal::NotFound);
    // The connection drops after placing: unknown (the request was sent); reconnects after.
    sim.inject("okx", FaultKind::RestDropResponse, 1, 0, 0)
        .expect("inject");
    let c = ClOrdId::new("okx", 12).expect("id");
    let e = okx.place(&spec, &resting, px, 100, &c).unwrap_err();
    assert!(matches!(e, VenueError::Unknown { .. }), "{e}");
    assert_eq!(
        okx.query(&spec, c.as_str()).expect("query").state,
        OrderState::Acked
    );
    assert_eq!(okx.conn().connects(), 2, "reconnected once");
    // Placing the same client id again while it is open: duplicate ⇒ unknown, never a reject.
    let e = okx.place(&spec, &resting, px, 100, &c).unwrap_err();
    assert_eq!(
        (e.refusal(), e.class()),
        (Some(Refusal::Duplicate), ErrorClass::Unknown)
    );
    assert_eq!(okx.open_orders(&spec).expect("pending").len(), 2);
}

#[test]
fn okx_wrong_secret_is_refused_and_no_secret_ever_shows() {
    let sim = okx_sim();
    let creds = sim.credentials()[0].clone();
    let spec = spec();
    let ((bid_px, _), _) = top(&sim);
    let order = intent(Side::Buy, OrdType::Limit, Tif::Gtc);
    let id = ClOrdId::new("okx", 20).expect("id");
    let mut texts = Vec::new();

    let wrong = "W".repeat(64);
    let mut bad = client(&sim, &wrong, &creds.passphrase);
    bad.warm().expect("public time needs no signature");
    let e = bad.place(&spec, &order, bid_px, 100, &id).unwrap_err();
    texts.push(format!("{e} {e:?} {bad:?}"));
    let (kind, code, class) = refusal(Err::<(), _>(e));
    assert_eq!(
        (kind, code.as_str(), class),
        (Refusal::Auth, "50113", ErrorClass::Reject)
    );

    let mut bad_pass = client(&sim, &creds.secret, "not-the-passphrase");
    bad_pass.warm().expect("warm");
    let e = bad_pass.balances().unwrap_err();
    texts.push(format!("{e} {e:?} {bad_pass:?}"));
    let (kind, code, _) = refusal(Err::<(), _>(e));
    assert_eq!((kind, code.as_str()), (Refusal::Auth, "50105"));

    let mut good = client(&sim, &creds.secret, &creds.passphrase);
    good.warm().expect("warm");
    texts.push(format!("{good:?}"));
    for r in [
        good.place(&spec, &order, bid_px, 100 * 100_000, &id)
            .map(|_| ()),
        good.cancel(&spec, "nosuchorder").map(|_| ()),
        good.query(&spec, "nosuchorder").map(|_| ()),
    ] {
        let e = r.unwrap_err();
        texts.push(format!("{e} {e:?}"));
    }
    let c = OkxCredentials::new(&creds.api_key, &creds.secret, &creds.passphrase);
    texts.push(format!("{c:?}"));
    for t in &texts {
        for s in [&creds.secret, &creds.passphrase, &creds.api_key] {
            assert!(!t.contains(s.as_str()), "a credential leaked into: {t}");
        }
    }
}
