//! Kraken REST reply bodies (PROTOCOLS-ORDERS C.2-C.3) parsed with serde into borrowed fields,
//! and the mapping of Kraken's `E<category>:<text>` errors (C.4) onto the OMS classes.

use std::{borrow::Cow, collections::BTreeMap};

use lyra_shm::msg::{OrderState, Side};
use serde::Deserialize;

use crate::venue::{First, FirstEntry, Refusal, VenueError};

/// The venue name in errors.
pub const VENUE: &str = "kraken";

/// `result` of `AddOrder`.
#[derive(Debug, Deserialize)]
pub struct AddOrderResult<'a> {
    /// The new order's txid (absent with `validate`); borrowed (txids never hold escapes), so
    /// a place answer parses without allocating.
    #[serde(default, borrow)]
    pub txid: First<&'a str>,
}

/// `{"error":[…],"result":{…}}` with a result of type `T`.
#[derive(Debug, Deserialize)]
pub struct Reply<'a, T> {
    /// Errors and warnings (`E…` / `W…`); empty on success.
    #[serde(default, borrow)]
    pub error: Vec<Cow<'a, str>>,
    /// The result (absent on failure).
    #[serde(default = "Option::default")]
    pub result: Option<T>,
}

/// `descr` of an order.
#[derive(Debug, Deserialize)]
pub struct DescrBody<'a> {
    /// Pair.
    #[serde(default, borrow)]
    pub pair: Cow<'a, str>,
    /// `buy` / `sell`.
    #[serde(rename = "type", borrow)]
    pub side: Cow<'a, str>,
    /// `limit`, `market`, …
    #[serde(default, borrow)]
    pub ordertype: Cow<'a, str>,
    /// Limit price.
    #[serde(default, borrow)]
    pub price: Cow<'a, str>,
}

/// An order of `QueryOrders` / `OpenOrders`.
#[derive(Debug, Deserialize)]
pub struct OrderBody<'a> {
    /// Client order id, if one was given (borrowed from the answer unless it holds escapes:
    /// serde's `borrow` does not reach through `Option`, so [`opt_cow`] does it).
    #[serde(default, borrow, deserialize_with = "opt_cow")]
    pub cl_ord_id: Option<Cow<'a, str>>,
    /// `pending`, `open`, `closed`, `canceled`, `expired`.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// Description.
    #[serde(borrow)]
    pub descr: DescrBody<'a>,
    /// Volume ordered.
    #[serde(borrow)]
    pub vol: Cow<'a, str>,
    /// Volume executed.
    #[serde(default, borrow)]
    pub vol_exec: Cow<'a, str>,
    /// Average price.
    #[serde(default, borrow)]
    pub price: Cow<'a, str>,
}

/// `result` of `QueryOrders` for one txid: txid → order, read without building a map and
/// with the txid borrowed (txids never hold escapes), so the query path of every cancel
/// allocates nothing.
pub type QueryResult<'a> = FirstEntry<Txid<'a>, OrderBody<'a>>;

/// A txid as a map key, borrowed from the answer (escapes, never seen in a txid, are decoded
/// into an owned copy rather than refused).
#[derive(Debug, Deserialize)]
pub struct Txid<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl std::ops::Deref for Txid<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Txid<'_> {
    fn eq(&self, o: &str) -> bool {
        *self.0 == *o
    }
}

/// A string borrowed from the answer where it can be (no escapes), owned otherwise.
#[derive(Deserialize)]
struct CowStr<'a>(#[serde(borrow)] Cow<'a, str>);

/// An optional string, borrowed where it can be (see [`CowStr`]).
fn opt_cow<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<CowStr<'de>>::deserialize(d)?.map(|c| c.0))
}

/// `result` of `OpenOrders`.
#[derive(Debug, Deserialize)]
pub struct OpenResult<'a> {
    /// txid → order.
    #[serde(default, borrow)]
    pub open: BTreeMap<Cow<'a, str>, OrderBody<'a>>,
}

/// `result` of `ClosedOrders`.
#[derive(Debug, Deserialize)]
pub struct ClosedResult<'a> {
    /// txid → order.
    #[serde(default, borrow)]
    pub closed: BTreeMap<Cow<'a, str>, OrderBody<'a>>,
}

/// One pair of `AssetPairs` (the fields the order rules need).
#[derive(Debug, Deserialize)]
pub struct AssetPairBody<'a> {
    /// Alternate name (`XBTUSD`).
    #[serde(default, borrow)]
    pub altname: Cow<'a, str>,
    /// Price tick.
    #[serde(default, borrow)]
    pub tick_size: Cow<'a, str>,
    /// Volume decimals.
    #[serde(default)]
    pub lot_decimals: u32,
    /// Minimum volume.
    #[serde(default, borrow)]
    pub ordermin: Cow<'a, str>,
    /// Minimum cost (quote).
    #[serde(default, borrow)]
    pub costmin: Cow<'a, str>,
    /// `online`, `cancel_only`, `post_only`, `limit_only`, `reduce_only`.
    #[serde(default, borrow)]
    pub status: Cow<'a, str>,
}

/// `result` of `AssetPairs`: pair name → pair.
pub type AssetPairsResult<'a> = BTreeMap<Cow<'a, str>, AssetPairBody<'a>>;

/// `result` of `CancelOrder`.
#[derive(Debug, Deserialize)]
pub struct CancelResult {
    /// Orders cancelled.
    pub count: u32,
    /// Whether the cancel is still pending.
    #[serde(default)]
    pub pending: bool,
}

/// One trade of `TradesHistory`.
#[derive(Debug, Deserialize)]
pub struct TradeBody<'a> {
    /// The order's txid.
    #[serde(borrow)]
    pub ordertxid: Cow<'a, str>,
    /// Pair.
    #[serde(default, borrow)]
    pub pair: Cow<'a, str>,
    /// Unix time, seconds with fraction.
    #[serde(default)]
    pub time: f64,
    /// `buy` / `sell`.
    #[serde(rename = "type", borrow)]
    pub side: Cow<'a, str>,
    /// Price.
    #[serde(borrow)]
    pub price: Cow<'a, str>,
    /// Fee (in the quote currency unless the order asked otherwise).
    #[serde(default, borrow)]
    pub fee: Cow<'a, str>,
    /// Volume.
    #[serde(borrow)]
    pub vol: Cow<'a, str>,
    /// Whether we were the maker (present on current API versions).
    #[serde(default)]
    pub maker: bool,
    /// The pair's trade id (C.3): the id the WebSocket `executions` reports carry as
    /// `trade_id`, so a fill seen on both is recognised (absent: the txid keys it).
    #[serde(default)]
    pub trade_id: Option<u64>,
}

/// `result` of `GetWebSocketsToken` (C.3).
#[derive(Debug, Deserialize)]
pub struct WsTokenResult {
    /// The token (use within 15 minutes).
    pub token: String,
    /// Seconds it is valid for before first use.
    #[serde(default)]
    pub expires: u64,
}

/// `result` of `TradesHistory`.
#[derive(Debug, Deserialize)]
pub struct TradesResult<'a> {
    /// Trade txid → trade (50 per page, newest first).
    #[serde(default, borrow)]
    pub trades: BTreeMap<Cow<'a, str>, TradeBody<'a>>,
    /// Trades matching the criteria.
    #[serde(default)]
    pub count: u64,
}

/// `result` of `Balance`: asset → total.
pub type BalanceResult<'a> = BTreeMap<Cow<'a, str>, Cow<'a, str>>;

/// Kraken order status → life-cycle state. `closed` is a full fill unless less than the volume
/// executed (an IOC remainder), then Expired.
pub fn state_of(status: &str, executed: i64, qty: i64) -> Option<OrderState> {
    Some(match status {
        "pending" => OrderState::Acked,
        "open" if executed > 0 => OrderState::Partial,
        "open" => OrderState::Acked,
        "closed" if executed >= qty => OrderState::Filled,
        "closed" => OrderState::Expired,
        "canceled" => OrderState::Canceled,
        "expired" => OrderState::Expired,
        _ => return None,
    })
}

/// `buy` / `sell`.
pub fn side_of(s: &str) -> Option<Side> {
    match s {
        "buy" => Some(Side::Buy),
        "sell" => Some(Side::Sell),
        _ => None,
    }
}

/// Whether a Kraken error leaves the outcome unknown: the service was unavailable or failed
/// internally, perhaps after acting (`EService:Unavailable`, `EService:Busy`,
/// `EGeneral:Internal error[:code]`).
pub fn is_unknown(e: &str) -> bool {
    e.starts_with("EService:Unavailable")
        || e.starts_with("EService:Busy")
        || e.starts_with("EGeneral:Internal error")
}

/// Classifies a definite Kraken error.
pub fn refusal_of(e: &str) -> Refusal {
    if e.starts_with("EOrder:Insufficient funds") {
        Refusal::InsufficientBalance
    } else if e.starts_with("EAPI:Invalid key")
        || e.starts_with("EAPI:Invalid signature")
        || e.starts_with("EAPI:Invalid nonce")
        || e.starts_with("EGeneral:Permission denied")
    {
        Refusal::Auth
    } else if e.contains("Rate limit exceeded") || e.starts_with("EGeneral:Temporary lockout") {
        Refusal::RateLimited
    } else if e.starts_with("EOrder:Unknown order") || e.starts_with("EOrder:Invalid order") {
        Refusal::NotFound
    } else if e.contains("Duplicate") {
        Refusal::Duplicate
    } else if e.starts_with("EOrder:Post only order") {
        Refusal::WouldTake
    } else if e.starts_with("EQuery:Unknown asset pair") || e.starts_with("EService:Market in") {
        Refusal::Instrument
    } else if e.starts_with("EOrder:Order minimum not met")
        || e.starts_with("EOrder:Cost minimum not met")
        || e.starts_with("EOrder:Tick size check failed")
        || e.starts_with("EGeneral:Invalid arguments")
    {
        Refusal::Filter
    } else {
        Refusal::Other
    }
}

/// The error for a failed answer: the first `E…` entry decides; HTTP 5xx is unknown.
pub fn error_of(op: &'static str, status: u16, errors: &[Cow<'_, str>]) -> VenueError {
    let e = errors
        .iter()
        .find(|e| e.starts_with('E'))
        .map_or("", |e| &**e);
    if status >= 500 || is_unknown(e) {
        return VenueError::Unknown {
            venue: VENUE,
            op,
            reason: format!("HTTP {status}: {e}"),
        };
    }
    VenueError::Refused {
        venue: VENUE,
        op,
        code: e.split(':').take(2).collect::<Vec<_>>().join(":"),
        kind: refusal_of(e),
        reason: e.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::ErrorClass;

    #[test]
    fn replies_parse() {
        let r: Reply<'_, AddOrderResult<'_>> = serde_json::from_slice(
            br#"{"error":[],"result":{"descr":{"order":"buy 1.45 XBTUSD @ limit 27500.0"},"txid":["OU22CG-KLAF2-FWUDD7"]}}"#,
        )
        .unwrap();
        assert!(r.error.is_empty());
        assert_eq!(r.result.unwrap().txid.0, Some("OU22CG-KLAF2-FWUDD7"));
        let r: Reply<'_, AddOrderResult<'_>> =
            serde_json::from_slice(br#"{"error":["EOrder:Insufficient funds"]}"#).unwrap();
        assert!(r.result.is_none());
        let e = error_of("place", 200, &r.error);
        assert_eq!(e.refusal(), Some(Refusal::InsufficientBalance));
        assert!(e.to_string().contains("EOrder:Insufficient funds"));
    }

    #[test]
    fn trades_history_parses() {
        let body = br#"{"error":[],"result":{"trades":{"THVRQM-33VKH-UCI7BS":{"ordertxid":"OQCLML-BW3P3-BUCMWZ","postxid":"TKH2SE-M7IF5-CFI7LT","pair":"XXBTZUSD","time":1688667796.8802,"type":"buy","ordertype":"limit","price":"30010.00000","cost":"600.20000","fee":"0.00000","vol":"0.02000000","margin":"0.00000","misc":"","trade_id":93748276,"maker":true}},"count":1}}"#;
        let r: Reply<'_, TradesResult<'_>> = serde_json::from_slice(body).unwrap();
        let t = r.result.unwrap();
        assert_eq!(t.count, 1);
        let (id, tr) = t.trades.iter().next().unwrap();
        assert_eq!(
            (&**id, &*tr.ordertxid, &*tr.side, tr.maker),
            ("THVRQM-33VKH-UCI7BS", "OQCLML-BW3P3-BUCMWZ", "buy", true)
        );
    }

    #[test]
    fn errors_classify() {
        let c = |s: &str| error_of("place", 200, &[s.into()]);
        assert_eq!(c("EService:Unavailable").class(), ErrorClass::Unknown);
        assert_eq!(
            c("EGeneral:Internal error:123").class(),
            ErrorClass::Unknown
        );
        assert_eq!(c("EAPI:Invalid signature").refusal(), Some(Refusal::Auth));
        assert_eq!(c("EAPI:Invalid nonce").refusal(), Some(Refusal::Auth));
        assert_eq!(
            c("EOrder:Order minimum not met").refusal(),
            Some(Refusal::Filter)
        );
        assert_eq!(c("EOrder:Unknown order").refusal(), Some(Refusal::NotFound));
        assert_eq!(c("EOrder:Duplicate order").class(), ErrorClass::Unknown);
        assert_eq!(
            error_of("place", 502, &[]).class(),
            ErrorClass::Unknown,
            "gateway error"
        );
    }

    #[test]
    fn states() {
        assert_eq!(state_of("open", 0, 5), Some(OrderState::Acked));
        assert_eq!(state_of("open", 1, 5), Some(OrderState::Partial));
        assert_eq!(state_of("closed", 5, 5), Some(OrderState::Filled));
        assert_eq!(state_of("closed", 2, 5), Some(OrderState::Expired));
        assert_eq!(state_of("what", 0, 5), None);
    }
}
