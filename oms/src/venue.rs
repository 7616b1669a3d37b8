//! Venue-neutral order-entry results shared by the OKX and Kraken clients: inline ids, order
//! reports and fills as mantissas, and the error classes the OMS acts on (a refusal means the
//! order does not exist; an unknown outcome means it may, so the order becomes SENT_UNKNOWN and
//! is resolved by query, never assumed).

pub mod binance;

use std::{fmt, marker::PhantomData};

use lyra_shm::msg::{OrderIntent, OrderState, Side};
use serde::{
    de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer,
};
use thiserror::Error;

use crate::{binance::SymbolSpec, clordid::ClOrdId, manager::Balance};

/// Longest id kept inline (OKX `ordId` ≤ 20 digits, `clOrdId` ≤ 32, Kraken txid 19).
pub const ID_MAX: usize = 40;

/// A venue order id or client order id as ASCII text, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdText {
    len: u8,
    bytes: [u8; ID_MAX],
}

impl IdText {
    /// The id of `text`; `None` if it is longer than [`ID_MAX`] or not printable ASCII.
    pub fn new(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() > ID_MAX || !b.iter().all(|c| c.is_ascii_graphic()) {
            return None;
        }
        let mut bytes = [0u8; ID_MAX];
        bytes[..b.len()].copy_from_slice(b);
        Some(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored, so this cannot fail.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    /// Whether the id is empty (a venue that gave none).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for IdText {
    fn default() -> Self {
        Self {
            len: 0,
            bytes: [0; ID_MAX],
        }
    }
}

impl fmt::Debug for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order as the venue reports it (place/query/open orders), amounts as mantissas at the
/// symbol's scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderReport {
    /// Venue order id.
    pub order_id: IdText,
    /// Client order id (empty if the venue shows none).
    pub client_id: IdText,
    /// Life-cycle state.
    pub state: OrderState,
    /// Side.
    pub side: Side,
    /// Limit price (0 for market orders).
    pub px: i64,
    /// Ordered quantity.
    pub qty: i64,
    /// Cumulative filled quantity.
    pub executed: i64,
    /// Average fill price (0 before any fill).
    pub avg_px: i64,
}

/// One trade of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueFill {
    /// Venue trade id.
    pub trade_id: IdText,
    /// Venue order id.
    pub order_id: IdText,
    /// Client order id (empty if unknown).
    pub client_id: IdText,
    /// Side of our order.
    pub side: Side,
    /// Price mantissa.
    pub px: i64,
    /// Quantity mantissa.
    pub qty: i64,
    /// Fee paid, as decimal text with the sign flipped to "paid is positive".
    pub fee: String,
    /// Fee asset.
    pub fee_asset: String,
    /// Whether we were the maker.
    pub maker: bool,
    /// Venue time, ms.
    pub time_ms: u64,
}

/// Whether an error proves the operation did not take effect, or leaves it unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Nothing happened at the venue (refused, or never sent): the order ends REJECTED.
    Reject,
    /// It may have happened: the order is SENT_UNKNOWN until a query resolves it.
    Unknown,
}

/// What a venue refusal was about, across venues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not enough balance (OKX `51008`, Kraken `EOrder:Insufficient funds`).
    InsufficientBalance,
    /// Key, signature, passphrase, timestamp or nonce refused (OKX `501xx`, Kraken `EAPI:`).
    Auth,
    /// A post-only order would have taken liquidity.
    WouldTake,
    /// Size, price or notional outside the instrument's rules.
    Filter,
    /// The instrument is unknown or not trading.
    Instrument,
    /// The venue does not know the order (query/cancel), or it is already final (cancel).
    NotFound,
    /// The venue's rate limit.
    RateLimited,
    /// Our timestamp is outside the venue's window (Binance `-1021`, OKX `50102`): re-sync time.
    Clock,
    /// The client id is used by an open order: perhaps our own earlier attempt (⇒ unknown).
    Duplicate,
    /// Anything else the venue refused with a definite answer.
    Other,
}

/// An order-entry failure, with the venue, the operation and the venue's own words (never a
/// secret).
#[derive(Debug, Error)]
pub enum VenueError {
    /// The request never left this process (connect or TLS failed before any byte was written).
    #[error("{venue} {op}: not sent: {reason}")]
    NotSent {
        /// Venue.
        venue: &'static str,
        /// Operation.
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// The venue answered with a definite refusal.
    #[error("{venue} {op}: refused {code} ({kind:?}): {reason}")]
    Refused {
        /// Venue.
        venue: &'static str,
        /// Operation.
        op: &'static str,
        /// Venue code (`51008`, `EOrder:Insufficient funds`).
        code: String,
        /// Classified reason.
        kind: Refusal,
        /// Venue message.
        reason: String,
    },
    /// The request may have reached the venue but its outcome is unknown (timeout, lost
    /// connection, HTTP 5xx, OKX `50004`, Kraken `EService:Unavailable`).
    #[error("{venue} {op}: outcome unknown: {reason}")]
    Unknown {
        /// Venue.
        venue: &'static str,
        /// Operation.
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// The answer could not be read (after the send, so also unknown).
    #[error("{venue} {op}: unreadable answer (HTTP {status}): {reason}")]
    Malformed {
        /// Venue.
        venue: &'static str,
        /// Operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// What is wrong.
        reason: String,
    },
}

impl VenueError {
    /// The OMS class: [`ErrorClass::Unknown`] ⇒ SENT_UNKNOWN, [`ErrorClass::Reject`] ⇒ REJECTED.
    pub fn class(&self) -> ErrorClass {
        match self {
            VenueError::NotSent { .. } => ErrorClass::Reject,
            VenueError::Refused {
                kind: Refusal::Duplicate,
                ..
            } => ErrorClass::Unknown,
            VenueError::Refused { .. } => ErrorClass::Reject,
            VenueError::Unknown { .. } | VenueError::Malformed { .. } => ErrorClass::Unknown,
        }
    }

    /// The refusal kind, if the venue refused.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            VenueError::Refused { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The error of a transport failure: unknown if any byte may have been sent.
    pub fn from_http(venue: &'static str, op: &'static str, e: &crate::http::HttpError) -> Self {
        if e.maybe_sent() {
            VenueError::Unknown {
                venue,
                op,
                reason: e.to_string(),
            }
        } else {
            VenueError::NotSent {
                venue,
                op,
                reason: e.to_string(),
            }
        }
    }
}

/// What a place returned: the venue order id and, where the venue tells more at once (Binance
/// FULL), the order as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Venue order id.
    pub order_id: IdText,
    /// The order right after placing, if the answer carried it.
    pub report: Option<OrderReport>,
}

/// Venue order entry as the OMS needs it, with venue-neutral results: implemented by the
/// Binance ([`binance`]), OKX ([`crate::okx::OkxRest`]) and Kraken ([`crate::kraken::KrakenRest`])
/// clients. Amounts are mantissas at the [`SymbolSpec`]'s scales; every error carries its
/// [`ErrorClass`].
pub trait OrderEntry {
    /// The venue's name (`binance`, `okx`, `kraken`).
    fn venue_name(&self) -> &'static str;

    /// How long after it was signed a request may still be executed by the venue, ms, before
    /// clock uncertainty: a request queued in the venue's gateway, or written by a process that
    /// then died, can place its order this late. The OMS declares no SENT_UNKNOWN attempt
    /// absent sooner (see `OmsConfig::request_life_ms`).
    fn request_life_ms(&self) -> u64;

    /// Opens the connection off the order path and syncs time; returns server minus local
    /// clock in ms (0 for Kraken, whose requests carry nonces, not timestamps).
    ///
    /// # Errors
    /// [`VenueError`].
    fn warm(&mut self) -> Result<i64, VenueError>;

    /// Places `intent` at the already-quantized `px` / `qty` with client id `clordid`.
    ///
    /// # Errors
    /// [`VenueError`]; [`VenueError::class`] says whether the order may exist.
    fn place(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<Placed, VenueError>;

    /// The order with client id `clordid`; `order_id` where known (Kraken looks closed orders
    /// up by txid only).
    ///
    /// # Errors
    /// [`VenueError`]; `Refused` with [`Refusal::NotFound`] when the venue does not know it.
    fn query(
        &mut self,
        spec: &SymbolSpec,
        clordid: &str,
        order_id: Option<&IdText>,
    ) -> Result<OrderReport, VenueError>;

    /// Cancels the order with client id `clordid` (accepted; the final state comes from a
    /// query).
    ///
    /// # Errors
    /// [`VenueError`]; `Refused` with [`Refusal::NotFound`] when it is unknown or already final.
    fn cancel(&mut self, spec: &SymbolSpec, clordid: &str) -> Result<(), VenueError>;

    /// The open orders of `spec`.
    ///
    /// # Errors
    /// [`VenueError`].
    fn open_orders(&mut self, spec: &SymbolSpec) -> Result<Vec<OrderReport>, VenueError>;

    /// The trades of venue order `order_id`.
    ///
    /// # Errors
    /// [`VenueError`].
    fn fills(&mut self, spec: &SymbolSpec, order_id: &IdText)
        -> Result<Vec<VenueFill>, VenueError>;

    /// Balances per asset (free and locked; Kraken reports totals as free).
    ///
    /// # Errors
    /// [`VenueError`].
    fn balances(&mut self) -> Result<Vec<Balance>, VenueError>;

    /// The SAFE path: checks `intent` as an order without placing it where the venue can
    /// (Binance `/order/test`, Kraken `AddOrder` with `validate=true`); returns whether the venue
    /// saw it (`false`: the venue has no such check — OKX, whose demo environment is a separate
    /// account chosen in its client config — so the signed request was built and not sent).
    ///
    /// # Errors
    /// [`VenueError`]: the venue refused the would-be order.
    fn check_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<bool, VenueError>;

    /// The instrument's trading rules from the venue (Binance exchangeInfo filters, OKX
    /// instruments `tickSz/lotSz/minSz`, Kraken AssetPairs `tick_size/lot_decimals/ordermin/
    /// costmin`) and whether it trades now.
    ///
    /// # Errors
    /// [`VenueError`].
    fn symbol_rules(&mut self, spec: &SymbolSpec) -> Result<SymbolRules, VenueError>;

    /// Re-syncs the venue-time offset after a [`Refusal::Clock`]; returns server minus local
    /// clock in ms (0 where requests carry nonces, not timestamps).
    ///
    /// # Errors
    /// [`VenueError`].
    fn sync_time(&mut self) -> Result<i64, VenueError>;
}

/// An instrument's trading rules as a venue publishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolRules {
    /// Tick, step, minimum quantity and notional (a zero disables a check).
    pub filters: crate::binance::Filters,
    /// Whether the instrument accepts orders now.
    pub trading: bool,
}

/// A venue trade id as the `u64` the OMS deduplicates by: decimal ids (Binance, OKX) as their
/// value, text ids (Kraken's `TXXXXX-XXXXX-XXXXXX`) as a 64-bit FNV-1a hash with the top bit
/// set, so the two kinds never meet (two text ids of one order colliding has odds of 2^-63).
pub fn trade_key(id: &IdText) -> u64 {
    let t = id.as_str().as_bytes();
    if !t.is_empty() && t.len() <= 19 && t.iter().all(u8::is_ascii_digit) {
        return t.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in t {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | 1 << 63
}

/// A JSON array of which only the first element is kept and the rest skipped, so that the
/// one-item `data` arrays of order replies parse without allocating a `Vec`.
#[derive(Debug)]
pub struct First<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First<T>, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

impl<T> Default for First<T> {
    fn default() -> Self {
        First(None)
    }
}

/// Parses the JSON array `body` element by element as `T`, handing each to `f` instead of
/// collecting them: a list answer (open orders) read without allocating a `Vec`.
///
/// # Errors
/// The JSON error of the first element (or the array) that does not parse.
pub fn for_each_in_array<'de, T: Deserialize<'de>>(
    body: &'de [u8],
    f: impl FnMut(T),
) -> Result<(), serde_json::Error> {
    struct Each<T, F>(F, PhantomData<T>);
    impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Each<T, F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            while let Some(t) = seq.next_element::<T>()? {
                (self.0)(t);
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    de.deserialize_seq(Each(f, PhantomData))?;
    de.end()
}

/// A JSON object of which only the first entry is kept and the rest skipped, so that a
/// one-entry map answer (Kraken `QueryOrders` for one txid) parses without allocating a map.
#[derive(Debug)]
pub struct FirstEntry<K, V>(pub Option<(K, V)>);

impl<K, V> FirstEntry<K, V> {
    /// The kept entry, as a map's `iter()` would yield it.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<K, V> Default for FirstEntry<K, V> {
    fn default() -> Self {
        FirstEntry(None)
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for FirstEntry<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct M<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for M<K, V> {
            type Value = FirstEntry<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let first = map.next_entry::<K, V>()?;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(FirstEntry(first))
            }
        }
        d.deserialize_map(M(PhantomData))
    }
}

/// A JSON array of which the first `N` elements are kept inline and the rest skipped (counted
/// in [`Few::skipped`]), so that an answer's short lists (a place answer's fills) parse without
/// allocating. Whoever reads one must get what was skipped another way (Binance: `myTrades`).
#[derive(Debug)]
pub struct Few<T, const N: usize> {
    items: [Option<T>; N],
    len: usize,
    skipped: usize,
}

impl<T, const N: usize> Few<T, N> {
    /// The kept elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items[..self.len].iter().flatten()
    }

    /// How many elements are kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none was kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many elements past the first `N` were skipped.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

impl<T, const N: usize> Default for Few<T, N> {
    fn default() -> Self {
        Self {
            items: std::array::from_fn(|_| None),
            len: 0,
            skipped: 0,
        }
    }
}

impl<T, const N: usize> std::ops::Index<usize> for Few<T, N> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        match self.items[..self.len].get(i) {
            Some(Some(t)) => t,
            _ => panic!("Few index {i} out of range (len {})", self.len),
        }
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a Few<T, N> {
    type Item = &'a T;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Option<T>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.items[..self.len].iter().flatten()
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Few<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = Few<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Few<T, N>, A::Error> {
                let mut out = Few::default();
                while out.len < N {
                    match seq.next_element::<T>()? {
                        Some(t) => {
                            out.items[out.len] = Some(t);
                            out.len += 1;
                        }
                        None => return Ok(out),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    out.skipped += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V::<T, N>(PhantomData))
    }
}

/// A decimal text as a mantissa at `scale`, digits below the scale dropped (truncated toward
/// zero): for averages, which venues print with more precision than the instrument has.
pub fn mantissa_trunc(text: &str, scale: u8) -> Option<i64> {
    let t = match text.find('.') {
        Some(dot) if text.len() > dot + 1 + scale as usize && !text.contains(['e', 'E']) => {
            &text[..dot + 1 + scale as usize]
        }
        _ => text,
    };
    lyra_shm::decimal::parse_mantissa(t.as_bytes(), scale).ok()
}

/// Appends `v` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut d = [0u8; 20];
    let mut n = 0;
    loop {
        d[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(d[i]);
    }
}

/// Appends `v` form/URL-encoded (unreserved bytes as is, the rest `%XX`).
pub(crate) fn push_encoded(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_keeps_one_and_skips_the_rest() {
        let f: First<u32> = serde_json::from_str("[1,2,3]").unwrap();
        assert_eq!(f.0, Some(1));
        let f: First<u32> = serde_json::from_str("[]").unwrap();
        assert_eq!(f.0, None);
    }

    #[test]
    fn for_each_in_array_hands_over_every_element() {
        let mut seen = Vec::new();
        for_each_in_array::<u32>(b"[3, 1, 2]", |v| seen.push(v)).unwrap();
        assert_eq!(seen, [3, 1, 2]);
        assert!(for_each_in_array::<u32>(b"[1, \"x\"]", |_| {}).is_err());
        assert!(for_each_in_array::<u32>(b"[1] trailing", |_| {}).is_err());
        assert!(for_each_in_array::<u32>(b"{}", |_| {}).is_err());
    }

    #[test]
    fn first_entry_keeps_one_and_skips_the_rest() {
        let m: FirstEntry<String, u32> = serde_json::from_str(r#"{"a":1,"b":{"c":2}}"#).unwrap();
        assert_eq!(m.iter().next(), Some((&"a".to_owned(), &1)));
        let m: FirstEntry<String, u32> = serde_json::from_str("{}").unwrap();
        assert!(m.0.is_none());
    }

    #[test]
    fn few_keeps_n_inline_and_counts_the_rest() {
        let f: Few<u32, 2> = serde_json::from_str("[1,2,3,4]").unwrap();
        assert_eq!((f.len(), f.skipped(), f[0], f[1]), (2, 2, 1, 2));
        assert_eq!(f.iter().copied().collect::<Vec<_>>(), [1, 2]);
        let f: Few<u32, 4> = serde_json::from_str("[7]").unwrap();
        assert_eq!((f.len(), f.skipped()), (1, 0));
        let f: Few<u32, 4> = serde_json::from_str("[]").unwrap();
        assert!(f.is_empty());
        assert!(serde_json::from_str::<Few<u32, 4>>("[1,\"x\"]").is_err());
    }

    #[test]
    fn ids_and_encoding() {
        let id = IdText::new("OU22CG-KLAF2-FWUDD7").unwrap();
        assert_eq!(id.as_str(), "OU22CG-KLAF2-FWUDD7");
        assert!(IdText::new(&"x".repeat(41)).is_none());
        assert!(IdText::new("a b").is_none());
        let mut v = Vec::new();
        push_encoded(&mut v, b"BTC/USDT a");
        assert_eq!(v, b"BTC%2FUSDT%20a");
        v.clear();
        push_u64(&mut v, 1_616_492_376_594);
        assert_eq!(mantissa_trunc("60000.0123", 2), Some(6_000_001));
        assert_eq!(mantissa_trunc("60000", 2), Some(6_000_000));
        assert_eq!(mantissa_trunc("", 2), None);
        assert_eq!(v, b"1616492376594");
    }

    #[test]
    fn trade_keys_keep_numbers_and_hash_text_apart() {
        let k = |t: &str| trade_key(&IdText::new(t).unwrap());
        assert_eq!(k("123456789"), 123_456_789);
        assert_eq!(k("18446744073709551615"), k("18446744073709551615"));
        let a = k("TSIMUL-ATED0-000001");
        assert!(a >= 1 << 63, "text ids live in the top half");
        assert_ne!(a, k("TSIMUL-ATED0-000002"));
        assert_eq!(a, k("TSIMUL-ATED0-000001"), "stable");
    }

    #[test]
    fn classes() {
        let dup = VenueError::Refused {
            venue: "okx",
            op: "place",
            code: "51016".into(),
            kind: Refusal::Duplicate,
            reason: "Duplicated clOrdId.".into(),
        };
        assert_eq!(dup.class(), ErrorClass::Unknown);
        let funds = VenueError::Refused {
            venue: "okx",
            op: "place",
            code: "51008".into(),
            kind: Refusal::InsufficientBalance,
            reason: "x".into(),
        };
        assert_eq!(funds.class(), ErrorClass::Reject);
    }
}
