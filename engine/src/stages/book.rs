//! The book stage: applies every venue's `MdEvent`s to its L2 books, verifies venue checksums,
//! and publishes a `BookTop` after every complete venue message or invalidation. A book it finds
//! broken (crossed, checksum mismatch) is reported back to the feed stage for a resync.

use std::sync::{atomic::Ordering::Relaxed, Arc};

use lyra_feeds::checksum::ChecksumRecipe;
use lyra_shm::{
    clock::{Clock, Nanos},
    msg::{BookTop, InstrumentIdx, InvalidReason, MdEvent, MdKind, VenueId},
    ring::{Consumer, Producer},
};

use crate::{
    book::{Applied, BookConfig, L2Book},
    runtime::stage::Stage,
    stats::EngineStats,
};

/// Events taken from one input ring per poll, so one busy venue cannot starve the others.
const BATCH: usize = 256;

/// One instrument's scales and tick, as the books need them.
#[derive(Debug, Clone, Copy)]
pub struct BookInstrument {
    /// Decimals of price mantissas.
    pub px_scale: u8,
    /// Decimals of quantity mantissas.
    pub qty_scale: u8,
    /// Tick (0 = derive).
    pub tick: i64,
}

/// L2 books for venues x instruments.
pub struct BookStage {
    inputs: Vec<Consumer<MdEvent>>,
    books: Vec<L2Book>,
    insts: Vec<BookInstrument>,
    /// A top that did not fit the ring: republished first on the next poll.
    dirty: Vec<bool>,
    any_dirty: bool,
    out: Producer<BookTop>,
    resync: Producer<MdEvent>,
    stats: Arc<EngineStats>,
    clock: Arc<dyn Clock>,
    scratch: BookTop,
}

impl BookStage {
    /// Books for `venues` x `insts`, reading `inputs` (any order), publishing into `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        venues: usize,
        insts: Vec<BookInstrument>,
        window_slots: usize,
        inputs: Vec<Consumer<MdEvent>>,
        out: Producer<BookTop>,
        resync: Producer<MdEvent>,
        stats: Arc<EngineStats>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut books = Vec::with_capacity(venues * insts.len());
        for v in 0..venues {
            for (i, inst) in insts.iter().enumerate() {
                let cfg = BookConfig {
                    window_slots,
                    far_levels: 4_096,
                    tick: inst.tick,
                };
                books.push(L2Book::new(VenueId(v as u8), InstrumentIdx(i as u16), cfg));
            }
            stats.books_total[v].store(insts.len() as u64, Relaxed);
        }
        Self {
            dirty: vec![false; books.len()],
            any_dirty: false,
            books,
            insts,
            inputs,
            out,
            resync,
            stats,
            clock,
            scratch: BookTop::default(),
        }
    }

    fn index(&self, v: VenueId, i: InstrumentIdx) -> Option<usize> {
        let n = self.insts.len();
        ((i.0 as usize) < n && (v.0 as usize) * n + (i.0 as usize) < self.books.len())
            .then(|| v.0 as usize * n + i.0 as usize)
    }

    fn publish(&mut self, k: usize) {
        self.books[k].top_into(&mut self.scratch);
        if self.out.push(self.scratch).is_err() {
            // The strategy stage is behind: keep the newest state and retry next poll (a later
            // top of the same book supersedes this one, so nothing is lost but history).
            self.stats.top_ring_full.fetch_add(1, Relaxed);
            self.dirty[k] = true;
            self.any_dirty = true;
            return;
        }
        self.dirty[k] = false;
        self.stats.tops.fetch_add(1, Relaxed);
        let lat = self.clock.wall_ns().saturating_sub(self.scratch.recv_ts);
        if self.scratch.recv_ts != 0 {
            self.stats.frame_to_book.record(lat);
        }
    }

    fn set_valid(&self, v: VenueId, was: bool, now: bool) {
        if was != now {
            let c = &self.stats.books_valid[v.0 as usize];
            if now {
                c.fetch_add(1, Relaxed);
            } else {
                c.fetch_sub(1, Relaxed);
            }
        }
    }

    fn apply(&mut self, ev: &MdEvent) {
        let Some(k) = self.index(ev.venue, ev.instrument) else {
            return;
        };
        let was = self.books[k].is_valid();
        let applied = if ev.kind == MdKind::Checksum {
            let inst = self.insts[ev.instrument.0 as usize];
            let b = &self.books[k];
            let ok = !b.is_valid()
                || ChecksumRecipe::verify_event(
                    ev,
                    b.bids().map(|(p, q)| (p.0, q.0)),
                    b.asks().map(|(p, q)| (p.0, q.0)),
                    inst.px_scale,
                    inst.qty_scale,
                )
                .unwrap_or(true);
            if ok {
                Applied::Ignored
            } else {
                self.books[k].invalidate(InvalidReason::ChecksumMismatch);
                Applied::Invalidated(InvalidReason::ChecksumMismatch)
            }
        } else {
            self.books[k].apply(ev)
        };
        match applied {
            Applied::Ignored | Applied::Partial => {}
            Applied::EndOfMessage => self.publish(k),
            Applied::Invalidated(reason) => {
                self.publish(k);
                if reason == InvalidReason::Crossed || reason == InvalidReason::ChecksumMismatch {
                    self.stats.book_breaks.fetch_add(1, Relaxed);
                    let req = MdEvent {
                        venue: ev.venue,
                        instrument: ev.instrument,
                        kind: MdKind::BookInvalid,
                        reason,
                        ..Default::default()
                    };
                    // A full resync ring: the feed's own watchdogs still resync a dead book.
                    let _ = self.resync.push(req);
                }
            }
        }
        self.set_valid(ev.venue, was, self.books[k].is_valid());
    }

    /// The book of (venue, instrument).
    pub fn book(&self, v: VenueId, i: InstrumentIdx) -> Option<&L2Book> {
        self.index(v, i).map(|k| &self.books[k])
    }
}

impl Stage for BookStage {
    fn name(&self) -> &'static str {
        "book"
    }

    fn poll(&mut self, _now_ns: Nanos) -> usize {
        let mut n = 0;
        if self.any_dirty {
            self.any_dirty = false;
            for k in 0..self.books.len() {
                if self.dirty[k] {
                    self.publish(k);
                }
            }
        }
        for r in 0..self.inputs.len() {
            for _ in 0..BATCH {
                // Backpressure: with no room for a top, leave the events queued (the feed's own
                // ring then fills, and a full feed ring invalidates and resyncs the book), so
                // tops are never coalesced and every layout sees the same sequence.
                if self.out.len() >= self.out.capacity() {
                    self.stats.top_ring_full.fetch_add(1, Relaxed);
                    return n;
                }
                let Some(ev) = self.inputs[r].pop() else {
                    break;
                };
                self.apply(&ev);
                n += 1;
            }
        }
        n
    }
}
