//! Gate.io order-book bridge for one (venue, instrument): the Binance-style straddle against
//! the REST snapshot `id` (PROTOCOLS §e), with Gate's strict continuation.
//!
//! 1. Until a snapshot is in force, BUFFER updates (bounded; overflow restarts the buffer).
//! 2. A snapshot with `id`: drop buffered updates with `u <= id` (stale). If a survivor exists it
//!    must straddle, `U <= id + 1 <= u`, else the snapshot cannot be bridged (`NoBridge`): it is
//!    not installed and the survivors stay buffered for a newer one. Otherwise the snapshot is
//!    emitted (the book is the venue's book as of `id`) and the survivors are applied.
//! 3. Live, book id = last applied `u`: `u <= id` is stale (dropped); the first update after
//!    the snapshot must straddle `U <= id + 1 <= u`; every later one must continue exactly,
//!    `U == id + 1`. Anything else is a lost update: `BookInvalid(Gap)`, the update is buffered
//!    and a new snapshot is needed.
//!
//! [`GateCounters::bridged`] says whether an update ever straddled a snapshot (a capture where
//! the snapshot is the last word for a pair never exercises the bridge).

use lyra_shm::msg::{InstrumentIdx, InvalidReason, VenueId};

use crate::{
    emit::{Emitter, Stamp},
    sink::MdSink,
};

/// Buffer bounds, fixed at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateSyncConfig {
    /// Updates held while waiting for a snapshot.
    pub max_buffered_events: usize,
    /// Levels (both sides) held while waiting for a snapshot.
    pub max_buffered_levels: usize,
}

impl Default for GateSyncConfig {
    fn default() -> Self {
        // 100 ms updates: 1024 is ~100 s of waiting for a REST snapshot.
        Self {
            max_buffered_events: 1024,
            max_buffered_levels: 64 * 1024,
        }
    }
}

/// Counters one Gate.io book keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateCounters {
    /// Updates applied.
    pub applied: u64,
    /// Updates dropped as older than the book.
    pub stale_dropped: u64,
    /// Lost updates detected on a synced book.
    pub gaps: u64,
    /// Snapshots that could not be bridged to the buffered updates.
    pub no_bridge: u64,
    /// Snapshots installed.
    pub snapshots: u64,
    /// Updates that straddled a snapshot (`U <= id + 1 <= u`).
    pub bridged: u64,
    /// Buffer overflows.
    pub overflows: u64,
    /// Times the book was broken and needs a new snapshot.
    pub resyncs: u64,
}

/// One update (levels as `(px, qty)` mantissas; qty 0 deletes).
#[derive(Debug, Clone, Copy)]
pub struct GateUpdate<'a> {
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

/// A REST snapshot.
#[derive(Debug, Clone, Copy)]
pub struct GateSnapshot<'a> {
    /// `id`.
    pub id: u64,
    /// Venue time, ns.
    pub exch_ts: u64,
    /// Our receive time, ns.
    pub recv_ts: u64,
    /// Bid levels.
    pub bids: &'a [(i64, i64)],
    /// Ask levels.
    pub asks: &'a [(i64, i64)],
}

/// What an update or snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateOutcome {
    /// Held until a snapshot arrives.
    Buffered,
    /// Applied.
    Applied,
    /// Older than the book: dropped.
    Stale,
    /// Revealed lost updates: the book was invalidated.
    Gap,
    /// The snapshot was installed (with this many buffered updates applied after it).
    Installed {
        /// Buffered updates applied.
        replayed: u32,
    },
    /// The snapshot is not newer than the synced book: ignored.
    Ignored,
    /// The snapshot could not be bridged: not installed.
    NoBridge,
    /// The sink refused an event: the book was invalidated.
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

/// The bridge state machine of one Gate.io book.
#[derive(Debug, Clone)]
pub struct GateBookSync {
    emit: Emitter,
    cfg: GateSyncConfig,
    synced: bool,
    bridged: bool,
    book_id: u64,
    buf: Vec<Buffered>,
    buf_levels: Vec<(i64, i64)>,
    spare: Vec<Buffered>,
    spare_levels: Vec<(i64, i64)>,
    counters: GateCounters,
}

impl GateBookSync {
    /// A sync in the buffering state, buffers allocated.
    pub fn new(venue: VenueId, instrument: InstrumentIdx, cfg: GateSyncConfig) -> Self {
        Self {
            emit: Emitter { venue, instrument },
            cfg,
            synced: false,
            bridged: false,
            book_id: 0,
            buf: Vec::with_capacity(cfg.max_buffered_events),
            buf_levels: Vec::with_capacity(cfg.max_buffered_levels),
            spare: Vec::with_capacity(cfg.max_buffered_events),
            spare_levels: Vec::with_capacity(cfg.max_buffered_levels),
            counters: GateCounters::default(),
        }
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentIdx {
        self.emit.instrument
    }

    /// Whether a snapshot is in force and the id chain unbroken.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Whether a (new) REST snapshot should be fetched.
    pub fn needs_snapshot(&self) -> bool {
        !self.synced
    }

    /// The book's update id.
    pub fn book_id(&self) -> u64 {
        self.book_id
    }

    /// The counters.
    pub fn counters(&self) -> GateCounters {
        self.counters
    }

    /// Updates currently buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Breaks the book: `BookInvalid(reason)`, a new snapshot is needed.
    pub fn invalidate(&mut self, reason: InvalidReason, recv_ts: u64, sink: &mut impl MdSink) {
        self.emit.invalid(
            Stamp {
                seq: self.book_id,
                exch_ts: 0,
                recv_ts,
            },
            reason,
            sink,
        );
        self.synced = false;
        self.counters.resyncs += 1;
    }

    fn push_buffer(&mut self, u: &GateUpdate<'_>) {
        let levels = u.bids.len() + u.asks.len();
        if self.buf.len() >= self.cfg.max_buffered_events
            || self.buf_levels.len() + levels > self.cfg.max_buffered_levels
        {
            self.counters.overflows += 1;
            self.buf.clear();
            self.buf_levels.clear();
            if levels > self.cfg.max_buffered_levels {
                return;
            }
        }
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

    /// The live rule against the synced book.
    fn apply_live(&mut self, u: &GateUpdate<'_>, sink: &mut impl MdSink) -> GateOutcome {
        if u.last_id <= self.book_id {
            self.counters.stale_dropped += 1;
            return GateOutcome::Stale;
        }
        let next = self.book_id + 1;
        let chains = if self.bridged {
            u.first_id == next
        } else {
            u.first_id <= next
        };
        if !chains {
            self.counters.gaps += 1;
            self.invalidate(InvalidReason::Gap, u.recv_ts, sink);
            self.buf.clear();
            self.buf_levels.clear();
            self.push_buffer(u);
            return GateOutcome::Gap;
        }
        let st = Stamp {
            seq: u.last_id,
            exch_ts: u.exch_ts,
            recv_ts: u.recv_ts,
        };
        if !self.emit.update(st, u.bids, u.asks, sink) {
            self.invalidate(InvalidReason::Overrun, u.recv_ts, sink);
            return GateOutcome::Overrun;
        }
        if !self.bridged {
            self.bridged = true;
            self.counters.bridged += 1;
        }
        self.book_id = u.last_id;
        self.counters.applied += 1;
        GateOutcome::Applied
    }

    /// Offers one update.
    pub fn on_update(&mut self, u: &GateUpdate<'_>, sink: &mut impl MdSink) -> GateOutcome {
        if self.synced {
            return self.apply_live(u, sink);
        }
        self.push_buffer(u);
        GateOutcome::Buffered
    }

    /// Offers a REST snapshot.
    pub fn on_snapshot(&mut self, s: &GateSnapshot<'_>, sink: &mut impl MdSink) -> GateOutcome {
        if self.synced && s.id <= self.book_id {
            return GateOutcome::Ignored;
        }
        let stale = self.buf.iter().take_while(|b| b.last_id <= s.id).count();
        self.counters.stale_dropped += stale as u64;
        if let Some(b) = self.buf.get(stale) {
            if b.first_id > s.id + 1 {
                self.counters.no_bridge += 1;
                self.drop_buffered(stale);
                return GateOutcome::NoBridge;
            }
        }
        self.drop_buffered(stale);
        let st = Stamp {
            seq: s.id,
            exch_ts: s.exch_ts,
            recv_ts: s.recv_ts,
        };
        if !self.emit.snapshot(st, s.bids, s.asks, sink) {
            self.invalidate(InvalidReason::Overrun, s.recv_ts, sink);
            return GateOutcome::Overrun;
        }
        self.counters.snapshots += 1;
        self.synced = true;
        self.bridged = false;
        self.book_id = s.id;
        let mut replayed = 0;
        // Walk the survivors from the spare buffers (both preallocated, swapped, never grown):
        // an update that gaps is buffered again into the emptied live buffer.
        std::mem::swap(&mut self.buf, &mut self.spare);
        std::mem::swap(&mut self.buf_levels, &mut self.spare_levels);
        for i in 0..self.spare.len() {
            let b = self.spare[i];
            let levels = std::mem::take(&mut self.spare_levels);
            let lv = &levels[b.start..b.start + b.n_bids + b.n_asks];
            let (bids, asks) = lv.split_at(b.n_bids);
            let u = GateUpdate {
                first_id: b.first_id,
                last_id: b.last_id,
                exch_ts: b.exch_ts,
                recv_ts: b.recv_ts,
                bids,
                asks,
            };
            let outcome = self.on_update(&u, sink);
            self.spare_levels = levels;
            match outcome {
                GateOutcome::Applied => replayed += 1,
                GateOutcome::Overrun => break,
                _ => {}
            }
        }
        self.spare.clear();
        self.spare_levels.clear();
        GateOutcome::Installed { replayed }
    }

    fn drop_buffered(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.buf.drain(..n);
        let keep_from = self.buf.first().map_or(self.buf_levels.len(), |b| b.start);
        self.buf_levels.drain(..keep_from);
        self.buf.iter_mut().for_each(|b| b.start -= keep_from);
    }
}
