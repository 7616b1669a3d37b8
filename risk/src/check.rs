//! The pre-trade check: every rule of DESIGN §7 in a fixed order, each refusal a [`Refusal`].

use lyra_shm::{
    control::{ControlSegment, Grant, GrantMode},
    msg::{InstrumentIdx, IntentAction, OrdType, OrderIntent, Px, Side, VenueId, MAX_VENUES},
};

use crate::{
    approved::RiskApproved,
    limits::{notional, RiskLimits},
    reason::Refusal,
    state::RiskState,
};

/// The state of one book a decision used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookCheck {
    /// Whether the book is the venue's book.
    pub valid: bool,
    /// Monotonic ns of its last update.
    pub updated_ns: u64,
}

/// Everything outside risk's own state that a check needs, read fresh by the caller.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// Monotonic now.
    pub now_mono_ns: u64,
    /// Wall now (grant expiry is wall time).
    pub now_wall_ns: u64,
    /// The global halt bit, from one Acquire load right before the check.
    pub halted: bool,
    /// The venue halt mask, read with it.
    pub venue_halt_mask: u64,
    /// The grant covering (strategy, venue, instrument), if any.
    pub grant: Option<&'a Grant>,
    /// Whether the order would go to the live endpoint (false: SAFE/test endpoint).
    pub live: bool,
    /// The reference mid for the price collar.
    pub ref_mid: Option<Px>,
    /// The books the decision used (one for a quote, two for an arbitrage).
    pub books: &'a [BookCheck],
    /// For arbitrage legs: the edge after fees at send time (quote, NOTIONAL_SCALE); `None` when
    /// the strategy has no edge notion (market making).
    pub edge_after_fees: Option<i64>,
}

/// Risk: limits plus state; `check` approves (and books) or refuses.
#[derive(Debug, Clone)]
pub struct RiskEngine {
    limits: RiskLimits,
    state: RiskState,
}

impl RiskEngine {
    /// A risk engine with empty state.
    pub fn new(limits: RiskLimits) -> Self {
        let state = RiskState::new(&limits);
        Self { limits, state }
    }

    /// The limits.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// The state (positions, working orders, PnL).
    pub fn state(&self) -> &RiskState {
        &self.state
    }

    /// Mutable state, for execution reports and day rolls.
    pub fn state_mut(&mut self) -> &mut RiskState {
        &mut self.state
    }

    /// Checks `intent`; on success books it as working and returns the approval.
    ///
    /// # Errors
    /// The first [`Refusal`] that applies.
    pub fn check(
        &mut self,
        intent: OrderIntent,
        input: &CheckInput<'_>,
    ) -> Result<RiskApproved<OrderIntent>, Refusal> {
        let grant_id = evaluate(&intent, input, &self.limits, &self.state)?;
        if intent.action == IntentAction::New {
            self.state
                .commit(&intent, grant_id, &self.limits, input.now_mono_ns);
        }
        Ok(RiskApproved::new(intent, grant_id, input.live))
    }
}

/// The pure check: `Ok(grant id)` if every rule passes.
///
/// # Errors
/// The first [`Refusal`] that applies, in this order: malformed, halt, venue halt, instrument,
/// grant (scope, mode, budgets), books, collar, order size, position, open orders, rate, daily loss,
/// cooldown, edge.
pub fn evaluate(
    it: &OrderIntent,
    inp: &CheckInput<'_>,
    lim: &RiskLimits,
    st: &RiskState,
) -> Result<u64, Refusal> {
    if it.venue.0 as usize >= MAX_VENUES {
        return Err(Refusal::Malformed);
    }
    // Cancels reduce risk: they pass even while halted (the kill path depends on them).
    if it.action == IntentAction::Cancel {
        return Ok(inp.grant.map_or(0, |g| g.grant_id));
    }
    if it.qty.0 <= 0 || (it.ord_type != OrdType::Market && it.px.0 <= 0) {
        return Err(Refusal::Malformed);
    }
    if inp.halted {
        return Err(Refusal::Halted);
    }
    if inp.venue_halt_mask & (1u64 << it.venue.0) != 0 {
        return Err(Refusal::VenueHalted);
    }
    let il = lim
        .instrument(it.instrument)
        .ok_or(Refusal::InstrumentNotConfigured)?;
    let grant = inp
        .grant
        .filter(|g| {
            g.is_live(inp.now_wall_ns) && g.covers(it.strategy as u16, it.venue, it.instrument)
        })
        .ok_or(Refusal::NoGrant)?;
    if inp.live && grant.mode != GrantMode::Live {
        return Err(Refusal::GrantMode);
    }
    let max_age_ns = il.max_book_age_ms * 1_000_000;
    if inp.books.is_empty() {
        return Err(Refusal::BookInvalid);
    }
    for b in inp.books {
        if !b.valid {
            return Err(Refusal::BookInvalid);
        }
        if inp.now_mono_ns.saturating_sub(b.updated_ns) > max_age_ns {
            return Err(Refusal::BookStale);
        }
    }
    let mid = inp
        .ref_mid
        .filter(|m| m.0 > 0)
        .ok_or(Refusal::NoReference)?;
    // Market orders have no limit price; their collar is the books' freshness and the edge check.
    if it.ord_type != OrdType::Market {
        let dist = (it.px.0 as i128 - mid.0 as i128).abs() * 10_000;
        if dist > il.collar_bps as i128 * mid.0 as i128 {
            return Err(Refusal::PriceCollar);
        }
    }
    if it.qty > il.max_order_qty {
        return Err(Refusal::MaxOrderQty);
    }
    let px = if it.ord_type == OrdType::Market {
        mid
    } else {
        it.px
    };
    let n = notional(px, it.qty, il);
    if n > il.max_order_notional as i128 {
        return Err(Refusal::MaxOrderNotional);
    }
    if n > grant.max_order_notional as i128 {
        return Err(Refusal::GrantOrderNotional);
    }
    let used = st.grant_use(grant.grant_id);
    if used.committed + n > grant.max_exposure as i128 {
        return Err(Refusal::GrantExposure);
    }
    if used.orders >= grant.max_orders {
        return Err(Refusal::GrantOrderCount);
    }
    let s = st.instrument(it.instrument);
    // Worst case: every working order on the growing side fills, then this one.
    let worst = match it.side {
        Side::Buy => s.position as i128 + s.working_buy as i128 + it.qty.0 as i128,
        Side::Sell => s.position as i128 - s.working_sell as i128 - it.qty.0 as i128,
    };
    if worst.abs() > il.max_position.0 as i128 && worst.abs() > (s.position as i128).abs() {
        return Err(Refusal::PositionLimit);
    }
    if st.open_orders() >= lim.max_open_orders {
        return Err(Refusal::MaxOpenOrders);
    }
    if st.tokens_at(inp.now_mono_ns, lim.max_orders_per_s) < 1000 {
        return Err(Refusal::MessageRate);
    }
    if st.daily_pnl <= -(lim.daily_loss_stop as i128) {
        return Err(Refusal::DailyLossStop);
    }
    if inp.now_mono_ns < st.cooldown_until_ns {
        return Err(Refusal::LossCooldown);
    }
    if let Some(edge) = inp.edge_after_fees {
        if edge <= 0 {
            return Err(Refusal::NoEdge);
        }
    }
    Ok(grant.grant_id)
}

/// The first live grant in `seg` covering (strategy, venue, instrument) at `now_wall_ns`.
pub fn find_grant(
    seg: &ControlSegment,
    strategy: u16,
    venue: VenueId,
    instrument: InstrumentIdx,
    now_wall_ns: u64,
) -> Option<Grant> {
    seg.grants()
        .map(|(_, g)| g)
        .find(|g| g.is_live(now_wall_ns) && g.covers(strategy, venue, instrument))
}
