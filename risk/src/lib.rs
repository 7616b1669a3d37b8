//! Pre-trade risk: pure checks over state; only this crate constructs `RiskApproved<OrderIntent>`.
#![forbid(unsafe_code)]
