//! The OKX v5 dialect (PROTOCOLS b, PROTOCOLS-ORDERS B): public WebSocket `books` (snapshot then
//! updates chained by `prevSeqId`/`seqId`, CRC32 checksum over the top 25 levels), `bbo-tbt` and
//! `trades` ([`ws`]); REST market data and order entry with `OK-ACCESS-*` signatures ([`rest`],
//! [`sign`]); the private WebSocket (`login`, the `orders` channel) in [`private_ws`]. WS order
//! entry is not served.

pub mod private_ws;
pub mod rest;
pub mod sign;
pub mod ws;

use lyra_shm::decimal::format_canonical;

use super::config::{Instrument, SCALE};

/// OKX's instrument id (`BTC-USDT`).
pub fn inst_id(i: &Instrument) -> String {
    format!("{}-{}", i.base, i.quote)
}

/// OKX prints canonical decimals (`"3366.1"`, `"0.0012029"`): no trailing zeros.
pub fn canon(v: i64) -> String {
    format_canonical(v, SCALE).as_str().to_string()
}
