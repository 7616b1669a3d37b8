//! Named counters in the control segment, exported by the gate as Prometheus metrics.
//!
//! To add a counter, append a variant (never renumber one) and its name: the names are part of
//! the layout hash, so a reader built before the change refuses the segment instead of
//! misreporting.

/// Counter slots reserved in the segment; [`Counter::ALL`] uses the first few.
pub const COUNTER_SLOTS: usize = 64;

/// A counter's index in the segment.
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Orders the OMS tried to send.
    SendsAttempted = 0,
    /// Sends refused because the halt word (or the venue's bit) was set.
    SendsRefusedHalted = 1,
    /// Orders written to a venue socket.
    SendsDone = 2,
    /// Intents refused by pre-trade risk.
    RiskRefused = 3,
    /// Halt trips that changed the word (global or venue).
    HaltTrips = 4,
    /// Trips on an already-halted segment (kept halted, first cause kept).
    HaltRetrips = 5,
    /// Resumes that cleared the halt.
    Resumes = 6,
    /// Resume attempts refused (bad or missing approvals).
    ResumesRefused = 7,
    /// Transition records not written because another writer held the record's seqlock too long.
    RecordWritesSkipped = 8,
    /// Monotonic ns at which a watching process last observed a halt (the `halt` bench
    /// observer writes it; a watchdog may too).
    HaltObservedNs = 9,
    /// Feed frames dropped because a ring was full.
    FeedDrops = 10,
    /// Venue rejects seen by the OMS.
    VenueRejects = 11,
    /// HTTP 429 responses seen by the OMS.
    VenueRateLimited = 12,
}

impl Counter {
    /// Every counter, in index order.
    pub const ALL: [Counter; 13] = [
        Counter::SendsAttempted,
        Counter::SendsRefusedHalted,
        Counter::SendsDone,
        Counter::RiskRefused,
        Counter::HaltTrips,
        Counter::HaltRetrips,
        Counter::Resumes,
        Counter::ResumesRefused,
        Counter::RecordWritesSkipped,
        Counter::HaltObservedNs,
        Counter::FeedDrops,
        Counter::VenueRejects,
        Counter::VenueRateLimited,
    ];

    /// The snake_case name used in `lyra status` and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::SendsAttempted => "sends_attempted",
            Counter::SendsRefusedHalted => "sends_refused_halted",
            Counter::SendsDone => "sends_done",
            Counter::RiskRefused => "risk_refused",
            Counter::HaltTrips => "halt_trips",
            Counter::HaltRetrips => "halt_retrips",
            Counter::Resumes => "resumes",
            Counter::ResumesRefused => "resumes_refused",
            Counter::RecordWritesSkipped => "record_writes_skipped",
            Counter::HaltObservedNs => "halt_observed_ns",
            Counter::FeedDrops => "feed_drops",
            Counter::VenueRejects => "venue_rejects",
            Counter::VenueRateLimited => "venue_rate_limited",
        }
    }
}

const _: () = assert!(Counter::ALL.len() <= COUNTER_SLOTS);
const _: () = {
    // Indices must equal positions in ALL, so `ALL[i] as usize == i`.
    let mut i = 0;
    while i < Counter::ALL.len() {
        assert!(Counter::ALL[i] as usize == i);
        i += 1;
    }
};
