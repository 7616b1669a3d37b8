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

use super::config::{fixed_bytes, Instrument, ONE, SCALE};

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

/// Kraken's checksum item of `v` printed with `decimals` decimals: the text without `.` and
/// without leading zeros, appended to `out` (no allocation).
fn item(v: i64, decimals: u8, out: &mut String) {
    let mut buf = [0u8; 48];
    let n = fixed_bytes(v, decimals, &mut buf);
    let mut leading = true;
    for &b in &buf[..n] {
        if b == b'.' || (leading && b == b'0') {
            continue;
        }
        leading = false;
        out.push(b as char);
    }
}

/// CRC32 (unsigned) of the top 10 asks then top 10 bids, each price then quantity.
pub fn checksum(i: &Instrument, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> u32 {
    checksum_with(i, bids, asks, &mut String::with_capacity(600))
}

/// [`checksum`] building its check string in a reused buffer (the publish path computes one
/// per window update).
pub fn checksum_with(
    i: &Instrument,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    text: &mut String,
) -> u32 {
    text.clear();
    let px_decimals = decimals(i.tick);
    for (p, q) in asks.iter().take(10).chain(bids.iter().take(10)) {
        item(*p, px_decimals, text);
        item(*q, SCALE, text);
    }
    crc32fast::hash(text.as_bytes())
}
