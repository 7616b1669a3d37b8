//! Binance Spot order entry (PROTOCOLS a.2-a.6, PROTOCOLS-ORDERS A): signed REST over a
//! keep-alive connection, response parsing, filters and rate limits.
//!
//! Fills come from the FULL order response and from `myTrades` (by venue order id) whenever a
//! query shows more executed quantity than the fills applied so far. The WebSocket API user
//! stream (`userDataStream.subscribe.signature`, A.5) is left for a later session: `oms` may not
//! use `feeds::ws` (DESIGN §2) and a second WebSocket client inside `oms` is more than this
//! session could test properly; REST query + myTrades give the same fills, only later.

pub mod client;
pub mod filters;
pub mod ratelimit;
pub mod response;

pub use client::{BinanceConfig, BinanceRest, Method, SymbolSpec};
pub use filters::{FilterError, Filters};
pub use ratelimit::{RateBudget, Throttle};
