//! Kraken WebSocket v2 private channel `executions` (PROTOCOLS-ORDERS C.5), served on the same
//! `/v2` socket as the public book (the simulator has one host; Kraken's is `ws-auth`): a
//! `subscribe` carrying a token from REST `GetWebSocketsToken` (unknown or expired →
//! `ESession:Invalid session`), a `snapshot` of the account's open orders (`snap_orders`,
//! default true), then one `update` per report, every message numbered by `sequence`.
//! Reports come from the matching engine's executions — `new`, `trade` (with `last_qty`,
//! `last_price`, `cost`, `fees`, `liquidity_ind`), then `filled` when a trade completes the
//! order, `canceled`, `expired` — numbers as JSON numbers, TIF upper-case.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::channel::Sender;
use serde_json::Value;

use super::{
    super::{
        config::{mul, Instrument, ONE},
        matching::{Exec, ExecType, Matcher, OrdType, Order, Side, Status, Tif},
        venue::{Outbound, UserSub},
        Shared,
    },
    px_text, qty_text,
    rest::txid,
    symbol,
    ws::rfc3339,
};

/// Process-wide execution ids.
static EXEC_ID: AtomicU64 = AtomicU64::new(1);

/// Kraken's `order_status` of an order.
fn order_status(s: Status) -> &'static str {
    match s {
        Status::New => "new",
        Status::PartiallyFilled => "partially_filled",
        Status::Filled => "filled",
        Status::Canceled => "canceled",
        Status::Expired | Status::ExpiredInMatch => "expired",
    }
}

/// A JSON object written field by field (numbers stay exact decimal text).
struct Obj(String);

impl Obj {
    fn new() -> Self {
        Self(String::from("{"))
    }
    fn raw(mut self, k: &str, v: &str) -> Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(k);
        self.0.push_str("\":");
        self.0.push_str(v);
        self
    }
    fn s(self, k: &str, v: &str) -> Self {
        let q = serde_json::to_string(v).unwrap_or_default();
        self.raw(k, &q)
    }
    fn done(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// One report of order `o` with `exec_type`, and the fill's fields for a trade.
fn report(ins: &Instrument, o: &Order, exec_type: &str, fill: Option<&Exec>, ts_ms: u64) -> String {
    let exec_id = EXEC_ID.fetch_add(1, Ordering::Relaxed);
    let mut r = Obj::new()
        .s("order_id", &txid(o.id))
        .s("cl_ord_id", &o.client_id)
        .s("symbol", &symbol(ins))
        .s("side", if o.side == Side::Buy { "buy" } else { "sell" })
        .s(
            "order_type",
            if o.ord_type == OrdType::Market {
                "market"
            } else {
                "limit"
            },
        )
        .raw("order_qty", &qty_text(o.qty));
    if o.px > 0 {
        r = r.raw("limit_price", &px_text(ins, o.px));
    }
    let tif = match o.tif {
        Tif::Gtc => "GTC",
        Tif::Ioc => "IOC",
        Tif::Fok => "FOK",
    };
    r = r
        .s("time_in_force", tif)
        .raw("post_only", bool_text(o.ord_type == OrdType::LimitMaker))
        .s("exec_type", exec_type)
        .s("order_status", order_status(o.status))
        .s("exec_id", &format!("ESIMUL-EXEC0-{exec_id:06}"));
    if let Some(f) = fill.and_then(|e| e.fill.as_ref()) {
        r = r
            .raw("trade_id", &f.trade_id.to_string())
            .raw("last_qty", &qty_text(f.qty))
            .raw("last_price", &px_text(ins, f.px))
            .s("liquidity_ind", if f.maker { "m" } else { "t" })
            .raw("cost", &qty_text(mul(f.px, f.qty)))
            .raw(
                "fees",
                &format!(
                    r#"[{{"asset":{},"qty":{}}}]"#,
                    serde_json::to_string(&f.commission_asset).unwrap_or_default(),
                    qty_text(f.commission)
                ),
            );
    }
    r = r
        .raw("cum_qty", &qty_text(o.executed))
        .raw("cum_cost", &qty_text(o.cum_quote));
    if o.executed > 0 {
        let avg = (o.cum_quote as i128 * ONE as i128 / o.executed as i128) as i64;
        r = r.raw("avg_price", &px_text(ins, avg));
    }
    if exec_type == "canceled" {
        r = r.s("reason", "User requested");
    }
    r.s("timestamp", &rfc3339(ts_ms)).done()
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// The `executions` reports of one matching-engine execution (a trade that completes the
/// order is followed by a `filled` report, as on Kraken).
pub fn execution_reports(m: &Matcher, e: &Exec, now_ms: u64) -> Vec<String> {
    let o = &e.order;
    let ins = &m.instruments[o.inst];
    match e.exec {
        ExecType::New => vec![report(ins, o, "new", None, o.time_ms)],
        ExecType::Trade => {
            let t = e.fill.as_ref().map_or(now_ms, |f| f.time_ms);
            let mut v = vec![report(ins, o, "trade", Some(e), t)];
            if o.status == Status::Filled {
                v.push(report(ins, o, "filled", None, t));
            }
            v
        }
        ExecType::Canceled => vec![report(ins, o, "canceled", None, o.update_ms)],
        ExecType::Expired | ExecType::TradePrevention => {
            vec![report(ins, o, "expired", None, o.update_ms)]
        }
    }
}

/// The `executions` state of one `/v2` connection.
#[derive(Debug, Default)]
pub struct Executions {
    /// Subscribed account.
    account: Option<usize>,
    /// Last `sequence` sent.
    seq: u64,
}

impl Executions {
    /// Wraps one report in an `update` message (None if this connection is not subscribed).
    pub fn render(&mut self, data: &str) -> Option<String> {
        self.account?;
        self.seq += 1;
        Some(format!(
            r#"{{"channel":"executions","type":"update","data":[{data}],"sequence":{}}}"#,
            self.seq
        ))
    }

    /// Handles an `executions` subscribe/unsubscribe; replies (ack, snapshot) go to `out`.
    #[allow(clippy::too_many_arguments)] // the request's parts and the connection's queue
    pub fn on_request(
        &mut self,
        shared: &Shared,
        v: usize,
        tx: &Sender<Outbound>,
        method: &str,
        params: &Value,
        req_id: &Value,
        stamp: &str,
        out: &mut Vec<String>,
    ) {
        let rid = if req_id.is_null() {
            String::new()
        } else {
            format!(r#""req_id":{req_id},"#)
        };
        let fail = |e: &str| {
            format!(r#"{{"error":"{e}","method":"{method}",{rid}"success":false,{stamp}}}"#)
        };
        let token = params.get("token").and_then(Value::as_str).unwrap_or("");
        let now = shared.now_ms(v);
        let mut st = shared.venues[v].state.lock().expect("venue lock");
        // A token is good for 15 minutes before first use; a live subscription keeps it.
        let Some(acct) = st
            .kr_tokens
            .get(token)
            .filter(|(_, exp)| *exp > now || self.account.is_some())
            .map(|(a, _)| *a)
        else {
            out.push(fail("ESession:Invalid session"));
            return;
        };
        let ack = |snap: bool| {
            format!(
                r#"{{"method":"{method}",{rid}"result":{{"channel":"executions","maxratecount":180,"snapshot":{snap}}},"success":true,{stamp}}}"#
            )
        };
        if method == "unsubscribe" {
            st.users.retain(|u| !u.tx.same_channel(tx));
            self.account = None;
            out.push(ack(false));
            return;
        }
        let snap = params
            .get("snap_orders")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        out.push(ack(snap));
        if self.account.is_none() {
            st.users.push(UserSub {
                account: acct,
                sub_id: 0,
                tx: tx.clone(),
            });
        }
        self.account = Some(acct);
        if snap {
            let mut open: Vec<&Order> =
                st.m.orders
                    .values()
                    .filter(|o| o.account == acct && o.status.is_open())
                    .collect();
            open.sort_by_key(|o| o.id);
            let items: Vec<String> = open
                .iter()
                .map(|o| report(&st.m.instruments[o.inst], o, "new", None, o.update_ms))
                .collect();
            self.seq += 1;
            out.push(format!(
                r#"{{"channel":"executions","type":"snapshot","data":[{}],"sequence":{}}}"#,
                items.join(","),
                self.seq
            ));
        }
    }
}
