//! The `MdEvent` shapes every book adapter emits, in one place so OKX, Kraken and Gate.io agree:
//! a snapshot is `SnapshotBegin`, its levels (flag `SNAPSHOT`), `SnapshotEnd` (flags `SNAPSHOT |
//! END_OF_MESSAGE`); an update is its levels in venue order with `END_OF_MESSAGE` on the last; a
//! venue checksum follows the message it covers as a `Checksum` event (`aux` = the 32 bits, `seq`
//! = the message's sequence, `px`/`qty` = how to recompute it, see
//! [`ChecksumRecipe::from_event`]) so the book stage can verify it on the rebuilt book with no
//! feed-side state; a break is one `BookInvalid{reason}` with `END_OF_MESSAGE`.

use lyra_shm::msg::{
    md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, Px, Qty, Side, VenueId,
};

use crate::{checksum::ChecksumRecipe, sink::MdSink};

/// Stamps events for one (venue, instrument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emitter {
    /// The venue.
    pub venue: VenueId,
    /// The instrument.
    pub instrument: InstrumentIdx,
}

/// Sequence and times shared by the events of one venue message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Venue sequence after the message (0 if none).
    pub seq: u64,
    /// Venue time, ns.
    pub exch_ts: u64,
    /// Our receive time, ns.
    pub recv_ts: u64,
}

impl Emitter {
    /// A bare event of `kind`.
    #[inline]
    pub fn event(&self, kind: MdKind, st: Stamp) -> MdEvent {
        MdEvent {
            kind,
            seq: st.seq,
            exch_ts: st.exch_ts,
            recv_ts: st.recv_ts,
            instrument: self.instrument,
            venue: self.venue,
            ..MdEvent::default()
        }
    }

    /// A level event.
    #[inline]
    pub fn level(&self, st: Stamp, side: Side, px: i64, qty: i64, flags: u8) -> MdEvent {
        let mut ev = self.event(MdKind::Level, st);
        ev.side = side;
        ev.px = Px(px);
        ev.qty = Qty(qty);
        ev.flags = flags;
        ev
    }

    /// Emits a full snapshot; `false` if the sink refused an event.
    pub fn snapshot(
        &self,
        st: Stamp,
        bids: &[(i64, i64)],
        asks: &[(i64, i64)],
        sink: &mut impl MdSink,
    ) -> bool {
        let mut ok = true;
        let mut begin = self.event(MdKind::SnapshotBegin, st);
        begin.flags = md_flags::SNAPSHOT;
        ok &= sink.push(begin);
        for (side, levels) in [(Side::Buy, bids), (Side::Sell, asks)] {
            for &(px, qty) in levels {
                ok &= sink.push(self.level(st, side, px, qty, md_flags::SNAPSHOT));
            }
        }
        let mut end = self.event(MdKind::SnapshotEnd, st);
        end.flags = md_flags::SNAPSHOT | md_flags::END_OF_MESSAGE;
        ok &= sink.push(end);
        ok
    }

    /// Emits an update's levels (bids then asks, each in venue order), `END_OF_MESSAGE` on the
    /// last; nothing for an empty update. `false` if the sink refused an event.
    pub fn update(
        &self,
        st: Stamp,
        bids: &[(i64, i64)],
        asks: &[(i64, i64)],
        sink: &mut impl MdSink,
    ) -> bool {
        let n = bids.len() + asks.len();
        let mut k = 0;
        let mut ok = true;
        for (side, levels) in [(Side::Buy, bids), (Side::Sell, asks)] {
            for &(px, qty) in levels {
                k += 1;
                let flags = if k == n { md_flags::END_OF_MESSAGE } else { 0 };
                ok &= sink.push(self.level(st, side, px, qty, flags));
            }
        }
        ok
    }

    /// Emits the venue's checksum for the message just emitted, with its recipe.
    #[inline]
    pub fn checksum(
        &self,
        st: Stamp,
        value: u32,
        recipe: ChecksumRecipe,
        sink: &mut impl MdSink,
    ) -> bool {
        let mut ev = self.event(MdKind::Checksum, st);
        ev.aux = u64::from(value);
        recipe.write_event(&mut ev);
        sink.push(ev)
    }

    /// Emits `BookInvalid(reason)`. Refusal is ignored: a full ring already breaks the book.
    pub fn invalid(&self, st: Stamp, reason: InvalidReason, sink: &mut impl MdSink) {
        let mut ev = self.event(MdKind::BookInvalid, st);
        ev.reason = reason;
        ev.flags = md_flags::END_OF_MESSAGE;
        let _ = sink.push(ev);
    }
}
