//! OKX book sequencing for one (venue, instrument) (PROTOCOLS §b.2, §b.3).
//!
//! * A snapshot always (re)starts the book: it is emitted whole, so a second snapshot replaces
//!   the first completely (the 2022-02-27 capture sends two back to back).
//! * An update is applied only on a synced book, and only if its `prevSeqId` equals the last
//!   `seqId`; otherwise a message was lost: `BookInvalid(Gap)` and a new snapshot is needed
//!   (live: resubscribe). This also covers the two special cases, which need no code of their
//!   own: a heartbeat (`prevSeqId == seqId`, no levels) chains and changes nothing; a
//!   maintenance reset (`seqId < prevSeqId`) chains as long as `prevSeqId` is our last `seqId`.
//! * Pushes without `seqId`/`prevSeqId` (pre-2023 data) are not sequence-checked; the
//!   checksum is then the only gap detector.
//! * `checksum` != 0 is forwarded as a `Checksum` event after the message; 0 means "not
//!   provided" (OKX fixed it to 0 in June 2026) and is counted apart, never as ok or fail.

use lyra_shm::msg::{md_flags, InstrumentIdx, InvalidReason, MdKind, Side, VenueId};

use super::parse::{OkxAction, OkxBookHeader, OkxChannel};
use crate::{
    checksum::ChecksumRecipe,
    emit::{Emitter, Stamp},
    sink::MdSink,
};

/// Counters one OKX book keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OkxCounters {
    /// Snapshots applied.
    pub snapshots: u64,
    /// Updates applied (heartbeats included).
    pub updates: u64,
    /// Heartbeats (`prevSeqId == seqId`, no levels).
    pub heartbeats: u64,
    /// Sequence resets accepted (`seqId < prevSeqId`).
    pub resets: u64,
    /// Sequence gaps detected.
    pub gaps: u64,
    /// Updates dropped because no snapshot was in force.
    pub unsynced_dropped: u64,
    /// Checksums forwarded (non-zero).
    pub checksums: u64,
    /// Messages whose checksum was 0 or absent (not provided).
    pub checksums_absent: u64,
    /// Times the book was broken and needs a new snapshot.
    pub resyncs: u64,
}

/// What one push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkxOutcome {
    /// A snapshot (re)started the book.
    Snapshot,
    /// An update was applied.
    Applied,
    /// An update arrived before any snapshot: dropped.
    Unsynced,
    /// `prevSeqId` did not chain: the book was invalidated.
    Gap,
    /// The sink refused an event: the book was invalidated.
    Overrun,
    /// A top-of-book push was emitted as `Bbo` events.
    Bbo,
}

/// The sequencing state of one OKX book.
#[derive(Debug, Clone)]
pub struct OkxBookSync {
    emit: Emitter,
    synced: bool,
    needs_snapshot: bool,
    last_seq: Option<i64>,
    counters: OkxCounters,
}

impl OkxBookSync {
    /// A book waiting for its snapshot.
    pub fn new(venue: VenueId, instrument: InstrumentIdx) -> Self {
        Self {
            emit: Emitter { venue, instrument },
            synced: false,
            needs_snapshot: true,
            last_seq: None,
            counters: OkxCounters::default(),
        }
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentIdx {
        self.emit.instrument
    }

    /// Whether a snapshot is in force and the sequence unbroken.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Whether a new snapshot (resubscription) is needed.
    pub fn needs_snapshot(&self) -> bool {
        self.needs_snapshot
    }

    /// The last `seqId` applied (None before the first, or on pre-seqId data).
    pub fn last_seq(&self) -> Option<i64> {
        self.last_seq
    }

    /// The counters.
    pub fn counters(&self) -> OkxCounters {
        self.counters
    }

    /// Breaks the book: `BookInvalid(reason)`, resync needed.
    pub fn invalidate(&mut self, reason: InvalidReason, recv_ts: u64, sink: &mut impl MdSink) {
        let st = Stamp {
            seq: self.seq_u64(),
            exch_ts: 0,
            recv_ts,
        };
        self.emit.invalid(st, reason, sink);
        self.synced = false;
        self.needs_snapshot = true;
        self.counters.resyncs += 1;
    }

    fn seq_u64(&self) -> u64 {
        self.last_seq
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0)
    }

    /// Offers one parsed book push with its levels.
    pub fn on_book(
        &mut self,
        h: &OkxBookHeader,
        bids: &[(i64, i64)],
        asks: &[(i64, i64)],
        recv_ts: u64,
        sink: &mut impl MdSink,
    ) -> OkxOutcome {
        let seq = h.seq_id.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
        let st = Stamp {
            seq,
            exch_ts: h.exch_ts,
            recv_ts,
        };
        if h.channel == OkxChannel::BboTbt {
            return self.on_bbo(st, bids, asks, sink);
        }
        let ok = match h.action {
            OkxAction::Snapshot => {
                if !self.emit.snapshot(st, bids, asks, sink) {
                    self.invalidate(InvalidReason::Overrun, recv_ts, sink);
                    return OkxOutcome::Overrun;
                }
                self.counters.snapshots += 1;
                self.synced = true;
                self.needs_snapshot = false;
                self.last_seq = h.seq_id;
                OkxOutcome::Snapshot
            }
            OkxAction::Update => {
                if !self.synced {
                    self.counters.unsynced_dropped += 1;
                    return OkxOutcome::Unsynced;
                }
                if let (Some(prev), Some(last)) = (h.prev_seq_id, self.last_seq) {
                    if prev != last {
                        self.counters.gaps += 1;
                        self.invalidate(InvalidReason::Gap, recv_ts, sink);
                        return OkxOutcome::Gap;
                    }
                }
                if let (Some(prev), Some(cur)) = (h.prev_seq_id, h.seq_id) {
                    if cur < prev {
                        self.counters.resets += 1;
                    } else if cur == prev && bids.is_empty() && asks.is_empty() {
                        self.counters.heartbeats += 1;
                    }
                }
                if !self.emit.update(st, bids, asks, sink) {
                    self.invalidate(InvalidReason::Overrun, recv_ts, sink);
                    return OkxOutcome::Overrun;
                }
                self.counters.updates += 1;
                if h.seq_id.is_some() {
                    self.last_seq = h.seq_id;
                }
                OkxOutcome::Applied
            }
        };
        match h.checksum {
            Some(c) if c != 0 => {
                self.counters.checksums += 1;
                // Same 32 bits; the verifier compares them as OKX's signed value.
                if !self.emit.checksum(st, c as u32, ChecksumRecipe::Okx, sink) {
                    self.invalidate(InvalidReason::Overrun, recv_ts, sink);
                    return OkxOutcome::Overrun;
                }
            }
            _ => self.counters.checksums_absent += 1,
        }
        ok
    }

    /// `bbo-tbt`: emitted as `Bbo` events (a top-of-book stream, not a depth book).
    fn on_bbo(
        &mut self,
        st: Stamp,
        bids: &[(i64, i64)],
        asks: &[(i64, i64)],
        sink: &mut impl MdSink,
    ) -> OkxOutcome {
        let n = usize::from(!bids.is_empty()) + usize::from(!asks.is_empty());
        let mut k = 0;
        for (side, lv) in [(Side::Buy, bids.first()), (Side::Sell, asks.first())] {
            if let Some(&(px, qty)) = lv {
                k += 1;
                let mut ev = self.emit.level(st, side, px, qty, 0);
                ev.kind = MdKind::Bbo;
                if k == n {
                    ev.flags = md_flags::END_OF_MESSAGE;
                }
                let _ = sink.push(ev);
            }
        }
        OkxOutcome::Bbo
    }
}
