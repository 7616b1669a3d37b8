//! A venue's trading rules for one instrument (tick, step, min/max quantity, min notional) and its
//! fees, with quantization in integer mantissa math.
//!
//! Quantities are rounded down (never trade more than decided or held); prices are rounded away
//! from the touch (a buy down, a sell up), so rounding can only make an order less aggressive.

use lyra_shm::msg::{InstrumentIdx, Px, Qty, Side, VenueId};
use serde::Deserialize;

use super::fees::Fees;

/// The filters and fees of one (venue, instrument), in mantissas at the instrument's scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketSpec {
    /// Venue index.
    pub venue: u8,
    /// Canonical instrument index.
    pub instrument: u16,
    /// Price tick (mantissa, > 0).
    pub tick: i64,
    /// Quantity step (mantissa, > 0).
    pub step: i64,
    /// Smallest order quantity (mantissa).
    #[serde(default)]
    pub min_qty: i64,
    /// Largest order quantity (mantissa; 0 = no limit).
    #[serde(default)]
    pub max_qty: i64,
    /// Smallest `px x qty` as a raw mantissa product (quote at price + quantity scale).
    #[serde(default)]
    pub min_notional_raw: i64,
    /// Maker fee, ppm (1 bps = 100; negative = rebate).
    pub maker_fee_ppm: i64,
    /// Taker fee, ppm.
    pub taker_fee_ppm: i64,
}

impl MarketSpec {
    /// The venue as a [`VenueId`].
    pub fn venue_id(&self) -> VenueId {
        VenueId(self.venue)
    }

    /// The instrument as an [`InstrumentIdx`].
    pub fn instrument_idx(&self) -> InstrumentIdx {
        InstrumentIdx(self.instrument)
    }

    /// The fee rates.
    pub fn fees(&self) -> Fees {
        Fees {
            maker_ppm: self.maker_fee_ppm,
            taker_ppm: self.taker_fee_ppm,
        }
    }

    /// The largest order quantity (`i64::MAX` when unlimited).
    pub fn max_qty_or_inf(&self) -> i64 {
        if self.max_qty > 0 {
            self.max_qty
        } else {
            i64::MAX
        }
    }

    /// `qty` rounded down to the step and capped at the max quantity (then rounded down again).
    pub fn floor_qty(&self, qty: Qty) -> Qty {
        Qty(floor_to(qty.0.min(self.max_qty_or_inf()), self.step.max(1)))
    }

    /// `px` rounded to the tick away from the touch: down for a buy, up for a sell.
    pub fn passive_px(&self, side: Side, px: Px) -> Px {
        let t = self.tick.max(1);
        Px(match side {
            Side::Buy => floor_to(px.0, t),
            Side::Sell => ceil_to(px.0, t),
        })
    }

    /// Whether an order of `qty` at `px` passes every filter (on-grid, min/max qty, min notional).
    pub fn accepts(&self, px: Px, qty: Qty) -> bool {
        px.0 > 0
            && qty.0 > 0
            && px.0 % self.tick.max(1) == 0
            && qty.0 % self.step.max(1) == 0
            && qty.0 >= self.min_qty
            && qty.0 <= self.max_qty_or_inf()
            && px.0 as i128 * qty.0 as i128 >= self.min_notional_raw as i128
    }

    /// Field checks for config validation: `Err((field, reason))` for the first bad field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.tick <= 0 {
            return Err(("tick", format!("{} must be > 0", self.tick)));
        }
        if self.step <= 0 {
            return Err(("step", format!("{} must be > 0", self.step)));
        }
        if self.min_qty < 0 {
            return Err(("min_qty", format!("{} must be >= 0", self.min_qty)));
        }
        if self.max_qty < 0 || (self.max_qty > 0 && self.max_qty < self.min_qty) {
            return Err((
                "max_qty",
                format!("{} must be 0 (none) or >= min_qty", self.max_qty),
            ));
        }
        if self.min_notional_raw < 0 {
            return Err(("min_notional_raw", "must be >= 0".into()));
        }
        // 10% either way is far beyond any real schedule: a bigger number is a unit mistake.
        if !(-100_000..=100_000).contains(&self.maker_fee_ppm) {
            return Err((
                "maker_fee_ppm",
                format!("{} is beyond +/-10%", self.maker_fee_ppm),
            ));
        }
        if !(0..=100_000).contains(&self.taker_fee_ppm) {
            return Err((
                "taker_fee_ppm",
                format!("{} is outside 0..10%", self.taker_fee_ppm),
            ));
        }
        Ok(())
    }
}

/// `v` rounded down to a multiple of `m` (> 0), toward negative infinity.
pub fn floor_to(v: i64, m: i64) -> i64 {
    v.div_euclid(m) * m
}

/// `v` rounded up to a multiple of `m` (> 0).
pub fn ceil_to(v: i64, m: i64) -> i64 {
    let f = floor_to(v, m);
    if f == v {
        v
    } else {
        f.saturating_add(m)
    }
}

/// Least common multiple of two positive steps (the grid both venues accept); saturates.
pub fn lcm(a: i64, b: i64) -> i64 {
    let (mut x, mut y) = (a.max(1), b.max(1));
    while y != 0 {
        (x, y) = (y, x % y);
    }
    (a.max(1) / x).saturating_mul(b.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MarketSpec {
        MarketSpec {
            venue: 0,
            instrument: 0,
            tick: 5,
            step: 10,
            min_qty: 20,
            max_qty: 1_000,
            min_notional_raw: 10_000,
            maker_fee_ppm: 0,
            taker_fee_ppm: 1_000,
        }
    }

    #[test]
    fn quantize() {
        let s = spec();
        assert_eq!(s.floor_qty(Qty(129)), Qty(120));
        assert_eq!(s.floor_qty(Qty(5_000)), Qty(1_000));
        assert_eq!(s.passive_px(Side::Buy, Px(103)), Px(100));
        assert_eq!(s.passive_px(Side::Sell, Px(103)), Px(105));
        assert_eq!(s.passive_px(Side::Sell, Px(105)), Px(105));
        assert!(s.accepts(Px(500), Qty(20)));
        assert!(!s.accepts(Px(495), Qty(20)), "below min notional");
        assert!(!s.accepts(Px(501), Qty(20)), "off tick");
        assert!(!s.accepts(Px(500), Qty(10)), "below min qty");
        assert_eq!(lcm(10, 4), 20);
        assert_eq!(floor_to(-3, 5), -5);
    }
}
