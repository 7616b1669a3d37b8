//! The real `oms` Binance REST client (`BinanceRest`: keep-alive rustls connection, its own
//! signing and request framing) against `lyra sim`, unchanged except base URL and CA: time sync,
//! account, a signed order, its query and cancel, and the rate-limit headers it parses.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{sync::Arc, time::Duration};

use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, Method},
    http::tls_config,
    sign::Credentials,
};
use lyra_shm::clock::LiveClock;
use serde_json::Value;
use sim::{config::SimConfig, Sim};

#[test]
fn oms_binance_client_trades_against_the_simulator() {
    let cfg = SimConfig {
        seed: 41,
        step_ms: 0,
        oracle_frames: false,
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg, None).expect("start");
    let ep = sim.endpoint("binance").expect("binance").clone();
    let c = sim.credentials()[0].clone();
    let tls = tls_config(Some(sim.ca_path())).expect("tls");
    let bcfg = BinanceConfig {
        rest_url: ep.rest.clone(),
        recv_window_ms: 5000,
        timeout: Duration::from_secs(5),
    };
    let creds = Credentials::new(&c.api_key, c.secret.as_bytes());
    let mut rest = BinanceRest::new(&bcfg, tls, creds, Arc::new(LiveClock)).expect("client");
    let offset = rest.warm().expect("warm: connect + /api/v3/time");
    assert!(offset.abs() < 1_000, "loopback clock offset {offset} ms");

    let r = rest
        .call(Method::Get, "/api/v3/account", &[], true)
        .expect("account");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(r.body));
    assert!(r.meta.used_weight_1m.is_some());
    let acct: Value = serde_json::from_slice(r.body).expect("json");
    assert_eq!(acct["canTrade"], true);

    let depth = rest
        .call(
            Method::Get,
            "/api/v3/depth",
            &[("symbol", "BTCUSDT"), ("limit", "5")],
            false,
        )
        .expect("depth");
    let d: Value = serde_json::from_slice(depth.body).expect("json");
    let bid = d["bids"][0][0].as_str().expect("bid").to_string();
    let r = rest
        .call(
            Method::Post,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "0.001"),
                ("price", &bid),
                ("newClientOrderId", "oms-sim-1"),
            ],
            true,
        )
        .expect("order");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(r.body));
    assert_eq!(r.meta.order_count_10s, Some(1));
    let o: Value = serde_json::from_slice(r.body).expect("json");
    assert_eq!(
        (o["status"].as_str(), o["clientOrderId"].as_str()),
        (Some("NEW"), Some("oms-sim-1"))
    );

    let q = rest
        .call(
            Method::Get,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "oms-sim-1")],
            true,
        )
        .expect("query");
    let q: Value = serde_json::from_slice(q.body).expect("json");
    assert_eq!(q["status"], "NEW");
    let x = rest
        .call(
            Method::Delete,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "oms-sim-1")],
            true,
        )
        .expect("cancel");
    let x: Value = serde_json::from_slice(x.body).expect("json");
    assert_eq!(x["status"], "CANCELED");
    assert_eq!(sim.oracle().counts().orders, 1);
}
