//! The Kraken Spot dialect (PROTOCOLS c, PROTOCOLS-ORDERS C): WebSocket v2 `book` (snapshot on
//! subscribe, then updates for the subscribed depth window — levels that merely fall out of the
//! window are not deleted, as on Kraken — each with the CRC32 checksum of the top 10 asks and
//! bids) in [`ws`]; REST `AddOrder` / `CancelOrder` / `QueryOrders` / `OpenOrders` / `Balance`
//! `GetWebSocketsToken` with nonce and `API-Sign` in [`rest`]; the private `executions` channel in
//! [`private_ws`].

pub mod private_ws;
pub mod rest;
pub mod ws;

use lyra_shm::decimal::format_fixed;

use super::config::{Instrument, ONE, SCALE};

/// Kraken's v2 symbol (`BTC/USDT`).
pub fn symbol(i: &Instrument) -> String {
    format!("{}/{}", i.base, i.quote)
}

/// Decimals needed to print multiples of `unit` (a mantissa at [`SCALE`]).
pub fn decimals(unit: i64) -> u8 {
    let mut d = 0u8;
    let mut u = unit;
    while d < SCALE && u % ONE != 0 {
        u *= 10;
        d += 1;
    }
    d
}

/// Price printed at the instrument's precision (`45283.50`).
pub fn px_text(i: &Instrument, v: i64) -> String {
    format_fixed(v, SCALE, decimals(i.tick))
        .as_str()
        .to_string()
}

/// Quantity printed with 8 decimals, as Kraken v2 does.
pub fn qty_text(v: i64) -> String {
    format_fixed(v, SCALE, 8).as_str().to_string()
}

/// Kraken's checksum item: the text without `.` and without leading zeros.
fn item(text: &str, out: &mut String) {
    let digits: String = text.chars().filter(|c| *c != '.').collect();
    out.push_str(digits.trim_start_matches('0'));
}

/// CRC32 (unsigned) of the top 10 asks then top 10 bids, each price then quantity.
pub fn checksum(i: &Instrument, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> u32 {
    let mut s = String::with_capacity(600);
    for (p, q) in asks.iter().take(10).chain(bids.iter().take(10)) {
        item(&px_text(i, *p), &mut s);
        item(&qty_text(*q), &mut s);
    }
    crc32fast::hash(s.as_bytes())
}
