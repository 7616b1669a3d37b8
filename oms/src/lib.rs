//! Order management: the order life cycle, the write-ahead intents journal, venue order entry
//! and reconciliation. Accepts only `risk::RiskApproved<OrderIntent>`.
#![forbid(unsafe_code)]

pub mod binance;
pub mod clordid;
pub mod config;
pub mod http;
pub mod journal;
pub mod manager;
pub mod order;
pub mod position;
pub mod preflight;
pub mod sign;

pub use config::{CancelOnHalt, Mode, OmsConfig, UnknownOrders};
pub use manager::{Oms, OmsError, OmsStats, ReconcileReport, Submitted};
