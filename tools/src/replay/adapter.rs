//! The seam between the venue-generic replay driver and one venue's decoder: implement
//! [`VenueReplay`] in one file (`replay/<venue>.rs`) and add it to [`super::adapter_for`].

use lyra_engine::book::{BookConfig, L2Book};
use lyra_feeds::instrument::InstrumentTable;
use lyra_shm::msg::{InstrumentIdx, MdEvent, VenueId};

use super::source::Record;

/// Feed-side counters of one (venue, instrument), as the adapter's sync keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedCounters {
    /// Frames for this instrument (book diffs, snapshots, top-of-book, trades).
    pub frames: u64,
    /// Book updates applied.
    pub applied: u64,
    /// Book updates dropped as older than the book.
    pub stale_dropped: u64,
    /// Sequence gaps (lost updates) detected.
    pub gaps: u64,
    /// Times the book had to be rebuilt from a new snapshot.
    pub resyncs: u64,
}

/// A frame the adapter could not decode; `symbol`/`inst` when it could tell whose it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The instrument, when known.
    pub inst: Option<InstrumentIdx>,
    /// What was wrong (includes the symbol when known).
    pub reason: String,
}

/// One venue's decoder, driven record by record over a recording.
pub trait VenueReplay {
    /// The venue's name in output (`binance`).
    fn name(&self) -> &'static str;

    /// The venue id stamped on events.
    fn venue(&self) -> VenueId;

    /// Decodes one record, adding new symbols to `table`, and pushes its events into `out`.
    ///
    /// # Errors
    /// A [`FrameError`]: the driver reports it with the file and line and calls
    /// [`VenueReplay::on_malformed`].
    fn on_record(
        &mut self,
        rec: &Record,
        table: &mut InstrumentTable,
        out: &mut Vec<MdEvent>,
    ) -> Result<(), FrameError>;

    /// A record could not be decoded: mark the affected book(s) invalid (events into `out`).
    fn on_malformed(&mut self, inst: Option<InstrumentIdx>, recv_ns: u64, out: &mut Vec<MdEvent>);

    /// Feed-side counters for `inst`.
    fn counters(&self, inst: InstrumentIdx) -> FeedCounters;

    /// Book geometry for `inst` (tick 0 = derived from the first snapshot).
    fn book_config(&self, _inst: InstrumentIdx) -> BookConfig {
        BookConfig::default()
    }

    /// Verifies a venue checksum event (`MdKind::Checksum`) against the book right after the
    /// message it belongs to: `Some(ok)`, or `None` for venues without checksums.
    fn verify_checksum(&mut self, _book: &L2Book, _ev: &MdEvent) -> Option<bool> {
        None
    }
}
