//! OKX v5 replay adapter: the live decoder ([`OkxMd`]: parser + per-instrument sequencing) fed
//! from a recording; `Checksum` events are verified on the driver's rebuilt book with OKX's
//! recipe (top 25 interleaved, canonical text, signed CRC32).

use lyra_engine::book::L2Book;
use lyra_feeds::{
    checksum::ChecksumRecipe,
    instrument::InstrumentTable,
    okx::{OkxFrameInfo, OkxMd},
};
use lyra_shm::msg::{InstrumentIdx, InvalidReason, MdEvent, VenueId};

use super::{
    adapter::{FeedCounters, FrameError, VenueReplay},
    source::{Record, RecordKind},
};

/// The captures carry no instrument metadata; 8 decimals hold every OKX price and size text
/// (spot sizes go to 8 decimals; derivative sizes are whole contracts).
const SCALE: u8 = 8;

/// Per-instrument replay bookkeeping.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    frames: u64,
    /// The file (connection) whose frames built this book.
    file: usize,
}

/// The OKX replay adapter.
pub struct OkxReplay {
    md: OkxMd,
    seen: Vec<Seen>,
    /// The decoder already invalidated the book(s) of the last failed frame.
    handled: bool,
    /// Where the decoder's events go when a checksum mismatch breaks a sync (the driver
    /// invalidates its own book directly).
    scratch: Vec<MdEvent>,
}

impl OkxReplay {
    /// An adapter for `venue`.
    pub fn new(venue: VenueId) -> Self {
        Self {
            md: OkxMd::new(venue),
            seen: Vec::new(),
            handled: false,
            scratch: Vec::new(),
        }
    }

    fn seen_mut(&mut self, inst: InstrumentIdx) -> &mut Seen {
        let i = usize::from(inst.0);
        if self.seen.len() <= i {
            self.seen.resize(i + 1, Seen::default());
        }
        &mut self.seen[i]
    }
}

impl VenueReplay for OkxReplay {
    fn name(&self) -> &'static str {
        "okx"
    }

    fn venue(&self) -> VenueId {
        self.md.venue()
    }

    fn on_record(
        &mut self,
        rec: &Record,
        table: &mut InstrumentTable,
        out: &mut Vec<MdEvent>,
    ) -> Result<(), FrameError> {
        match &rec.kind {
            RecordKind::Connect => {
                // A new connection: the books its file built are no longer maintained.
                for (i, s) in self.seen.iter().enumerate() {
                    if s.file == rec.file && s.frames > 0 {
                        let inst = Some(InstrumentIdx(i as u16));
                        self.md
                            .invalidate(inst, InvalidReason::Disconnected, rec.recv_ns, out);
                    }
                }
                return Ok(());
            }
            RecordKind::Malformed(why) => {
                return Err(FrameError {
                    inst: None,
                    reason: why.clone(),
                });
            }
            RecordKind::Frame | RecordKind::Rest { .. } => {}
        }
        let venue = self.md.venue();
        let mut seen = None;
        let res = {
            let mut resolve = |s: &[u8]| {
                let sym = std::str::from_utf8(s).ok()?;
                let idx = table.lookup_or_add(venue, sym, SCALE, SCALE).ok()?;
                seen = Some(idx);
                table.resolved(idx)
            };
            self.md
                .on_frame(rec.recv_ns, rec.frame.as_bytes(), &mut resolve, out)
        };
        match res {
            Ok(OkxFrameInfo::Book { inst, .. }) => {
                let s = self.seen_mut(inst);
                s.frames += 1;
                s.file = rec.file;
                Ok(())
            }
            Ok(OkxFrameInfo::Other) => Ok(()),
            Err(e) => {
                if let Some(i) = seen {
                    self.seen_mut(i).frames += 1;
                }
                // The decoder has already invalidated the affected book(s).
                self.handled = true;
                Err(FrameError {
                    inst: seen,
                    reason: e.to_string(),
                })
            }
        }
    }

    fn on_malformed(&mut self, inst: Option<InstrumentIdx>, recv_ns: u64, out: &mut Vec<MdEvent>) {
        if !std::mem::take(&mut self.handled) {
            self.md.on_malformed(inst, recv_ns, out);
        }
    }

    fn counters(&self, inst: InstrumentIdx) -> FeedCounters {
        let frames = self.seen.get(usize::from(inst.0)).map_or(0, |s| s.frames);
        let c = self.md.book(inst).map(|b| b.counters()).unwrap_or_default();
        FeedCounters {
            frames,
            applied: c.updates,
            stale_dropped: c.unsynced_dropped,
            gaps: c.gaps,
            resyncs: c.resyncs,
        }
    }

    fn verify_checksum(&mut self, book: &L2Book, ev: &MdEvent) -> Option<bool> {
        if !book.is_valid() {
            // Nothing to compare against; not a pass and not a failure.
            return None;
        }
        // The event carries its recipe (OKX: top 25 interleaved, canonical text, signed CRC32).
        let ok = ChecksumRecipe::verify_event(
            ev,
            book.bids().map(|(p, q)| (p.0, q.0)),
            book.asks().map(|(p, q)| (p.0, q.0)),
            SCALE,
            SCALE,
        )?;
        if !ok {
            // The driver marks its book invalid; the sync must wait for a new snapshot.
            self.md.invalidate(
                Some(ev.instrument),
                InvalidReason::ChecksumMismatch,
                ev.recv_ts,
                &mut self.scratch,
            );
            self.scratch.clear();
        }
        Some(ok)
    }
}
