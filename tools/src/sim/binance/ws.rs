//! Binance market streams: frame builders (`depthUpdate` with `U`/`u`, `bookTicker` sharing the
//! `u` space, `trade`) and the market WebSocket connection — combined streams on
//! `/stream?streams=a/b/c`, raw streams on `/ws/<stream>`, and the `SUBSCRIBE` /
//! `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS` methods with their `{"result":..,"id":N}` replies — plus
//! the generic pump both WebSocket endpoints use, where the market-stream faults happen.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    io,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError};
use serde_json::Value;
use tungstenite::{
    protocol::{frame::coding::CloseCode, CloseFrame},
    Error as WsError, Message, WebSocket,
};

use super::super::{
    config::{fmt8, push8},
    faults::FaultKind,
    matching::PublicTrade,
    server::Stream,
    venue::{MarketSub, Outbound, BOOK_TICKER, DEPTH, KINDS, TRADE},
    Shared,
};

/// Queue length per subscriber; a client this far behind is disconnected.
pub const QUEUE: usize = 1 << 16;
/// Server ping period (Binance pings every 20 s).
const PING_EVERY_NS: u64 = 20_000_000_000;

fn levels(out: &mut String, lv: &[(i64, i64)]) {
    out.push('[');
    for (i, (p, q)) in lv.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("[\"");
        push8(out, *p);
        out.push_str("\",\"");
        push8(out, *q);
        out.push_str("\"]");
    }
    out.push(']');
}

/// A `depthUpdate` event.
pub fn depth_update(
    sym: &str,
    e_ms: u64,
    first: u64,
    last: u64,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
) -> String {
    let mut s = String::with_capacity(96 + 40 * (bids.len() + asks.len()));
    let _ = write!(
        s,
        r#"{{"e":"depthUpdate","E":{e_ms},"s":"{sym}","U":{first},"u":{last},"b":"#
    );
    levels(&mut s, bids);
    s.push_str(",\"a\":");
    levels(&mut s, asks);
    s.push('}');
    s
}

/// A `bookTicker` event (`u` in the depth update-id space).
pub fn book_ticker(sym: &str, u: u64, top: (i64, i64, i64, i64)) -> String {
    format!(
        r#"{{"u":{u},"s":"{sym}","b":"{}","B":"{}","a":"{}","A":"{}"}}"#,
        fmt8(top.0),
        fmt8(top.1),
        fmt8(top.2),
        fmt8(top.3)
    )
}

/// A `trade` event.
pub fn trade(sym: &str, e_ms: u64, t: &PublicTrade) -> String {
    format!(
        r#"{{"e":"trade","E":{e_ms},"s":"{sym}","t":{},"p":"{}","q":"{}","T":{},"m":{},"M":true}}"#,
        t.id,
        fmt8(t.px),
        fmt8(t.qty),
        t.time_ms,
        t.buyer_maker
    )
}

/// What a WebSocket endpoint does with client text and with queued frames.
pub trait Handler {
    /// Handles a client text frame; replies go to `out`.
    fn on_text(&mut self, text: &str, out: &mut Vec<String>);
    /// Renders a queued frame (None = not for this connection).
    fn render(&mut self, o: Outbound) -> Option<String>;
}

/// Runs a WebSocket connection: client requests, queued frames out, server pings, and (for
/// market connections) the market-stream faults. Returns when either side ends it.
pub fn pump(
    shared: &Shared,
    v: usize,
    mut ws: WebSocket<Stream>,
    rx: Receiver<Outbound>,
    h: &mut impl Handler,
    market: bool,
) {
    if ws.get_ref().tcp().set_nonblocking(true).is_err() {
        return;
    }
    let venue = &shared.venues[v].cfg.name;
    let faults = &shared.faults;
    let mut replies = Vec::new();
    let mut held: VecDeque<String> = VecDeque::new();
    let mut reorder_pending = false;
    let mut last_ping = lyra_shm::clock::mono_now_ns();
    let note = |f: &str| {
        shared.oracle.fault(
            lyra_shm::clock::wall_now_ns(),
            venue,
            f,
            "market connection",
        )
    };
    loop {
        if shared.stop.load(Ordering::Acquire) {
            let _ = ws.close(None);
            let _ = ws.flush();
            return;
        }
        // Client side first: requests, pings (tungstenite queues the pong), closes.
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => h.on_text(t.as_str(), &mut replies),
                Ok(Message::Close(_)) => {
                    let _ = ws.flush();
                    return;
                }
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return,
            }
        }
        for r in replies.drain(..) {
            if write(&mut ws, r).is_err() {
                return;
            }
        }
        if lyra_shm::clock::mono_now_ns() - last_ping >= PING_EVERY_NS {
            last_ping = lyra_shm::clock::mono_now_ns();
            let _ = ws.write(Message::Ping(Vec::new().into()));
        }
        // Then the queued frames: wait briefly for the first, then drain what is there.
        let first = match rx.recv_timeout(Duration::from_millis(1)) {
            Ok(o) => Some(o),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = 0;
        let mut next = first;
        while let Some(o) = next {
            if let Some(text) = h.render(o) {
                if market {
                    if faults.take(v, FaultKind::WsDrop) {
                        note("ws_drop");
                        return; // TCP closes with no close frame: the client sees 1006.
                    }
                    if faults.take(v, FaultKind::MaintenanceClose) {
                        note("maintenance_close");
                        let _ = ws.close(Some(CloseFrame {
                            code: CloseCode::Away,
                            reason: "Server maintenance".into(),
                        }));
                        let _ = ws.flush();
                        thread::sleep(Duration::from_millis(50));
                        return;
                    }
                    if faults.window(v, FaultKind::WsStall) {
                        next = rx.try_recv().ok();
                        continue; // data withheld; the read side above still answers pings
                    }
                    if faults.take(v, FaultKind::WsDelay) || faults.window(v, FaultKind::WsDelay) {
                        note("ws_delay");
                        thread::sleep(Duration::from_millis(200));
                    }
                    if faults.take(v, FaultKind::OversizedFrame) {
                        note("oversized_frame");
                        let big = format!(
                            r#"{{"stream":"oversized","data":"{}"}}"#,
                            "x".repeat(2 << 20)
                        );
                        if write(&mut ws, big).is_err() {
                            return;
                        }
                    }
                    if faults.take(v, FaultKind::MalformedJson) {
                        note("malformed_json");
                        let cut = text.len() / 2;
                        if write(&mut ws, text[..cut].to_string()).is_err() {
                            return;
                        }
                    }
                    if faults.take(v, FaultKind::WsDuplicate) {
                        note("ws_duplicate");
                        held.push_back(text.clone());
                    }
                    if reorder_pending {
                        // The held frame goes out after this one.
                        reorder_pending = false;
                        let prev = held.pop_front();
                        if write(&mut ws, text).is_err() {
                            return;
                        }
                        if let Some(p) = prev {
                            if write(&mut ws, p).is_err() {
                                return;
                            }
                        }
                        next = rx.try_recv().ok();
                        continue;
                    }
                    if faults.take(v, FaultKind::WsReorder) {
                        note("ws_reorder");
                        reorder_pending = true;
                        held.push_front(text);
                        next = rx.try_recv().ok();
                        continue;
                    }
                }
                if write(&mut ws, text).is_err() {
                    return;
                }
                while let Some(d) = held.pop_front() {
                    if write(&mut ws, d).is_err() {
                        return;
                    }
                }
            }
            batch += 1;
            next = if batch < 1024 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        match ws.flush() {
            Ok(()) => {}
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// Queues a text frame; `WouldBlock` just means it is buffered.
fn write(ws: &mut WebSocket<Stream>, text: String) -> Result<(), ()> {
    match ws.write(Message::text(text)) {
        Ok(()) => Ok(()),
        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(_) => Err(()),
    }
}

/// A market-stream connection's subscriptions.
struct Market {
    /// Symbols lower-cased, by instrument.
    symbols: Vec<String>,
    /// Name the client used per (instrument, kind).
    names: Vec<Option<String>>,
    wants: Arc<Vec<AtomicBool>>,
    /// Raw `/ws` connection: events unwrapped.
    raw: bool,
    never_ack: bool,
}

impl Market {
    /// `(inst, kind)` of a stream name such as `btcusdt@depth@100ms`.
    fn parse(&self, name: &str) -> Option<(usize, usize)> {
        let (sym, rest) = name.split_once('@')?;
        let inst = self.symbols.iter().position(|s| s == sym)?;
        let kind = match rest {
            "depth" | "depth@100ms" | "depth@1000ms" => DEPTH,
            "bookTicker" => BOOK_TICKER,
            "trade" => TRADE,
            _ => return None,
        };
        Some((inst, kind))
    }

    fn set(&mut self, name: &str, on: bool) -> bool {
        match self.parse(name) {
            Some((i, k)) => {
                self.names[i * KINDS + k] = on.then(|| name.to_string());
                self.wants[i * KINDS + k].store(on, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

impl Handler for Market {
    fn on_text(&mut self, text: &str, out: &mut Vec<String>) {
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            out.push(
                r#"{"error":{"code":2,"msg":"Invalid request: invalid JSON"},"id":null}"#.into(),
            );
            return;
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let params: Vec<String> = req
            .get("params")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        match req.get("method").and_then(Value::as_str) {
            Some(m @ ("SUBSCRIBE" | "UNSUBSCRIBE")) => {
                if m == "SUBSCRIBE" && self.never_ack {
                    self.never_ack = false;
                    return;
                }
                if let Some(bad) = params.iter().find(|p| self.parse(p).is_none()) {
                    out.push(format!(r#"{{"error":{{"code":2,"msg":"Invalid request: unknown stream {bad}"}},"id":{id}}}"#));
                    return;
                }
                for p in &params {
                    self.set(p, m == "SUBSCRIBE");
                }
                out.push(format!(r#"{{"result":null,"id":{id}}}"#));
            }
            Some("LIST_SUBSCRIPTIONS") => {
                let names: Vec<String> = self
                    .names
                    .iter()
                    .flatten()
                    .map(|n| format!("\"{n}\""))
                    .collect();
                out.push(format!(r#"{{"result":[{}],"id":{id}}}"#, names.join(",")));
            }
            _ => out.push(format!(
                r#"{{"error":{{"code":1,"msg":"Invalid request: unknown method"}},"id":{id}}}"#
            )),
        }
    }

    fn render(&mut self, o: Outbound) -> Option<String> {
        let Outbound::Market { inst, kind, data } = o else {
            return None;
        };
        let name = self.names[inst as usize * KINDS + kind as usize].as_deref()?;
        if self.raw {
            Some(data.to_string())
        } else {
            Some(format!(r#"{{"stream":"{name}","data":{data}}}"#))
        }
    }
}

/// Serves a market-stream connection on `path?query`.
pub fn serve(shared: &Arc<Shared>, v: usize, ws: WebSocket<Stream>, path: &str, query: &str) {
    let venue = &shared.venues[v];
    let symbols: Vec<String> = {
        let st = venue.state.lock().expect("venue lock");
        st.m.instruments
            .iter()
            .map(|i| i.symbol.to_lowercase())
            .collect()
    };
    let n = symbols.len() * KINDS;
    let wants: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
    let never_ack = shared.faults.take(v, FaultKind::NeverAck);
    if never_ack {
        shared.oracle.fault(
            lyra_shm::clock::wall_now_ns(),
            &venue.cfg.name,
            "never_ack",
            "next SUBSCRIBE unanswered",
        );
    }
    let mut h = Market {
        symbols,
        names: vec![None; n],
        wants: wants.clone(),
        raw: path.starts_with("/ws"),
        never_ack,
    };
    // Streams named in the URL: `/stream?streams=a/b` or `/ws/a/b`.
    let from_url: Vec<String> = if let Some(rest) = path.strip_prefix("/ws/") {
        rest.split('/').map(str::to_string).collect()
    } else {
        super::super::http::parse_params(query)
            .into_iter()
            .find(|(k, _)| k == "streams")
            .map(|(_, v)| v.split('/').map(str::to_string).collect())
            .unwrap_or_default()
    };
    for s in from_url.iter().filter(|s| !s.is_empty()) {
        h.set(s, true);
    }
    let (tx, rx) = bounded(QUEUE);
    venue
        .state
        .lock()
        .expect("venue lock")
        .subs
        .push(MarketSub { wants, tx });
    pump(shared, v, ws, rx, &mut h, true);
}
