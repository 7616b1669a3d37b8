//! `book`: parse + depth sync + book apply per Binance depth message, over the real BTCUSDT
//! capture (see `parse`), both implementations running the same snapshot bridge rules.
//!
//! - `lyra`: `feeds::binance::BinanceMd` (simd-json -> mantissas -> `DepthSync` -> `MdEvent`s)
//!   applied to `engine::book::L2Book` (array-indexed ladder), then the top exported to a `BookTop`;
//! - `serde-decimal-btreemap`: `serde_json` typed structs with `rust_decimal::Decimal` prices
//!   (`parse::base_parse`), the same buffer/bridge/gap rules, levels in `BTreeMap<Decimal, Decimal>`,
//!   then the best bid/ask read;
//! - `hftbacktest-hashmap`, `hftbacktest-roivector`: the peer project hftbacktest's
//!   `HashMapMarketDepth` and `ROIVectorMarketDepth` behind serde_json + `f64` and the same
//!   bridge ([`crate::book_hftbacktest`] says exactly what runs);
//! - `barter-data-orderbook`: the peer project barter-data's `OrderBook` behind its own Binance
//!   serde types (`Decimal` levels) and the same bridge ([`crate::book_barter`] says exactly what
//!   runs).
//!
//! Latency passes: every frame of the file goes through each implementation (tickers and trades
//! too, as in a live feed); a histogram sample is taken per depth message (3,451 per pass).
//! Throughput passes: only the frames that build the book (the depth diffs and the REST snapshot,
//! the same list for both) go through each implementation, timed as a whole pass with no
//! per-message clock read or histogram record; `per_s` = depth messages per second of each
//! implementation's fastest such pass (the one snapshot's cost included on both sides; the
//! fastest pass because on a shared machine a preempted pass measures someone else — the same
//! rule for both, over [`THROUGHPUT_PASSES`] alternating passes each, so one noisy moment cannot
//! decide the ratio). In these passes the frames lie back to back in one buffer
//! ([`FrameBuf`], why there): stored as separate strings, each depth frame's first bytes were a
//! cache miss no live feed pays, about a seventh of Lyra's time per message. Both books are built before their pass starts (the Lyra book writes its
//! window once at construction, as a long-running engine's book has long been touched; the
//! baseline's maps start empty and allocate as they grow, which is their way of working). Both
//! books are checked against each other at the end of every pass (same top, same level counts),
//! so the comparison is of equal work.

use std::{collections::BTreeMap, hint::black_box};

use anyhow::{ensure, Result};
use lyra_engine::book::{BookConfig, L2Book};
use lyra_feeds::{
    binance::{BinanceMd, FrameInfo, SyncConfig},
    instrument::Resolved,
};
use lyra_shm::{
    clock::mono_now_ns,
    msg::{BookTop, MdEvent, VenueId},
};
use rust_decimal::Decimal;

use crate::{
    book_barter::BarterPeer,
    book_hftbacktest::HbtPeers,
    parse::{base_parse, load_capture, lyra_table, BaseDepth, BaseMsg, FrameBuf},
    report::{new_hist, Report},
    Opts,
};

/// A baseline level: price and quantity.
pub type BaseLevel<'a> = (&'a Decimal, &'a Decimal);

/// The baseline book: the documented bridge over `BTreeMap<Decimal, Decimal>` sides.
#[derive(Debug, Default)]
pub struct BaseBook<'a> {
    synced: bool,
    last: u64,
    buf: Vec<BaseDepth<'a>>,
    /// Bids by price.
    pub bids: BTreeMap<Decimal, Decimal>,
    /// Asks by price.
    pub asks: BTreeMap<Decimal, Decimal>,
}

impl<'a> BaseBook<'a> {
    fn set(side: &mut BTreeMap<Decimal, Decimal>, levels: &[(Decimal, Decimal)]) {
        for &(p, q) in levels {
            if q.is_zero() {
                side.remove(&p);
            } else {
                side.insert(p, q);
            }
        }
    }

    fn apply(&mut self, d: &BaseDepth<'a>) {
        if d.u <= self.last {
            return;
        }
        if d.U > self.last + 1 {
            self.synced = false;
            return;
        }
        Self::set(&mut self.bids, &d.b);
        Self::set(&mut self.asks, &d.a);
        self.last = d.u;
    }

    /// One decoded frame.
    pub fn on_msg(&mut self, m: BaseMsg<'a>) {
        match m {
            BaseMsg::Depth(d) if self.synced => self.apply(&d),
            BaseMsg::Depth(d) => self.buf.push(d),
            BaseMsg::Snapshot(s) => {
                if self.buf.first().is_some_and(|b| s.lastUpdateId < b.U) {
                    return;
                }
                self.bids.clear();
                self.asks.clear();
                Self::set(&mut self.bids, &s.bids);
                Self::set(&mut self.asks, &s.asks);
                self.last = s.lastUpdateId;
                self.synced = true;
                for d in std::mem::take(&mut self.buf) {
                    self.apply(&d);
                }
            }
            _ => {}
        }
    }

    /// Best bid and ask.
    pub fn top(&self) -> (Option<BaseLevel<'_>>, Option<BaseLevel<'_>>) {
        (self.bids.last_key_value(), self.asks.first_key_value())
    }
}

/// The Lyra pipeline for one pass: decoder, book, event buffer, exported top.
pub struct LyraPipe {
    /// Binance decoder (parser + sync).
    pub md: BinanceMd,
    /// The book.
    pub book: L2Book,
    /// Events of the current frame.
    pub events: Vec<MdEvent>,
    /// The exported top.
    pub top: BookTop,
    btc: Resolved,
}

impl LyraPipe {
    /// A fresh pipeline for the capture's instrument.
    pub fn new() -> Self {
        let (_, btc) = lyra_table();
        let venue = VenueId(0);
        // The event buffer's reserved room is written once here, at start-up, as the book's
        // window is: the passes time frames, not first-touch page faults.
        let mut events = vec![MdEvent::default(); 1 << 14];
        events.clear();
        Self {
            md: BinanceMd::new(venue, SyncConfig::default()),
            book: L2Book::new(venue, btc.idx, BookConfig::default()),
            events,
            top: BookTop::default(),
            btc,
        }
    }

    /// One frame through parse, sync, book and top export; whether it was a depth message.
    #[inline]
    pub fn frame(&mut self, recv: u64, f: &[u8]) -> Result<bool> {
        let btc = self.btc;
        self.events.clear();
        let info = self.md.on_frame(
            recv,
            f,
            &mut |s| (s == b"BTCUSDT").then_some(btc),
            Some(btc),
            &mut self.events,
        );
        let info = info.map_err(|e| anyhow::anyhow!("lyra: {e}"))?;
        for ev in &self.events {
            self.book.apply(ev);
        }
        let depth = matches!(info, FrameInfo::Depth { .. });
        if depth {
            self.book.top_into(&mut self.top);
            black_box(&self.top);
        }
        Ok(depth)
    }
}

impl Default for LyraPipe {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks that both books hold the same top and level counts.
///
/// # Errors
/// When they differ (the comparison would not be of equal work).
pub fn same_book(l: &L2Book, b: &BaseBook<'_>) -> Result<()> {
    let dec = |m: i64| Decimal::new(m, 8);
    let (bb, ba) = b.top();
    let lb = l.best_bid().map(|(p, q)| (dec(p.0), dec(q.0)));
    let la = l.best_ask().map(|(p, q)| (dec(p.0), dec(q.0)));
    ensure!(
        lb == bb.map(|(p, q)| (*p, *q)),
        "best bids differ: {lb:?} vs {bb:?}"
    );
    ensure!(
        la == ba.map(|(p, q)| (*p, *q)),
        "best asks differ: {la:?} vs {ba:?}"
    );
    ensure!(
        l.bid_levels() == b.bids.len() && l.ask_levels() == b.asks.len(),
        "level counts differ"
    );
    Ok(())
}

/// Whether a frame builds the book: a depth diff or the REST snapshot (by its head, as
/// [`base_parse`] dispatches).
fn builds_book(frame: &str) -> bool {
    let head = &frame.as_bytes()[..frame.len().min(48)];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    has(b"@depth") || has(b"\"lastUpdateId\"")
}

/// Throughput passes per implementation (full run, `--quick`): a pass of all rows is about 90 ms
/// (half of it barter-data's).
const THROUGHPUT_PASSES: (u64, u64) = (40, 20);

/// One throughput pass of each implementation over `frames` (no per-message clock reads);
/// returns `(lyra ns, baseline ns)` (the peers keep their own when `record`) and checks the
/// books agree.
fn throughput_pass(
    frames: &FrameBuf,
    peers: &mut HbtPeers,
    barter: &mut BarterPeer,
    record: bool,
) -> Result<(u64, u64)> {
    let mut pipe = LyraPipe::new();
    let t0 = mono_now_ns();
    for (recv, f) in frames.iter() {
        pipe.frame(recv, f.as_bytes())?;
    }
    let ns_lyra = mono_now_ns() - t0;
    let mut base = BaseBook::default();
    let t0 = mono_now_ns();
    for (_, f) in frames.iter() {
        let m = base_parse(f).map_err(|e| anyhow::anyhow!("baseline: {e}"))?;
        let depth = matches!(m, BaseMsg::Depth(_));
        base.on_msg(m);
        if depth {
            black_box(base.top());
        }
    }
    let ns_base = mono_now_ns() - t0;
    same_book(&pipe.book, &base)?;
    peers.throughput_pass(frames, record, &pipe.book)?;
    barter.throughput_pass(frames, record, &pipe.book)?;
    Ok((ns_lyra, ns_base))
}

/// The suite's entry.
///
/// # Errors
/// Missing data, undecodable frames, or books that disagree.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let frames = load_capture()?;
    let book_frames: Vec<&(u64, String)> = frames.iter().filter(|(_, f)| builds_book(f)).collect();
    let book_buf = FrameBuf::new(book_frames.iter().copied());
    let (mut h_lyra, mut h_base) = (new_hist(), new_hist());
    let mut peers = HbtPeers::new();
    let mut barter = BarterPeer::new();
    let (mut ns_lyra, mut ns_base) = (u64::MAX, u64::MAX);
    let mut depth_msgs = 0u64;
    let passes = opts.pick(8, 3);
    for pass in 0..=passes {
        let record = pass > 0; // pass 0 warms caches and branch predictors
        let mut pipe = LyraPipe::new();
        for (recv, f) in &frames {
            let t0 = mono_now_ns();
            let depth = pipe.frame(*recv, f.as_bytes())?;
            let dt = mono_now_ns() - t0;
            if depth && record {
                h_lyra.saturating_record(dt);
                depth_msgs += 1;
            }
        }
        let mut base = BaseBook::default();
        for (_, f) in &frames {
            let t0 = mono_now_ns();
            let m = base_parse(f).map_err(|e| anyhow::anyhow!("baseline: {e}"))?;
            let depth = matches!(m, BaseMsg::Depth(_));
            base.on_msg(m);
            if depth {
                black_box(base.top());
            }
            let dt = mono_now_ns() - t0;
            if depth && record {
                h_base.saturating_record(dt);
            }
        }
        same_book(&pipe.book, &base)?;
        peers.latency_pass(&frames, record, &pipe.book)?;
        barter.latency_pass(&frames, record, &pipe.book)?;
    }
    let (full, quick) = THROUGHPUT_PASSES;
    for pass in 0..=opts.pick(full, quick) {
        let (l, b) = throughput_pass(&book_buf, &mut peers, &mut barter, pass > 0)?;
        if pass > 0 {
            ns_lyra = ns_lyra.min(l);
            ns_base = ns_base.min(b);
        }
    }
    // Depth messages in one pass (the latency passes counted them over `passes` passes).
    let per_pass = depth_msgs / passes.max(1);
    let per_s = |ns: u64| per_pass as f64 * 1e9 / ns.max(1) as f64;
    let mut reports = vec![
        Report::from_hist("book", "lyra", &h_lyra, per_s(ns_lyra)),
        Report::from_hist("book", "serde-decimal-btreemap", &h_base, per_s(ns_base)),
    ];
    reports.extend(peers.reports(&per_s));
    reports.push(barter.report(&per_s));
    Ok(reports)
}
