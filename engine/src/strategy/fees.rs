//! Fee and edge arithmetic in integers: rates in parts per million, money as `px x qty` mantissa
//! products scaled by [`RATE_SCALE`], so a fee-inclusive comparison never rounds.
//!
//! Within one canonical instrument every venue shares the price and quantity scales (DESIGN §5),
//! so `px.0 * qty.0` is quote money at `px_scale + qty_scale` decimals on every venue ("raw
//! notional"). Multiplying by `RATE_SCALE +/- fee_ppm` keeps fees exact; every quantity here is
//! raw notional x `RATE_SCALE` unless its name says otherwise.

use lyra_shm::msg::{Px, Qty};

/// Rates are parts per million: 1 bps = 100 ppm.
pub const RATE_SCALE: i128 = 1_000_000;

/// ppm in one basis point.
pub const PPM_PER_BPS: i64 = 100;

/// Maker and taker fee rates of one venue-instrument, ppm (a negative maker fee is a rebate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fees {
    /// Fee on resting (post-only) fills, ppm.
    pub maker_ppm: i64,
    /// Fee on aggressive (IOC) fills, ppm.
    pub taker_ppm: i64,
}

/// Buying `qty` at `px` with fee `fee_ppm`: what it costs, raw notional x [`RATE_SCALE`].
#[inline]
pub fn buy_cost(px: Px, qty: Qty, fee_ppm: i64) -> i128 {
    px.0 as i128 * qty.0 as i128 * (RATE_SCALE + fee_ppm as i128)
}

/// Selling `qty` at `px` with fee `fee_ppm`: what it brings in, raw notional x [`RATE_SCALE`].
#[inline]
pub fn sell_proceeds(px: Px, qty: Qty, fee_ppm: i64) -> i128 {
    px.0 as i128 * qty.0 as i128 * (RATE_SCALE - fee_ppm as i128)
}

/// The fee on a fill of `qty` at `px`, raw notional x [`RATE_SCALE`].
#[inline]
pub fn fee_on(px: Px, qty: Qty, fee_ppm: i64) -> i128 {
    px.0 as i128 * qty.0 as i128 * fee_ppm as i128
}

/// Whether one unit bought at `buy_px` (taker fee `buy_fee_ppm`) and sold at `sell_px` (taker fee
/// `sell_fee_ppm`) earns strictly more than `threshold_ppm` of its cost after both fees.
///
/// Strict: an edge exactly at the threshold is not taken (it would pay the risk for nothing).
#[inline]
pub fn unit_clears(
    buy_px: Px,
    sell_px: Px,
    buy_fee_ppm: i64,
    sell_fee_ppm: i64,
    threshold_ppm: i64,
) -> bool {
    let cost = buy_px.0 as i128 * (RATE_SCALE + buy_fee_ppm as i128);
    let net = sell_px.0 as i128 * (RATE_SCALE - sell_fee_ppm as i128) - cost;
    net * RATE_SCALE > threshold_ppm as i128 * cost
}

/// A fee-inclusive edge: what a buy-here-sell-there pair earns after both taker fees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edge {
    /// The quantity both legs trade.
    pub qty: Qty,
    /// Buy cost including the buy venue's fee, raw notional x [`RATE_SCALE`].
    pub cost: i128,
    /// Sell proceeds net of the sell venue's fee, raw notional x [`RATE_SCALE`].
    pub proceeds: i128,
}

impl Edge {
    /// Proceeds minus cost, raw notional x [`RATE_SCALE`].
    pub fn net(&self) -> i128 {
        self.proceeds - self.cost
    }

    /// Whether the edge is strictly positive after fees.
    pub fn is_positive(&self) -> bool {
        self.net() > 0
    }

    /// The net edge in hundredths of a basis point of the cost (ppm), rounded toward zero.
    pub fn ppm(&self) -> i64 {
        if self.cost <= 0 {
            return 0;
        }
        (self.net() * RATE_SCALE / self.cost) as i64
    }

    /// The net edge as quote money at `notional_scale` decimals (risk's `NOTIONAL_SCALE`), for an
    /// instrument whose mantissas have `px_scale` and `qty_scale` decimals. Rounded toward zero;
    /// saturates at the i64 range.
    pub fn to_notional(&self, px_scale: u8, qty_scale: u8, notional_scale: u8) -> i64 {
        raw_to_notional(self.net(), px_scale, qty_scale, notional_scale)
    }
}

/// Converts raw notional x [`RATE_SCALE`] to quote money at `notional_scale` decimals (toward
/// zero, saturating).
pub fn raw_to_notional(v: i128, px_scale: u8, qty_scale: u8, notional_scale: u8) -> i64 {
    // v / RATE_SCALE is quote at (px_scale + qty_scale) decimals.
    let shift = notional_scale as i32 - (px_scale as i32 + qty_scale as i32);
    let x = if shift >= 0 {
        v.saturating_mul(10i128.pow(shift as u32)) / RATE_SCALE
    } else {
        v / RATE_SCALE / 10i128.pow((-shift) as u32)
    };
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_strict() {
        // 10 bps fees each side, threshold 0: 100.00 -> 100.20 costs 100.10, brings 100.0998.
        assert!(!unit_clears(Px(10_000), Px(10_020), 1_000, 1_000, 0));
        // Exactly zero net: buy 1000 with fee 0, sell 1000 with fee 0, threshold 0.
        assert!(!unit_clears(Px(1_000), Px(1_000), 0, 0, 0));
        assert!(unit_clears(Px(1_000), Px(1_001), 0, 0, 0));
        // 10 bps threshold, no fees: 1000 -> 1001 is exactly 10 bps: not taken; 1002 is.
        assert!(!unit_clears(Px(10_000), Px(10_010), 0, 0, 1_000));
        assert!(unit_clears(Px(10_000), Px(10_011), 0, 0, 1_000));
    }

    #[test]
    fn edge_conversions() {
        let e = Edge {
            qty: Qty(1),
            cost: buy_cost(Px(10_000), Qty(100), 0),
            proceeds: sell_proceeds(Px(10_010), Qty(100), 0),
        };
        assert_eq!(e.ppm(), 1_000);
        // px scale 2, qty scale 2: net = 10 * 100 raw = 1000 at 4 decimals = 0.1 quote.
        assert_eq!(e.to_notional(2, 2, 8), 10_000_000);
    }
}
