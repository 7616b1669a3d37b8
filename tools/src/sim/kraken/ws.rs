//! Kraken WebSocket v2 (`/v2`): `book` subscriptions at the venue's depth, snapshot then
//! window updates with checksums, `{"method":"ping"}` → `pong`; the private `executions`
//! channel on the same socket ([`super::private_ws`]).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use crossbeam::channel::{bounded, Sender};
use serde_json::Value;
use tungstenite::WebSocket;

use super::{
    super::{
        binance::ws::{pump, Handler, QUEUE},
        config::{push_fixed, Instrument, SCALE},
        faults::FaultKind,
        server::Stream,
        venue::{MarketSub, Outbound, DEPTH, KINDS},
        Shared,
    },
    checksum, decimals,
    private_ws::Executions,
    symbol,
};

/// Levels as Kraken v2 prints them (price at the instrument's precision, quantity with 8
/// decimals, as [`super::px_text`] / [`super::qty_text`] do, written in place).
fn levels(out: &mut String, ins: &Instrument, lv: &[(i64, i64)]) {
    let px_decimals = decimals(ins.tick);
    out.push('[');
    for (i, (p, q)) in lv.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"price\":");
        push_fixed(out, *p, px_decimals);
        out.push_str(",\"qty\":");
        push_fixed(out, *q, SCALE);
        out.push('}');
    }
    out.push(']');
}

/// RFC 3339 with µs of `ms` since the epoch.
pub fn rfc3339(ms: u64) -> String {
    let iso = super::super::okx::sign::iso_ms(ms);
    format!("{}000Z", iso.trim_end_matches('Z'))
}

/// A `book` message (`kind` "snapshot" or "update").
pub fn book_frame(
    ins: &Instrument,
    kind: &str,
    now_ms: u64,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    ck: u32,
) -> String {
    let mut s = format!(
        r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"{}","bids":"#,
        symbol(ins)
    );
    levels(&mut s, ins, bids);
    s.push_str(",\"asks\":");
    levels(&mut s, ins, asks);
    s.push_str(&format!(r#","checksum":{ck}"#));
    if kind == "update" {
        s.push_str(&format!(r#","timestamp":"{}""#, rfc3339(now_ms)));
    }
    s.push_str("}]}");
    s
}

/// One book window: (bids best first, asks best first), `(price, qty)` mantissas.
pub type Window = (Vec<(i64, i64)>, Vec<(i64, i64)>);

/// The window update of one instrument: levels of the new top `depth` that are new or changed,
/// plus zeros for old-window levels that left the book (levels pushed out by better ones are
/// left to the client's truncation, as Kraken does). `None` if the window did not change.
pub fn window_update(
    old: &Window,
    new: &Window,
    still_there: impl Fn(bool, i64) -> bool,
) -> Option<Window> {
    let side = |o: &[(i64, i64)], n: &[(i64, i64)], bid: bool| {
        let mut out: Vec<(i64, i64)> = Vec::new();
        for &(p, _) in o {
            if !n.iter().any(|l| l.0 == p) && !still_there(bid, p) {
                out.push((p, 0));
            }
        }
        for &l in n {
            if !o.contains(&l) {
                out.push(l);
            }
        }
        out
    };
    let b = side(&old.0, &new.0, true);
    let a = side(&old.1, &new.1, false);
    (!b.is_empty() || !a.is_empty()).then_some((b, a))
}

struct Public<'a> {
    shared: &'a Shared,
    v: usize,
    tx: Sender<Outbound>,
    symbols: Vec<String>,
    wants: Arc<Vec<AtomicBool>>,
    never_ack: bool,
    /// The private `executions` channel on this socket.
    exec: Executions,
}

impl Handler for Public<'_> {
    fn on_text(&mut self, text: &str, out: &mut Vec<String>) {
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            out.push(r#"{"error":"Malformed request","method":"","success":false}"#.into());
            return;
        };
        let req_id = req.get("req_id").cloned().unwrap_or(Value::Null);
        let now = self.shared.now_ms(self.v);
        let stamp = format!(r#""time_in":"{0}","time_out":"{0}""#, rfc3339(now));
        let method = req.get("method").and_then(Value::as_str).unwrap_or("");
        if method == "ping" {
            out.push(format!(r#"{{"method":"pong","req_id":{req_id},{stamp}}}"#));
            return;
        }
        let params = req.get("params").cloned().unwrap_or(Value::Null);
        let channel = params.get("channel").and_then(Value::as_str).unwrap_or("");
        let venue_depth = self.shared.venues[self.v].cfg.kraken_depth;
        let depth = params.get("depth").and_then(Value::as_u64).unwrap_or(10) as usize;
        let syms: Vec<String> = params
            .get("symbol")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if matches!(method, "subscribe" | "unsubscribe") && channel == "executions" {
            self.exec.on_request(
                self.shared,
                self.v,
                &self.tx,
                method,
                &params,
                &req_id,
                &stamp,
                out,
            );
            return;
        }
        if !matches!(method, "subscribe" | "unsubscribe") || channel != "book" {
            out.push(format!(
                r#"{{"error":"Channel or method not supported by the simulator","method":"{method}","req_id":{req_id},"success":false,{stamp}}}"#
            ));
            return;
        }
        for sym in syms {
            let Some(idx) = self.symbols.iter().position(|s| *s == sym) else {
                out.push(format!(
                    r#"{{"error":"Currency pair not supported {sym}","method":"{method}","req_id":{req_id},"success":false,"symbol":"{sym}",{stamp}}}"#
                ));
                continue;
            };
            if depth != venue_depth {
                out.push(format!(
                    r#"{{"error":"Unsupported depth {depth} (the simulator serves {venue_depth})","method":"{method}","req_id":{req_id},"success":false,"symbol":"{sym}",{stamp}}}"#
                ));
                continue;
            }
            // Kraken puts `req_id` right after `method` (when the request had one).
            let rid = if req_id.is_null() {
                String::new()
            } else {
                format!(r#""req_id":{req_id},"#)
            };
            let ack = format!(
                r#"{{"method":"{method}",{rid}"result":{{"channel":"book","depth":{depth},"snapshot":true,"symbol":"{sym}"}},"success":true,{stamp}}}"#
            );
            if method == "unsubscribe" {
                self.wants[idx * KINDS + DEPTH].store(false, Ordering::Relaxed);
                out.push(ack);
                continue;
            }
            if self.never_ack {
                self.never_ack = false;
                continue;
            }
            out.push(ack);
            let mut st = self.shared.venues[self.v].state.lock().expect("venue lock");
            self.wants[idx * KINDS + DEPTH].store(true, Ordering::Relaxed);
            if self.shared.replayed(self.v) {
                // A replayed venue's snapshots are frames of the capture.
                continue;
            }
            let bids = st.m.depth(idx, true, depth);
            let asks = st.m.depth(idx, false, depth);
            // The published window is now what this subscriber holds.
            st.kr_window[idx] = (bids.clone(), asks.clone());
            let ins = &st.m.instruments[idx];
            let data = book_frame(
                ins,
                "snapshot",
                now,
                &bids,
                &asks,
                checksum(ins, &bids, &asks),
            );
            let _ = self.tx.try_send(Outbound::Market {
                inst: idx as u16,
                kind: DEPTH as u8,
                data: Arc::from(data),
            });
        }
    }

    fn render(&mut self, o: Outbound) -> Option<String> {
        match o {
            Outbound::Market { inst, kind, data }
                if self.wants[inst as usize * KINDS + kind as usize].load(Ordering::Relaxed) =>
            {
                Some(data.to_string())
            }
            Outbound::Private { data, .. } => self.exec.render(&data),
            _ => None,
        }
    }
}

/// Serves a Kraken WebSocket connection (`/v2`).
pub fn serve(shared: &Arc<Shared>, v: usize, ws: WebSocket<Stream>, path: &str) {
    if path != "/v2" {
        return;
    }
    let venue = &shared.venues[v];
    let symbols: Vec<String> = {
        let st = venue.state.lock().expect("venue lock");
        st.m.instruments.iter().map(symbol).collect()
    };
    let wants: Arc<Vec<AtomicBool>> = Arc::new(
        (0..symbols.len() * KINDS)
            .map(|_| AtomicBool::new(false))
            .collect(),
    );
    let never_ack = shared.faults.take(v, FaultKind::NeverAck);
    let (tx, rx) = bounded(QUEUE);
    venue
        .state
        .lock()
        .expect("venue lock")
        .subs
        .push(MarketSub {
            wants: wants.clone(),
            tx: tx.clone(),
        });
    let mut h = Public {
        shared,
        v,
        tx,
        symbols,
        wants,
        never_ack,
        exec: Executions::default(),
    };
    pump(shared, v, ws, rx, &mut h, true);
    let mut st = venue.state.lock().expect("venue lock");
    st.users.retain(|u| !u.tx.same_channel(&h.tx));
}
