//! Every fault `lyra sim` can inject, observed from a raw client (the engine's reaction is
//! tested elsewhere): market-stream faults on a raw WebSocket, REST faults on a raw HTTPS
//! connection, user-stream faults on the WebSocket API; plus a scripted fault file and a seeded
//! random schedule.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use std::time::Duration;

use serde_json::Value;
use sim::{
    config::{fmt8, SimConfig},
    faults::{FaultAction, FaultFile, FaultKind, RandomFaults},
    Sim, SimHandle,
};
use sim_support::{manual_sim, next_text, now_ms, send, subscribe_user, ws, Http, Ws};
use tungstenite::Message;

fn dec(v: &Value) -> i64 {
    lyra_shm::decimal::parse_mantissa(v.as_str().expect("decimal").as_bytes(), 8).expect("decimal")
}

/// A combined-stream socket on BTCUSDT depth, registered before it returns.
fn market(sim: &SimHandle) -> Ws {
    let mut c = ws(sim, "/stream?streams=btcusdt@depth@100ms");
    send(&mut c, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#);
    let r = next_text(&mut c).expect("list reply");
    assert!(r.contains("btcusdt@depth@100ms"));
    c
}

fn inject(sim: &SimHandle, k: FaultKind) {
    sim.inject("binance", k, 1, 0, 0).expect("inject");
}

/// (U, u) of a combined depth frame.
fn ids(f: &str) -> (u64, u64) {
    let v: Value = serde_json::from_str(f).expect("json");
    (
        v["data"]["U"].as_u64().expect("U"),
        v["data"]["u"].as_u64().expect("u"),
    )
}

#[test]
fn ws_drop_closes_without_a_close_frame() {
    let sim = manual_sim(1);
    let mut c = market(&sim);
    inject(&sim, FaultKind::WsDrop);
    sim.step(1);
    assert_eq!(
        next_text(&mut c),
        Err(None),
        "no close frame: the client sees 1006"
    );
}

#[test]
fn maintenance_close_sends_1001() {
    let sim = manual_sim(1);
    let mut c = market(&sim);
    inject(&sim, FaultKind::MaintenanceClose);
    sim.step(1);
    assert_eq!(next_text(&mut c), Err(Some(1001)));
}

#[test]
fn duplicate_reorder_and_gap() {
    let sim = manual_sim(2);
    let mut c = market(&sim);
    inject(&sim, FaultKind::WsDuplicate);
    sim.step(2);
    let f: Vec<String> = (0..3).map(|_| next_text(&mut c).expect("frame")).collect();
    assert_eq!(f[0], f[1], "the first frame is sent twice");
    assert_eq!(ids(&f[2]).0, ids(&f[1]).1 + 1);

    inject(&sim, FaultKind::WsReorder);
    sim.step(2);
    let a = ids(&next_text(&mut c).expect("frame"));
    let b = ids(&next_text(&mut c).expect("frame"));
    assert!(a.0 > b.1, "swapped: {a:?} arrives before {b:?}");

    inject(&sim, FaultKind::WsGap);
    sim.step(1);
    let g = ids(&next_text(&mut c).expect("frame"));
    assert!(
        g.0 > a.1 + 1,
        "update ids skip: previous u {} then U {}",
        a.1,
        g.0
    );
}

#[test]
fn crossed_level_oversized_and_malformed_frames() {
    let sim = manual_sim(3);
    let mut c = market(&sim);
    let mut http = Http::new(&sim);
    inject(&sim, FaultKind::CrossedLevel);
    sim.step(1);
    let v: Value = serde_json::from_str(&next_text(&mut c).expect("frame")).expect("json");
    let best_ask = dec(&http.get("/api/v3/depth?symbol=BTCUSDT&limit=1").json["asks"][0][0]);
    let max_bid = v["data"]["b"]
        .as_array()
        .expect("bids")
        .iter()
        .map(|l| dec(&l[0]))
        .max()
        .expect("a bid");
    assert!(
        max_bid > best_ask,
        "a bid {max_bid} above the best ask {best_ask}"
    );

    inject(&sim, FaultKind::OversizedFrame);
    sim.step(1);
    let big = next_text(&mut c).expect("frame");
    assert!(big.len() >= 2 << 20);
    let _normal = next_text(&mut c).expect("the real frame follows");

    inject(&sim, FaultKind::MalformedJson);
    sim.step(1);
    let bad = next_text(&mut c).expect("frame");
    assert!(
        serde_json::from_str::<Value>(&bad).is_err(),
        "truncated JSON: {bad}"
    );
}

#[test]
fn stall_withholds_data_but_answers_pings() {
    let sim = manual_sim(4);
    let mut c = market(&sim);
    sim.inject("binance", FaultKind::WsStall, 1, 60_000, 0)
        .expect("inject");
    sim.step(5);
    c.send(Message::Ping(b"hi".to_vec().into())).expect("ping");
    loop {
        match c.read().expect("read") {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"hi");
                break;
            }
            Message::Text(t) => panic!("data during a stall: {t}"),
            _ => {}
        }
    }
}

#[test]
fn delay_still_delivers_in_order() {
    let sim = manual_sim(5);
    let mut c = market(&sim);
    inject(&sim, FaultKind::WsDelay);
    sim.step(3);
    let a = ids(&next_text(&mut c).expect("frame"));
    let b = ids(&next_text(&mut c).expect("frame"));
    assert_eq!(b.0, a.1 + 1);
    assert_eq!(sim.oracle().counts().faults, 1);
}

#[test]
fn never_acked_subscription() {
    let sim = manual_sim(6);
    inject(&sim, FaultKind::NeverAck);
    let mut c = ws(&sim, "/stream");
    send(
        &mut c,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@depth"],"id":1}"#,
    );
    send(&mut c, r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#);
    let r = next_text(&mut c).expect("reply");
    assert_eq!(
        r, r#"{"result":[],"id":2}"#,
        "no ack for id 1 and no subscription"
    );
    send(
        &mut c,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@depth"],"id":3}"#,
    );
    assert_eq!(next_text(&mut c).expect("ack"), r#"{"result":null,"id":3}"#);
}

fn order(
    http: &mut Http,
    sim: &SimHandle,
    id: &str,
    crossing: bool,
) -> std::io::Result<sim_support::Resp> {
    let c = sim.credentials()[0].clone();
    let d = http.get("/api/v3/depth?symbol=BTCUSDT&limit=1").json;
    let px = if crossing {
        dec(&d["asks"][0][0])
    } else {
        dec(&d["bids"][0][0])
    };
    http.signed(
        "POST",
        "/api/v3/order",
        &c,
        &format!("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00100&price={}&newClientOrderId={id}", fmt8(px)),
    )
}

fn query(sim: &SimHandle, id: &str) -> sim_support::Resp {
    let c = sim.credentials()[0].clone();
    Http::new(sim).call(
        "GET",
        "/api/v3/order",
        &c,
        &format!("symbol=BTCUSDT&origClientOrderId={id}"),
    )
}

#[test]
fn rest_outcome_unknown_faults() {
    let sim = manual_sim(7);
    let mut http = Http::new(&sim);
    // Accepted, then the connection drops before the answer.
    inject(&sim, FaultKind::RestDropResponse);
    assert!(order(&mut http, &sim, "drop1", false).is_err());
    assert_eq!(query(&sim, "drop1").json["status"], "NEW");
    let mut http = Http::new(&sim);
    for (k, id, code, placed) in [
        (FaultKind::Rest5xxPlaced, "p5", -1008, true),
        (FaultKind::Rest5xxNotPlaced, "n5", -1008, false),
        (FaultKind::Rest1007Placed, "p7", -1007, true),
        (FaultKind::Rest1007NotPlaced, "n7", -1007, false),
    ] {
        inject(&sim, k);
        let r = order(&mut http, &sim, id, false).expect("answer");
        assert_eq!((r.status, r.code()), (503, Some(code)), "{k:?}");
        let q = query(&sim, id);
        if placed {
            assert_eq!(q.json["status"], "NEW", "{k:?}: the order exists");
        } else {
            assert_eq!(q.code(), Some(-2013), "{k:?}: the order does not exist");
        }
    }
}

#[test]
fn rate_limit_429_then_418_ban() {
    let sim = manual_sim(8);
    let mut http = Http::new(&sim);
    inject(&sim, FaultKind::RateLimit);
    for _ in 0..4 {
        let r = http.get("/api/v3/ping");
        assert_eq!((r.status, r.code()), (429, Some(-1003)));
        assert!(r.header("retry-after").is_some());
    }
    let r = http.get("/api/v3/ping");
    assert_eq!(r.status, 418);
    let secs: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("secs");
    assert!(secs >= 120);
    assert_eq!(http.get("/api/v3/time").status, 418, "banned");
}

#[test]
fn clock_skew_filter_change_and_maintenance() {
    let sim = manual_sim(9);
    let mut http = Http::new(&sim);
    sim.inject("binance", FaultKind::ClockSkew, 1, 60_000, 5_000)
        .expect("inject");
    let t = http.get("/api/v3/time").json["serverTime"]
        .as_u64()
        .expect("time");
    assert!(t >= now_ms() + 4_000, "server clock 5 s ahead");
    let sim = manual_sim(9);
    let mut http = Http::new(&sim);
    inject(&sim, FaultKind::FilterChange);
    let info = http.get("/api/v3/exchangeInfo").json;
    assert_eq!(info["symbols"][0]["filters"][0]["tickSize"], "0.10000000");
    let c = sim.credentials()[0].clone();
    let d = http.get("/api/v3/depth?symbol=BTCUSDT&limit=1").json;
    let px = dec(&d["bids"][0][0]) / 10_000_000 * 10_000_000 + 1_000_000; // on the old tick, off the new
    let r = http.call(
        "POST",
        "/api/v3/order/test",
        &c,
        &format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00100&price={}",
            fmt8(px)
        ),
    );
    assert_eq!(r.json["msg"], "Filter failure: PRICE_FILTER");
    sim.inject("binance", FaultKind::Maintenance, 1, 60_000, 0)
        .expect("inject");
    let r = order(&mut http, &sim, "m1", false).expect("answer");
    assert_eq!(
        (r.code(), r.json["msg"].as_str()),
        (Some(-2010), Some("Market is closed."))
    );
    assert_eq!(
        http.get("/api/v3/exchangeInfo").json["symbols"][0]["status"],
        "BREAK"
    );
}

#[test]
fn false_2013_and_cancel_2011() {
    let sim = manual_sim(10);
    let mut http = Http::new(&sim);
    assert_eq!(
        order(&mut http, &sim, "q1", false).expect("answer").json["status"],
        "NEW"
    );
    sim.inject("binance", FaultKind::False2013, 1, 60_000, 0)
        .expect("inject");
    assert_eq!(
        query(&sim, "q1").code(),
        Some(-2013),
        "the order exists but the venue says no"
    );
    let sim = manual_sim(10);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    assert_eq!(
        order(&mut http, &sim, "k1", false).expect("answer").json["status"],
        "NEW"
    );
    inject(&sim, FaultKind::Cancel2011);
    let r = http.call(
        "DELETE",
        "/api/v3/order",
        &c,
        "symbol=BTCUSDT&origClientOrderId=k1",
    );
    assert_eq!(r.code(), Some(-2011));
    assert_eq!(query(&sim, "k1").json["status"], "NEW", "still working");
}

#[test]
fn fill_racing_cancel_and_duplicate_fill() {
    let sim = manual_sim(11);
    let c = sim.credentials()[0].clone();
    let mut user = ws(&sim, "/ws-api/v3");
    subscribe_user(&mut user, &c);
    let mut http = Http::new(&sim);
    assert_eq!(
        order(&mut http, &sim, "r1", false).expect("answer").json["status"],
        "NEW"
    );
    inject(&sim, FaultKind::FillRacingCancel);
    let r = http.call(
        "DELETE",
        "/api/v3/order",
        &c,
        "symbol=BTCUSDT&origClientOrderId=r1",
    );
    assert_eq!(r.code(), Some(-2011));
    assert_eq!(query(&sim, "r1").json["status"], "FILLED");
    let mut xs = Vec::new();
    while xs.len() < 2 {
        let v: Value = serde_json::from_str(&next_text(&mut user).expect("event")).expect("json");
        if v["event"]["e"] == "executionReport" {
            xs.push(v["event"]["X"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(xs, ["NEW", "FILLED"]);

    inject(&sim, FaultKind::DuplicateFill);
    assert_eq!(
        order(&mut http, &sim, "d1", true).expect("answer").json["status"],
        "FILLED"
    );
    let mut trades = Vec::new();
    while trades.len() < 2 {
        let v: Value = serde_json::from_str(&next_text(&mut user).expect("event")).expect("json");
        if v["event"]["x"] == "TRADE" {
            trades.push(v["event"].clone());
        }
    }
    assert_eq!(
        trades[0], trades[1],
        "the same fill twice (same trade id and execution id)"
    );
}

#[test]
fn scripted_fault_file_and_seeded_random_schedule() {
    let script: FaultFile = toml::from_str(
        r#"
        [[actions]]
        at_ms = 0
        fault = "maintenance"
        duration_ms = 60000
        "#,
    )
    .expect("fault file");
    let cfg = SimConfig {
        step_ms: 0,
        oracle_frames: false,
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg, Some(script)).expect("start");
    let mut http = Http::new(&sim);
    let started = lyra_shm::clock::mono_now_ns();
    loop {
        let status = http.get("/api/v3/exchangeInfo").json["symbols"][0]["status"].clone();
        if status == "BREAK" {
            break;
        }
        assert!(
            lyra_shm::clock::mono_now_ns() - started < 10_000_000_000,
            "scripted fault never fired"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    // Seeded random: the same seed draws the same schedule; every drawn kind is from the list.
    let random = |seed| FaultFile {
        actions: Vec::new(),
        random: Some(RandomFaults {
            seed,
            per_minute: 600.0,
            kinds: vec![
                FaultKind::WsGap,
                FaultKind::WsDuplicate,
                FaultKind::Cancel2011,
            ],
            duration_ms: 100,
            horizon_ms: 60_000,
        }),
    };
    let names = vec!["binance".to_string()];
    let kinds = |s: &[FaultAction]| s.iter().map(|a| (a.at_ms, a.fault)).collect::<Vec<_>>();
    let a = random(5).schedule(&names);
    assert!(a.len() > 100);
    assert_eq!(kinds(&a), kinds(&random(5).schedule(&names)));
    assert_ne!(kinds(&a), kinds(&random(6).schedule(&names)));
    // And they fire: a live run with a random schedule publishes gaps.
    let cfg = SimConfig {
        step_ms: 2,
        oracle_frames: false,
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg, Some(random(5))).expect("start");
    let started = lyra_shm::clock::mono_now_ns();
    while sim.oracle().counts().faults == 0 {
        assert!(
            lyra_shm::clock::mono_now_ns() - started < 10_000_000_000,
            "random faults never fired"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

#[test]
fn user_stream_terminated_ends_the_subscription_until_the_client_subscribes_again() {
    let sim = manual_sim(12);
    let c = sim.credentials()[0].clone();
    let mut user = ws(&sim, "/ws-api/v3");
    let first = subscribe_user(&mut user, &c);
    inject(&sim, FaultKind::UserStreamTerminated);
    sim.step(1);
    let v: Value = serde_json::from_str(&next_text(&mut user).expect("event")).expect("json");
    assert_eq!(v["event"]["e"], "eventStreamTerminated", "{v}");
    assert_eq!(v["subscriptionId"], first, "{v}");
    // The ended subscription hears nothing: the NEW report of this order is not sent, so the
    // next frame on the socket is the answer to the new subscribe.
    let mut http = Http::new(&sim);
    assert_eq!(
        order(&mut http, &sim, "t1", false).expect("answer").json["status"],
        "NEW"
    );
    let second = subscribe_user(&mut user, &c);
    assert_ne!(second, first);
    assert_eq!(
        order(&mut http, &sim, "t2", true).expect("answer").json["status"],
        "FILLED"
    );
    loop {
        let v: Value = serde_json::from_str(&next_text(&mut user).expect("event")).expect("json");
        if v["event"]["e"] == "executionReport" {
            assert_eq!(v["subscriptionId"], second, "{v}");
            assert_eq!(v["event"]["c"], "t2", "{v}");
            break;
        }
    }
    assert!(sim.oracle().counts().faults >= 1);
}
