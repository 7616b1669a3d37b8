//! Pre-trade risk: pure checks over state; only this crate constructs `RiskApproved<OrderIntent>`.
//!
//! `RiskEngine::check` runs every rule of DESIGN §7 (halt, grant and its budgets, instrument
//! configured, price collar, order size and notional, position including working and SENT_UNKNOWN
//! orders, open orders, message rate, daily loss stop, loss cooldown, book validity and age, edge
//! after fees) and either refuses with a [`Refusal`] code or returns the approval the OMS requires.
#![forbid(unsafe_code)]

pub mod approved;
pub mod check;
pub mod limits;
pub mod reason;
pub mod state;

pub use approved::RiskApproved;
pub use check::{evaluate, find_grant, BookCheck, CheckInput, RiskEngine};
pub use limits::{notional, InstrumentLimits, RiskLimits, NOTIONAL_SCALE};
pub use reason::Refusal;
pub use state::RiskState;
