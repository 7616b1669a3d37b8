//! Order management: the order life cycle, the write-ahead intents journal, venue order entry
//! and reconciliation. Accepts only `risk::RiskApproved<OrderIntent>`.
#![forbid(unsafe_code)]

pub mod clordid;
pub mod journal;
