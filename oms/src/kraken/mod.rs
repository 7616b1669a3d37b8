//! Kraken Spot order entry (PROTOCOLS-ORDERS C): form-encoded private REST calls with a
//! strictly increasing wall-clock nonce and `API-Sign` over a keep-alive connection: AddOrder
//! (with `cl_ord_id` = our [`crate::clordid::ClOrdId`], valid as is), QueryOrders, OpenOrders,
//! CancelOrder and Balance, with `E…` errors mapped to the OMS classes ([`crate::venue`]).
//!
//! Fills come from `TradesHistory` (newest 50; Kraken's trades name no fee currency, see
//! [`KrakenRest::trades`]). An order whose txid was never learned (a lost AddOrder answer) is
//! found by `cl_ord_id` among the open, then the closed orders. Instrument rules come from the
//! public `AssetPairs`. Fills as they happen, with their fee asset: the WebSocket v2 `executions`
//! channel ([`private_stream`]).

pub mod client;
pub mod entry;
pub mod preflight;
pub mod private_stream;
pub mod response;
pub mod sign;

pub use client::{KrakenConfig, KrakenRest, OrderRef};
pub use sign::{KrakenCredentials, NonceGen};
