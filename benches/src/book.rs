//! `book`: parse + depth sync + book apply per Binance depth message, over the real BTCUSDT
//! capture (see `parse`), every row running the same snapshot bridge rules (Lyra's `DepthSync`;
//! for the serde rows, the one [`Bridge`] here, over each row's own book and front-end types).
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

use std::{collections::BTreeMap, hint::black_box, marker::PhantomData};

use anyhow::{ensure, Result};
use hdrhistogram::Histogram;
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
    parse::{
        base_parse, frame_kind, load_capture, lyra_table, BaseDepth, BaseMsg, BaseSnapshot,
        FrameBuf, FrameKind,
    },
    report::{new_hist, Report},
    Opts,
};

/// A baseline level: price and quantity.
pub type BaseLevel<'a> = (&'a Decimal, &'a Decimal);

/// One frame as a book-building front end decodes it: every row but Lyra's has its own diff
/// and snapshot types, and the bridge takes any of them.
#[derive(Debug)]
pub enum BookMsg<D, S> {
    /// A depth diff.
    Depth(D),
    /// The REST snapshot.
    Snapshot(S),
    /// A trade, a bookTicker or anything else (not book input).
    Other,
}

/// A row's own book behind the [`Bridge`]: read its front end's diffs and snapshot, apply their
/// levels, read the top. Each row applies levels its own way; the sync rules are the bridge's.
pub trait BridgeBook {
    /// A decoded depth diff.
    type Diff;
    /// The decoded REST snapshot.
    type Snapshot;
    /// The best bid and ask as this book reads them.
    type Top<'t>
    where
        Self: 't;
    /// The diff's first and last update ids (`U`, `u`).
    fn diff_ids(d: &Self::Diff) -> (u64, u64);
    /// The snapshot's `lastUpdateId`.
    fn snapshot_id(s: &Self::Snapshot) -> u64;
    /// Applies a diff's levels (a zero quantity removes its level).
    fn apply_diff(&mut self, d: Self::Diff);
    /// Clears the book and applies the snapshot's levels.
    fn load_snapshot(&mut self, s: Self::Snapshot);
    /// The best bid and ask.
    fn top(&self) -> Self::Top<'_>;
}

/// Binance's documented snapshot + diff rules, the one copy every serde row runs: diffs are
/// buffered until the snapshot; a snapshot older than the first buffered `U` is ignored (the
/// diffs after it would leave a hole); then diffs with `u <= lastUpdateId` are dropped, the first
/// applied one straddles, and a `U` past `last + 1` unsyncs (later diffs wait for a snapshot).
#[derive(Debug)]
pub struct Bridge<B: BridgeBook> {
    /// The row's book.
    pub book: B,
    synced: bool,
    last: u64,
    buf: Vec<B::Diff>,
}

impl<B: BridgeBook> Bridge<B> {
    /// An unsynced bridge over `book` (expected empty).
    pub fn new(book: B) -> Self {
        Self {
            book,
            synced: false,
            last: 0,
            buf: Vec::new(),
        }
    }

    fn apply(&mut self, d: B::Diff) {
        let (first, last) = B::diff_ids(&d);
        if last <= self.last {
            return;
        }
        if first > self.last + 1 {
            self.synced = false;
            return;
        }
        self.book.apply_diff(d);
        self.last = last;
    }

    /// One depth diff: applied when synced, else buffered.
    pub fn on_diff(&mut self, d: B::Diff) {
        if self.synced {
            self.apply(d);
        } else {
            self.buf.push(d);
        }
    }

    /// The REST snapshot: loaded unless older than the first buffered diff, then the buffered
    /// diffs replayed over it.
    pub fn on_snapshot(&mut self, s: B::Snapshot) {
        let id = B::snapshot_id(&s);
        if self.buf.first().is_some_and(|d| id < B::diff_ids(d).0) {
            return;
        }
        self.book.load_snapshot(s);
        self.last = id;
        self.synced = true;
        for d in std::mem::take(&mut self.buf) {
            self.apply(d);
        }
    }

    /// One decoded frame; whether it was a depth diff.
    #[inline]
    pub fn feed(&mut self, m: BookMsg<B::Diff, B::Snapshot>) -> bool {
        match m {
            BookMsg::Depth(d) => {
                self.on_diff(d);
                true
            }
            BookMsg::Snapshot(s) => {
                self.on_snapshot(s);
                false
            }
            BookMsg::Other => false,
        }
    }

    /// One decoded frame, then the top read after a depth diff (what every `book` row does per
    /// depth message); whether it was one.
    #[inline]
    pub fn step(&mut self, m: BookMsg<B::Diff, B::Snapshot>) -> bool {
        let depth = self.feed(m);
        if depth {
            black_box(self.book.top());
        }
        depth
    }

    /// The best bid and ask.
    pub fn top(&self) -> B::Top<'_> {
        self.book.top()
    }

    /// Whether the book is in sync (a snapshot loaded, no gap since).
    pub fn synced(&self) -> bool {
        self.synced
    }
}

impl<B: BridgeBook + Default> Default for Bridge<B> {
    fn default() -> Self {
        Self::new(B::default())
    }
}

/// The baseline's book: `BTreeMap<Decimal, Decimal>` sides.
#[derive(Debug, Default)]
pub struct BaseSides<'a> {
    /// Bids by price.
    pub bids: BTreeMap<Decimal, Decimal>,
    /// Asks by price.
    pub asks: BTreeMap<Decimal, Decimal>,
    /// The diffs it takes borrow their frame's text.
    _frames: PhantomData<&'a str>,
}

impl BaseSides<'_> {
    fn set(side: &mut BTreeMap<Decimal, Decimal>, levels: &[(Decimal, Decimal)]) {
        for &(p, q) in levels {
            if q.is_zero() {
                side.remove(&p);
            } else {
                side.insert(p, q);
            }
        }
    }
}

impl<'a> BridgeBook for BaseSides<'a> {
    type Diff = BaseDepth<'a>;
    type Snapshot = BaseSnapshot;
    type Top<'t>
        = (Option<BaseLevel<'t>>, Option<BaseLevel<'t>>)
    where
        Self: 't;

    fn diff_ids(d: &BaseDepth<'a>) -> (u64, u64) {
        (d.U, d.u)
    }

    fn snapshot_id(s: &BaseSnapshot) -> u64 {
        s.lastUpdateId
    }

    fn apply_diff(&mut self, d: BaseDepth<'a>) {
        Self::set(&mut self.bids, &d.b);
        Self::set(&mut self.asks, &d.a);
    }

    fn load_snapshot(&mut self, s: BaseSnapshot) {
        self.bids.clear();
        self.asks.clear();
        Self::set(&mut self.bids, &s.bids);
        Self::set(&mut self.asks, &s.asks);
    }

    fn top(&self) -> Self::Top<'_> {
        (self.bids.last_key_value(), self.asks.first_key_value())
    }
}

/// The baseline book: the [`Bridge`] over [`BaseSides`].
pub type BaseBook<'a> = Bridge<BaseSides<'a>>;

impl<'a> From<BaseMsg<'a>> for BookMsg<BaseDepth<'a>, BaseSnapshot> {
    fn from(m: BaseMsg<'a>) -> Self {
        match m {
            BaseMsg::Depth(d) => BookMsg::Depth(d),
            BaseMsg::Snapshot(s) => BookMsg::Snapshot(s),
            BaseMsg::Ticker(_) | BaseMsg::Trade(_) | BaseMsg::Other => BookMsg::Other,
        }
    }
}

impl<'a> Bridge<BaseSides<'a>> {
    /// One decoded frame (no top read).
    pub fn on_msg(&mut self, m: BaseMsg<'a>) {
        self.feed(m.into());
    }

    /// One frame: [`base_parse`], bridge, book, top read; whether it was a depth message.
    ///
    /// # Errors
    /// A frame serde_json cannot decode.
    #[inline]
    pub fn frame(&mut self, f: &'a str) -> Result<bool> {
        let m = base_parse(f).map_err(|e| anyhow::anyhow!("baseline: {e}"))?;
        Ok(self.step(m.into()))
    }
}

/// A peer row's bridged book as the suite drives it: fresh each pass, one frame at a time, then
/// checked against Lyra's book of the same pass.
pub trait PeerBook {
    /// The row name.
    const NAME: &'static str;
    /// A fresh, unsynced, empty book (all up-front allocation done here, outside the timed pass).
    fn fresh() -> Self;
    /// One frame: the row's own decode, the bridge, its book, the top read; whether it was a
    /// depth message.
    ///
    /// # Errors
    /// A frame the row's front end cannot decode.
    fn frame(&mut self, f: &str) -> Result<bool>;
    /// Checks the book against Lyra's: same top, same level counts over what the row holds.
    ///
    /// # Errors
    /// When they differ (the comparison would not be of equal work).
    fn check(&self, lyra: &L2Book) -> Result<()>;
}

/// One peer row's measurements over the suite's passes.
pub struct PeerRow<R> {
    hist: Histogram<u64>,
    ns_best: u64,
    _book: PhantomData<R>,
}

impl<R: PeerBook> PeerRow<R> {
    /// An empty histogram, no pass yet.
    pub fn new() -> Self {
        Self {
            hist: new_hist(),
            ns_best: u64::MAX,
            _book: PhantomData,
        }
    }

    /// One latency pass over every frame (a sample per depth message when `record`), the book
    /// then checked against `lyra`, the book of Lyra's same pass.
    ///
    /// # Errors
    /// An undecodable frame, or a book that disagrees with Lyra's.
    pub fn latency_pass(
        &mut self,
        frames: &[(u64, String)],
        record: bool,
        lyra: &L2Book,
    ) -> Result<()> {
        let mut book = R::fresh();
        for (_, f) in frames {
            let t0 = mono_now_ns();
            let depth = book.frame(f)?;
            let dt = mono_now_ns() - t0;
            if depth && record {
                self.hist.saturating_record(dt);
            }
        }
        book.check(lyra)
    }

    /// One throughput pass over the book-building frames (kept as the fastest when `record`),
    /// the book then checked against `lyra`.
    ///
    /// # Errors
    /// An undecodable frame, or a book that disagrees with Lyra's.
    pub fn throughput_pass(
        &mut self,
        frames: &FrameBuf,
        record: bool,
        lyra: &L2Book,
    ) -> Result<()> {
        let mut book = R::fresh();
        let t0 = mono_now_ns();
        for (_, f) in frames.iter() {
            book.frame(f)?;
        }
        let ns = mono_now_ns() - t0;
        if record {
            self.ns_best = self.ns_best.min(ns);
        }
        book.check(lyra)
    }

    /// The row; `per_s` turns the fastest pass (ns) into depth messages per second.
    pub fn report(&self, per_s: &dyn Fn(u64) -> f64) -> Report {
        Report::from_hist("book", R::NAME, &self.hist, per_s(self.ns_best))
    }
}

impl<R: PeerBook> Default for PeerRow<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// One pass of Lyra's pipeline and a fresh peer book over `frames`, side by side, asserting they
/// agree frame by frame on which are depth messages and count the capture's 3,451; both are
/// returned for the caller's end-of-pass checks.
#[cfg(test)]
pub(crate) fn beside_lyra<R: PeerBook>(frames: &[(u64, String)]) -> (LyraPipe, R) {
    let mut pipe = LyraPipe::new();
    let mut peer = R::fresh();
    let mut depth_msgs = 0;
    for (recv, f) in frames {
        let lyra = pipe.frame(*recv, f.as_bytes()).expect("lyra decodes");
        assert_eq!(peer.frame(f).expect("peer decodes"), lyra, "{}", R::NAME);
        depth_msgs += usize::from(lyra);
    }
    assert_eq!(depth_msgs, 3451);
    (pipe, peer)
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
        l.bid_levels() == b.book.bids.len() && l.ask_levels() == b.book.asks.len(),
        "level counts differ"
    );
    Ok(())
}

/// Whether a frame builds the book: a depth diff or the REST snapshot (by its head, as
/// [`base_parse`] dispatches).
fn builds_book(frame: &str) -> bool {
    matches!(frame_kind(frame), FrameKind::Depth | FrameKind::Snapshot)
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
        base.frame(f)?;
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
            let depth = base.frame(f)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(first: u64, last: u64, bid: &str) -> String {
        format!(
            r#"{{"stream":"btcusdt@depth@100ms","data":{{"E":1,"s":"BTCUSDT","U":{first},"u":{last},"b":[["{bid}","1"]],"a":[]}}}}"#
        )
    }

    fn snapshot(id: u64) -> String {
        format!(r#"{{"lastUpdateId":{id},"bids":[["100","1"]],"asks":[["200","1"]]}}"#)
    }

    fn bids(b: &BaseBook<'_>) -> Vec<String> {
        b.book.bids.keys().map(Decimal::to_string).collect()
    }

    /// The bridge's rules, through the baseline's front end and book: buffered until the
    /// snapshot, stale diffs dropped, the first applied one straddles, a gap unsyncs, and a
    /// snapshot older than the first buffered diff is ignored.
    #[test]
    fn bridge_buffers_drops_straddles_and_unsyncs_on_a_gap() {
        let frames = [
            diff(3, 6, "1"),
            diff(7, 9, "2"),
            snapshot(8),
            diff(10, 12, "3"),
            diff(14, 15, "4"),
            diff(16, 17, "5"),
            snapshot(10),
            snapshot(16),
        ];
        let mut b = BaseBook::default();
        assert!(b.frame(&frames[0]).expect("decodes"));
        assert!(b.frame(&frames[1]).expect("decodes"));
        assert!(!b.synced());
        assert_eq!(bids(&b), Vec::<String>::new(), "buffered, not applied");
        assert!(!b.frame(&frames[2]).expect("decodes"));
        assert!(b.synced());
        // (3, 6) is older than the snapshot; (7, 9) straddles it.
        assert_eq!(bids(&b), ["2", "100"]);
        b.frame(&frames[3]).expect("decodes");
        assert_eq!(bids(&b), ["2", "3", "100"]);
        // 14 > 12 + 1: a gap; the book waits for a snapshot, buffering again.
        b.frame(&frames[4]).expect("decodes");
        assert!(!b.synced());
        b.frame(&frames[5]).expect("decodes");
        assert_eq!(bids(&b), ["2", "3", "100"]);
        // Older than the first buffered diff (16): ignored.
        b.frame(&frames[6]).expect("decodes");
        assert!(!b.synced());
        b.frame(&frames[7]).expect("decodes");
        assert!(b.synced());
        assert_eq!(
            bids(&b),
            ["5", "100"],
            "the snapshot cleared the book; (16, 17) straddles"
        );
        let (bid, ask) = b.top();
        assert_eq!(bid.map(|(p, _)| p.to_string()).as_deref(), Some("100"));
        assert_eq!(ask.map(|(p, _)| p.to_string()).as_deref(), Some("200"));
    }

    #[test]
    fn frame_kind_reads_the_head() {
        assert_eq!(frame_kind(&snapshot(1)), FrameKind::Snapshot);
        assert_eq!(frame_kind(&diff(1, 2, "1")), FrameKind::Depth);
        assert_eq!(
            frame_kind(r#"{"stream":"btcusdt@bookTicker","data":{}}"#),
            FrameKind::BookTicker
        );
        assert_eq!(
            frame_kind(r#"{"stream":"btcusdt@trade","data":{}}"#),
            FrameKind::Trade
        );
        assert_eq!(frame_kind(r#"{"result":null,"id":1}"#), FrameKind::Other);
        assert_eq!(frame_kind(""), FrameKind::Other);
    }
}
