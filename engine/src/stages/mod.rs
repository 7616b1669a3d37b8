//! The stages the runtime polls: feed -> book -> strategy (with risk) -> order (OMS), joined by
//! SPSC rings. Without configured instruments the daemon runs the halt-gate skeleton instead:
//! a paced slot source feeding the order stage's halt gate.

pub mod book;
pub mod feed;
pub mod order;
pub mod order_gate;
pub mod slot_source;
pub mod strategy;
