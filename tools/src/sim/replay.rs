//! `lyra sim --replay FILE`: one venue's market driven by a recorded native capture (`lyra
//! record`'s `<recv ns> <raw frame>` lines) instead of the generator. The frames are classified
//! by (instrument, stream kind) in the venue's dialect — Binance combined or raw events, OKX
//! `arg` pushes, Kraken v2 `book` messages; acks, heartbeats and other channels are dropped —
//! and republished through the venue's normal fan-out with the recorded pacing (or as fast as
//! possible) once a client has subscribed. Binance REST snapshots in the capture (bare
//! `/api/v3/depth` bodies, each written right after a frame of its instrument, which is how
//! `lyra replay` names them too) are
//! served by `/api/v3/depth` instead of the matcher's book; OKX and Kraken snapshots are frames
//! of the capture, so the venue sends no generated snapshot of its own on subscribe. The
//! replayed venue's matcher no longer moves (orders there trade against a frozen book).
//!
//! Reading the file is the `lyra` binary's (its replay readers); this module takes the lines.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use anyhow::{bail, Result};
use lyra_shm::clock::mono_now_ns;
use serde_json::Value;

use super::{
    config::{Dialect, Instrument},
    kraken, okx,
    venue::{BOOK_TICKER, DEPTH, TRADE},
    Shared,
};

/// One classified frame to republish.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Recorded receive time, ns.
    pub ns: u64,
    /// Instrument index.
    pub inst: usize,
    /// Stream kind ([`DEPTH`], [`BOOK_TICKER`], [`TRADE`]).
    pub kind: usize,
    /// What the venue's connections send: the event (`data`) for Binance, the whole message
    /// for OKX and Kraken.
    pub data: Arc<str>,
}

/// A capture prepared for one venue.
#[derive(Debug)]
pub struct ReplayPlan {
    /// Index of the replayed venue.
    pub venue: usize,
    /// Frames in recorded order.
    pub frames: Vec<Frame>,
    /// Binance: the recorded REST depth snapshot per instrument (the last one in the file).
    pub snapshots: HashMap<usize, String>,
    /// Republish as fast as possible instead of with the recorded pacing.
    pub fast: bool,
    /// Lines dropped (acks, heartbeats, unknown instruments or channels, malformed JSON).
    pub skipped: u64,
    /// Set when the replay thread has published every frame.
    pub done: AtomicBool,
    /// Frames published so far.
    pub published: AtomicU64,
}

/// The raw text of the `"data":` member of a Binance combined-stream frame.
fn combined_data(frame: &str) -> Option<&str> {
    let i = frame.find(",\"data\":")?;
    let rest = frame[i + 8..].trim_end();
    rest.strip_suffix('}')
}

/// Stream kind of a Binance stream name suffix / event.
fn binance_kind(v: &Value) -> Option<usize> {
    match v.get("e").and_then(Value::as_str) {
        Some("depthUpdate") => Some(DEPTH),
        Some("trade") => Some(TRADE),
        Some(_) => None,
        None if v.get("b").is_some() && v.get("A").is_some() => Some(BOOK_TICKER),
        None => None,
    }
}

/// Classifies one recorded frame; `Err(true)` for a Binance REST snapshot, `Err(false)` for a
/// frame that is not republished.
fn classify(
    dialect: Dialect,
    instruments: &[Instrument],
    frame: &str,
) -> Result<(usize, usize, String), bool> {
    let v: Value = serde_json::from_str(frame).map_err(|_| false)?;
    match dialect {
        Dialect::Binance => {
            if v.get("lastUpdateId").is_some() {
                return Err(true);
            }
            let (ev, data) = match (v.get("data"), combined_data(frame)) {
                (Some(d), Some(raw)) => (d, raw.to_string()),
                _ => (&v, frame.to_string()),
            };
            let sym = ev.get("s").and_then(Value::as_str).ok_or(false)?;
            let inst = instruments
                .iter()
                .position(|i| i.symbol == sym)
                .ok_or(false)?;
            Ok((inst, binance_kind(ev).ok_or(false)?, data))
        }
        Dialect::Okx => {
            if v.get("event").is_some() {
                return Err(false);
            }
            let arg = v.get("arg").ok_or(false)?;
            let kind = match arg.get("channel").and_then(Value::as_str) {
                Some("books") => DEPTH,
                Some("bbo-tbt") => BOOK_TICKER,
                Some("trades") => TRADE,
                _ => return Err(false),
            };
            let id = arg.get("instId").and_then(Value::as_str).ok_or(false)?;
            let inst = instruments
                .iter()
                .position(|i| okx::inst_id(i) == id)
                .ok_or(false)?;
            Ok((inst, kind, frame.to_string()))
        }
        Dialect::Kraken => {
            if v.get("channel").and_then(Value::as_str) != Some("book") {
                return Err(false);
            }
            let sym = v["data"][0]["symbol"].as_str().ok_or(false)?;
            let inst = instruments
                .iter()
                .position(|i| kraken::symbol(i) == sym)
                .ok_or(false)?;
            Ok((inst, DEPTH, frame.to_string()))
        }
    }
}

impl ReplayPlan {
    /// Classifies a capture's `(recv ns, frame)` lines for venue `venue` of `dialect`.
    ///
    /// # Errors
    /// Nothing in the capture belongs to this venue's dialect and instruments.
    pub fn new(
        venue: usize,
        dialect: Dialect,
        instruments: &[Instrument],
        lines: Vec<(u64, String)>,
        fast: bool,
    ) -> Result<Self> {
        let mut frames = Vec::with_capacity(lines.len());
        let mut snapshots = HashMap::new();
        let mut last_inst: Option<usize> = None;
        let mut skipped = 0;
        for (ns, text) in lines {
            match classify(dialect, instruments, &text) {
                Ok((inst, kind, data)) => {
                    last_inst = Some(inst);
                    frames.push(Frame {
                        ns,
                        inst,
                        kind,
                        data: Arc::from(data),
                    });
                }
                // A recorded snapshot belongs to the previous stream frame's instrument.
                Err(true) => match last_inst {
                    Some(i) => {
                        snapshots.insert(i, text);
                    }
                    None => skipped += 1,
                },
                Err(false) => skipped += 1,
            }
        }
        if frames.is_empty() {
            bail!(
                "the capture holds no {dialect:?} market frame for this simulator's instruments ({skipped} lines skipped)"
            );
        }
        Ok(Self {
            venue,
            frames,
            snapshots,
            fast,
            skipped,
            done: AtomicBool::new(false),
            published: AtomicU64::new(0),
        })
    }
}

/// Whether any client of venue `v` has subscribed to anything.
fn has_subscriber(sh: &Shared, v: usize) -> bool {
    let st = sh.venues[v].state.lock().expect("venue lock");
    st.subs
        .iter()
        .any(|s| s.wants.iter().any(|w| w.load(Ordering::Relaxed)))
}

/// The replay thread: waits for a subscriber, then publishes every frame (recorded pacing
/// unless `fast`), then marks the plan done.
pub fn run(sh: &Shared) {
    let Some(plan) = sh.replay.as_ref() else {
        return;
    };
    let v = plan.venue;
    while !has_subscriber(sh, v) {
        if sh.stop.load(Ordering::Acquire) {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let venue = &sh.venues[v];
    let start = mono_now_ns();
    let first = plan.frames.first().map_or(0, |f| f.ns);
    for f in &plan.frames {
        if sh.stop.load(Ordering::Acquire) {
            return;
        }
        if !plan.fast {
            let at = start + f.ns.saturating_sub(first);
            loop {
                let now = mono_now_ns();
                if now >= at || sh.stop.load(Ordering::Acquire) {
                    break;
                }
                thread::sleep(Duration::from_nanos(at - now).min(Duration::from_millis(50)));
            }
        }
        let stream = match f.kind {
            DEPTH => "depthUpdate",
            BOOK_TICKER => "bookTicker",
            _ => "trade",
        };
        let mut st = venue.state.lock().expect("venue lock");
        st.fan_out(
            f.inst,
            f.kind,
            f.data.to_string(),
            stream,
            0,
            venue,
            &sh.oracle,
        );
        drop(st);
        plan.published.fetch_add(1, Ordering::Release);
    }
    plan.done.store(true, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::super::config::SimConfig;
    use super::*;

    #[test]
    fn classifies_each_dialect() {
        let ins = SimConfig::default()
            .parsed_instruments()
            .expect("instruments");
        let lines = vec![
            (
                1,
                r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":6,"u":7,"b":[],"a":[]}}"#.to_string(),
            ),
            (2, r#"{"lastUpdateId":5,"bids":[],"asks":[]}"#.to_string()),
            (3, r#"{"result":null,"id":1}"#.to_string()),
            (4, r#"{"u":7,"s":"ETHUSDT","b":"1","B":"1","a":"2","A":"1"}"#.to_string()),
        ];
        let p = ReplayPlan::new(0, Dialect::Binance, &ins, lines, true).expect("plan");
        assert_eq!(p.frames.len(), 2);
        assert_eq!((p.frames[0].inst, p.frames[0].kind), (0, DEPTH));
        assert!(p.frames[0].data.starts_with(r#"{"e":"depthUpdate""#));
        assert!(p.frames[0].data.ends_with(r#""a":[]}"#));
        assert_eq!((p.frames[1].inst, p.frames[1].kind), (1, BOOK_TICKER));
        assert!(p.snapshots[&0].contains("\"lastUpdateId\":5"));
        assert_eq!(p.skipped, 1);
        let okx = vec![
            (
                1,
                r#"{"event":"subscribe","arg":{"channel":"books","instId":"ETH-USDT"}}"#
                    .to_string(),
            ),
            (
                2,
                r#"{"arg":{"channel":"books","instId":"ETH-USDT"},"action":"snapshot","data":[]}"#
                    .to_string(),
            ),
        ];
        let p = ReplayPlan::new(0, Dialect::Okx, &ins, okx, false).expect("plan");
        assert_eq!((p.frames.len(), p.frames[0].inst), (1, 1));
        let kr = vec![(
            1,
            r#"{"channel":"book","type":"update","data":[{"symbol":"SOL/USDT"}]}"#.to_string(),
        )];
        let p = ReplayPlan::new(0, Dialect::Kraken, &ins, kr, false).expect("plan");
        assert_eq!(p.frames[0].inst, 2);
        assert!(ReplayPlan::new(0, Dialect::Kraken, &ins, vec![(1, "{}".into())], false).is_err());
    }
}
