//! Symbol filters (PROTOCOLS a.6): quantize price and quantity to tickSize / stepSize and check
//! min/max price, quantity and notional locally, in decimal (rust_decimal), before any send.

use rust_decimal::Decimal;
use thiserror::Error;

/// The filters of one symbol that a LIMIT / LIMIT_MAKER / MARKET order must pass. A zero
/// disables that check, as on Binance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filters {
    /// PRICE_FILTER minPrice.
    pub min_price: Decimal,
    /// PRICE_FILTER maxPrice.
    pub max_price: Decimal,
    /// PRICE_FILTER tickSize.
    pub tick_size: Decimal,
    /// LOT_SIZE minQty.
    pub min_qty: Decimal,
    /// LOT_SIZE maxQty.
    pub max_qty: Decimal,
    /// LOT_SIZE stepSize.
    pub step_size: Decimal,
    /// NOTIONAL / MIN_NOTIONAL minNotional.
    pub min_notional: Decimal,
    /// NOTIONAL maxNotional.
    pub max_notional: Decimal,
}

/// Which filter an order fails locally (the order is never sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FilterError {
    /// Price outside [minPrice, maxPrice] after quantizing.
    #[error("PRICE_FILTER: price outside [minPrice, maxPrice]")]
    Price,
    /// Quantity outside [minQty, maxQty] after quantizing (or zero).
    #[error("LOT_SIZE: quantity outside [minQty, maxQty]")]
    LotSize,
    /// Notional below minNotional.
    #[error("NOTIONAL: below minNotional")]
    MinNotional,
    /// Notional above maxNotional.
    #[error("NOTIONAL: above maxNotional")]
    MaxNotional,
    /// A value does not fit the instrument's mantissa scale.
    #[error("value does not fit the instrument scale")]
    Scale,
}

/// Rounds `v` down (`up = false`) or up to a multiple of `step` (a zero step leaves it).
pub fn quantize(v: Decimal, step: Decimal, up: bool) -> Decimal {
    if step.is_zero() {
        return v;
    }
    let n = v / step;
    let n = if up { n.ceil() } else { n.floor() };
    (n * step).normalize()
}

impl Filters {
    /// Quantizes a limit order (buys round the price down, sells up: never more aggressive than
    /// asked; quantity always rounds down) and checks every filter. `px` is ignored (and no price
    /// checks run) for market orders, whose notional uses `ref_px`.
    ///
    /// # Errors
    /// The first [`FilterError`].
    pub fn apply(
        &self,
        px: Decimal,
        qty: Decimal,
        is_buy: bool,
        market: bool,
    ) -> Result<(Decimal, Decimal), FilterError> {
        let q = quantize(qty, self.step_size, false);
        if q <= Decimal::ZERO
            || (!self.min_qty.is_zero() && q < self.min_qty)
            || (!self.max_qty.is_zero() && q > self.max_qty)
        {
            return Err(FilterError::LotSize);
        }
        let p = if market {
            px
        } else {
            let p = quantize(px, self.tick_size, !is_buy);
            if p <= Decimal::ZERO
                || (!self.min_price.is_zero() && p < self.min_price)
                || (!self.max_price.is_zero() && p > self.max_price)
            {
                return Err(FilterError::Price);
            }
            p
        };
        let notional = p * q;
        if !self.min_notional.is_zero() && notional < self.min_notional {
            return Err(FilterError::MinNotional);
        }
        if !self.max_notional.is_zero() && notional > self.max_notional {
            return Err(FilterError::MaxNotional);
        }
        Ok((p, q))
    }
}

/// A mantissa at `scale` as a Decimal.
pub fn to_decimal(mantissa: i64, scale: u8) -> Decimal {
    Decimal::new(mantissa, scale as u32)
}

/// A Decimal as a mantissa at `scale`, if it has no digits below it and fits.
pub fn to_mantissa(d: Decimal, scale: u8) -> Option<i64> {
    let mut r = d;
    r.rescale(scale as u32);
    (r == d).then(|| i64::try_from(r.mantissa()).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// PROTOCOLS a.6, NKNUSDT of 2021-10-12: tick 0.0001, step 1, minQty 1, minNotional 10.
    fn nkn() -> Filters {
        Filters {
            tick_size: d("0.0001"),
            step_size: d("1"),
            min_qty: d("1"),
            min_notional: d("10"),
            ..Default::default()
        }
    }

    #[test]
    fn the_documented_nknusdt_cases() {
        let f = nkn();
        assert_eq!(
            f.apply(d("0.3521"), d("100"), true, false),
            Ok((d("0.3521"), d("100")))
        );
        // 0.35215 is off-tick: a buy rounds down, a sell up (never more aggressive).
        assert_eq!(
            f.apply(d("0.35215"), d("100"), true, false).unwrap().0,
            d("0.3521")
        );
        assert_eq!(
            f.apply(d("0.35215"), d("100"), false, false).unwrap().0,
            d("0.3522")
        );
        // 100.5 rounds down to the step.
        assert_eq!(
            f.apply(d("0.3521"), d("100.5"), true, false).unwrap().1,
            d("100")
        );
        assert_eq!(
            f.apply(d("0.3521"), d("20"), true, false),
            Err(FilterError::MinNotional)
        );
        assert_eq!(
            f.apply(d("0.3521"), d("0.5"), true, false),
            Err(FilterError::LotSize)
        );
    }

    #[test]
    fn max_checks_and_mantissas() {
        let f = Filters {
            tick_size: d("0.01"),
            step_size: d("0.00001"),
            max_qty: d("9000"),
            max_price: d("1000000"),
            max_notional: d("9000000"),
            ..Default::default()
        };
        assert_eq!(
            f.apply(d("60000"), d("9001"), true, false),
            Err(FilterError::LotSize)
        );
        assert_eq!(
            f.apply(d("2000000"), d("1"), true, false),
            Err(FilterError::Price)
        );
        assert_eq!(
            f.apply(d("60000"), d("200"), true, false),
            Err(FilterError::MaxNotional)
        );
        assert_eq!(to_mantissa(d("60000.01"), 2), Some(6_000_001));
        assert_eq!(to_mantissa(d("60000.011"), 2), None);
        assert_eq!(to_decimal(6_000_001, 2), d("60000.01"));
    }
}
