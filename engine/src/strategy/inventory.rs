//! Spot inventory per (venue, instrument) and the strategies' working orders, with what each
//! working order reserves: a buy reserves its quote (price x remaining quantity plus the fee), a
//! sell reserves its base. Spot only, no borrowing: an order is only placed from what is
//! available after reservations.
//!
//! Quote money is kept per (venue, instrument) as raw notional (price x quantity mantissas at the
//! instrument's scales): the operator allots each instrument its quote on each venue, which keeps
//! instruments independent and the arithmetic exact.

use lyra_shm::msg::{ExecReport, InstrumentIdx, OrderState, Px, Qty, Side, VenueId};

use super::fees::{fee_on, RATE_SCALE};

/// Balances of one (venue, instrument).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Base held, quantity mantissa.
    pub base: i64,
    /// Quote held for this instrument, raw notional.
    pub quote_raw: i128,
    /// Base reserved by working sells.
    pub reserved_base: i64,
    /// Quote reserved by working buys (incl. fees), raw notional.
    pub reserved_quote_raw: i128,
}

impl Balance {
    /// Base not reserved.
    pub fn free_base(&self) -> i64 {
        (self.base - self.reserved_base).max(0)
    }

    /// Quote not reserved, raw notional.
    pub fn free_quote_raw(&self) -> i128 {
        (self.quote_raw - self.reserved_quote_raw).max(0)
    }
}

/// Who placed a working order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Owner {
    /// The arbitrage strategy.
    #[default]
    Arb,
    /// The market maker with this index.
    Mm(u16),
}

/// One order the strategies placed and have not seen finish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Working {
    /// The order's intent sequence.
    pub intent_seq: u64,
    /// Its group.
    pub group_id: u64,
    /// Who placed it.
    pub owner: Owner,
    /// Venue.
    pub venue: VenueId,
    /// Instrument.
    pub instrument: InstrumentIdx,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub px: Px,
    /// Order quantity.
    pub qty: Qty,
    /// Filled so far (from fill reports).
    pub filled: Qty,
    /// Fee rate the fills pay, ppm.
    pub fee_ppm: i64,
    /// The last state reported.
    pub state: OrderState,
    /// The cumulative quantity the terminal report announced (fills may still be on the way).
    pub final_qty: Option<Qty>,
}

impl Working {
    fn remaining(&self) -> i64 {
        if self.final_qty.is_some() {
            0
        } else {
            (self.qty.0 - self.filled.0).max(0)
        }
    }

    fn reserve_quote(&self) -> i128 {
        if self.side != Side::Buy {
            return 0;
        }
        let r = self.remaining();
        let x = self.px.0 as i128 * r as i128 * (RATE_SCALE + self.fee_ppm as i128);
        // Round up: a reservation must cover the worst case.
        (x + RATE_SCALE - 1).div_euclid(RATE_SCALE)
    }

    fn reserve_base(&self) -> i64 {
        if self.side == Side::Sell {
            self.remaining()
        } else {
            0
        }
    }

    /// Whether the venue is done with the order and every fill it announced has arrived.
    pub fn is_done(&self) -> bool {
        self.final_qty.is_some_and(|f| self.filled >= f)
    }
}

/// What an execution report did to a working order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportEffect {
    /// The order after the report.
    pub order: Working,
    /// A fill carried by this report: (price, quantity).
    pub fill: Option<(Px, Qty)>,
    /// Whether the order is finished (and has been removed).
    pub done: bool,
}

/// Balances and working orders, preallocated; nothing allocates after construction.
#[derive(Debug, Clone)]
pub struct Inventory {
    venues: usize,
    instruments: usize,
    cells: Vec<Balance>,
    working: Vec<Working>,
    working_cap: usize,
}

impl Inventory {
    /// Room for `venues` x `instruments` balances and `max_working` working orders.
    pub fn new(venues: usize, instruments: usize, max_working: usize) -> Self {
        Self {
            venues,
            instruments,
            cells: vec![Balance::default(); venues * instruments],
            working: Vec::with_capacity(max_working),
            working_cap: max_working,
        }
    }

    fn idx(&self, v: VenueId, i: InstrumentIdx) -> Option<usize> {
        ((v.0 as usize) < self.venues && (i.0 as usize) < self.instruments)
            .then(|| v.0 as usize * self.instruments + i.0 as usize)
    }

    /// Sets what is held (from the venue's balances at start or after reconciliation).
    /// Unknown cells are ignored; returns whether the cell exists.
    pub fn set_balance(
        &mut self,
        v: VenueId,
        i: InstrumentIdx,
        base: Qty,
        quote_raw: i128,
    ) -> bool {
        let Some(k) = self.idx(v, i) else {
            return false;
        };
        self.cells[k].base = base.0;
        self.cells[k].quote_raw = quote_raw;
        true
    }

    /// The balance of (v, i) (zero if unknown).
    pub fn balance(&self, v: VenueId, i: InstrumentIdx) -> Balance {
        self.idx(v, i).map(|k| self.cells[k]).unwrap_or_default()
    }

    /// Working orders not yet finished.
    pub fn working(&self) -> &[Working] {
        &self.working
    }

    /// Free working-order slots.
    pub fn working_room(&self) -> usize {
        self.working_cap - self.working.len()
    }

    /// The working order of `intent_seq`.
    pub fn find(&self, intent_seq: u64) -> Option<&Working> {
        self.working.iter().find(|w| w.intent_seq == intent_seq)
    }

    fn adjust(&mut self, w: &Working, sign: i64) {
        if let Some(k) = self.idx(w.venue, w.instrument) {
            let c = &mut self.cells[k];
            c.reserved_base += sign * w.reserve_base();
            c.reserved_quote_raw += sign as i128 * w.reserve_quote();
        }
    }

    /// Records a new order and reserves what it may use; `false` if the table is full or the cell
    /// unknown (the caller must not send it).
    pub fn place(&mut self, w: Working) -> bool {
        if self.working.len() >= self.working_cap || self.idx(w.venue, w.instrument).is_none() {
            return false;
        }
        self.adjust(&w, 1);
        self.working.push(w);
        true
    }

    /// Applies an execution report for one of our orders; `None` if the order is not ours.
    pub fn on_report(&mut self, r: &ExecReport) -> Option<ReportEffect> {
        let pos = self
            .working
            .iter()
            .position(|w| w.intent_seq == r.intent_seq)?;
        let before = self.working[pos];
        let mut w = before;
        let mut fill = None;
        if r.last_qty.0 > 0 && r.trade_id != 0 {
            w.filled.0 += r.last_qty.0;
            fill = Some((r.last_px, r.last_qty));
            if let Some(k) = self.idx(w.venue, w.instrument) {
                let fee = fee_on(r.last_px, r.last_qty, w.fee_ppm);
                let fee_raw = (fee + RATE_SCALE - 1).div_euclid(RATE_SCALE);
                let n = r.last_px.0 as i128 * r.last_qty.0 as i128;
                let c = &mut self.cells[k];
                match w.side {
                    Side::Buy => {
                        c.base += r.last_qty.0;
                        c.quote_raw -= n + fee_raw;
                    }
                    Side::Sell => {
                        c.base -= r.last_qty.0;
                        c.quote_raw += n - fee_raw;
                    }
                }
            }
        }
        w.state = r.state;
        if r.state.is_terminal() && w.final_qty.is_none() {
            // The terminal report's cumulative quantity says how many fills to expect; fills
            // may arrive after it (the OMS fetches trades separately).
            w.final_qty = Some(Qty(r.cum_qty.0.max(w.filled.0)));
        }
        self.adjust(&before, -1);
        let done = w.is_done();
        if done {
            // `remove` keeps insertion order, so iteration order depends only on the inputs.
            self.working.remove(pos);
        } else {
            self.adjust(&w, 1);
            self.working[pos] = w;
        }
        Some(ReportEffect {
            order: w,
            fill,
            done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_follow_fills() {
        let (v, i) = (VenueId(0), InstrumentIdx(0));
        let mut inv = Inventory::new(1, 1, 4);
        inv.set_balance(v, i, Qty(10), 1_000_000);
        let w = Working {
            intent_seq: 1,
            venue: v,
            instrument: i,
            side: Side::Buy,
            px: Px(100),
            qty: Qty(5),
            fee_ppm: 1_000,
            ..Default::default()
        };
        assert!(inv.place(w));
        // 100 x 5 x 1.001 = 500.5 -> 501 reserved.
        assert_eq!(inv.balance(v, i).reserved_quote_raw, 501);
        let fill = ExecReport {
            intent_seq: 1,
            trade_id: 9,
            last_px: Px(100),
            last_qty: Qty(2),
            cum_qty: Qty(2),
            state: OrderState::Partial,
            ..Default::default()
        };
        let e = inv.on_report(&fill).unwrap();
        assert!(!e.done);
        let b = inv.balance(v, i);
        assert_eq!(b.base, 12);
        assert_eq!(b.quote_raw, 1_000_000 - 200 - 1);
        assert_eq!(b.reserved_quote_raw, 301);
        let end = ExecReport {
            intent_seq: 1,
            cum_qty: Qty(2),
            state: OrderState::Expired,
            ..Default::default()
        };
        assert!(inv.on_report(&end).unwrap().done);
        assert_eq!(inv.balance(v, i).reserved_quote_raw, 0);
        assert!(inv.working().is_empty());
    }
}
