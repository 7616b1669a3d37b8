//! Positions and balances built from fills only (deduplicated by venue trade id before they get
//! here), never from what an order was expected to do.

use lyra_shm::msg::{InstrumentIdx, Px, Qty, Side, VenueId, MAX_VENUES};

/// Net holdings of one instrument at one venue since the run started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Base asset change, at the instrument's quantity scale (buys add).
    pub base: i64,
    /// Quote asset change, at price scale + quantity scale (buys subtract price x qty).
    pub quote: i128,
    /// Fills applied.
    pub fills: u64,
}

/// Positions for every (venue, instrument), preallocated: applying a fill never allocates.
#[derive(Debug, Clone)]
pub struct Positions {
    instruments: usize,
    cells: Vec<Position>,
}

impl Positions {
    /// Room for `instruments` instruments on every venue.
    pub fn new(instruments: usize) -> Self {
        Self {
            instruments,
            cells: vec![Position::default(); instruments * MAX_VENUES],
        }
    }

    fn idx(&self, v: VenueId, i: InstrumentIdx) -> Option<usize> {
        ((v.0 as usize) < MAX_VENUES && (i.0 as usize) < self.instruments)
            .then(|| v.0 as usize * self.instruments + i.0 as usize)
    }

    /// Applies one fill; `fee_base` / `fee_quote` are commissions charged in the base (quantity
    /// scale) or quote asset (price + quantity scale). Unknown cells are ignored (and reported).
    #[allow(clippy::too_many_arguments)] // one fill's fields; a struct would only be rebuilt here
    pub fn apply_fill(
        &mut self,
        v: VenueId,
        i: InstrumentIdx,
        side: Side,
        px: Px,
        qty: Qty,
        fee_base: i64,
        fee_quote: i128,
    ) -> bool {
        let Some(k) = self.idx(v, i) else {
            return false;
        };
        let p = &mut self.cells[k];
        let notional = px.0 as i128 * qty.0 as i128;
        match side {
            Side::Buy => {
                p.base += qty.0;
                p.quote -= notional;
            }
            Side::Sell => {
                p.base -= qty.0;
                p.quote += notional;
            }
        }
        p.base -= fee_base;
        p.quote -= fee_quote;
        p.fills += 1;
        true
    }

    /// The position of `i` at `v`.
    pub fn get(&self, v: VenueId, i: InstrumentIdx) -> Position {
        self.idx(v, i).map(|k| self.cells[k]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buys_and_sells_net_out() {
        let mut p = Positions::new(2);
        let (v, i) = (VenueId(1), InstrumentIdx(1));
        assert!(p.apply_fill(v, i, Side::Buy, Px(100), Qty(3), 0, 0));
        assert!(p.apply_fill(v, i, Side::Sell, Px(110), Qty(2), 0, 5));
        let got = p.get(v, i);
        assert_eq!((got.base, got.quote, got.fills), (1, -300 + 220 - 5, 2));
        assert_eq!(p.get(VenueId(0), i), Position::default());
        assert!(!p.apply_fill(v, InstrumentIdx(9), Side::Buy, Px(1), Qty(1), 0, 0));
    }
}
