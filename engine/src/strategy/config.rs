//! Strategy configuration (`[strategies]` in the engine's TOML), validated with errors that name
//! the key. Quantities and prices are mantissas at the instrument's scales; rates are basis
//! points (edges, spreads) or ppm (fees, from [`MarketSpec`]).

use serde::Deserialize;
use thiserror::Error;

use super::filters::MarketSpec;

/// A strategy configuration that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StrategyConfigError {
    /// A value is out of range or inconsistent with another.
    #[error("key `{key}`: {reason}")]
    Invalid {
        /// The dotted key, e.g. `strategies.arb.edge_bps` or `strategies.mm[1].qty`.
        key: String,
        /// Why it is wrong.
        reason: String,
    },
}

fn bad(key: impl Into<String>, reason: impl Into<String>) -> StrategyConfigError {
    StrategyConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// `[strategies]`: the venue-instrument rules, the arbitrage and the market makers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategiesConfig {
    /// Filters and fees of every (venue, instrument) a strategy trades.
    #[serde(default)]
    pub markets: Vec<MarketSpec>,
    /// Cross-venue arbitrage (absent = off).
    #[serde(default)]
    pub arb: Option<ArbConfig>,
    /// Market makers, one per (venue, instrument).
    #[serde(default)]
    pub mm: Vec<MmConfig>,
    /// Most orders the strategies keep working at once (preallocated).
    #[serde(default = "default_max_working")]
    pub max_working_orders: usize,
}

fn default_max_working() -> usize {
    256
}

/// What to do when only one leg of an arbitrage filled (or they filled unequally).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OneLegPolicy {
    /// Send the missing quantity on the other leg's venue at its current touch, IOC.
    #[default]
    Hedge,
    /// Reverse the filled excess on the venue where it filled, IOC at its current touch.
    Unwind,
}

/// `[strategies.arb]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArbConfig {
    /// The strategy index written into every intent (its place in the engine's strategy table).
    #[serde(default)]
    pub strategy: u8,
    /// Canonical instruments to arbitrage (each needs `markets` on at least two venues).
    pub instruments: Vec<u16>,
    /// Net edge every unit must beat after both taker fees, bps of its cost.
    pub edge_bps: u32,
    /// Extra buffer on top of the edge for prices moving before the legs arrive, bps.
    #[serde(default)]
    pub slippage_bps: u32,
    /// A book older than this (since our receive time) is not used, ms.
    pub max_book_age_ms: u64,
    /// A group whose legs are not both finished within this is flagged, ms.
    pub leg_timeout_ms: u64,
    /// `hedge` or `unwind`.
    #[serde(default)]
    pub one_leg_policy: OneLegPolicy,
    /// Largest quantity of one group (mantissa).
    pub max_group_qty: i64,
    /// Most groups in flight at once (preallocated).
    #[serde(default = "default_open_groups")]
    pub max_open_groups: usize,
    /// Most groups sent per second (two orders each; hedges and unwinds are not held back);
    /// 0 = no limit. Keep `2 x` this plus the market makers' rates under risk's
    /// `max_orders_per_s`: past it, every group is a pair of risk refusals, and a persisting
    /// opportunity re-fires on every top.
    #[serde(default = "default_groups_per_s")]
    pub max_groups_per_s: u32,
    /// Most corrective (hedge/unwind) orders per group.
    #[serde(default = "default_fix_attempts")]
    pub max_fix_attempts: u32,
    /// Per-group ledger records kept (totals are kept for all groups).
    #[serde(default = "default_ledger")]
    pub ledger_capacity: usize,
}

fn default_open_groups() -> usize {
    16
}
/// 10 groups (20 orders) a second: inside risk's default 50 orders/s with room for market
/// making and corrective orders.
fn default_groups_per_s() -> u32 {
    10
}
fn default_fix_attempts() -> u32 {
    3
}
fn default_ledger() -> usize {
    4_096
}

/// How a market maker finds its fair price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FairPrice {
    /// The mid of the quoted venue's book.
    #[default]
    Mid,
    /// The mean of the valid, fresh mids of the quoted venue and `reference_venues`.
    CrossMid,
}

/// `[[strategies.mm]]`: one quoted (venue, instrument).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmConfig {
    /// The strategy index written into every intent.
    #[serde(default)]
    pub strategy: u8,
    /// Venue quoted.
    pub venue: u8,
    /// Instrument quoted.
    pub instrument: u16,
    /// Quantity of each quote (mantissa).
    pub qty: i64,
    /// Half the quoted spread around the fair price, bps.
    pub half_spread_bps: u32,
    /// The full spread is at least this many maker fees (ppm-exact).
    #[serde(default = "default_fee_multiple")]
    pub min_spread_fee_multiple: u32,
    /// Both quotes shift by this much at full inventory (`max_position` from the target), bps.
    #[serde(default)]
    pub skew_bps_at_max: u32,
    /// Inventory (base on this venue minus the target) where the skew is full (mantissa, > 0).
    pub max_position: i64,
    /// Base inventory the skew steers toward (mantissa).
    #[serde(default)]
    pub target_position: i64,
    /// Re-quote when the wanted price is more than this many ticks from the live quote.
    #[serde(default = "default_refresh_ticks")]
    pub refresh_ticks: u32,
    /// Re-quote a quote older than this, ms.
    pub quote_ttl_ms: u64,
    /// Most cancel-replaces per second, and most new quotes per second on each side (pulls for a
    /// bad book are never limited).
    pub max_cancel_replaces_per_s: u32,
    /// A book older than this is stale: quotes are pulled, ms.
    pub max_book_age_ms: u64,
    /// `mid` or `cross-mid`.
    #[serde(default)]
    pub fair: FairPrice,
    /// Venues whose mids join the fair price with `cross-mid`.
    #[serde(default)]
    pub reference_venues: Vec<u8>,
    /// Quote-only probe (commissioning rung C): quotes `probe_bps` away from the fair price and
    /// always outside the touch, so they cannot fill.
    #[serde(default)]
    pub probe: bool,
    /// Distance of probe quotes from the fair price, bps.
    #[serde(default = "default_probe_bps")]
    pub probe_bps: u32,
}

fn default_fee_multiple() -> u32 {
    2
}
fn default_refresh_ticks() -> u32 {
    2
}
fn default_probe_bps() -> u32 {
    500
}

impl StrategiesConfig {
    /// The spec of (venue, instrument), if configured.
    pub fn market(&self, venue: u8, instrument: u16) -> Option<&MarketSpec> {
        self.markets
            .iter()
            .find(|m| m.venue == venue && m.instrument == instrument)
    }

    /// Checks every value and cross-reference.
    ///
    /// # Errors
    /// [`StrategyConfigError::Invalid`] naming the first bad key.
    pub fn validate(&self) -> Result<(), StrategyConfigError> {
        for (k, m) in self.markets.iter().enumerate() {
            if (m.venue as usize) >= lyra_shm::msg::MAX_VENUES {
                return Err(bad(
                    format!("strategies.markets[{k}].venue"),
                    "beyond MAX_VENUES",
                ));
            }
            m.check()
                .map_err(|(f, r)| bad(format!("strategies.markets[{k}].{f}"), r))?;
            if self.markets[..k]
                .iter()
                .any(|o| o.venue == m.venue && o.instrument == m.instrument)
            {
                return Err(bad(
                    format!("strategies.markets[{k}]"),
                    format!("venue {} instrument {} listed twice", m.venue, m.instrument),
                ));
            }
        }
        if self.max_working_orders == 0 {
            return Err(bad("strategies.max_working_orders", "must be > 0"));
        }
        if let Some(a) = &self.arb {
            a.validate()?;
            for &i in &a.instruments {
                let n = self.markets.iter().filter(|m| m.instrument == i).count();
                if n < 2 {
                    return Err(bad(
                        "strategies.arb.instruments",
                        format!("instrument {i} has markets on {n} venue(s); arbitrage needs 2"),
                    ));
                }
            }
        }
        for (k, m) in self.mm.iter().enumerate() {
            m.validate(k)?;
            if self.market(m.venue, m.instrument).is_none() {
                return Err(bad(
                    format!("strategies.mm[{k}].venue"),
                    format!(
                        "no strategies.markets entry for venue {} instrument {}",
                        m.venue, m.instrument
                    ),
                ));
            }
            if self.mm[..k]
                .iter()
                .any(|o| o.venue == m.venue && o.instrument == m.instrument)
            {
                return Err(bad(
                    format!("strategies.mm[{k}].instrument"),
                    "quoted twice on the same venue",
                ));
            }
        }
        Ok(())
    }
}

impl ArbConfig {
    /// Checks the arbitrage section alone.
    ///
    /// # Errors
    /// [`StrategyConfigError::Invalid`] naming the first bad key.
    pub fn validate(&self) -> Result<(), StrategyConfigError> {
        if self.instruments.is_empty() {
            return Err(bad("strategies.arb.instruments", "must list at least one"));
        }
        // An edge of 0 would trade for nothing after fees; 10% is a unit mistake, not a strategy.
        if self.edge_bps == 0 || self.edge_bps > 1_000 {
            return Err(bad(
                "strategies.arb.edge_bps",
                format!("{} must be in 1..=1000", self.edge_bps),
            ));
        }
        if self.slippage_bps > 1_000 {
            return Err(bad("strategies.arb.slippage_bps", "must be <= 1000"));
        }
        if self.max_book_age_ms == 0 {
            return Err(bad("strategies.arb.max_book_age_ms", "must be > 0"));
        }
        if self.leg_timeout_ms == 0 {
            return Err(bad("strategies.arb.leg_timeout_ms", "must be > 0"));
        }
        if self.max_group_qty <= 0 {
            return Err(bad("strategies.arb.max_group_qty", "must be > 0"));
        }
        if self.max_open_groups == 0 {
            return Err(bad("strategies.arb.max_open_groups", "must be > 0"));
        }
        Ok(())
    }
}

impl MmConfig {
    /// Checks one market maker (`k` is its index, for the key).
    ///
    /// # Errors
    /// [`StrategyConfigError::Invalid`] naming the first bad key.
    pub fn validate(&self, k: usize) -> Result<(), StrategyConfigError> {
        let key = |f: &str| format!("strategies.mm[{k}].{f}");
        if self.qty <= 0 {
            return Err(bad(key("qty"), "must be > 0"));
        }
        if self.half_spread_bps == 0 || self.half_spread_bps > 5_000 {
            return Err(bad(key("half_spread_bps"), "must be in 1..=5000"));
        }
        if self.max_position <= 0 {
            return Err(bad(key("max_position"), "must be > 0"));
        }
        if self.skew_bps_at_max > 5_000 {
            return Err(bad(key("skew_bps_at_max"), "must be <= 5000"));
        }
        if self.quote_ttl_ms == 0 {
            return Err(bad(key("quote_ttl_ms"), "must be > 0"));
        }
        if self.max_cancel_replaces_per_s == 0 {
            return Err(bad(key("max_cancel_replaces_per_s"), "must be > 0"));
        }
        if self.max_book_age_ms == 0 {
            return Err(bad(key("max_book_age_ms"), "must be > 0"));
        }
        if self.probe && (self.probe_bps < 10 || self.probe_bps > 9_000) {
            return Err(bad(key("probe_bps"), "must be in 10..=9000 in probe mode"));
        }
        if self.fair == FairPrice::CrossMid && self.reference_venues.is_empty() {
            return Err(bad(
                key("reference_venues"),
                "cross-mid needs at least one venue",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key() {
        let text = r#"
            [[markets]]
            venue = 0
            instrument = 0
            tick = 1
            step = 1
            maker_fee_ppm = 1000
            taker_fee_ppm = 1000
            [[markets]]
            venue = 1
            instrument = 0
            tick = 1
            step = 1
            maker_fee_ppm = 1000
            taker_fee_ppm = 1000
            [arb]
            instruments = [0]
            edge_bps = 0
            max_book_age_ms = 500
            leg_timeout_ms = 1000
            max_group_qty = 100
        "#;
        let c: StrategiesConfig = toml::from_str(text).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("strategies.arb.edge_bps"), "{e}");
        let unknown = toml::from_str::<StrategiesConfig>("[arb]\nedge_bp = 3\n");
        assert!(unknown.unwrap_err().to_string().contains("edge_bp"));
    }
}
