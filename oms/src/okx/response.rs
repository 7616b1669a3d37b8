//! OKX v5 reply bodies (PROTOCOLS-ORDERS B.2-B.4) parsed with serde into borrowed fields, and
//! the mapping of OKX codes (B.6) onto the OMS's refusal / unknown classes.
//!
//! Text fields are `#[serde(borrow)] Cow<'a, str>`, spelled out: serde borrows only when it sees
//! `Cow` itself (behind a type alias it silently allocates), and falls back to an owned string
//! when the JSON text has escapes. A successful place answer parses without allocating
//! (`oms/tests/okx_kraken_no_alloc.rs`).

use std::borrow::Cow;

use lyra_shm::msg::{OrderState, Side};
use serde::Deserialize;

use crate::venue::{First, Refusal, VenueError};

/// The venue name in errors.
pub const VENUE: &str = "okx";

/// One item of a place or cancel reply.
#[derive(Debug, Deserialize)]
pub struct AckItem<'a> {
    /// Venue order id (`""` on failure).
    #[serde(rename = "ordId", default, borrow)]
    pub ord_id: Cow<'a, str>,
    /// Client order id.
    #[serde(rename = "clOrdId", default, borrow)]
    pub cl_ord_id: Cow<'a, str>,
    /// Per-item code, `"0"` = accepted.
    #[serde(rename = "sCode", default, borrow)]
    pub s_code: Cow<'a, str>,
    /// Per-item message.
    #[serde(rename = "sMsg", default, borrow)]
    pub s_msg: Cow<'a, str>,
}

/// `{"code","msg","data":[item]}` of a place or cancel.
#[derive(Debug, Deserialize)]
pub struct AckReply<'a> {
    /// `"0"` ok, `"1"` all failed, `"2"` partial, else an error code.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// Message.
    #[serde(default, borrow)]
    pub msg: Cow<'a, str>,
    /// The first item (one order per request).
    #[serde(default, borrow)]
    pub data: First<AckItem<'a>>,
}

/// An order as `GET /api/v5/trade/order` and `orders-pending` return it.
#[derive(Debug, Deserialize)]
pub struct OrderBody<'a> {
    /// `BTC-USDT`.
    #[serde(rename = "instId", borrow)]
    pub inst_id: Cow<'a, str>,
    /// Venue order id.
    #[serde(rename = "ordId", borrow)]
    pub ord_id: Cow<'a, str>,
    /// Client order id.
    #[serde(rename = "clOrdId", default, borrow)]
    pub cl_ord_id: Cow<'a, str>,
    /// Limit price (`""` for market).
    #[serde(default, borrow)]
    pub px: Cow<'a, str>,
    /// Size.
    #[serde(borrow)]
    pub sz: Cow<'a, str>,
    /// `buy` / `sell`.
    #[serde(borrow)]
    pub side: Cow<'a, str>,
    /// Cumulative filled size.
    #[serde(rename = "accFillSz", default, borrow)]
    pub acc_fill_sz: Cow<'a, str>,
    /// Average fill price (`""` before fills).
    #[serde(rename = "avgPx", default, borrow)]
    pub avg_px: Cow<'a, str>,
    /// `live`, `partially_filled`, `filled`, `canceled`, `mmp_canceled`.
    #[serde(borrow)]
    pub state: Cow<'a, str>,
}

/// `{"code","msg","data":[order]}` of a query.
#[derive(Debug, Deserialize)]
pub struct OrderReply<'a> {
    /// Code.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// Message.
    #[serde(default, borrow)]
    pub msg: Cow<'a, str>,
    /// The order.
    #[serde(default, borrow)]
    pub data: First<OrderBody<'a>>,
}

/// `{"code","msg","data":[orders]}` of `orders-pending`.
#[derive(Debug, Deserialize)]
pub struct OrdersReply<'a> {
    /// Code.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// Message.
    #[serde(default, borrow)]
    pub msg: Cow<'a, str>,
    /// Orders.
    #[serde(default, borrow)]
    pub data: Vec<OrderBody<'a>>,
}

/// One of `GET /api/v5/trade/fills`.
#[derive(Debug, Deserialize)]
pub struct FillBody<'a> {
    /// `BTC-USDT`.
    #[serde(rename = "instId", borrow)]
    pub inst_id: Cow<'a, str>,
    /// Trade id.
    #[serde(rename = "tradeId", borrow)]
    pub trade_id: Cow<'a, str>,
    /// Venue order id.
    #[serde(rename = "ordId", borrow)]
    pub ord_id: Cow<'a, str>,
    /// Client order id.
    #[serde(rename = "clOrdId", default, borrow)]
    pub cl_ord_id: Cow<'a, str>,
    /// Price.
    #[serde(rename = "fillPx", borrow)]
    pub fill_px: Cow<'a, str>,
    /// Size.
    #[serde(rename = "fillSz", borrow)]
    pub fill_sz: Cow<'a, str>,
    /// `buy` / `sell`.
    #[serde(borrow)]
    pub side: Cow<'a, str>,
    /// `T` taker, `M` maker.
    #[serde(rename = "execType", default, borrow)]
    pub exec_type: Cow<'a, str>,
    /// Fee (negative = paid).
    #[serde(default, borrow)]
    pub fee: Cow<'a, str>,
    /// Fee currency.
    #[serde(rename = "feeCcy", default, borrow)]
    pub fee_ccy: Cow<'a, str>,
    /// Fill time, ms.
    #[serde(rename = "fillTime", default, borrow)]
    pub fill_time: Cow<'a, str>,
}

/// `{"code","msg","data":[fills]}`.
#[derive(Debug, Deserialize)]
pub struct FillsReply<'a> {
    /// Code.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// Message.
    #[serde(default, borrow)]
    pub msg: Cow<'a, str>,
    /// Fills, newest first.
    #[serde(default, borrow)]
    pub data: Vec<FillBody<'a>>,
}

/// One currency of the balance.
#[derive(Debug, Deserialize)]
pub struct BalanceDetail<'a> {
    /// Currency.
    #[serde(borrow)]
    pub ccy: Cow<'a, str>,
    /// Available.
    #[serde(rename = "availBal", default, borrow)]
    pub avail_bal: Cow<'a, str>,
    /// Frozen (in orders).
    #[serde(rename = "frozenBal", default, borrow)]
    pub frozen_bal: Cow<'a, str>,
}

/// One account of `GET /api/v5/account/balance`.
#[derive(Debug, Deserialize)]
pub struct BalanceBody<'a> {
    /// Per currency.
    #[serde(default, borrow)]
    pub details: Vec<BalanceDetail<'a>>,
}

/// `{"code","msg","data":[account]}`.
#[derive(Debug, Deserialize)]
pub struct BalanceReply<'a> {
    /// Code.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// Message.
    #[serde(default, borrow)]
    pub msg: Cow<'a, str>,
    /// The account.
    #[serde(default, borrow)]
    pub data: First<BalanceBody<'a>>,
}

/// `{"ts":"…"}` of `GET /api/v5/public/time`.
#[derive(Debug, Deserialize)]
pub struct TimeItem<'a> {
    /// Server time, ms, as a string.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
}

/// `GET /api/v5/public/time`.
#[derive(Debug, Deserialize)]
pub struct TimeReply<'a> {
    /// The item.
    #[serde(default, borrow)]
    pub data: First<TimeItem<'a>>,
}

/// One instrument of `GET /api/v5/public/instruments` (B.4 of the market-data notes).
#[derive(Debug, Deserialize)]
pub struct InstrumentBody<'a> {
    /// `BTC-USDT`.
    #[serde(rename = "instId", borrow)]
    pub inst_id: Cow<'a, str>,
    /// Price tick.
    #[serde(rename = "tickSz", default, borrow)]
    pub tick_sz: Cow<'a, str>,
    /// Size step.
    #[serde(rename = "lotSz", default, borrow)]
    pub lot_sz: Cow<'a, str>,
    /// Minimum size.
    #[serde(rename = "minSz", default, borrow)]
    pub min_sz: Cow<'a, str>,
    /// `live`, `suspend`, `preopen`, `test`.
    #[serde(default, borrow)]
    pub state: Cow<'a, str>,
}

/// `GET /api/v5/public/instruments`.
#[derive(Debug, Deserialize)]
pub struct InstrumentsReply<'a> {
    /// `"0"` on success.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// Message.
    #[serde(default, borrow)]
    pub msg: Cow<'a, str>,
    /// Instruments.
    #[serde(default, borrow)]
    pub data: Vec<InstrumentBody<'a>>,
}

/// OKX order state → life-cycle state (B.4). A `canceled` IOC with fills is still Canceled:
/// the executed quantity says how much traded.
pub fn state_of(state: &str, executed: i64) -> Option<OrderState> {
    Some(match state {
        "live" if executed > 0 => OrderState::Partial,
        "live" => OrderState::Acked,
        "partially_filled" => OrderState::Partial,
        "filled" => OrderState::Filled,
        "canceled" | "mmp_canceled" => OrderState::Canceled,
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

/// Classifies an OKX error code (B.6) and message.
pub fn refusal_of(code: &str, msg: &str) -> Refusal {
    match code {
        "51008" => Refusal::InsufficientBalance,
        "50102" => Refusal::Clock,
        "50100" | "50101" | "50103" | "50104" | "50105" | "50106" | "50107" | "50111" | "50112"
        | "50113" => Refusal::Auth,
        "50011" | "50061" => Refusal::RateLimited,
        "51016" => Refusal::Duplicate,
        "51001" => Refusal::Instrument,
        "51400" | "51401" | "51402" | "51603" => Refusal::NotFound,
        _ if msg.contains("Post only") || msg.contains("post_only") => Refusal::WouldTake,
        "51000" | "51020" | "51121" => Refusal::Filter,
        _ => Refusal::Other,
    }
}

/// Whether an OKX code leaves an operation's outcome unknown: `50004` "Endpoint request
/// timeout (does not indicate success or failure of order)", `50001` service temporarily
/// unavailable, `50013` system busy.
pub fn is_unknown(code: &str) -> bool {
    matches!(code, "50004" | "50001" | "50013")
}

/// The error for a failed answer: HTTP status, top-level code/msg, and the item's sCode/sMsg
/// when there is one (they decide, B.2).
pub fn error_of(
    op: &'static str,
    status: u16,
    code: &str,
    msg: &str,
    item: Option<(&str, &str)>,
) -> VenueError {
    let (code, msg) = match item {
        Some((c, m)) if !c.is_empty() && c != "0" => (c, m),
        _ => (code, msg),
    };
    if status >= 500 || is_unknown(code) {
        return VenueError::Unknown {
            venue: VENUE,
            op,
            reason: format!("HTTP {status} code {code}: {}", msg.trim_end()),
        };
    }
    let kind = if status == 429 {
        Refusal::RateLimited
    } else {
        refusal_of(code, msg)
    };
    VenueError::Refused {
        venue: VENUE,
        op,
        code: code.to_owned(),
        kind,
        reason: msg.trim_end().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::ErrorClass;

    #[test]
    fn a_failed_place_parses_and_classifies() {
        let body = br#"{"code":"1","data":[{"clOrdId":"abc","ordId":"","sCode":"51008","sMsg":"Order failed. Insufficient USDT balance in account. ","subCode":"1000","tag":"","ts":"1"}],"inTime":"1","msg":"All operations failed","outTime":"2"}"#;
        let r: AckReply<'_> = serde_json::from_slice(body).unwrap();
        let it = r.data.0.as_ref().unwrap();
        let e = error_of("place", 200, &r.code, &r.msg, Some((&it.s_code, &it.s_msg)));
        assert_eq!(e.refusal(), Some(Refusal::InsufficientBalance));
        assert_eq!(e.class(), ErrorClass::Reject);
        let e = error_of("place", 503, "50004", "Endpoint request timeout.", None);
        assert_eq!(e.class(), ErrorClass::Unknown);
        let e = error_of("place", 401, "50113", "Invalid Sign", None);
        assert_eq!(e.refusal(), Some(Refusal::Auth));
        let e = error_of(
            "place",
            200,
            "1",
            "x",
            Some(("51016", "Duplicated clOrdId.")),
        );
        assert_eq!(
            e.class(),
            ErrorClass::Unknown,
            "maybe our own earlier attempt"
        );
        let r: AckReply<'_> = serde_json::from_slice(
            br#"{"code":"51000","data":[],"msg":"Parameter clOrdId error"}"#,
        )
        .unwrap();
        assert!(r.data.0.is_none());
    }

    #[test]
    fn states() {
        assert_eq!(state_of("live", 0), Some(OrderState::Acked));
        assert_eq!(state_of("partially_filled", 1), Some(OrderState::Partial));
        assert_eq!(state_of("mmp_canceled", 0), Some(OrderState::Canceled));
        assert_eq!(state_of("weird", 0), None);
    }
}
