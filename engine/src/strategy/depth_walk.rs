//! Walking two books' depth for a cross-venue arbitrage: how much can be bought on one venue's
//! asks and sold on another's bids with every unit clearing fees plus the threshold.
//!
//! The walk is marginal: levels are consumed best-first on both sides, and it stops at the first
//! pair of levels where one more unit would not clear. Because levels only get worse, the last
//! unit taken is the worst one; sending both legs as IOC limits at the worst levels touched
//! therefore guarantees (on the books seen) that every unit that fills clears the threshold.

use lyra_shm::msg::{BookTop, Px, Qty, TOP_LEVELS};

use super::fees::{buy_cost, sell_proceeds, unit_clears, Edge, RATE_SCALE};
use crate::book::L2Book;

/// Read-only depth of one book: levels best-first, without allocating.
pub trait Depth {
    /// Ask levels, lowest first.
    fn ask_levels(&self) -> impl Iterator<Item = (Px, Qty)> + '_;
    /// Bid levels, highest first.
    fn bid_levels(&self) -> impl Iterator<Item = (Px, Qty)> + '_;
}

impl Depth for BookTop {
    fn ask_levels(&self) -> impl Iterator<Item = (Px, Qty)> + '_ {
        (0..TOP_LEVELS)
            .map(|i| (self.ask_px[i], self.ask_qty[i]))
            .take_while(|(p, q)| q.0 > 0 && p.0 > 0)
    }
    fn bid_levels(&self) -> impl Iterator<Item = (Px, Qty)> + '_ {
        (0..TOP_LEVELS)
            .map(|i| (self.bid_px[i], self.bid_qty[i]))
            .take_while(|(p, q)| q.0 > 0 && p.0 > 0)
    }
}

impl Depth for L2Book {
    fn ask_levels(&self) -> impl Iterator<Item = (Px, Qty)> + '_ {
        self.asks()
    }
    fn bid_levels(&self) -> impl Iterator<Item = (Px, Qty)> + '_ {
        self.bids()
    }
}

/// The rules of one walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkParams {
    /// Taker fee of the buy venue, ppm.
    pub buy_fee_ppm: i64,
    /// Taker fee of the sell venue, ppm.
    pub sell_fee_ppm: i64,
    /// Edge every unit must beat, ppm of its cost (edge threshold + slippage buffer).
    pub threshold_ppm: i64,
    /// Most quantity to take (filters, config clip, base held on the sell venue).
    pub max_qty: Qty,
    /// Quote money available on the buy venue, raw notional (px x qty mantissas); the walk keeps
    /// cost including the fee within it.
    pub quote_budget_raw: i128,
}

/// What a walk found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walk {
    /// Quantity where every unit clears.
    pub qty: Qty,
    /// Worst ask touched on the buy venue (the buy leg's limit).
    pub buy_px: Px,
    /// Worst bid touched on the sell venue (the sell leg's limit).
    pub sell_px: Px,
}

/// Walks `buy` asks against `sell` bids; `None` if not even one unit clears or nothing fits.
pub fn walk<A: Depth, B: Depth>(buy: &A, sell: &B, p: &WalkParams) -> Option<Walk> {
    let mut asks = buy.ask_levels();
    let mut bids = sell.bid_levels();
    let (mut ap, mut aq) = asks.next()?;
    let (mut bp, mut bq) = bids.next()?;
    let mut out = Walk::default();
    let mut budget = p.quote_budget_raw.saturating_mul(RATE_SCALE);
    loop {
        if !unit_clears(ap, bp, p.buy_fee_ppm, p.sell_fee_ppm, p.threshold_ppm) {
            break;
        }
        let room = p.max_qty.0 - out.qty.0;
        let unit_cost = ap.0 as i128 * (RATE_SCALE + p.buy_fee_ppm as i128);
        let want = aq.0.min(bq.0).min(room);
        // The budget rarely binds: skip the (slow, i128) division when the whole level fits.
        let take = if unit_cost > 0 && unit_cost * want.max(0) as i128 <= budget {
            want
        } else if unit_cost > 0 {
            want.min((budget / unit_cost).min(i64::MAX as i128) as i64)
        } else {
            0
        };
        if take <= 0 {
            break;
        }
        out.qty.0 += take;
        out.buy_px = ap;
        out.sell_px = bp;
        budget -= unit_cost * take as i128;
        aq.0 -= take;
        bq.0 -= take;
        if out.qty.0 >= p.max_qty.0 {
            break;
        }
        if aq.0 == 0 {
            match asks.next() {
                Some(l) => (ap, aq) = l,
                None => break,
            }
        }
        if bq.0 == 0 {
            match bids.next() {
                Some(l) => (bp, bq) = l,
                None => break,
            }
        }
    }
    (out.qty.0 > 0).then_some(out)
}

/// Filling `qty` against levels best-first: the worst price touched and the raw notional,
/// or `None` if the levels hold less than `qty` at or inside `limit` (when given).
pub fn sweep(
    levels: impl Iterator<Item = (Px, Qty)>,
    qty: Qty,
    limit: Option<(Px, bool)>,
) -> Option<(Px, i128)> {
    let mut left = qty.0;
    let mut notional = 0i128;
    if left <= 0 {
        return None;
    }
    for (p, q) in levels {
        // `limit = (px, is_buy)`: a buy may not pay above it, a sell may not sell below it.
        if let Some((l, is_buy)) = limit {
            if (is_buy && p > l) || (!is_buy && p < l) {
                break;
            }
        }
        let take = q.0.min(left);
        notional += p.0 as i128 * take as i128;
        left -= take;
        if left == 0 {
            return Some((p, notional));
        }
    }
    None
}

/// The fee-inclusive edge of buying `qty` on `buy` (up to `buy_limit`) and selling it on `sell`
/// (down to `sell_limit`) against these books; `None` if either side cannot fill `qty` within its
/// limit.
pub fn edge_now<A: Depth, B: Depth>(
    buy: &A,
    sell: &B,
    qty: Qty,
    buy_limit: Px,
    sell_limit: Px,
    buy_fee_ppm: i64,
    sell_fee_ppm: i64,
) -> Option<Edge> {
    let (_, buy_raw) = sweep(buy.ask_levels(), qty, Some((buy_limit, true)))?;
    let (_, sell_raw) = sweep(sell.bid_levels(), qty, Some((sell_limit, false)))?;
    Some(Edge {
        qty,
        cost: buy_raw * (RATE_SCALE + buy_fee_ppm as i128),
        proceeds: sell_raw * (RATE_SCALE - sell_fee_ppm as i128),
    })
}

/// The edge at the limit prices (every unit filled at the worst level): the guaranteed floor.
pub fn edge_at_limits(qty: Qty, buy_px: Px, sell_px: Px, buy_fee: i64, sell_fee: i64) -> Edge {
    Edge {
        qty,
        cost: buy_cost(buy_px, qty, buy_fee),
        proceeds: sell_proceeds(sell_px, qty, sell_fee),
    }
}
