//! [`OrderEntry`] for the Binance Spot client ([`BinanceRest`]): the same signed REST calls the
//! OMS makes (PROTOCOLS-ORDERS A.1-A.3), answers turned into venue-neutral reports and Binance
//! codes into the [`Refusal`] / unknown classes.

use lyra_shm::msg::{OrderIntent, Side};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::{IdText, OrderEntry, OrderReport, Placed, Refusal, SymbolRules, VenueError, VenueFill};
use crate::{
    binance::{
        response::{mantissa, state_of, AccountBody, ApiErrorBody, ExchangeInfoBody, RejectKind},
        BinanceRest, Method, SymbolSpec,
    },
    clordid::ClOrdId,
    http::Response,
    manager::Balance,
};

const VENUE: &str = "binance";

/// An order as place (RESULT/FULL), query, cancel and openOrders return it: the fields a
/// venue-neutral report needs.
#[derive(Debug, Deserialize)]
struct OrderFields<'a> {
    #[serde(rename = "orderId")]
    order_id: u64,
    #[serde(rename = "clientOrderId")]
    client_order_id: &'a str,
    #[serde(rename = "origClientOrderId", default)]
    orig_client_order_id: Option<&'a str>,
    #[serde(default)]
    price: Option<&'a str>,
    #[serde(rename = "origQty", default)]
    orig_qty: Option<&'a str>,
    #[serde(rename = "executedQty", default)]
    executed_qty: Option<&'a str>,
    #[serde(rename = "cummulativeQuoteQty", default)]
    cum_quote_qty: Option<&'a str>,
    #[serde(default)]
    status: Option<&'a str>,
    #[serde(default)]
    side: Option<&'a str>,
}

/// One of `myTrades`.
#[derive(Debug, Deserialize)]
struct TradeFields<'a> {
    id: u64,
    #[serde(rename = "orderId")]
    order_id: u64,
    price: &'a str,
    qty: &'a str,
    commission: &'a str,
    #[serde(rename = "commissionAsset")]
    commission_asset: &'a str,
    #[serde(rename = "isBuyer")]
    is_buyer: bool,
    #[serde(rename = "isMaker", default)]
    is_maker: bool,
    #[serde(default)]
    time: u64,
}

fn id_of(v: u64) -> IdText {
    let mut b = Vec::with_capacity(20);
    super::push_u64(&mut b, v);
    // Digits only: always a valid id.
    IdText::new(std::str::from_utf8(&b).unwrap_or("0")).unwrap_or_default()
}

fn malformed(op: &'static str, status: u16, reason: impl std::fmt::Display) -> VenueError {
    VenueError::Malformed {
        venue: VENUE,
        op,
        status,
        reason: reason.to_string(),
    }
}

/// Classifies a Binance error answer (A.1, PROTOCOLS a.5).
pub fn error_of(op: &'static str, status: u16, body: &[u8]) -> VenueError {
    if status >= 500 {
        return VenueError::Unknown {
            venue: VENUE,
            op,
            reason: format!("HTTP {status}"),
        };
    }
    let Ok(e) = serde_json::from_slice::<ApiErrorBody<'_>>(body) else {
        if status == 429 || status == 418 {
            return VenueError::Refused {
                venue: VENUE,
                op,
                code: status.to_string(),
                kind: Refusal::RateLimited,
                reason: "rate limited".into(),
            };
        }
        return malformed(op, status, "not a Binance error body");
    };
    if e.code == -1007 {
        return VenueError::Unknown {
            venue: VENUE,
            op,
            reason: format!("{}: {}", e.code, e.msg),
        };
    }
    let kind = match (status, e.code) {
        (429 | 418, _) | (_, -1003 | -1015) => Refusal::RateLimited,
        (_, -2010) => match RejectKind::of(e.msg) {
            RejectKind::Duplicate => Refusal::Duplicate,
            RejectKind::InsufficientBalance => Refusal::InsufficientBalance,
            RejectKind::WouldTake => Refusal::WouldTake,
            RejectKind::None | RejectKind::Other => Refusal::Other,
        },
        (_, -2011 | -2013) => Refusal::NotFound,
        (_, -1021) => Refusal::Clock,
        (_, -1022 | -2014 | -2015) => Refusal::Auth,
        (_, -1121) => Refusal::Instrument,
        (_, -1013 | -1111 | -1100 | -1102 | -1106) => Refusal::Filter,
        _ => Refusal::Other,
    };
    VenueError::Refused {
        venue: VENUE,
        op,
        code: e.code.to_string(),
        kind,
        reason: e.msg.to_owned(),
    }
}

/// A Binance order as a venue-neutral report at the symbol's scales.
fn report_of(spec: &SymbolSpec, o: &OrderFields<'_>) -> Result<OrderReport, String> {
    let bad = |what: &str| format!("order {}: bad {what}", o.order_id);
    let num = |t: Option<&str>, scale: u8, what: &str| match t {
        None => Ok(0),
        Some(t) => mantissa(t, scale).ok_or_else(|| bad(what)),
    };
    let executed = num(o.executed_qty, spec.qty_scale, "executedQty")?;
    // The average price is cummulativeQuoteQty / executedQty, truncated to the price scale.
    let avg_px = match (o.cum_quote_qty, executed) {
        (Some(q), e) if e > 0 => {
            let quote = q
                .parse::<Decimal>()
                .map_err(|_| bad("cummulativeQuoteQty"))?;
            let avg = quote / Decimal::new(e, u32::from(spec.qty_scale));
            let m = (avg * Decimal::from(10i64.pow(u32::from(spec.px_scale)))).trunc();
            i64::try_from(m).map_err(|_| bad("average price"))?
        }
        _ => 0,
    };
    Ok(OrderReport {
        order_id: id_of(o.order_id),
        client_id: IdText::new(o.orig_client_order_id.unwrap_or(o.client_order_id))
            .unwrap_or_default(),
        state: state_of(o.status.unwrap_or("NEW")).ok_or_else(|| bad("status"))?,
        side: match o.side {
            Some("SELL") => Side::Sell,
            Some("BUY") => Side::Buy,
            _ => return Err(bad("side")),
        },
        px: num(o.price, spec.px_scale, "price")?,
        qty: num(o.orig_qty, spec.qty_scale, "origQty")?,
        executed,
        avg_px,
    })
}

/// Status and body of an answer, or the transport error in the OMS classes.
fn answer<'a>(
    op: &'static str,
    r: Result<Response<'a>, crate::http::HttpError>,
) -> Result<(u16, &'a [u8]), VenueError> {
    r.map(|r| (r.status, r.body))
        .map_err(|e| VenueError::from_http(VENUE, op, &e))
}

impl OrderEntry for BinanceRest {
    fn venue_name(&self) -> &'static str {
        VENUE
    }

    /// Binance refuses a request older than its `recvWindow` by the venue's clock (-1021).
    fn request_life_ms(&self) -> u64 {
        u64::from(self.recv_window_ms())
    }

    fn warm(&mut self) -> Result<i64, VenueError> {
        BinanceRest::warm(self).map_err(|e| VenueError::from_http(VENUE, "warm", &e))
    }

    fn place(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<Placed, VenueError> {
        const OP: &str = "place";
        let ts = self.server_ms();
        self.prepare_order(spec, intent, px, qty, clordid, false, ts);
        let (status, body) = answer(OP, self.send_prepared())?;
        if status != 200 {
            return Err(error_of(OP, status, body));
        }
        let o = serde_json::from_slice::<OrderFields<'_>>(body)
            .map_err(|e| malformed(OP, status, e))?;
        let report = report_of(spec, &o).map_err(|e| malformed(OP, status, e))?;
        Ok(Placed {
            order_id: report.order_id,
            report: Some(report),
        })
    }

    fn query(
        &mut self,
        spec: &SymbolSpec,
        clordid: &str,
        _order_id: Option<&IdText>,
    ) -> Result<OrderReport, VenueError> {
        const OP: &str = "query";
        let params = [
            ("symbol", spec.symbol.as_str()),
            ("origClientOrderId", clordid),
        ];
        let (status, body) = answer(OP, self.call(Method::Get, "/api/v3/order", &params, true))?;
        if status != 200 {
            return Err(error_of(OP, status, body));
        }
        let o = serde_json::from_slice::<OrderFields<'_>>(body)
            .map_err(|e| malformed(OP, status, e))?;
        report_of(spec, &o).map_err(|e| malformed(OP, status, e))
    }

    fn cancel(&mut self, spec: &SymbolSpec, clordid: &str) -> Result<(), VenueError> {
        const OP: &str = "cancel";
        let params = [
            ("symbol", spec.symbol.as_str()),
            ("origClientOrderId", clordid),
        ];
        let (status, body) = answer(
            OP,
            self.call(Method::Delete, "/api/v3/order", &params, true),
        )?;
        if status != 200 {
            return Err(error_of(OP, status, body));
        }
        Ok(())
    }

    fn open_orders(&mut self, spec: &SymbolSpec) -> Result<Vec<OrderReport>, VenueError> {
        const OP: &str = "open orders";
        let params = [("symbol", spec.symbol.as_str())];
        let (status, body) = answer(
            OP,
            self.call(Method::Get, "/api/v3/openOrders", &params, true),
        )?;
        if status != 200 {
            return Err(error_of(OP, status, body));
        }
        serde_json::from_slice::<Vec<OrderFields<'_>>>(body)
            .map_err(|e| malformed(OP, status, e))?
            .iter()
            .map(|o| report_of(spec, o).map_err(|e| malformed(OP, status, e)))
            .collect()
    }

    fn fills(
        &mut self,
        spec: &SymbolSpec,
        order_id: &IdText,
    ) -> Result<Vec<VenueFill>, VenueError> {
        const OP: &str = "fills";
        let params = [
            ("symbol", spec.symbol.as_str()),
            ("orderId", order_id.as_str()),
        ];
        let (status, body) = answer(
            OP,
            self.call(Method::Get, "/api/v3/myTrades", &params, true),
        )?;
        if status != 200 {
            return Err(error_of(OP, status, body));
        }
        let trades = serde_json::from_slice::<Vec<TradeFields<'_>>>(body)
            .map_err(|e| malformed(OP, status, e))?;
        let mut out = Vec::with_capacity(trades.len());
        for t in trades.iter().filter(|t| id_of(t.order_id) == *order_id) {
            let bad = |what: &str| malformed(OP, status, format!("trade {}: bad {what}", t.id));
            out.push(VenueFill {
                trade_id: id_of(t.id),
                order_id: id_of(t.order_id),
                client_id: IdText::default(),
                side: if t.is_buyer { Side::Buy } else { Side::Sell },
                px: mantissa(t.price, spec.px_scale).ok_or_else(|| bad("price"))?,
                qty: mantissa(t.qty, spec.qty_scale).ok_or_else(|| bad("qty"))?,
                fee: t.commission.to_owned(),
                fee_asset: t.commission_asset.to_owned(),
                maker: t.is_maker,
                time_ms: t.time,
            });
        }
        Ok(out)
    }

    fn balances(&mut self) -> Result<Vec<Balance>, VenueError> {
        const OP: &str = "balance";
        let (status, body) = answer(
            OP,
            self.call(
                Method::Get,
                "/api/v3/account",
                &[("omitZeroBalances", "true")],
                true,
            ),
        )?;
        if status != 200 {
            return Err(error_of(OP, status, body));
        }
        let a = serde_json::from_slice::<AccountBody<'_>>(body)
            .map_err(|e| malformed(OP, status, e))?;
        a.balances
            .iter()
            .map(|b| match (b.free.parse(), b.locked.parse()) {
                (Ok(free), Ok(locked)) => Ok(Balance {
                    asset: b.asset.to_owned(),
                    free,
                    locked,
                }),
                _ => Err(malformed(OP, status, format!("{}: bad amount", b.asset))),
            })
            .collect()
    }

    /// `POST /api/v3/order/test`: validated by the venue, never matched.
    fn check_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<bool, VenueError> {
        const OP: &str = "test order";
        let ts = self.server_ms();
        self.prepare_order(spec, intent, px, qty, clordid, true, ts);
        let (status, body) = answer(OP, self.send_prepared())?;
        if status != 200 {
            return Err(error_of(OP, status, body));
        }
        Ok(true)
    }

    /// `GET /api/v3/exchangeInfo?symbol=`: the symbol's filters and TRADING status.
    fn symbol_rules(&mut self, spec: &SymbolSpec) -> Result<SymbolRules, VenueError> {
        const OP: &str = "exchange info";
        let params = [("symbol", spec.symbol.as_str())];
        let (status, body) = answer(
            OP,
            self.call(Method::Get, "/api/v3/exchangeInfo", &params, false),
        )?;
        if status != 200 {
            return Err(error_of(OP, status, body));
        }
        let info = serde_json::from_slice::<ExchangeInfoBody<'_>>(body)
            .map_err(|e| malformed(OP, status, e))?;
        let s = info
            .symbols
            .iter()
            .find(|s| s.symbol == spec.symbol)
            .ok_or_else(|| malformed(OP, status, format!("{} not listed", spec.symbol)))?;
        Ok(SymbolRules {
            filters: crate::manager::filters_of(s),
            trading: s.status == "TRADING",
        })
    }

    fn sync_time(&mut self) -> Result<i64, VenueError> {
        BinanceRest::sync_time(self).map_err(|e| VenueError::from_http(VENUE, "time", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{binance::Filters, venue::ErrorClass};
    use lyra_shm::msg::{InstrumentIdx, OrderState};

    #[test]
    fn binance_codes_map_to_classes() {
        let e = |status: u16, body: &str| error_of("place", status, body.as_bytes());
        assert_eq!(
            e(400, r#"{"code":-2010,"msg":"Duplicate order sent."}"#).class(),
            ErrorClass::Unknown
        );
        assert_eq!(
            e(
                400,
                r#"{"code":-2010,"msg":"Account has insufficient balance for requested action."}"#
            )
            .refusal(),
            Some(Refusal::InsufficientBalance)
        );
        assert_eq!(
            e(400, r#"{"code":-1007,"msg":"Timeout"}"#).class(),
            ErrorClass::Unknown
        );
        assert_eq!(e(503, "").class(), ErrorClass::Unknown);
        assert_eq!(
            e(
                400,
                r#"{"code":-1021,"msg":"Timestamp outside recvWindow"}"#
            )
            .refusal(),
            Some(Refusal::Clock)
        );
        assert_eq!(
            e(429, r#"{"code":-1003,"msg":"Too many requests"}"#).refusal(),
            Some(Refusal::RateLimited)
        );
        assert_eq!(
            e(400, r#"{"code":-2013,"msg":"Order does not exist."}"#).refusal(),
            Some(Refusal::NotFound)
        );
    }

    #[test]
    fn a_full_reply_becomes_a_report() {
        let spec = SymbolSpec {
            instrument: InstrumentIdx(0),
            symbol: "BTCUSDT".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            px_scale: 2,
            qty_scale: 5,
            filters: Filters::default(),
            trading: true,
        };
        let body = br#"{"symbol":"BTCUSDT","orderId":28,"clientOrderId":"abc","price":"60000.00","origQty":"0.50000000","executedQty":"0.30000000","cummulativeQuoteQty":"18000.01","status":"PARTIALLY_FILLED","side":"BUY","fills":[]}"#;
        let o: OrderFields<'_> = serde_json::from_slice(body).unwrap();
        let r = report_of(&spec, &o).unwrap();
        assert_eq!(r.order_id.as_str(), "28");
        assert_eq!(
            (r.state, r.px, r.qty, r.executed, r.avg_px),
            (OrderState::Partial, 6_000_000, 50_000, 30_000, 6_000_003)
        );
    }
}
