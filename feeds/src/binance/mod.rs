//! Binance Spot market data: frame parsing ([`parse`]), the diff-depth snapshot bridge
//! ([`sync`]), and [`BinanceMd`], which ties them together per venue connection and emits
//! `MdEvent`s into an [`MdSink`]. The same `BinanceMd` serves the live client (frames from the
//! WebSocket, snapshots from REST) and `lyra replay` (both from a recording).

mod fast;
pub mod parse;
pub mod sync;

use lyra_shm::msg::{
    md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, Px, Qty, Side, VenueId,
};

pub use self::{
    parse::{BinanceParser, DepthHeader, Msg, ParseError},
    sync::{
        DepthOutcome, DepthSnapshot, DepthSync, DepthUpdate, SnapshotOutcome, SyncConfig,
        SyncCounters,
    },
};
use crate::{instrument::Resolved, sink::MdSink};

/// What one frame was, for callers that count or cross-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameInfo {
    /// A depth diff for `inst`.
    Depth {
        /// The instrument.
        inst: InstrumentIdx,
        /// `u`.
        last_id: u64,
        /// What the sync did with it.
        outcome: DepthOutcome,
    },
    /// A REST snapshot for `inst`.
    Snapshot {
        /// The instrument.
        inst: InstrumentIdx,
        /// What the sync did with it.
        outcome: SnapshotOutcome,
    },
    /// A bookTicker for `inst` (emitted as two `Bbo` events with `seq = u`).
    BookTicker {
        /// The instrument.
        inst: InstrumentIdx,
    },
    /// A trade (emitted as one `Trade` event).
    Trade {
        /// The instrument.
        inst: InstrumentIdx,
    },
    /// Nothing to emit.
    Other,
}

/// One Binance Spot market-data connection's decoder: parser + one [`DepthSync`] per instrument.
#[derive(Debug)]
pub struct BinanceMd {
    venue: VenueId,
    parser: BinanceParser,
    sync_cfg: SyncConfig,
    /// Indexed by `InstrumentIdx`; created on first use (start-up or first frame of a replay).
    syncs: Vec<Option<DepthSync>>,
}

impl BinanceMd {
    /// A decoder for `venue` whose syncs use `sync_cfg`.
    pub fn new(venue: VenueId, sync_cfg: SyncConfig) -> Self {
        Self {
            venue,
            parser: BinanceParser::new(),
            sync_cfg,
            syncs: Vec::new(),
        }
    }

    /// The venue id stamped on every event.
    pub fn venue(&self) -> VenueId {
        self.venue
    }

    /// Creates the sync for `inst` up front (so the hot path never allocates for it).
    pub fn prepare(&mut self, inst: InstrumentIdx) -> &mut DepthSync {
        let i = usize::from(inst.0);
        if self.syncs.len() <= i {
            self.syncs.resize_with(i + 1, || None);
        }
        let (venue, cfg) = (self.venue, self.sync_cfg);
        self.syncs[i].get_or_insert_with(|| DepthSync::new(venue, inst, cfg))
    }

    /// The sync of `inst`, if it exists.
    pub fn sync(&self, inst: InstrumentIdx) -> Option<&DepthSync> {
        self.syncs.get(usize::from(inst.0)).and_then(Option::as_ref)
    }

    /// Every sync that exists.
    pub fn syncs(&self) -> impl Iterator<Item = &DepthSync> {
        self.syncs.iter().flatten()
    }

    /// Decodes one frame received at `recv_ts` and emits its events. `resolve` maps a symbol to
    /// its instrument; `snapshot_inst` names the instrument of a REST snapshot frame.
    ///
    /// # Errors
    /// [`ParseError`]; the caller decides what a bad frame breaks (see [`BinanceMd::on_malformed`]).
    pub fn on_frame(
        &mut self,
        recv_ts: u64,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        snapshot_inst: Option<Resolved>,
        sink: &mut impl MdSink,
    ) -> Result<FrameInfo, ParseError> {
        let msg = self.parser.parse(frame, resolve, snapshot_inst)?;
        let venue = self.venue;
        Ok(match msg {
            Msg::Depth(h) => {
                self.prepare(h.inst.idx);
                let u = DepthUpdate {
                    first_id: h.first_id,
                    last_id: h.last_id,
                    exch_ts: h.exch_ts,
                    recv_ts,
                    bids: self.parser.bids(),
                    asks: self.parser.asks(),
                };
                let sync = self.syncs[usize::from(h.inst.idx.0)].as_mut();
                let outcome = match sync {
                    Some(s) => s.on_depth(&u, sink),
                    None => DepthOutcome::Buffered,
                };
                FrameInfo::Depth {
                    inst: h.inst.idx,
                    last_id: h.last_id,
                    outcome,
                }
            }
            Msg::Snapshot { inst, last_id } => {
                self.prepare(inst.idx);
                let s = DepthSnapshot {
                    last_id,
                    recv_ts,
                    bids: self.parser.bids(),
                    asks: self.parser.asks(),
                };
                let outcome = match self.syncs[usize::from(inst.idx.0)].as_mut() {
                    Some(sync) => sync.on_snapshot(&s, sink),
                    None => SnapshotOutcome::Ignored,
                };
                FrameInfo::Snapshot {
                    inst: inst.idx,
                    outcome,
                }
            }
            Msg::BookTicker {
                inst,
                update_id,
                bid_px,
                bid_qty,
                ask_px,
                ask_qty,
            } => {
                let base = MdEvent {
                    kind: MdKind::Bbo,
                    recv_ts,
                    seq: update_id,
                    instrument: inst.idx,
                    venue,
                    ..MdEvent::default()
                };
                let _ = sink.push(MdEvent {
                    side: Side::Buy,
                    px: Px(bid_px),
                    qty: Qty(bid_qty),
                    ..base
                });
                let _ = sink.push(MdEvent {
                    side: Side::Sell,
                    px: Px(ask_px),
                    qty: Qty(ask_qty),
                    flags: md_flags::END_OF_MESSAGE,
                    ..base
                });
                FrameInfo::BookTicker { inst: inst.idx }
            }
            Msg::Trade {
                inst,
                trade_id,
                px,
                qty,
                ts,
                buyer_maker,
            } => {
                let _ = sink.push(MdEvent {
                    kind: MdKind::Trade,
                    exch_ts: ts,
                    recv_ts,
                    aux: trade_id,
                    px: Px(px),
                    qty: Qty(qty),
                    // The buyer was the maker: the seller crossed the spread.
                    side: if buyer_maker { Side::Sell } else { Side::Buy },
                    flags: md_flags::END_OF_MESSAGE,
                    instrument: inst.idx,
                    venue,
                    ..MdEvent::default()
                });
                FrameInfo::Trade { inst: inst.idx }
            }
            Msg::Other => FrameInfo::Other,
        })
    }

    /// A frame could not be decoded. If it named an instrument (`inst`) only that book breaks;
    /// otherwise any depth update may have been lost, so every book breaks
    /// (`BookInvalid(Malformed)` + resync).
    pub fn on_malformed(
        &mut self,
        inst: Option<InstrumentIdx>,
        recv_ts: u64,
        sink: &mut impl MdSink,
    ) {
        self.invalidate(inst, InvalidReason::Malformed, recv_ts, sink);
    }

    /// Breaks the book of `inst` (or every book when `None`) for `reason`, e.g. `Disconnected`
    /// when the connection drops: `BookInvalid` is emitted and a new snapshot is needed.
    pub fn invalidate(
        &mut self,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
        recv_ts: u64,
        sink: &mut impl MdSink,
    ) {
        for s in self.syncs.iter_mut().flatten() {
            if inst.is_none_or(|i| i == s.instrument()) {
                s.invalidate(reason, recv_ts, sink);
            }
        }
    }
}
