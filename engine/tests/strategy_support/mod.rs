//! Helpers shared by the strategy tests: hand-built tops, reports and configs.
#![allow(dead_code)]

use lyra_engine::strategy::{ArbConfig, MarketSpec, MmConfig, OneLegPolicy, StrategiesConfig};
use lyra_shm::msg::{BookTop, ExecReport, InstrumentIdx, OrderState, Px, Qty, VenueId, TOP_LEVELS};

/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

/// A valid top of (venue, instrument 0) with these levels (best first), received at `recv_ts`.
pub fn top(venue: u8, seq: u64, recv_ts: u64, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> BookTop {
    let mut t = BookTop {
        recv_ts,
        exch_ts: recv_ts,
        seq,
        instrument: InstrumentIdx(0),
        venue: VenueId(venue),
        valid: 1,
        ..Default::default()
    };
    for (i, &(p, q)) in bids.iter().take(TOP_LEVELS).enumerate() {
        t.bid_px[i] = Px(p);
        t.bid_qty[i] = Qty(q);
    }
    for (i, &(p, q)) in asks.iter().take(TOP_LEVELS).enumerate() {
        t.ask_px[i] = Px(p);
        t.ask_qty[i] = Qty(q);
    }
    t
}

/// A market spec with tick 1, step 1, no limits, these taker/maker fees (ppm).
pub fn market(venue: u8, taker_ppm: i64, maker_ppm: i64) -> MarketSpec {
    MarketSpec {
        venue,
        instrument: 0,
        tick: 1,
        step: 1,
        min_qty: 1,
        max_qty: 0,
        min_notional_raw: 0,
        maker_fee_ppm: maker_ppm,
        taker_fee_ppm: taker_ppm,
    }
}

/// An arbitrage config for instrument 0.
pub fn arb_cfg(edge_bps: u32, policy: OneLegPolicy) -> ArbConfig {
    ArbConfig {
        strategy: 3,
        instruments: vec![0],
        edge_bps,
        slippage_bps: 0,
        max_book_age_ms: 500,
        leg_timeout_ms: 1_000,
        one_leg_policy: policy,
        max_group_qty: 1_000,
        max_open_groups: 8,
        max_groups_per_s: 0,
        max_fix_attempts: 3,
        ledger_capacity: 64,
    }
}

/// A market-making config for venue 0, instrument 0.
pub fn mm_cfg() -> MmConfig {
    MmConfig {
        strategy: 1,
        venue: 0,
        instrument: 0,
        qty: 5,
        half_spread_bps: 5,
        min_spread_fee_multiple: 2,
        skew_bps_at_max: 0,
        max_position: 100,
        target_position: 0,
        refresh_ticks: 2,
        quote_ttl_ms: 100,
        max_cancel_replaces_per_s: 10,
        max_book_age_ms: 500,
        fair: Default::default(),
        reference_venues: vec![],
        probe: false,
        probe_bps: 500,
    }
}

/// A strategies config with these markets, arbitrage and market makers.
pub fn cfg(
    markets: Vec<MarketSpec>,
    arb: Option<ArbConfig>,
    mm: Vec<MmConfig>,
) -> StrategiesConfig {
    StrategiesConfig {
        markets,
        arb,
        mm,
        max_working_orders: 64,
    }
}

/// A fill report.
pub fn fill(
    intent_seq: u64,
    trade_id: u64,
    px: i64,
    qty: i64,
    cum: i64,
    state: OrderState,
) -> ExecReport {
    ExecReport {
        intent_seq,
        trade_id,
        last_px: Px(px),
        last_qty: Qty(qty),
        cum_qty: Qty(cum),
        state,
        ..Default::default()
    }
}

/// A state-only report (no fill) with the cumulative quantity.
pub fn state(intent_seq: u64, cum: i64, state: OrderState) -> ExecReport {
    ExecReport {
        intent_seq,
        cum_qty: Qty(cum),
        state,
        ..Default::default()
    }
}
