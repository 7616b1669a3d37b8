//! Signed Binance order round trips against `lyra sim` with exact expectations: place (a partial
//! fill against the frozen book), query by client order id, open orders, my trades, balances,
//! cancel, the user data stream (`userDataStream.subscribe.signature` on `/ws-api/v3`) and the
//! real error codes.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use serde_json::Value;
use sim::config::{fmt8, mul, ONE};
use sim_support::{manual_sim, next_text, subscribe_user, ws, Http};

fn dec(v: &Value) -> i64 {
    lyra_shm::decimal::parse_mantissa(v.as_str().expect("decimal string").as_bytes(), 8)
        .expect("decimal")
}

fn balance(acct: &Value, asset: &str) -> (i64, i64) {
    let b = acct["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|b| b["asset"] == asset)
        .expect("asset");
    (dec(&b["free"]), dec(&b["locked"]))
}

#[test]
fn place_partial_fill_query_cancel_with_user_stream() {
    let sim = manual_sim(7);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    let mut user = ws(&sim, "/ws-api/v3");
    let sub = subscribe_user(&mut user, &c);

    let before = http.call("GET", "/api/v3/account", &c, "").json;
    assert_eq!(before["canTrade"], true);
    assert_eq!(before["permissions"][0], "SPOT");
    let (usdt0, _) = balance(&before, "USDT");
    let (btc0, _) = balance(&before, "BTC");

    // The book is frozen between steps: take the best ask and ask for a little more than it.
    let depth = http.get("/api/v3/depth?symbol=BTCUSDT&limit=5").json;
    let ask_px = dec(&depth["asks"][0][0]);
    let ask_qty = dec(&depth["asks"][0][1]);
    let qty = ask_qty + ONE / 1000;
    let params = format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity={}&price={}&newClientOrderId=lyra-t1",
        fmt8(qty),
        fmt8(ask_px)
    );
    let r = http.call("POST", "/api/v3/order", &c, &params);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["clientOrderId"], "lyra-t1");
    assert_eq!(r.json["status"], "PARTIALLY_FILLED");
    assert_eq!(dec(&r.json["executedQty"]), ask_qty);
    assert_eq!(dec(&r.json["cummulativeQuoteQty"]), mul(ask_px, ask_qty));
    let fills = r.json["fills"].as_array().expect("FULL response has fills");
    assert_eq!(fills.len(), 1);
    assert_eq!(dec(&fills[0]["price"]), ask_px);
    assert_eq!(dec(&fills[0]["qty"]), ask_qty);
    let fee = ask_qty * 10 / 10_000; // taker 10 bps, in the asset received
    assert_eq!(dec(&fills[0]["commission"]), fee);
    assert_eq!(fills[0]["commissionAsset"], "BTC");
    assert!(
        r.header("x-mbx-order-count-10s").is_some() && r.header("x-mbx-used-weight-1m").is_some()
    );
    let order_id = r.json["orderId"].as_i64().expect("orderId");

    // Query by client order id, and the open-orders list.
    let q = http
        .call(
            "GET",
            "/api/v3/order",
            &c,
            "symbol=BTCUSDT&origClientOrderId=lyra-t1",
        )
        .json;
    assert_eq!(
        (q["orderId"].as_i64(), q["status"].as_str()),
        (Some(order_id), Some("PARTIALLY_FILLED"))
    );
    assert_eq!(dec(&q["executedQty"]), ask_qty);
    assert_eq!(q["isWorking"], true);
    let open = http
        .call("GET", "/api/v3/openOrders", &c, "symbol=BTCUSDT")
        .json;
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    // The remainder rests at the ask price and shows in the public book.
    let depth2 = http.get("/api/v3/depth?symbol=BTCUSDT&limit=5").json;
    assert_eq!(dec(&depth2["bids"][0][0]), ask_px);
    assert_eq!(dec(&depth2["bids"][0][1]), qty - ask_qty);

    // Balances moved with the fill; the rest of the order's quote is locked.
    let after = http.call("GET", "/api/v3/account", &c, "").json;
    let (usdt1, usdt_locked) = balance(&after, "USDT");
    let (btc1, _) = balance(&after, "BTC");
    assert_eq!(btc1 - btc0, ask_qty - fee);
    let locked_all = ((ask_px as i128 * qty as i128 + ONE as i128 - 1) / ONE as i128) as i64;
    assert_eq!(usdt0 - usdt1, locked_all);
    assert_eq!(usdt_locked, locked_all - mul(ask_px, ask_qty));

    let trades = http
        .call("GET", "/api/v3/myTrades", &c, "symbol=BTCUSDT")
        .json;
    assert_eq!(trades.as_array().map(Vec::len), Some(1));
    assert_eq!(trades[0]["isMaker"], false);
    assert_eq!(trades[0]["isBuyer"], true);

    // Cancel by client order id.
    let x = http
        .call(
            "DELETE",
            "/api/v3/order",
            &c,
            "symbol=BTCUSDT&origClientOrderId=lyra-t1&newClientOrderId=lyra-c1",
        )
        .json;
    assert_eq!(x["status"], "CANCELED", "{x}");
    assert_eq!(x["origClientOrderId"], "lyra-t1");
    assert_eq!(x["clientOrderId"], "lyra-c1");
    assert_eq!(dec(&x["executedQty"]), ask_qty);
    let end = http.call("GET", "/api/v3/account", &c, "").json;
    assert_eq!(balance(&end, "USDT"), (usdt0 - mul(ask_px, ask_qty), 0));
    let again = http.call(
        "DELETE",
        "/api/v3/order",
        &c,
        "symbol=BTCUSDT&origClientOrderId=lyra-t1",
    );
    assert_eq!((again.status, again.code()), (400, Some(-2011)));

    // The user stream: NEW, TRADE, position, CANCELED, position — all framed with our id.
    let mut reports = Vec::new();
    while reports
        .iter()
        .filter(|e: &&Value| e["e"] == "executionReport")
        .count()
        < 3
    {
        let f: Value =
            serde_json::from_str(&next_text(&mut user).expect("user event")).expect("json");
        assert_eq!(f["subscriptionId"].as_i64(), Some(sub));
        reports.push(f["event"].clone());
    }
    let execs: Vec<&Value> = reports
        .iter()
        .filter(|e| e["e"] == "executionReport")
        .collect();
    let xs: Vec<(&str, &str)> = execs
        .iter()
        .map(|e| (e["x"].as_str().unwrap(), e["X"].as_str().unwrap()))
        .collect();
    assert_eq!(
        xs,
        vec![
            ("NEW", "NEW"),
            ("TRADE", "PARTIALLY_FILLED"),
            ("CANCELED", "CANCELED")
        ]
    );
    assert_eq!(execs[1]["c"], "lyra-t1");
    assert_eq!(dec(&execs[1]["l"]), ask_qty);
    assert_eq!(dec(&execs[1]["L"]), ask_px);
    assert_eq!(execs[1]["m"], false);
    assert_eq!(
        (execs[2]["c"].as_str(), execs[2]["C"].as_str()),
        (Some("lyra-c1"), Some("lyra-t1"))
    );
    assert!(reports.iter().any(|e| e["e"] == "outboundAccountPosition"));

    let counts = sim.oracle().counts();
    assert_eq!((counts.orders, counts.test_orders), (1, 0));
    assert_eq!(counts.cancels, 2);
}

#[test]
fn error_codes_are_the_real_ones() {
    let sim = manual_sim(8);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    let depth = http.get("/api/v3/depth?symbol=BTCUSDT&limit=1").json;
    let bid = dec(&depth["bids"][0][0]);
    let ask = dec(&depth["asks"][0][0]);
    let limit = |px: i64, qty: &str| {
        format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity={qty}&price={}",
            fmt8(px)
        )
    };

    // Signature, timestamp, key.
    let ts = sim_support::now_ms();
    let bad = http
        .request(
            "GET",
            &format!(
                "/api/v3/account?timestamp={ts}&signature={}",
                "0".repeat(64)
            ),
            Some(&c.api_key),
            "",
        )
        .expect("answer");
    assert_eq!((bad.status, bad.code()), (400, Some(-1022)));
    let old = format!("timestamp={}&recvWindow=5000", ts - 60_000);
    let sig = sim::binance::sign::hmac_hex(&c.secret, old.as_bytes());
    let r = http
        .request(
            "GET",
            &format!("/api/v3/account?{old}&signature={sig}"),
            Some(&c.api_key),
            "",
        )
        .expect("answer");
    assert_eq!(r.code(), Some(-1021));
    let ahead = format!("timestamp={}", ts + 5_000);
    let sig = sim::binance::sign::hmac_hex(&c.secret, ahead.as_bytes());
    let r = http
        .request(
            "GET",
            &format!("/api/v3/account?{ahead}&signature={sig}"),
            Some(&c.api_key),
            "",
        )
        .expect("answer");
    assert_eq!(r.code(), Some(-1021));
    let r = http
        .request(
            "GET",
            "/api/v3/account?timestamp=1&signature=00",
            Some("nope"),
            "",
        )
        .expect("answer");
    assert_eq!((r.status, r.code()), (401, Some(-2015)));

    // Parameters and filters.
    assert_eq!(
        http.call("POST", "/api/v3/order", &c, "side=BUY&type=LIMIT")
            .code(),
        Some(-1102)
    );
    assert_eq!(
        http.call(
            "POST",
            "/api/v3/order",
            &c,
            &limit(bid, "0.001").replace("BTCUSDT", "NOPE")
        )
        .code(),
        Some(-1121)
    );
    let r = http.call("POST", "/api/v3/order", &c, &limit(bid + 1, "0.001"));
    assert_eq!(
        (r.code(), r.json["msg"].as_str()),
        (Some(-1013), Some("Filter failure: PRICE_FILTER"))
    );
    let r = http.call("POST", "/api/v3/order", &c, &limit(bid, "0.000015"));
    assert_eq!(r.json["msg"], "Filter failure: LOT_SIZE");
    let r = http.call("POST", "/api/v3/order", &c, &limit(bid, "0.00001"));
    assert_eq!(r.json["msg"], "Filter failure: NOTIONAL");
    let r = http.call(
        "POST",
        "/api/v3/order",
        &c,
        &format!("{}&newClientOrderId=bad.id", limit(bid, "0.001")),
    );
    assert_eq!(r.code(), Some(-1100));
    let r = http.call("POST", "/api/v3/order", &c, &limit(bid, "100"));
    assert_eq!(
        (r.code(), r.json["msg"].as_str()),
        (
            Some(-2010),
            Some("Account has insufficient balance for requested action.")
        )
    );
    let maker = format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&quantity=0.001&price={}",
        fmt8(ask)
    );
    let r = http.call("POST", "/api/v3/order", &c, &maker);
    assert_eq!(r.json["msg"], "Order would immediately match and take.");
    // A resting order, then a duplicate client id.
    let ok = http.call(
        "POST",
        "/api/v3/order",
        &c,
        &format!("{}&newClientOrderId=dup1", limit(bid, "0.001")),
    );
    assert_eq!(ok.json["status"], "NEW", "{}", ok.json);
    let r = http.call(
        "POST",
        "/api/v3/order",
        &c,
        &format!("{}&newClientOrderId=dup1", limit(bid, "0.001")),
    );
    assert_eq!(r.json["msg"], "Duplicate order sent.");
    // Unknown orders.
    assert_eq!(
        http.call(
            "GET",
            "/api/v3/order",
            &c,
            "symbol=BTCUSDT&origClientOrderId=nothing"
        )
        .code(),
        Some(-2013)
    );
    assert_eq!(
        http.call(
            "DELETE",
            "/api/v3/order",
            &c,
            "symbol=BTCUSDT&orderId=999999"
        )
        .code(),
        Some(-2011)
    );
    assert_eq!(
        http.call("GET", "/api/v3/order", &c, "symbol=BTCUSDT")
            .code(),
        Some(-1102)
    );
    // order/test validates but does not place.
    let t = http.call("POST", "/api/v3/order/test", &c, &limit(bid, "0.001"));
    assert_eq!((t.status, t.json.clone()), (200, serde_json::json!({})));
    assert_eq!(
        http.call("POST", "/api/v3/order/test", &c, &limit(bid + 1, "0.001"))
            .code(),
        Some(-1013)
    );
    let counts = sim.oracle().counts();
    assert_eq!(counts.test_orders, 2);
    // listenKey endpoints are retired.
    let lk = http
        .request("POST", "/api/v3/userDataStream", Some(&c.api_key), "")
        .expect("answer");
    assert_eq!(lk.status, 410);
    // apiRestrictions: trading on, withdrawals off.
    let k = http
        .call("GET", "/sapi/v1/account/apiRestrictions", &c, "")
        .json;
    assert_eq!(
        (
            k["enableSpotAndMarginTrading"].as_bool(),
            k["enableWithdrawals"].as_bool()
        ),
        (Some(true), Some(false))
    );
}

#[test]
fn self_trade_prevention_expires_the_taker_and_market_orders_sweep() {
    let sim = manual_sim(9);
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    let depth = http.get("/api/v3/depth?symbol=ETHUSDT&limit=3").json;
    let bid = dec(&depth["bids"][0][0]);
    let ask = dec(&depth["asks"][0][0]);
    assert!(ask - bid > ONE / 100, "needs room inside the spread");
    let inside = ask - ONE / 100; // one tick below the ask: rests as the new best ask
    let sell = format!("symbol=ETHUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.5000&price={}&newClientOrderId=m1", fmt8(inside));
    assert_eq!(
        http.call("POST", "/api/v3/order", &c, &sell).json["status"],
        "NEW"
    );
    let buy = format!("symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.5000&price={}&newClientOrderId=t1", fmt8(inside));
    let r = http.call("POST", "/api/v3/order", &c, &buy).json;
    assert_eq!(
        (r["status"].as_str(), dec(&r["executedQty"])),
        (Some("EXPIRED_IN_MATCH"), 0),
        "{r}"
    );
    assert_eq!(r["selfTradePreventionMode"], "EXPIRE_TAKER");
    // The maker is untouched.
    let m = http
        .call(
            "GET",
            "/api/v3/order",
            &c,
            "symbol=ETHUSDT&origClientOrderId=m1",
        )
        .json;
    assert_eq!(m["status"], "NEW");

    // Our sell is the best ask, so a market buy would stop on it (STP): cancel it first.
    http.call(
        "DELETE",
        "/api/v3/order",
        &c,
        "symbol=ETHUSDT&origClientOrderId=m1",
    );
    let mk = http
        .call(
            "POST",
            "/api/v3/order",
            &c,
            "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=1.0000",
        )
        .json;
    assert_eq!(mk["status"], "FILLED", "{mk}");
    assert_eq!(dec(&mk["executedQty"]), ONE);
    assert_eq!(dec(&mk["fills"][0]["price"]), ask);
    // IOC larger than the best level fills that level and expires the remainder.
    let ioc = format!(
        "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=20.0000&price={}",
        fmt8(ask)
    );
    let r = http.call("POST", "/api/v3/order", &c, &ioc).json;
    assert_eq!(r["status"], "EXPIRED", "{r}");
    assert!(dec(&r["executedQty"]) > 0);
    let fok = format!(
        "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=FOK&quantity=20.0000&price={}",
        fmt8(bid)
    );
    let r = http.call("POST", "/api/v3/order", &c, &fok).json;
    assert_eq!(
        (r["status"].as_str(), dec(&r["executedQty"])),
        (Some("EXPIRED"), 0)
    );
}

#[test]
fn oracle_logs_frames_and_order_requests_with_the_book_sequence() {
    let cfg = sim::config::SimConfig {
        seed: 12,
        step_ms: 0,
        oracle_frames: true,
        ..sim::config::SimConfig::default()
    };
    let sim = sim::Sim::start(cfg, None).expect("start");
    let c = sim.credentials()[0].clone();
    let mut http = Http::new(&sim);
    let depth = http.get("/api/v3/depth?symbol=BTCUSDT&limit=1").json;
    let seq = depth["lastUpdateId"].as_u64().expect("lastUpdateId");
    let bid = dec(&depth["bids"][0][0]);
    let p = format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00100&price={}&newClientOrderId=orc1",
        fmt8(bid)
    );
    assert_eq!(
        http.call("POST", "/api/v3/order", &c, &p).json["status"],
        "NEW"
    );
    http.call("POST", "/api/v3/order/test", &c, &p);
    sim.oracle().flush();
    let text = std::fs::read_to_string(sim.oracle().path()).expect("oracle");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSONL"))
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["kind"] == "frame" && l["venue"] == "binance"));
    let req = lines
        .iter()
        .find(|l| l["kind"] == "request" && l["endpoint"] == "/api/v3/order")
        .expect("order request logged");
    assert_eq!(req["client_order_id"], "orc1");
    assert_eq!(
        req["book_seq"].as_u64(),
        Some(seq),
        "the book sequence at receipt"
    );
    assert_eq!(req["status"], 200);
    let counts = sim.oracle().counts();
    assert_eq!((counts.orders, counts.test_orders), (1, 1));
}
