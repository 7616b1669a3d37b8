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
    /// Market-data events the feeds produced (engine pipeline).
    MdEvents = 13,
    /// Book tops published by the book stage.
    Tops = 14,
    /// Intents the strategies emitted.
    Intents = 15,
    /// Arbitrage groups whose two legs passed the recheck and risk.
    ArbGroups = 16,
    /// Market-making fills.
    MmFills = 17,
    /// Order requests the OMS wrote (live and test).
    OrderRequests = 18,
    /// Gauge: books valid right now, all venues.
    BooksValid = 19,
    /// Gauge: frame receive -> order request, p50 ns (upper bound of its histogram bucket; the
    /// full histograms are [`super::Hist`]).
    TickToOrderP50Ns = 20,
    /// Gauge: frame receive -> order request, p99 ns (bucket upper edge).
    TickToOrderP99Ns = 21,
    /// Gauge: frame receive -> top published, p50 ns (bucket upper edge).
    FrameToBookP50Ns = 22,
    /// Gauge: top -> intent approved, p50 ns (bucket upper edge).
    BookToIntentP50Ns = 23,
    /// Gauge: intent approved -> request written, p50 ns (bucket upper edge).
    IntentToRequestP50Ns = 24,
    /// Books the book stage marked invalid because no update came for the venue's stale period.
    BooksStale = 25,
}

impl Counter {
    /// Every counter, in index order.
    pub const ALL: [Counter; 26] = [
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
        Counter::MdEvents,
        Counter::Tops,
        Counter::Intents,
        Counter::ArbGroups,
        Counter::MmFills,
        Counter::OrderRequests,
        Counter::BooksValid,
        Counter::TickToOrderP50Ns,
        Counter::TickToOrderP99Ns,
        Counter::FrameToBookP50Ns,
        Counter::BookToIntentP50Ns,
        Counter::IntentToRequestP50Ns,
        Counter::BooksStale,
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
            Counter::MdEvents => "md_events",
            Counter::Tops => "tops",
            Counter::Intents => "intents",
            Counter::ArbGroups => "arb_groups",
            Counter::MmFills => "mm_fills",
            Counter::OrderRequests => "order_requests",
            Counter::BooksValid => "books_valid",
            Counter::TickToOrderP50Ns => "tick_to_order_p50_ns",
            Counter::TickToOrderP99Ns => "tick_to_order_p99_ns",
            Counter::FrameToBookP50Ns => "frame_to_book_p50_ns",
            Counter::BookToIntentP50Ns => "book_to_intent_p50_ns",
            Counter::IntentToRequestP50Ns => "intent_to_request_p50_ns",
            Counter::BooksStale => "books_stale",
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
