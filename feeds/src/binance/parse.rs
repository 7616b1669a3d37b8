//! Binance Spot market-data frames -> typed fields and integer mantissas, with `simd-json`.
//!
//! Frames: the combined-stream envelope `{"stream":..,"data":{..}}` around `depthUpdate`
//! (`e`,`E`,`s`,`U`,`u`,`b`,`a`), `bookTicker` (`u`,`s`,`b`,`B`,`a`,`A`), `trade`
//! (`t`,`p`,`q`,`T`,`m`) and `aggTrade` (`a`,`p`,`q`,`T`,`m`); a bare (raw-stream) event; and the
//! bare REST depth snapshot (`lastUpdateId`,`bids`,`asks`). Anything else (subscription acks,
//! klines) is [`Msg::Other`].
//!
//! Two paths. First a strict scanner for Binance's canonical layouts ([`super::fast`]): it
//! accepts a frame only when the whole frame is exactly the documented layout, and is several
//! times cheaper than any generic parse. Everything else (other key order, whitespace, escapes,
//! `aggTrade`, new fields, errors) goes to the general simd-json path below, which is the one
//! that validates and reports errors. Both give identical results on every frame of the real
//! capture (`feeds/tests/binance_capture.rs`).
//!
//! simd-json path: the frame is copied into a reused, padded input buffer and parsed in place onto a reused
//! simd-json [`Tape`] ([`simd_json::fill_tape_padded`] with reused [`Buffers`]); the tape is walked
//! directly (no value tree, no serde) and every price/quantity string goes straight to an `i64`
//! mantissa with [`parse_mantissa`]. No f64 anywhere, and no allocation per message once the
//! buffers have grown to the largest frame (they are reserved for [`PARSER_RESERVE_BYTES`] up front).
//!
//! SIMD selection: simd-json 0.19's default feature `runtime-detection` (kept on in the workspace)
//! picks AVX2 or SSE4.2 at run time with `is_x86_feature_detected!` and falls back to its native
//! Rust parser otherwise, so one binary uses AVX2 where present and still runs on a CPU without
//! it. Compiling with `-C target-feature=+avx2` (or `target-cpu=native`) would instead bake AVX2 in
//! and the binary would fault on older CPUs; we deliberately do not set it. (simd-json has no
//! AVX-512 stage 1; on AVX-512 machines the AVX2 path runs.) [`simd_implementation`] reports the
//! choice for logs and benchmarks.

use lyra_shm::decimal::{parse_mantissa, DecimalError};
use simd_json::{Buffers, Node, StaticNode, Tape};
use thiserror::Error;

use super::fast;
use crate::instrument::Resolved;

/// Input size the parser reserves at construction (a 5000-level REST snapshot is ~200 KB).
pub const PARSER_RESERVE_BYTES: usize = 256 * 1024;
/// Levels per side reserved at construction.
pub const PARSER_RESERVE_LEVELS: usize = 8192;

/// Why a Binance frame could not be turned into events.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Not JSON.
    #[error("binance: invalid JSON: {0}")]
    Json(String),
    /// A field the message kind requires is absent or of the wrong type.
    #[error("binance {symbol}: field {field} missing or of the wrong type")]
    Field {
        /// The symbol, if it was read.
        symbol: String,
        /// The JSON key.
        field: &'static str,
    },
    /// A price or quantity that is not a decimal at the instrument's scale.
    #[error("binance {symbol}: field {field}: {err}")]
    Decimal {
        /// The symbol.
        symbol: String,
        /// The JSON key.
        field: &'static str,
        /// What was wrong.
        err: DecimalError,
    },
    /// A symbol not in the instrument table (or a snapshot with no instrument given).
    #[error("binance: unknown symbol {0:?}")]
    UnknownSymbol(String),
}

/// A depth diff's header; its levels are in [`BinanceParser::bids`] / [`BinanceParser::asks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthHeader {
    /// The instrument.
    pub inst: Resolved,
    /// `U`: first update id in the event.
    pub first_id: u64,
    /// `u`: final update id in the event.
    pub last_id: u64,
    /// `E` in ns since the epoch.
    pub exch_ts: u64,
}

/// A parsed frame. Level arrays stay in the parser until the next `parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// `depthUpdate`.
    Depth(DepthHeader),
    /// `bookTicker`: best bid/ask with their sizes; `u` shares the depth update-id space.
    BookTicker {
        /// The instrument.
        inst: Resolved,
        /// `u`.
        update_id: u64,
        /// `b`.
        bid_px: i64,
        /// `B`.
        bid_qty: i64,
        /// `a`.
        ask_px: i64,
        /// `A`.
        ask_qty: i64,
    },
    /// `trade` or `aggTrade`.
    Trade {
        /// The instrument.
        inst: Resolved,
        /// `t` (trade) or `a` (aggTrade).
        trade_id: u64,
        /// `p`.
        px: i64,
        /// `q`.
        qty: i64,
        /// `T` in ns.
        ts: u64,
        /// `m`: the buyer was the maker (the aggressor sold).
        buyer_maker: bool,
    },
    /// REST depth snapshot; levels in `bids()`/`asks()`.
    Snapshot {
        /// The instrument the caller said the snapshot is for.
        inst: Resolved,
        /// `lastUpdateId`.
        last_id: u64,
    },
    /// Valid JSON this parser does not turn into events (acks, klines...).
    Other,
}

/// The reusable Binance frame parser (one per feed thread).
pub struct BinanceParser {
    input: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

impl std::fmt::Debug for BinanceParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceParser")
            .field("bids", &self.bids.len())
            .finish_non_exhaustive()
    }
}

impl Default for BinanceParser {
    fn default() -> Self {
        Self::new()
    }
}

/// Which simd-json implementation runs on this CPU (AVX2, SSE4.2 or native Rust).
pub fn simd_implementation() -> String {
    simd_json::Deserializer::algorithm().to_string()
}

type Nodes<'t, 'i> = &'t [Node<'i>];

/// Nodes a value spans on the tape (containers include their header).
#[inline]
fn span(n: &Node<'_>) -> usize {
    match n {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

#[inline]
fn as_str<'i>(v: Nodes<'_, 'i>) -> Option<&'i str> {
    match v.first() {
        Some(Node::String(s)) => Some(s),
        _ => None,
    }
}

#[inline]
fn as_u64(v: Nodes<'_, '_>) -> Option<u64> {
    match v.first() {
        Some(Node::Static(StaticNode::U64(x))) => Some(*x),
        Some(Node::Static(StaticNode::I64(x))) => u64::try_from(*x).ok(),
        _ => None,
    }
}

#[inline]
fn as_bool(v: Nodes<'_, '_>) -> Option<bool> {
    match v.first() {
        Some(Node::Static(StaticNode::Bool(b))) => Some(*b),
        _ => None,
    }
}

/// Calls `f(key, value)` for each member of the object at `v[0]`; `false` if not an object.
#[inline]
fn for_each_member<'t, 'i>(v: Nodes<'t, 'i>, mut f: impl FnMut(&'i str, Nodes<'t, 'i>)) -> bool {
    let Some(&Node::Object { len, .. }) = v.first() else {
        return false;
    };
    let mut i = 1;
    for _ in 0..len {
        let Some(Node::String(k)) = v.get(i) else {
            return false;
        };
        i += 1;
        let Some(n) = v.get(i) else {
            return false;
        };
        let end = i + span(n);
        if end > v.len() {
            return false;
        }
        f(k, &v[i..end]);
        i = end;
    }
    true
}

/// Parses `[[px, qty], ...]` into `out` at the given scales.
fn parse_levels(
    v: Nodes<'_, '_>,
    inst: Resolved,
    out: &mut Vec<(i64, i64)>,
    field: &'static str,
    symbol: &str,
) -> Result<(), ParseError> {
    out.clear();
    let bad = || ParseError::Field {
        symbol: symbol.to_owned(),
        field,
    };
    let Some(&Node::Array { len, .. }) = v.first() else {
        return Err(bad());
    };
    let mut i = 1;
    for _ in 0..len {
        let (Some(Node::Array { len: l, count }), Some(Node::String(p)), Some(Node::String(q))) =
            (v.get(i), v.get(i + 1), v.get(i + 2))
        else {
            return Err(bad());
        };
        if *l < 2 {
            return Err(bad());
        }
        let px =
            parse_mantissa(p.as_bytes(), inst.px_scale).map_err(|err| ParseError::Decimal {
                symbol: symbol.to_owned(),
                field,
                err,
            })?;
        let qty =
            parse_mantissa(q.as_bytes(), inst.qty_scale).map_err(|err| ParseError::Decimal {
                symbol: symbol.to_owned(),
                field,
                err,
            })?;
        out.push((px, qty));
        i += count + 1;
    }
    Ok(())
}

fn dec(
    text: Option<&str>,
    scale: u8,
    field: &'static str,
    symbol: &str,
) -> Result<i64, ParseError> {
    let t = text.ok_or_else(|| ParseError::Field {
        symbol: symbol.to_owned(),
        field,
    })?;
    parse_mantissa(t.as_bytes(), scale).map_err(|err| ParseError::Decimal {
        symbol: symbol.to_owned(),
        field,
        err,
    })
}

impl BinanceParser {
    /// A parser with its buffers reserved for frames up to [`PARSER_RESERVE_BYTES`].
    pub fn new() -> Self {
        Self {
            input: Vec::with_capacity(PARSER_RESERVE_BYTES + simd_json::INPUT_PADDING),
            buffers: Buffers::new(PARSER_RESERVE_BYTES),
            tape: Some(Tape(Vec::with_capacity(PARSER_RESERVE_BYTES / 4))),
            bids: Vec::with_capacity(PARSER_RESERVE_LEVELS),
            asks: Vec::with_capacity(PARSER_RESERVE_LEVELS),
        }
    }

    /// Bid levels `(px, qty)` of the last depth/snapshot parsed, in venue order.
    pub fn bids(&self) -> &[(i64, i64)] {
        &self.bids
    }

    /// Ask levels of the last depth/snapshot parsed.
    pub fn asks(&self) -> &[(i64, i64)] {
        &self.asks
    }

    /// Parses one frame. `resolve` maps a symbol (`s`) to its instrument and scales; a REST
    /// snapshot carries no symbol, so `snapshot_inst` says whose it is (the fetcher knows).
    ///
    /// # Errors
    /// [`ParseError`] for invalid JSON, missing fields, bad decimals, unknown symbols.
    pub fn parse(
        &mut self,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        snapshot_inst: Option<Resolved>,
    ) -> Result<Msg, ParseError> {
        if let Some(m) = fast::scan(
            frame,
            resolve,
            snapshot_inst,
            &mut self.bids,
            &mut self.asks,
        ) {
            return Ok(m);
        }
        self.parse_tape(frame, resolve, snapshot_inst)
    }

    /// Parses one frame with simd-json only (no canonical-layout fast path): the general path,
    /// public for the differential test and the benchmark.
    ///
    /// # Errors
    /// As [`BinanceParser::parse`].
    pub fn parse_tape(
        &mut self,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        snapshot_inst: Option<Resolved>,
    ) -> Result<Msg, ParseError> {
        let len = frame.len();
        self.input.clear();
        self.input.extend_from_slice(frame);
        self.input.resize(len + simd_json::INPUT_PADDING, 0);
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let res =
            match simd_json::fill_tape_padded(&mut self.input, len, &mut self.buffers, &mut tape) {
                Ok(()) => walk(
                    &tape.0,
                    resolve,
                    snapshot_inst,
                    &mut self.bids,
                    &mut self.asks,
                ),
                Err(e) => Err(ParseError::Json(e.to_string())),
            };
        self.tape = Some(tape.reset());
        res
    }
}

/// Interprets the tape of one frame.
fn walk(
    nodes: Nodes<'_, '_>,
    resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
    snapshot_inst: Option<Resolved>,
    bids: &mut Vec<(i64, i64)>,
    asks: &mut Vec<(i64, i64)>,
) -> Result<Msg, ParseError> {
    // Envelope or bare: find `data` (combined stream) or treat the root as the event.
    let mut data: Option<Nodes<'_, '_>> = None;
    let mut last_update_id: Option<Nodes<'_, '_>> = None;
    let (mut snap_bids, mut snap_asks) = (None, None);
    if !for_each_member(nodes, |k, v| match k {
        "data" => data = Some(v),
        "lastUpdateId" => last_update_id = Some(v),
        "bids" => snap_bids = Some(v),
        "asks" => snap_asks = Some(v),
        _ => {}
    }) {
        return Ok(Msg::Other);
    }
    if let Some(idv) = last_update_id {
        let inst = snapshot_inst.ok_or_else(|| ParseError::UnknownSymbol(String::new()))?;
        let field = |f| ParseError::Field {
            symbol: String::new(),
            field: f,
        };
        let last_id = as_u64(idv).ok_or_else(|| field("lastUpdateId"))?;
        parse_levels(
            snap_bids.ok_or_else(|| field("bids"))?,
            inst,
            bids,
            "bids",
            "",
        )?;
        parse_levels(
            snap_asks.ok_or_else(|| field("asks"))?,
            inst,
            asks,
            "asks",
            "",
        )?;
        return Ok(Msg::Snapshot { inst, last_id });
    }
    let ev = data.unwrap_or(nodes);
    let mut f: [Option<Nodes<'_, '_>>; 14] = [None; 14];
    const E_TYPE: usize = 0;
    const E_TIME: usize = 1;
    const SYM: usize = 2;
    const FIRST: usize = 3;
    const LAST: usize = 4;
    const B: usize = 5;
    const A: usize = 6;
    const BQ: usize = 7;
    const AQ: usize = 8;
    const T_ID: usize = 9;
    const PX: usize = 10;
    const QTY: usize = 11;
    const T_TIME: usize = 12;
    const MAKER: usize = 13;
    if !for_each_member(ev, |k, v| {
        let slot = match k {
            "e" => E_TYPE,
            "E" => E_TIME,
            "s" => SYM,
            "U" => FIRST,
            "u" => LAST,
            "b" => B,
            "a" => A,
            "B" => BQ,
            "A" => AQ,
            "t" => T_ID,
            "p" => PX,
            "q" => QTY,
            "T" => T_TIME,
            "m" => MAKER,
            _ => return,
        };
        f[slot] = Some(v);
    }) {
        return Ok(Msg::Other);
    }
    let Some(sym) = f[SYM].and_then(as_str) else {
        return Ok(Msg::Other);
    };
    let kind = f[E_TYPE].and_then(as_str);
    let is_ticker = kind.is_none() && f[BQ].is_some() && f[AQ].is_some();
    if !matches!(kind, Some("depthUpdate" | "trade" | "aggTrade")) && !is_ticker {
        return Ok(Msg::Other);
    }
    let inst = resolve(sym.as_bytes()).ok_or_else(|| ParseError::UnknownSymbol(sym.to_owned()))?;
    let field = |name| ParseError::Field {
        symbol: sym.to_owned(),
        field: name,
    };
    let ms_to_ns = |ms: u64| ms.saturating_mul(1_000_000);
    if is_ticker {
        return Ok(Msg::BookTicker {
            inst,
            update_id: f[LAST].and_then(as_u64).ok_or_else(|| field("u"))?,
            bid_px: dec(f[B].and_then(as_str), inst.px_scale, "b", sym)?,
            bid_qty: dec(f[BQ].and_then(as_str), inst.qty_scale, "B", sym)?,
            ask_px: dec(f[A].and_then(as_str), inst.px_scale, "a", sym)?,
            ask_qty: dec(f[AQ].and_then(as_str), inst.qty_scale, "A", sym)?,
        });
    }
    match kind {
        Some("depthUpdate") => {
            let first_id = f[FIRST].and_then(as_u64).ok_or_else(|| field("U"))?;
            let last_id = f[LAST].and_then(as_u64).ok_or_else(|| field("u"))?;
            let exch_ts = ms_to_ns(f[E_TIME].and_then(as_u64).unwrap_or(0));
            parse_levels(f[B].ok_or_else(|| field("b"))?, inst, bids, "b", sym)?;
            parse_levels(f[A].ok_or_else(|| field("a"))?, inst, asks, "a", sym)?;
            Ok(Msg::Depth(DepthHeader {
                inst,
                first_id,
                last_id,
                exch_ts,
            }))
        }
        _ => {
            // trade: id in `t`; aggTrade: id in `a` (a number there, not an ask price).
            let id_node = if kind == Some("trade") { f[T_ID] } else { f[A] };
            Ok(Msg::Trade {
                inst,
                trade_id: id_node.and_then(as_u64).ok_or_else(|| field("t"))?,
                px: dec(f[PX].and_then(as_str), inst.px_scale, "p", sym)?,
                qty: dec(f[QTY].and_then(as_str), inst.qty_scale, "q", sym)?,
                ts: ms_to_ns(f[T_TIME].and_then(as_u64).unwrap_or(0)),
                buyer_maker: f[MAKER].and_then(as_bool).unwrap_or(false),
            })
        }
    }
}
