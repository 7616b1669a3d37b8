//! What risk knows: positions, working orders, rates, grant budgets and PnL, updated from approvals
//! and execution reports. Fixed capacity, allocated at start.

use lyra_shm::msg::{ExecReport, InstrumentIdx, OrderIntent, Px, Qty, Side};

use crate::limits::{notional, RiskLimits};

/// One working order as risk accounts for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Working {
    pub intent_seq: u64,
    pub grant_id: u64,
    pub instrument: InstrumentIdx,
    pub side: Side,
    pub px: Px,
    pub remaining: Qty,
    /// Realized PnL of this order's fills so far (quote, NOTIONAL_SCALE).
    pub realized: i128,
    /// Whether any fill of this order reduced a position.
    pub closed: bool,
}

/// Per-instrument exposure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstrumentState {
    /// Net position (qty mantissa; + long).
    pub position: i64,
    /// Working buy quantity (includes SENT_UNKNOWN orders).
    pub working_buy: i64,
    /// Working sell quantity (includes SENT_UNKNOWN orders).
    pub working_sell: i64,
    /// Cost of the open position (quote, NOTIONAL_SCALE; same sign as position).
    pub cost: i128,
}

/// Budget used under one grant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GrantUse {
    pub grant_id: u64,
    pub committed: i128,
    pub orders: u64,
}

/// Risk's state. Capacity is fixed by the limits at construction.
#[derive(Debug, Clone)]
pub struct RiskState {
    pub(crate) instruments: Vec<InstrumentState>,
    pub(crate) working: Vec<Option<Working>>,
    pub(crate) grants: Vec<GrantUse>,
    pub(crate) tokens_milli: u64,
    pub(crate) tokens_at_ns: u64,
    /// Today's realized PnL net of fees (quote, NOTIONAL_SCALE).
    pub daily_pnl: i128,
    pub(crate) day: u64,
    /// Losing orders in a row (an order's PnL is net of fees over all its fills).
    pub consecutive_losses: u32,
    pub(crate) cooldown_until_ns: u64,
}

/// Most grants tracked at once (the control segment holds no more).
const GRANT_USES: usize = 32;
const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

impl RiskState {
    /// Empty state sized for `limits`.
    pub fn new(limits: &RiskLimits) -> Self {
        Self {
            instruments: vec![InstrumentState::default(); limits.instruments.len()],
            working: vec![None; limits.max_open_orders as usize],
            grants: vec![GrantUse::default(); GRANT_USES],
            tokens_milli: limits.max_orders_per_s as u64 * 1000,
            tokens_at_ns: 0,
            daily_pnl: 0,
            day: 0,
            consecutive_losses: 0,
            cooldown_until_ns: 0,
        }
    }

    /// Exposure of one instrument.
    pub fn instrument(&self, i: InstrumentIdx) -> InstrumentState {
        self.instruments
            .get(i.0 as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Orders working now.
    pub fn open_orders(&self) -> u32 {
        self.working.iter().filter(|w| w.is_some()).count() as u32
    }

    pub(crate) fn grant_use(&self, grant_id: u64) -> GrantUse {
        self.grants
            .iter()
            .find(|g| g.grant_id == grant_id)
            .copied()
            .unwrap_or(GrantUse {
                grant_id,
                ..Default::default()
            })
    }

    fn grant_use_mut(&mut self, grant_id: u64) -> Option<&mut GrantUse> {
        let i = self
            .grants
            .iter()
            .position(|g| g.grant_id == grant_id)
            .or_else(|| self.grants.iter().position(|g| g.grant_id == 0))?;
        self.grants[i].grant_id = grant_id;
        Some(&mut self.grants[i])
    }

    /// Tokens available at `now` (milli-orders), refilling at the configured rate.
    pub(crate) fn tokens_at(&self, now_ns: u64, per_s: u32) -> u64 {
        let cap = per_s as u64 * 1000;
        let elapsed = now_ns.saturating_sub(self.tokens_at_ns);
        let refill = (elapsed as u128 * per_s as u128 / 1_000_000) as u64; // milli-tokens
        (self.tokens_milli.saturating_add(refill)).min(cap)
    }

    /// Starts a new UTC day's PnL when the wall clock crosses midnight.
    pub fn roll_day(&mut self, now_wall_ns: u64) {
        let day = now_wall_ns / NS_PER_DAY;
        if day != self.day {
            self.day = day;
            self.daily_pnl = 0;
        }
    }

    /// Books an approved new order (called by `RiskEngine::check` on success).
    pub(crate) fn commit(
        &mut self,
        it: &OrderIntent,
        grant_id: u64,
        limits: &RiskLimits,
        now_ns: u64,
    ) {
        let per_s = limits.max_orders_per_s;
        self.tokens_milli = self.tokens_at(now_ns, per_s).saturating_sub(1000);
        self.tokens_at_ns = now_ns;
        if let Some(st) = self.instruments.get_mut(it.instrument.0 as usize) {
            match it.side {
                Side::Buy => st.working_buy += it.qty.0,
                Side::Sell => st.working_sell += it.qty.0,
            }
        }
        if let Some(slot) = self.working.iter_mut().find(|w| w.is_none()) {
            *slot = Some(Working {
                intent_seq: it.intent_seq,
                grant_id,
                instrument: it.instrument,
                side: it.side,
                px: it.px,
                remaining: it.qty,
                realized: 0,
                closed: false,
            });
        }
        if let Some(lim) = limits.instrument(it.instrument) {
            let n = notional(it.px, it.qty, lim);
            if let Some(g) = self.grant_use_mut(grant_id) {
                g.committed += n;
                g.orders += 1;
            }
        }
    }

    /// Applies an execution report: fills move the position and PnL; terminal states release what
    /// was still working. Reports for unknown intents are ignored (the OMS reconciles those).
    pub fn on_exec(&mut self, r: &ExecReport, limits: &RiskLimits, now_mono_ns: u64) {
        let Some(idx) = self
            .working
            .iter()
            .position(|w| w.is_some_and(|w| w.intent_seq == r.intent_seq))
        else {
            return;
        };
        let Some(mut w) = self.working[idx] else {
            return;
        };
        let Some(lim) = limits.instrument(w.instrument).copied() else {
            return;
        };
        let fill = r.last_qty.0.min(w.remaining.0).max(0);
        if fill > 0 {
            w.remaining.0 -= fill;
            let st = &mut self.instruments[w.instrument.0 as usize];
            match w.side {
                Side::Buy => st.working_buy -= fill,
                Side::Sell => st.working_sell -= fill,
            }
            let signed = if w.side == Side::Buy { fill } else { -fill };
            let fill_cost = notional(r.last_px, Qty(fill), &lim) * signed.signum() as i128;
            let before = st.position;
            let realized = apply_fill(st, signed, fill_cost) - r.fee as i128;
            w.closed |= before != 0 && before.signum() != signed.signum();
            self.daily_pnl += realized;
            w.realized += realized;
        }
        if r.state.is_terminal() || w.remaining.0 == 0 {
            let st = &mut self.instruments[w.instrument.0 as usize];
            match w.side {
                Side::Buy => st.working_buy -= w.remaining.0,
                Side::Sell => st.working_sell -= w.remaining.0,
            }
            // Unfilled remainder no longer uses the grant's budget.
            let unfilled = notional(w.px, w.remaining, &lim);
            if let Some(g) = self.grant_use_mut(w.grant_id) {
                g.committed -= unfilled;
            }
            self.working[idx] = None;
            // A losing order (net of fees, over all its fills) extends the losing streak; a
            // winning one ends it; an order that opened a position without closing any is neutral.
            if w.closed && w.realized < 0 {
                self.consecutive_losses += 1;
                if limits.cooldown_after_losses > 0
                    && self.consecutive_losses >= limits.cooldown_after_losses
                {
                    self.cooldown_until_ns = now_mono_ns + limits.cooldown_ms * 1_000_000;
                    self.consecutive_losses = 0;
                }
            } else if w.closed && w.realized > 0 {
                self.consecutive_losses = 0;
            }
        } else {
            self.working[idx] = Some(w);
        }
    }
}

/// Moves the position by `qty` (signed) costing `cost` (signed, same sign); returns the realized
/// PnL of the part that reduced the position (average-cost accounting).
fn apply_fill(st: &mut InstrumentState, qty: i64, cost: i128) -> i128 {
    let pos = st.position;
    if pos == 0 || pos.signum() == qty.signum() {
        st.position += qty;
        st.cost += cost;
        return 0;
    }
    let closing = qty.abs().min(pos.abs());
    // Cost basis of the closed part, proportional to the open position.
    let basis = st.cost * closing as i128 / pos.abs() as i128;
    let fill_part = cost * closing as i128 / qty.abs() as i128;
    // Closing a long: we receive |fill_part|, paid |basis|. Closing a short: the reverse.
    let realized = -(basis + fill_part);
    st.cost -= basis;
    st.position += if pos > 0 { -closing } else { closing };
    let rest = qty.abs() - closing;
    if rest > 0 {
        st.position += rest * qty.signum();
        st.cost += cost - fill_part;
    }
    realized
}
