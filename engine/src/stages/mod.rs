//! The stages the runtime polls. Until the OMS lands (issue 5), the order stage is the halt gate
//! fed by a paced slot source in the strategy position.

pub mod order_gate;
pub mod slot_source;
