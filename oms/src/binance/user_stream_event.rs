//! User data stream frames (PROTOCOLS-ORDERS A.5/A.6) parsed into fixed-size `Copy` updates for
//! the SPSC ring from the stream thread to the OMS thread. Decimals stay as their exact venue
//! text (the OMS turns them into mantissas with the instrument's scales, as it does for REST
//! bodies), ids and assets are carried inline: no heap, nothing borrowed from the frame.

use std::fmt;

use lyra_shm::msg::OrderState;
use serde::Deserialize;

use super::response::state_of;

/// Inline ASCII text of at most `N` bytes (client ids, decimals, assets, symbols).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Text<const N: usize> {
    len: u8,
    buf: [u8; N],
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self {
            len: 0,
            buf: [0; N],
        }
    }
}

impl<const N: usize> Text<N> {
    /// `s` inline, or `None` when it is longer than `N` bytes (or than 255).
    pub fn new(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() > N || b.len() > u8::MAX as usize {
            return None;
        }
        let mut t = Self::default();
        t.buf[..b.len()].copy_from_slice(b);
        t.len = b.len() as u8;
        Some(t)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Built only from a `&str` cut at its own length.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A client order id (Binance allows 36 characters).
pub type IdText = Text<36>;
/// A decimal as the venue wrote it.
pub type DecText = Text<40>;
/// An asset or symbol name.
pub type NameText = Text<20>;

/// `x`: what happened to the order (A.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecType {
    /// Accepted onto the book.
    New,
    /// Cancelled.
    Canceled,
    /// Replaced (cancel-replace).
    Replaced,
    /// Rejected.
    Rejected,
    /// A fill.
    Trade,
    /// Expired (IOC/FOK remainder, maintenance).
    Expired,
    /// Expired by self-trade prevention.
    TradePrevention,
    /// A type this client does not know (applied by its status only).
    Other,
}

impl ExecType {
    fn of(s: &str) -> Self {
        match s {
            "NEW" => Self::New,
            "CANCELED" => Self::Canceled,
            "REPLACED" => Self::Replaced,
            "REJECTED" => Self::Rejected,
            "TRADE" => Self::Trade,
            "EXPIRED" => Self::Expired,
            "TRADE_PREVENTION" => Self::TradePrevention,
            _ => Self::Other,
        }
    }
}

/// One order report of a private stream, the fields the OMS uses: Binance's `executionReport`
/// (the field letters below), OKX's `orders` push and Kraken's `executions` report map onto it
/// (see `okx::private_stream`, `kraken::private_stream`), so one apply path serves all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionUpdate {
    /// `E`: event time, venue ms.
    pub event_ms: u64,
    /// `s`: symbol.
    pub symbol: NameText,
    /// `c`: client order id (on a cancel: the cancel request's own id).
    pub client_id: IdText,
    /// `C`: on a cancel, the client id of the order cancelled (else empty).
    pub orig_client_id: IdText,
    /// `x`: execution type.
    pub exec_type: ExecType,
    /// `X` mapped to the life cycle (`None`: a status the OMS does not know).
    pub status: Option<OrderState>,
    /// `i`: venue order id (OKX/Kraken: [`crate::venue::trade_key`] of `venue_id`).
    pub order_id: u64,
    /// The venue order id as text: OKX `ordId`, Kraken `order_id` (empty for Binance, whose
    /// ids are numbers).
    pub venue_id: crate::venue::IdText,
    /// `l`: last fill quantity.
    pub last_qty: DecText,
    /// `L`: last fill price.
    pub last_px: DecText,
    /// `z`: cumulative filled quantity.
    pub cum_qty: DecText,
    /// `n`: commission of the last fill.
    pub commission: DecText,
    /// `N`: its asset (empty when `null`).
    pub commission_asset: NameText,
    /// `t`: trade id (`None` when `-1`, i.e. not a fill; OKX `tradeId` and Kraken `trade_id`
    /// as [`crate::venue::trade_key`], the key their REST fills carry).
    pub trade_id: Option<u64>,
}

impl ExecutionUpdate {
    /// The client id of the order this report is about: `C` on a cancel, else `c`.
    pub fn order_client_id(&self) -> &str {
        if self.orig_client_id.is_empty() {
            self.client_id.as_str()
        } else {
            self.orig_client_id.as_str()
        }
    }
}

/// One asset of an `outboundAccountPosition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceUpdate {
    /// `E`: event time, venue ms.
    pub event_ms: u64,
    /// `a`: asset.
    pub asset: NameText,
    /// `f`: free.
    pub free: DecText,
    /// `l`: locked.
    pub locked: DecText,
}

/// What the stream thread hands the OMS thread.
// Ring slots are fixed-size anyway; boxing the large variant would allocate per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserEvent {
    /// An order event.
    Execution(ExecutionUpdate),
    /// One asset's balance after an account change.
    Balance(BalanceUpdate),
    /// Subscription `epoch` is live: events from now on arrive; anything earlier may have been
    /// missed (Binance does not replay), so the OMS polls once to cover the gap.
    Subscribed {
        /// Subscriptions made so far, this one included.
        epoch: u64,
    },
    /// The stream is down (dead, closed or refused): the OMS polls at its normal rate.
    Down {
        /// The subscription that ended.
        epoch: u64,
    },
}

/// A WebSocket API frame: an answer to a request (`id`, `status`, `result` / `error`) or an
/// event (`subscriptionId`, `event`).
#[derive(Debug, Deserialize)]
pub struct WsFrame<'a> {
    /// Request id of an answer.
    #[serde(default, borrow)]
    pub id: Option<IdValue<'a>>,
    /// HTTP-like status of an answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// Result of a successful answer.
    #[serde(default)]
    pub result: Option<WsResult>,
    /// Error of a failed answer.
    #[serde(default)]
    pub error: Option<WsError>,
    /// Subscription an event belongs to.
    #[serde(default, rename = "subscriptionId")]
    pub subscription_id: Option<u64>,
    /// The event.
    #[serde(default, borrow)]
    pub event: Option<EventBody<'a>>,
}

/// A request id as sent: a number or a string.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum IdValue<'a> {
    /// Numeric id.
    Num(u64),
    /// Text id.
    Text(&'a str),
}

/// `result` fields this client uses.
#[derive(Debug, Deserialize)]
pub struct WsResult {
    /// `userDataStream.subscribe*`.
    #[serde(default, rename = "subscriptionId")]
    pub subscription_id: Option<u64>,
    /// `time`.
    #[serde(default, rename = "serverTime")]
    pub server_time: Option<u64>,
}

/// `error` of an answer.
#[derive(Debug, Deserialize)]
pub struct WsError {
    /// Binance error code.
    pub code: i32,
}

/// One balance of `B`.
#[derive(Debug, Deserialize)]
pub struct BalanceBody<'a> {
    /// Asset.
    #[serde(borrow)]
    pub a: &'a str,
    /// Free.
    #[serde(borrow)]
    pub f: &'a str,
    /// Locked.
    #[serde(borrow)]
    pub l: &'a str,
}

/// The union of the event fields this client reads (A.6; others are ignored).
#[allow(non_snake_case)] // the venue's one-letter keys, where case matters (`c` vs `C`)
#[derive(Debug, Deserialize)]
pub struct EventBody<'a> {
    /// Event type.
    #[serde(borrow)]
    pub e: &'a str,
    /// Event time.
    #[serde(default)]
    pub E: u64,
    /// Symbol.
    #[serde(default, borrow)]
    pub s: Option<&'a str>,
    /// Client order id.
    #[serde(default, borrow)]
    pub c: Option<&'a str>,
    /// Original client order id.
    #[serde(default, borrow)]
    pub C: Option<&'a str>,
    /// Execution type.
    #[serde(default, borrow)]
    pub x: Option<&'a str>,
    /// Order status.
    #[serde(default, borrow)]
    pub X: Option<&'a str>,
    /// Order id.
    #[serde(default)]
    pub i: Option<u64>,
    /// Last quantity.
    #[serde(default, borrow)]
    pub l: Option<&'a str>,
    /// Cumulative quantity.
    #[serde(default, borrow)]
    pub z: Option<&'a str>,
    /// Last price.
    #[serde(default, borrow)]
    pub L: Option<&'a str>,
    /// Commission.
    #[serde(default, borrow)]
    pub n: Option<&'a str>,
    /// Commission asset.
    #[serde(default, borrow)]
    pub N: Option<&'a str>,
    /// Trade id.
    #[serde(default)]
    pub t: Option<i64>,
    /// Balances.
    #[serde(default, borrow)]
    pub B: Option<Vec<BalanceBody<'a>>>,
}

/// Why an event could not become an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A required field is missing.
    #[error("{event}: field `{field}` missing")]
    Missing {
        /// Event type.
        event: &'static str,
        /// Field.
        field: &'static str,
    },
    /// A text field is longer than the inline capacity.
    #[error("{event}: field `{field}` too long")]
    TooLong {
        /// Event type.
        event: &'static str,
        /// Field.
        field: &'static str,
    },
}

fn text<const N: usize>(
    event: &'static str,
    field: &'static str,
    v: Option<&str>,
) -> Result<Text<N>, EventError> {
    let v = v.ok_or(EventError::Missing { event, field })?;
    Text::new(v).ok_or(EventError::TooLong { event, field })
}

/// `executionReport` -> an update.
///
/// # Errors
/// [`EventError`] naming the field.
pub fn execution(ev: &EventBody<'_>) -> Result<ExecutionUpdate, EventError> {
    const E: &str = "executionReport";
    let x = ev.x.ok_or(EventError::Missing {
        event: E,
        field: "x",
    })?;
    let status = ev.X.ok_or(EventError::Missing {
        event: E,
        field: "X",
    })?;
    Ok(ExecutionUpdate {
        event_ms: ev.E,
        symbol: text(E, "s", ev.s)?,
        client_id: text(E, "c", ev.c)?,
        orig_client_id: text(E, "C", Some(ev.C.unwrap_or("")))?,
        exec_type: ExecType::of(x),
        status: state_of(status),
        order_id: ev.i.ok_or(EventError::Missing {
            event: E,
            field: "i",
        })?,
        venue_id: crate::venue::IdText::default(),
        last_qty: text(E, "l", ev.l)?,
        last_px: text(E, "L", ev.L)?,
        cum_qty: text(E, "z", ev.z)?,
        commission: text(E, "n", Some(ev.n.unwrap_or("0")))?,
        commission_asset: text(E, "N", Some(ev.N.unwrap_or("")))?,
        trade_id: ev.t.and_then(|t| u64::try_from(t).ok()),
    })
}

/// `outboundAccountPosition` -> one update per asset, handed to `out`.
///
/// # Errors
/// [`EventError`] naming the field (nothing is handed out then).
pub fn balances(ev: &EventBody<'_>, mut out: impl FnMut(BalanceUpdate)) -> Result<(), EventError> {
    const E: &str = "outboundAccountPosition";
    let list = ev.B.as_deref().ok_or(EventError::Missing {
        event: E,
        field: "B",
    })?;
    let one = |b: &BalanceBody<'_>| -> Result<BalanceUpdate, EventError> {
        Ok(BalanceUpdate {
            event_ms: ev.E,
            asset: text(E, "a", Some(b.a))?,
            free: text(E, "f", Some(b.f))?,
            locked: text(E, "l", Some(b.l))?,
        })
    };
    // All or nothing: check every asset before handing any out.
    for b in list {
        one(b)?;
    }
    for b in list {
        out(one(b)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A.6 `executionReport` (the documented example: a NEW limit order).
    const NEW: &str = r#"{"subscriptionId":0,"event":{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"NEW","X":"NEW","r":"NONE","i":4293153,"l":"0.00000000","z":"0.00000000","L":"0.00000000","n":"0","N":null,"T":1499405658657,"t":-1,"v":3,"I":8641984,"w":true,"m":false,"M":false,"O":1499405658657,"Z":"0.00000000","Y":"0.00000000","Q":"0.00000000","W":1499405658657,"V":"NONE"}}"#;

    /// The same order's partial fill (A.6 fields `l`, `L`, `n`, `N`, `t`, `z`).
    const TRADE: &str = r#"{"subscriptionId":0,"event":{"e":"executionReport","E":1499405658700,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE","i":4293153,"l":"0.40000000","z":"0.40000000","L":"0.10264410","n":"0.00040000","N":"ETH","T":1499405658699,"t":77,"I":8641985,"w":true,"m":true,"M":false,"O":1499405658657,"Z":"0.04105764","Y":"0.04105764","Q":"0.00000000","W":1499405658657,"V":"NONE"}}"#;

    /// A cancel: `c` is the cancel's id, `C` the order's.
    const CANCEL: &str = r#"{"subscriptionId":0,"event":{"e":"executionReport","E":1499405659000,"s":"ETHBTC","c":"cancel-1","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"mUvoqJxFIILMdfAW5iGSOW","x":"CANCELED","X":"CANCELED","r":"NONE","i":4293153,"l":"0.00000000","z":"0.40000000","L":"0.00000000","n":"0","N":null,"T":1499405658999,"t":-1,"I":8641986,"w":false,"m":false,"M":false,"O":1499405658657,"Z":"0.04105764","Y":"0.00000000","Q":"0.00000000","V":"NONE"}}"#;

    /// A.6 `outboundAccountPosition` (documented example, two assets).
    const POSITION: &str = r#"{"subscriptionId":0,"event":{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"},{"a":"BTC","f":"0.5","l":"0.1"}]}}"#;

    fn exec(frame: &str) -> ExecutionUpdate {
        let f: WsFrame<'_> = serde_json::from_str(frame).unwrap();
        assert_eq!(f.subscription_id, Some(0));
        execution(f.event.as_ref().unwrap()).unwrap()
    }

    #[test]
    fn new_report() {
        let u = exec(NEW);
        assert_eq!(u.event_ms, 1_499_405_658_658);
        assert_eq!(u.symbol.as_str(), "ETHBTC");
        assert_eq!(u.order_client_id(), "mUvoqJxFIILMdfAW5iGSOW");
        assert_eq!(u.exec_type, ExecType::New);
        assert_eq!(u.status, Some(OrderState::Acked));
        assert_eq!(u.order_id, 4_293_153);
        assert_eq!(u.trade_id, None, "t = -1: not a fill");
        assert_eq!(u.commission_asset.as_str(), "", "N = null");
        assert_eq!(u.cum_qty.as_str(), "0.00000000");
    }

    #[test]
    fn trade_report_carries_the_fill() {
        let u = exec(TRADE);
        assert_eq!(u.exec_type, ExecType::Trade);
        assert_eq!(u.status, Some(OrderState::Partial));
        assert_eq!(u.trade_id, Some(77));
        assert_eq!(
            (
                u.last_qty.as_str(),
                u.last_px.as_str(),
                u.commission.as_str(),
                u.commission_asset.as_str()
            ),
            ("0.40000000", "0.10264410", "0.00040000", "ETH")
        );
        assert_eq!(u.cum_qty.as_str(), "0.40000000");
    }

    #[test]
    fn cancel_report_names_the_cancelled_order() {
        let u = exec(CANCEL);
        assert_eq!(u.exec_type, ExecType::Canceled);
        assert_eq!(u.status, Some(OrderState::Canceled));
        assert_eq!(u.client_id.as_str(), "cancel-1");
        assert_eq!(u.order_client_id(), "mUvoqJxFIILMdfAW5iGSOW");
    }

    #[test]
    fn account_position_gives_one_update_per_asset() {
        let f: WsFrame<'_> = serde_json::from_str(POSITION).unwrap();
        let mut got = Vec::new();
        balances(f.event.as_ref().unwrap(), |b| got.push(b)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (
                got[1].asset.as_str(),
                got[1].free.as_str(),
                got[1].locked.as_str()
            ),
            ("BTC", "0.5", "0.1")
        );
        assert_eq!(got[0].event_ms, 1_564_034_571_105);
    }

    #[test]
    fn answers_parse_and_bad_events_are_errors_not_panics() {
        let f: WsFrame<'_> = serde_json::from_str(
            r#"{"id":3,"status":200,"result":{"subscriptionId":5},"rateLimits":[]}"#,
        )
        .unwrap();
        assert_eq!(f.id, Some(IdValue::Num(3)));
        assert_eq!(f.result.unwrap().subscription_id, Some(5));
        let f: WsFrame<'_> = serde_json::from_str(
            r#"{"id":"x","status":400,"error":{"code":-1022,"msg":"Signature for this request is not valid."}}"#,
        )
        .unwrap();
        assert_eq!(f.error.unwrap().code, -1022);
        let long = NEW.replace("mUvoqJxFIILMdfAW5iGSOW", &"a".repeat(80));
        let f: WsFrame<'_> = serde_json::from_str(&long).unwrap();
        assert_eq!(
            execution(f.event.as_ref().unwrap()),
            Err(EventError::TooLong {
                event: "executionReport",
                field: "c"
            })
        );
        let f: WsFrame<'_> =
            serde_json::from_str(r#"{"subscriptionId":0,"event":{"e":"executionReport","E":1}}"#)
                .unwrap();
        assert!(execution(f.event.as_ref().unwrap()).is_err());
        assert!(serde_json::from_str::<WsFrame<'_>>("{\"event\":").is_err());
    }

    #[test]
    fn updates_are_small_copy_values() {
        fn copy<T: Copy + Send + 'static>() {}
        copy::<UserEvent>();
        assert!(std::mem::size_of::<UserEvent>() <= 512);
    }
}
