//! The Binance user data stream as it is now (PROTOCOLS-ORDERS A.5/A.6): the WebSocket API on
//! `/ws-api/v3`, `userDataStream.subscribe.signature` (HMAC keys, no logon) answering
//! `{"subscriptionId":N}`, then events framed `{"subscriptionId":N,"event":{…}}` —
//! `executionReport` and `outboundAccountPosition`. Also `ping`, `time` and
//! `userDataStream.unsubscribe`.

use std::sync::{atomic::AtomicU64, Arc};

use crossbeam::channel::bounded;
use serde_json::Value;
use tungstenite::WebSocket;

use super::{
    super::{
        matching::{Exec, ExecType, Matcher, OrdType, Side, Status, Stp, Tif},
        server::Stream,
        venue::{Outbound, UserSub},
        Shared,
    },
    array, sign,
    ws::{pump, Handler, QUEUE},
    Obj,
};

/// Process-wide execution ids (`I`).
static EXEC_ID: AtomicU64 = AtomicU64::new(1);

/// Binance spelling of a side.
pub fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// Binance spelling of an order type.
pub fn ord_type(t: OrdType) -> &'static str {
    match t {
        OrdType::Limit => "LIMIT",
        OrdType::LimitMaker => "LIMIT_MAKER",
        OrdType::Market => "MARKET",
    }
}

/// Binance spelling of a time in force.
pub fn tif(t: Tif) -> &'static str {
    match t {
        Tif::Gtc => "GTC",
        Tif::Ioc => "IOC",
        Tif::Fok => "FOK",
    }
}

/// Binance spelling of an order status.
pub fn status(s: Status) -> &'static str {
    match s {
        Status::New => "NEW",
        Status::PartiallyFilled => "PARTIALLY_FILLED",
        Status::Filled => "FILLED",
        Status::Canceled => "CANCELED",
        Status::Expired => "EXPIRED",
        Status::ExpiredInMatch => "EXPIRED_IN_MATCH",
    }
}

/// Binance spelling of an STP mode.
pub fn stp(s: Stp) -> &'static str {
    match s {
        Stp::None => "NONE",
        Stp::ExpireTaker => "EXPIRE_TAKER",
        Stp::ExpireMaker => "EXPIRE_MAKER",
        Stp::ExpireBoth => "EXPIRE_BOTH",
    }
}

/// An `executionReport` event.
pub fn execution_report(m: &Matcher, e: &Exec, now_ms: u64) -> String {
    let o = &e.order;
    let sym = &m.instruments[o.inst].symbol;
    let x = match e.exec {
        ExecType::New => "NEW",
        ExecType::Trade => "TRADE",
        ExecType::Canceled => "CANCELED",
        ExecType::Expired => "EXPIRED",
        ExecType::TradePrevention => "TRADE_PREVENTION",
    };
    let (c, big_c) = match &e.cancel_id {
        Some(cid) => (cid.as_str(), o.client_id.as_str()),
        None => (o.client_id.as_str(), ""),
    };
    let (l, lp, n, asset, t, maker, lq) = match &e.fill {
        Some(f) => (
            f.qty,
            f.px,
            f.commission,
            Some(f.commission_asset.as_str()),
            f.trade_id as i64,
            f.maker,
            super::super::config::mul(f.px, f.qty),
        ),
        None => (0, 0, 0, None, -1, false, 0),
    };
    let transact = e.fill.as_ref().map_or(o.update_ms, |f| f.time_ms);
    let on_book = o.status.is_open() && o.ord_type != OrdType::Market;
    let exec_id = EXEC_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut obj = Obj::new()
        .s("e", "executionReport")
        .n("E", now_ms as i64)
        .s("s", sym)
        .s("c", c)
        .s("S", side(o.side))
        .s("o", ord_type(o.ord_type))
        .s("f", tif(o.tif))
        .d("q", o.qty)
        .d("p", o.px)
        .d("P", 0)
        .d("F", 0)
        .n("g", -1)
        .s("C", big_c)
        .s("x", x)
        .s("X", status(o.status))
        .s("r", "NONE")
        .n("i", o.id as i64)
        .d("l", l)
        .d("z", o.executed)
        .d("L", lp)
        .d("n", n);
    obj = match asset {
        Some(a) => obj.s("N", a),
        None => obj.raw("N", "null"),
    };
    obj = obj
        .n("T", transact as i64)
        .n("t", t)
        .n("I", exec_id as i64)
        .b("w", on_book)
        .b("m", maker)
        .b("M", false)
        .n("O", o.time_ms as i64)
        .d("Z", o.cum_quote)
        .d("Y", lq)
        .d("Q", 0);
    if on_book || e.exec == ExecType::New {
        obj = obj.n("W", o.time_ms as i64);
    }
    obj.s("V", stp(o.stp)).done()
}

/// An `outboundAccountPosition` event for `assets` of account `a`.
pub fn account_position(m: &Matcher, a: usize, assets: &[&str], now_ms: u64) -> String {
    let bals = array(assets.iter().map(|asset| {
        let b = m.accounts[a]
            .balances
            .get(*asset)
            .copied()
            .unwrap_or_default();
        Obj::new()
            .s("a", asset)
            .d("f", b.free)
            .d("l", b.locked)
            .done()
    }));
    Obj::new()
        .s("e", "outboundAccountPosition")
        .n("E", now_ms as i64)
        .n("u", now_ms as i64)
        .raw("B", &bals)
        .done()
}

/// One WebSocket API connection.
struct WsApi<'a> {
    shared: &'a Shared,
    v: usize,
    tx: crossbeam::channel::Sender<Outbound>,
    next_sub: u64,
}

impl WsApi<'_> {
    fn rate_limits(&self) -> String {
        let limit = self.shared.venues[self.v].cfg.weight_per_minute;
        format!(
            r#"[{{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":{limit},"count":2}}]"#
        )
    }

    fn ok(&self, id: &Value, result: &str) -> String {
        format!(
            r#"{{"id":{id},"status":200,"result":{result},"rateLimits":{}}}"#,
            self.rate_limits()
        )
    }

    fn err(&self, id: &Value, http: u16, code: i64, msg: &str) -> String {
        format!(
            r#"{{"id":{id},"status":{http},"error":{},"rateLimits":{}}}"#,
            super::error_body(code, msg),
            self.rate_limits()
        )
    }

    /// Verifies `apiKey`/`timestamp`/`signature` params; the account index or an error frame.
    fn auth(&self, id: &Value, params: &[(String, String)]) -> Result<usize, String> {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let Some(key) = get("apiKey") else {
            return Err(self.err(
                id,
                400,
                -1102,
                "Mandatory parameter 'apiKey' was not sent, was empty/null, or malformed.",
            ));
        };
        let st = self.shared.venues[self.v].state.lock().expect("venue lock");
        let Some(acct) = st.m.accounts.iter().position(|a| a.api_key == key) else {
            return Err(self.err(
                id,
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        };
        let secret = st.m.accounts[acct].secret.clone();
        drop(st);
        let Some(sig) = get("signature") else {
            return Err(self.err(
                id,
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            ));
        };
        if !sign::verify(&secret, sign::ws_payload(params).as_bytes(), sig) {
            return Err(self.err(id, 400, -1022, "Signature for this request is not valid."));
        }
        let now = self.shared.now_ms(self.v);
        if let Err((code, msg)) =
            super::rest::check_timestamp(get("timestamp"), get("recvWindow"), now)
        {
            return Err(self.err(id, 400, code, &msg));
        }
        Ok(acct)
    }
}

impl Handler for WsApi<'_> {
    fn on_text(&mut self, text: &str, out: &mut Vec<String>) {
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            out.push(self.err(&Value::Null, 400, -1000, "Malformed request."));
            return;
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let params: Vec<(String, String)> = req
            .get("params")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        match req.get("method").and_then(Value::as_str) {
            Some("ping") => out.push(self.ok(&id, "{}")),
            Some("time") => out.push(self.ok(
                &id,
                &format!(r#"{{"serverTime":{}}}"#, self.shared.now_ms(self.v)),
            )),
            Some("userDataStream.subscribe.signature") => match self.auth(&id, &params) {
                Ok(acct) => {
                    let sub_id = self.next_sub;
                    self.next_sub += 1;
                    self.shared.venues[self.v]
                        .state
                        .lock()
                        .expect("venue lock")
                        .users
                        .push(UserSub {
                            account: acct,
                            sub_id,
                            tx: self.tx.clone(),
                        });
                    out.push(self.ok(&id, &format!(r#"{{"subscriptionId":{sub_id}}}"#)));
                }
                Err(e) => out.push(e),
            },
            Some("userDataStream.unsubscribe") => {
                let mut st = self.shared.venues[self.v].state.lock().expect("venue lock");
                st.users.retain(|u| !u.tx.same_channel(&self.tx));
                out.push(self.ok(&id, "{}"));
            }
            Some("userDataStream.start" | "userDataStream.ping" | "userDataStream.stop") => {
                // Switched off on 2026-02-20 with the listenKey REST endpoints.
                out.push(self.err(&id, 400, -1000, "listenKey user data streams are retired; use userDataStream.subscribe.signature."));
            }
            _ => out.push(self.err(&id, 400, -1000, "Unknown method.")),
        }
    }

    fn render(&mut self, o: Outbound) -> Option<String> {
        match o {
            Outbound::User(f) => Some(f.to_string()),
            Outbound::Market { .. } | Outbound::Private { .. } => None,
        }
    }
}

/// Serves a `/ws-api/v3` connection.
pub fn serve(shared: &Arc<Shared>, v: usize, ws: WebSocket<Stream>) {
    let (tx, rx) = bounded(QUEUE);
    let mut h = WsApi {
        shared,
        v,
        tx,
        next_sub: 0,
    };
    pump(shared, v, ws, rx, &mut h, false);
    let mut st = shared.venues[v].state.lock().expect("venue lock");
    st.users.retain(|u| !u.tx.same_channel(&h.tx));
}
