//! The Kraken Spot REST client: form-encoded private calls with a strictly increasing nonce and
//! `API-Sign`, built into reused buffers (no allocation to build and sign an order after
//! warm-up), over one pre-warmed keep-alive HTTPS connection.

use std::{fmt, sync::Arc, time::Duration};

use lyra_shm::{
    clock::Clock,
    decimal::format_canonical,
    msg::{OrdType, OrderIntent, Side, Tif},
};
use rust_decimal::Decimal;

use super::{
    response::{
        error_of, side_of, state_of, AddOrderResult, AssetPairsResult, BalanceResult, CancelResult,
        ClosedResult, OpenResult, OrderBody, QueryResult, Reply, TradesResult, WsTokenResult,
        VENUE,
    },
    sign::{KrakenCredentials, NonceGen},
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

/// Connection settings for one Kraken account.
#[derive(Debug, Clone)]
pub struct KrakenConfig {
    /// `https://api.kraken.com` or the simulator's URL.
    pub rest_url: String,
    /// Socket timeout for one request (a timeout after the send leaves an order unknown).
    pub timeout: Duration,
}

/// Whether `id` satisfies Kraken's `cl_ord_id` rule (C.2) in its "ASCII ≤ 18" form. Lyra's
/// 18-character alphanumeric [`ClOrdId`] does, and can never be mistaken for the UUID forms
/// (32 hex digits or 36 with dashes), so it is sent unchanged: the mapping is the identity.
pub fn valid_cl_ord_id(id: &[u8]) -> bool {
    (1..=18).contains(&id.len()) && id.iter().all(u8::is_ascii_graphic)
}

/// Which order a cancel or query names.
#[derive(Debug, Clone, Copy)]
pub enum OrderRef<'a> {
    /// Kraken's txid.
    Txid(&'a str),
    /// Our client order id.
    Client(&'a str),
}

/// Kraken Spot REST over one keep-alive connection.
pub struct KrakenRest {
    conn: HttpsConn,
    creds: KrakenCredentials,
    host_header: String,
    nonce: NonceGen,
    path: Vec<u8>,
    body: Vec<u8>,
    req: Vec<u8>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for KrakenRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KrakenRest")
            .field("host", &self.host_header)
            .field("credentials", &self.creds)
            .field("last_nonce", &self.nonce.last())
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

impl KrakenRest {
    /// A client (not yet connected: [`KrakenRest::warm`] opens the connection).
    ///
    /// # Errors
    /// [`HttpError::Config`] for a bad URL.
    pub fn new(
        cfg: &KrakenConfig,
        tls: Arc<rustls::ClientConfig>,
        creds: KrakenCredentials,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HttpError> {
        let ep = Endpoint::parse(&cfg.rest_url)?;
        let host_header = ep.host_header();
        Ok(Self {
            conn: HttpsConn::new(ep, tls, cfg.timeout)?,
            creds,
            host_header,
            nonce: NonceGen::default(),
            path: Vec::with_capacity(64),
            body: Vec::with_capacity(512),
            req: Vec::with_capacity(2048),
            clock,
        })
    }

    /// Opens the connection (TLS handshake here, off the order path). Kraken needs no time
    /// sync: requests carry a nonce, not a timestamp.
    ///
    /// # Errors
    /// [`VenueError::NotSent`].
    pub fn warm(&mut self) -> Result<(), VenueError> {
        self.conn
            .connect()
            .map_err(|e| VenueError::from_http(VENUE, "connect", &e))
    }

    /// The connection (for counters).
    pub fn conn(&self) -> &HttpsConn {
        &self.conn
    }

    /// The last nonce used.
    pub fn last_nonce(&self) -> u64 {
        self.nonce.last()
    }

    /// Starts a private call: path `/0/private/<method>`, body `nonce=<n>`; returns where the
    /// nonce digits sit in the body (they are signed separately).
    fn begin(&mut self, method: &str) -> (usize, usize) {
        self.path.clear();
        self.path.extend_from_slice(b"/0/private/");
        self.path.extend_from_slice(method.as_bytes());
        let n = self.nonce.next(self.clock.wall_ns());
        self.body.clear();
        self.body.extend_from_slice(b"nonce=");
        push_u64(&mut self.body, n);
        (6, self.body.len())
    }

    fn param(&mut self, k: &[u8], v: &[u8]) {
        self.body.push(b'&');
        self.body.extend_from_slice(k);
        self.body.push(b'=');
        push_encoded(&mut self.body, v);
    }

    /// Signs and frames the body as `POST <path>`.
    fn frame(&mut self, nonce_at: (usize, usize)) {
        let sig = self
            .creds
            .sign(&self.path, &self.body[nonce_at.0..nonce_at.1], &self.body);
        let r = &mut self.req;
        r.clear();
        r.extend_from_slice(b"POST ");
        r.extend_from_slice(&self.path);
        r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        r.extend_from_slice(self.host_header.as_bytes());
        r.extend_from_slice(b"\r\nAPI-Key: ");
        r.extend_from_slice(self.creds.api_key().as_bytes());
        r.extend_from_slice(b"\r\nAPI-Sign: ");
        r.extend_from_slice(&sig);
        r.extend_from_slice(
            b"\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: ",
        );
        push_u64(r, self.body.len() as u64);
        r.extend_from_slice(b"\r\n\r\n");
        r.extend_from_slice(&self.body);
    }

    /// Builds the signed `AddOrder` for `intent` at the already-quantized `px` / `qty` mantissas
    /// into the reused buffer (a fresh nonce) and returns its bytes (they hold the key: never
    /// log them). `LimitMaker` is `limit` + `oflags=post`; IOC is `timeinforce=IOC`.
    ///
    /// # Errors
    /// [`VenueError::NotSent`] for what Kraken's REST cannot express (FOK) or a client id
    /// outside its rules.
    pub fn prepare_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<&[u8], VenueError> {
        self.prepare_add_order(spec, intent, px, qty, clordid, false)
    }

    /// [`KrakenRest::prepare_order`], with `validate=true` (checked, never placed) when asked.
    fn prepare_add_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
        validate: bool,
    ) -> Result<&[u8], VenueError> {
        let refuse = |reason: &str| VenueError::NotSent {
            venue: VENUE,
            op: "place",
            reason: reason.to_owned(),
        };
        if intent.ord_type == OrdType::Limit && intent.tif == Tif::Fok {
            return Err(refuse(
                "FOK is not an AddOrder time in force (GTC, IOC, GTD)",
            ));
        }
        if !valid_cl_ord_id(clordid.as_bytes()) {
            return Err(refuse("client order id outside Kraken's cl_ord_id rules"));
        }
        let at = self.begin("AddOrder");
        self.param(
            b"ordertype",
            match intent.ord_type {
                OrdType::Market => b"market",
                OrdType::Limit | OrdType::LimitMaker => b"limit",
            },
        );
        self.param(
            b"type",
            match intent.side {
                Side::Buy => b"buy",
                Side::Sell => b"sell",
            },
        );
        self.param(
            b"volume",
            format_canonical(qty, spec.qty_scale).as_str().as_bytes(),
        );
        self.param(b"pair", spec.symbol.as_bytes());
        if intent.ord_type != OrdType::Market {
            self.param(
                b"price",
                format_canonical(px, spec.px_scale).as_str().as_bytes(),
            );
        }
        if intent.ord_type == OrdType::LimitMaker {
            self.param(b"oflags", b"post");
        }
        if intent.ord_type == OrdType::Limit && intent.tif == Tif::Ioc {
            self.param(b"timeinforce", b"IOC");
        }
        self.param(b"cl_ord_id", clordid.as_bytes());
        if validate {
            self.param(b"validate", b"true");
        }
        self.frame(at);
        Ok(&self.req)
    }

    /// `AddOrder` with `validate=true` (C.2): the venue checks the order and places nothing.
    ///
    /// # Errors
    /// [`VenueError`]: the venue refused the would-be order.
    pub fn validate_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<(), VenueError> {
        const OP: &str = "validate";
        self.prepare_add_order(spec, intent, px, qty, clordid, true)?;
        let (status, body) = self.send(OP)?;
        let r = serde_json::from_slice::<Reply<'_, serde::de::IgnoredAny>>(body)
            .map_err(|e| envelope_error(OP, status, e))?;
        match r.result {
            Some(_) if status == 200 && !r.error.iter().any(|e| e.starts_with('E')) => Ok(()),
            _ => Err(error_of(OP, status, &r.error)),
        }
    }

    /// `GET /0/public/AssetPairs?pair=` (public, unsigned): `tick_size` is the tick,
    /// 10^-`lot_decimals` the step, `ordermin` the minimum volume, `costmin` the minimum
    /// notional; trading only while `status` is `online`.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn asset_pair_rules(&mut self, spec: &SymbolSpec) -> Result<SymbolRules, VenueError> {
        const OP: &str = "asset pairs";
        self.path.clear();
        self.path.extend_from_slice(b"/0/public/AssetPairs?pair=");
        push_encoded(&mut self.path, spec.symbol.as_bytes());
        let r = &mut self.req;
        r.clear();
        r.extend_from_slice(b"GET ");
        r.extend_from_slice(&self.path);
        r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        r.extend_from_slice(self.host_header.as_bytes());
        r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        let (status, pairs) = self.reply::<AssetPairsResult<'_>>(OP)?;
        // Keyed by Kraken's own name (`XXBTZUSD`); the request may use the altname (`XBTUSD`).
        let p = pairs
            .iter()
            .find(|(k, p)| *k == &spec.symbol || p.altname == spec.symbol)
            .or_else(|| (pairs.len() == 1).then(|| pairs.iter().next()).flatten())
            .map(|(_, p)| p)
            .ok_or_else(|| malformed(OP, status, format!("{} not listed", spec.symbol)))?;
        let dec = |t: &str, what: &str| {
            if t.is_empty() {
                return Ok(Decimal::ZERO);
            }
            t.parse::<Decimal>()
                .map_err(|_| malformed(OP, status, format!("{}: bad {what}", spec.symbol)))
        };
        Ok(SymbolRules {
            filters: Filters {
                tick_size: dec(&p.tick_size, "tick_size")?,
                step_size: Decimal::new(1, p.lot_decimals.min(28)),
                min_qty: dec(&p.ordermin, "ordermin")?,
                min_notional: dec(&p.costmin, "costmin")?,
                ..Filters::default()
            },
            trading: p.status.is_empty() || p.status == "online",
        })
    }

    /// Sends the order last built by [`KrakenRest::prepare_order`]; `Ok` carries the txid.
    ///
    /// # Errors
    /// [`VenueError`]: [`VenueError::class`] says whether the order may exist.
    pub fn send_order(&mut self) -> Result<IdText, VenueError> {
        const OP: &str = "place";
        let (status, body) = self.send(OP)?;
        let r = serde_json::from_slice::<Reply<'_, AddOrderResult<'_>>>(body)
            .map_err(|e| envelope_error(OP, status, e))?;
        match r.result {
            Some(res) if status == 200 && !r.error.iter().any(|e| e.starts_with('E')) => res
                .txid
                .0
                .and_then(IdText::new)
                .ok_or_else(|| malformed(OP, status, "no txid")),
            _ => Err(error_of(OP, status, &r.error)),
        }
    }

    /// Places an order now (prepare + send).
    ///
    /// # Errors
    /// As [`KrakenRest::prepare_order`] and [`KrakenRest::send_order`].
    pub fn place(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
    ) -> Result<IdText, VenueError> {
        self.prepare_order(spec, intent, px, qty, clordid)?;
        self.send_order()
    }

    fn send(&mut self, op: &'static str) -> Result<(u16, &[u8]), VenueError> {
        let r = self
            .conn
            .roundtrip(&self.req)
            .map_err(|e| VenueError::from_http(VENUE, op, &e))?;
        Ok((r.status, r.body))
    }

    /// Sends the request built and reads Kraken's envelope: the `result` of an HTTP 200 answer
    /// with no error, with the status (for later `malformed` errors), else the venue's error.
    fn reply<'a, T: serde::Deserialize<'a>>(
        &'a mut self,
        op: &'static str,
    ) -> Result<(u16, T), VenueError> {
        let (status, body) = self.send(op)?;
        let r = serde_json::from_slice::<Reply<'a, T>>(body)
            .map_err(|e| envelope_error(op, status, e))?;
        match r.result {
            Some(res) if status == 200 && r.error.is_empty() => Ok((status, res)),
            _ => Err(error_of(op, status, &r.error)),
        }
    }

    /// `CancelOrder` by txid or client id; `Ok` is the count cancelled (1).
    ///
    /// # Errors
    /// [`VenueError`]; an order unknown or already final is `Refused` with `NotFound`.
    pub fn cancel(&mut self, order: OrderRef<'_>) -> Result<u32, VenueError> {
        const OP: &str = "cancel";
        let at = self.begin("CancelOrder");
        match order {
            OrderRef::Txid(t) => self.param(b"txid", t.as_bytes()),
            OrderRef::Client(c) => self.param(b"cl_ord_id", c.as_bytes()),
        }
        self.frame(at);
        Ok(self.reply::<CancelResult>(OP)?.1.count)
    }

    /// `QueryOrders` for one txid (QueryOrders takes txids, not client ids; use
    /// [`KrakenRest::find_open`] for an order whose txid was never learned).
    ///
    /// # Errors
    /// [`VenueError`]; an unknown txid is `Refused` with `NotFound`.
    pub fn query(&mut self, spec: &SymbolSpec, txid: &str) -> Result<OrderReport, VenueError> {
        const OP: &str = "query";
        let at = self.begin("QueryOrders");
        self.param(b"txid", txid.as_bytes());
        self.frame(at);
        let (status, m) = self.reply::<QueryResult<'_>>(OP)?;
        let o = m
            .iter()
            .find(|(k, _)| *k == txid)
            .ok_or_else(|| malformed(OP, status, "txid missing from the answer"))?;
        report_of(spec, o.0, o.1).map_err(|e| malformed(OP, status, e))
    }

    /// `OpenOrders`, keeping `spec`'s pair.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn open_orders(&mut self, spec: &SymbolSpec) -> Result<Vec<OrderReport>, VenueError> {
        self.open_orders_of(spec, None)
    }

    /// `OpenOrders` (narrowed by the venue to `clordid` when given), keeping `spec`'s pair.
    fn open_orders_of(
        &mut self,
        spec: &SymbolSpec,
        clordid: Option<&str>,
    ) -> Result<Vec<OrderReport>, VenueError> {
        const OP: &str = "open orders";
        let at = self.begin("OpenOrders");
        if let Some(c) = clordid {
            self.param(b"cl_ord_id", c.as_bytes());
        }
        self.frame(at);
        let (status, res) = self.reply::<OpenResult<'_>>(OP)?;
        let mut out: Vec<OrderReport> = res
            .open
            .iter()
            .filter(|(_, o)| o.descr.pair == spec.symbol)
            .map(|(t, o)| report_of(spec, t, o).map_err(|e| malformed(OP, status, e)))
            .collect::<Result<_, _>>()?;
        out.sort_by(|a, b| a.order_id.as_str().cmp(b.order_id.as_str()));
        Ok(out)
    }

    /// The open order with client id `clordid`, if any (SENT_UNKNOWN resolution without a txid).
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn find_open(
        &mut self,
        spec: &SymbolSpec,
        clordid: &str,
    ) -> Result<Option<OrderReport>, VenueError> {
        Ok(self
            .open_orders_of(spec, Some(clordid))?
            .into_iter()
            .find(|o| o.client_id.as_str() == clordid))
    }

    /// The closed order with client id `clordid` among the newest `ClosedOrders` (first page:
    /// 50), narrowed by the venue with `cl_ord_id` — Kraken's documented filter on
    /// `ClosedOrders` as on `OpenOrders` [UNVERIFIED live]. With [`KrakenRest::find_open`] it
    /// finds an order whose txid was never learned (a lost `AddOrder` answer).
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn find_closed(
        &mut self,
        spec: &SymbolSpec,
        clordid: &str,
    ) -> Result<Option<OrderReport>, VenueError> {
        const OP: &str = "closed orders";
        let at = self.begin("ClosedOrders");
        self.param(b"cl_ord_id", clordid.as_bytes());
        self.frame(at);
        let (status, res) = self.reply::<ClosedResult<'_>>(OP)?;
        res.closed
            .iter()
            .filter(|(_, o)| o.cl_ord_id.as_deref() == Some(clordid))
            .map(|(t, o)| report_of(spec, t, o).map_err(|e| malformed(OP, status, e)))
            .next()
            .transpose()
    }

    /// `TradesHistory` (first page: the newest 50 trades), keeping `spec`'s pair. Trades carry
    /// no client id, and Kraken names no fee currency per trade: this client counts fees in the
    /// quote currency. Kraken's AddOrder docs (third-party copies) make `fciq` the default when
    /// buying and `fcib` when selling, so a sell's fee may really be in the base currency. A
    /// fill first learned from the private stream ([`super::private_stream`]) carries its real
    /// fee asset (`fees[].asset`); one first learned here keeps the quote assumption. Trades are
    /// keyed by the pair's `trade_id`, the key the stream uses, so each counts once.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn trades(&mut self, spec: &SymbolSpec) -> Result<Vec<VenueFill>, VenueError> {
        self.trades_of(spec, None)
    }

    /// [`KrakenRest::trades`] of venue order `order_id` only: other orders' trades are skipped
    /// before anything is built for them.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn order_trades(
        &mut self,
        spec: &SymbolSpec,
        order_id: &IdText,
    ) -> Result<Vec<VenueFill>, VenueError> {
        self.trades_of(spec, Some(order_id))
    }

    fn trades_of(
        &mut self,
        spec: &SymbolSpec,
        order_id: Option<&IdText>,
    ) -> Result<Vec<VenueFill>, VenueError> {
        const OP: &str = "trades";
        let at = self.begin("TradesHistory");
        self.frame(at);
        let (status, res) = self.reply::<TradesResult<'_>>(OP)?;
        let mut out = Vec::new();
        for (id, t) in res.trades.iter().filter(|(_, t)| {
            t.pair == spec.symbol && order_id.is_none_or(|o| t.ordertxid == o.as_str())
        }) {
            let bad = |what: &str| malformed(OP, status, format!("trade {id}: bad {what}"));
            // The pair's numeric trade id where given: the private stream's reports name
            // trades by it, so a fill learned from both is counted once.
            let key = match t.trade_id {
                Some(n) => IdText::new(&n.to_string()),
                None => IdText::new(id),
            };
            out.push(VenueFill {
                trade_id: key.ok_or_else(|| bad("txid"))?,
                order_id: IdText::new(&t.ordertxid).ok_or_else(|| bad("ordertxid"))?,
                client_id: IdText::default(),
                side: side_of(&t.side).ok_or_else(|| bad("type"))?,
                px: mantissa_trunc(&t.price, spec.px_scale).ok_or_else(|| bad("price"))?,
                qty: mantissa(&t.vol, spec.qty_scale).ok_or_else(|| bad("vol"))?,
                fee: t.fee.to_string(),
                fee_asset: spec.quote_asset.clone(),
                maker: t.maker,
                time_ms: (t.time * 1000.0) as u64,
            });
        }
        Ok(out)
    }

    /// `Balance`: totals per asset (Kraken's names, `XXBT`/`ZUSD` on the real venue). Kraken's
    /// `Balance` reports only totals, so `free` holds the total and `locked` is zero; compare
    /// free + locked, as [`crate::Oms::check_balances`] does.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn balances(&mut self) -> Result<Vec<Balance>, VenueError> {
        const OP: &str = "balance";
        let at = self.begin("Balance");
        self.frame(at);
        let (status, m) = self.reply::<BalanceResult<'_>>(OP)?;
        m.iter()
            .map(|(asset, total)| {
                total
                    .parse::<Decimal>()
                    .map(|free| Balance {
                        asset: asset.to_string(),
                        free,
                        locked: Decimal::ZERO,
                    })
                    .map_err(|_| malformed(OP, status, format!("{asset}: bad amount")))
            })
            .collect()
    }

    /// `GetWebSocketsToken` (C.3): a token for the private WebSocket v2 channels (valid 15
    /// minutes before first use; kept while a subscription using it lives). Secret: never log.
    ///
    /// # Errors
    /// [`VenueError`].
    pub fn ws_token(&mut self) -> Result<String, VenueError> {
        const OP: &str = "ws token";
        let at = self.begin("GetWebSocketsToken");
        self.frame(at);
        let (status, r) = self.reply::<WsTokenResult>(OP)?;
        if r.token.is_empty() {
            return Err(malformed(OP, status, "empty token"));
        }
        Ok(r.token)
    }

    /// The bytes of the last request built (holds the API key: never log it).
    pub fn last_request(&self) -> &[u8] {
        &self.req
    }
}

/// An unreadable body: a 5xx is an unknown outcome, anything else malformed.
fn envelope_error(op: &'static str, status: u16, e: serde_json::Error) -> VenueError {
    if status >= 500 {
        error_of(op, status, &[])
    } else {
        malformed(op, status, e)
    }
}

/// A Kraken order as a venue-neutral report at the symbol's scales.
fn report_of(spec: &SymbolSpec, txid: &str, o: &OrderBody<'_>) -> Result<OrderReport, String> {
    let bad = |what: &str| format!("order {txid}: bad {what}");
    let qty = mantissa(&o.vol, spec.qty_scale).ok_or_else(|| bad("vol"))?;
    let executed = if o.vol_exec.is_empty() {
        0
    } else {
        mantissa(&o.vol_exec, spec.qty_scale).ok_or_else(|| bad("vol_exec"))?
    };
    let px = match &*o.descr.price {
        "" => 0,
        p => mantissa(p, spec.px_scale).ok_or_else(|| bad("descr.price"))?,
    };
    Ok(OrderReport {
        order_id: IdText::new(txid).ok_or_else(|| bad("txid"))?,
        client_id: o
            .cl_ord_id
            .as_deref()
            .and_then(IdText::new)
            .unwrap_or_default(),
        state: state_of(&o.status, executed, qty).ok_or_else(|| bad("status"))?,
        side: side_of(&o.descr.side).ok_or_else(|| bad("descr.type"))?,
        px,
        qty,
        executed,
        avg_px: match &*o.price {
            "" => 0,
            p => mantissa_trunc(p, spec.px_scale).ok_or_else(|| bad("price"))?,
        },
    })
}

/// Calls only the preflight makes ([`super::preflight`]); off the order path.
impl KrakenRest {
    /// Local wall clock, ms (the clock the nonces come from).
    pub fn local_ms(&self) -> u64 {
        self.clock.wall_ns() / 1_000_000
    }

    /// Public `GET /0/public/<path_and_query>` (unsigned): the HTTP status and the body.
    ///
    /// # Errors
    /// [`VenueError`] when no answer came.
    pub fn public_raw(
        &mut self,
        op: &'static str,
        path_and_query: &str,
    ) -> Result<(u16, &[u8]), VenueError> {
        self.path.clear();
        self.path.extend_from_slice(b"/0/public/");
        self.path.extend_from_slice(path_and_query.as_bytes());
        let r = &mut self.req;
        r.clear();
        r.extend_from_slice(b"GET ");
        r.extend_from_slice(&self.path);
        r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        r.extend_from_slice(self.host_header.as_bytes());
        r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        self.send(op)
    }

    /// Private `POST /0/private/<method>` with only the nonce: the HTTP status and the body.
    ///
    /// # Errors
    /// [`VenueError`] when no answer came.
    pub fn private_raw(
        &mut self,
        op: &'static str,
        method: &str,
    ) -> Result<(u16, &[u8]), VenueError> {
        let at = self.begin(method);
        self.frame(at);
        self.send(op)
    }
}

#[cfg(test)]
mod tests {
    use lyra_shm::{clock::ManualClock, msg::InstrumentIdx};

    use super::*;
    use crate::{binance::Filters, http::tls_config};

    fn spec() -> SymbolSpec {
        SymbolSpec {
            instrument: InstrumentIdx(0),
            symbol: "BTC/USDT".into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            px_scale: 2,
            qty_scale: 5,
            filters: Filters::default(),
            trading: true,
        }
    }

    #[test]
    fn an_add_order_is_signed_over_exactly_its_body() {
        let secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
        let cfg = KrakenConfig {
            rest_url: "https://127.0.0.1:9".into(),
            timeout: Duration::from_secs(1),
        };
        let clock = Arc::new(ManualClock::new(1_616_492_376_594_000_000));
        let mut c = KrakenRest::new(
            &cfg,
            tls_config(None).unwrap(),
            KrakenCredentials::new("KEY", secret).unwrap(),
            clock,
        )
        .unwrap();
        let it = OrderIntent {
            side: Side::Buy,
            ord_type: OrdType::LimitMaker,
            ..Default::default()
        };
        let id = ClOrdId::new("run1", 7).unwrap();
        let req = String::from_utf8(
            c.prepare_order(&spec(), &it, 3_750_000, 125_000, &id)
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        let body = "nonce=1616492376594000&ordertype=limit&type=buy&volume=1.25&pair=BTC%2FUSDT&price=37500&oflags=post&cl_ord_id=4run10000000000007";
        let creds = KrakenCredentials::new("KEY", secret).unwrap();
        let sig = creds.sign(b"/0/private/AddOrder", b"1616492376594000", body.as_bytes());
        assert_eq!(
            req,
            format!(
                "POST /0/private/AddOrder HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAPI-Key: KEY\r\nAPI-Sign: {}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
                std::str::from_utf8(&sig).unwrap(),
                body.len()
            )
        );
        // The next request of the same µs still gets a larger nonce.
        c.prepare_order(&spec(), &it, 3_750_000, 125_000, &id)
            .unwrap();
        assert_eq!(c.last_nonce(), 1_616_492_376_594_001);
        let fok = OrderIntent {
            tif: Tif::Fok,
            ..Default::default()
        };
        assert!(matches!(
            c.prepare_order(&spec(), &fok, 1, 1, &id),
            Err(VenueError::NotSent { .. })
        ));
        assert!(valid_cl_ord_id(id.as_bytes()));
    }
}
