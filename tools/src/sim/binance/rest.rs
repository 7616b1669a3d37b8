//! Binance Spot REST (`/api/v3`, `/sapi/v1/account/apiRestrictions`): public market endpoints,
//! signed account and order endpoints with HMAC-SHA256, `recvWindow`/timestamp checks, filter
//! checks, request-weight and order-count limits with their headers, 429 → 418 bans, and the
//! REST faults (dropped response, 5xx / -1007 with the order placed or not, false -2013, -2011 on
//! cancel, a fill racing a cancel, maintenance, clock skew, filter change).

use std::fmt::Write as _;

use lyra_shm::decimal::{parse_mantissa, DecimalError};

use super::{
    super::{
        config::{fmt8, mul, SCALE},
        faults::FaultKind,
        http::{parse_params, Request, Response},
        matching::{Effects, Exec, ExecType, OrdType, Order, Refusal, Side, Stp, Tif},
        venue::Venue,
        Shared,
    },
    array, error_body, sign,
    user_stream::{ord_type, side as side_str, status, stp as stp_str, tif as tif_str},
    Obj,
};

/// A refusal: (HTTP status, Binance code, message).
type Refused = (u16, i64, String);

fn refuse(http: u16, code: i64, msg: impl Into<String>) -> Refused {
    (http, code, msg.into())
}

fn missing(p: &str) -> Refused {
    refuse(
        400,
        -1102,
        format!("Mandatory parameter '{p}' was not sent, was empty/null, or malformed."),
    )
}

/// Checks `timestamp` and `recvWindow` against the server clock (PROTOCOLS a.3): -1021 when the
/// client is more than 1 s ahead or the request is older than the window.
///
/// # Errors
/// `(code, message)` to send back.
pub fn check_timestamp(
    ts: Option<&str>,
    window: Option<&str>,
    now_ms: u64,
) -> Result<(), (i64, String)> {
    let Some(ts) = ts else {
        return Err((
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.".into(),
        ));
    };
    let Ok(mut ts) = ts.parse::<u64>() else {
        return Err((
            -1100,
            "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'."
                .into(),
        ));
    };
    if ts > 10_000_000_000_000 {
        ts /= 1000; // microseconds
    }
    let window_ms = match window {
        None => 5000.0,
        Some(w) => match w.parse::<f64>() {
            Ok(w) if (0.0..=60_000.0).contains(&w) => w,
            _ => return Err((-1131, "recvWindow must be less than 60000".into())),
        },
    };
    if ts >= now_ms + 1000 {
        return Err((
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.".into(),
        ));
    }
    if now_ms.saturating_sub(ts) as f64 > window_ms {
        return Err((
            -1021,
            "Timestamp for this request is outside of the recvWindow.".into(),
        ));
    }
    Ok(())
}

/// Request weight of an endpoint (PROTOCOLS a.1/a.4, PROTOCOLS-ORDERS A.2–A.4).
fn weight(req: &Request, params: &[(String, String)]) -> u32 {
    let has = |k: &str| params.iter().any(|(n, _)| n == k);
    match (req.method.as_str(), req.path.as_str()) {
        (_, "/api/v3/exchangeInfo") | (_, "/api/v3/account") => 20,
        ("GET", "/api/v3/order") => 4,
        (_, "/api/v3/openOrders") if has("symbol") => 6,
        (_, "/api/v3/openOrders") => 80,
        (_, "/api/v3/myTrades") if has("orderId") => 5,
        (_, "/api/v3/myTrades") => 20,
        (_, "/api/v3/depth") => {
            let limit: u32 = params
                .iter()
                .find(|(n, _)| n == "limit")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(100);
            match limit {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            }
        }
        ("POST", "/api/v3/order") | ("DELETE", "/api/v3/order") => 0, // successful place/cancel: 0 since 2026-04-02
        _ => 1,
    }
}

/// Handles one REST request; `None` drops the connection without answering (a fault).
pub fn handle(shared: &Shared, v: usize, req: &Request) -> Option<Response> {
    let venue = &shared.venues[v];
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let mut params = parse_params(&req.query);
    params.extend(parse_params(&body));
    let now = shared.now_ms(v);
    // Rate limits first: a banned IP gets nothing else.
    let w = weight(req, &params);
    let used = match rate_check(shared, venue, w, now) {
        Ok(used) => used,
        Err(resp) => return Some(resp),
    };
    let mut ctx = Ctx {
        shared,
        v,
        venue,
        req,
        params,
        body,
        now,
        order_headers: None,
        client_id: None,
        symbol: None,
        book_seq: None,
    };
    let result = ctx.route();
    let (status_code, mut resp, code) = match result {
        Ok(Some(r)) => (r.status, r, None),
        Ok(None) => {
            ctx.log(0, None);
            return None;
        }
        Err((http, code, msg)) => (
            http,
            Response::json(http, error_body(code, &msg)),
            Some(code),
        ),
    };
    resp = resp.with_header("X-MBX-USED-WEIGHT-1M", used.to_string());
    if let Some((c10, c1d)) = ctx.order_headers {
        resp = resp
            .with_header("X-MBX-ORDER-COUNT-10S", c10.to_string())
            .with_header("X-MBX-ORDER-COUNT-1D", c1d.to_string());
    }
    ctx.log(status_code, code);
    Some(resp)
}

/// Adds `w` to this minute's weight; 429 with `Retry-After` over the limit, escalating to a
/// 418 ban for a client that keeps going.
fn rate_check(shared: &Shared, venue: &Venue, w: u32, now: u64) -> Result<u32, Response> {
    let mut r = venue.rate.lock().expect("rate lock");
    if shared.faults.take(venue.idx, FaultKind::RateLimit) {
        r.weight = venue.cfg.weight_per_minute;
        r.minute = now / 60_000;
        shared.oracle.fault(
            lyra_shm::clock::wall_now_ns(),
            &venue.cfg.name,
            "rate_limit",
            "weight exhausted",
        );
    }
    if r.ban_until_ms > now {
        let secs = (r.ban_until_ms - now).div_ceil(1000);
        let msg = format!(
            "Way too many requests; IP(127.0.0.1) banned until {}. Please use the websocket for live updates to avoid bans.",
            r.ban_until_ms
        );
        return Err(Response::json(418, error_body(-1003, &msg))
            .with_header("Retry-After", secs.to_string()));
    }
    let minute = now / 60_000;
    if minute != r.minute {
        r.minute = minute;
        r.weight = 0;
    }
    let limit = venue.cfg.weight_per_minute;
    if r.weight + w > limit {
        r.strikes += 1;
        // The first 429 is a warning; a client that ignores it four more times is banned.
        if r.strikes > 4 {
            // Bans escalate from 2 minutes up to 3 days.
            r.ban_secs = (r.ban_secs * 2).clamp(120, 3 * 86_400);
            r.ban_until_ms = now + r.ban_secs * 1000;
            r.strikes = 0;
            let msg = format!(
                "Way too many requests; IP(127.0.0.1) banned until {}. Please use the websocket for live updates to avoid bans.",
                r.ban_until_ms
            );
            return Err(Response::json(418, error_body(-1003, &msg))
                .with_header("Retry-After", r.ban_secs.to_string()));
        }
        let retry = 60 - (now / 1000) % 60;
        let msg = format!(
            "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
        );
        return Err(Response::json(429, error_body(-1003, &msg))
            .with_header("Retry-After", retry.to_string())
            .with_header("X-MBX-USED-WEIGHT-1M", r.weight.to_string()));
    }
    r.weight += w;
    Ok(r.weight)
}

/// One request in flight.
struct Ctx<'a> {
    shared: &'a Shared,
    v: usize,
    venue: &'a Venue,
    req: &'a Request,
    params: Vec<(String, String)>,
    body: String,
    now: u64,
    order_headers: Option<(u32, u32)>,
    client_id: Option<String>,
    symbol: Option<String>,
    book_seq: Option<u64>,
}

/// Parameters of a new order, validated.
struct NewOrder {
    inst: usize,
    side: Side,
    ord_type: OrdType,
    tif: Tif,
    px: i64,
    qty: i64,
    client_id: String,
    resp_type: &'static str,
    stp: Stp,
}

impl Ctx<'_> {
    fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn log(&self, status_code: u16, code: Option<i64>) {
        let p = self.req.path.as_str();
        if p.starts_with("/api/v3/order")
            || p.starts_with("/api/v3/openOrders")
            || p == "/api/v3/account"
            || p == "/api/v3/myTrades"
        {
            self.shared.oracle.request(
                lyra_shm::clock::wall_now_ns(),
                &self.venue.cfg.name,
                &self.req.method,
                p,
                self.client_id.as_deref(),
                self.symbol.as_deref(),
                self.book_seq,
                status_code,
                code,
            );
        }
    }

    fn route(&mut self) -> Result<Option<Response>, Refused> {
        let ok = |b: String| Ok(Some(Response::json(200, b)));
        match (self.req.method.as_str(), self.req.path.as_str()) {
            ("GET", "/api/v3/ping") => ok("{}".into()),
            ("GET", "/api/v3/time") => ok(format!(r#"{{"serverTime":{}}}"#, self.now)),
            ("GET", "/api/v3/exchangeInfo") => ok(self.exchange_info()),
            ("GET", "/api/v3/depth") => self.depth().map(Some),
            ("GET", "/api/v3/account") => {
                let a = self.auth()?;
                ok(self.account(a))
            }
            ("GET", "/sapi/v1/account/apiRestrictions") => {
                self.auth()?;
                ok(Obj::new()
                    .b("ipRestrict", false)
                    .n("createTime", 1_700_000_000_000)
                    .b("enableInternalTransfer", false)
                    .b("enableFutures", false)
                    .b("enablePortfolioMarginTrading", false)
                    .b("enableVanillaOptions", false)
                    .b("permitsUniversalTransfer", false)
                    .b("enableReading", true)
                    .b("enableSpotAndMarginTrading", true)
                    .b("enableWithdrawals", false)
                    .b("enableMargin", false)
                    .done())
            }
            ("POST", "/api/v3/order") => {
                let a = self.auth()?;
                self.new_order(a, false)
            }
            ("POST", "/api/v3/order/test") => {
                let a = self.auth()?;
                self.new_order(a, true)
            }
            ("GET", "/api/v3/order") => {
                let a = self.auth()?;
                self.query_order(a).map(Some)
            }
            ("DELETE", "/api/v3/order") => {
                let a = self.auth()?;
                self.cancel_order(a)
            }
            ("GET", "/api/v3/openOrders") => {
                let a = self.auth()?;
                self.open_orders(a).map(Some)
            }
            ("GET", "/api/v3/myTrades") => {
                let a = self.auth()?;
                self.my_trades(a).map(Some)
            }
            (_, "/api/v3/userDataStream") => Err(refuse(
                410,
                -1000,
                "listenKey user data streams were switched off on 2026-02-20; use userDataStream.subscribe.signature on the WebSocket API.",
            )),
            _ => Err(refuse(404, -1000, format!("Unknown endpoint {} {}.", self.req.method, self.req.path))),
        }
    }

    /// API key, signature, timestamp: the account index.
    fn auth(&mut self) -> Result<usize, Refused> {
        let Some(key) = self.req.header("x-mbx-apikey") else {
            return Err(refuse(401, -2014, "API-key format invalid."));
        };
        let st = self.venue.state.lock().expect("venue lock");
        let Some(acct) = st.m.accounts.iter().position(|a| a.api_key == key) else {
            return Err(refuse(
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        };
        let secret = st.m.accounts[acct].secret.clone();
        drop(st);
        let (payload, sig) = sign::rest_payload(&self.req.query, &self.body);
        let Some(sig) = sig else {
            return Err(missing("signature"));
        };
        if !sign::verify(&secret, payload.as_bytes(), &sig) {
            return Err(refuse(
                400,
                -1022,
                "Signature for this request is not valid.",
            ));
        }
        check_timestamp(self.get("timestamp"), self.get("recvWindow"), self.now)
            .map_err(|(c, m)| refuse(400, c, m))?;
        Ok(acct)
    }

    fn inst(&mut self) -> Result<usize, Refused> {
        let sym = self
            .get("symbol")
            .ok_or_else(|| missing("symbol"))?
            .to_string();
        self.symbol = Some(sym.clone());
        let st = self.venue.state.lock().expect("venue lock");
        let i =
            st.m.instruments
                .iter()
                .position(|i| i.symbol == sym)
                .ok_or_else(|| refuse(400, -1121, "Invalid symbol."))?;
        self.book_seq = Some(st.seq[i]);
        Ok(i)
    }

    fn exchange_info(&self) -> String {
        let st = self.venue.state.lock().expect("venue lock");
        let cfg = &self.venue.cfg;
        let maint = self.shared.faults.window(self.v, FaultKind::Maintenance);
        let symbols = array(st.m.instruments.iter().map(|i| {
            let tick = i.tick * st.tick_mult;
            let filters = format!(
                r#"[{{"filterType":"PRICE_FILTER","minPrice":"{}","maxPrice":"1000000.00000000","tickSize":"{}"}},{{"filterType":"LOT_SIZE","minQty":"{}","maxQty":"9000.00000000","stepSize":"{}"}},{{"filterType":"NOTIONAL","minNotional":"{}","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5}},{{"filterType":"MAX_NUM_ORDERS","maxNumOrders":200}}]"#,
                fmt8(tick),
                fmt8(tick),
                fmt8(i.min_qty),
                fmt8(i.step),
                fmt8(i.min_notional)
            );
            Obj::new()
                .s("symbol", &i.symbol)
                .s("status", if maint { "BREAK" } else { "TRADING" })
                .s("baseAsset", &i.base)
                .n("baseAssetPrecision", 8)
                .s("quoteAsset", &i.quote)
                .n("quotePrecision", 8)
                .n("quoteAssetPrecision", 8)
                .n("baseCommissionPrecision", 8)
                .n("quoteCommissionPrecision", 8)
                .raw("orderTypes", r#"["LIMIT","LIMIT_MAKER","MARKET"]"#)
                .b("icebergAllowed", false)
                .b("ocoAllowed", false)
                .b("quoteOrderQtyMarketAllowed", false)
                .b("allowTrailingStop", false)
                .b("cancelReplaceAllowed", false)
                .b("isSpotTradingAllowed", true)
                .b("isMarginTradingAllowed", false)
                .raw("filters", &filters)
                .raw("permissions", "[]")
                .raw("permissionSets", r#"[["SPOT"]]"#)
                .s("defaultSelfTradePreventionMode", "EXPIRE_TAKER")
                .raw("allowedSelfTradePreventionModes", r#"["NONE","EXPIRE_TAKER","EXPIRE_MAKER","EXPIRE_BOTH"]"#)
                .done()
        }));
        let limits = format!(
            r#"[{{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":{}}},{{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":{}}},{{"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":{}}},{{"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":61000}}]"#,
            cfg.weight_per_minute, cfg.orders_per_10s, cfg.orders_per_day
        );
        Obj::new()
            .s("timezone", "UTC")
            .n("serverTime", self.now as i64)
            .raw("rateLimits", &limits)
            .raw("exchangeFilters", "[]")
            .raw("symbols", &symbols)
            .done()
    }

    fn depth(&mut self) -> Result<Response, Refused> {
        let inst = self.inst()?;
        let limit: usize = match self.get("limit") {
            None => 100,
            Some(l) => l.parse().map_err(|_| {
                refuse(400, -1100, "Illegal characters found in parameter 'limit'.")
            })?,
        };
        let limit = limit.clamp(1, 5000);
        // `lyra sim --replay`: the capture's own snapshot, consistent with its frames.
        if let Some(body) = self
            .shared
            .replay
            .as_ref()
            .filter(|p| p.venue == self.v)
            .and_then(|p| p.snapshots.get(&inst))
        {
            return Ok(Response::json(200, body.clone()));
        }
        let st = self.venue.state.lock().expect("venue lock");
        let lv = |bid: bool| {
            array(
                st.m.depth(inst, bid, limit)
                    .into_iter()
                    .map(|(p, q)| format!(r#"["{}","{}"]"#, fmt8(p), fmt8(q))),
            )
        };
        Ok(Response::json(
            200,
            format!(
                r#"{{"lastUpdateId":{},"bids":{},"asks":{}}}"#,
                st.seq[inst],
                lv(true),
                lv(false)
            ),
        ))
    }

    fn account(&self, a: usize) -> String {
        let st = self.venue.state.lock().expect("venue lock");
        let omit = self.get("omitZeroBalances") == Some("true");
        let bals = array(
            st.m.accounts[a]
                .balances
                .iter()
                .filter(|(_, b)| !omit || b.free + b.locked != 0)
                .map(|(asset, b)| {
                    Obj::new()
                        .s("asset", asset)
                        .d("free", b.free)
                        .d("locked", b.locked)
                        .done()
                }),
        );
        let (mk, tk) = (st.m.maker_fee_bps, st.m.taker_fee_bps);
        let rates = Obj::new()
            .d("maker", mk * 10_000)
            .d("taker", tk * 10_000)
            .d("buyer", 0)
            .d("seller", 0)
            .done();
        Obj::new()
            .n("makerCommission", mk)
            .n("takerCommission", tk)
            .n("buyerCommission", 0)
            .n("sellerCommission", 0)
            .raw("commissionRates", &rates)
            .b("canTrade", true)
            .b("canWithdraw", false)
            .b("canDeposit", true)
            .b("brokered", false)
            .b("requireSelfTradePrevention", false)
            .b("preventSor", false)
            .n("updateTime", self.now as i64)
            .s("accountType", "SPOT")
            .raw("balances", &bals)
            .raw("permissions", r#"["SPOT"]"#)
            .n("uid", 1000 + a as i64)
            .done()
    }

    /// A decimal parameter at the simulator scale, with Binance's errors.
    fn decimal(&self, k: &str) -> Result<i64, Refused> {
        let s = self.get(k).ok_or_else(|| missing(k))?;
        match parse_mantissa(s.as_bytes(), SCALE) {
            Ok(v) if v > 0 => Ok(v),
            Ok(_) => Err(refuse(400, -1013, format!("Invalid {k}."))),
            Err(DecimalError::TooPrecise(_)) => Err(refuse(400, -1111, format!("Parameter '{k}' has too much precision."))),
            Err(_) => Err(refuse(
                400,
                -1100,
                format!("Illegal characters found in parameter '{k}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."),
            )),
        }
    }

    fn parse_order(&mut self) -> Result<NewOrder, Refused> {
        let inst = self.inst()?;
        let side = match self.get("side").ok_or_else(|| missing("side"))? {
            "BUY" => Side::Buy,
            "SELL" => Side::Sell,
            _ => return Err(refuse(400, -1117, "Invalid side.")),
        };
        let ord_type = match self.get("type").ok_or_else(|| missing("type"))? {
            "LIMIT" => OrdType::Limit,
            "LIMIT_MAKER" => OrdType::LimitMaker,
            "MARKET" => OrdType::Market,
            _ => return Err(refuse(400, -1116, "Invalid orderType.")),
        };
        let tif = match (ord_type, self.get("timeInForce")) {
            (OrdType::Limit, None) => return Err(missing("timeInForce")),
            (OrdType::Limit, Some("GTC")) | (_, None) => Tif::Gtc,
            (OrdType::Limit, Some("IOC")) => Tif::Ioc,
            (OrdType::Limit, Some("FOK")) => Tif::Fok,
            (OrdType::Limit, Some(_)) => return Err(refuse(400, -1115, "Invalid timeInForce.")),
            (_, Some(_)) => {
                return Err(refuse(
                    400,
                    -1106,
                    "Parameter 'timeInForce' sent when not required.",
                ))
            }
        };
        if ord_type == OrdType::Market && self.get("quoteOrderQty").is_some() {
            return Err(refuse(
                400,
                -1013,
                "quoteOrderQty is not supported by this simulator.",
            ));
        }
        let qty = self.decimal("quantity")?;
        let px = if ord_type == OrdType::Market {
            0
        } else {
            self.decimal("price")?
        };
        let client_id = match self.get("newClientOrderId") {
            Some(c) => {
                let ok = (1..=36).contains(&c.len())
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(refuse(
                        400,
                        -1100,
                        "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
                    ));
                }
                c.to_string()
            }
            None => format!(
                "sim{:019}",
                lyra_shm::clock::wall_now_ns() % 10_000_000_000_000_000_000
            ),
        };
        self.client_id = Some(client_id.clone());
        let resp_type = match (self.get("newOrderRespType"), ord_type) {
            (Some("ACK"), _) => "ACK",
            (Some("RESULT"), _) => "RESULT",
            (Some("FULL"), _) => "FULL",
            (Some(_), _) => {
                return Err(refuse(
                    400,
                    -1100,
                    "Illegal characters found in parameter 'newOrderRespType'.",
                ))
            }
            (None, OrdType::LimitMaker) => "ACK",
            (None, _) => "FULL",
        };
        let stp = match self.get("selfTradePreventionMode") {
            None | Some("EXPIRE_TAKER") => Stp::ExpireTaker,
            Some("NONE") => Stp::None,
            Some("EXPIRE_MAKER") => Stp::ExpireMaker,
            Some("EXPIRE_BOTH") => Stp::ExpireBoth,
            Some(_) => {
                return Err(refuse(
                    400,
                    -1100,
                    "Illegal characters found in parameter 'selfTradePreventionMode'.",
                ))
            }
        };
        // Filters (PROTOCOLS a.6), in decimal.
        let st = self.venue.state.lock().expect("venue lock");
        let ins = &st.m.instruments[inst];
        let tick = ins.tick * st.tick_mult;
        if ord_type != OrdType::Market
            && (px < tick || px > 1_000_000 * super::super::config::ONE || px % tick != 0)
        {
            return Err(refuse(400, -1013, "Filter failure: PRICE_FILTER"));
        }
        if qty < ins.min_qty || qty > 9000 * super::super::config::ONE || qty % ins.step != 0 {
            return Err(refuse(400, -1013, "Filter failure: LOT_SIZE"));
        }
        let ref_px = if ord_type == OrdType::Market {
            let (b, a) = st.m.top(inst);
            if side == Side::Buy { a } else { b }.unwrap_or(0)
        } else {
            px
        };
        if mul(ref_px, qty) < ins.min_notional {
            return Err(refuse(400, -1013, "Filter failure: NOTIONAL"));
        }
        Ok(NewOrder {
            inst,
            side,
            ord_type,
            tif,
            px,
            qty,
            client_id,
            resp_type,
            stp,
        })
    }

    /// Counts an order against the 10 s / 1 day limits of `acct`.
    fn count_order(&mut self, acct: usize) -> Result<(), Refused> {
        let cfg = &self.venue.cfg;
        let mut r = self.venue.rate.lock().expect("rate lock");
        let (w10, d) = (self.now / 10_000, self.now / 86_400_000);
        let e = r.orders.entry(acct).or_insert((w10, 0, d, 0));
        if e.0 != w10 {
            *e = (w10, 0, e.2, e.3);
        }
        if e.2 != d {
            e.2 = d;
            e.3 = 0;
        }
        if e.1 >= cfg.orders_per_10s {
            return Err(refuse(
                429,
                -1015,
                format!(
                    "Too many new orders; current limit is {} orders per 10 SECOND.",
                    cfg.orders_per_10s
                ),
            ));
        }
        if e.3 >= cfg.orders_per_day {
            return Err(refuse(
                429,
                -1015,
                format!(
                    "Too many new orders; current limit is {} orders per DAY.",
                    cfg.orders_per_day
                ),
            ));
        }
        e.1 += 1;
        e.3 += 1;
        self.order_headers = Some((e.1, e.3));
        Ok(())
    }

    fn new_order(&mut self, acct: usize, test: bool) -> Result<Option<Response>, Refused> {
        // A closed market refuses before any filter is looked at.
        self.inst()?;
        if self.shared.faults.window(self.v, FaultKind::Maintenance) {
            return Err(refuse(400, -2010, "Market is closed."));
        }
        let o = self.parse_order()?;
        let faults = &self.shared.faults;
        let vname = &self.venue.cfg.name;
        let note = |f: &str, c: &str| {
            self.shared
                .oracle
                .fault(lyra_shm::clock::wall_now_ns(), vname, f, c)
        };
        if test {
            if self.get("computeCommissionRates") == Some("true") {
                let st = self.venue.state.lock().expect("venue lock");
                let (mk, tk) = (st.m.maker_fee_bps * 10_000, st.m.taker_fee_bps * 10_000);
                let std = Obj::new().d("maker", mk).d("taker", tk).done();
                let zero = Obj::new().d("maker", 0).d("taker", 0).done();
                let body = Obj::new()
                    .raw("standardCommissionForOrder", &std)
                    .raw("specialCommissionForOrder", &zero)
                    .raw("taxCommissionForOrder", &zero)
                    .raw("discount", r#"{"enabledForAccount":false,"enabledForSymbol":false,"discountAsset":"BNB","discount":"0.00000000"}"#)
                    .done();
                return Ok(Some(Response::json(200, body)));
            }
            return Ok(Some(Response::json(200, "{}")));
        }
        self.count_order(acct)?;
        if faults.take(self.v, FaultKind::Rest5xxNotPlaced) {
            note("rest_5xx_not_placed", &o.client_id);
            return Err(refuse(503, -1008, "Server is currently overloaded with other requests. Please try again in a few minutes."));
        }
        if faults.take(self.v, FaultKind::Rest1007NotPlaced) {
            note("rest_1007_not_placed", &o.client_id);
            return Err(refuse(503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."));
        }
        let mut fx = Effects::default();
        let mut st = self.venue.state.lock().expect("venue lock");
        let placed = st.m.place(
            acct,
            o.inst,
            o.client_id.clone(),
            o.side,
            o.ord_type,
            o.tif,
            o.px,
            o.qty,
            o.stp,
            self.now,
            &mut fx,
        );
        let id = match placed {
            Ok(id) => id,
            Err(r) => {
                let msg = match r {
                    Refusal::InsufficientBalance => {
                        "Account has insufficient balance for requested action."
                    }
                    Refusal::WouldTake => "Order would immediately match and take.",
                    Refusal::Duplicate => "Duplicate order sent.",
                };
                return Err(refuse(400, -2010, msg));
            }
        };
        let order = st.m.orders[&id].clone();
        st.publish(self.venue, fx, self.now, faults, &self.shared.oracle);
        drop(st);
        if faults.take(self.v, FaultKind::RestDropResponse) {
            note("rest_drop_response", &o.client_id);
            return Ok(None);
        }
        if faults.take(self.v, FaultKind::Rest5xxPlaced) {
            note("rest_5xx_placed", &o.client_id);
            return Err(refuse(503, -1008, "Server is currently overloaded with other requests. Please try again in a few minutes."));
        }
        if faults.take(self.v, FaultKind::Rest1007Placed) {
            note("rest_1007_placed", &o.client_id);
            return Err(refuse(503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."));
        }
        Ok(Some(Response::json(
            200,
            self.order_response(&order, o.resp_type),
        )))
    }

    fn order_response(&self, o: &Order, kind: &str) -> String {
        let sym = self.symbol.clone().unwrap_or_default();
        let mut obj = Obj::new()
            .s("symbol", &sym)
            .n("orderId", o.id as i64)
            .n("orderListId", -1)
            .s("clientOrderId", &o.client_id)
            .n("transactTime", o.time_ms as i64);
        if kind == "ACK" {
            return obj.done();
        }
        obj = obj
            .d("price", o.px)
            .d("origQty", o.qty)
            .d("executedQty", o.executed)
            .d("origQuoteOrderQty", 0)
            .d("cummulativeQuoteQty", o.cum_quote)
            .s("status", status(o.status))
            .s("timeInForce", tif_str(o.tif))
            .s("type", ord_type(o.ord_type))
            .s("side", side_str(o.side))
            .n(
                "workingTime",
                if o.status.is_open() {
                    o.time_ms as i64
                } else {
                    -1
                },
            )
            .s("selfTradePreventionMode", stp_str(o.stp));
        if kind == "FULL" {
            let fills = array(o.fills.iter().map(|f| {
                Obj::new()
                    .d("price", f.px)
                    .d("qty", f.qty)
                    .d("commission", f.commission)
                    .s("commissionAsset", &f.commission_asset)
                    .n("tradeId", f.trade_id as i64)
                    .done()
            }));
            obj = obj.raw("fills", &fills);
        }
        obj.done()
    }

    /// The order named by `orderId` / `origClientOrderId` for `acct`.
    fn find(&self, acct: usize, inst: usize) -> Result<Option<u64>, Refused> {
        let st = self.venue.state.lock().expect("venue lock");
        let by_id = match self.get("orderId") {
            Some(s) => Some(s.parse::<u64>().map_err(|_| {
                refuse(
                    400,
                    -1100,
                    "Illegal characters found in parameter 'orderId'.",
                )
            })?),
            None => None,
        };
        let by_client = self
            .get("origClientOrderId")
            .map(|c| st.m.last_by_client.get(&(acct, c.to_string())).copied());
        let id = match (by_id, by_client) {
            (None, None) => {
                return Err(refuse(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"));
            }
            (Some(i), None) => Some(i),
            (None, Some(c)) => c,
            (Some(i), Some(c)) => {
                if c.is_some_and(|c| c != i) {
                    return Err(refuse(
                        400,
                        -2039,
                        "Order was not found for given orderId and origClientOrderId.",
                    ));
                }
                Some(i)
            }
        };
        Ok(id.filter(|i| {
            st.m.orders
                .get(i)
                .is_some_and(|o| o.account == acct && o.inst == inst)
        }))
    }

    fn query_json(&self, o: &Order) -> String {
        let sym = self.symbol.clone().unwrap_or_default();
        Obj::new()
            .s("symbol", &sym)
            .n("orderId", o.id as i64)
            .n("orderListId", -1)
            .s("clientOrderId", &o.client_id)
            .d("price", o.px)
            .d("origQty", o.qty)
            .d("executedQty", o.executed)
            .d("cummulativeQuoteQty", o.cum_quote)
            .s("status", status(o.status))
            .s("timeInForce", tif_str(o.tif))
            .s("type", ord_type(o.ord_type))
            .s("side", side_str(o.side))
            .d("stopPrice", 0)
            .d("icebergQty", 0)
            .n("time", o.time_ms as i64)
            .n("updateTime", o.update_ms as i64)
            .b("isWorking", o.status.is_open())
            .n("workingTime", o.time_ms as i64)
            .d("origQuoteOrderQty", 0)
            .s("selfTradePreventionMode", stp_str(o.stp))
            .done()
    }

    fn query_order(&mut self, acct: usize) -> Result<Response, Refused> {
        let inst = self.inst()?;
        self.client_id = self.get("origClientOrderId").map(str::to_string);
        let id = self.find(acct, inst)?;
        if self.shared.faults.window(self.v, FaultKind::False2013) {
            return Err(refuse(400, -2013, "Order does not exist."));
        }
        let Some(id) = id else {
            return Err(refuse(400, -2013, "Order does not exist."));
        };
        let o = self.venue.state.lock().expect("venue lock").m.orders[&id].clone();
        Ok(Response::json(200, self.query_json(&o)))
    }

    fn cancel_order(&mut self, acct: usize) -> Result<Option<Response>, Refused> {
        let inst = self.inst()?;
        self.client_id = self.get("origClientOrderId").map(str::to_string);
        let id = self.find(acct, inst)?;
        let unknown = || refuse(400, -2011, "Unknown order sent.");
        let Some(id) = id else { return Err(unknown()) };
        let faults = &self.shared.faults;
        let vname = &self.venue.cfg.name;
        if faults.take(self.v, FaultKind::Cancel2011) {
            self.shared.oracle.fault(
                lyra_shm::clock::wall_now_ns(),
                vname,
                "cancel_2011",
                "order left working",
            );
            return Err(unknown());
        }
        let mut st = self.venue.state.lock().expect("venue lock");
        let mut fx = Effects::default();
        if faults.take(self.v, FaultKind::FillRacingCancel) {
            self.shared.oracle.fault(
                lyra_shm::clock::wall_now_ns(),
                vname,
                "fill_racing_cancel",
                "filled before the cancel",
            );
            st.m.force_fill(id, self.now, &mut fx);
        }
        let cancel_id = self
            .get("newClientOrderId")
            .map(str::to_string)
            .unwrap_or_else(|| format!("cancel{}", id));
        let cancelled = st.m.cancel(id, self.now, &mut fx);
        if let Some(Exec {
            exec: ExecType::Canceled,
            cancel_id: c,
            ..
        }) = fx.execs.last_mut()
        {
            *c = Some(cancel_id.clone());
        }
        st.publish(self.venue, fx, self.now, faults, &self.shared.oracle);
        drop(st);
        let Some(o) = cancelled else {
            return Err(unknown());
        };
        let sym = self.symbol.clone().unwrap_or_default();
        let body = Obj::new()
            .s("symbol", &sym)
            .s("origClientOrderId", &o.client_id)
            .n("orderId", o.id as i64)
            .n("orderListId", -1)
            .s("clientOrderId", &cancel_id)
            .n("transactTime", self.now as i64)
            .d("price", o.px)
            .d("origQty", o.qty)
            .d("executedQty", o.executed)
            .d("origQuoteOrderQty", 0)
            .d("cummulativeQuoteQty", o.cum_quote)
            .s("status", status(o.status))
            .s("timeInForce", tif_str(o.tif))
            .s("type", ord_type(o.ord_type))
            .s("side", side_str(o.side))
            .s("selfTradePreventionMode", stp_str(o.stp))
            .done();
        Ok(Some(Response::json(200, body)))
    }

    fn open_orders(&mut self, acct: usize) -> Result<Response, Refused> {
        let inst = if self.get("symbol").is_some() {
            Some(self.inst()?)
        } else {
            None
        };
        let st = self.venue.state.lock().expect("venue lock");
        let mut list: Vec<&Order> = st
            .m
            .orders
            .values()
            .filter(|o| o.account == acct && o.status.is_open() && inst.is_none_or(|i| i == o.inst))
            .collect();
        list.sort_by_key(|o| o.id);
        let items: Vec<String> = list
            .iter()
            .map(|o| {
                let mut c = Ctx {
                    symbol: Some(st.m.instruments[o.inst].symbol.clone()),
                    ..self.shallow()
                };
                c.params.clear();
                c.query_json(o)
            })
            .collect();
        Ok(Response::json(200, array(items)))
    }

    /// A copy of the request context for formatting helpers.
    fn shallow(&self) -> Ctx<'_> {
        Ctx {
            shared: self.shared,
            v: self.v,
            venue: self.venue,
            req: self.req,
            params: Vec::new(),
            body: String::new(),
            now: self.now,
            order_headers: None,
            client_id: None,
            symbol: None,
            book_seq: None,
        }
    }

    fn my_trades(&mut self, acct: usize) -> Result<Response, Refused> {
        let inst = self.inst()?;
        let order_id: Option<u64> = self.get("orderId").and_then(|s| s.parse().ok());
        let limit: usize = self
            .get("limit")
            .and_then(|s| s.parse().ok())
            .unwrap_or(500)
            .min(1000);
        let st = self.venue.state.lock().expect("venue lock");
        let sym = &st.m.instruments[inst].symbol;
        let mut rows: Vec<(u64, String)> = Vec::new();
        for o in
            st.m.orders.values().filter(|o| {
                o.account == acct && o.inst == inst && order_id.is_none_or(|i| i == o.id)
            })
        {
            for f in &o.fills {
                let mut s = String::new();
                let _ = write!(
                    s,
                    "{}",
                    Obj::new()
                        .s("symbol", sym)
                        .n("id", f.trade_id as i64)
                        .n("orderId", o.id as i64)
                        .n("orderListId", -1)
                        .d("price", f.px)
                        .d("qty", f.qty)
                        .d("quoteQty", mul(f.px, f.qty))
                        .d("commission", f.commission)
                        .s("commissionAsset", &f.commission_asset)
                        .n("time", f.time_ms as i64)
                        .b("isBuyer", o.side == Side::Buy)
                        .b("isMaker", f.maker)
                        .b("isBestMatch", true)
                        .done()
                );
                rows.push((f.trade_id, s));
            }
        }
        rows.sort_by_key(|r| r.0);
        let start = rows.len().saturating_sub(limit);
        Ok(Response::json(
            200,
            array(rows.into_iter().skip(start).map(|r| r.1)),
        ))
    }
}
