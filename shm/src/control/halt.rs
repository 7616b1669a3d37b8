//! The halt word, the venue halt bits and the last-transition record.
//!
//! The halt word packs `halted` (bit 0), a reason code (bits 16..32) and an epoch (bits 32..64)
//! that increments on every transition: trip, venue trip and resume. Approvals for a resume name
//! the epoch they were made for, so any transition in between voids them.
//!
//! Re-trip policy: tripping an already-halted segment leaves the word untouched (the *first* cause
//! is what an operator needs to see), writes no record and counts [`Counter::HaltRetrips`]; the
//! caller gets [`TripOutcome::AlreadyHalted`] and may audit it. The same holds for a venue already
//! halted.

use std::sync::atomic::Ordering;

use super::{
    layout::{OPERATOR_BYTES, REASON_TEXT_BYTES},
    seqlock, ControlError, ControlSegment, Counter, FixedStr,
};
use crate::{clock::wall_now_ns, msg::VenueId};

const HALTED_BIT: u64 = 1;
const REASON_SHIFT: u32 = 16;
const EPOCH_SHIFT: u32 = 32;

/// Why the engine is halted: a small code stored in the halt word (details go in the record).
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HaltReason {
    /// Not halted, or a code this binary does not know.
    None = 0,
    /// An operator asked for it.
    Operator = 1,
    /// A risk limit (loss stop, exposure) was hit.
    RiskLimit = 2,
    /// A hot thread stopped beating.
    HeartbeatLost = 3,
    /// A feed went stale or kept failing to resync.
    FeedStale = 4,
    /// Venue rejects or 429s above the allowed rate.
    RejectRate = 5,
    /// Reconciliation found a mismatch with the venue.
    ReconcileMismatch = 6,
    /// Drawdown beyond the limit.
    Drawdown = 7,
    /// Latency beyond the limit.
    Latency = 8,
    /// A thread panicked.
    Panic = 9,
    /// A venue banned us (HTTP 418) or is in maintenance.
    VenueBan = 10,
    /// The engine itself (start-up check, shutdown).
    Engine = 11,
    /// The `halt` benchmark.
    Bench = 12,
}

impl HaltReason {
    /// The code's reason, or `None` for an unknown code.
    pub const fn from_code(code: u16) -> HaltReason {
        match code {
            1 => HaltReason::Operator,
            2 => HaltReason::RiskLimit,
            3 => HaltReason::HeartbeatLost,
            4 => HaltReason::FeedStale,
            5 => HaltReason::RejectRate,
            6 => HaltReason::ReconcileMismatch,
            7 => HaltReason::Drawdown,
            8 => HaltReason::Latency,
            9 => HaltReason::Panic,
            10 => HaltReason::VenueBan,
            11 => HaltReason::Engine,
            12 => HaltReason::Bench,
            _ => HaltReason::None,
        }
    }

    /// snake_case name for status output and audit.
    pub const fn name(self) -> &'static str {
        match self {
            HaltReason::None => "none",
            HaltReason::Operator => "operator",
            HaltReason::RiskLimit => "risk_limit",
            HaltReason::HeartbeatLost => "heartbeat_lost",
            HaltReason::FeedStale => "feed_stale",
            HaltReason::RejectRate => "reject_rate",
            HaltReason::ReconcileMismatch => "reconcile_mismatch",
            HaltReason::Drawdown => "drawdown",
            HaltReason::Latency => "latency",
            HaltReason::Panic => "panic",
            HaltReason::VenueBan => "venue_ban",
            HaltReason::Engine => "engine",
            HaltReason::Bench => "bench",
        }
    }
}

/// Who made a transition.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Unknown (a code this binary does not know).
    Unknown = 0,
    /// A human through `lyra halt` / `lyra resume`.
    Operator = 1,
    /// Pre-trade risk.
    Risk = 2,
    /// The AMRC monitor thread.
    AmrcMonitor = 3,
    /// A panic hook.
    Panic = 4,
    /// The engine runtime.
    Engine = 5,
    /// The gate process.
    Gate = 6,
    /// The `halt` benchmark.
    Bench = 7,
}

impl Source {
    /// The code's source, or `Unknown`.
    pub const fn from_code(code: u8) -> Source {
        match code {
            1 => Source::Operator,
            2 => Source::Risk,
            3 => Source::AmrcMonitor,
            4 => Source::Panic,
            5 => Source::Engine,
            6 => Source::Gate,
            7 => Source::Bench,
            _ => Source::Unknown,
        }
    }

    /// snake_case name for status output and audit.
    pub const fn name(self) -> &'static str {
        match self {
            Source::Unknown => "unknown",
            Source::Operator => "operator",
            Source::Risk => "risk",
            Source::AmrcMonitor => "amrc_monitor",
            Source::Panic => "panic",
            Source::Engine => "engine",
            Source::Gate => "gate",
            Source::Bench => "bench",
        }
    }
}

/// What kind of transition a record describes.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitionKind {
    /// Global halt set.
    Trip = 1,
    /// One venue's bit set.
    VenueTrip = 2,
    /// Halt and venue bits cleared.
    Resume = 3,
}

impl TransitionKind {
    const fn from_code(code: u8) -> Option<TransitionKind> {
        match code {
            1 => Some(TransitionKind::Trip),
            2 => Some(TransitionKind::VenueTrip),
            3 => Some(TransitionKind::Resume),
            _ => None,
        }
    }

    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            TransitionKind::Trip => "trip",
            TransitionKind::VenueTrip => "venue_trip",
            TransitionKind::Resume => "resume",
        }
    }
}

/// A decoded halt word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HaltState(u64);

impl HaltState {
    const fn pack(halted: bool, reason: u16, epoch: u32) -> HaltState {
        HaltState(
            ((epoch as u64) << EPOCH_SHIFT) | ((reason as u64) << REASON_SHIFT) | halted as u64,
        )
    }
    /// The raw word.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// Whether the global halt is set.
    pub const fn halted(self) -> bool {
        self.0 & HALTED_BIT != 0
    }
    /// The reason code of the current halt (0 when not halted).
    pub const fn reason_code(self) -> u16 {
        (self.0 >> REASON_SHIFT) as u16
    }
    /// The reason of the current halt.
    pub const fn reason(self) -> HaltReason {
        HaltReason::from_code(self.reason_code())
    }
    /// Transitions so far (wraps after 2^32, far beyond any real count).
    pub const fn epoch(self) -> u32 {
        (self.0 >> EPOCH_SHIFT) as u32
    }
}

/// What a trip did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripOutcome {
    /// This call set the halt (or the venue bit); the new state.
    Tripped(HaltState),
    /// It was already set; nothing changed (see the module doc's re-trip policy).
    AlreadyHalted(HaltState),
}

impl TripOutcome {
    /// The state after the call.
    pub const fn state(self) -> HaltState {
        match self {
            TripOutcome::Tripped(s) | TripOutcome::AlreadyHalted(s) => s,
        }
    }
}

/// Who/when/why accompanying a transition.
#[derive(Debug, Clone, Copy)]
pub struct Note<'a> {
    /// Who.
    pub source: Source,
    /// Operator name (empty for automatic sources); truncated to 32 bytes.
    pub operator: &'a str,
    /// Free text; truncated to 96 bytes on a character boundary.
    pub text: &'a str,
    /// Wall clock, ns since the Unix epoch.
    pub wall_ns: u64,
}

impl Note<'static> {
    /// A note from an automatic source with no text, stamped now.
    pub fn auto(source: Source) -> Self {
        Note {
            source,
            operator: "",
            text: "",
            wall_ns: wall_now_ns(),
        }
    }
}

/// A consistent copy of the last transition record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionRecord {
    /// Kind of transition.
    pub kind: TransitionKind,
    /// Who.
    pub source: Source,
    /// Reason code (for resumes, the reason of the halt that was cleared).
    pub reason: HaltReason,
    /// The venue of a venue trip.
    pub venue: Option<VenueId>,
    /// Epoch after the transition.
    pub epoch: u32,
    /// Wall clock, ns since the Unix epoch.
    pub wall_ns: u64,
    /// Operator name.
    pub operator: FixedStr<OPERATOR_BYTES>,
    /// Reason text.
    pub text: FixedStr<REASON_TEXT_BYTES>,
}

impl ControlSegment {
    /// Whether the global halt is set: exactly one Acquire load.
    #[inline(always)]
    pub fn is_halted(&self) -> bool {
        self.layout().halt.word.load(Ordering::Acquire) & HALTED_BIT != 0
    }

    /// The decoded halt word (one Acquire load).
    #[inline(always)]
    pub fn halt_state(&self) -> HaltState {
        HaltState(self.layout().halt.word.load(Ordering::Acquire))
    }

    /// Whether `venue` is halted, by its own bit or the global halt. Ids beyond the mask count as
    /// halted (fail closed: such a venue cannot be configured).
    #[inline(always)]
    pub fn is_venue_halted(&self, venue: VenueId) -> bool {
        let mask = self.layout().halt.venue_mask.load(Ordering::Acquire);
        match Self::venue_bit(venue) {
            Ok(bit) => mask & bit != 0 || self.is_halted(),
            Err(_) => true,
        }
    }

    /// The per-venue halt bits (bit = venue id).
    #[inline]
    pub fn venue_mask(&self) -> u64 {
        self.layout().halt.venue_mask.load(Ordering::Acquire)
    }

    /// Trips the global halt, recording `source` and the wall time now.
    pub fn trip(&self, reason: HaltReason, source: Source) -> TripOutcome {
        self.trip_with(reason, &Note::auto(source))
    }

    /// Trips the global halt with a full note (operator, text, time).
    ///
    /// Order: the halt word (Release) first — that is what stops orders — then the futex wake,
    /// then the record.
    pub fn trip_with(&self, reason: HaltReason, note: &Note<'_>) -> TripOutcome {
        let word = &self.layout().halt.word;
        let mut cur = HaltState(word.load(Ordering::Relaxed));
        let new = loop {
            if cur.halted() {
                self.add(Counter::HaltRetrips, 1);
                return TripOutcome::AlreadyHalted(cur);
            }
            let new = HaltState::pack(true, reason as u16, cur.epoch().wrapping_add(1));
            match word.compare_exchange_weak(cur.0, new.0, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break new,
                Err(found) => cur = HaltState(found),
            }
        };
        self.notify_all();
        self.add(Counter::HaltTrips, 1);
        self.write_record(TransitionKind::Trip, reason, None, new.epoch(), note);
        TripOutcome::Tripped(new)
    }

    /// Halts one venue (its bit in the mask), bumping the epoch.
    ///
    /// # Errors
    /// [`ControlError::VenueOutOfRange`] for an id beyond the mask.
    pub fn trip_venue(
        &self,
        venue: VenueId,
        reason: HaltReason,
        note: &Note<'_>,
    ) -> Result<TripOutcome, ControlError> {
        let bit = Self::venue_bit(venue)?;
        let before = self
            .layout()
            .halt
            .venue_mask
            .fetch_or(bit, Ordering::Release);
        if before & bit != 0 {
            self.add(Counter::HaltRetrips, 1);
            return Ok(TripOutcome::AlreadyHalted(self.halt_state()));
        }
        // Bump the epoch without touching the halted bit or reason, so pending approvals die.
        let word = &self.layout().halt.word;
        let mut cur = HaltState(word.load(Ordering::Relaxed));
        let new = loop {
            let new = HaltState::pack(cur.halted(), cur.reason_code(), cur.epoch().wrapping_add(1));
            match word.compare_exchange_weak(cur.0, new.0, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break new,
                Err(found) => cur = HaltState(found),
            }
        };
        self.notify_all();
        self.add(Counter::HaltTrips, 1);
        self.write_record(
            TransitionKind::VenueTrip,
            reason,
            Some(venue),
            new.epoch(),
            note,
        );
        Ok(TripOutcome::Tripped(new))
    }

    /// Clears the halt and the venue bits if the word is still `expected`, bumping the epoch.
    ///
    /// This is the mechanism only; the policy (two approvals from distinct operators) lives in
    /// `lyra_amrc::Amrc::resume`, the one caller outside tests.
    ///
    /// # Errors
    /// [`ControlError::NotHalted`] when nothing is halted, [`ControlError::EpochMoved`] when the
    /// word is no longer `expected`.
    pub fn resume_if(
        &self,
        expected: HaltState,
        note: &Note<'_>,
    ) -> Result<HaltState, ControlError> {
        let halt = &self.layout().halt;
        // Snapshot the venue bits first: a venue trip after this bumps the epoch, so the CAS
        // below fails rather than clearing a bit we did not see.
        let mask = halt.venue_mask.load(Ordering::Acquire);
        if !expected.halted() && mask == 0 {
            return Err(ControlError::NotHalted);
        }
        let new = HaltState::pack(false, 0, expected.epoch().wrapping_add(1));
        if let Err(found) =
            halt.word
                .compare_exchange(expected.0, new.0, Ordering::AcqRel, Ordering::Acquire)
        {
            return Err(ControlError::EpochMoved {
                expected: expected.epoch(),
                found: HaltState(found).epoch(),
            });
        }
        halt.venue_mask.fetch_and(!mask, Ordering::Release);
        self.notify_all();
        self.add(Counter::Resumes, 1);
        self.write_record(
            TransitionKind::Resume,
            expected.reason(),
            None,
            new.epoch(),
            note,
        );
        Ok(new)
    }

    /// Bench-only: clears the halt and venue bits without approvals, bumping the epoch and
    /// writing no record, so the `halt` benchmark can run thousands of trip/observe cycles.
    /// Compiled only with the `bench` feature, which only `lyra-benches` enables.
    #[cfg(feature = "bench")]
    pub fn bench_reset(&self) {
        let halt = &self.layout().halt;
        let cur = HaltState(halt.word.load(Ordering::Relaxed));
        let new = HaltState::pack(false, 0, cur.epoch().wrapping_add(1));
        halt.venue_mask.store(0, Ordering::Release);
        halt.word.store(new.0, Ordering::Release);
    }

    /// A consistent copy of the last transition record; `None` before the first transition or
    /// if a writer held the record for the whole bounded wait.
    pub fn last_transition(&self) -> Option<TransitionRecord> {
        let t = &self.layout().transition;
        let (meta, wall_ns, venue, op, text) = seqlock::read(&t.seq, || {
            let mut op = [0u8; OPERATOR_BYTES];
            let mut text = [0u8; REASON_TEXT_BYTES];
            seqlock::load_bytes(&t.operator, &mut op);
            seqlock::load_bytes(&t.text, &mut text);
            (
                t.meta.load(Ordering::Relaxed),
                t.wall_ns.load(Ordering::Relaxed),
                t.venue.load(Ordering::Relaxed),
                op,
                text,
            )
        })
        .ok()?;
        let kind = TransitionKind::from_code(meta as u8)?;
        Some(TransitionRecord {
            kind,
            source: Source::from_code((meta >> 8) as u8),
            reason: HaltReason::from_code((meta >> 16) as u16),
            venue: (kind == TransitionKind::VenueTrip).then_some(VenueId(venue as u8)),
            epoch: (meta >> 32) as u32,
            wall_ns,
            operator: FixedStr::from_raw(op),
            text: FixedStr::from_raw(text),
        })
    }

    fn write_record(
        &self,
        kind: TransitionKind,
        reason: HaltReason,
        venue: Option<VenueId>,
        epoch: u32,
        note: &Note<'_>,
    ) {
        let t = &self.layout().transition;
        let meta =
            kind as u64 | (note.source as u64) << 8 | (reason as u64) << 16 | (epoch as u64) << 32;
        let op = FixedStr::<OPERATOR_BYTES>::new(note.operator);
        let text = FixedStr::<REASON_TEXT_BYTES>::new(note.text);
        let written = seqlock::write(&t.seq, || {
            t.meta.store(meta, Ordering::Relaxed);
            t.wall_ns.store(note.wall_ns, Ordering::Relaxed);
            t.venue
                .store(venue.map_or(0, |v| v.0 as u64), Ordering::Relaxed);
            seqlock::store_bytes(&t.operator, op.as_bytes());
            seqlock::store_bytes(&t.text, text.as_bytes());
        });
        if written.is_err() {
            // The halt itself is already in force; losing the record must not block it.
            self.add(Counter::RecordWritesSkipped, 1);
        }
    }
}
