//! Gate.io v4 spot market data: frame parsing ([`parse`]), the REST-snapshot bridge
//! ([`sync`]), and [`GateMd`], which ties them together for one connection and emits
//! `MdEvent`s. Gate.io sends no checksum: integrity is the `U`/`u` id chain.

pub mod parse;
pub mod sync;

use lyra_shm::msg::{InstrumentIdx, InvalidReason, VenueId};

pub use self::{
    parse::{GateMsg, GateParseError, GateParser, GateUpdateHeader},
    sync::{GateBookSync, GateCounters, GateOutcome, GateSnapshot, GateSyncConfig, GateUpdate},
};
use crate::{instrument::Resolved, sink::MdSink};

/// What one frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateFrameInfo {
    /// An update or snapshot for `inst`.
    Book {
        /// The instrument.
        inst: InstrumentIdx,
        /// What the sync did.
        outcome: GateOutcome,
    },
    /// Nothing to emit.
    Other,
}

/// One Gate.io connection's decoder: parser + one [`GateBookSync`] per pair.
#[derive(Debug)]
pub struct GateMd {
    venue: VenueId,
    cfg: GateSyncConfig,
    parser: GateParser,
    books: Vec<Option<GateBookSync>>,
}

impl GateMd {
    /// A decoder for `venue` whose syncs use `cfg`.
    pub fn new(venue: VenueId, cfg: GateSyncConfig) -> Self {
        Self {
            venue,
            cfg,
            parser: GateParser::new(),
            books: Vec::new(),
        }
    }

    /// The venue id stamped on every event.
    pub fn venue(&self) -> VenueId {
        self.venue
    }

    /// Creates the sync of `inst` up front (so the hot path never allocates for it).
    pub fn prepare(&mut self, inst: InstrumentIdx) -> &mut GateBookSync {
        let i = usize::from(inst.0);
        if self.books.len() <= i {
            self.books.resize_with(i + 1, || None);
        }
        let (venue, cfg) = (self.venue, self.cfg);
        self.books[i].get_or_insert_with(|| GateBookSync::new(venue, inst, cfg))
    }

    /// The sync of `inst`, if it exists.
    pub fn book(&self, inst: InstrumentIdx) -> Option<&GateBookSync> {
        self.books.get(usize::from(inst.0)).and_then(Option::as_ref)
    }

    /// Every sync that exists.
    pub fn books(&self) -> impl Iterator<Item = &GateBookSync> {
        self.books.iter().flatten()
    }

    /// Decodes one frame (a WS message, or a REST snapshot body when `snapshot_inst` says whose)
    /// received at `recv_ts` and emits its events.
    ///
    /// # Errors
    /// [`GateParseError`]. The frame's book (or, for a WS frame naming none, every book) has
    /// then already been invalidated with `Malformed`.
    pub fn on_frame(
        &mut self,
        recv_ts: u64,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        snapshot_inst: Option<Resolved>,
        sink: &mut impl MdSink,
    ) -> Result<GateFrameInfo, GateParseError> {
        let msg = match self.parser.parse(frame, resolve, snapshot_inst) {
            Ok(m) => m,
            Err(e) => {
                let inst = match (&e, snapshot_inst) {
                    // A bad snapshot body breaks nothing live: the sync keeps buffering.
                    (_, Some(_)) | (GateParseError::UnknownSymbol(_), None) => return Err(e),
                    (other, None) => other
                        .pair()
                        .and_then(|s| resolve(s.as_bytes()))
                        .map(|r| r.idx),
                };
                self.on_malformed(inst, recv_ts, sink);
                return Err(e);
            }
        };
        Ok(match msg {
            GateMsg::Update(h) => {
                self.prepare(h.inst.idx);
                let u = GateUpdate {
                    first_id: h.first_id,
                    last_id: h.last_id,
                    exch_ts: h.exch_ts,
                    recv_ts,
                    bids: self.parser.bids(),
                    asks: self.parser.asks(),
                };
                let outcome = match self.books[usize::from(h.inst.idx.0)].as_mut() {
                    Some(b) => b.on_update(&u, sink),
                    None => GateOutcome::Buffered,
                };
                GateFrameInfo::Book {
                    inst: h.inst.idx,
                    outcome,
                }
            }
            GateMsg::Snapshot { inst, id, exch_ts } => {
                self.prepare(inst.idx);
                let s = GateSnapshot {
                    id,
                    exch_ts,
                    recv_ts,
                    bids: self.parser.bids(),
                    asks: self.parser.asks(),
                };
                let outcome = match self.books[usize::from(inst.idx.0)].as_mut() {
                    Some(b) => b.on_snapshot(&s, sink),
                    None => GateOutcome::Ignored,
                };
                GateFrameInfo::Book {
                    inst: inst.idx,
                    outcome,
                }
            }
            GateMsg::Other => GateFrameInfo::Other,
        })
    }

    /// A frame could not be decoded: break `inst`'s book, or every book when `None`.
    pub fn on_malformed(
        &mut self,
        inst: Option<InstrumentIdx>,
        recv_ts: u64,
        sink: &mut impl MdSink,
    ) {
        self.invalidate(inst, InvalidReason::Malformed, recv_ts, sink);
    }

    /// Breaks `inst`'s book (every book when `None`) for `reason` (disconnect, malformed
    /// frame...): `BookInvalid(reason)` and a new snapshot is needed.
    pub fn invalidate(
        &mut self,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
        recv_ts: u64,
        sink: &mut impl MdSink,
    ) {
        for b in self.books.iter_mut().flatten() {
            if inst.is_none_or(|i| i == b.instrument()) {
                b.invalidate(reason, recv_ts, sink);
            }
        }
    }
}
