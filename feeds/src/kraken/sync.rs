//! Kraken book upkeep for one (venue, instrument) (PROTOCOLS §c).
//!
//! Kraken has no sequence numbers; integrity comes from the checksum alone. What the adapter
//! must do beyond forwarding levels is TRUNCATE each side to the subscribed depth after every
//! message: Kraken never sends deletes for levels that merely fall out of range, and the
//! checksum is over the truncated book. To know which levels fall out, the sync keeps the
//! sorted prices of each side (at most `depth` + one message of levels, reserved up front) and
//! emits an explicit zero-quantity `Level` for each dropped price, so the book stage stays a
//! plain level applier. Levels are applied strictly in frame order; v1 republish (`"r"`) levels
//! are ordinary updates.
//!
//! Checksum text precision ([`KrakenPrecision`]) is learned from the snapshot's texts (v1
//! prints XBT/USD as "58724.80000", more decimals than REST `pair_decimals`) unless it was
//! configured; a later message with more decimals widens it and is counted.

use lyra_shm::msg::{md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, Side, VenueId};

use super::parse::{KrakenBookHeader, KrakenLevel};
use crate::{
    checksum::{ChecksumRecipe, KrakenPrecision},
    emit::{Emitter, Stamp},
    sink::MdSink,
};

/// Kraken's default (and smallest) v2 depth.
pub const KRAKEN_DEFAULT_DEPTH: usize = 10;

/// Counters one Kraken book keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KrakenCounters {
    /// Snapshots applied.
    pub snapshots: u64,
    /// Updates applied.
    pub updates: u64,
    /// Updates dropped because no snapshot was in force.
    pub unsynced_dropped: u64,
    /// Levels dropped by truncation to depth.
    pub truncated: u64,
    /// Republished (`"r"`) levels applied.
    pub republished: u64,
    /// Checksums forwarded.
    pub checksums: u64,
    /// Messages whose texts had more decimals than the learned precision.
    pub precision_widened: u64,
    /// Times the book was broken and needs a new snapshot.
    pub resyncs: u64,
}

/// What one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KrakenOutcome {
    /// A snapshot (re)started the book.
    Snapshot,
    /// An update was applied.
    Applied,
    /// An update before any snapshot: dropped.
    Unsynced,
    /// The sink refused an event: the book was invalidated.
    Overrun,
}

/// The upkeep state of one Kraken book.
#[derive(Debug, Clone)]
pub struct KrakenBookSync {
    emit: Emitter,
    depth: usize,
    /// Bid prices, best (highest) first.
    bids: Vec<i64>,
    /// Ask prices, best (lowest) first.
    asks: Vec<i64>,
    precision: Option<KrakenPrecision>,
    configured_precision: bool,
    synced: bool,
    counters: KrakenCounters,
    /// The event held back so `END_OF_MESSAGE` lands on the last one of the message.
    pending: Option<MdEvent>,
    ok: bool,
}

impl KrakenBookSync {
    /// A book of `depth` levels per side, waiting for its snapshot.
    pub fn new(venue: VenueId, instrument: InstrumentIdx, depth: usize) -> Self {
        let depth = depth.max(1);
        Self {
            emit: Emitter { venue, instrument },
            depth,
            bids: Vec::with_capacity(depth + 1024),
            asks: Vec::with_capacity(depth + 1024),
            precision: None,
            configured_precision: false,
            synced: false,
            counters: KrakenCounters::default(),
            pending: None,
            ok: true,
        }
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentIdx {
        self.emit.instrument
    }

    /// The subscribed depth per side.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Changes the depth (v1 frames name it; a live v2 subscription knows it).
    pub fn set_depth(&mut self, depth: usize) {
        self.depth = depth.max(1);
    }

    /// Fixes the checksum text precision (v2 `instrument` channel) instead of learning it.
    pub fn set_precision(&mut self, p: KrakenPrecision) {
        self.precision = Some(p);
        self.configured_precision = true;
    }

    /// The checksum text precision in force (None before the first snapshot if not configured).
    pub fn precision(&self) -> Option<KrakenPrecision> {
        self.precision
    }

    /// Whether a snapshot is in force.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Whether a new snapshot (resubscription) is needed.
    pub fn needs_snapshot(&self) -> bool {
        !self.synced
    }

    /// The counters.
    pub fn counters(&self) -> KrakenCounters {
        self.counters
    }

    /// Breaks the book: `BookInvalid(reason)`, resync needed.
    pub fn invalidate(&mut self, reason: InvalidReason, recv_ts: u64, sink: &mut impl MdSink) {
        self.emit.invalid(
            Stamp {
                seq: 0,
                exch_ts: 0,
                recv_ts,
            },
            reason,
            sink,
        );
        self.synced = false;
        self.bids.clear();
        self.asks.clear();
        self.counters.resyncs += 1;
    }

    #[inline]
    fn push(&mut self, ev: MdEvent, sink: &mut impl MdSink) {
        if let Some(prev) = self.pending.replace(ev) {
            self.ok &= sink.push(prev);
        }
    }

    #[inline]
    fn flush(&mut self, sink: &mut impl MdSink) {
        if let Some(mut last) = self.pending.take() {
            last.flags |= md_flags::END_OF_MESSAGE;
            self.ok &= sink.push(last);
        }
    }

    /// Records `px` as present (qty > 0) or absent on `side`.
    #[inline]
    fn track(&mut self, side: Side, px: i64, qty: i64) {
        let v = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        // Best first: asks ascending, bids descending.
        let pos = match side {
            Side::Sell => v.binary_search(&px),
            Side::Buy => v.binary_search_by(|p| px.cmp(p)),
        };
        match (pos, qty > 0) {
            (Ok(i), false) => {
                v.remove(i);
            }
            (Err(i), true) => v.insert(i, px),
            _ => {}
        }
    }

    /// Drops levels beyond depth on both sides, emitting their deletes.
    fn truncate(&mut self, st: Stamp, sink: &mut impl MdSink) {
        for side in [Side::Buy, Side::Sell] {
            loop {
                let v = match side {
                    Side::Buy => &mut self.bids,
                    Side::Sell => &mut self.asks,
                };
                if v.len() <= self.depth {
                    break;
                }
                let Some(px) = v.pop() else { break };
                self.counters.truncated += 1;
                let flags = if self
                    .pending
                    .is_some_and(|p| p.flags & md_flags::SNAPSHOT != 0)
                {
                    md_flags::SNAPSHOT
                } else {
                    0
                };
                let ev = self.emit.level(st, side, px, 0, flags);
                self.push(ev, sink);
            }
        }
    }

    fn learn_precision(&mut self, h: &KrakenBookHeader) {
        let seen = KrakenPrecision {
            px_dec: h.decimals.px,
            qty_dec: h.decimals.qty,
        };
        match self.precision {
            None => self.precision = Some(seen),
            Some(p)
                if !self.configured_precision
                    && (seen.px_dec > p.px_dec || seen.qty_dec > p.qty_dec) =>
            {
                self.counters.precision_widened += 1;
                self.precision = Some(KrakenPrecision {
                    px_dec: p.px_dec.max(seen.px_dec),
                    qty_dec: p.qty_dec.max(seen.qty_dec),
                });
            }
            _ => {}
        }
    }

    /// Offers one parsed book message with its levels (in frame order).
    pub fn on_book(
        &mut self,
        h: &KrakenBookHeader,
        levels: &[KrakenLevel],
        recv_ts: u64,
        sink: &mut impl MdSink,
    ) -> KrakenOutcome {
        let st = Stamp {
            seq: 0,
            exch_ts: h.exch_ts,
            recv_ts,
        };
        if let Some(d) = h.depth {
            self.depth = usize::from(d).max(1);
        }
        self.ok = true;
        let outcome = if h.snapshot {
            self.bids.clear();
            self.asks.clear();
            let mut begin = self.emit.event(MdKind::SnapshotBegin, st);
            begin.flags = md_flags::SNAPSHOT;
            self.push(begin, sink);
            for l in levels {
                self.track(l.side, l.px, l.qty);
                let ev = self.emit.level(st, l.side, l.px, l.qty, md_flags::SNAPSHOT);
                self.push(ev, sink);
            }
            self.truncate(st, sink);
            let mut end = self.emit.event(MdKind::SnapshotEnd, st);
            end.flags = md_flags::SNAPSHOT;
            self.push(end, sink);
            self.flush(sink);
            self.learn_precision(h);
            self.counters.snapshots += 1;
            self.synced = true;
            KrakenOutcome::Snapshot
        } else {
            if !self.synced {
                self.counters.unsynced_dropped += 1;
                return KrakenOutcome::Unsynced;
            }
            for l in levels {
                self.track(l.side, l.px, l.qty);
                let ev = self.emit.level(st, l.side, l.px, l.qty, 0);
                self.push(ev, sink);
            }
            self.truncate(st, sink);
            self.flush(sink);
            self.learn_precision(h);
            self.counters.updates += 1;
            self.counters.republished += u64::from(h.republished);
            KrakenOutcome::Applied
        };
        if let Some(c) = h.checksum {
            self.counters.checksums += 1;
            let recipe = ChecksumRecipe::Kraken(self.precision.unwrap_or_default());
            self.ok &= self.emit.checksum(st, c, recipe, sink);
        }
        if !self.ok {
            self.invalidate(InvalidReason::Overrun, recv_ts, sink);
            return KrakenOutcome::Overrun;
        }
        outcome
    }
}
