//! OKX v5 public market data: frame parsing ([`parse`]), per-instrument sequencing ([`sync`]),
//! and [`OkxMd`], which ties them together for one connection and emits `MdEvent`s. Checksums
//! are forwarded as `Checksum` events and verified on the rebuilt book with
//! [`crate::checksum::ChecksumRecipe::Okx`]. The same `OkxMd` serves the live client and
//! `lyra replay`.

pub mod parse;
pub mod sync;

use lyra_shm::msg::{InstrumentIdx, InvalidReason, VenueId};

pub use self::{
    parse::{OkxAction, OkxBookHeader, OkxChannel, OkxMsg, OkxParseError, OkxParser},
    sync::{OkxBookSync, OkxCounters, OkxOutcome},
};
use crate::{instrument::Resolved, sink::MdSink};

/// What one frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkxFrameInfo {
    /// A book push for `inst`.
    Book {
        /// The instrument.
        inst: InstrumentIdx,
        /// What the sync did.
        outcome: OkxOutcome,
    },
    /// Nothing to emit.
    Other,
}

/// One OKX connection's decoder: parser + one [`OkxBookSync`] per instrument.
#[derive(Debug)]
pub struct OkxMd {
    venue: VenueId,
    parser: OkxParser,
    books: Vec<Option<OkxBookSync>>,
}

impl OkxMd {
    /// A decoder for `venue`.
    pub fn new(venue: VenueId) -> Self {
        Self {
            venue,
            parser: OkxParser::new(),
            books: Vec::new(),
        }
    }

    /// The venue id stamped on every event.
    pub fn venue(&self) -> VenueId {
        self.venue
    }

    /// Creates the book state of `inst` up front (so the hot path never allocates for it).
    pub fn prepare(&mut self, inst: InstrumentIdx) -> &mut OkxBookSync {
        let i = usize::from(inst.0);
        if self.books.len() <= i {
            self.books.resize_with(i + 1, || None);
        }
        let venue = self.venue;
        self.books[i].get_or_insert_with(|| OkxBookSync::new(venue, inst))
    }

    /// The book state of `inst`, if it exists.
    pub fn book(&self, inst: InstrumentIdx) -> Option<&OkxBookSync> {
        self.books.get(usize::from(inst.0)).and_then(Option::as_ref)
    }

    /// Every book state that exists.
    pub fn books(&self) -> impl Iterator<Item = &OkxBookSync> {
        self.books.iter().flatten()
    }

    /// Decodes one frame received at `recv_ts` and emits its events.
    ///
    /// # Errors
    /// [`OkxParseError`]. The frame's book (or, when the frame named none, every book) has
    /// then already been invalidated with `Malformed`: a lost update cannot be ruled out.
    pub fn on_frame(
        &mut self,
        recv_ts: u64,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        sink: &mut impl MdSink,
    ) -> Result<OkxFrameInfo, OkxParseError> {
        let msg = match self.parser.parse(frame, resolve) {
            Ok(m) => m,
            Err(e) => {
                let inst = match &e {
                    // An instrument we do not track cannot break a book we keep.
                    OkxParseError::UnknownSymbol(_) => return Err(e),
                    other => other
                        .inst_id()
                        .and_then(|s| resolve(s.as_bytes()))
                        .map(|r| r.idx),
                };
                self.on_malformed(inst, recv_ts, sink);
                return Err(e);
            }
        };
        Ok(match msg {
            OkxMsg::Book(h) => {
                self.prepare(h.inst.idx);
                let (bids, asks) = (self.parser.bids(), self.parser.asks());
                let outcome = match self.books[usize::from(h.inst.idx.0)].as_mut() {
                    Some(b) => b.on_book(&h, bids, asks, recv_ts, sink),
                    None => OkxOutcome::Unsynced,
                };
                OkxFrameInfo::Book {
                    inst: h.inst.idx,
                    outcome,
                }
            }
            OkxMsg::Other => OkxFrameInfo::Other,
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
