//! OKX v5 REST (PROTOCOLS-ORDERS B.1–B.4, B.6): public time, instruments and book snapshots;
//! signed (`OK-ACCESS-KEY/SIGN/TIMESTAMP/PASSPHRASE`) order entry `POST /api/v5/trade/order`,
//! `POST /api/v5/trade/cancel-order`, `GET /api/v5/trade/order`, `orders-pending`, `fills` and
//! `GET /api/v5/account/balance`, `GET /api/v5/account/config` (the key's `perm`: `withdraw`
//! when the account may withdraw), public `GET /api/v5/system/status` (an `ongoing` trading
//! maintenance during the maintenance fault), with the `{"code","msg","data"}` envelope and per-item
//! `sCode`/`sMsg`. REST faults shared with Binance: dropped response, 5xx (HTTP 503 `50001`)
//! and timeout (`50004`) with the order placed or not, rate limit (HTTP 429 `50011`),
//! maintenance (instruments `suspend`, orders refused), clock skew (`50102` past 30 s), false
//! "does not exist" (`51603`), cancel refused (`51400`), fill racing a cancel.

use serde_json::Value;

use super::{
    super::{
        config::{mul, SCALE},
        faults::FaultKind,
        http::{parse_params, Request, Response},
        matching::{Effects, OrdType, Order, Refusal, Side, Status, Stp, Tif},
        Shared,
    },
    canon, inst_id, sign,
};

/// An error envelope `{"code":"…","msg":"…","data":[]}` with its HTTP status.
fn err(http: u16, code: &str, msg: &str) -> Response {
    Response::json(
        http,
        format!(
            r#"{{"code":"{code}","msg":{},"data":[]}}"#,
            serde_json::to_string(msg).unwrap_or_default()
        ),
    )
}

/// The 5xx faults: HTTP 503 `50001` (the order may or may not have been placed).
fn unavailable() -> Response {
    err(
        503,
        "50001",
        "Service temporarily unavailable. Please try again later.",
    )
}

/// The timeout faults (Binance's -1007): `50004`, outcome unknown.
fn timeout() -> Response {
    err(503, "50004", "Endpoint request timeout. (does not indicate success or failure of order, please check order status).")
}

/// A success envelope around already-serialised items.
fn ok(items: Vec<Value>) -> Response {
    Response::json(
        200,
        serde_json::json!({"code": "0", "msg": "", "data": items}).to_string(),
    )
}

/// Handles one REST request; `None` drops the connection without answering (a fault).
pub fn handle(shared: &Shared, v: usize, req: &Request) -> Option<Response> {
    let venue = &shared.venues[v];
    let now = shared.now_ms(v);
    let params = parse_params(&req.query);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, x)| x.as_str());
    let inst_of = |id: &str| {
        let st = venue.state.lock().expect("venue lock");
        st.m.instruments.iter().position(|i| inst_id(i) == id)
    };
    // The rate-limit fault: each armed occurrence (or every request in its window) is refused
    // with OKX's 429 before anything else is looked at.
    if shared.faults.take(v, FaultKind::RateLimit) {
        return Some(err(429, "50011", "Too Many Requests").with_header("Retry-After", "1"));
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v5/public/time") => {
            return Some(ok(vec![serde_json::json!({"ts": now.to_string()})]))
        }
        ("GET", "/api/v5/system/status") => {
            // During the maintenance fault one trading-service (`5`) event is under way.
            let items = if shared.faults.window(v, FaultKind::Maintenance) {
                vec![serde_json::json!({"title": "Spot trading system upgrade",
                    "state": "ongoing", "begin": now.saturating_sub(60_000).to_string(),
                    "end": (now + 3_600_000).to_string(), "serviceType": "5"})]
            } else {
                Vec::new()
            };
            return Some(ok(items));
        }
        ("GET", "/api/v5/public/instruments") => {
            let st = venue.state.lock().expect("venue lock");
            let maint = shared.faults.window(v, FaultKind::Maintenance);
            let items = st
                .m
                .instruments
                .iter()
                .map(|i| {
                    serde_json::json!({"instType": "SPOT", "instId": inst_id(i), "baseCcy": i.base,
                    "quoteCcy": i.quote, "tickSz": canon(i.tick * st.tick_mult), "lotSz": canon(i.step),
                    "minSz": canon(i.min_qty), "state": if maint { "suspend" } else { "live" }})
                })
                .collect();
            return Some(ok(items));
        }
        ("GET", "/api/v5/market/books") => {
            let Some(inst) = get("instId").and_then(inst_of) else {
                return Some(err(400, "51001", "Instrument ID does not exist."));
            };
            let sz: usize = get("sz")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1)
                .clamp(1, 400);
            let st = venue.state.lock().expect("venue lock");
            let lv = |bid: bool| -> Vec<Value> {
                st.m.depth(inst, bid, sz)
                    .into_iter()
                    .map(|(p, q)| serde_json::json!([canon(p), canon(q), "0", "1"]))
                    .collect()
            };
            return Some(ok(vec![
                serde_json::json!({"asks": lv(false), "bids": lv(true), "ts": now.to_string()}),
            ]));
        }
        _ => {}
    }
    // Everything else is private.
    let acct = match auth(shared, v, req, now) {
        Ok(a) => a,
        Err(r) => return Some(r),
    };
    let body: Value = if req.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(b) => b,
            Err(_) => return Some(err(400, "50002", "Json data format error")),
        }
    };
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .or_else(|| get(k))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let log = |endpoint: &str, client: Option<&str>, inst: Option<usize>, status: u16| {
        let st = venue.state.lock().expect("venue lock");
        let seq = inst.map(|i| st.seq[i]);
        let sym = inst.map(|i| inst_id(&st.m.instruments[i]));
        drop(st);
        shared.oracle.request(
            lyra_shm::clock::wall_now_ns(),
            &venue.cfg.name,
            &req.method,
            endpoint,
            client,
            sym.as_deref(),
            seq,
            status,
            None,
        );
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v5/account/config") => {
            let st = venue.state.lock().expect("venue lock");
            let perm = if st.m.accounts[acct].withdraw {
                "read_only,trade,withdraw"
            } else {
                "read_only,trade"
            };
            // The fields PROTOCOLS-ORDERS B.4 names; `acctLv` 1 = Spot mode (`tdMode: cash`).
            Some(ok(vec![
                serde_json::json!({"uid": (1000 + acct).to_string(),
                "acctLv": "1", "acctStpMode": "cancel_maker", "perm": perm, "ip": ""}),
            ]))
        }
        ("GET", "/api/v5/account/balance") => {
            let st = venue.state.lock().expect("venue lock");
            let details: Vec<Value> = st.m.accounts[acct]
                .balances
                .iter()
                .map(|(ccy, b)| {
                    serde_json::json!({"ccy": ccy, "eq": canon0(b.free + b.locked),
                    "cashBal": canon0(b.free + b.locked), "availBal": canon0(b.free),
                    "frozenBal": canon0(b.locked), "ordFrozen": canon0(b.locked)})
                })
                .collect();
            Some(ok(vec![
                serde_json::json!({"uTime": now.to_string(), "totalEq": "0", "details": details}),
            ]))
        }
        ("POST", "/api/v5/trade/order") => {
            let inst = field("instId").and_then(|i| inst_of(&i));
            let client = field("clOrdId");
            let r = place(shared, v, acct, inst, &field, now);
            log(
                "/api/v5/trade/order",
                client.as_deref(),
                inst,
                r.as_ref().map_or(0, |r| r.status),
            );
            r
        }
        ("POST", "/api/v5/trade/cancel-order") => {
            let inst = field("instId").and_then(|i| inst_of(&i));
            let client = field("clOrdId");
            let r = cancel(shared, v, acct, inst, &field, now);
            log(
                "/api/v5/trade/cancel-order",
                client.as_deref(),
                inst,
                r.status,
            );
            Some(r)
        }
        ("GET", "/api/v5/trade/order") => {
            let Some(inst) = field("instId").and_then(|i| inst_of(&i)) else {
                return Some(err(400, "51001", "Instrument ID does not exist."));
            };
            if shared.faults.window(v, FaultKind::False2013) {
                return Some(err(200, "51603", "Order does not exist"));
            }
            let st = venue.state.lock().expect("venue lock");
            match find(&st.m, acct, inst, &field) {
                Some(id) => Some(ok(vec![order_json(
                    &st.m.orders[&id],
                    &st.m.instruments[inst],
                )])),
                None => Some(err(200, "51603", "Order does not exist")),
            }
        }
        ("GET", "/api/v5/trade/orders-pending") => {
            let inst = field("instId").and_then(|i| inst_of(&i));
            let st = venue.state.lock().expect("venue lock");
            let mut list: Vec<&Order> =
                st.m.orders
                    .values()
                    .filter(|o| {
                        o.account == acct && o.status.is_open() && inst.is_none_or(|i| i == o.inst)
                    })
                    .collect();
            list.sort_by_key(|o| std::cmp::Reverse(o.id));
            Some(ok(list
                .into_iter()
                .map(|o| order_json(o, &st.m.instruments[o.inst]))
                .collect()))
        }
        ("GET", "/api/v5/trade/fills") => {
            let inst = field("instId").and_then(|i| inst_of(&i));
            let st = venue.state.lock().expect("venue lock");
            let mut rows: Vec<(u64, Value)> = Vec::new();
            for o in
                st.m.orders
                    .values()
                    .filter(|o| o.account == acct && inst.is_none_or(|i| i == o.inst))
            {
                let ins = &st.m.instruments[o.inst];
                for f in &o.fills {
                    rows.push((f.trade_id, serde_json::json!({"instType": "SPOT", "instId": inst_id(ins),
                        "tradeId": f.trade_id.to_string(), "ordId": o.id.to_string(), "clOrdId": o.client_id,
                        "billId": f.trade_id.to_string(), "tag": "", "fillPx": canon(f.px), "fillSz": canon(f.qty),
                        "side": side(o.side), "posSide": "net", "execType": if f.maker { "M" } else { "T" },
                        "fee": neg(f.commission), "feeCcy": f.commission_asset, "ts": f.time_ms.to_string(),
                        "fillTime": f.time_ms.to_string()})));
                }
            }
            rows.sort_by_key(|r| std::cmp::Reverse(r.0));
            Some(ok(rows.into_iter().map(|r| r.1).collect()))
        }
        _ => Some(err(404, "50000", "Unknown endpoint")),
    }
}

/// `canon` that prints zero as "0".
pub fn canon0(v: i64) -> String {
    if v == 0 {
        "0".into()
    } else {
        canon(v)
    }
}

/// OKX reports fees paid as negative amounts.
pub fn neg(v: i64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("-{}", canon(v))
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// Verifies the `OK-ACCESS-*` headers: the account index, or the OKX 401 error.
fn auth(shared: &Shared, v: usize, req: &Request, now: u64) -> Result<usize, Response> {
    let h = |n: &str| req.header(n).unwrap_or("");
    let (key, sig, ts, pass) = (
        h("ok-access-key"),
        h("ok-access-sign"),
        h("ok-access-timestamp"),
        h("ok-access-passphrase"),
    );
    let st = shared.venues[v].state.lock().expect("venue lock");
    let Some(acct) =
        st.m.accounts
            .iter()
            .position(|a| a.api_key == key && !key.is_empty())
    else {
        return Err(err(401, "50111", "Invalid OK-ACCESS-KEY."));
    };
    let (secret, passphrase) = (
        st.m.accounts[acct].secret.clone(),
        st.m.accounts[acct].passphrase.clone(),
    );
    drop(st);
    let Some(ts_ms) = sign::parse_iso_ms(ts) else {
        return Err(err(401, "50112", "Invalid OK-ACCESS-TIMESTAMP."));
    };
    if ts_ms.abs_diff(now) > 30_000 {
        return Err(err(401, "50102", "Timestamp request expired."));
    }
    if pass != passphrase {
        return Err(err(401, "50105", "Invalid OK-ACCESS-PASSPHRASE."));
    }
    let path = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let body = String::from_utf8_lossy(&req.body);
    if sign::sign(&secret, ts, &req.method, &path, &body) != sig {
        return Err(err(401, "50113", "Invalid Sign."));
    }
    Ok(acct)
}

/// The order named by `ordId` (wins) or `clOrdId`.
fn find(
    m: &super::super::matching::Matcher,
    acct: usize,
    inst: usize,
    field: &dyn Fn(&str) -> Option<String>,
) -> Option<u64> {
    let id = match field("ordId") {
        Some(o) => o.parse::<u64>().ok(),
        None => field("clOrdId").and_then(|c| m.last_by_client.get(&(acct, c)).copied()),
    }?;
    m.orders
        .get(&id)
        .filter(|o| o.account == acct && o.inst == inst)
        .map(|o| o.id)
}

/// The `GET /api/v5/trade/order` shape (also the base of the private `orders` push).
pub fn order_json(o: &Order, ins: &super::super::config::Instrument) -> Value {
    let last = o.fills.last();
    let state = match o.status {
        Status::New => "live",
        Status::PartiallyFilled => "partially_filled",
        Status::Filled => "filled",
        Status::Canceled | Status::Expired | Status::ExpiredInMatch => "canceled",
    };
    let ord_type = match (o.ord_type, o.tif) {
        (OrdType::Market, _) => "market",
        (OrdType::LimitMaker, _) => "post_only",
        (OrdType::Limit, Tif::Gtc) => "limit",
        (OrdType::Limit, Tif::Ioc) => "ioc",
        (OrdType::Limit, Tif::Fok) => "fok",
    };
    let fee: i64 = o.fills.iter().map(|f| f.commission).sum();
    let avg = if o.executed > 0 {
        canon((o.cum_quote as i128 * super::super::config::ONE as i128 / o.executed as i128) as i64)
    } else {
        String::new()
    };
    serde_json::json!({"instType": "SPOT", "instId": inst_id(ins), "ordId": o.id.to_string(),
        "clOrdId": o.client_id, "tag": "", "px": if o.px > 0 { canon(o.px) } else { String::new() },
        "sz": canon(o.qty), "ordType": ord_type, "side": side(o.side), "tdMode": "cash", "tgtCcy": "",
        "accFillSz": canon0(o.executed), "fillPx": last.map_or(String::new(), |f| canon(f.px)),
        "fillSz": last.map_or("0".into(), |f| canon(f.qty)),
        "fillTime": last.map_or(String::new(), |f| f.time_ms.to_string()),
        "tradeId": last.map_or(String::new(), |f| f.trade_id.to_string()), "avgPx": avg, "state": state,
        "fee": neg(fee), "feeCcy": o.fills.first().map_or(ins.quote.clone(), |f| f.commission_asset.clone()),
        "stpMode": "cancel_taker", "cancelSource": "", "uTime": o.update_ms.to_string(),
        "cTime": o.time_ms.to_string()})
}

/// A per-item failure (`code` "1", HTTP 200).
fn item_fail(client: &str, s_code: &str, s_msg: &str, now: u64) -> Response {
    Response::json(
        200,
        serde_json::json!({"code": "1", "msg": "All operations failed", "data": [{"clOrdId": client,
            "ordId": "", "sCode": s_code, "sMsg": s_msg, "tag": "", "ts": now.to_string()}],
            "inTime": (now * 1000).to_string(), "outTime": (now * 1000).to_string()})
        .to_string(),
    )
}

fn place(
    shared: &Shared,
    v: usize,
    acct: usize,
    inst: Option<usize>,
    field: &dyn Fn(&str) -> Option<String>,
    now: u64,
) -> Option<Response> {
    let venue = &shared.venues[v];
    let faults = &shared.faults;
    let Some(inst) = inst else {
        return Some(err(400, "51001", "Instrument ID does not exist."));
    };
    let client = field("clOrdId").unwrap_or_default();
    if !client.is_empty()
        && (client.len() > 32 || !client.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Some(err(400, "51000", "Parameter clOrdId error"));
    }
    if faults.window(v, FaultKind::Maintenance) {
        return Some(item_fail(
            &client,
            "51001",
            "Instrument ID does not exist.",
            now,
        ));
    }
    let side = match field("side").as_deref() {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        _ => return Some(err(400, "51000", "Parameter side error")),
    };
    let (ord_type, tif) = match field("ordType").as_deref() {
        Some("limit") => (OrdType::Limit, Tif::Gtc),
        Some("post_only") => (OrdType::LimitMaker, Tif::Gtc),
        Some("ioc") => (OrdType::Limit, Tif::Ioc),
        Some("fok") => (OrdType::Limit, Tif::Fok),
        Some("market") => (OrdType::Market, Tif::Ioc),
        _ => return Some(err(400, "51000", "Parameter ordType error")),
    };
    if ord_type == OrdType::Market
        && side == Side::Buy
        && field("tgtCcy").as_deref() != Some("base_ccy")
    {
        // Spot market buys default to a quote-currency size; the simulator sizes in base only.
        return Some(err(400, "51000", "Parameter tgtCcy error"));
    }
    let dec = |k: &str| {
        field(k)
            .and_then(|s| lyra_shm::decimal::parse_mantissa(s.as_bytes(), SCALE).ok())
            .filter(|v| *v > 0)
    };
    let Some(qty) = dec("sz") else {
        return Some(err(400, "51000", "Parameter sz error"));
    };
    let px = if ord_type == OrdType::Market {
        0
    } else {
        match dec("px") {
            Some(p) => p,
            None => return Some(err(400, "51000", "Parameter px error")),
        }
    };
    let client_id = if client.is_empty() {
        format!("sim{}", lyra_shm::clock::wall_now_ns() % 1_000_000_000_000)
    } else {
        client.clone()
    };
    let mut st = venue.state.lock().expect("venue lock");
    let ins = &st.m.instruments[inst];
    if ord_type != OrdType::Market && px % (ins.tick * st.tick_mult) != 0 {
        return Some(item_fail(&client, "51000", "Parameter px error", now));
    }
    if qty % ins.step != 0 {
        return Some(item_fail(
            &client,
            "51121",
            "Order quantity must be a multiple of the lot size.",
            now,
        ));
    }
    if qty < ins.min_qty || (ord_type != OrdType::Market && mul(px, qty) < ins.min_notional) {
        return Some(item_fail(
            &client,
            "51020",
            "Order amount should be greater than the min available amount.",
            now,
        ));
    }
    drop(st);
    if faults.take(v, FaultKind::Rest5xxNotPlaced) {
        return Some(unavailable());
    }
    if faults.take(v, FaultKind::Rest1007NotPlaced) {
        return Some(timeout());
    }
    let mut fx = Effects::default();
    st = venue.state.lock().expect("venue lock");
    let placed = st.m.place(
        acct,
        inst,
        client_id.clone(),
        side,
        ord_type,
        tif,
        px,
        qty,
        Stp::ExpireTaker,
        now,
        &mut fx,
    );
    let id = match placed {
        Ok(id) => id,
        Err(Refusal::InsufficientBalance) => {
            let ccy = if side == Side::Buy {
                &st.m.instruments[inst].quote
            } else {
                &st.m.instruments[inst].base
            };
            let msg = format!("Order failed. Insufficient {ccy} balance in account.");
            return Some(item_fail(&client, "51008", &msg, now));
        }
        Err(Refusal::Duplicate) => {
            return Some(item_fail(&client, "51016", "Duplicated clOrdId.", now));
        }
        Err(Refusal::WouldTake) => {
            return Some(item_fail(
                &client,
                "51000",
                "Post only order would take liquidity.",
                now,
            ));
        }
    };
    st.publish(venue, fx, now, faults, &shared.oracle);
    drop(st);
    if faults.take(v, FaultKind::RestDropResponse) {
        return None;
    }
    if faults.take(v, FaultKind::Rest5xxPlaced) {
        return Some(unavailable());
    }
    if faults.take(v, FaultKind::Rest1007Placed) {
        return Some(timeout());
    }
    Some(Response::json(
        200,
        serde_json::json!({"code": "0", "msg": "", "data": [{"clOrdId": client, "ordId": id.to_string(),
            "tag": "", "ts": now.to_string(), "sCode": "0", "sMsg": "Order placed"}],
            "inTime": (now * 1000).to_string(), "outTime": (now * 1000).to_string()})
        .to_string(),
    ))
}

fn cancel(
    shared: &Shared,
    v: usize,
    acct: usize,
    inst: Option<usize>,
    field: &dyn Fn(&str) -> Option<String>,
    now: u64,
) -> Response {
    let venue = &shared.venues[v];
    let Some(inst) = inst else {
        return err(400, "51001", "Instrument ID does not exist.");
    };
    let client = field("clOrdId").unwrap_or_default();
    let fail = || {
        item_fail(
            &client,
            "51400",
            "Order cancellation failed as the order has been filled, canceled or does not exist.",
            now,
        )
    };
    if shared.faults.take(v, FaultKind::Cancel2011) {
        return fail();
    }
    let mut st = venue.state.lock().expect("venue lock");
    let Some(id) = find(&st.m, acct, inst, field) else {
        return fail();
    };
    let mut fx = Effects::default();
    if shared.faults.take(v, FaultKind::FillRacingCancel) {
        st.m.force_fill(id, now, &mut fx);
    }
    let done = st.m.cancel(id, now, &mut fx);
    st.publish(venue, fx, now, &shared.faults, &shared.oracle);
    let client_id = st.m.orders[&id].client_id.clone();
    drop(st);
    if done.is_none() {
        return fail();
    }
    Response::json(
        200,
        serde_json::json!({"code": "0", "msg": "", "data": [{"clOrdId": client_id, "ordId": id.to_string(),
            "ts": now.to_string(), "sCode": "0", "sMsg": ""}]})
        .to_string(),
    )
}
