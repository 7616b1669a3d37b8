//! `parse`: decoding real Binance Spot frames (the BTCUSDT capture `btcusdt_20240808.gz`: depth
//! diffs, bookTickers, trades and a REST snapshot, 41,249 frames) into prices and quantities.
//!
//! - `lyra`: `feeds::binance::BinanceParser` (simd-json tape, fields straight to i64 mantissas,
//!   reused buffers);
//! - `lyra-simd-json-tape`: the same parser forced onto its general simd-json path (what runs for
//!   any frame that is not in Binance's canonical layout);
//! - `serde-decimal-btreemap`: the common Rust approach — `serde_json` into typed structs per
//!   stream (chosen from the stream name), prices as `rust_decimal::Decimal`. (Its book half is in
//!   `book`; the name is shared so the rows line up across suites.)
//!
//! Two kinds of pass, alternating between the implementations so machine noise lands on all:
//! latency passes take one histogram sample per frame (percentiles; the clock read is in every
//! sample of each), and throughput passes time the whole file with no per-frame clock read or
//! histogram record, over the frames laid back to back in one buffer ([`FrameBuf`]). `per_s` is
//! frames per second of each implementation's fastest throughput pass: at ~80 ns a frame, two `clock_gettime` calls and a histogram record per frame would
//! otherwise be a large, equal absolute cost added to both sides, understating the ratio between
//! them; and on a shared machine a pass that another process preempted measures that process,
//! so the least-disturbed pass of each side (the same rule for both) is the estimate.

use std::{
    hint::black_box,
    io::{BufRead, BufReader},
    path::PathBuf,
};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use lyra_feeds::{
    binance::{BinanceParser, Msg},
    instrument::{InstrumentTable, Resolved},
};
use lyra_shm::{clock::mono_now_ns, msg::VenueId};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::{
    report::{new_hist, Report},
    Opts,
};

/// The capture every market-data suite reads, relative to the data dir.
pub const CAPTURE: &str = "hftbacktest/spot/btcusdt_20240808.gz";

/// The recorded data dir: `$LYRA_DATA_DIR`, `../shared/data` from the working directory, or
/// beside the workspace this binary was built from.
///
/// # Errors
/// When none of them holds the data.
pub fn data_dir() -> Result<PathBuf> {
    let mut tried = Vec::new();
    let candidates = std::env::var_os("LYRA_DATA_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            PathBuf::from("../shared/data"),
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
        ]);
    for c in candidates {
        if c.join("SOURCES.md").is_file() {
            return Ok(c);
        }
        tried.push(c.display().to_string());
    }
    bail!(
        "recorded market data not found (tried {}); set LYRA_DATA_DIR",
        tried.join(", ")
    )
}

/// The capture's frames as `(recv ns, frame)`, decompressed into memory.
///
/// # Errors
/// Missing data dir or unreadable file.
pub fn load_capture() -> Result<Vec<(u64, String)>> {
    let path = data_dir()?.join(CAPTURE);
    let f = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(flate2::read::GzDecoder::new(f)).lines() {
        let line = line.with_context(|| format!("read {}", path.display()))?;
        let Some((ts, frame)) = line.split_once(' ') else {
            bail!("bad line in {CAPTURE}")
        };
        out.push((ts.parse().context("receive time")?, frame.to_owned()));
    }
    Ok(out)
}

/// The Lyra side's instrument set-up for the capture: BTCUSDT at scales 8/8.
pub fn lyra_table() -> (InstrumentTable, Resolved) {
    let mut t = InstrumentTable::new();
    let idx = t
        .add("BTC-USDT", 8, 8, 1_000_000)
        .expect("static instrument");
    t.map_symbol(VenueId(0), "BTCUSDT", idx)
        .expect("static symbol");
    let r = t.resolved(idx).expect("just added");
    (t, r)
}

/// The baseline's decoded frame.
#[derive(Debug)]
pub enum BaseMsg<'a> {
    /// A depth diff.
    Depth(BaseDepth<'a>),
    /// A bookTicker.
    Ticker(BaseTicker<'a>),
    /// A trade.
    Trade(BaseTrade<'a>),
    /// A REST snapshot.
    Snapshot(BaseSnapshot),
    /// Anything else.
    Other,
}

/// Baseline depth diff.
#[allow(non_snake_case, missing_docs)]
#[derive(Debug, Deserialize)]
pub struct BaseDepth<'a> {
    pub E: u64,
    pub s: &'a str,
    pub U: u64,
    pub u: u64,
    pub b: Vec<(Decimal, Decimal)>,
    pub a: Vec<(Decimal, Decimal)>,
}

/// Baseline bookTicker.
#[allow(non_snake_case, missing_docs)]
#[derive(Debug, Deserialize)]
pub struct BaseTicker<'a> {
    pub u: u64,
    pub s: &'a str,
    pub b: Decimal,
    pub B: Decimal,
    pub a: Decimal,
    pub A: Decimal,
}

/// Baseline trade.
#[allow(non_snake_case, missing_docs)]
#[derive(Debug, Deserialize)]
pub struct BaseTrade<'a> {
    pub s: &'a str,
    pub t: u64,
    pub p: Decimal,
    pub q: Decimal,
    pub T: u64,
    pub m: bool,
}

/// Baseline REST snapshot.
#[allow(non_snake_case, missing_docs)]
#[derive(Debug, Deserialize)]
pub struct BaseSnapshot {
    pub lastUpdateId: u64,
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
}

/// The combined stream's envelope `{"stream":..,"data":{..}}`: the payload is `data` (every
/// serde front end here reads it through this one-field wrapper).
#[derive(Debug, Deserialize)]
pub struct Env<T> {
    /// The stream's payload.
    pub data: T,
}

/// What a capture frame holds, told from its first 48 bytes (the stream name, or the REST
/// snapshot's leading key), so a serde front end can pick its typed struct before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// The REST depth snapshot (`"lastUpdateId"`).
    Snapshot,
    /// A depth diff (`@depth`).
    Depth,
    /// A bookTicker (`@bookTicker`).
    BookTicker,
    /// A trade (`@trade`).
    Trade,
    /// Anything else.
    Other,
}

/// The kind of `frame`, by the stream name or snapshot key in its head (the dispatch every serde
/// row of `parse` and `book` shares, so all of them choose alike and pay alike).
#[inline]
pub fn frame_kind(frame: &str) -> FrameKind {
    let head = &frame.as_bytes()[..frame.len().min(48)];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if has(b"\"lastUpdateId\"") {
        FrameKind::Snapshot
    } else if has(b"@depth") {
        FrameKind::Depth
    } else if has(b"@bookTicker") {
        FrameKind::BookTicker
    } else if has(b"@trade") {
        FrameKind::Trade
    } else {
        FrameKind::Other
    }
}

/// The baseline parser: picks the struct from the stream name ([`frame_kind`]), then
/// `serde_json::from_str`.
///
/// # Errors
/// serde_json's error.
pub fn base_parse(frame: &str) -> Result<BaseMsg<'_>, serde_json::Error> {
    Ok(match frame_kind(frame) {
        FrameKind::Snapshot => BaseMsg::Snapshot(serde_json::from_str(frame)?),
        FrameKind::Depth => BaseMsg::Depth(serde_json::from_str::<Env<BaseDepth<'_>>>(frame)?.data),
        FrameKind::BookTicker => {
            BaseMsg::Ticker(serde_json::from_str::<Env<BaseTicker<'_>>>(frame)?.data)
        }
        FrameKind::Trade => BaseMsg::Trade(serde_json::from_str::<Env<BaseTrade<'_>>>(frame)?.data),
        FrameKind::Other => BaseMsg::Other,
    })
}

/// Passes over the capture: recorded (after one warm-up pass per implementation).
fn passes(opts: &Opts) -> u64 {
    opts.pick(8, 3)
}

/// Throughput passes per implementation (full run, `--quick`), alternating between them: a
/// round of all three is about 40 ms, and more rounds make the fastest-pass estimate steadier.
const THROUGHPUT_PASSES: (u64, u64) = (24, 12);

/// Frames back to back in one buffer, in file order, as a socket's receive buffer or a replay's
/// read buffer holds them: the throughput passes read from here. Stored as separate strings,
/// each frame's first bytes (and the string header pointing at them) are a cache miss that a
/// live feed never pays — its frame was just written by the socket read — and that equal miss
/// was a large share of a ~100 ns Lyra frame. The latency passes keep the separate strings.
pub struct FrameBuf {
    text: String,
    spans: Vec<(u64, usize, usize)>,
}

impl FrameBuf {
    /// The `frames` (`(receive ns, text)`) copied back to back.
    pub fn new<'a>(frames: impl IntoIterator<Item = &'a (u64, String)> + Clone) -> Self {
        let len = frames.clone().into_iter().map(|(_, f)| f.len()).sum();
        let mut text = String::with_capacity(len);
        let spans = frames
            .into_iter()
            .map(|(recv, f)| {
                let at = text.len();
                text.push_str(f);
                (*recv, at, text.len())
            })
            .collect();
        Self { text, spans }
    }

    /// The frames in order: `(receive ns, text)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str)> {
        self.spans.iter().map(|&(r, a, b)| (r, &self.text[a..b]))
    }

    /// How many frames.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// One latency pass over `frames` through `decode`: one histogram sample per frame.
fn latency_pass(
    frames: &[(u64, String)],
    hist: &mut Histogram<u64>,
    decode: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<()> {
    for (_, f) in frames {
        let t0 = mono_now_ns();
        decode(f)?;
        hist.saturating_record(mono_now_ns() - t0);
    }
    Ok(())
}

/// One throughput pass over `frames` through `decode`, with no per-frame clock read; returns
/// the pass's wall time in ns.
fn throughput_pass(frames: &FrameBuf, decode: &mut dyn FnMut(&str) -> Result<()>) -> Result<u64> {
    let start = mono_now_ns();
    for (_, f) in frames.iter() {
        decode(f)?;
    }
    Ok(mono_now_ns() - start)
}

/// The suite's entry.
///
/// # Errors
/// Missing data, or a frame either implementation cannot decode.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let frames = load_capture()?;
    let (_t, btc) = lyra_table();
    let mut lyra = BinanceParser::new();
    let mut tape = BinanceParser::new();
    let mut lyra_decode = |f: &str| -> Result<()> {
        match lyra.parse(
            f.as_bytes(),
            &mut |s| (s == b"BTCUSDT").then_some(btc),
            Some(btc),
        ) {
            Ok(Msg::Other) | Err(_) => bail!("lyra could not decode {f:.80}"),
            Ok(m) => {
                black_box(m);
                Ok(())
            }
        }
    };
    let mut tape_decode = |f: &str| -> Result<()> {
        match tape.parse_tape(
            f.as_bytes(),
            &mut |s| (s == b"BTCUSDT").then_some(btc),
            Some(btc),
        ) {
            Ok(Msg::Other) | Err(_) => bail!("lyra simd-json path could not decode {f:.80}"),
            Ok(m) => {
                black_box(m);
                Ok(())
            }
        }
    };
    let mut base_decode = |f: &str| -> Result<()> {
        match base_parse(f) {
            Ok(BaseMsg::Other) | Err(_) => bail!("baseline could not decode {f:.80}"),
            Ok(m) => {
                black_box(m);
                Ok(())
            }
        }
    };
    let buf = FrameBuf::new(&frames);
    let mut hists = [new_hist(), new_hist(), new_hist()];
    let mut ns = [u64::MAX; 3];
    // Warm-up: one unrecorded pass of each.
    throughput_pass(&buf, &mut lyra_decode)?;
    throughput_pass(&buf, &mut tape_decode)?;
    throughput_pass(&buf, &mut base_decode)?;
    for _ in 0..passes(opts) {
        latency_pass(&frames, &mut hists[0], &mut lyra_decode)?;
        latency_pass(&frames, &mut hists[1], &mut tape_decode)?;
        latency_pass(&frames, &mut hists[2], &mut base_decode)?;
    }
    let (full, quick) = THROUGHPUT_PASSES;
    for _ in 0..opts.pick(full, quick) {
        ns[0] = ns[0].min(throughput_pass(&buf, &mut lyra_decode)?);
        ns[1] = ns[1].min(throughput_pass(&buf, &mut tape_decode)?);
        ns[2] = ns[2].min(throughput_pass(&buf, &mut base_decode)?);
    }
    let n = buf.len() as u64;
    let per_s = |i: usize| n as f64 * 1e9 / ns[i].max(1) as f64;
    Ok(vec![
        Report::from_hist("parse", "lyra", &hists[0], per_s(0)),
        Report::from_hist("parse", "lyra-simd-json-tape", &hists[1], per_s(1)),
        Report::from_hist("parse", "serde-decimal-btreemap", &hists[2], per_s(2)),
    ])
}
