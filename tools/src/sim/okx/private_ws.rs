//! OKX private WebSocket (`/ws/v5/private`, PROTOCOLS-ORDERS B.5): `login` with the signed
//! `apiKey/passphrase/timestamp/sign` (sign = Base64(HMAC-SHA256(secret, ts + "GET" +
//! "/users/self/verify")), ts in Unix seconds, valid 30 s), then `orders` subscriptions
//! (`instType` `SPOT`/`ANY`, optional `instId`; no snapshot). Each matching-engine execution of
//! the account becomes one push whose fill fields (`fillSz`, `fillPx`, `tradeId`, `fillFee`,
//! `execType`) describe that update, driven by the same effects as the Binance user stream.

use std::sync::Arc;

use crossbeam::channel::{bounded, Sender};
use serde_json::Value;
use tungstenite::WebSocket;

use super::{
    super::{
        binance::ws::{pump, Handler, QUEUE},
        matching::{Exec, ExecType, Matcher},
        server::Stream,
        venue::{Outbound, UserSub},
        Shared,
    },
    canon, inst_id,
    rest::{neg, order_json},
    sign,
};

/// The request path OKX signs for a WebSocket login.
const VERIFY_PATH: &str = "/users/self/verify";
/// How far a login timestamp may be from the server clock, ms.
const LOGIN_WINDOW_MS: u64 = 30_000;

/// The simulator's OKX user id of account `acct` (pushes carry it in `arg.uid`).
pub fn uid(acct: usize) -> String {
    (448_000_000_000u64 + acct as u64).to_string()
}

/// The signature a client sends in `login` (`ts` in Unix seconds, as text).
pub fn login_sign(secret: &str, ts: &str) -> String {
    sign::sign(secret, ts, "GET", VERIFY_PATH, "")
}

/// One `orders` push item for execution `e`: the order as `GET /api/v5/trade/order` shows it
/// after the execution, with the fill fields describing this execution only.
pub fn order_push(m: &Matcher, e: &Exec) -> String {
    let o = &e.order;
    let mut v = order_json(o, &m.instruments[o.inst]);
    let Some(obj) = v.as_object_mut() else {
        return v.to_string();
    };
    let set = |obj: &mut serde_json::Map<String, Value>, k: &str, x: String| {
        obj.insert(k.to_string(), Value::String(x));
    };
    match &e.fill {
        Some(f) => {
            set(obj, "fillPx", canon(f.px));
            set(obj, "fillSz", canon(f.qty));
            set(obj, "fillTime", f.time_ms.to_string());
            set(obj, "tradeId", f.trade_id.to_string());
            set(obj, "fillFee", neg(f.commission));
            set(obj, "fillFeeCcy", f.commission_asset.clone());
            set(obj, "execType", if f.maker { "M" } else { "T" }.into());
            set(obj, "lastPx", canon(f.px));
        }
        None => {
            set(obj, "fillPx", String::new());
            set(obj, "fillSz", "0".into());
            set(obj, "fillTime", String::new());
            set(obj, "tradeId", String::new());
            set(obj, "fillFee", "0".into());
            set(obj, "fillFeeCcy", String::new());
            set(obj, "execType", String::new());
            set(obj, "lastPx", String::new());
        }
    }
    let source = match e.exec {
        ExecType::Canceled => "1",
        ExecType::Expired | ExecType::TradePrevention => "0",
        ExecType::New | ExecType::Trade => "",
    };
    set(obj, "cancelSource", source.into());
    set(obj, "fillNotionalUsd", String::new());
    set(obj, "amendResult", String::new());
    set(obj, "reqId", String::new());
    set(obj, "code", "0".into());
    set(obj, "msg", String::new());
    v.to_string()
}

/// One `orders` subscription of a connection.
struct OrdersSub {
    /// `SPOT` or `ANY`, as the client sent it.
    inst_type: String,
    /// Instrument filter.
    inst: Option<usize>,
}

/// One private connection.
struct Private<'a> {
    shared: &'a Shared,
    v: usize,
    tx: Sender<Outbound>,
    inst_ids: Vec<String>,
    /// Logged-in account.
    account: Option<usize>,
    /// Registered with the venue's private fan-out.
    registered: bool,
    subs: Vec<OrdersSub>,
}

impl Private<'_> {
    fn conn_id(&self) -> String {
        format!("simp{:05}", self.v)
    }

    fn error(&self, code: &str, msg: &str) -> String {
        format!(
            r#"{{"event":"error","code":"{code}","msg":{},"connId":"{}"}}"#,
            serde_json::to_string(msg).unwrap_or_default(),
            self.conn_id()
        )
    }

    /// Verifies a login arg; the account or an error frame.
    fn login(&self, arg: &Value) -> Result<usize, String> {
        let f = |k: &str| arg.get(k).and_then(Value::as_str).unwrap_or("");
        let (key, pass, ts, sig) = (f("apiKey"), f("passphrase"), f("timestamp"), f("sign"));
        let st = self.shared.venues[self.v].state.lock().expect("venue lock");
        let Some(acct) =
            st.m.accounts
                .iter()
                .position(|a| a.api_key == key && !key.is_empty())
        else {
            return Err(self.error("60005", "Invalid OK-ACCESS-KEY"));
        };
        let (secret, passphrase) = (
            st.m.accounts[acct].secret.clone(),
            st.m.accounts[acct].passphrase.clone(),
        );
        drop(st);
        let Some(ts_ms) = parse_secs_ms(ts) else {
            return Err(self.error("60004", "Invalid timestamp"));
        };
        if ts_ms.abs_diff(self.shared.now_ms(self.v)) > LOGIN_WINDOW_MS {
            return Err(self.error("60006", "Timestamp request expired"));
        }
        if pass != passphrase {
            return Err(self.error("60024", "Wrong passphrase"));
        }
        if login_sign(&secret, ts) != sig {
            return Err(self.error("60009", "Login failed."));
        }
        Ok(acct)
    }

    fn on_subscribe(&mut self, op: &str, arg: &Value, out: &mut Vec<String>) {
        let Some(acct) = self.account else {
            out.push(self.error("60011", "Please log in"));
            return;
        };
        let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
        let inst_type = arg.get("instType").and_then(Value::as_str).unwrap_or("");
        let inst_id = arg.get("instId").and_then(Value::as_str);
        let inst = inst_id.map(|i| self.inst_ids.iter().position(|x| x == i));
        if channel != "orders" || !matches!(inst_type, "SPOT" | "ANY") || inst == Some(None) {
            out.push(self.error(
                "60018",
                &format!(
                    "Wrong URL or channel:{channel},instType:{inst_type},instId:{} doesn't exist.",
                    inst_id.unwrap_or("")
                ),
            ));
            return;
        }
        let inst = inst.flatten();
        let arg_text = arg.to_string();
        let ack = format!(
            r#"{{"event":"{op}","arg":{arg_text},"connId":"{}"}}"#,
            self.conn_id()
        );
        if op == "unsubscribe" {
            self.subs
                .retain(|s| !(s.inst_type == inst_type && s.inst == inst));
            out.push(ack);
            return;
        }
        if !self
            .subs
            .iter()
            .any(|s| s.inst_type == inst_type && s.inst == inst)
        {
            self.subs.push(OrdersSub {
                inst_type: inst_type.to_string(),
                inst,
            });
        }
        if !self.registered {
            // Registered under the venue lock: every execution after this ack is pushed.
            self.shared.venues[self.v]
                .state
                .lock()
                .expect("venue lock")
                .users
                .push(UserSub {
                    account: acct,
                    sub_id: 0,
                    tx: self.tx.clone(),
                });
            self.registered = true;
        }
        out.push(ack);
    }
}

/// Milliseconds of a Unix-seconds timestamp (`"1700000000"` or `"1700000000.123"`).
fn parse_secs_ms(ts: &str) -> Option<u64> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 3 {
        return None;
    }
    let ms = if frac.is_empty() {
        0
    } else {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        frac.parse::<u64>().ok()? * 10u64.pow(3 - frac.len() as u32)
    };
    secs.parse::<u64>().ok()?.checked_mul(1000)?.checked_add(ms)
}

impl Handler for Private<'_> {
    fn on_text(&mut self, text: &str, out: &mut Vec<String>) {
        if text == "ping" {
            out.push("pong".into());
            return;
        }
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            out.push(self.error("60012", "Invalid request"));
            return;
        };
        let op = req.get("op").and_then(Value::as_str).unwrap_or("");
        let args = req
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match op {
            "login" => match args.first().map(|a| self.login(a)) {
                Some(Ok(acct)) => {
                    self.account = Some(acct);
                    out.push(format!(
                        r#"{{"event":"login","code":"0","msg":"","connId":"{}"}}"#,
                        self.conn_id()
                    ));
                }
                Some(Err(e)) => out.push(e),
                None => out.push(self.error("60012", "Invalid request")),
            },
            "subscribe" | "unsubscribe" if !args.is_empty() => {
                for a in &args {
                    self.on_subscribe(op, a, out);
                }
            }
            _ => out.push(self.error(
                "60012",
                &format!("Invalid request: {}", text.replace('"', "'")),
            )),
        }
    }

    fn render(&mut self, o: Outbound) -> Option<String> {
        let Outbound::Private { inst, data } = o else {
            return None;
        };
        let acct = self.account?;
        let sub = self
            .subs
            .iter()
            .find(|s| s.inst.is_none_or(|i| i == inst as usize))?;
        let inst_type = &sub.inst_type;
        let inst_part = match sub.inst {
            Some(i) => format!(r#","instId":"{}""#, self.inst_ids[i]),
            None => String::new(),
        };
        Some(format!(
            r#"{{"arg":{{"channel":"orders","instType":"{inst_type}"{inst_part},"uid":"{}"}},"data":[{data}]}}"#,
            uid(acct)
        ))
    }
}

/// Serves a `/ws/v5/private` connection.
pub fn serve(shared: &Arc<Shared>, v: usize, ws: WebSocket<Stream>) {
    let inst_ids: Vec<String> = {
        let st = shared.venues[v].state.lock().expect("venue lock");
        st.m.instruments.iter().map(inst_id).collect()
    };
    let (tx, rx) = bounded(QUEUE);
    let mut h = Private {
        shared,
        v,
        tx,
        inst_ids,
        account: None,
        registered: false,
        subs: Vec::new(),
    };
    pump(shared, v, ws, rx, &mut h, false);
    let mut st = shared.venues[v].state.lock().expect("venue lock");
    st.users.retain(|u| !u.tx.same_channel(&h.tx));
}

#[cfg(test)]
mod tests {
    use super::parse_secs_ms;

    #[test]
    fn login_timestamps() {
        assert_eq!(parse_secs_ms("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_secs_ms("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(parse_secs_ms("2020-12-08T09:08:57.715Z"), None);
        assert_eq!(parse_secs_ms(""), None);
    }
}
