//! The Binance Spot REST client: signed requests built into reused buffers (no allocation per
//! order after warm-up), one pre-warmed keep-alive HTTPS connection, the server-time offset, and
//! the request budget.

use std::{fmt, sync::Arc, time::Duration};

use lyra_shm::{
    clock::Clock,
    decimal::format_canonical,
    msg::{InstrumentIdx, OrdType, OrderIntent, Side, Tif},
};

use super::{filters::Filters, ratelimit::RateBudget, response::TimeBody};
use crate::{
    clordid::ClOrdId,
    http::{Endpoint, HttpError, HttpsConn, Response},
    sign::Credentials,
};

/// A tradable symbol as the OMS knows it: mantissa scales (shared with `shm::msg`) and filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolSpec {
    /// Dense instrument index.
    pub instrument: InstrumentIdx,
    /// Venue symbol (`BTCUSDT`).
    pub symbol: String,
    /// Base asset (`BTC`).
    pub base_asset: String,
    /// Quote asset (`USDT`).
    pub quote_asset: String,
    /// Decimals of price mantissas.
    pub px_scale: u8,
    /// Decimals of quantity mantissas.
    pub qty_scale: u8,
    /// Current filters (refreshed from exchangeInfo).
    pub filters: Filters,
    /// Whether exchangeInfo says TRADING.
    pub trading: bool,
}

/// Connection settings for one Binance venue.
#[derive(Clone)]
pub struct BinanceConfig {
    /// `https://api.binance.com` or the simulator's URL.
    pub rest_url: String,
    /// `recvWindow`, ms.
    pub recv_window_ms: u32,
    /// Socket timeout for one request (a timeout after the send makes the order SENT_UNKNOWN).
    pub timeout: Duration,
}

impl fmt::Debug for BinanceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceConfig")
            .field("rest_url", &self.rest_url)
            .field("recv_window_ms", &self.recv_window_ms)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// HTTP methods used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

impl Method {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            Method::Get => b"GET ",
            Method::Post => b"POST ",
            Method::Delete => b"DELETE ",
        }
    }
}

/// Binance Spot REST over one keep-alive connection.
pub struct BinanceRest {
    conn: HttpsConn,
    creds: Credentials,
    host_header: String,
    recv_window_ms: u32,
    offset_ms: i64,
    /// Request and order budget.
    pub budget: RateBudget,
    query: Vec<u8>,
    req: Vec<u8>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for BinanceRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceRest")
            .field("host", &self.host_header)
            .field("credentials", &self.creds)
            .field("offset_ms", &self.offset_ms)
            .finish()
    }
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
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

impl BinanceRest {
    /// The `recvWindow` every signed request carries, ms.
    pub fn recv_window_ms(&self) -> u32 {
        self.recv_window_ms
    }

    /// A client (not yet connected: [`BinanceRest::warm`] opens the connection and syncs time).
    ///
    /// # Errors
    /// [`HttpError::Config`] for a bad URL.
    pub fn new(
        cfg: &BinanceConfig,
        tls: Arc<rustls::ClientConfig>,
        creds: Credentials,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HttpError> {
        let ep = Endpoint::parse(&cfg.rest_url)?;
        let host_header = ep.host_header();
        Ok(Self {
            conn: HttpsConn::new(ep, tls, cfg.timeout)?,
            creds,
            host_header,
            recv_window_ms: cfg.recv_window_ms,
            offset_ms: 0,
            budget: RateBudget::default(),
            query: Vec::with_capacity(1024),
            req: Vec::with_capacity(2048),
            clock,
        })
    }

    /// Opens the connection (TLS handshake done here, off the order path) and syncs time.
    ///
    /// # Errors
    /// [`HttpError`].
    pub fn warm(&mut self) -> Result<i64, HttpError> {
        self.conn.connect()?;
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

    /// `GET /api/v3/time`: sets the offset to serverTime minus the local midpoint of the round
    /// trip; returns it.
    ///
    /// # Errors
    /// [`HttpError`] (an unreadable body is `Malformed`).
    pub fn sync_time(&mut self) -> Result<i64, HttpError> {
        let t0 = self.local_ms();
        let r = self.call(Method::Get, "/api/v3/time", &[], false)?;
        let body = serde_json::from_slice::<TimeBody>(r.body);
        let status = r.status;
        let t1 = self.local_ms();
        match (status, body) {
            (200, Ok(b)) => {
                self.offset_ms = b.server_time as i64 - ((t0 + t1) / 2) as i64;
                Ok(self.offset_ms)
            }
            _ => Err(HttpError::Malformed {
                host: self.host_header.clone(),
                reason: format!("/api/v3/time answered {status}"),
            }),
        }
    }

    /// Builds the signed `POST /api/v3/order` (or `/order/test`) request for `intent` at the
    /// already-quantized `px` / `qty` mantissas into the reused buffer and returns its bytes.
    /// Allocation-free after the buffers have grown once.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_order(
        &mut self,
        spec: &SymbolSpec,
        intent: &OrderIntent,
        px: i64,
        qty: i64,
        clordid: &ClOrdId,
        test: bool,
        ts_ms: u64,
    ) -> &[u8] {
        let q = &mut self.query;
        q.clear();
        q.extend_from_slice(b"symbol=");
        q.extend_from_slice(spec.symbol.as_bytes());
        q.extend_from_slice(match intent.side {
            Side::Buy => b"&side=BUY",
            Side::Sell => b"&side=SELL",
        });
        match intent.ord_type {
            OrdType::Limit => {
                q.extend_from_slice(b"&type=LIMIT&timeInForce=");
                q.extend_from_slice(match intent.tif {
                    Tif::Gtc => b"GTC",
                    Tif::Ioc => b"IOC",
                    Tif::Fok => b"FOK",
                });
            }
            OrdType::LimitMaker => q.extend_from_slice(b"&type=LIMIT_MAKER"),
            OrdType::Market => q.extend_from_slice(b"&type=MARKET"),
        }
        q.extend_from_slice(b"&quantity=");
        q.extend_from_slice(format_canonical(qty, spec.qty_scale).as_str().as_bytes());
        if intent.ord_type != OrdType::Market {
            q.extend_from_slice(b"&price=");
            q.extend_from_slice(format_canonical(px, spec.px_scale).as_str().as_bytes());
        }
        q.extend_from_slice(b"&newClientOrderId=");
        q.extend_from_slice(clordid.as_bytes());
        q.extend_from_slice(b"&newOrderRespType=FULL&recvWindow=");
        push_u64(q, self.recv_window_ms as u64);
        q.extend_from_slice(b"&timestamp=");
        push_u64(q, ts_ms);
        let path: &[u8] = if test {
            b"/api/v3/order/test"
        } else {
            b"/api/v3/order"
        };
        self.finish(Method::Post, path, true);
        &self.req
    }

    /// Signs the query (if `signed`) and frames the whole request in `req`.
    fn finish(&mut self, method: Method, path: &[u8], signed: bool) {
        if signed {
            let sig = self.creds.signer().sign_hex(&self.query);
            self.query.extend_from_slice(b"&signature=");
            self.query.extend_from_slice(&sig);
        }
        let r = &mut self.req;
        r.clear();
        r.extend_from_slice(method.as_bytes());
        r.extend_from_slice(path);
        if !self.query.is_empty() {
            r.push(b'?');
            r.extend_from_slice(&self.query);
        }
        r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        r.extend_from_slice(self.host_header.as_bytes());
        r.extend_from_slice(b"\r\nX-MBX-APIKEY: ");
        r.extend_from_slice(self.creds.api_key().as_bytes());
        r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    }

    /// Sends the request last built by [`BinanceRest::prepare_order`].
    ///
    /// # Errors
    /// [`HttpError`]; [`HttpError::maybe_sent`] tells whether the order may exist.
    pub fn send_prepared(&mut self) -> Result<Response<'_>, HttpError> {
        let now = self.local_ms();
        let r = self.conn.roundtrip(&self.req)?;
        self.budget.observe(now, &r.meta);
        Ok(r)
    }

    /// Any request: `params` as `k=v` pairs (values must be URL-safe: symbols, ids, numbers);
    /// `signed` adds recvWindow, timestamp and signature. Allocates nothing once warm.
    ///
    /// # Errors
    /// [`HttpError`].
    pub fn call(
        &mut self,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
        signed: bool,
    ) -> Result<Response<'_>, HttpError> {
        self.query.clear();
        for (i, (k, v)) in params.iter().enumerate() {
            if i > 0 {
                self.query.push(b'&');
            }
            self.query.extend_from_slice(k.as_bytes());
            self.query.push(b'=');
            self.query.extend_from_slice(v.as_bytes());
        }
        if signed {
            if !self.query.is_empty() {
                self.query.push(b'&');
            }
            self.query.extend_from_slice(b"recvWindow=");
            push_u64(&mut self.query, self.recv_window_ms as u64);
            self.query.extend_from_slice(b"&timestamp=");
            let ts = self.server_ms();
            push_u64(&mut self.query, ts);
        }
        self.finish(method, path.as_bytes(), signed);
        let now = self.local_ms();
        let r = self.conn.roundtrip(&self.req)?;
        self.budget.observe(now, &r.meta);
        Ok(r)
    }

    /// The bytes of the last request built (for the benchmark and tests; contains the API key
    /// header, so never log it).
    pub fn last_request(&self) -> &[u8] {
        &self.req
    }
}

#[cfg(test)]
mod tests {
    use lyra_shm::clock::ManualClock;

    use super::*;
    use crate::http::tls_config;

    #[test]
    fn an_order_request_is_signed_over_exactly_its_query() {
        let creds = Credentials::new("KEY", b"SECRET");
        let cfg = BinanceConfig {
            rest_url: "https://127.0.0.1:9".into(),
            recv_window_ms: 5000,
            timeout: Duration::from_secs(1),
        };
        let tls = tls_config(None).unwrap();
        let mut c =
            BinanceRest::new(&cfg, tls, creds, Arc::new(ManualClock::new(1_000_000_000))).unwrap();
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
        let it = OrderIntent {
            side: Side::Sell,
            ..Default::default()
        };
        let id = ClOrdId::new("run1", 7).unwrap();
        let req = String::from_utf8(
            c.prepare_order(&spec, &it, 6_000_001, 50_000, &id, false, 1_499_827_319_559)
                .to_vec(),
        )
        .unwrap();
        let q = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.5&price=60000.01&newClientOrderId=4run10000000000007&newOrderRespType=FULL&recvWindow=5000&timestamp=1499827319559";
        let sig =
            String::from_utf8(Signer::new(b"SECRET").sign_hex(q.as_bytes()).to_vec()).unwrap();
        assert_eq!(
            req,
            format!("POST /api/v3/order?{q}&signature={sig} HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-MBX-APIKEY: KEY\r\nContent-Length: 0\r\n\r\n")
        );
    }

    use crate::sign::Signer;
}
