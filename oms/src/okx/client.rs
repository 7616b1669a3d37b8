//! The OKX v5 REST client: requests built and signed into reused buffers (no allocation per
//! order after warm-up), one pre-warmed keep-alive HTTPS connection, and the server-time offset
//! the `OK-ACCESS-TIMESTAMP` is taken from (OKX refuses skew over 30 s with `50102`).

use std::{fmt, sync::Arc, time::Duration};

use lyra_shm::{
    clock::Clock,
    decimal::format_canonical,
    msg::{OrdType, OrderIntent, Side, Tif},
};
use rust_decimal::Decimal;

use super::{
    response::{
        error_of, side_of, state_of, AckReply, BalanceReply, FillsReply, InstrumentsReply,
        OrderBody, OrderReply, OrdersReply, TimeReply, VENUE,
    },
    sign::{iso_ms, OkxCredentials},
};
use crate::{
    binance::{response::mantissa, Filters, SymbolSpec},
    clordid::ClOrdId,
    http::{Endpoint, HttpError, HttpsConn},
    manager::Balance,
    venue::{
        mantissa_trunc, push_encoded, push_u64, IdText, OrderReport, SymbolRules, VenueError,
        VenueFill,
    },
};

/// Connection settings for one OKX account.
#[derive(Debug, Clone)]
pub struct OkxConfig {
    /// `https://www.okx.com` or the simulator's URL.
    pub rest_url: String,
    /// Socket timeout for one request (a timeout after the send leaves an order unknown).
    pub timeout: Duration,
    /// Sends `x-simulated-trading: 1` (OKX demo trading with demo keys).
    pub simulated_trading: bool,
}

#[derive(Clone, Copy)]
enum Verb {
    Get,
    Post,
}

impl Verb {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            Verb::Get => b"GET",
            Verb::Post => b"POST",
        }
    }
}

/// Whether `id` satisfies OKX's `clOrdId` rule (B.3): case-sensitive letters and digits, 1-32.
pub fn valid_cl_ord_id(id: &[u8]) -> bool {
    (1..=32).contains(&id.len()) && id.iter().all(u8::is_ascii_alphanumeric)
}

/// OKX v5 REST over one keep-alive connection.
pub struct OkxRest {
    conn: HttpsConn,
    creds: OkxCredentials,
    host_header: String,
    simulated: bool,
    offset_ms: i64,
    path: Vec<u8>,
    body: Vec<u8>,
    req: Vec<u8>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for OkxRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OkxRest")
            .field("host", &self.host_header)
            .field("credentials", &self.creds)
            .field("offset_ms", &self.offset_ms)
            .finish()
    }
}

fn malformed(op: &'static str, status: u16, reason: impl fmt::Display) -> VenueError {
    VenueError::Malformed {
        venue: VENUE,
        op,
        status,
        reason: reason.to_string(),
    }
}

impl OkxRest {
    /// A client (not yet connected: [`OkxRest::warm`] opens the connection and syncs time).
    ///
    /// # Errors
    /// [`HttpError::Config`] for a bad URL.
    pub fn new(
        cfg: &OkxConfig,
        tls: Arc<rustls::ClientConfig>,
        creds: OkxCredentials,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HttpError> {
        let ep = Endpoint::parse(&cfg.rest_url)?;
        let host_header = ep.host_header();
        Ok(Self {
            conn: HttpsConn::new(ep, tls, cfg.timeout)?,
            creds,
            host_header,
            simulated: cfg.simulated_trading,
            offset_ms: 0,
            path: Vec::with_capacity(256),
            body: Vec::with_capacity(512),
            req: Vec::with_capacity(2048),
            clock,
        })
    }

    /// Opens the connection (TLS handshake here, off the order path) and syncs time.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn warm(&mut self) -> Result<i64, VenueError> {
        self.conn
            .connect()
            .map_err(|e| VenueError::from_http(VENUE, "connect", &e))?;
        self.sync_time()
    }

    /// The connection (for counters).
    pub fn conn(&self) -> &HttpsConn {
        &self.conn
    }

    /// Local wall ms.
    pub fn local_ms(&self) -> u64 {
        self.clock.wall_ns() / 1_000_000
    }

    /// Venue time estimate: local wall ms + tracked offset.
    pub fn server_ms(&self) -> u64 {
        (self.local_ms() as i64 + self.offset_ms).max(0) as u64
    }

    /// Server minus local clock, ms.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// `GET /api/v5/public/time`: sets the offset to the server time minus the local midpoint
    /// of the round trip; returns it.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn sync_time(&mut self) -> Result<i64, VenueError> {
        const OP: &str = "time";
        let t0 = self.local_ms();
        self.path.clear();
        self.path.extend_from_slice(b"/api/v5/public/time");
        let (status, body) = self.public_get(OP)?;
        let ts = serde_json::from_slice::<TimeReply<'_>>(body)
            .ok()
            .and_then(|t| t.data.0)
            .and_then(|t| t.ts.parse::<u64>().ok());
        let t1 = self.local_ms();
        match (status, ts) {
            (200, Some(ts)) => {
                self.offset_ms = ts as i64 - ((t0 + t1) / 2) as i64;
                Ok(self.offset_ms)
            }
            _ => Err(malformed(OP, status, "no server time")),
        }
    }

    /// Frames `self.path` / `self.body` as a request; signed (`ts` = the ISO timestamp) unless
    /// `ts` is `None`. Allocation-free once the buffers have grown.
    fn frame(&mut self, verb: Verb, ts: Option<&[u8; 24]>) {
        let r = &mut self.req;
        r.clear();
        r.extend_from_slice(verb.as_bytes());
        r.push(b' ');
        r.extend_from_slice(&self.path);
        r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        r.extend_from_slice(self.host_header.as_bytes());
        if let Some(ts) = ts {
            let sig = self.creds.sign(ts, verb.as_bytes(), &self.path, &self.body);
            r.extend_from_slice(b"\r\nOK-ACCESS-KEY: ");
            r.extend_from_slice(self.creds.api_key().as_bytes());
            r.extend_from_slice(b"\r\nOK-ACCESS-SIGN: ");
            r.extend_from_slice(&sig);
            r.extend_from_slice(b"\r\nOK-ACCESS-TIMESTAMP: ");
            r.extend_from_slice(ts);
            r.extend_from_slice(b"\r\nOK-ACCESS-PASSPHRASE: ");
            r.extend_from_slice(self.creds.passphrase().as_bytes());
        }
        if self.simulated {
            r.extend_from_slice(b"\r\nx-simulated-trading: 1");
        }
        if !self.body.is_empty() {
            r.extend_from_slice(b"\r\nContent-Type: application/json");
        }
        r.extend_from_slice(b"\r\nContent-Length: ");
        push_u64(r, self.body.len() as u64);
        r.extend_from_slice(b"\r\n\r\n");
        r.extend_from_slice(&self.body);
    }

    /// Builds the signed `POST /api/v5/trade/order` for `intent` at the already-quantized `px` /
    /// `qty` mantissas, timestamped `ts_ms` (venue time), into the reused buffer; returns its
    /// bytes (they hold the key and passphrase: never log them). Allocation-free once warm.
    ///
    /// `Limit` maps to `limit` / `ioc` / `fok` by time in force, `LimitMaker` to `post_only`;
    /// a market buy is sized in the base currency (`tgtCcy: base_ccy`), like every Lyra size.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
        ts_ms: u64,
    ) -> &[u8] {
        self.path.clear();
        self.path.extend_from_slice(b"/api/v5/trade/order");
        let b = &mut self.body;
        b.clear();
        b.extend_from_slice(br#"{"instId":""#);
        b.extend_from_slice(spec.symbol.as_bytes());
        b.extend_from_slice(br#"","tdMode":"cash","side":""#);
        b.extend_from_slice(match intent.side {
            Side::Buy => b"buy",
            Side::Sell => b"sell",
        });
        b.extend_from_slice(br#"","ordType":""#);
        b.extend_from_slice(match (intent.ord_type, intent.tif) {
            (OrdType::Market, _) => b"market".as_slice(),
            (OrdType::LimitMaker, _) => b"post_only",
            (OrdType::Limit, Tif::Gtc) => b"limit",
            (OrdType::Limit, Tif::Ioc) => b"ioc",
            (OrdType::Limit, Tif::Fok) => b"fok",
        });
        b.push(b'"');
        if intent.ord_type == OrdType::Market {
            if intent.side == Side::Buy {
                b.extend_from_slice(br#","tgtCcy":"base_ccy""#);
            }
        } else {
            b.extend_from_slice(br#","px":""#);
            b.extend_from_slice(format_canonical(px, spec.px_scale).as_str().as_bytes());
            b.push(b'"');
        }
        b.extend_from_slice(br#","sz":""#);
        b.extend_from_slice(format_canonical(qty, spec.qty_scale).as_str().as_bytes());
        b.extend_from_slice(br#"","clOrdId":""#);
        b.extend_from_slice(clordid.as_bytes());
        b.extend_from_slice(br#""}"#);
        let ts = iso_ms(ts_ms);
        self.frame(Verb::Post, Some(&ts));
        &self.req
    }

    /// Sends the order last built by [`OkxRest::prepare_order`]; `Ok` carries OKX's `ordId`.
    ///
    /// # Errors
    /// [`VenueError`]: [`VenueError::class`] says whether the order may exist.
    pub fn send_order(&mut self) -> Result<IdText, VenueError> {
        self.send_ack("place")
    }

    /// Places an order now (prepare + send, timestamped with the venue-time estimate).
    ///
    /// # Errors
    /// As [`OkxRest::send_order`].
    pub fn place(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<IdText, VenueError> {
        let ts = self.server_ms();
        self.prepare_order(spec, intent, px, qty, clordid, ts);
        self.send_order()
    }

    /// `POST /api/v5/trade/cancel-order` by client id; `Ok` (the `ordId`) means accepted, the
    /// final state comes from a query (B.4).
    ///
    /// # Errors
    /// [`VenueError`]; an order already final or unknown is `Refused` with `NotFound`.
    pub fn cancel(&mut self, spec: &SymbolSpec, clordid: &str) -> Result<IdText, VenueError> {
        self.path.clear();
        self.path.extend_from_slice(b"/api/v5/trade/cancel-order");
        let b = &mut self.body;
        b.clear();
        b.extend_from_slice(br#"{"instId":""#);
        b.extend_from_slice(spec.symbol.as_bytes());
        b.extend_from_slice(br#"","clOrdId":""#);
        push_json_safe(b, clordid.as_bytes());
        b.extend_from_slice(br#""}"#);
        let ts = iso_ms(self.server_ms());
        self.frame(Verb::Post, Some(&ts));
        self.send_ack("cancel")
    }

    fn send_ack(&mut self, op: &'static str) -> Result<IdText, VenueError> {
        let (status, body) = self.roundtrip(op)?;
        let a = serde_json::from_slice::<AckReply<'_>>(body)
            .map_err(|e| envelope_error(op, status, e))?;
        let item = a.data.0.as_ref();
        if status == 200 && a.code == "0" {
            if let Some(it) = item.filter(|it| it.s_code == "0" || it.s_code.is_empty()) {
                return IdText::new(&it.ord_id).ok_or_else(|| malformed(op, status, "bad ordId"));
            }
        }
        Err(error_of(
            op,
            status,
            &a.code,
            &a.msg,
            item.map(|it| (&*it.s_code, &*it.s_msg)),
        ))
    }

    /// Sends the signed GET in `self.path` and returns status and body (in the connection).
    fn get(&mut self, op: &'static str) -> Result<(u16, &[u8]), VenueError> {
        self.body.clear();
        let ts = iso_ms(self.server_ms());
        self.frame(Verb::Get, Some(&ts));
        self.roundtrip(op)
    }

    /// Sends the unsigned (public) GET in `self.path` and returns status and body.
    fn public_get(&mut self, op: &'static str) -> Result<(u16, &[u8]), VenueError> {
        self.body.clear();
        self.frame(Verb::Get, None);
        self.roundtrip(op)
    }

    /// Sends the request built in `self.req`: status and body (in the connection).
    fn roundtrip(&mut self, op: &'static str) -> Result<(u16, &[u8]), VenueError> {
        let r = self
            .conn
            .roundtrip(&self.req)
            .map_err(|e| VenueError::from_http(VENUE, op, &e))?;
        Ok((r.status, r.body))
    }

    fn path_with_inst(&mut self, base: &[u8], spec: Option<&SymbolSpec>) {
        self.path.clear();
        self.path.extend_from_slice(base);
        if let Some(s) = spec {
            self.path.extend_from_slice(b"?instId=");
            push_encoded(&mut self.path, s.symbol.as_bytes());
        }
    }

    /// `GET /api/v5/trade/order` by client id.
    ///
    /// # Errors
    /// [`VenueError`]; an order the venue does not know is `Refused` with `NotFound` (`51603`).
    pub fn query(&mut self, spec: &SymbolSpec, clordid: &str) -> Result<OrderReport, VenueError> {
        const OP: &str = "query";
        self.path_with_inst(b"/api/v5/trade/order", Some(spec));
        self.path.extend_from_slice(b"&clOrdId=");
        push_encoded(&mut self.path, clordid.as_bytes());
        let (status, body) = self.get(OP)?;
        let r = serde_json::from_slice::<OrderReply<'_>>(body)
            .map_err(|e| envelope_error(OP, status, e))?;
        match r.data.0 {
            Some(o) if status == 200 && r.code == "0" => {
                report_of(spec, &o).map_err(|e| malformed(OP, status, e))
            }
            _ => Err(error_of(OP, status, &r.code, &r.msg, None)),
        }
    }

    /// `GET /api/v5/trade/orders-pending` for `spec` (one call per configured symbol; at most
    /// 100 orders, OKX's page size).
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn open_orders(&mut self, spec: &SymbolSpec) -> Result<Vec<OrderReport>, VenueError> {
        const OP: &str = "open orders";
        self.path_with_inst(b"/api/v5/trade/orders-pending", Some(spec));
        let (status, body) = self.get(OP)?;
        let r = serde_json::from_slice::<OrdersReply<'_>>(body)
            .map_err(|e| envelope_error(OP, status, e))?;
        if status != 200 || r.code != "0" {
            return Err(error_of(OP, status, &r.code, &r.msg, None));
        }
        r.data
            .iter()
            .filter(|o| o.inst_id == spec.symbol)
            .map(|o| report_of(spec, o).map_err(|e| malformed(OP, status, e)))
            .collect()
    }

    /// `GET /api/v5/trade/fills` for `spec` (the last 3 days, newest first).
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn fills(&mut self, spec: &SymbolSpec) -> Result<Vec<VenueFill>, VenueError> {
        self.fills_of(spec, None)
    }

    /// `GET /api/v5/trade/fills` for `spec` narrowed to venue order `order_id` (`ordId`, B.4):
    /// one order's trades, not a page of the account's history that an older order's trades
    /// could fall off; fills of other orders are skipped before anything is built for them.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn order_fills(
        &mut self,
        spec: &SymbolSpec,
        order_id: &IdText,
    ) -> Result<Vec<VenueFill>, VenueError> {
        self.fills_of(spec, Some(order_id))
    }

    fn fills_of(
        &mut self,
        spec: &SymbolSpec,
        order_id: Option<&IdText>,
    ) -> Result<Vec<VenueFill>, VenueError> {
        const OP: &str = "fills";
        self.path_with_inst(b"/api/v5/trade/fills", Some(spec));
        if let Some(id) = order_id {
            self.path.extend_from_slice(b"&ordId=");
            push_encoded(&mut self.path, id.as_str().as_bytes());
        }
        let (status, body) = self.get(OP)?;
        let r = serde_json::from_slice::<FillsReply<'_>>(body)
            .map_err(|e| envelope_error(OP, status, e))?;
        if status != 200 || r.code != "0" {
            return Err(error_of(OP, status, &r.code, &r.msg, None));
        }
        let mut out = Vec::new();
        for f in r.data.iter().filter(|f| {
            f.inst_id == spec.symbol && order_id.is_none_or(|id| f.ord_id == id.as_str())
        }) {
            let bad =
                |what: &str| malformed(OP, status, format!("fill {}: bad {what}", f.trade_id));
            let fee = f.fee.trim();
            out.push(VenueFill {
                trade_id: IdText::new(&f.trade_id).ok_or_else(|| bad("tradeId"))?,
                order_id: IdText::new(&f.ord_id).ok_or_else(|| bad("ordId"))?,
                client_id: IdText::new(&f.cl_ord_id).unwrap_or_default(),
                side: side_of(&f.side).ok_or_else(|| bad("side"))?,
                px: mantissa(&f.fill_px, spec.px_scale).ok_or_else(|| bad("fillPx"))?,
                qty: mantissa(&f.fill_sz, spec.qty_scale).ok_or_else(|| bad("fillSz"))?,
                // OKX shows fees paid as negative amounts; Lyra counts paid as positive.
                fee: match fee.strip_prefix('-') {
                    Some(paid) => paid.to_owned(),
                    None if fee.is_empty() || fee.trim_start_matches(['0', '.']).is_empty() => {
                        "0".to_owned()
                    }
                    None => format!("-{fee}"),
                },
                fee_asset: f.fee_ccy.to_string(),
                maker: f.exec_type == "M",
                time_ms: f.fill_time.parse().unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// `GET /api/v5/account/balance`: every currency, available and frozen.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn balances(&mut self) -> Result<Vec<Balance>, VenueError> {
        const OP: &str = "balance";
        self.path_with_inst(b"/api/v5/account/balance", None);
        let (status, body) = self.get(OP)?;
        let r = serde_json::from_slice::<BalanceReply<'_>>(body)
            .map_err(|e| envelope_error(OP, status, e))?;
        if status != 200 || r.code != "0" {
            return Err(error_of(OP, status, &r.code, &r.msg, None));
        }
        let dec = |t: &str| {
            if t.is_empty() {
                Some(Decimal::ZERO)
            } else {
                t.parse::<Decimal>().ok()
            }
        };
        let mut out = Vec::new();
        for d in r.data.0.map(|a| a.details).unwrap_or_default() {
            let (Some(free), Some(locked)) = (dec(&d.avail_bal), dec(&d.frozen_bal)) else {
                return Err(malformed(OP, status, format!("{}: bad amount", d.ccy)));
            };
            out.push(Balance {
                asset: d.ccy.to_string(),
                free,
                locked,
            });
        }
        Ok(out)
    }

    /// The bytes of the last request built (holds key and passphrase: never log it).
    pub fn last_request(&self) -> &[u8] {
        &self.req
    }

    /// `GET /api/v5/public/instruments?instType=SPOT&instId=` (public, unsigned): `tickSz` is
    /// the tick, `lotSz` the step, `minSz` the minimum size; OKX spot states no minimum
    /// notional. Trading only while `state` is `live`.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn instrument_rules(&mut self, spec: &SymbolSpec) -> Result<SymbolRules, VenueError> {
        const OP: &str = "instruments";
        self.path.clear();
        self.path
            .extend_from_slice(b"/api/v5/public/instruments?instType=SPOT&instId=");
        push_encoded(&mut self.path, spec.symbol.as_bytes());
        let (status, body) = self.public_get(OP)?;
        let reply = serde_json::from_slice::<InstrumentsReply<'_>>(body)
            .map_err(|e| envelope_error(OP, status, e))?;
        if status != 200 || reply.code != "0" {
            return Err(error_of(OP, status, &reply.code, &reply.msg, None));
        }
        let i = reply
            .data
            .iter()
            .find(|i| i.inst_id == spec.symbol)
            .ok_or_else(|| malformed(OP, status, format!("{} not listed", spec.symbol)))?;
        let dec = |t: &str, what: &str| {
            t.parse::<Decimal>()
                .map_err(|_| malformed(OP, status, format!("{}: bad {what}", spec.symbol)))
        };
        Ok(SymbolRules {
            filters: Filters {
                tick_size: dec(&i.tick_sz, "tickSz")?,
                step_size: dec(&i.lot_sz, "lotSz")?,
                min_qty: dec(&i.min_sz, "minSz")?,
                ..Filters::default()
            },
            trading: i.state == "live",
        })
    }
}

/// An unreadable body: a 5xx is an unknown outcome, anything else malformed.
fn envelope_error(op: &'static str, status: u16, e: serde_json::Error) -> VenueError {
    if status >= 500 {
        error_of(op, status, "", "server error", None)
    } else {
        malformed(op, status, e)
    }
}

/// Copies an id into a JSON string, dropping bytes that would need escaping (ids are
/// alphanumeric; this only keeps a foreign id from breaking the body).
fn push_json_safe(out: &mut Vec<u8>, v: &[u8]) {
    out.extend(
        v.iter()
            .filter(|b| b.is_ascii_graphic() && **b != b'"' && **b != b'\\'),
    );
}

/// An OKX order as a venue-neutral report at the symbol's scales.
fn report_of(spec: &SymbolSpec, o: &OrderBody<'_>) -> Result<OrderReport, String> {
    let bad = |what: &str| format!("order {}: bad {what}", o.ord_id);
    let executed = if o.acc_fill_sz.is_empty() {
        0
    } else {
        mantissa(&o.acc_fill_sz, spec.qty_scale).ok_or_else(|| bad("accFillSz"))?
    };
    Ok(OrderReport {
        order_id: IdText::new(&o.ord_id).ok_or_else(|| bad("ordId"))?,
        client_id: IdText::new(&o.cl_ord_id).unwrap_or_default(),
        state: state_of(&o.state, executed).ok_or_else(|| bad("state"))?,
        side: side_of(&o.side).ok_or_else(|| bad("side"))?,
        px: if o.px.is_empty() {
            0
        } else {
            mantissa(&o.px, spec.px_scale).ok_or_else(|| bad("px"))?
        },
        qty: mantissa(&o.sz, spec.qty_scale).ok_or_else(|| bad("sz"))?,
        executed,
        avg_px: if o.avg_px.is_empty() {
            0
        } else {
            mantissa_trunc(&o.avg_px, spec.px_scale).ok_or_else(|| bad("avgPx"))?
        },
    })
}

/// Calls only the preflight makes ([`super::preflight`]), off the order path.
impl OkxRest {
    /// `GET path` (query included), signed when `signed`: the HTTP status and the body.
    ///
    /// # Errors
    /// [`VenueError`] when no answer came.
    pub fn get_raw(
        &mut self,
        op: &'static str,
        path: &str,
        signed: bool,
    ) -> Result<(u16, &[u8]), VenueError> {
        self.path.clear();
        self.path.extend_from_slice(path.as_bytes());
        if signed {
            self.get(op)
        } else {
            self.public_get(op)
        }
    }
}

#[cfg(test)]
mod tests {
    use lyra_shm::{clock::ManualClock, msg::InstrumentIdx};

    use super::*;
    use crate::{binance::Filters, http::tls_config};

    #[test]
    fn an_order_is_signed_over_timestamp_method_path_and_exact_body() {
        let cfg = OkxConfig {
            rest_url: "https://127.0.0.1:9".into(),
            timeout: Duration::from_secs(1),
            simulated_trading: false,
        };
        let creds = OkxCredentials::new("KEY", "SECRET", "PASS");
        let mut c = OkxRest::new(
            &cfg,
            tls_config(None).unwrap(),
            creds,
            Arc::new(ManualClock::new(1_607_418_537_715_000_000)),
        )
        .unwrap();
        let spec = SymbolSpec {
            instrument: InstrumentIdx(0),
            symbol: "BTC-USDT".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            px_scale: 2,
            qty_scale: 5,
            filters: Filters::default(),
            trading: true,
        };
        let it = OrderIntent {
            side: Side::Sell,
            tif: Tif::Ioc,
            ..Default::default()
        };
        let id = ClOrdId::new("run1", 7).unwrap();
        assert!(valid_cl_ord_id(id.as_bytes()));
        let ts = c.server_ms();
        let req = String::from_utf8(
            c.prepare_order(&spec, &it, 6_000_001, 50_000, &id, ts)
                .to_vec(),
        )
        .unwrap();
        let body = r#"{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"ioc","px":"60000.01","sz":"0.5","clOrdId":"4run10000000000007"}"#;
        let t = "2020-12-08T09:08:57.715Z";
        let sig = OkxCredentials::new("KEY", "SECRET", "PASS").sign(
            t.as_bytes(),
            b"POST",
            b"/api/v5/trade/order",
            body.as_bytes(),
        );
        assert_eq!(
            req,
            format!(
                "POST /api/v5/trade/order HTTP/1.1\r\nHost: 127.0.0.1:9\r\nOK-ACCESS-KEY: KEY\r\nOK-ACCESS-SIGN: {}\r\nOK-ACCESS-TIMESTAMP: {t}\r\nOK-ACCESS-PASSPHRASE: PASS\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                std::str::from_utf8(&sig).unwrap(),
                body.len()
            )
        );
        let mkt = OrderIntent {
            side: Side::Buy,
            ord_type: OrdType::Market,
            ..Default::default()
        };
        let req = c.prepare_order(&spec, &mkt, 0, 100, &id, ts);
        let text = String::from_utf8_lossy(req);
        assert!(
            text.contains(r#""ordType":"market","tgtCcy":"base_ccy","sz":"0.001""#),
            "{text}"
        );
    }
}
