//! Realised arbitrage results from fills: per group, what was bought and sold, the fees, and the
//! net edge; totals over every group. Fees are charged at each order's configured rate on the
//! fill's notional (the OMS does not carry commissions in `ExecReport::fee` yet), in the same
//! exact units as the decision (raw notional x `RATE_SCALE`).

use lyra_shm::msg::{InstrumentIdx, Px, Qty, Side, VenueId};

use super::fees::{fee_on, RATE_SCALE};

/// One group's realised result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupPnl {
    /// The group.
    pub group_id: u64,
    /// Instrument.
    pub instrument: InstrumentIdx,
    /// Venue of the buy leg.
    pub buy_venue: VenueId,
    /// Venue of the sell leg.
    pub sell_venue: VenueId,
    /// Base bought (all orders of the group, corrective ones included).
    pub bought: i64,
    /// Base sold.
    pub sold: i64,
    /// Raw notional paid for buys.
    pub buy_raw: i128,
    /// Raw notional received for sells.
    pub sell_raw: i128,
    /// Fees, raw notional x `RATE_SCALE`.
    pub fees: i128,
    /// Fills applied.
    pub fills: u32,
    /// Corrective (hedge/unwind) orders sent.
    pub fixes: u32,
    /// Whether the legs were not both finished within the time box.
    pub timed_out: bool,
    /// Whether the group is finished (no order working, nothing more to do).
    pub closed: bool,
}

impl GroupPnl {
    /// Sell proceeds minus buy cost minus fees, raw notional x `RATE_SCALE`.
    pub fn pnl(&self) -> i128 {
        (self.sell_raw - self.buy_raw) * RATE_SCALE - self.fees
    }

    /// Base left over (bought - sold): non-zero after a one-legged fill that was not fully fixed.
    pub fn residual(&self) -> i64 {
        self.bought - self.sold
    }

    /// Net edge in ppm of the buy notional (0 before any buy).
    pub fn edge_ppm(&self) -> i64 {
        if self.buy_raw <= 0 {
            return 0;
        }
        (self.pnl() / self.buy_raw) as i64
    }
}

/// Totals over every group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    /// Groups opened.
    pub groups: u64,
    /// Groups closed.
    pub closed: u64,
    /// Groups closed with a base residual.
    pub one_legged: u64,
    /// Groups flagged by the time box.
    pub timed_out: u64,
    /// Fills applied.
    pub fills: u64,
    /// Corrective orders sent.
    pub fixes: u64,
    /// Raw notional bought.
    pub buy_raw: i128,
    /// Raw notional sold.
    pub sell_raw: i128,
    /// Fees, raw notional x `RATE_SCALE`.
    pub fees: i128,
}

impl LedgerTotals {
    /// Realised PnL net of fees, raw notional x `RATE_SCALE`.
    pub fn pnl(&self) -> i128 {
        (self.sell_raw - self.buy_raw) * RATE_SCALE - self.fees
    }

    /// Net edge over everything bought, ppm (1 bps = 100).
    pub fn edge_ppm(&self) -> i64 {
        if self.buy_raw <= 0 {
            return 0;
        }
        (self.pnl() / self.buy_raw) as i64
    }
}

/// Per-group records (a preallocated ring of the latest `capacity` groups) and totals.
#[derive(Debug, Clone)]
pub struct GroupLedger {
    records: Vec<GroupPnl>,
    capacity: usize,
    next: usize,
    totals: LedgerTotals,
}

impl GroupLedger {
    /// A ledger keeping the latest `capacity` groups (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            records: Vec::with_capacity(capacity),
            capacity,
            next: 0,
            totals: LedgerTotals::default(),
        }
    }

    /// Opens a record for a new group (overwriting the oldest when full).
    pub fn open(&mut self, group_id: u64, instrument: InstrumentIdx, buy: VenueId, sell: VenueId) {
        let r = GroupPnl {
            group_id,
            instrument,
            buy_venue: buy,
            sell_venue: sell,
            ..Default::default()
        };
        if self.records.len() < self.capacity {
            self.records.push(r);
        } else {
            self.records[self.next] = r;
        }
        self.next = (self.next + 1) % self.capacity;
        self.totals.groups += 1;
    }

    /// Newest first: fills and closes concern recent groups, so the search stays short.
    fn rec(&mut self, group_id: u64) -> Option<&mut GroupPnl> {
        let n = self.records.len();
        let k = (1..=n)
            .map(|d| (self.next + self.capacity - d) % self.capacity)
            .find(|&k| k < n && self.records[k].group_id == group_id)?;
        Some(&mut self.records[k])
    }

    /// Applies one fill of an order of `group_id` paying `fee_ppm`.
    pub fn fill(&mut self, group_id: u64, side: Side, px: Px, qty: Qty, fee_ppm: i64) {
        let n = px.0 as i128 * qty.0 as i128;
        let fee = fee_on(px, qty, fee_ppm);
        let t = &mut self.totals;
        t.fills += 1;
        t.fees += fee;
        match side {
            Side::Buy => t.buy_raw += n,
            Side::Sell => t.sell_raw += n,
        }
        if let Some(r) = self.rec(group_id) {
            r.fills += 1;
            r.fees += fee;
            match side {
                Side::Buy => {
                    r.bought += qty.0;
                    r.buy_raw += n;
                }
                Side::Sell => {
                    r.sold += qty.0;
                    r.sell_raw += n;
                }
            }
        }
    }

    /// Counts a corrective order of `group_id`.
    pub fn fix_sent(&mut self, group_id: u64) {
        self.totals.fixes += 1;
        if let Some(r) = self.rec(group_id) {
            r.fixes += 1;
        }
    }

    /// Flags `group_id` as past its time box.
    pub fn timed_out(&mut self, group_id: u64) {
        self.totals.timed_out += 1;
        if let Some(r) = self.rec(group_id) {
            r.timed_out = true;
        }
    }

    /// Marks `group_id` finished; `residual` is the base left unmatched.
    pub fn close(&mut self, group_id: u64, residual: i64) {
        self.totals.closed += 1;
        if residual != 0 {
            self.totals.one_legged += 1;
        }
        if let Some(r) = self.rec(group_id) {
            r.closed = true;
        }
    }

    /// The record of `group_id`, if still kept.
    pub fn group(&self, group_id: u64) -> Option<&GroupPnl> {
        self.records.iter().find(|r| r.group_id == group_id)
    }

    /// The kept records (in ring order).
    pub fn records(&self) -> &[GroupPnl] {
        &self.records
    }

    /// Totals over every group.
    pub fn totals(&self) -> &LedgerTotals {
        &self.totals
    }
}
