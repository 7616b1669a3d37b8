//! `book` peer baseline: hftbacktest's market-depth books (crate `hftbacktest` 0.9, features
//! `backtest` only), fed the same Binance capture as `lyra` and `serde-decimal-btreemap`.
//!
//! What exactly runs, per frame:
//! - Front end: hftbacktest's crate ships no Binance parser (its Binance connector lives in its
//!   repository, outside the crate: `serde_json` into typed structs with prices and quantities as
//!   `String`s, then `str::parse::<f64>`). Here `serde_json` decodes into typed structs whose
//!   prices and quantities are parsed from the borrowed JSON strings straight to `f64` (the same
//!   `str::parse::<f64>`, minus the connector's `String` per field, so this row is a lower bound
//!   of the connector's cost). Depth diffs and the REST snapshot drive the book; trades and
//!   bookTickers are decoded the same way and dropped (the connector subscribes to trades, not
//!   bookTickers; decoding them keeps the cache traffic of a live feed on every row).
//! - Bridge: [`crate::book::Bridge`], the snapshot bridge and gap rules `BaseBook` runs (buffer
//!   diffs until the snapshot, drop diffs with `u <= lastUpdateId`, a `U` past `last + 1` unsyncs).
//!   The connector itself does none ("natural refresh only"); without it this capture's book
//!   would differ from Lyra's and the check at the end of each pass would fail.
//! - Book: each level through `L2MarketDepth::update_bid_depth` / `update_ask_depth` (price and
//!   quantity in `f64`, ticks from `tick_size` 0.01, lots from `lot_size` 1e-8, the instrument's
//!   scales), timestamp `E` in ns as the connector passes it; then the best bid/ask read
//!   (`best_bid_tick`, `best_bid_qty`, `best_ask_tick`, `best_ask_qty`) per depth message.
//! - Two of its books, the ones hftbacktest points to for this use: `HashMapMarketDepth` (what
//!   its live bot and its examples use) and `ROIVectorMarketDepth` (its array-over-a-range-of-
//!   interest variant, documented as the faster one; the closest to Lyra's window). The ROI is
//!   [`ROI_USD`], the day's price region with a wide margin, as a user sets it; levels outside it
//!   are dropped by design (Lyra keeps them in its far-level fallback, more work on Lyra's side).
//!   Its arrays are allocated and zeroed at construction, before a pass starts, as Lyra's window.
//!
//! Check at the end of every pass: best bid and ask (price in ticks equal to Lyra's mantissa at
//! the instrument's scale, quantity rounded to 1e-8 equal to Lyra's) and the level count per
//! side (for the ROI book, Lyra's levels inside the ROI), so every row did the same work.

use std::hint::black_box;

use anyhow::{ensure, Context, Result};
use hftbacktest::{
    depth::{
        HashMapMarketDepth, L2MarketDepth, MarketDepth, ROIVectorMarketDepth, INVALID_MAX,
        INVALID_MIN,
    },
    types::Side,
};
use lyra_engine::book::L2Book;
use serde::{de::Error as _, Deserialize, Deserializer};

use crate::{
    book::{BookMsg, Bridge, BridgeBook, PeerBook, PeerRow},
    parse::{frame_kind, Env, FrameBuf, FrameKind},
    report::Report,
};

/// Price tick of BTCUSDT (Binance PRICE_FILTER), as hftbacktest takes it.
pub const TICK_SIZE: f64 = 0.01;
/// Quantity unit: the instrument's quantity scale (8 decimals), so no quantity rounds to 0 lots.
pub const LOT_SIZE: f64 = 1e-8;
/// `ROIVectorMarketDepth`'s range of interest in USD: the capture trades near 61,800.
pub const ROI_USD: (f64, f64) = (50_000.0, 70_000.0);
/// Lyra's price mantissa per tick at the instrument's price scale (0.01 at 8 decimals).
const TICK_MANTISSA: i64 = 1_000_000;
/// Lyra's quantity mantissa per unit (8 decimals).
const QTY_SCALE: f64 = 1e8;

/// A decimal JSON string parsed to `f64` as hftbacktest's connector does (`str::parse`).
#[derive(Debug, Clone, Copy)]
pub struct F64Str(pub f64);

impl<'de> Deserialize<'de> for F64Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <&'de str>::deserialize(d)?;
        s.parse().map(F64Str).map_err(D::Error::custom)
    }
}

/// A `[price, quantity]` level.
pub type HbtLevel = (F64Str, F64Str);

/// A depth diff, the fields the connector reads.
#[allow(non_snake_case, missing_docs)]
#[derive(Debug, Deserialize)]
pub struct HbtDepth {
    pub E: i64,
    pub U: u64,
    pub u: u64,
    pub b: Vec<HbtLevel>,
    pub a: Vec<HbtLevel>,
}

/// The REST snapshot.
#[allow(non_snake_case, missing_docs)]
#[derive(Debug, Deserialize)]
pub struct HbtSnapshot {
    pub lastUpdateId: u64,
    pub bids: Vec<HbtLevel>,
    pub asks: Vec<HbtLevel>,
}

/// A trade, decoded and dropped.
#[allow(non_snake_case, missing_docs)]
#[derive(Debug, Deserialize)]
pub struct HbtTrade {
    pub E: i64,
    pub p: F64Str,
    pub q: F64Str,
    pub m: bool,
}

/// A bookTicker, decoded and dropped.
#[allow(non_snake_case, missing_docs)]
#[derive(Debug, Deserialize)]
pub struct HbtTicker {
    pub u: u64,
    pub b: F64Str,
    pub B: F64Str,
    pub a: F64Str,
    pub A: F64Str,
}

/// One decoded frame.
pub type HbtMsg = BookMsg<HbtDepth, HbtSnapshot>;

/// Decodes one frame, dispatching on the stream name ([`frame_kind`]) as the `book` baseline
/// does.
///
/// # Errors
/// serde_json's error (a malformed frame or number).
pub fn hbt_parse(frame: &str) -> Result<HbtMsg, serde_json::Error> {
    Ok(match frame_kind(frame) {
        FrameKind::Snapshot => HbtMsg::Snapshot(serde_json::from_str(frame)?),
        FrameKind::Depth => HbtMsg::Depth(serde_json::from_str::<Env<HbtDepth>>(frame)?.data),
        FrameKind::BookTicker => {
            black_box(serde_json::from_str::<Env<HbtTicker>>(frame)?.data);
            HbtMsg::Other
        }
        FrameKind::Trade => {
            black_box(serde_json::from_str::<Env<HbtTrade>>(frame)?.data);
            HbtMsg::Other
        }
        FrameKind::Other => HbtMsg::Other,
    })
}

/// An hftbacktest depth type as this suite drives it: construction and what the check reads.
pub trait PeerDepth: L2MarketDepth + MarketDepth {
    /// The row name.
    const NAME: &'static str;
    /// A fresh, empty book (all up-front allocation done here, outside the timed pass).
    fn fresh() -> Self;
    /// Inclusive tick range the book holds (levels outside are dropped by design).
    fn held_ticks(&self) -> (i64, i64);
    /// Levels held per side: `(bids, asks)`.
    fn level_counts(&self) -> (usize, usize);
}

impl PeerDepth for HashMapMarketDepth {
    const NAME: &'static str = "hftbacktest-hashmap";

    fn fresh() -> Self {
        HashMapMarketDepth::new(TICK_SIZE, LOT_SIZE)
    }

    fn held_ticks(&self) -> (i64, i64) {
        (i64::MIN, i64::MAX)
    }

    fn level_counts(&self) -> (usize, usize) {
        (self.bid_depth.len(), self.ask_depth.len())
    }
}

impl PeerDepth for ROIVectorMarketDepth {
    const NAME: &'static str = "hftbacktest-roivector";

    fn fresh() -> Self {
        ROIVectorMarketDepth::new(TICK_SIZE, LOT_SIZE, ROI_USD.0, ROI_USD.1)
    }

    fn held_ticks(&self) -> (i64, i64) {
        self.roi_tick()
    }

    fn level_counts(&self) -> (usize, usize) {
        // A removed level stays in the array as 0.0.
        let held = |side: &[f64]| side.iter().filter(|q| **q > 0.0).count();
        (held(self.bid_depth()), held(self.ask_depth()))
    }
}

fn set_levels<D: PeerDepth>(depth: &mut D, bids: &[HbtLevel], asks: &[HbtLevel], ts: i64) {
    for &(F64Str(p), F64Str(q)) in bids {
        depth.update_bid_depth(p, q, ts);
    }
    for &(F64Str(p), F64Str(q)) in asks {
        depth.update_ask_depth(p, q, ts);
    }
}

impl<D: PeerDepth> BridgeBook for D {
    type Diff = HbtDepth;
    type Snapshot = HbtSnapshot;
    /// `(bid tick, bid qty, ask tick, ask qty)`.
    type Top<'t>
        = (i64, f64, i64, f64)
    where
        Self: 't;

    fn diff_ids(d: &HbtDepth) -> (u64, u64) {
        (d.U, d.u)
    }

    fn snapshot_id(s: &HbtSnapshot) -> u64 {
        s.lastUpdateId
    }

    fn apply_diff(&mut self, d: HbtDepth) {
        // The connector passes the event time in ns.
        set_levels(self, &d.b, &d.a, d.E.saturating_mul(1_000_000));
    }

    fn load_snapshot(&mut self, s: HbtSnapshot) {
        // A fresh book is already empty: clearing the ROI book zeroes both whole arrays, a
        // cost no first snapshot pays (a resync would).
        if self.best_bid_tick() != INVALID_MIN || self.best_ask_tick() != INVALID_MAX {
            self.clear_depth(Side::None, f64::NAN);
        }
        set_levels(self, &s.bids, &s.asks, 0);
    }

    fn top(&self) -> Self::Top<'_> {
        (
            self.best_bid_tick(),
            self.best_bid_qty(),
            self.best_ask_tick(),
            self.best_ask_qty(),
        )
    }
}

/// The [`Bridge`] over one hftbacktest book.
pub type HbtBook<D> = Bridge<D>;

impl<D: PeerDepth> PeerBook for Bridge<D> {
    const NAME: &'static str = D::NAME;

    fn fresh() -> Self {
        Self::new(D::fresh())
    }

    #[inline]
    fn frame(&mut self, f: &str) -> Result<bool> {
        let m = hbt_parse(f).with_context(|| format!("{}: {f:.80}", D::NAME))?;
        Ok(self.step(m))
    }

    fn check(&self, lyra: &L2Book) -> Result<()> {
        same_book(lyra, self)
    }
}

/// Checks the peer's book against Lyra's: same top (at the instrument's scale) and the same
/// level counts over the range the peer holds.
///
/// # Errors
/// When they differ (the comparison would not be of equal work).
pub fn same_book<D: PeerDepth>(l: &L2Book, h: &HbtBook<D>) -> Result<()> {
    let (bt, bq, at, aq) = h.top();
    let tick = |p: i64| (p % TICK_MANTISSA == 0).then_some(p / TICK_MANTISSA);
    let qty = |q: f64| (q * QTY_SCALE).round() as i64;
    let lb = l.best_bid().map(|(p, q)| (tick(p.0), q.0));
    let la = l.best_ask().map(|(p, q)| (tick(p.0), q.0));
    let hb = (bt != INVALID_MIN).then(|| (Some(bt), qty(bq)));
    let ha = (at != INVALID_MAX).then(|| (Some(at), qty(aq)));
    ensure!(lb == hb, "{}: best bids differ: {lb:?} vs {hb:?}", D::NAME);
    ensure!(la == ha, "{}: best asks differ: {la:?} vs {ha:?}", D::NAME);
    let (lo, hi) = h.book.held_ticks();
    let held = |p: i64| p % TICK_MANTISSA == 0 && (lo..=hi).contains(&(p / TICK_MANTISSA));
    let lyra = (
        l.bids().filter(|(p, _)| held(p.0)).count(),
        l.asks().filter(|(p, _)| held(p.0)).count(),
    );
    let peer = h.book.level_counts();
    ensure!(
        lyra == peer,
        "{}: level counts differ (bids, asks): lyra {lyra:?} vs {peer:?}",
        D::NAME
    );
    Ok(())
}

/// The hftbacktest rows of the `book` suite: one per depth type, each run after Lyra and the
/// serde baseline in every pass (so the passes alternate over all rows).
pub struct HbtPeers {
    hashmap: PeerRow<HbtBook<HashMapMarketDepth>>,
    roi: PeerRow<HbtBook<ROIVectorMarketDepth>>,
}

impl HbtPeers {
    /// Empty histograms, no pass yet.
    pub fn new() -> Self {
        Self {
            hashmap: PeerRow::new(),
            roi: PeerRow::new(),
        }
    }

    /// One latency pass of each peer over every frame (a sample per depth message when
    /// `record`), each book then checked against `lyra`, the book of Lyra's same pass.
    ///
    /// # Errors
    /// An undecodable frame, or a book that disagrees with Lyra's.
    pub fn latency_pass(
        &mut self,
        frames: &[(u64, String)],
        record: bool,
        lyra: &L2Book,
    ) -> Result<()> {
        self.hashmap.latency_pass(frames, record, lyra)?;
        self.roi.latency_pass(frames, record, lyra)
    }

    /// One throughput pass of each peer over the book-building frames (kept as the fastest
    /// when `record`), each book then checked against `lyra`.
    ///
    /// # Errors
    /// An undecodable frame, or a book that disagrees with Lyra's.
    pub fn throughput_pass(
        &mut self,
        frames: &FrameBuf,
        record: bool,
        lyra: &L2Book,
    ) -> Result<()> {
        self.hashmap.throughput_pass(frames, record, lyra)?;
        self.roi.throughput_pass(frames, record, lyra)
    }

    /// The rows; `per_s` turns a fastest pass (ns) into depth messages per second.
    pub fn reports(&self, per_s: &dyn Fn(u64) -> f64) -> Vec<Report> {
        vec![self.hashmap.report(per_s), self.roi.report(per_s)]
    }
}

impl Default for HbtPeers {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{book::beside_lyra, parse::load_capture};

    #[test]
    fn decodes_depth_levels_to_f64_and_refuses_bad_numbers() {
        let f = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161253000,"s":"BTCUSDT","U":10,"u":12,"b":[["61800.01","0.50000000"]],"a":[["61800.02","0.00000000"]]}}"#;
        let HbtMsg::Depth(d) = hbt_parse(f).expect("valid frame") else {
            panic!("not a depth message")
        };
        assert_eq!((d.U, d.u, d.E), (10, 12, 1_723_161_253_000));
        assert_eq!((d.b[0].0 .0, d.b[0].1 .0), (61800.01, 0.5));
        assert_eq!(d.a[0].1 .0, 0.0);
        let bad = f.replace("61800.01", "61800.0x");
        assert!(hbt_parse(&bad).is_err());
    }

    /// Both hftbacktest books, behind the bridge, end one pass over the capture equal to Lyra's,
    /// and the check notices one level more.
    #[test]
    fn peers_match_lyra_over_the_capture() {
        let frames = match load_capture() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipped: {e:#}");
                return;
            }
        };
        let (pipe, mut hash) = beside_lyra::<HbtBook<HashMapMarketDepth>>(&frames);
        let (_, mut roi) = beside_lyra::<HbtBook<ROIVectorMarketDepth>>(&frames);
        same_book(&pipe.book, &hash).expect("hashmap book equals lyra's");
        same_book(&pipe.book, &roi).expect("roi book equals lyra's");
        let (bids, _) = hash.book.level_counts();
        assert!(bids > 100, "a real book: {bids} bid levels");
        // A bid at a price no level holds, far below the touch: same top, one level more.
        assert_eq!(hash.book.bid_qty_at_tick(5_812_345), 0.0);
        hash.book.update_bid_depth(58_123.45, 1.0, 0);
        assert!(same_book(&pipe.book, &hash).is_err());
        // Outside the ROI the peer drops the level by design: still equal over what it holds.
        roi.book.update_bid_depth(40_000.0, 1.0, 0);
        same_book(&pipe.book, &roi).expect("outside the roi");
    }
}
