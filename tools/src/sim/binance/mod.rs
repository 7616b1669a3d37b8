//! The Binance Spot dialect: REST `/api/v3` ([`rest`]), market streams ([`ws`]), the WebSocket
//! API user data stream ([`user_stream`]) and HMAC signing ([`sign`]).
//!
//! Binance's listenKey user stream was switched off on 2026-02-20 (PROTOCOLS-ORDERS A.5); the
//! simulator serves the current mechanism, `userDataStream.subscribe.signature` on `/ws-api/v3`,
//! and answers the retired `/api/v3/userDataStream` endpoints with an error.

pub mod rest;
pub mod sign;
pub mod user_stream;
pub mod ws;

use std::fmt::Write as _;

use super::config::fmt8;

/// A JSON object written in a fixed key order (Binance documents its key order; serde_json's
/// default map would sort keys).
#[derive(Debug, Default)]
pub struct Obj(String);

impl Obj {
    /// An empty object.
    pub fn new() -> Self {
        Obj(String::from("{"))
    }
    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        let _ = write!(self.0, "\"{k}\":");
    }
    /// A string field (escaped).
    pub fn s(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        self.0
            .push_str(&serde_json::to_string(v).unwrap_or_default());
        self
    }
    /// A decimal field printed with 8 decimals, as a string.
    pub fn d(self, k: &str, v: i64) -> Self {
        self.s(k, &fmt8(v))
    }
    /// An integer field.
    pub fn n(mut self, k: &str, v: i64) -> Self {
        self.key(k);
        let _ = write!(self.0, "{v}");
        self
    }
    /// A boolean field.
    pub fn b(mut self, k: &str, v: bool) -> Self {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }
    /// A field holding raw JSON.
    pub fn raw(mut self, k: &str, json: &str) -> Self {
        self.key(k);
        self.0.push_str(json);
        self
    }
    /// The finished object.
    pub fn done(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// `[a,b,c]` from already-serialised items.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let mut s = String::from("[");
    for (i, it) in items.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&it);
    }
    s.push(']');
    s
}

/// A Binance error body.
pub fn error_body(code: i64, msg: &str) -> String {
    Obj::new().n("code", code).s("msg", msg).done()
}
