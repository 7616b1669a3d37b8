//! Live pipeline statistics: counters, gauges and fixed-bucket latency histograms that the hot
//! stages update with relaxed atomic adds (no locks, no allocation) and that `lyra demo` and
//! tests read while the engine runs. One [`EngineStats`] per engine, shared through an `Arc`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use lyra_shm::{
    control::{bucket_index, ControlError, ControlSegment, Hist, HistSnapshot},
    msg::{OrderState, MAX_VENUES},
};

/// Buckets of a [`LatencyHist`]: the control segment's √2-spaced buckets
/// ([`lyra_shm::control::HIST_BOUNDS_NS`]), so the stats publisher copies them as they are.
pub use lyra_shm::control::HIST_BUCKETS;

/// A fixed-bucket latency histogram (ns) with the control segment's bucket bounds.
///
/// A sample costs the hot thread one bucket lookup and three relaxed adds (bucket, sum, max); the
/// total count is derived from the buckets when read, off the hot path.
#[derive(Debug)]
pub struct LatencyHist {
    buckets: [AtomicU64; HIST_BUCKETS],
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl LatencyHist {
    /// Adds one sample.
    #[inline]
    pub fn record(&self, ns: u64) {
        self.buckets[bucket_index(ns)].fetch_add(1, Relaxed);
        self.sum.fetch_add(ns, Relaxed);
        self.max.fetch_max(ns, Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Largest sample.
    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// A copy of the buckets and sum, in the control segment's shape. Its `count` is the sum of
    /// its buckets; samples recorded during the copy may be in the buckets but not yet in
    /// `sum_ns` (or the reverse), an error of a sample or two that nothing depends on.
    pub fn snapshot(&self) -> HistSnapshot {
        HistSnapshot::from_counts(
            std::array::from_fn(|k| self.buckets[k].load(Relaxed)),
            self.sum.load(Relaxed),
        )
    }

    /// The quantile `q` (0..=1) as the upper bound of its bucket (an over-estimate by < √2),
    /// capped by the largest sample; `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.snapshot().quantile(q).map(|v| v.min(self.max()))
    }
}

/// Order states counted in [`EngineStats::intents_by_state`], in this order.
pub const STATES: [OrderState; 9] = [
    OrderState::New,
    OrderState::Sent,
    OrderState::Acked,
    OrderState::SentUnknown,
    OrderState::Partial,
    OrderState::Filled,
    OrderState::Canceled,
    OrderState::Rejected,
    OrderState::Expired,
];

/// Everything the pipeline counts.
#[derive(Debug)]
pub struct EngineStats {
    /// `MdEvent`s the feeds produced.
    pub md_events: AtomicU64,
    /// `MdEvent`s dropped because the feed -> book ring was full (each invalidates its book).
    pub md_ring_full: AtomicU64,
    /// Tops published.
    pub tops: AtomicU64,
    /// Tops the strategy stage consumed.
    pub strategy_tops: AtomicU64,
    /// Tops dropped because the book -> strategy ring was full.
    pub top_ring_full: AtomicU64,
    /// Books invalidated by the book stage (crossed, checksum, dropped events).
    pub book_breaks: AtomicU64,
    /// Books the book stage marked invalid for having no update for their venue's stale period.
    pub books_stale: AtomicU64,
    /// Per venue: valid books right now.
    pub books_valid: [AtomicU64; MAX_VENUES],
    /// Per venue: books configured.
    pub books_total: [AtomicU64; MAX_VENUES],
    /// Intents the strategies emitted.
    pub intents: AtomicU64,
    /// Intents risk refused.
    pub risk_refused: AtomicU64,
    /// Risk refusals by `Refusal` code (index = the code).
    pub risk_refused_by: [AtomicU64; 32],
    /// Arbitrage legs dropped by the send-time edge recheck.
    pub edge_gone: AtomicU64,
    /// Approved intents dropped because the strategy -> order ring was full.
    pub order_ring_full: AtomicU64,
    /// Arbitrage opportunities seen (touch cleared fees and threshold).
    pub arb_opportunities: AtomicU64,
    /// Arbitrage groups the strategy emitted (before the recheck and risk).
    pub arb_groups: AtomicU64,
    /// Arbitrage groups whose two legs both passed the recheck and risk and were sent on.
    pub arb_groups_sent: AtomicU64,
    /// Closed arbitrage groups with equal base bought and sold.
    pub arb_groups_balanced: AtomicU64,
    /// Closed arbitrage groups left with a base residual (one leg, or a fix, did not fill).
    pub arb_groups_one_legged: AtomicU64,
    /// Realised arbitrage edge net of fees over balanced groups, ppm of the notional bought.
    pub arb_edge_ppm: AtomicI64,
    /// Realised arbitrage PnL net of fees over balanced groups, quote mantissa at 1e-8.
    pub arb_pnl_e8: AtomicI64,
    /// Market-making fills.
    pub mm_fills: AtomicU64,
    /// Market-making quotes placed.
    pub mm_quotes: AtomicU64,
    /// Intents by last reported state (index as in [`STATES`]).
    pub intents_by_state: [AtomicU64; STATES.len()],
    /// Intents the OMS refused before the venue (halt, throttle, filter).
    pub oms_refused: AtomicU64,
    /// Of those, refused because of a halt.
    pub oms_refused_halted: AtomicU64,
    /// Order requests written (live and test), as the OMS counted them.
    pub order_requests: AtomicU64,
    /// Execution reports dropped because the order -> strategy ring was full.
    pub report_ring_full: AtomicU64,
    /// Frame receive -> top published.
    pub frame_to_book: LatencyHist,
    /// Top received by the strategy stage -> intent approved.
    pub book_to_intent: LatencyHist,
    /// Intent approved -> request written (the OMS submit).
    pub intent_to_request: LatencyHist,
    /// Frame receive -> request written.
    pub tick_to_order: LatencyHist,
}

impl Default for EngineStats {
    fn default() -> Self {
        let z = || AtomicU64::new(0);
        Self {
            md_events: z(),
            md_ring_full: z(),
            tops: z(),
            top_ring_full: z(),
            strategy_tops: z(),
            book_breaks: z(),
            books_stale: z(),
            books_valid: std::array::from_fn(|_| z()),
            books_total: std::array::from_fn(|_| z()),
            intents: z(),
            risk_refused: z(),
            risk_refused_by: std::array::from_fn(|_| z()),
            edge_gone: z(),
            order_ring_full: z(),
            arb_opportunities: z(),
            arb_groups: z(),
            arb_groups_sent: z(),
            arb_groups_balanced: z(),
            arb_groups_one_legged: z(),
            arb_edge_ppm: AtomicI64::new(0),
            arb_pnl_e8: AtomicI64::new(0),
            mm_fills: z(),
            mm_quotes: z(),
            intents_by_state: std::array::from_fn(|_| z()),
            oms_refused: z(),
            oms_refused_halted: z(),
            order_requests: z(),
            report_ring_full: z(),
            frame_to_book: LatencyHist::default(),
            book_to_intent: LatencyHist::default(),
            intent_to_request: LatencyHist::default(),
            tick_to_order: LatencyHist::default(),
        }
    }
}

impl EngineStats {
    /// The in-process histogram behind control-segment histogram `h`.
    pub fn hist(&self, h: Hist) -> &LatencyHist {
        match h {
            Hist::FrameToBook => &self.frame_to_book,
            Hist::BookToIntent => &self.book_to_intent,
            Hist::IntentToRequest => &self.intent_to_request,
            Hist::TickToOrder => &self.tick_to_order,
        }
    }

    /// Copies every latency histogram into the control segment (for `lyra status` and the
    /// gate's `/metrics`). Called by the supervising thread each publish period, never by a hot
    /// one: the hot stages only ever touch their in-process [`LatencyHist`]s.
    ///
    /// # Errors
    /// [`ControlError::Busy`] when a histogram's seqlock stayed taken (another writer died
    /// inside it); the other histograms are still published.
    pub fn publish_histograms(&self, seg: &ControlSegment) -> Result<(), ControlError> {
        let mut result = Ok(());
        for h in Hist::ALL {
            let snap = self.hist(h).snapshot();
            if let Err(e) = seg.publish_histogram(h, &snap.counts, snap.sum_ns) {
                result = Err(e);
            }
        }
        result
    }

    /// Moves one intent from state `from` (None = newly counted) to `to`.
    #[inline]
    pub fn move_state(&self, from: Option<OrderState>, to: OrderState) {
        if let Some(f) = from {
            if let Some(k) = STATES.iter().position(|s| *s == f) {
                self.intents_by_state[k].fetch_sub(1, Relaxed);
            }
        }
        if let Some(k) = STATES.iter().position(|s| *s == to) {
            self.intents_by_state[k].fetch_add(1, Relaxed);
        }
    }

    /// Intents by state as `(name, count)`, states with a zero count left out.
    pub fn states(&self) -> Vec<(&'static str, u64)> {
        STATES
            .iter()
            .zip(&self.intents_by_state)
            .map(|(s, c)| (state_name(*s), c.load(Relaxed)))
            .filter(|(_, c)| *c > 0)
            .collect()
    }
}

/// Lower-case name of an order state.
pub fn state_name(s: OrderState) -> &'static str {
    match s {
        OrderState::New => "new",
        OrderState::Sent => "sent",
        OrderState::Acked => "acked",
        OrderState::SentUnknown => "sent_unknown",
        OrderState::Partial => "partial",
        OrderState::Filled => "filled",
        OrderState::Canceled => "canceled",
        OrderState::Rejected => "rejected",
        OrderState::Expired => "expired",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_bound_the_samples() {
        let h = LatencyHist::default();
        assert_eq!(h.quantile(0.5), None);
        for ns in [1_000, 1_100, 1_200, 50_000] {
            h.record(ns);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((1_100..=1_448).contains(&p50), "{p50}");
        assert_eq!(h.quantile(1.0), Some(50_000));
        let s = h.snapshot();
        assert_eq!((s.count, s.sum_ns), (4, 53_300));
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn histograms_reach_the_control_segment() {
        let path = std::env::temp_dir().join(format!(
            "lyra-stats-hist-{}-{}",
            std::process::id(),
            lyra_shm::clock::mono_now_ns()
        ));
        let opts = lyra_shm::control::CreateOpts {
            mlock: false,
            ..Default::default()
        };
        let seg = ControlSegment::create(&path, &opts).unwrap();
        let s = EngineStats::default();
        for ns in [800, 900, 5_000] {
            s.tick_to_order.record(ns);
        }
        s.frame_to_book.record(70);
        s.publish_histograms(&seg).unwrap();
        let t = seg.histogram(Hist::TickToOrder);
        assert_eq!((t.count, t.sum_ns), (3, 6_700));
        assert_eq!(t, s.tick_to_order.snapshot());
        assert_eq!(t.quantile(0.5), Some(1_024));
        assert_eq!(seg.histogram(Hist::FrameToBook).counts[1], 1);
        assert_eq!(seg.histogram(Hist::BookToIntent).count, 0);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn states_move() {
        let s = EngineStats::default();
        s.move_state(None, OrderState::New);
        s.move_state(Some(OrderState::New), OrderState::Filled);
        assert_eq!(s.states(), vec![("filled", 1)]);
    }
}
