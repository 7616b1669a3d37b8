//! Binance REST response bodies (PROTOCOLS-ORDERS A.1-A.4), parsed with serde into borrowed
//! typed fields (no value tree), decimals straight to mantissas.

use lyra_shm::{decimal::parse_mantissa, msg::OrderState};
use serde::Deserialize;

use crate::venue::Few;

/// Fills of a place answer kept inline (a FULL answer lists one per trade; more than this
/// many come from `myTrades`).
pub const FILLS_INLINE: usize = 8;

/// `{"code":-2013,"msg":"Order does not exist."}`.
#[derive(Debug, Deserialize)]
pub struct ApiErrorBody<'a> {
    /// Negative error code.
    pub code: i32,
    /// Message.
    #[serde(borrow)]
    pub msg: &'a str,
}

/// What a -2010 refusal was about (from its message).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// Not a -2010.
    None = 0,
    /// "Duplicate order sent.": an open order already has this client id.
    Duplicate = 1,
    /// "Account has insufficient balance for requested action."
    InsufficientBalance = 2,
    /// "Order would immediately match and take." (LIMIT_MAKER)
    WouldTake = 3,
    /// Anything else.
    Other = 4,
}

impl RejectKind {
    /// Classifies a -2010 message.
    pub fn of(msg: &str) -> Self {
        if msg.contains("Duplicate order") {
            Self::Duplicate
        } else if msg.contains("insufficient balance") {
            Self::InsufficientBalance
        } else if msg.contains("immediately match") {
            Self::WouldTake
        } else {
            Self::Other
        }
    }
}

/// One fill of a FULL response.
#[derive(Debug, Deserialize)]
pub struct FillBody<'a> {
    /// Price.
    pub price: &'a str,
    /// Quantity.
    pub qty: &'a str,
    /// Commission.
    pub commission: &'a str,
    /// Commission asset.
    #[serde(rename = "commissionAsset")]
    pub commission_asset: &'a str,
    /// Trade id.
    #[serde(rename = "tradeId")]
    pub trade_id: u64,
}

/// An order as place (ACK/RESULT/FULL), query, cancel and openOrders return it.
#[derive(Debug, Deserialize)]
pub struct OrderBody<'a> {
    /// Symbol.
    pub symbol: &'a str,
    /// Venue order id.
    #[serde(rename = "orderId")]
    pub order_id: u64,
    /// Client order id (on a cancel reply: the cancel's id).
    #[serde(rename = "clientOrderId")]
    pub client_order_id: &'a str,
    /// On a cancel reply: the cancelled order's client id.
    #[serde(rename = "origClientOrderId", default)]
    pub orig_client_order_id: Option<&'a str>,
    /// Status (absent in ACK).
    #[serde(default)]
    pub status: Option<&'a str>,
    /// Cumulative filled quantity.
    #[serde(rename = "executedQty", default)]
    pub executed_qty: Option<&'a str>,
    /// Side.
    #[serde(default)]
    pub side: Option<&'a str>,
    /// FULL fills: the first [`FILLS_INLINE`] kept inline, so a place answer parses without
    /// allocating; the OMS reads an order's further trades from `myTrades` (its filled quantity
    /// stays short of `executedQty` until it has them all).
    #[serde(default, borrow)]
    pub fills: Few<FillBody<'a>, FILLS_INLINE>,
}

/// One of `myTrades`.
#[derive(Debug, Deserialize)]
pub struct TradeBody<'a> {
    /// Trade id.
    pub id: u64,
    /// Venue order id.
    #[serde(rename = "orderId")]
    pub order_id: u64,
    /// Price.
    pub price: &'a str,
    /// Quantity.
    pub qty: &'a str,
    /// Commission.
    pub commission: &'a str,
    /// Commission asset.
    #[serde(rename = "commissionAsset")]
    pub commission_asset: &'a str,
    /// Whether we bought.
    #[serde(rename = "isBuyer")]
    pub is_buyer: bool,
}

/// One balance of `account`.
#[derive(Debug, Deserialize)]
pub struct BalanceBody<'a> {
    /// Asset.
    pub asset: &'a str,
    /// Free.
    pub free: &'a str,
    /// Locked in orders.
    pub locked: &'a str,
}

/// `GET /api/v3/account` (the parts preflight and reconciliation use).
#[derive(Debug, Deserialize)]
pub struct AccountBody<'a> {
    /// Trading enabled on the account.
    #[serde(rename = "canTrade")]
    pub can_trade: bool,
    /// Withdrawals enabled on the account.
    #[serde(rename = "canWithdraw", default)]
    pub can_withdraw: bool,
    /// Account permissions (`SPOT`).
    #[serde(default, borrow)]
    pub permissions: Vec<&'a str>,
    /// Balances.
    #[serde(default, borrow)]
    pub balances: Vec<BalanceBody<'a>>,
}

/// `GET /sapi/v1/account/apiRestrictions` (what preflight needs).
#[derive(Debug, Deserialize)]
pub struct RestrictionsBody {
    /// The key may withdraw: refuse LIVE.
    #[serde(rename = "enableWithdrawals")]
    pub enable_withdrawals: bool,
    /// The key may trade spot.
    #[serde(rename = "enableSpotAndMarginTrading")]
    pub enable_spot_and_margin_trading: bool,
    /// Read access.
    #[serde(rename = "enableReading", default)]
    pub enable_reading: bool,
    /// IP-restricted key.
    #[serde(rename = "ipRestrict", default)]
    pub ip_restrict: bool,
}

/// `GET /api/v3/time`.
#[derive(Debug, Deserialize)]
pub struct TimeBody {
    /// Server time, ms.
    #[serde(rename = "serverTime")]
    pub server_time: u64,
}

/// One filter of exchangeInfo (only the keys we use).
#[derive(Debug, Deserialize)]
pub struct FilterBody<'a> {
    /// Filter type.
    #[serde(rename = "filterType")]
    pub filter_type: &'a str,
    /// PRICE_FILTER.
    #[serde(rename = "minPrice", default)]
    pub min_price: Option<&'a str>,
    /// PRICE_FILTER.
    #[serde(rename = "maxPrice", default)]
    pub max_price: Option<&'a str>,
    /// PRICE_FILTER.
    #[serde(rename = "tickSize", default)]
    pub tick_size: Option<&'a str>,
    /// LOT_SIZE.
    #[serde(rename = "minQty", default)]
    pub min_qty: Option<&'a str>,
    /// LOT_SIZE.
    #[serde(rename = "maxQty", default)]
    pub max_qty: Option<&'a str>,
    /// LOT_SIZE.
    #[serde(rename = "stepSize", default)]
    pub step_size: Option<&'a str>,
    /// NOTIONAL / MIN_NOTIONAL.
    #[serde(rename = "minNotional", default)]
    pub min_notional: Option<&'a str>,
    /// NOTIONAL.
    #[serde(rename = "maxNotional", default)]
    pub max_notional: Option<&'a str>,
}

/// One symbol of exchangeInfo.
#[derive(Debug, Deserialize)]
pub struct SymbolBody<'a> {
    /// Symbol.
    pub symbol: &'a str,
    /// TRADING, HALT, BREAK, END_OF_DAY, CANCEL_ONLY.
    pub status: &'a str,
    /// Filters.
    #[serde(default, borrow)]
    pub filters: Vec<FilterBody<'a>>,
}

/// One rate limit of exchangeInfo.
#[derive(Debug, Deserialize)]
pub struct RateLimitBody<'a> {
    /// REQUEST_WEIGHT, ORDERS, RAW_REQUESTS.
    #[serde(rename = "rateLimitType")]
    pub kind: &'a str,
    /// SECOND, MINUTE, DAY.
    pub interval: &'a str,
    /// How many intervals.
    #[serde(rename = "intervalNum")]
    pub interval_num: u32,
    /// Limit.
    pub limit: u32,
}

/// `GET /api/v3/exchangeInfo`.
#[derive(Debug, Deserialize)]
pub struct ExchangeInfoBody<'a> {
    /// Rate limits.
    #[serde(rename = "rateLimits", default, borrow)]
    pub rate_limits: Vec<RateLimitBody<'a>>,
    /// Symbols.
    #[serde(default, borrow)]
    pub symbols: Vec<SymbolBody<'a>>,
}

/// Binance order status -> life-cycle state (A.1).
pub fn state_of(status: &str) -> Option<OrderState> {
    Some(match status {
        "NEW" | "PENDING_NEW" => OrderState::Acked,
        "PARTIALLY_FILLED" => OrderState::Partial,
        "FILLED" => OrderState::Filled,
        "CANCELED" | "PENDING_CANCEL" => OrderState::Canceled,
        "REJECTED" => OrderState::Rejected,
        "EXPIRED" | "EXPIRED_IN_MATCH" => OrderState::Expired,
        _ => return None,
    })
}

/// A decimal string as a mantissa at `scale`.
pub fn mantissa(text: &str, scale: u8) -> Option<i64> {
    parse_mantissa(text.as_bytes(), scale).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_reply_parses() {
        let body = br#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"6gCrw2kRUAF9CvJDGP16IP","transactTime":1507725176595,"price":"0.00000000","origQty":"10.00000000","executedQty":"10.00000000","origQuoteOrderQty":"0.000000","cummulativeQuoteQty":"10.00000000","status":"FILLED","timeInForce":"GTC","type":"MARKET","side":"SELL","workingTime":1507725176595,"selfTradePreventionMode":"NONE","fills":[{"price":"4000.00000000","qty":"1.00000000","commission":"4.00000000","commissionAsset":"USDT","tradeId":56}]}"#;
        let o: OrderBody<'_> = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (o.order_id, o.status, o.fills.len()),
            (28, Some("FILLED"), 1)
        );
        assert_eq!(o.fills[0].trade_id, 56);
        assert_eq!(mantissa(o.fills[0].price, 2), Some(400_000));
        assert_eq!(state_of("EXPIRED_IN_MATCH"), Some(OrderState::Expired));
        let e: ApiErrorBody<'_> =
            serde_json::from_slice(br#"{"code":-2010,"msg":"Duplicate order sent."}"#).unwrap();
        assert_eq!(RejectKind::of(e.msg), RejectKind::Duplicate);
    }
}
