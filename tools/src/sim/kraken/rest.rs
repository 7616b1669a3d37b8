//! Kraken REST (PROTOCOLS-ORDERS C.1–C.4): public `Time` and `Depth`; private `AddOrder`,
//! `CancelOrder`, `QueryOrders`, `OpenOrders`, `Balance` with `API-Key`, a strictly increasing
//! `nonce` and `API-Sign` = Base64(HMAC-SHA512(Base64-decode(secret), path ‖ SHA256(nonce ‖
//! body))). Replies `{"error":[],"result":{…}}` or `{"error":["EOrder:Insufficient funds"]}`.
//! Also `GetWebSocketsToken` (tokens for the private `executions` channel), public `AssetPairs`
//! (tick, lot decimals, minimum volume and cost), `ClosedOrders` (narrowed by `cl_ord_id`) and
//! `TradesHistory` (the account's trades, newest first, 50 per page), public `SystemStatus`
//! (`cancel_only` during the maintenance fault) and `GetApiKeyInfo` (`permissions`, with
//! `withdraw-funds` when the account may withdraw). REST faults: dropped
//! response, 5xx (HTTP 503 `EService:Unavailable`) and timeout (`EGeneral:Internal error`) with
//! the order placed or not, rate limit (`EAPI:Rate limit exceeded`), maintenance
//! (`EService:Market in cancel_only mode`), clock skew (`Time`).

use ring::{digest, hmac};
use serde_json::{json, Map, Value};

use super::{
    super::{
        config::{mul, SCALE},
        faults::FaultKind,
        http::{parse_params, Request, Response},
        matching::{Effects, OrdType, Order, Refusal, Side, Status, Stp, Tif},
        okx::{
            canon,
            sign::{base64, base64_decode},
        },
        Shared,
    },
    px_text, qty_text, symbol,
};

/// Kraken's `API-Sign` of a private request.
pub fn api_sign(secret_b64: &str, path: &str, nonce: &str, body: &str) -> Option<String> {
    let secret = base64_decode(secret_b64)?;
    let mut inner = Vec::with_capacity(nonce.len() + body.len());
    inner.extend_from_slice(nonce.as_bytes());
    inner.extend_from_slice(body.as_bytes());
    let sha = digest::digest(&digest::SHA256, &inner);
    let mut msg = path.as_bytes().to_vec();
    msg.extend_from_slice(sha.as_ref());
    let key = hmac::Key::new(hmac::HMAC_SHA512, &secret);
    Some(base64(hmac::sign(&key, &msg).as_ref()))
}

/// Seconds a WebSocket token stays usable before its first subscription.
const WS_TOKEN_SECS: u64 = 900;

/// A fresh WebSocket token (30 random bytes, Base64) from the OS generator.
fn ws_token() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 30];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(base64(&b))
}

fn fail(e: &str) -> Response {
    Response::json(200, json!({"error": [e]}).to_string())
}

/// The 5xx faults: HTTP 503 with `EService:Unavailable` (the order may or may not exist).
fn unavailable() -> Response {
    Response::json(503, json!({"error": ["EService:Unavailable"]}).to_string())
}

fn ok(result: Value) -> Response {
    Response::json(200, json!({"error": [], "result": result}).to_string())
}

/// The simulator's txid of venue order `id` (Kraken's 6-5-6 shape).
pub fn txid(id: u64) -> String {
    format!("OSIMUL-ATED0-{id:06}")
}

/// The simulator's trade txid of venue trade `id` (Kraken's 6-5-6 shape, `T…`).
pub fn trade_txid(id: u64) -> String {
    format!("TSIMUL-ATED0-{id:06}")
}

fn parse_txid(t: &str) -> Option<u64> {
    t.strip_prefix("OSIMUL-ATED0-")?.parse().ok()
}

fn order_json(o: &Order, sym: &str, ins: &super::super::config::Instrument) -> Value {
    let status = match o.status {
        Status::New | Status::PartiallyFilled => "open",
        Status::Filled => "closed",
        Status::Canceled => "canceled",
        Status::Expired | Status::ExpiredInMatch => "expired",
    };
    let (side, kind) = (
        if o.side == Side::Buy { "buy" } else { "sell" },
        if o.ord_type == OrdType::Market {
            "market"
        } else {
            "limit"
        },
    );
    let px = if o.px > 0 {
        px_text(ins, o.px)
    } else {
        "0".into()
    };
    let fee: i64 = o.fills.iter().map(|f| f.commission).sum();
    let avg = if o.executed > 0 {
        px_text(
            ins,
            (o.cum_quote as i128 * super::super::config::ONE as i128 / o.executed as i128) as i64,
        )
    } else {
        "0".into()
    };
    json!({"refid": null, "userref": 0, "cl_ord_id": o.client_id, "status": status,
        "opentm": o.time_ms as f64 / 1000.0, "starttm": 0, "expiretm": 0,
        "descr": {"pair": sym, "type": side, "ordertype": kind, "price": px, "price2": "0",
            "leverage": "none", "order": format!("{side} {} {sym} @ {kind} {px}", qty_text(o.qty)), "close": ""},
        "vol": qty_text(o.qty), "vol_exec": qty_text(o.executed), "cost": qty_text(o.cum_quote),
        "fee": qty_text(fee), "price": avg, "stopprice": "0", "limitprice": "0", "misc": "",
        "oflags": if o.ord_type == OrdType::LimitMaker { "post" } else { "" }})
}

/// Handles one REST request; `None` drops the connection without answering (a fault).
pub fn handle(shared: &Shared, v: usize, req: &Request) -> Option<Response> {
    let venue = &shared.venues[v];
    let now = shared.now_ms(v);
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let mut params = parse_params(&req.query);
    if body.starts_with('{') {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&body) {
            for (k, x) in m {
                params.push((k, x.as_str().map_or_else(|| x.to_string(), str::to_string)));
            }
        }
    } else {
        params.extend(parse_params(&body));
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, x)| x.clone())
            .filter(|x| !x.is_empty())
    };
    let inst_of = |p: &str| {
        let st = venue.state.lock().expect("venue lock");
        st.m.instruments
            .iter()
            .position(|i| symbol(i) == p || i.symbol == p)
    };
    // The rate-limit fault: each armed occurrence (or every call in its window) is refused.
    if shared.faults.take(v, FaultKind::RateLimit) {
        return Some(fail("EAPI:Rate limit exceeded"));
    }
    match req.path.as_str() {
        "/0/public/Time" => {
            return Some(ok(json!({"unixtime": now / 1000, "rfc1123": ""})));
        }
        "/0/public/SystemStatus" => {
            // The maintenance fault puts the market in cancel_only, as AssetPairs shows it.
            let status = if shared.faults.window(v, FaultKind::Maintenance) {
                "cancel_only"
            } else {
                "online"
            };
            return Some(ok(json!({"status": status, "timestamp": ""})));
        }
        "/0/public/AssetPairs" => {
            let pair = get("pair");
            let st = venue.state.lock().expect("venue lock");
            let maint = shared.faults.window(v, FaultKind::Maintenance);
            let mut r = Map::new();
            for ins in st.m.instruments.iter().filter(|i| {
                pair.as_ref()
                    .is_none_or(|p| *p == symbol(i) || *p == i.symbol)
            }) {
                r.insert(
                    symbol(ins),
                    json!({"altname": ins.symbol, "wsname": symbol(ins), "base": ins.base,
                        "quote": ins.quote, "pair_decimals": super::decimals(ins.tick * st.tick_mult),
                        "lot_decimals": super::decimals(ins.step), "cost_decimals": 5,
                        "ordermin": canon(ins.min_qty), "costmin": canon(ins.min_notional),
                        "tick_size": canon(ins.tick * st.tick_mult),
                        "status": if maint { "cancel_only" } else { "online" }}),
                );
            }
            if r.is_empty() {
                return Some(fail("EQuery:Unknown asset pair"));
            }
            return Some(ok(Value::Object(r)));
        }
        "/0/public/Depth" => {
            let pair = get("pair").unwrap_or_default();
            let Some(inst) = inst_of(&pair) else {
                return Some(fail("EQuery:Unknown asset pair"));
            };
            let count: usize = get("count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(100)
                .clamp(1, 500);
            let st = venue.state.lock().expect("venue lock");
            let ins = &st.m.instruments[inst];
            let lv = |bid: bool| -> Vec<Value> {
                st.m.depth(inst, bid, count)
                    .into_iter()
                    .map(|(p, q)| json!([px_text(ins, p), qty_text(q), now / 1000]))
                    .collect()
            };
            let mut r = Map::new();
            r.insert(pair, json!({"asks": lv(false), "bids": lv(true)}));
            return Some(ok(Value::Object(r)));
        }
        _ => {}
    }
    // Private: key, nonce, signature.
    let key = req.header("api-key").unwrap_or("");
    let st = venue.state.lock().expect("venue lock");
    let Some(acct) =
        st.m.accounts
            .iter()
            .position(|a| a.api_key == key && !key.is_empty())
    else {
        return Some(fail("EAPI:Invalid key"));
    };
    let secret = st.m.accounts[acct].secret.clone();
    drop(st);
    let Some(nonce) = get("nonce") else {
        return Some(fail("EAPI:Invalid nonce"));
    };
    let sig = req.header("api-sign").unwrap_or("");
    if api_sign(&secret, &req.path, &nonce, &body).as_deref() != Some(sig) {
        return Some(fail("EAPI:Invalid signature"));
    }
    {
        let mut st = venue.state.lock().expect("venue lock");
        let Ok(n) = nonce.parse::<u64>() else {
            return Some(fail("EAPI:Invalid nonce"));
        };
        if n <= st.kr_nonce[acct] {
            return Some(fail("EAPI:Invalid nonce"));
        }
        st.kr_nonce[acct] = n;
    }
    let faults = &shared.faults;
    let method = req.path.trim_start_matches("/0/private/").to_string();
    let client = get("cl_ord_id");
    let log = |inst: Option<usize>| {
        let st = venue.state.lock().expect("venue lock");
        let seq = inst.map(|i| st.seq[i]);
        let sym = inst.map(|i| symbol(&st.m.instruments[i]));
        drop(st);
        let endpoint = match method.as_str() {
            // A validate-only AddOrder is checked, never placed: the oracle counts it apart.
            "AddOrder" if get("validate").as_deref() == Some("true") => {
                "POST /0/private/AddOrder validate"
            }
            "AddOrder" => "POST /0/private/AddOrder",
            "CancelOrder" => "POST /0/private/CancelOrder",
            _ => "POST /0/private/other",
        };
        shared.oracle.request(
            lyra_shm::clock::wall_now_ns(),
            &venue.cfg.name,
            "POST",
            endpoint,
            client.as_deref(),
            sym.as_deref(),
            seq,
            200,
            None,
        );
    };
    match method.as_str() {
        "GetApiKeyInfo" => {
            let st = venue.state.lock().expect("venue lock");
            let mut permissions = vec![
                "query-funds",
                "query-open-trades",
                "query-closed-trades",
                "modify-trades",
                "close-trades",
                "create-ws-token",
            ];
            if st.m.accounts[acct].withdraw {
                permissions.push("withdraw-funds");
            }
            Some(ok(
                json!({"permissions": permissions, "nonceWindow": 0, "ipAllowlist": []}),
            ))
        }
        "Balance" => {
            let st = venue.state.lock().expect("venue lock");
            let m: Map<String, Value> = st.m.accounts[acct]
                .balances
                .iter()
                .map(|(a, b)| (a.clone(), json!(qty_text(b.free + b.locked))))
                .collect();
            Some(ok(Value::Object(m)))
        }
        "AddOrder" => {
            let pair = get("pair").unwrap_or_default();
            let inst = inst_of(&pair);
            log(inst);
            let Some(inst) = inst else {
                return Some(fail("EQuery:Unknown asset pair"));
            };
            if faults.window(v, FaultKind::Maintenance) {
                return Some(fail("EService:Market in cancel_only mode"));
            }
            let side = match get("type").as_deref() {
                Some("buy") => Side::Buy,
                Some("sell") => Side::Sell,
                _ => return Some(fail("EGeneral:Invalid arguments:type")),
            };
            let post = get("oflags").is_some_and(|f| f.split(',').any(|x| x == "post"));
            let tif = match get("timeinforce").as_deref() {
                None | Some("GTC") => Tif::Gtc,
                Some("IOC") => Tif::Ioc,
                _ => return Some(fail("EGeneral:Invalid arguments:timeinforce")),
            };
            let ord_type = match (get("ordertype").as_deref(), post) {
                (Some("limit"), true) => OrdType::LimitMaker,
                (Some("limit"), false) => OrdType::Limit,
                (Some("market"), _) => OrdType::Market,
                _ => return Some(fail("EGeneral:Invalid arguments:ordertype")),
            };
            let dec = |k: &str| {
                get(k)
                    .and_then(|s| lyra_shm::decimal::parse_mantissa(s.as_bytes(), SCALE).ok())
                    .filter(|x| *x > 0)
            };
            let Some(qty) = dec("volume") else {
                return Some(fail("EGeneral:Invalid arguments:volume"));
            };
            let px = if ord_type == OrdType::Market {
                0
            } else {
                match dec("price") {
                    Some(p) => p,
                    None => return Some(fail("EGeneral:Invalid arguments:price")),
                }
            };
            let mut st = venue.state.lock().expect("venue lock");
            let ins = st.m.instruments[inst].clone();
            if ord_type != OrdType::Market && px % (ins.tick * st.tick_mult) != 0 {
                return Some(fail("EOrder:Tick size check failed"));
            }
            if qty < ins.min_qty || qty % ins.step != 0 {
                return Some(fail("EOrder:Order minimum not met"));
            }
            if ord_type != OrdType::Market && mul(px, qty) < ins.min_notional {
                return Some(fail("EOrder:Cost minimum not met"));
            }
            let descr = format!(
                "{} {} {} @ {} {}",
                if side == Side::Buy { "buy" } else { "sell" },
                qty_text(qty),
                pair,
                if ord_type == OrdType::Market {
                    "market"
                } else {
                    "limit"
                },
                if px > 0 {
                    px_text(&ins, px)
                } else {
                    String::new()
                }
            );
            if get("validate").as_deref() == Some("true") {
                return Some(ok(json!({"descr": {"order": descr}})));
            }
            if faults.take(v, FaultKind::Rest5xxNotPlaced) {
                return Some(unavailable());
            }
            if faults.take(v, FaultKind::Rest1007NotPlaced) {
                return Some(fail("EGeneral:Internal error"));
            }
            let cid = client.clone().unwrap_or_else(|| {
                format!("sim{}", lyra_shm::clock::wall_now_ns() % 1_000_000_000)
            });
            let mut fx = Effects::default();
            let id = match st.m.place(
                acct,
                inst,
                cid,
                side,
                ord_type,
                tif,
                px,
                qty,
                Stp::ExpireTaker,
                now,
                &mut fx,
            ) {
                Ok(id) => id,
                Err(Refusal::InsufficientBalance) => {
                    return Some(fail("EOrder:Insufficient funds"))
                }
                Err(Refusal::Duplicate) => return Some(fail("EOrder:Duplicate order")),
                Err(Refusal::WouldTake) => return Some(fail("EOrder:Post only order")),
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
                return Some(fail("EGeneral:Internal error"));
            }
            Some(ok(json!({"descr": {"order": descr}, "txid": [txid(id)]})))
        }
        "CancelOrder" => {
            log(None);
            let mut st = venue.state.lock().expect("venue lock");
            let id = match (get("txid"), get("cl_ord_id")) {
                (Some(t), _) => parse_txid(&t),
                (None, Some(c)) => st.m.last_by_client.get(&(acct, c)).copied(),
                (None, None) => return Some(fail("EGeneral:Invalid arguments:txid")),
            };
            let Some(id) = id.filter(|i| st.m.orders.get(i).is_some_and(|o| o.account == acct))
            else {
                return Some(fail("EOrder:Unknown order"));
            };
            if faults.take(v, FaultKind::Cancel2011) {
                return Some(fail("EOrder:Unknown order"));
            }
            let mut fx = Effects::default();
            if faults.take(v, FaultKind::FillRacingCancel) {
                st.m.force_fill(id, now, &mut fx);
            }
            let done = st.m.cancel(id, now, &mut fx).is_some();
            st.publish(venue, fx, now, faults, &shared.oracle);
            if !done {
                return Some(fail("EOrder:Unknown order"));
            }
            Some(ok(json!({"count": 1})))
        }
        "QueryOrders" => {
            let st = venue.state.lock().expect("venue lock");
            let mut m = Map::new();
            for t in get("txid").unwrap_or_default().split(',').take(50) {
                if faults.window(v, FaultKind::False2013) {
                    break;
                }
                if let Some(o) = parse_txid(t)
                    .and_then(|i| st.m.orders.get(&i))
                    .filter(|o| o.account == acct)
                {
                    let ins = &st.m.instruments[o.inst];
                    m.insert(t.to_string(), order_json(o, &symbol(ins), ins));
                }
            }
            if m.is_empty() {
                return Some(fail("EOrder:Invalid order"));
            }
            Some(ok(Value::Object(m)))
        }
        "ClosedOrders" => {
            let st = venue.state.lock().expect("venue lock");
            let mut m = Map::new();
            // Newest first, one page of 50; `cl_ord_id` narrows the list to that client id.
            let mut closed: Vec<&Order> =
                st.m.orders
                    .values()
                    .filter(|o| {
                        o.account == acct
                            && !o.status.is_open()
                            && client.as_ref().is_none_or(|c| *c == o.client_id)
                    })
                    .collect();
            closed.sort_by_key(|o| std::cmp::Reverse(o.id));
            for o in closed.into_iter().take(50) {
                let ins = &st.m.instruments[o.inst];
                m.insert(txid(o.id), order_json(o, &symbol(ins), ins));
            }
            let count = m.len();
            Some(ok(json!({"closed": m, "count": count})))
        }
        "TradesHistory" => {
            let st = venue.state.lock().expect("venue lock");
            let mut trades: Vec<(&Order, &super::super::matching::Fill)> =
                st.m.orders
                    .values()
                    .filter(|o| o.account == acct)
                    .flat_map(|o| o.fills.iter().map(move |f| (o, f)))
                    .collect();
            trades.sort_by_key(|(_, f)| std::cmp::Reverse(f.trade_id));
            let count = trades.len();
            let ofs: usize = get("ofs").and_then(|x| x.parse().ok()).unwrap_or(0);
            let mut m = Map::new();
            for (o, f) in trades.into_iter().skip(ofs).take(50) {
                let ins = &st.m.instruments[o.inst];
                m.insert(
                    trade_txid(f.trade_id),
                    json!({"ordertxid": txid(o.id), "postxid": "", "pair": symbol(ins),
                        "time": f.time_ms as f64 / 1000.0,
                        "type": if o.side == Side::Buy { "buy" } else { "sell" },
                        "ordertype": if o.ord_type == OrdType::Market { "market" } else { "limit" },
                        "price": px_text(ins, f.px), "cost": qty_text(mul(f.px, f.qty)),
                        "fee": qty_text(f.commission), "vol": qty_text(f.qty), "margin": "0",
                        "misc": "", "trade_id": f.trade_id, "maker": f.maker}),
                );
            }
            Some(ok(json!({"trades": m, "count": count})))
        }
        "GetWebSocketsToken" => {
            let Some(token) = ws_token() else {
                return Some(fail("EGeneral:Internal error"));
            };
            let mut st = venue.state.lock().expect("venue lock");
            st.kr_tokens.retain(|_, (_, exp)| *exp > now);
            st.kr_tokens
                .insert(token.clone(), (acct, now + WS_TOKEN_SECS * 1000));
            Some(ok(json!({"token": token, "expires": WS_TOKEN_SECS})))
        }
        "OpenOrders" => {
            let st = venue.state.lock().expect("venue lock");
            let mut m = Map::new();
            // `cl_ord_id` narrows the list to that client order id.
            for o in st.m.orders.values().filter(|o| {
                o.account == acct
                    && o.status.is_open()
                    && client.as_ref().is_none_or(|c| *c == o.client_id)
            }) {
                let ins = &st.m.instruments[o.inst];
                m.insert(txid(o.id), order_json(o, &symbol(ins), ins));
            }
            Some(ok(json!({"open": m})))
        }
        _ => Some(fail("EGeneral:Unknown method")),
    }
}

#[cfg(test)]
mod tests {
    /// PROTOCOLS-ORDERS D.3: Kraken's documented example.
    #[test]
    fn kraken_doc_vector() {
        let secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
        let body =
            "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
        assert_eq!(
            super::api_sign(secret, "/0/private/AddOrder", "1616492376594", body).as_deref(),
            Some("4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==")
        );
    }
}
