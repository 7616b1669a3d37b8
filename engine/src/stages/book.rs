//! The book stage: applies every venue's `MdEvent`s to its L2 books, verifies venue checksums,
//! and publishes a `BookTop` after every complete venue message or invalidation. A book it finds
//! broken (crossed, checksum mismatch) is reported back to the feed stage for a resync.
//!
//! Staleness is judged here too, not only downstream by age: a valid book that has had no update
//! for its venue's stale period ([`BookStage::with_stale_after`]) is marked invalid at once
//! (`InvalidReason::Stale`), published as an invalid top, counted, and handed to the feed for a
//! resync; it is valid again after the next snapshot. The check uses the `now_ns` the runtime
//! already passes to `poll` (no clock read of its own) and scans the books at most every
//! [`STALE_SCANS_PER_PERIOD`]th of the shortest period, so a poll usually costs one compare.

use std::sync::{atomic::Ordering::Relaxed, Arc};

use lyra_feeds::checksum::ChecksumRecipe;
use lyra_shm::{
    clock::{Clock, Nanos},
    control::ControlSegment,
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
/// Book scans per (shortest) stale period: a stale book is caught within 1/8 of its period late.
pub const STALE_SCANS_PER_PERIOD: u64 = 8;

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
    /// Per venue: a valid book with no update for this long is stale, ns (0 = never).
    stale_after_ns: Vec<u64>,
    /// Per book: monotonic ns (the poll's `now_ns`) of the last event applied to it.
    last_update_ns: Vec<u64>,
    /// Next poll time at which the books are scanned for staleness (u64::MAX = never).
    next_stale_scan_ns: u64,
    /// Scan interval, ns.
    stale_scan_every_ns: u64,
    /// `now_ns` of the current poll.
    now_ns: u64,
    /// Where each venue's market-data status goes (None: not published).
    md_status: Option<Arc<ControlSegment>>,
    /// Per venue: books valid right now.
    valid_books: Vec<usize>,
}

/// Whether an invalidation means the venue's market data as a whole is down (the connection
/// dropped, was cut for an oversized frame, or a silence watchdog fired), as opposed to one
/// book's own break (gap, checksum, crossed), which a resync repairs while the feed is live.
fn is_md_down_reason(r: InvalidReason) -> bool {
    matches!(
        r,
        InvalidReason::Disconnected | InvalidReason::Stale | InvalidReason::Oversized
    )
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
        let insts_len = insts.len();
        let mut books = Vec::with_capacity(venues * insts_len);
        for v in 0..venues {
            for (i, inst) in insts.iter().enumerate() {
                let cfg = BookConfig {
                    window_slots,
                    tick: inst.tick,
                    ..BookConfig::default()
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
            stale_after_ns: vec![0; venues],
            last_update_ns: vec![0; venues * insts_len],
            next_stale_scan_ns: u64::MAX,
            stale_scan_every_ns: u64::MAX,
            now_ns: 0,
            md_status: None,
            valid_books: vec![0; venues],
        }
    }

    /// Publishes each venue's market-data status in `seg` (the order stage reads it to cancel
    /// per `oms.cancel_on_md_disconnect`): down when a book of the venue is invalidated by a
    /// disconnect, an oversized frame or staleness (the feed's watchdog or this stage's own
    /// check), up again once every book of the venue is valid. The segment rather than a ring:
    /// the order stage polls it with one load, the word survives a full ring, and `lyra status`
    /// and the gate see it too.
    #[must_use]
    pub fn with_md_status(mut self, seg: Arc<ControlSegment>) -> Self {
        self.md_status = Some(seg);
        self
    }

    fn md_down(&self, venue: VenueId, reason: InvalidReason) {
        if let Some(seg) = &self.md_status {
            if seg.set_md_down(venue).unwrap_or(false) {
                tracing::warn!(venue = venue.0, ?reason, "market data down");
            }
        }
    }

    /// Marks a valid book invalid when it has had no update for `stale_after_ms[venue]` ms
    /// (0 or a missing entry: never), judged on the monotonic `now_ns` the runtime passes to
    /// `poll`. Without this call (benches, layout tests) the stage never judges staleness.
    #[must_use]
    pub fn with_stale_after(mut self, stale_after_ms: &[u64]) -> Self {
        for (v, ns) in self.stale_after_ns.iter_mut().enumerate() {
            *ns = stale_after_ms
                .get(v)
                .map_or(0, |ms| ms.saturating_mul(1_000_000));
        }
        let shortest = self
            .stale_after_ns
            .iter()
            .copied()
            .filter(|ns| *ns > 0)
            .min();
        self.stale_scan_every_ns =
            shortest.map_or(u64::MAX, |ns| (ns / STALE_SCANS_PER_PERIOD).max(1));
        // The first scan waits for the first poll's clock (see `poll`).
        self.next_stale_scan_ns = if shortest.is_some() { 0 } else { u64::MAX };
        self
    }

    /// Invalidates every valid book whose venue has a stale period and whose last update is
    /// older than it; each becomes an invalid top, a `books_stale` count and a resync request.
    fn expire_stale(&mut self, now: u64) {
        let n = self.insts.len();
        for k in 0..self.books.len() {
            let limit = self.stale_after_ns[k / n];
            if limit == 0
                || !self.books[k].is_valid()
                || now.saturating_sub(self.last_update_ns[k]) < limit
            {
                continue;
            }
            let (venue, instrument) = (VenueId((k / n) as u8), InstrumentIdx((k % n) as u16));
            self.books[k].invalidate(InvalidReason::Stale);
            self.set_valid(venue, true, false);
            self.md_down(venue, InvalidReason::Stale);
            self.stats.books_stale.fetch_add(1, Relaxed);
            self.publish(k);
            let req = MdEvent {
                venue,
                instrument,
                kind: MdKind::BookInvalid,
                reason: InvalidReason::Stale,
                ..Default::default()
            };
            // A full resync ring: the feed's own silence watchdog still resyncs a dead feed.
            let _ = self.resync.push(req);
        }
    }

    fn index(&self, v: VenueId, i: InstrumentIdx) -> Option<usize> {
        let n = self.insts.len();
        ((i.0 as usize) < n && (v.0 as usize) * n + (i.0 as usize) < self.books.len())
            .then(|| v.0 as usize * n + i.0 as usize)
    }

    fn publish(&mut self, k: usize) {
        self.books[k].top_into(&mut self.scratch);
        if self.scratch.reason == InvalidReason::Stale {
            // No frame caused this top (silence did): a zero receive time keeps it out of the
            // latency histograms here and downstream (the strategy stage treats 0 as "no tick").
            self.scratch.recv_ts = 0;
        }
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

    fn set_valid(&mut self, v: VenueId, was: bool, now: bool) {
        if was != now {
            let c = &self.stats.books_valid[v.0 as usize];
            let n = &mut self.valid_books[v.0 as usize];
            if now {
                c.fetch_add(1, Relaxed);
                *n += 1;
                if *n == self.insts.len() {
                    if let Some(seg) = &self.md_status {
                        if seg.set_md_up(v).unwrap_or(false) {
                            tracing::info!(venue = v.0, "market data up: every book valid");
                        }
                    }
                }
            } else {
                c.fetch_sub(1, Relaxed);
                *n = n.saturating_sub(1);
            }
        }
    }

    fn apply(&mut self, ev: &MdEvent) {
        let Some(k) = self.index(ev.venue, ev.instrument) else {
            return;
        };
        let was = self.books[k].is_valid();
        self.last_update_ns[k] = self.now_ns;
        if ev.kind == MdKind::BookInvalid && is_md_down_reason(ev.reason) {
            self.md_down(ev.venue, ev.reason);
        }
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

    fn poll(&mut self, now_ns: Nanos) -> usize {
        let mut n = 0;
        self.now_ns = now_ns;
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
        if now_ns >= self.next_stale_scan_ns {
            self.next_stale_scan_ns = now_ns.saturating_add(self.stale_scan_every_ns);
            self.expire_stale(now_ns);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use lyra_shm::{
        clock::ManualClock,
        msg::{md_flags, Px, Qty, Side},
        ring::channel,
    };

    use super::*;

    const MS: u64 = 1_000_000;

    /// A stage over two venues x one instrument with per-venue stale periods `stale_ms` (`None`:
    /// `with_stale_after` never called).
    struct Rig {
        stage: BookStage,
        md: Vec<Producer<MdEvent>>,
        tops: Consumer<BookTop>,
        resync: Consumer<MdEvent>,
        stats: Arc<EngineStats>,
    }

    fn rig(stale_ms: Option<&[u64]>) -> Rig {
        let stats = Arc::new(EngineStats::default());
        let (md0, in0) = channel(64);
        let (md1, in1) = channel(64);
        let (top_tx, tops) = channel(64);
        let (rs_tx, resync) = channel(64);
        let inst = BookInstrument {
            px_scale: 2,
            qty_scale: 2,
            tick: 1,
        };
        let mut stage = BookStage::new(
            2,
            vec![inst],
            64,
            vec![in0, in1],
            top_tx,
            rs_tx,
            stats.clone(),
            Arc::new(ManualClock::new(1)),
        );
        if let Some(ms) = stale_ms {
            stage = stage.with_stale_after(ms);
        }
        Rig {
            stage,
            md: vec![md0, md1],
            tops,
            resync,
            stats,
        }
    }

    fn ev(venue: u8, kind: MdKind, side: Side, px: i64, flags: u8) -> MdEvent {
        MdEvent {
            recv_ts: 1,
            seq: 1,
            px: Px(px),
            qty: Qty(100),
            venue: VenueId(venue),
            kind,
            side,
            flags,
            ..Default::default()
        }
    }

    /// A one-level-a-side snapshot for `venue`.
    fn snapshot(r: &mut Rig, venue: u8) {
        let md = &mut r.md[venue as usize];
        for e in [
            ev(venue, MdKind::SnapshotBegin, Side::Buy, 0, 0),
            ev(venue, MdKind::Level, Side::Buy, 100, 0),
            ev(venue, MdKind::Level, Side::Sell, 101, 0),
            ev(venue, MdKind::SnapshotEnd, Side::Buy, 0, 0),
        ] {
            md.push(e).unwrap();
        }
    }

    fn update(r: &mut Rig, venue: u8, px: i64) {
        let e = ev(
            venue,
            MdKind::Level,
            Side::Buy,
            px,
            md_flags::END_OF_MESSAGE,
        );
        r.md[venue as usize].push(e).unwrap();
    }

    fn drain(c: &mut Consumer<BookTop>) -> Vec<BookTop> {
        std::iter::from_fn(|| c.pop()).collect()
    }

    fn valid(r: &Rig, venue: u8) -> bool {
        r.stage
            .book(VenueId(venue), InstrumentIdx(0))
            .unwrap()
            .is_valid()
    }

    /// A control segment under /dev/shm, removed on drop.
    struct Seg(Arc<ControlSegment>, std::path::PathBuf);

    impl Drop for Seg {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.1);
        }
    }

    fn seg(tag: &str) -> Seg {
        let p = std::path::PathBuf::from(format!(
            "/dev/shm/lyra-test-book-{tag}-{}-{}",
            std::process::id(),
            lyra_shm::clock::mono_now_ns()
        ));
        let s = ControlSegment::create(&p, &lyra_shm::control::CreateOpts::default()).unwrap();
        Seg(Arc::new(s), p)
    }

    fn invalid(venue: u8, reason: InvalidReason) -> MdEvent {
        MdEvent {
            reason,
            ..ev(venue, MdKind::BookInvalid, Side::Buy, 0, 0)
        }
    }

    #[test]
    fn market_data_goes_down_once_per_disconnect_and_up_when_every_book_is_valid() {
        let s = seg("md");
        let mut r = rig(Some(&[100, 0]));
        r.stage = r.stage.with_md_status(s.0.clone());
        let t0 = 1_000 * MS;
        snapshot(&mut r, 0);
        snapshot(&mut r, 1);
        r.stage.poll(t0);
        assert_eq!((s.0.md_down_seq(), s.0.md_down_mask()), (0, 0));

        // A book's own break (checksum, gap) is a resync, not a market-data outage.
        r.md[0]
            .push(invalid(0, InvalidReason::ChecksumMismatch))
            .unwrap();
        r.stage.poll(t0 + MS);
        assert_eq!(s.0.md_down_seq(), 0);
        snapshot(&mut r, 0);
        r.stage.poll(t0 + 2 * MS);

        // A disconnect (every instrument's BookInvalid) counts once.
        for _ in 0..3 {
            r.md[0]
                .push(invalid(0, InvalidReason::Disconnected))
                .unwrap();
        }
        r.stage.poll(t0 + 3 * MS);
        assert!(s.0.is_md_down(VenueId(0)) && !s.0.is_md_down(VenueId(1)));
        assert_eq!((s.0.md_down_seq(), s.0.md_down_epoch(VenueId(0))), (1, 1));
        snapshot(&mut r, 0);
        r.stage.poll(t0 + 4 * MS);
        assert!(!s.0.is_md_down(VenueId(0)), "every book valid again: up");

        // The stage's own stale check is an outage too.
        r.stage.poll(t0 + 200 * MS);
        assert!(!valid(&r, 0));
        assert_eq!(s.0.md_down_epoch(VenueId(0)), 2);
        assert!(s.0.is_md_down(VenueId(0)));
    }

    #[test]
    fn a_silent_book_goes_invalid_after_its_venues_stale_period_and_recovers_on_resync() {
        // Venue 0 goes stale after 100 ms of silence, venue 1 never (0).
        let mut r = rig(Some(&[100, 0]));
        let t0 = 1_000 * MS;
        snapshot(&mut r, 0);
        snapshot(&mut r, 1);
        r.stage.poll(t0);
        assert!(valid(&r, 0) && valid(&r, 1));
        assert!(drain(&mut r.tops).iter().all(|t| t.is_valid()));

        // Updates keep it fresh: 60 ms apart is inside the 100 ms period.
        update(&mut r, 0, 99);
        r.stage.poll(t0 + 60 * MS);
        r.stage.poll(t0 + 150 * MS);
        assert!(valid(&r, 0), "updated 90 ms ago: still fresh");
        assert_eq!(r.stats.books_stale.load(Relaxed), 0);
        drain(&mut r.tops);

        // Silence past the period: invalid at the next scan, published, counted, resynced.
        r.stage.poll(t0 + 175 * MS);
        assert!(!valid(&r, 0), "no update for 115 ms: stale");
        assert!(valid(&r, 1), "venue 1 has no stale period");
        let tops = drain(&mut r.tops);
        assert_eq!(tops.len(), 1);
        let t = tops[0];
        assert_eq!((t.venue, t.is_valid()), (VenueId(0), false));
        assert_eq!(t.reason, InvalidReason::Stale);
        assert_eq!(
            t.recv_ts, 0,
            "no frame caused it: no latency sample downstream"
        );
        assert_eq!(r.stats.books_stale.load(Relaxed), 1);
        assert_eq!(r.stats.books_valid[0].load(Relaxed), 0);
        assert_eq!(r.stats.books_valid[1].load(Relaxed), 1);
        let req = r.resync.pop().expect("a resync request");
        assert_eq!((req.venue, req.kind), (VenueId(0), MdKind::BookInvalid));
        assert_eq!(req.reason, InvalidReason::Stale);
        assert!(r.resync.pop().is_none());

        // Still silent: counted once, not on every scan.
        r.stage.poll(t0 + 500 * MS);
        assert_eq!(r.stats.books_stale.load(Relaxed), 1);
        assert!(drain(&mut r.tops).is_empty());

        // An update without a snapshot does not revive it; the resync's snapshot does.
        update(&mut r, 0, 98);
        r.stage.poll(t0 + 510 * MS);
        assert!(!valid(&r, 0));
        snapshot(&mut r, 0);
        r.stage.poll(t0 + 520 * MS);
        assert!(valid(&r, 0));
        assert!(drain(&mut r.tops).last().unwrap().is_valid());
        assert_eq!(r.stats.books_valid[0].load(Relaxed), 1);
        // ...and its silence clock restarted at the snapshot.
        r.stage.poll(t0 + 600 * MS);
        assert!(valid(&r, 0));
        r.stage.poll(t0 + 640 * MS);
        assert!(!valid(&r, 0));
        assert_eq!(r.stats.books_stale.load(Relaxed), 2);
    }

    #[test]
    fn without_a_stale_period_books_never_expire() {
        let mut r = rig(None);
        snapshot(&mut r, 0);
        r.stage.poll(MS);
        r.stage.poll(u64::MAX / 2);
        assert!(valid(&r, 0));
        assert_eq!(r.stats.books_stale.load(Relaxed), 0);
        assert!(r.resync.pop().is_none());
    }
}
