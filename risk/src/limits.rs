//! Risk limits, set from configuration at start. Money is in quote units as i64 mantissas at
//! [`NOTIONAL_SCALE`]; quantities at each instrument's quantity scale.

use lyra_shm::msg::{InstrumentIdx, Px, Qty};

/// Decimals of every notional/PnL mantissa (1e-8 quote units).
pub const NOTIONAL_SCALE: u8 = 8;

/// Limits for one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentLimits {
    /// Decimals of this instrument's price mantissas.
    pub px_scale: u8,
    /// Decimals of this instrument's quantity mantissas.
    pub qty_scale: u8,
    /// Largest quantity of one order.
    pub max_order_qty: Qty,
    /// Largest notional of one order (quote, [`NOTIONAL_SCALE`]).
    pub max_order_notional: i64,
    /// Largest absolute net position across venues, counting working orders on the side that
    /// grows it (SENT_UNKNOWN included).
    pub max_position: Qty,
    /// Largest distance of the limit price from the reference mid, in basis points.
    pub collar_bps: u32,
    /// Oldest book a decision may use, ms.
    pub max_book_age_ms: u64,
}

/// All limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskLimits {
    /// Per instrument, indexed by `InstrumentIdx`; `None` = not configured (never trades).
    pub instruments: Vec<Option<InstrumentLimits>>,
    /// Most orders working at once (all venues).
    pub max_open_orders: u32,
    /// Most new orders per second (token bucket, burst = this).
    pub max_orders_per_s: u32,
    /// Stop trading when today's realized PnL net of fees falls to -this (quote, NOTIONAL_SCALE).
    pub daily_loss_stop: i64,
    /// Consecutive losing orders that start a cooldown (0 = never).
    pub cooldown_after_losses: u32,
    /// Cooldown length, ms.
    pub cooldown_ms: u64,
}

impl RiskLimits {
    /// The limits of `i`, if configured.
    pub fn instrument(&self, i: InstrumentIdx) -> Option<&InstrumentLimits> {
        self.instruments.get(i.0 as usize).and_then(Option::as_ref)
    }
}

/// px * qty in quote units at [`NOTIONAL_SCALE`], rounded away from zero (limits err on the safe
/// side). i128 inside: no overflow for any i64 inputs at scales <= 18.
pub fn notional(px: Px, qty: Qty, lim: &InstrumentLimits) -> i128 {
    let raw = px.0 as i128 * qty.0 as i128;
    let shift = lim.px_scale as i32 + lim.qty_scale as i32 - NOTIONAL_SCALE as i32;
    if shift <= 0 {
        raw * 10i128.pow((-shift) as u32)
    } else {
        let d = 10i128.pow(shift as u32);
        let q = raw / d;
        if raw % d != 0 {
            q + raw.signum()
        } else {
            q
        }
    }
}
