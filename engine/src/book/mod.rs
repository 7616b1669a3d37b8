//! Exact L2 order books built from `MdEvent`s (DESIGN §5).
//!
//! [`L2Book`] is one venue's book for one instrument: two [`ladder::Ladder`] sides (an
//! array-indexed window around the touch with a sorted fallback for far levels), the venue
//! sequence and times of the last applied update, and a `valid` flag with its reason. It is
//! venue-generic: every adapter (Binance, OKX, Kraken, Gate...) feeds it the same events —
//! `SnapshotBegin`, snapshot levels, `SnapshotEnd`, levels with `END_OF_MESSAGE` on the last event
//! of each venue message, `BookInvalid` — and venue checksums read the levels back best-first
//! with [`L2Book::bids`] / [`L2Book::asks`].
//!
//! Validity: a book becomes valid at `SnapshotEnd` and stays valid until a `BookInvalid` event or
//! a crossed/locked top after a complete message (`END_OF_MESSAGE`), which invalidates it with
//! [`InvalidReason::Crossed`] at once. Only a new snapshot makes it valid again.
//!
//! Tick: with `BookConfig::tick == 0` (unknown, e.g. an instrument first seen in a replay) the
//! book derives it at the first `SnapshotEnd` as the gcd of all snapshot prices; prices off
//! that grid later are still exact (they live in the far fallback).

pub mod ladder;

use lyra_shm::msg::{
    md_flags, BookTop, InstrumentIdx, InvalidReason, MdEvent, MdKind, Px, Qty, Side, VenueId,
    TOP_LEVELS,
};

use self::ladder::{gcd, Ladder};

/// Book geometry, fixed at construction (everything is allocated then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookConfig {
    /// Window slots per side around the touch (the array-indexed range of interest).
    pub window_slots: usize,
    /// Far levels per side reserved up front.
    pub far_levels: usize,
    /// Price tick as a mantissa at the instrument's price scale; 0 = derive from the snapshot.
    pub tick: i64,
}

impl Default for BookConfig {
    fn default() -> Self {
        // 262144 slots x 8 B = 2 MiB per side; at BTCUSDT's 0.01 tick the window spans $2,621
        // (touch a quarter in: $655 on the better side, $1,966 on the worse). Binance diffs touch
        // levels far from the touch: on the real capture 42% of level updates lie beyond $40 of
        // the mid, 5.7% beyond $650. Levels outside the window go to the sorted fallback, whose
        // binary search over a few thousand far levels was a tenth of the book path at 65536
        // slots; 262144 slots measured 8% faster per depth message (2.95-3.0 ms vs 3.2-3.26 ms a
        // pass over the capture, four alternating runs). A window store misses cache either way
        // but sits in the store buffer (see `Ladder::set_slot`); the bitmaps (32 KiB per side)
        // stay in L1/L2. Earlier: a 4096-slot window was 1.6x slower, 16384 slower than 65536.
        // The cost is memory: about 4 MiB per book, written once at start (no page faults later).
        Self {
            window_slots: 262_144,
            far_levels: 8192,
            tick: 0,
        }
    }
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Not a book event (BBO, trade, checksum): nothing changed.
    Ignored,
    /// A level or snapshot event in the middle of a venue message.
    Partial,
    /// The last event of a venue message (or `SnapshotEnd`): the book is consistent now.
    EndOfMessage,
    /// The book went from valid to invalid with this event.
    Invalidated(InvalidReason),
}

/// One venue's L2 book for one instrument.
#[derive(Debug, Clone)]
pub struct L2Book {
    venue: VenueId,
    instrument: InstrumentIdx,
    bids: Ladder,
    asks: Ladder,
    derive_tick: bool,
    valid: bool,
    reason: InvalidReason,
    in_snapshot: bool,
    seq: u64,
    exch_ts: u64,
    recv_ts: u64,
}

impl L2Book {
    /// An empty, invalid book with all capacity reserved.
    ///
    /// # Panics
    /// If `cfg.window_slots` is 0 (a configuration error at start-up).
    pub fn new(venue: VenueId, instrument: InstrumentIdx, cfg: BookConfig) -> Self {
        Self {
            venue,
            instrument,
            bids: Ladder::new(cfg.window_slots, cfg.far_levels, cfg.tick),
            asks: Ladder::new(cfg.window_slots, cfg.far_levels, cfg.tick),
            derive_tick: cfg.tick <= 0,
            valid: false,
            reason: InvalidReason::None,
            in_snapshot: false,
            seq: 0,
            exch_ts: 0,
            recv_ts: 0,
        }
    }

    /// The venue of this book.
    pub fn venue(&self) -> VenueId {
        self.venue
    }

    /// The instrument of this book.
    pub fn instrument(&self) -> InstrumentIdx {
        self.instrument
    }

    /// Whether the book is the venue's book (synced, unbroken).
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// Why the book is invalid (`None` while valid or before the first snapshot).
    pub fn invalid_reason(&self) -> InvalidReason {
        self.reason
    }

    /// The venue sequence of the last applied update.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Venue time of the last applied update, ns.
    pub fn exch_ts(&self) -> u64 {
        self.exch_ts
    }

    /// The price tick (mantissa) the window uses; 0 while unknown.
    pub fn tick(&self) -> i64 {
        self.asks.tick()
    }

    /// Best bid.
    #[inline]
    pub fn best_bid(&self) -> Option<(Px, Qty)> {
        self.bids.best().map(|(k, q)| (Px(-k), Qty(q)))
    }

    /// Best ask.
    #[inline]
    pub fn best_ask(&self) -> Option<(Px, Qty)> {
        self.asks.best().map(|(k, q)| (Px(k), Qty(q)))
    }

    /// Number of bid levels.
    pub fn bid_levels(&self) -> usize {
        self.bids.len()
    }

    /// Number of ask levels.
    pub fn ask_levels(&self) -> usize {
        self.asks.len()
    }

    /// Quantity at `px` on `side` (0 if absent).
    pub fn qty_at(&self, side: Side, px: Px) -> Qty {
        Qty(match side {
            Side::Buy => self.bids.get(px.0.wrapping_neg()),
            Side::Sell => self.asks.get(px.0),
        })
    }

    /// Bid levels, best (highest) first.
    pub fn bids(&self) -> impl Iterator<Item = (Px, Qty)> + '_ {
        self.bids.iter().map(|(k, q)| (Px(-k), Qty(q)))
    }

    /// Ask levels, best (lowest) first.
    pub fn asks(&self) -> impl Iterator<Item = (Px, Qty)> + '_ {
        self.asks.iter().map(|(k, q)| (Px(k), Qty(q)))
    }

    /// Sets the level at `px` on `side` to `qty` (0 deletes). A non-positive price or a negative
    /// quantity cannot come from a venue book: the book becomes invalid (`Malformed`) instead.
    #[inline]
    pub fn set(&mut self, side: Side, px: Px, qty: Qty) -> bool {
        if px.0 <= 0 || qty.0 < 0 {
            self.invalidate(InvalidReason::Malformed);
            return false;
        }
        match side {
            Side::Buy => self.bids.set(-px.0, qty.0),
            Side::Sell => self.asks.set(px.0, qty.0),
        }
        true
    }

    /// Removes every level and marks the book invalid with `reason` (kept for diagnostics).
    pub fn clear(&mut self, reason: InvalidReason) {
        self.bids.clear();
        self.asks.clear();
        self.valid = false;
        self.reason = reason;
    }

    /// Marks the book invalid; returns whether it was valid before.
    pub fn invalidate(&mut self, reason: InvalidReason) -> bool {
        let was = self.valid;
        self.valid = false;
        self.reason = reason;
        was
    }

    /// Whether best bid >= best ask (crossed or locked).
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some((b, _)), Some((a, _))) if b >= a)
    }

    /// Applies one market-data event for this book.
    #[inline]
    pub fn apply(&mut self, ev: &MdEvent) -> Applied {
        // Levels are nearly every event (36 per Binance depth message on average): tested first,
        // inline, so the common case takes one predictable branch instead of the kind dispatch.
        if ev.kind == MdKind::Level {
            return self.apply_level(ev);
        }
        self.apply_other(ev)
    }

    /// [`L2Book::apply`] for a `Level` event.
    #[inline(always)]
    fn apply_level(&mut self, ev: &MdEvent) -> Applied {
        if ev.px.0 <= 0 || ev.qty.0 < 0 {
            return self.malformed_level();
        }
        match ev.side {
            Side::Buy => self.bids.set(-ev.px.0, ev.qty.0),
            Side::Sell => self.asks.set(ev.px.0, ev.qty.0),
        }
        if self.in_snapshot {
            return Applied::Partial;
        }
        self.seq = ev.seq;
        self.exch_ts = ev.exch_ts;
        self.recv_ts = ev.recv_ts;
        if ev.flags & md_flags::END_OF_MESSAGE != 0 {
            self.end_of_message()
        } else {
            Applied::Partial
        }
    }

    /// A level no venue book can hold (see [`L2Book::set`]): the book becomes invalid.
    #[cold]
    #[inline(never)]
    fn malformed_level(&mut self) -> Applied {
        if self.invalidate(InvalidReason::Malformed) {
            Applied::Invalidated(InvalidReason::Malformed)
        } else {
            Applied::Partial
        }
    }

    /// [`L2Book::apply`] for every kind but `Level` (snapshot bounds, invalidation, non-book).
    #[inline(never)]
    fn apply_other(&mut self, ev: &MdEvent) -> Applied {
        match ev.kind {
            MdKind::Level => self.apply_level(ev),
            MdKind::SnapshotBegin => {
                self.clear(InvalidReason::None);
                self.in_snapshot = true;
                Applied::Partial
            }
            MdKind::SnapshotEnd => {
                self.in_snapshot = false;
                self.seq = ev.seq;
                self.exch_ts = ev.exch_ts;
                self.recv_ts = ev.recv_ts;
                if self.derive_tick && self.tick() == 0 {
                    let g = self.asks.gcd_keys(self.bids.gcd_keys(0));
                    self.bids.set_tick(g);
                    self.asks.set_tick(g);
                }
                if self.reason == InvalidReason::Malformed {
                    // A bad level inside the snapshot: the snapshot cannot be trusted.
                    return Applied::EndOfMessage;
                }
                self.valid = true;
                self.reason = InvalidReason::None;
                self.end_of_message()
            }
            MdKind::BookInvalid => {
                self.in_snapshot = false;
                if self.invalidate(ev.reason) {
                    Applied::Invalidated(ev.reason)
                } else {
                    Applied::EndOfMessage
                }
            }
            MdKind::Bbo | MdKind::Trade | MdKind::Checksum => Applied::Ignored,
        }
    }

    /// The check after a complete venue message: a crossed or locked book is invalid at once.
    #[inline]
    fn end_of_message(&mut self) -> Applied {
        if self.valid && self.is_crossed() {
            self.invalidate(InvalidReason::Crossed);
            return Applied::Invalidated(InvalidReason::Crossed);
        }
        Applied::EndOfMessage
    }

    /// Writes the top [`TOP_LEVELS`] levels per side, sequence, times and validity into `out`.
    pub fn top_into(&self, out: &mut BookTop) {
        out.exch_ts = self.exch_ts;
        out.recv_ts = self.recv_ts;
        out.seq = self.seq;
        out.instrument = self.instrument;
        out.venue = self.venue;
        out.valid = u8::from(self.valid);
        out.reason = self.reason;
        out.bid_px = [Px(0); TOP_LEVELS];
        out.bid_qty = [Qty(0); TOP_LEVELS];
        out.ask_px = [Px(0); TOP_LEVELS];
        out.ask_qty = [Qty(0); TOP_LEVELS];
        for (i, (p, q)) in self.bids().take(TOP_LEVELS).enumerate() {
            out.bid_px[i] = p;
            out.bid_qty[i] = q;
        }
        for (i, (p, q)) in self.asks().take(TOP_LEVELS).enumerate() {
            out.ask_px[i] = p;
            out.ask_qty[i] = q;
        }
    }

    /// The top of book as a [`BookTop`].
    pub fn top(&self) -> BookTop {
        let mut t = BookTop::default();
        self.top_into(&mut t);
        t
    }

    /// The gcd of all prices on both sides (0 when empty): a safe tick for an unknown instrument.
    pub fn price_gcd(&self) -> i64 {
        gcd(self.asks.gcd_keys(0), self.bids.gcd_keys(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: MdKind, side: Side, px: i64, qty: i64, flags: u8) -> MdEvent {
        MdEvent {
            kind,
            side,
            px: Px(px),
            qty: Qty(qty),
            flags,
            seq: 7,
            ..MdEvent::default()
        }
    }

    fn snapshot(book: &mut L2Book, bad_level: bool) -> Applied {
        let cfg_levels = [(Side::Buy, 100, 5), (Side::Sell, 101, 5)];
        book.apply(&ev(MdKind::SnapshotBegin, Side::Buy, 0, 0, 0));
        for (side, px, qty) in cfg_levels {
            book.apply(&ev(MdKind::Level, side, px, qty, md_flags::SNAPSHOT));
        }
        if bad_level {
            book.apply(&ev(MdKind::Level, Side::Sell, 0, 5, md_flags::SNAPSHOT));
        }
        book.apply(&ev(
            MdKind::SnapshotEnd,
            Side::Buy,
            0,
            0,
            md_flags::SNAPSHOT | md_flags::END_OF_MESSAGE,
        ))
    }

    #[test]
    fn a_level_no_venue_book_can_hold_invalidates_once() {
        let mut book = L2Book::new(VenueId(0), InstrumentIdx(0), BookConfig::default());
        assert_eq!(snapshot(&mut book, false), Applied::EndOfMessage);
        assert!(book.is_valid());
        let eom = md_flags::END_OF_MESSAGE;
        assert_eq!(
            book.apply(&ev(MdKind::Level, Side::Buy, 99, 3, eom)),
            Applied::EndOfMessage
        );
        assert_eq!(book.seq(), 7);
        assert_eq!(
            book.apply(&ev(MdKind::Level, Side::Buy, 98, -1, eom)),
            Applied::Invalidated(InvalidReason::Malformed)
        );
        assert_eq!(book.invalid_reason(), InvalidReason::Malformed);
        // Already invalid: news only once.
        assert_eq!(
            book.apply(&ev(MdKind::Level, Side::Sell, -5, 1, eom)),
            Applied::Partial
        );
        assert_eq!(
            book.qty_at(Side::Buy, Px(98)),
            Qty(0),
            "the bad level was not stored"
        );
        // A clean snapshot makes it valid again; one with a bad level does not.
        assert_eq!(snapshot(&mut book, true), Applied::EndOfMessage);
        assert!(!book.is_valid());
        assert_eq!(snapshot(&mut book, false), Applied::EndOfMessage);
        assert!(book.is_valid());
        assert_eq!(book.best_bid(), Some((Px(100), Qty(5))));
        assert_eq!(book.best_ask(), Some((Px(101), Qty(5))));
    }
}
