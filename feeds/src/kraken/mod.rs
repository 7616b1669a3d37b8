//! Kraken spot market data (WebSocket v2 and the v1 framing of recorded data): frame parsing
//! ([`parse`]), per-pair upkeep with truncation to depth ([`sync`]), and [`KrakenMd`], which
//! ties them together for one connection and emits `MdEvent`s. Checksums are forwarded as
//! `Checksum` events and verified on the rebuilt book with
//! [`crate::checksum::ChecksumRecipe::Kraken`] at the precision [`KrakenMd::checksum_recipe`]
//! reports.

pub mod parse;
pub mod sync;

use lyra_shm::msg::{InstrumentIdx, InvalidReason, VenueId};

pub use self::{
    parse::{
        parse_rfc3339_ns, KrakenBookHeader, KrakenLevel, KrakenMsg, KrakenParseError, KrakenParser,
        KrakenProtocol,
    },
    sync::{KrakenBookSync, KrakenCounters, KrakenOutcome, KRAKEN_DEFAULT_DEPTH},
};
use crate::{checksum::ChecksumRecipe, instrument::Resolved, sink::MdSink};

/// What one frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KrakenFrameInfo {
    /// A book message for `inst`.
    Book {
        /// The instrument.
        inst: InstrumentIdx,
        /// What the sync did.
        outcome: KrakenOutcome,
        /// The venue checksum it carried.
        checksum: Option<u32>,
    },
    /// Nothing to emit.
    Other,
}

/// One Kraken connection's decoder: parser + one [`KrakenBookSync`] per pair.
#[derive(Debug)]
pub struct KrakenMd {
    venue: VenueId,
    default_depth: usize,
    parser: KrakenParser,
    books: Vec<Option<KrakenBookSync>>,
}

impl KrakenMd {
    /// A decoder for `venue`; books not prepared otherwise get `default_depth` (the v2
    /// subscription's `depth`; v1 frames name their own).
    pub fn new(venue: VenueId, default_depth: usize) -> Self {
        Self {
            venue,
            default_depth,
            parser: KrakenParser::new(),
            books: Vec::new(),
        }
    }

    /// The venue id stamped on every event.
    pub fn venue(&self) -> VenueId {
        self.venue
    }

    /// Creates the book state of `inst` up front (so the hot path never allocates for it).
    pub fn prepare(&mut self, inst: InstrumentIdx) -> &mut KrakenBookSync {
        let i = usize::from(inst.0);
        if self.books.len() <= i {
            self.books.resize_with(i + 1, || None);
        }
        let (venue, depth) = (self.venue, self.default_depth);
        self.books[i].get_or_insert_with(|| KrakenBookSync::new(venue, inst, depth))
    }

    /// The book state of `inst`, if it exists.
    pub fn book(&self, inst: InstrumentIdx) -> Option<&KrakenBookSync> {
        self.books.get(usize::from(inst.0)).and_then(Option::as_ref)
    }

    /// Every book state that exists.
    pub fn books(&self) -> impl Iterator<Item = &KrakenBookSync> {
        self.books.iter().flatten()
    }

    /// How to recompute `inst`'s checksum on the rebuilt book (None before its precision is known).
    pub fn checksum_recipe(&self, inst: InstrumentIdx) -> Option<ChecksumRecipe> {
        self.book(inst)
            .and_then(KrakenBookSync::precision)
            .map(ChecksumRecipe::Kraken)
    }

    /// Decodes one frame received at `recv_ts` and emits its events.
    ///
    /// # Errors
    /// [`KrakenParseError`]. The frame's book (or, when the frame named none, every book) has
    /// then already been invalidated with `Malformed`.
    pub fn on_frame(
        &mut self,
        recv_ts: u64,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        sink: &mut impl MdSink,
    ) -> Result<KrakenFrameInfo, KrakenParseError> {
        let msg = match self.parser.parse(frame, resolve) {
            Ok(m) => m,
            Err(e) => {
                let inst = match &e {
                    KrakenParseError::UnknownSymbol(_) => return Err(e),
                    other => other
                        .pair()
                        .and_then(|s| resolve(s.as_bytes()))
                        .map(|r| r.idx),
                };
                self.on_malformed(inst, recv_ts, sink);
                return Err(e);
            }
        };
        Ok(match msg {
            KrakenMsg::Book(h) => {
                self.prepare(h.inst.idx);
                let levels = self.parser.levels();
                let outcome = match self.books[usize::from(h.inst.idx.0)].as_mut() {
                    Some(b) => b.on_book(&h, levels, recv_ts, sink),
                    None => KrakenOutcome::Unsynced,
                };
                KrakenFrameInfo::Book {
                    inst: h.inst.idx,
                    outcome,
                    checksum: h.checksum,
                }
            }
            KrakenMsg::Other => KrakenFrameInfo::Other,
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
