//! OKX public WebSocket (`/ws/v5/public`): `books` (a snapshot on subscribe, then updates with
//! `prevSeqId` = the previous `seqId`, CRC32 checksum of the top 25 levels as a signed 32-bit
//! integer, PROTOCOLS b.2/b.3), `bbo-tbt` and `trades`; per-arg subscribe acks, error events for
//! unknown channels or instruments, and the text `ping` → `pong` keep-alive.

use std::{
    fmt::Write as _,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use crossbeam::channel::{bounded, Sender};
use serde_json::Value;
use tungstenite::WebSocket;

use super::{
    super::{
        binance::ws::{pump, Handler, QUEUE},
        config::{canon_decimals, fixed_bytes, push_canon, Instrument},
        faults::FaultKind,
        matching::{Matcher, PublicTrade},
        server::Stream,
        venue::{MarketSub, Outbound, BOOK_TICKER, DEPTH, KINDS, TRADE},
        Shared,
    },
    canon, inst_id,
};

/// Levels as OKX prints them: `[["px","sz","0","1"],…]` (the third element is a dead field,
/// the fourth an order count; the simulator reports one order per level).
fn levels(out: &mut String, lv: &[(i64, i64)]) {
    out.push('[');
    for (i, (p, q)) in lv.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("[\"");
        push_canon(out, *p);
        out.push_str("\",\"");
        push_canon(out, *q);
        out.push_str("\",\"0\",\"1\"]");
    }
    out.push(']');
}

/// One level's check-string piece (`px:sz`), kept formatted between updates.
#[derive(Debug, Clone, Copy)]
struct Piece {
    px: i64,
    qty: i64,
    len: u8,
    text: [u8; 48],
}

/// The top-25 pieces of one instrument's sides as last checksummed (best first).
#[derive(Debug, Default)]
struct Pieces {
    bids: Vec<Piece>,
    asks: Vec<Piece>,
}

/// Reused buffers of [`checksum_with`]: the publish path computes a checksum on every update,
/// and most of the top 25 levels are unchanged from the previous one, so their formatted
/// pieces are kept per instrument and only new or changed levels are formatted.
#[derive(Debug, Default)]
pub struct CheckScratch {
    levels: Vec<(i64, i64)>,
    pieces: Vec<Pieces>,
    spare: Vec<Piece>,
    text: String,
}

/// Rebuilds `old` (the side's previous pieces, best first) for `levels` (best first), reusing
/// the text of every level whose price and quantity are unchanged. `spare` is scratch.
fn refresh(old: &mut Vec<Piece>, levels: &[(i64, i64)], bid: bool, spare: &mut Vec<Piece>) {
    spare.clear();
    let mut j = 0;
    for &(px, qty) in levels {
        // Both lists are best first: skip old levels better than this one (gone now).
        while j < old.len() && if bid { old[j].px > px } else { old[j].px < px } {
            j += 1;
        }
        if j < old.len() && old[j].px == px && old[j].qty == qty {
            spare.push(old[j]);
            continue;
        }
        let mut text = [0u8; 48];
        let mut w = [0u8; 48];
        let n = fixed_bytes(px, canon_decimals(px), &mut w);
        text[..n].copy_from_slice(&w[..n]);
        text[n] = b':';
        let m = fixed_bytes(qty, canon_decimals(qty), &mut w);
        // Canonical prices and sizes are far shorter than 48 bytes together.
        let m = m.min(47 - n);
        text[n + 1..n + 1 + m].copy_from_slice(&w[..m]);
        spare.push(Piece {
            px,
            qty,
            len: (n + 1 + m) as u8,
            text,
        });
    }
    std::mem::swap(old, spare);
}

/// OKX's checksum of instrument `inst`'s current book: CRC32 of the interleaved top-25 check
/// string (`bid:sz:ask:sz:…`), as a signed 32-bit integer (PROTOCOLS b.3).
pub fn checksum(m: &Matcher, inst: usize) -> i32 {
    checksum_with(m, inst, &mut CheckScratch::default())
}

/// [`checksum`] with reused buffers (no allocation once they have grown).
pub fn checksum_with(m: &Matcher, inst: usize, sc: &mut CheckScratch) -> i32 {
    if sc.pieces.len() <= inst {
        sc.pieces.resize_with(inst + 1, Pieces::default);
    }
    let p = &mut sc.pieces[inst];
    m.depth_into(inst, true, 25, &mut sc.levels);
    refresh(&mut p.bids, &sc.levels, true, &mut sc.spare);
    m.depth_into(inst, false, 25, &mut sc.levels);
    refresh(&mut p.asks, &sc.levels, false, &mut sc.spare);
    let s = &mut sc.text;
    s.clear();
    for i in 0..25 {
        for side in [&p.bids, &p.asks] {
            if let Some(piece) = side.get(i) {
                if !s.is_empty() {
                    s.push(':');
                }
                for &b in &piece.text[..piece.len as usize] {
                    s.push(b as char);
                }
            }
        }
    }
    crc32fast::hash(s.as_bytes()) as i32
}

/// A `books` push (`action` "snapshot" with `prev` -1, or "update").
#[allow(clippy::too_many_arguments)] // one push's fields
pub fn books_frame(
    ins: &Instrument,
    action: &str,
    now_ms: u64,
    prev: u64,
    seq: u64,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    checksum: Option<i32>,
) -> String {
    let mut s = String::with_capacity(160 + 48 * (bids.len() + asks.len()));
    // Written piece by piece (no `format!` temporaries): this runs on every published update.
    s.push_str(r#"{"arg":{"channel":"books","instId":""#);
    s.push_str(&ins.base);
    s.push('-');
    s.push_str(&ins.quote);
    s.push_str(r#""},"action":""#);
    s.push_str(action);
    s.push_str(r#"","data":[{"asks":"#);
    levels(&mut s, asks);
    s.push_str(",\"bids\":");
    levels(&mut s, bids);
    let _ = write!(
        s,
        r#","ts":"{now_ms}","checksum":{},"prevSeqId":"#,
        checksum.unwrap_or(0)
    );
    if action == "snapshot" {
        s.push_str("-1");
    } else {
        let _ = write!(s, "{prev}");
    }
    let _ = write!(s, r#","seqId":{seq}}}]}}"#);
    s
}

/// A `bbo-tbt` push.
pub fn bbo_frame(ins: &Instrument, now_ms: u64, seq: u64, top: (i64, i64, i64, i64)) -> String {
    let mut s = format!(
        r#"{{"arg":{{"channel":"bbo-tbt","instId":"{}"}},"data":[{{"asks":"#,
        inst_id(ins)
    );
    levels(&mut s, &[(top.2, top.3)]);
    s.push_str(",\"bids\":");
    levels(&mut s, &[(top.0, top.1)]);
    s.push_str(&format!(r#","ts":"{now_ms}","seqId":{seq}}}]}}"#));
    s
}

/// A `trades` push (`side` is the taker's).
pub fn trade_frame(ins: &Instrument, t: &PublicTrade) -> String {
    let id = inst_id(ins);
    format!(
        r#"{{"arg":{{"channel":"trades","instId":"{id}"}},"data":[{{"instId":"{id}","tradeId":"{}","px":"{}","sz":"{}","side":"{}","ts":"{}","count":"1"}}]}}"#,
        t.id,
        canon(t.px),
        canon(t.qty),
        if t.buyer_maker { "sell" } else { "buy" },
        t.time_ms
    )
}

/// One public connection.
struct Public<'a> {
    shared: &'a Shared,
    v: usize,
    tx: Sender<Outbound>,
    inst_ids: Vec<String>,
    wants: Arc<Vec<AtomicBool>>,
    never_ack: bool,
}

impl Public<'_> {
    fn on_arg(&mut self, op: &str, arg: &Value, out: &mut Vec<String>) {
        let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
        let inst = arg.get("instId").and_then(Value::as_str).unwrap_or("");
        let kind = match channel {
            "books" => Some(DEPTH),
            "bbo-tbt" => Some(BOOK_TICKER),
            "trades" => Some(TRADE),
            _ => None,
        };
        let idx = self.inst_ids.iter().position(|i| i == inst);
        let (Some(kind), Some(idx)) = (kind, idx) else {
            out.push(format!(
                r#"{{"event":"error","code":"60018","msg":"Wrong URL or channel:{channel},instId:{inst} doesn't exist.","connId":"sim{:05}"}}"#,
                self.v
            ));
            return;
        };
        let ack = format!(
            r#"{{"event":"{op}","arg":{{"channel":"{channel}","instId":"{inst}"}},"connId":"sim{:05}"}}"#,
            self.v
        );
        if op == "unsubscribe" {
            self.wants[idx * KINDS + kind].store(false, Ordering::Relaxed);
            out.push(ack);
            return;
        }
        if self.never_ack {
            self.never_ack = false;
            return;
        }
        out.push(ack);
        // Under the venue lock: the snapshot is queued before any later update can be.
        let st = self.shared.venues[self.v].state.lock().expect("venue lock");
        self.wants[idx * KINDS + kind].store(true, Ordering::Relaxed);
        // A replayed venue's snapshots are frames of the capture.
        if kind == DEPTH && !self.shared.replayed(self.v) {
            let bids = st.m.depth(idx, true, 400);
            let asks = st.m.depth(idx, false, 400);
            let ck = self.shared.venues[self.v]
                .cfg
                .okx_checksum
                .then(|| checksum(&st.m, idx));
            let data = books_frame(
                &st.m.instruments[idx],
                "snapshot",
                self.shared.now_ms(self.v),
                0,
                st.seq[idx],
                &bids,
                &asks,
                ck,
            );
            let _ = self.tx.try_send(Outbound::Market {
                inst: idx as u16,
                kind: DEPTH as u8,
                data: Arc::from(data),
            });
        }
    }
}

impl Handler for Public<'_> {
    fn on_text(&mut self, text: &str, out: &mut Vec<String>) {
        if text == "ping" {
            out.push("pong".into());
            return;
        }
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            out.push(r#"{"event":"error","code":"60012","msg":"Invalid request"}"#.into());
            return;
        };
        let op = req.get("op").and_then(Value::as_str).unwrap_or("");
        match (op, req.get("args").and_then(Value::as_array)) {
            ("subscribe" | "unsubscribe", Some(args)) => {
                for a in args.clone() {
                    self.on_arg(op, &a, out);
                }
            }
            _ => out.push(format!(
                r#"{{"event":"error","code":"60012","msg":"Invalid request: {}"}}"#,
                text.replace('"', "'")
            )),
        }
    }

    fn render(&mut self, o: Outbound) -> Option<String> {
        match o {
            Outbound::Market { inst, kind, data }
                if self.wants[inst as usize * KINDS + kind as usize].load(Ordering::Relaxed) =>
            {
                Some(data.to_string())
            }
            _ => None,
        }
    }
}

/// Serves an OKX WebSocket connection (`/ws/v5/public`, `/ws/v5/private`; other paths get
/// nothing).
pub fn serve(shared: &Arc<Shared>, v: usize, ws: WebSocket<Stream>, path: &str) {
    if path == "/ws/v5/private" {
        return super::private_ws::serve(shared, v, ws);
    }
    if path != "/ws/v5/public" {
        return;
    }
    let venue = &shared.venues[v];
    let inst_ids: Vec<String> = {
        let st = venue.state.lock().expect("venue lock");
        st.m.instruments.iter().map(inst_id).collect()
    };
    let wants: Arc<Vec<AtomicBool>> = Arc::new(
        (0..inst_ids.len() * KINDS)
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
        inst_ids,
        wants,
        never_ack,
    };
    pump(shared, v, ws, rx, &mut h, true);
}
