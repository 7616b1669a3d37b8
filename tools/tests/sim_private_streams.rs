//! The private order streams of `lyra sim` for OKX (`/ws/v5/private`: signed `login`, the
//! `orders` channel) and Kraken (`GetWebSocketsToken`, the `executions` channel on `/v2`): a
//! signed round trip on each venue — place (crossing: a taker fill of the best ask plus a
//! resting remainder) → query by client order id → cancel — with every pushed report checked
//! field by field (quantities, prices, fees, states), and bad logins / tokens refused.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use serde_json::Value;
use sim::{
    config::{fmt8, Dialect, SimConfig, VenueCfg, ONE},
    kraken::{px_text, qty_text, rest::api_sign},
    okx::{canon, private_ws::login_sign},
    Credentials, Sim, SimHandle,
};
use sim_support::{next_text, now_ms, send, ws, Http, Ws};

fn sim_of(name: &str, dialect: Dialect, seed: u64) -> SimHandle {
    let cfg = SimConfig {
        seed,
        step_ms: 0,
        oracle_frames: false,
        venues: vec![VenueCfg {
            name: name.into(),
            dialect,
            ..VenueCfg::default()
        }],
        ..SimConfig::default()
    };
    Sim::start(cfg, None).expect("start")
}

fn dec(v: &Value) -> i64 {
    lyra_shm::decimal::parse_mantissa(v.as_str().expect("decimal").as_bytes(), 8).expect("decimal")
}

fn json(ws: &mut Ws) -> Value {
    let t = next_text(ws).expect("frame");
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"))
}

/// Taker fee of the default venue (10 bps), floored as the matching engine does.
fn taker_fee(amount: i64) -> i64 {
    amount * 10 / 10_000
}

fn okx_login(ws: &mut Ws, c: &Credentials, ts: &str, sign: &str, pass: &str) -> Value {
    send(
        ws,
        &format!(
            r#"{{"op":"login","args":[{{"apiKey":"{}","passphrase":"{pass}","timestamp":"{ts}","sign":"{sign}"}}]}}"#,
            c.api_key
        ),
    );
    json(ws)
}

#[test]
fn okx_orders_channel_round_trip() {
    let sim = sim_of("okx", Dialect::Okx, 21);
    let c = sim.credentials()[0].clone();
    let mut p = ws(&sim, "/ws/v5/private");
    // Not logged in yet.
    send(
        &mut p,
        r#"{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"}]}"#,
    );
    assert_eq!(json(&mut p)["code"], "60011");
    // Bad logins: wrong signature, wrong passphrase, stale timestamp.
    let ts = (now_ms() / 1000).to_string();
    let r = okx_login(
        &mut p,
        &c,
        &ts,
        &login_sign(&"x".repeat(64), &ts),
        &c.passphrase,
    );
    assert_eq!(
        (r["event"].as_str(), r["code"].as_str()),
        (Some("error"), Some("60009"))
    );
    let r = okx_login(&mut p, &c, &ts, &login_sign(&c.secret, &ts), "wrong");
    assert_eq!(r["code"], "60024");
    let old = (now_ms() / 1000 - 120).to_string();
    let r = okx_login(
        &mut p,
        &c,
        &old,
        &login_sign(&c.secret, &old),
        &c.passphrase,
    );
    assert_eq!(r["code"], "60006");
    send(
        &mut p,
        r#"{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"}]}"#,
    );
    assert_eq!(
        json(&mut p)["code"],
        "60011",
        "a failed login logs nobody in"
    );
    let r = okx_login(&mut p, &c, &ts, &login_sign(&c.secret, &ts), &c.passphrase);
    assert_eq!(
        (r["event"].as_str(), r["code"].as_str()),
        (Some("login"), Some("0")),
        "{r}"
    );
    send(
        &mut p,
        r#"{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"}]}"#,
    );
    let ack = json(&mut p);
    assert_eq!(
        (ack["event"].as_str(), ack["arg"]["channel"].as_str()),
        (Some("subscribe"), Some("orders"))
    );
    send(
        &mut p,
        r#"{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT","instId":"NOPE-USDT"}]}"#,
    );
    assert_eq!(json(&mut p)["code"], "60018");

    // Place: buys the whole best ask and rests 0.001 more.
    let mut http = Http::new(&sim);
    let book = http.get("/api/v5/market/books?instId=BTC-USDT&sz=1").json;
    let (ask_px, ask_qty) = (
        dec(&book["data"][0]["asks"][0][0]),
        dec(&book["data"][0]["asks"][0][1]),
    );
    let qty = ask_qty + ONE / 1000;
    let fee = taker_fee(ask_qty);
    let body = format!(
        r#"{{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"okxp1","side":"buy","ordType":"limit","px":"{}","sz":"{}"}}"#,
        fmt8(ask_px),
        fmt8(qty)
    );
    let r = http.okx("POST", "/api/v5/trade/order", &c, &body).json;
    assert_eq!(r["data"][0]["sCode"], "0", "{r}");
    let ord_id = r["data"][0]["ordId"].as_str().expect("ordId").to_string();

    let uid = sim::okx::private_ws::uid(0);
    let mut push = |state: &str| {
        let v = json(&mut p);
        assert_eq!(v["arg"]["channel"], "orders", "{v}");
        assert_eq!(v["arg"]["instType"], "SPOT");
        assert_eq!(v["arg"]["uid"], uid.as_str());
        let d = v["data"][0].clone();
        assert_eq!(
            (
                d["state"].as_str(),
                d["clOrdId"].as_str(),
                d["ordId"].as_str()
            ),
            (Some(state), Some("okxp1"), Some(ord_id.as_str())),
            "{v}"
        );
        assert_eq!(d["instId"], "BTC-USDT");
        assert_eq!(d["side"], "buy");
        assert_eq!(d["ordType"], "limit");
        assert_eq!(d["px"], canon(ask_px));
        assert_eq!(d["sz"], canon(qty));
        d
    };
    let d = push("live");
    assert_eq!(
        (
            d["fillSz"].as_str(),
            d["accFillSz"].as_str(),
            d["tradeId"].as_str()
        ),
        (Some("0"), Some("0"), Some(""))
    );
    let d = push("partially_filled");
    assert_eq!(d["fillSz"], canon(ask_qty));
    assert_eq!(d["fillPx"], canon(ask_px));
    assert_eq!(d["accFillSz"], canon(ask_qty));
    assert_eq!(d["avgPx"], canon(ask_px));
    assert_eq!(d["fillFee"], format!("-{}", canon(fee)));
    assert_eq!(d["fillFeeCcy"], "BTC");
    assert_eq!(d["fee"], format!("-{}", canon(fee)));
    assert_eq!(d["execType"], "T");
    let trade_id = d["tradeId"].as_str().expect("tradeId").to_string();
    assert!(!trade_id.is_empty());

    // Query by client order id agrees with the stream.
    let q = http
        .okx(
            "GET",
            "/api/v5/trade/order?instId=BTC-USDT&clOrdId=okxp1",
            &c,
            "",
        )
        .json;
    assert_eq!(q["data"][0]["state"], "partially_filled");
    assert_eq!(q["data"][0]["accFillSz"], canon(ask_qty));
    assert_eq!(q["data"][0]["tradeId"], trade_id.as_str());

    let x = http
        .okx(
            "POST",
            "/api/v5/trade/cancel-order",
            &c,
            r#"{"instId":"BTC-USDT","clOrdId":"okxp1"}"#,
        )
        .json;
    assert_eq!(x["data"][0]["sCode"], "0", "{x}");
    let d = push("canceled");
    assert_eq!(
        (
            d["fillSz"].as_str(),
            d["tradeId"].as_str(),
            d["fillFee"].as_str()
        ),
        (Some("0"), Some(""), Some("0")),
        "the fill fields describe this update only"
    );
    assert_eq!(d["accFillSz"], canon(ask_qty));
    assert_eq!(d["fee"], format!("-{}", canon(fee)));
    assert_eq!(d["cancelSource"], "1");
    send(&mut p, "ping");
    assert_eq!(next_text(&mut p).expect("pong"), "pong");
}

/// A signed Kraken private call; `nonce` must grow.
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

/// The next `executions` message: (raw text, parsed).
fn exec_msg(ws: &mut Ws) -> (String, Value) {
    let t = next_text(ws).expect("frame");
    let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"));
    assert_eq!(v["channel"], "executions", "{t}");
    (t, v)
}

#[test]
fn kraken_executions_channel_round_trip() {
    let sim = sim_of("kraken", Dialect::Kraken, 31);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    let ins = sim.shared().venues[0]
        .state
        .lock()
        .expect("venue lock")
        .m
        .instruments[0]
        .clone();
    let t = private(&mut http, &c, "GetWebSocketsToken", 1, "x=1");
    assert_eq!(t["error"], serde_json::json!([]), "{t}");
    assert_eq!(t["result"]["expires"], 900);
    let token = t["result"]["token"].as_str().expect("token").to_string();
    let mut k = ws(&sim, "/v2");
    send(
        &mut k,
        r#"{"method":"subscribe","params":{"channel":"executions","token":"forged"},"req_id":1}"#,
    );
    let r = json(&mut k);
    assert_eq!(
        (
            r["success"].as_bool(),
            r["error"].as_str(),
            r["req_id"].as_i64()
        ),
        (Some(false), Some("ESession:Invalid session"), Some(1))
    );
    send(
        &mut k,
        &format!(
            r#"{{"method":"subscribe","params":{{"channel":"executions","token":"{token}","snap_orders":true}},"req_id":2}}"#
        ),
    );
    let r = json(&mut k);
    assert_eq!(
        (r["success"].as_bool(), r["result"]["channel"].as_str()),
        (Some(true), Some("executions")),
        "{r}"
    );
    let (_, snap) = exec_msg(&mut k);
    assert_eq!(
        (snap["type"].as_str(), snap["sequence"].as_u64()),
        (Some("snapshot"), Some(1))
    );
    assert_eq!(snap["data"], serde_json::json!([]), "no open orders yet");

    let d = http.get("/0/public/Depth?pair=BTC/USDT&count=1").json;
    let ask = &d["result"]["BTC/USDT"]["asks"][0];
    let (ask_px, ask_qty) = (dec(&ask[0]), dec(&ask[1]));
    let qty = ask_qty + ONE / 1000;
    let fee = taker_fee(ask_qty);
    let r = private(
        &mut http,
        &c,
        "AddOrder",
        2,
        &format!(
            "pair=BTC/USDT&type=buy&ordertype=limit&price={}&volume={}&cl_ord_id=kp1",
            fmt8(ask_px),
            fmt8(qty)
        ),
    );
    assert_eq!(r["error"], serde_json::json!([]), "{r}");
    let txid = r["result"]["txid"][0].as_str().expect("txid").to_string();
    let has = |raw: &str, k: &str, v: &str| {
        assert!(raw.contains(&format!("\"{k}\":{v}")), "{k}:{v} in {raw}");
    };
    let common = |raw: &str, v: &Value, seq: u64, exec_type: &str, status: &str| {
        assert_eq!(v["type"], "update");
        assert_eq!(v["sequence"], seq, "{raw}");
        let d = &v["data"][0];
        assert_eq!(
            (
                d["exec_type"].as_str(),
                d["order_status"].as_str(),
                d["order_id"].as_str(),
                d["cl_ord_id"].as_str()
            ),
            (
                Some(exec_type),
                Some(status),
                Some(txid.as_str()),
                Some("kp1")
            ),
            "{raw}"
        );
        assert_eq!(d["symbol"], "BTC/USDT");
        assert_eq!(d["side"], "buy");
        assert_eq!(d["order_type"], "limit");
        assert_eq!(d["time_in_force"], "GTC");
        has(raw, "order_qty", &qty_text(qty));
        has(raw, "limit_price", &px_text(&ins, ask_px));
    };
    let (raw, v) = exec_msg(&mut k);
    common(&raw, &v, 2, "new", "new");
    has(&raw, "cum_qty", &qty_text(0));
    let (raw, v) = exec_msg(&mut k);
    common(&raw, &v, 3, "trade", "partially_filled");
    has(&raw, "last_qty", &qty_text(ask_qty));
    has(&raw, "last_price", &px_text(&ins, ask_px));
    has(&raw, "cost", &qty_text(sim::config::mul(ask_px, ask_qty)));
    has(&raw, "cum_qty", &qty_text(ask_qty));
    has(&raw, "avg_price", &px_text(&ins, ask_px));
    has(
        &raw,
        "fees",
        &format!(r#"[{{"asset":"BTC","qty":{}}}]"#, qty_text(fee)),
    );
    assert_eq!(v["data"][0]["liquidity_ind"], "t");
    assert!(v["data"][0]["trade_id"].as_u64().is_some());

    // Query by client order id.
    let open = private(&mut http, &c, "OpenOrders", 3, "cl_ord_id=kp1");
    let o = &open["result"]["open"][&txid];
    assert_eq!(
        (o["status"].as_str(), o["cl_ord_id"].as_str()),
        (Some("open"), Some("kp1")),
        "{open}"
    );
    assert_eq!(dec(&o["vol_exec"]), ask_qty);
    let none = private(&mut http, &c, "OpenOrders", 4, "cl_ord_id=other");
    assert_eq!(none["result"]["open"], serde_json::json!({}));

    let x = private(&mut http, &c, "CancelOrder", 5, "cl_ord_id=kp1");
    assert_eq!(x["result"]["count"], 1, "{x}");
    let (raw, v) = exec_msg(&mut k);
    common(&raw, &v, 4, "canceled", "canceled");
    has(&raw, "cum_qty", &qty_text(ask_qty));
    assert_eq!(v["data"][0]["reason"], "User requested");
    assert!(v["data"][0].get("last_qty").is_none());

    // A second subscriber with a fresh token gets the (now empty) snapshot; a spent token
    // on a new connection still works within its 15 minutes.
    let mut k2 = ws(&sim, "/v2");
    send(
        &mut k2,
        &format!(
            r#"{{"method":"subscribe","params":{{"channel":"executions","token":"{token}"}}}}"#
        ),
    );
    assert_eq!(json(&mut k2)["success"], true);
    assert_eq!(exec_msg(&mut k2).1["data"], serde_json::json!([]));
}

#[test]
fn duplicate_fill_fault_repeats_the_trade_report_on_okx_and_kraken() {
    use sim::faults::FaultKind;
    // OKX: the same `orders` push (same tradeId) twice.
    let sim = sim_of("okx", Dialect::Okx, 22);
    let c = sim.credentials()[0].clone();
    let mut p = ws(&sim, "/ws/v5/private");
    let ts = (now_ms() / 1000).to_string();
    let r = okx_login(&mut p, &c, &ts, &login_sign(&c.secret, &ts), &c.passphrase);
    assert_eq!(r["code"], "0");
    send(
        &mut p,
        r#"{"op":"subscribe","args":[{"channel":"orders","instType":"ANY","instId":"BTC-USDT"}]}"#,
    );
    assert_eq!(json(&mut p)["event"], "subscribe");
    let mut http = Http::new(&sim);
    let book = http.get("/api/v5/market/books?instId=BTC-USDT&sz=1").json;
    let ask_px = dec(&book["data"][0]["asks"][0][0]);
    sim.inject("okx", FaultKind::DuplicateFill, 1, 0, 0)
        .expect("inject");
    let body = format!(
        r#"{{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"dup1","side":"buy","ordType":"ioc","px":"{}","sz":"0.001"}}"#,
        fmt8(ask_px)
    );
    assert_eq!(
        http.okx("POST", "/api/v5/trade/order", &c, &body).json["data"][0]["sCode"],
        "0"
    );
    let pushes: Vec<Value> = (0..3).map(|_| json(&mut p)).collect();
    assert_eq!(pushes[0]["data"][0]["state"], "live");
    assert_eq!(pushes[0]["arg"]["instId"], "BTC-USDT");
    assert_eq!(pushes[1]["data"][0]["state"], "filled");
    assert_eq!(pushes[1], pushes[2], "the same fill twice");

    // Kraken: the same `trade` report (same exec_id and trade_id) twice, then `filled`.
    let sim = sim_of("kraken", Dialect::Kraken, 32);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    let t = private(&mut http, &c, "GetWebSocketsToken", 1, "x=1");
    let token = t["result"]["token"].as_str().expect("token").to_string();
    let mut k = ws(&sim, "/v2");
    send(
        &mut k,
        &format!(
            r#"{{"method":"subscribe","params":{{"channel":"executions","token":"{token}","snap_orders":false}}}}"#
        ),
    );
    assert_eq!(json(&mut k)["success"], true);
    let d = http.get("/0/public/Depth?pair=BTC/USDT&count=1").json;
    let ask_px = dec(&d["result"]["BTC/USDT"]["asks"][0][0]);
    sim.inject("kraken", FaultKind::DuplicateFill, 1, 0, 0)
        .expect("inject");
    let r = private(
        &mut http,
        &c,
        "AddOrder",
        2,
        &format!(
            "pair=BTC/USDT&type=buy&ordertype=limit&timeinforce=IOC&price={}&volume=0.001&cl_ord_id=kdup",
            fmt8(ask_px)
        ),
    );
    assert_eq!(r["error"], serde_json::json!([]), "{r}");
    let msgs: Vec<Value> = (0..4).map(|_| exec_msg(&mut k).1).collect();
    let kinds: Vec<&str> = msgs
        .iter()
        .map(|m| m["data"][0]["exec_type"].as_str().expect("exec_type"))
        .collect();
    assert_eq!(kinds, ["new", "trade", "trade", "filled"]);
    assert_eq!(
        msgs[1]["data"], msgs[2]["data"],
        "the same report twice (same exec_id and trade_id)"
    );
    assert_eq!(
        msgs.iter()
            .map(|m| m["sequence"].as_u64().expect("sequence"))
            .collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "sequence numbers messages, duplicates included"
    );
}
