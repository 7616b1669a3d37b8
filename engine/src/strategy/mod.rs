//! Strategies: fee-inclusive cross-venue arbitrage ([`arb`]) and spot market making ([`mm`]) as
//! pure, deterministic decision code (DESIGN §2, §5–§7).
//!
//! Inputs: [`BookTop`]s keyed by (venue, instrument) (optionally a full [`crate::book::L2Book`]
//! through [`depth_walk::Depth`] where depth beyond five levels matters), [`ExecReport`]s for the
//! strategies' own orders, and the time, always passed in (nothing here reads a clock). Output:
//! [`OrderIntent`]s pushed into a caller-provided [`IntentSink`]. The same sequence of inputs
//! gives the same intents — no hash-map iteration, no clock, no randomness — so every thread
//! layout produces the same intents. Everything is allocated at construction.
//!
//! Wiring (strategy thread): build [`Strategies::new`] from `[strategies]` ([`StrategiesConfig`])
//! with [`Ids`] from the journal's recovery, set balances from the venues, then call
//! [`Strategies::on_top`] (or [`Strategies::on_top_with_depth`] with the full books) for each
//! top, [`Strategies::on_report`] for each `ExecReport`, and [`Strategies::on_timer`] every few
//! ms. Before sending an arbitrage leg, the order stage calls [`edge_still_positive`] with the
//! latest tops and passes `Edge::to_notional(px_scale, qty_scale, NOTIONAL_SCALE)` to risk as
//! `CheckInput::edge_after_fees`. Money is integer throughout (see [`fees`]).
//!
//! [`BookTop`]: lyra_shm::msg::BookTop
//! [`ExecReport`]: lyra_shm::msg::ExecReport

pub mod arb;
pub mod budget;
pub mod config;
pub mod depth_walk;
pub mod fees;
pub mod filters;
pub mod group;
pub mod inventory;
pub mod ledger;
pub mod mm;
pub mod tops;

use lyra_shm::{msg::OrderIntent, ring::Producer};

pub use self::{
    arb::{edge_still_positive, Arb, ArbGroup},
    config::{ArbConfig, FairPrice, MmConfig, OneLegPolicy, StrategiesConfig, StrategyConfigError},
    fees::{Edge, Fees, RATE_SCALE},
    filters::MarketSpec,
    group::Strategies,
    inventory::{Balance, Inventory, Owner, Working},
    ledger::{GroupLedger, GroupPnl},
    mm::MarketMaker,
    tops::Tops,
};

/// Where strategies put their intents: a ring to the risk/order stage, or a buffer in tests.
pub trait IntentSink {
    /// How many more intents fit right now (strategies emit a group only if all of it fits).
    fn room(&self) -> usize;
    /// Adds one intent; `false` if it did not fit.
    fn push(&mut self, intent: OrderIntent) -> bool;
}

impl IntentSink for Vec<OrderIntent> {
    /// Spare capacity: a Vec sink never reallocates on the decision path.
    fn room(&self) -> usize {
        self.capacity() - self.len()
    }
    fn push(&mut self, intent: OrderIntent) -> bool {
        if self.len() == self.capacity() {
            return false;
        }
        Vec::push(self, intent);
        true
    }
}

impl IntentSink for Producer<OrderIntent> {
    fn room(&self) -> usize {
        self.capacity() - self.len()
    }
    fn push(&mut self, intent: OrderIntent) -> bool {
        Producer::push(self, intent).is_ok()
    }
}

/// The run's intent sequence and group id counters, shared by every strategy on one thread so
/// client order ids never repeat (DESIGN §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    next_intent_seq: u64,
    next_group_id: u64,
}

impl Ids {
    /// Counters starting at `first_intent_seq` (the journal's next sequence after recovery) and
    /// `first_group_id`.
    pub fn new(first_intent_seq: u64, first_group_id: u64) -> Self {
        Self {
            next_intent_seq: first_intent_seq.max(1),
            next_group_id: first_group_id.max(1),
        }
    }

    /// A fresh intent sequence.
    pub fn intent_seq(&mut self) -> u64 {
        let s = self.next_intent_seq;
        self.next_intent_seq += 1;
        s
    }

    /// A fresh group id.
    pub fn group_id(&mut self) -> u64 {
        let g = self.next_group_id;
        self.next_group_id += 1;
        g
    }

    /// The next intent sequence that would be handed out.
    pub fn peek_intent_seq(&self) -> u64 {
        self.next_intent_seq
    }
}

impl Default for Ids {
    fn default() -> Self {
        Self::new(1, 1)
    }
}
