//! Binance diff-depth sync: the buffered snapshot bridge of PROTOCOLS §a.1, one state machine per
//! (venue, instrument), venue-independent apart from the update-id rules.
//!
//! Rules (Binance docs as corrected 2025-11-12):
//! 1. Until a snapshot is in force, BUFFER every depth event (bounded: overflow => invalid +
//!    resync, never unbounded growth); remember the first buffered `U`.
//! 2. A snapshot with `lastUpdateId < U_first` (strictly) is too old: ask for another one and
//!    keep buffering. (Strict as documented: a snapshot with `lastUpdateId == U_first - 1` would
//!    bridge, but the documented rule refetches it; we follow the documentation.)
//! 3. Drop buffered events with `u <= lastUpdateId` (stale). The first surviving event must
//!    straddle: `U <= lastUpdateId + 1 <= u`, else the bridge fails (`NoBridge`) and we resync.
//! 4. Book id = `lastUpdateId`; then for each event: `u <= id` => stale, dropped;
//!    `U > id + 1` => events were lost: emit `BookInvalid(Gap)`, discard the book, restart
//!    buffering with this event and ask for a snapshot; otherwise apply it and set id = `u`
//!    (a healthy stream has `U == id + 1`; the documented rule also accepts an overlap).
//!
//! The live client refetches when [`DepthSync::needs_snapshot`] turns true; a replay can only
//! resync from a snapshot later in the recording.

use lyra_shm::msg::{
    md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, Px, Qty, Side, VenueId,
};

use crate::sink::MdSink;

/// Buffer bounds, fixed at construction (the buffers are allocated then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Depth events held while waiting for a snapshot.
    pub max_buffered_events: usize,
    /// Levels (both sides) held while waiting for a snapshot.
    pub max_buffered_levels: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        // 100 ms events: 1024 events is ~100 s of waiting for a snapshot, far beyond a REST call.
        Self {
            max_buffered_events: 1024,
            max_buffered_levels: 128 * 1024,
        }
    }
}

/// Counters a sync keeps (exported as metrics and by `lyra replay`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Depth events and snapshots offered.
    pub frames: u64,
    /// Depth events applied to the book.
    pub applied: u64,
    /// Depth events dropped as older than the book (`u <= id`).
    pub stale_dropped: u64,
    /// Lost events detected (`U > id + 1`, or a failed bridge).
    pub gaps: u64,
    /// Times a new snapshot was needed after a break (gap, old snapshot, overflow, overrun).
    pub resyncs: u64,
    /// Snapshots applied.
    pub snapshots: u64,
    /// Snapshots refused as too old.
    pub snapshots_too_old: u64,
    /// Buffer overflows while waiting for a snapshot.
    pub overflows: u64,
}

/// One depth diff (levels as `(px, qty)` mantissas; qty 0 deletes).
#[derive(Debug, Clone, Copy)]
pub struct DepthUpdate<'a> {
    /// `U`.
    pub first_id: u64,
    /// `u`.
    pub last_id: u64,
    /// Venue time, ns.
    pub exch_ts: u64,
    /// Our receive time, ns.
    pub recv_ts: u64,
    /// Bid levels in venue order.
    pub bids: &'a [(i64, i64)],
    /// Ask levels in venue order.
    pub asks: &'a [(i64, i64)],
}

/// A REST depth snapshot.
#[derive(Debug, Clone, Copy)]
pub struct DepthSnapshot<'a> {
    /// `lastUpdateId`.
    pub last_id: u64,
    /// Our receive time, ns.
    pub recv_ts: u64,
    /// Bid levels.
    pub bids: &'a [(i64, i64)],
    /// Ask levels.
    pub asks: &'a [(i64, i64)],
}

/// What a depth event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepthOutcome {
    /// Held until a snapshot arrives.
    Buffered,
    /// Applied: its levels were emitted, the book id is now its `u`.
    Applied,
    /// Older than the book; dropped.
    Stale,
    /// It revealed lost events: the book was invalidated and buffering restarted with it.
    Gap,
    /// The buffer was full: invalidated, buffer restarted with this event.
    Overflow,
    /// The sink refused an event: invalidated, resync needed.
    Overrun,
}

/// What a snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// Applied, with this many buffered events applied after it.
    Applied {
        /// Buffered events applied after the snapshot.
        replayed: u32,
    },
    /// Older than the first buffered event: fetch another.
    TooOld,
    /// Not newer than the synced book: ignored.
    Ignored,
    /// The first surviving buffered event does not straddle it (or a later one gaps).
    NoBridge,
    /// The sink refused an event.
    Overrun,
}

#[derive(Debug, Clone, Copy)]
struct Buffered {
    first_id: u64,
    last_id: u64,
    exch_ts: u64,
    recv_ts: u64,
    start: usize,
    n_bids: usize,
    n_asks: usize,
}

/// The diff-depth sync state machine for one (venue, instrument).
#[derive(Debug, Clone)]
pub struct DepthSync {
    venue: VenueId,
    instrument: InstrumentIdx,
    cfg: SyncConfig,
    synced: bool,
    book_id: u64,
    needs_snapshot: bool,
    buf: Vec<Buffered>,
    buf_levels: Vec<(i64, i64)>,
    counters: SyncCounters,
}

impl DepthSync {
    /// A sync in the buffering state, with its buffers allocated.
    pub fn new(venue: VenueId, instrument: InstrumentIdx, cfg: SyncConfig) -> Self {
        Self {
            venue,
            instrument,
            cfg,
            synced: false,
            book_id: 0,
            needs_snapshot: true,
            buf: Vec::with_capacity(cfg.max_buffered_events),
            buf_levels: Vec::with_capacity(cfg.max_buffered_levels),
            counters: SyncCounters::default(),
        }
    }

    /// The instrument this sync serves.
    pub fn instrument(&self) -> InstrumentIdx {
        self.instrument
    }

    /// Whether the book is synced (snapshot bridged, no gap since).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Whether a (new) snapshot should be fetched.
    pub fn needs_snapshot(&self) -> bool {
        self.needs_snapshot
    }

    /// The book's update id (the last applied `u`, or the snapshot's `lastUpdateId`).
    pub fn book_id(&self) -> u64 {
        self.book_id
    }

    /// Depth events currently buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The counters.
    pub fn counters(&self) -> SyncCounters {
        self.counters
    }

    fn event(&self, kind: MdKind, seq: u64, recv_ts: u64) -> MdEvent {
        MdEvent {
            kind,
            seq,
            recv_ts,
            instrument: self.instrument,
            venue: self.venue,
            ..MdEvent::default()
        }
    }

    /// Throws the book away: emits `BookInvalid(reason)`, clears the buffer and asks for a
    /// snapshot. `was_synced` tells whether a valid book existed (only then is the invalidation
    /// news to the consumer; it is emitted either way, it is idempotent).
    fn break_book(&mut self, reason: InvalidReason, recv_ts: u64, sink: &mut impl MdSink) {
        let mut ev = self.event(MdKind::BookInvalid, self.book_id, recv_ts);
        ev.reason = reason;
        ev.flags = md_flags::END_OF_MESSAGE;
        // If even this is refused the consumer's ring is full; it sees the gap in `seq` later.
        let _ = sink.push(ev);
        self.synced = false;
        self.needs_snapshot = true;
        self.buf.clear();
        self.buf_levels.clear();
        self.counters.resyncs += 1;
    }

    /// Marks the book broken from outside (disconnect, malformed frame for this instrument).
    pub fn invalidate(&mut self, reason: InvalidReason, recv_ts: u64, sink: &mut impl MdSink) {
        self.break_book(reason, recv_ts, sink);
    }

    /// Emits the levels of one update; false if the sink refused one.
    fn emit_update(&self, u: &DepthUpdate<'_>, sink: &mut impl MdSink) -> bool {
        let n = u.bids.len() + u.asks.len();
        let mut k = 0;
        let mut ok = true;
        for (side, levels) in [(Side::Buy, u.bids), (Side::Sell, u.asks)] {
            for &(px, qty) in levels {
                k += 1;
                let ev = MdEvent {
                    kind: MdKind::Level,
                    exch_ts: u.exch_ts,
                    recv_ts: u.recv_ts,
                    seq: u.last_id,
                    aux: u.first_id,
                    px: Px(px),
                    qty: Qty(qty),
                    side,
                    flags: if k == n { md_flags::END_OF_MESSAGE } else { 0 },
                    instrument: self.instrument,
                    venue: self.venue,
                    ..MdEvent::default()
                };
                ok &= sink.push(ev);
            }
        }
        ok
    }

    fn emit_snapshot(&self, s: &DepthSnapshot<'_>, sink: &mut impl MdSink) -> bool {
        let mut ok = true;
        let mut begin = self.event(MdKind::SnapshotBegin, s.last_id, s.recv_ts);
        begin.flags = md_flags::SNAPSHOT;
        ok &= sink.push(begin);
        for (side, levels) in [(Side::Buy, s.bids), (Side::Sell, s.asks)] {
            for &(px, qty) in levels {
                let mut ev = self.event(MdKind::Level, s.last_id, s.recv_ts);
                ev.side = side;
                ev.px = Px(px);
                ev.qty = Qty(qty);
                ev.flags = md_flags::SNAPSHOT;
                ok &= sink.push(ev);
            }
        }
        let mut end = self.event(MdKind::SnapshotEnd, s.last_id, s.recv_ts);
        end.flags = md_flags::SNAPSHOT | md_flags::END_OF_MESSAGE;
        ok &= sink.push(end);
        ok
    }

    /// The live rule for one event against the synced book.
    fn apply_live(&mut self, u: &DepthUpdate<'_>, sink: &mut impl MdSink) -> DepthOutcome {
        if u.last_id <= self.book_id {
            self.counters.stale_dropped += 1;
            return DepthOutcome::Stale;
        }
        if u.first_id > self.book_id + 1 {
            self.counters.gaps += 1;
            self.break_book(InvalidReason::Gap, u.recv_ts, sink);
            self.push_buffer(u);
            return DepthOutcome::Gap;
        }
        if !self.emit_update(u, sink) {
            self.break_book(InvalidReason::Overrun, u.recv_ts, sink);
            return DepthOutcome::Overrun;
        }
        self.book_id = u.last_id;
        self.counters.applied += 1;
        DepthOutcome::Applied
    }

    /// Appends to the buffer (the caller checked room).
    fn push_buffer(&mut self, u: &DepthUpdate<'_>) {
        let start = self.buf_levels.len();
        self.buf_levels.extend_from_slice(u.bids);
        self.buf_levels.extend_from_slice(u.asks);
        self.buf.push(Buffered {
            first_id: u.first_id,
            last_id: u.last_id,
            exch_ts: u.exch_ts,
            recv_ts: u.recv_ts,
            start,
            n_bids: u.bids.len(),
            n_asks: u.asks.len(),
        });
    }

    /// Offers one depth diff.
    pub fn on_depth(&mut self, u: &DepthUpdate<'_>, sink: &mut impl MdSink) -> DepthOutcome {
        self.counters.frames += 1;
        if self.synced {
            return self.apply_live(u, sink);
        }
        let levels = u.bids.len() + u.asks.len();
        if self.buf.len() >= self.cfg.max_buffered_events
            || self.buf_levels.len() + levels > self.cfg.max_buffered_levels
        {
            self.counters.overflows += 1;
            self.break_book(InvalidReason::Overrun, u.recv_ts, sink);
            if levels <= self.cfg.max_buffered_levels {
                self.push_buffer(u);
            }
            return DepthOutcome::Overflow;
        }
        self.push_buffer(u);
        DepthOutcome::Buffered
    }

    /// Offers a REST snapshot.
    pub fn on_snapshot(
        &mut self,
        s: &DepthSnapshot<'_>,
        sink: &mut impl MdSink,
    ) -> SnapshotOutcome {
        self.counters.frames += 1;
        if self.synced {
            if s.last_id <= self.book_id {
                return SnapshotOutcome::Ignored;
            }
            // Newer than our book: restart from it (nothing buffered while synced).
            return self.install(s, sink);
        }
        if let Some(first) = self.buf.first() {
            if s.last_id < first.first_id {
                self.counters.snapshots_too_old += 1;
                self.counters.resyncs += 1;
                self.needs_snapshot = true;
                return SnapshotOutcome::TooOld;
            }
        }
        // Drop stale buffered events; the first survivor must straddle lastUpdateId + 1.
        let stale = self
            .buf
            .iter()
            .take_while(|b| b.last_id <= s.last_id)
            .count();
        self.counters.stale_dropped += stale as u64;
        if let Some(b) = self.buf.get(stale) {
            if b.first_id > s.last_id + 1 {
                self.counters.gaps += 1;
                self.buf.drain(..stale);
                let keep_from = self.buf.first().map_or(0, |b| b.start);
                // Keep the events after the failed bridge: a newer snapshot may bridge them.
                if keep_from > 0 {
                    self.buf_levels.drain(..keep_from);
                    self.buf.iter_mut().for_each(|b| b.start -= keep_from);
                }
                self.counters.resyncs += 1;
                self.needs_snapshot = true;
                return SnapshotOutcome::NoBridge;
            }
        }
        self.buf.drain(..stale);
        self.install(s, sink)
    }

    /// Emits the snapshot, then the surviving buffered events by the live rule.
    fn install(&mut self, s: &DepthSnapshot<'_>, sink: &mut impl MdSink) -> SnapshotOutcome {
        if !self.emit_snapshot(s, sink) {
            self.break_book(InvalidReason::Overrun, s.recv_ts, sink);
            return SnapshotOutcome::Overrun;
        }
        self.counters.snapshots += 1;
        self.synced = true;
        self.needs_snapshot = false;
        self.book_id = s.last_id;
        let mut replayed = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let b = self.buf[i];
            let lv = &self.buf_levels[b.start..b.start + b.n_bids + b.n_asks];
            let (bids, asks) = lv.split_at(b.n_bids);
            // Copy the slices' bounds out: apply_live needs &mut self while they borrow buf_levels.
            let u = DepthUpdate {
                first_id: b.first_id,
                last_id: b.last_id,
                exch_ts: b.exch_ts,
                recv_ts: b.recv_ts,
                bids,
                asks,
            };
            if u.last_id <= self.book_id {
                self.counters.stale_dropped += 1;
            } else if u.first_id > self.book_id + 1 {
                // A gap inside the buffer: keep the rest buffered for the next snapshot.
                self.counters.gaps += 1;
                let mut ev = self.event(MdKind::BookInvalid, self.book_id, u.recv_ts);
                ev.reason = InvalidReason::Gap;
                ev.flags = md_flags::END_OF_MESSAGE;
                let _ = sink.push(ev);
                self.synced = false;
                self.needs_snapshot = true;
                self.counters.resyncs += 1;
                self.buf.drain(..i);
                return SnapshotOutcome::NoBridge;
            } else {
                if !self.emit_update(&u, sink) {
                    self.break_book(InvalidReason::Overrun, s.recv_ts, sink);
                    return SnapshotOutcome::Overrun;
                }
                self.book_id = u.last_id;
                self.counters.applied += 1;
                replayed += 1;
            }
            i += 1;
        }
        self.buf.clear();
        self.buf_levels.clear();
        SnapshotOutcome::Applied { replayed }
    }
}
