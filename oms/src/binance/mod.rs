//! Binance Spot order entry (PROTOCOLS a.2-a.6, PROTOCOLS-ORDERS A): signed REST over a
//! keep-alive connection, response parsing, filters and rate limits.
//!
//! Fills come from the user data stream ([`user_stream`]: the WebSocket API,
//! `userDataStream.subscribe.signature`, A.5, on its own side thread), from the FULL order
//! response, and from `myTrades` (by venue order id) whenever a query or a stream event shows more
//! executed quantity than the fills applied so far; venue trade ids make each fill count once.
//! While the stream is subscribed the OMS polls working orders less often; without it, REST
//! polling is the fallback.

pub mod client;
pub mod filters;
pub mod ratelimit;
pub mod response;
pub mod user_stream;
pub mod user_stream_event;

pub use client::{BinanceConfig, BinanceRest, Method, SymbolSpec};
pub use filters::{FilterError, Filters};
pub use ratelimit::{RateBudget, Throttle};
pub use user_stream::{ws_api_url_for, UserStream, UserStreamConfig, UserStreamError};
