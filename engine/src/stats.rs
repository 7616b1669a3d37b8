//! Live pipeline statistics: counters, gauges and fixed-bucket latency histograms that the hot
//! stages update with relaxed atomic adds (no locks, no allocation) and that `lyra demo` and
//! tests read while the engine runs. One [`EngineStats`] per engine, shared through an `Arc`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use lyra_shm::msg::{OrderState, MAX_VENUES};

/// Buckets of a [`LatencyHist`]: bucket `k` holds samples in `[2^k, 2^(k+1))` ns (bucket 0 also
/// holds 0); the last bucket holds everything from 2^39 ns (~9 min) up.
pub const HIST_BUCKETS: usize = 40;

/// A fixed-bucket, power-of-two latency histogram (ns).
#[derive(Debug)]
pub struct LatencyHist {
    buckets: [AtomicU64; HIST_BUCKETS],
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl LatencyHist {
    /// Adds one sample.
    #[inline]
    pub fn record(&self, ns: u64) {
        let k = (63 - ns.max(1).leading_zeros() as usize).min(HIST_BUCKETS - 1);
        self.buckets[k].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max.fetch_max(ns, Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Largest sample.
    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// The quantile `q` (0..=1) as the upper edge of its bucket (an over-estimate by < 2x),
    /// capped by the largest sample; `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let want = ((n as f64 * q).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (k, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= want {
                let edge = if k + 1 >= 64 {
                    u64::MAX
                } else {
                    (1u64 << (k + 1)) - 1
                };
                return Some(edge.min(self.max()));
            }
        }
        Some(self.max())
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
        assert!((1_100..2_048).contains(&p50), "{p50}");
        assert_eq!(h.quantile(1.0), Some(50_000));
    }

    #[test]
    fn states_move() {
        let s = EngineStats::default();
        s.move_state(None, OrderState::New);
        s.move_state(Some(OrderState::New), OrderState::Filled);
        assert_eq!(s.states(), vec![("filled", 1)]);
    }
}
