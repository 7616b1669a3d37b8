//! A loopback Binance Spot REST venue for the OMS tests, until `lyra sim` has a library API:
//! TLS (rcgen CA), HTTP/1.1 keep-alive, HMAC signature and timestamp checks, the endpoints the
//! OMS uses with Binance's real error codes, a tiny matcher (fill at the limit price, or rest),
//! balances, faults (drop after accept, 5xx / -1007 placed or not, false -2013 windows, 429,
//! 418, clock skew, filter change) and an oracle log of every request.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::{
    collections::{HashMap, VecDeque},
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    str::FromStr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

use lyra_oms::sign::Signer;
use lyra_shm::clock::{mono_now_ns, wall_now_ns};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rust_decimal::Decimal;
use rustls::{
    crypto::ring::default_provider,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    ServerConfig, ServerConnection, StreamOwned,
};

pub const API_KEY: &str = "testkey0001";
pub const SECRET: &str = "testsecret0001";
pub const SYMBOL: &str = "BTCUSDT";

/// A fault applied to the next live `POST /api/v3/order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Place the order, then close the connection without answering.
    DropAfterAccept,
    /// Place the order, answer 503.
    Http5xxPlaced,
    /// Do not place it, answer 503.
    Http5xxNotPlaced,
    /// Place it, answer -1007.
    Timeout1007Placed,
    /// Do not place it, answer -1007.
    Timeout1007NotPlaced,
    /// Answer 429 with Retry-After (s), not placed.
    Http429(u32),
    /// Answer 418 with Retry-After (s), not placed.
    Http418(u32),
}

/// How new LIMIT orders match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillMode {
    /// Fill completely at the limit price.
    All,
    /// Rest on the book (NEW).
    Rest,
    /// Fill half at the limit price (two trades of a quarter each), rest the other half.
    Half,
}

/// One oracle entry.
#[derive(Debug, Clone)]
pub struct OracleEntry {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// newClientOrderId / origClientOrderId, if any.
    pub clordid: Option<String>,
    /// When the venue received it (monotonic ns).
    pub at: u64,
    /// Whether it placed an order.
    pub placed: bool,
}

#[derive(Debug, Clone)]
pub struct VOrder {
    pub order_id: u64,
    pub clordid: String,
    pub buy: bool,
    pub price: Decimal,
    pub qty: Decimal,
    pub executed: Decimal,
    pub status: &'static str,
    pub placed_at: u64,
}

#[derive(Debug, Clone)]
pub struct VTrade {
    pub id: u64,
    pub order_id: u64,
    pub price: Decimal,
    pub qty: Decimal,
    pub buy: bool,
}

/// The venue's state (behind a mutex; tests read and script it).
#[derive(Debug)]
pub struct State {
    pub orders: Vec<VOrder>,
    pub trades: Vec<VTrade>,
    pub balances: HashMap<String, Decimal>,
    pub oracle: Vec<OracleEntry>,
    pub faults: VecDeque<Fault>,
    pub fill_mode: FillMode,
    /// Queries for an order placed less than this ago answer -2013.
    pub false_2013: Duration,
    /// Server clock minus real clock, ms.
    pub skew_ms: i64,
    pub tick: Decimal,
    pub step: Decimal,
    pub min_notional: Decimal,
    pub enable_withdrawals: bool,
    pub can_trade: bool,
    pub symbol_status: &'static str,
    next_order: u64,
    next_trade: u64,
}

impl State {
    fn fresh() -> Self {
        Self {
            orders: Vec::new(),
            trades: Vec::new(),
            balances: initial_balances(),
            oracle: Vec::new(),
            faults: VecDeque::new(),
            fill_mode: FillMode::All,
            false_2013: Duration::ZERO,
            skew_ms: 0,
            tick: Decimal::from_str("0.01").unwrap(),
            step: Decimal::from_str("0.00001").unwrap(),
            min_notional: Decimal::from(5),
            enable_withdrawals: false,
            can_trade: true,
            symbol_status: "TRADING",
            next_order: 1000,
            next_trade: 5000,
        }
    }

    /// Live order requests (POST /api/v3/order) in the oracle.
    pub fn live_order_requests(&self) -> usize {
        self.oracle
            .iter()
            .filter(|e| e.method == "POST" && e.path == "/api/v3/order")
            .count()
    }

    /// Test order requests (POST /api/v3/order/test).
    pub fn test_order_requests(&self) -> usize {
        self.oracle
            .iter()
            .filter(|e| e.method == "POST" && e.path == "/api/v3/order/test")
            .count()
    }

    /// Orders placed per client order id.
    pub fn placed_per_clordid(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for o in &self.orders {
            *m.entry(o.clordid.clone()).or_insert(0) += 1;
        }
        m
    }
}

pub fn initial_balances() -> HashMap<String, Decimal> {
    let mut b = HashMap::new();
    b.insert("BTC".to_owned(), Decimal::from(10));
    b.insert("USDT".to_owned(), Decimal::from(1_000_000));
    b
}

/// The running venue.
pub struct Venue {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    pub ca_file: PathBuf,
    stop: Arc<AtomicBool>,
    dir: PathBuf,
}

impl Drop for Venue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn server_config() -> (Arc<ServerConfig>, String) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
        .expect("leaf params");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let cfg = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
        .expect("cert");
    (Arc::new(cfg), ca_cert.pem())
}

impl Venue {
    /// Starts a venue on 127.0.0.1 with a fresh CA written to a temp file.
    pub fn start() -> Self {
        let (cfg, ca_pem) = server_config();
        let dir =
            std::env::temp_dir().join(format!("lyra-venue-{}-{}", std::process::id(), rand_u64()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::fresh()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::Acquire) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let (cfg, st, sp) = (cfg.clone(), st.clone(), sp.clone());
                thread::spawn(move || serve(tcp, cfg, st, sp));
            }
        });
        Self {
            addr,
            state,
            ca_file,
            stop,
            dir,
        }
    }

    /// `https://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// Forgets orders, trades and the oracle; balances back to the start.
    pub fn reset(&self) {
        *self.state.lock().unwrap() = State::fresh();
    }

    /// Locks the state.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(7);
    h.finish()
}

fn serve(tcp: TcpStream, cfg: Arc<ServerConfig>, st: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(conn) = ServerConnection::new(cfg) else {
        return;
    };
    let mut s = StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        // Read one request head (bodies are empty: every parameter is in the query).
        let head_len = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => break n,
                Ok(httparse::Status::Partial) => {}
                Err(_) => return,
            }
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                }
                Err(_) => return,
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let _ = req.parse(&buf);
        let method = req.method.unwrap_or("").to_owned();
        let target = req.path.unwrap_or("").to_owned();
        let key = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("x-mbx-apikey"))
            .map(|h| String::from_utf8_lossy(h.value).into_owned());
        buf.drain(..head_len);
        let reply = handle(&st, &method, &target, key.as_deref());
        let Some((status, extra, body)) = reply else {
            // Drop after accept: close without an answer.
            return;
        };
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            408 => "Request Timeout",
            418 => "I'm a teapot",
            429 => "Too Many Requests",
            _ => "Service Unavailable",
        };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).is_err() || s.flush().is_err() {
            return;
        }
    }
}

type Reply = Option<(u16, String, String)>;

fn err(status: u16, code: i32, msg: &str) -> Reply {
    Some((
        status,
        String::new(),
        format!("{{\"code\":{code},\"msg\":\"{msg}\"}}"),
    ))
}

fn ok(body: String) -> Reply {
    Some((200, String::new(), body))
}

fn server_now_ms(st: &State) -> i64 {
    let now = (wall_now_ns() / 1_000_000) as i64;
    now + st.skew_ms
}

fn handle(sm: &Mutex<State>, method: &str, target: &str, key: Option<&str>) -> Reply {
    let mut st = sm.lock().unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: HashMap<&str, &str> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let clordid = params
        .get("newClientOrderId")
        .or_else(|| params.get("origClientOrderId"))
        .map(|s| s.to_string());
    st.oracle.push(OracleEntry {
        method: method.to_owned(),
        path: path.to_owned(),
        clordid,
        at: mono_now_ns(),
        placed: false,
    });
    let signed = !matches!(
        path,
        "/api/v3/time" | "/api/v3/ping" | "/api/v3/exchangeInfo"
    );
    if signed {
        if key != Some(API_KEY) {
            return err(
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            );
        }
        let Some((payload, sig)) = query.rsplit_once("&signature=") else {
            return err(400, -1102, "Mandatory parameter 'signature' was not sent.");
        };
        if !Signer::new(SECRET.as_bytes()).verify_hex(payload.as_bytes(), sig.as_bytes()) {
            return err(400, -1022, "Signature for this request is not valid.");
        }
        let ts: i64 = params
            .get("timestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let rw: i64 = params
            .get("recvWindow")
            .and_then(|t| t.parse().ok())
            .unwrap_or(5000);
        let now = server_now_ms(&st);
        if ts >= now + 1000 || now - ts > rw {
            return err(
                400,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            );
        }
    }
    match (method, path) {
        ("GET", "/api/v3/ping") => ok("{}".into()),
        ("GET", "/api/v3/time") => ok(format!("{{\"serverTime\":{}}}", server_now_ms(&st))),
        ("GET", "/api/v3/exchangeInfo") => ok(exchange_info(&st)),
        ("POST", "/api/v3/order/test") => match check_filters(&st, &params) {
            Ok(_) => ok("{}".into()),
            Err(r) => r,
        },
        ("POST", "/api/v3/order") => place(&mut st, &params),
        ("GET", "/api/v3/order") => {
            let Some(o) = find(&st, &params) else {
                return err(400, -2013, "Order does not exist.");
            };
            if mono_now_ns().saturating_sub(o.placed_at) < st.false_2013.as_nanos() as u64 {
                return err(400, -2013, "Order does not exist.");
            }
            ok(order_json(o, &[]))
        }
        ("DELETE", "/api/v3/order") => {
            let idx = find_idx(&st, &params);
            match idx {
                Some(i) if matches!(st.orders[i].status, "NEW" | "PARTIALLY_FILLED") => {
                    st.orders[i].status = "CANCELED";
                    ok(order_json(&st.orders[i], &[]))
                }
                _ => err(400, -2011, "Unknown order sent."),
            }
        }
        ("GET", "/api/v3/openOrders") => {
            let open: Vec<String> = st
                .orders
                .iter()
                .filter(|o| matches!(o.status, "NEW" | "PARTIALLY_FILLED"))
                .map(|o| order_json(o, &[]))
                .collect();
            ok(format!("[{}]", open.join(",")))
        }
        ("GET", "/api/v3/myTrades") => {
            let oid: u64 = params.get("orderId").and_then(|v| v.parse().ok()).unwrap_or(0);
            let t: Vec<String> = st
                .trades
                .iter()
                .filter(|t| oid == 0 || t.order_id == oid)
                .map(|t| {
                    format!(
                        "{{\"symbol\":\"{SYMBOL}\",\"id\":{},\"orderId\":{},\"orderListId\":-1,\"price\":\"{}\",\"qty\":\"{}\",\"quoteQty\":\"{}\",\"commission\":\"0\",\"commissionAsset\":\"USDT\",\"time\":1,\"isBuyer\":{},\"isMaker\":false,\"isBestMatch\":true}}",
                        t.id, t.order_id, t.price, t.qty, t.price * t.qty, t.buy
                    )
                })
                .collect();
            ok(format!("[{}]", t.join(",")))
        }
        ("GET", "/api/v3/account") => {
            let b: Vec<String> = st
                .balances
                .iter()
                .map(|(a, v)| format!("{{\"asset\":\"{a}\",\"free\":\"{v}\",\"locked\":\"0\"}}"))
                .collect();
            ok(format!(
                "{{\"canTrade\":{},\"canWithdraw\":true,\"canDeposit\":true,\"accountType\":\"SPOT\",\"balances\":[{}],\"permissions\":[\"SPOT\"]}}",
                st.can_trade,
                b.join(",")
            ))
        }
        ("GET", "/sapi/v1/account/apiRestrictions") => ok(format!(
            "{{\"ipRestrict\":false,\"createTime\":1,\"enableReading\":true,\"enableSpotAndMarginTrading\":true,\"enableWithdrawals\":{},\"enableInternalTransfer\":false,\"enableMargin\":false,\"enableFutures\":false,\"permitsUniversalTransfer\":false,\"enableVanillaOptions\":false,\"enablePortfolioMarginTrading\":false}}",
            st.enable_withdrawals
        )),
        _ => err(404, -1000, "unknown endpoint"),
    }
}

fn find<'a>(st: &'a State, p: &HashMap<&str, &str>) -> Option<&'a VOrder> {
    find_idx(st, p).map(|i| &st.orders[i])
}

fn find_idx(st: &State, p: &HashMap<&str, &str>) -> Option<usize> {
    if let Some(id) = p.get("orderId").and_then(|v| v.parse::<u64>().ok()) {
        return st.orders.iter().position(|o| o.order_id == id);
    }
    let c = p.get("origClientOrderId")?;
    st.orders.iter().rposition(|o| o.clordid == *c)
}

fn check_filters(st: &State, p: &HashMap<&str, &str>) -> Result<(Decimal, Decimal), Reply> {
    let d = |k: &str| p.get(k).and_then(|v| Decimal::from_str(v).ok());
    let (Some(px), Some(qty)) = (d("price"), d("quantity")) else {
        return Err(err(400, -1102, "Mandatory parameter was not sent."));
    };
    if (px % st.tick) != Decimal::ZERO {
        return Err(err(400, -1013, "Filter failure: PRICE_FILTER"));
    }
    if (qty % st.step) != Decimal::ZERO || qty <= Decimal::ZERO {
        return Err(err(400, -1013, "Filter failure: LOT_SIZE"));
    }
    if px * qty < st.min_notional {
        return Err(err(400, -1013, "Filter failure: NOTIONAL"));
    }
    Ok((px, qty))
}

fn place(st: &mut State, p: &HashMap<&str, &str>) -> Reply {
    let fault = st.faults.pop_front();
    match fault {
        Some(Fault::Http429(s)) => {
            return Some((
                429,
                format!("Retry-After: {s}\r\n"),
                "{\"code\":-1003,\"msg\":\"Too many requests.\"}".into(),
            ))
        }
        Some(Fault::Http418(s)) => {
            return Some((
                418,
                format!("Retry-After: {s}\r\n"),
                "{\"code\":-1003,\"msg\":\"Way too many requests; IP banned.\"}".into(),
            ))
        }
        Some(Fault::Http5xxNotPlaced) => {
            return Some((503, String::new(), "Service Unavailable".into()))
        }
        Some(Fault::Timeout1007NotPlaced) => {
            return err(408, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.")
        }
        _ => {}
    }
    let (px, qty) = match check_filters(st, p) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let c = p.get("newClientOrderId").unwrap_or(&"").to_string();
    if st
        .orders
        .iter()
        .any(|o| o.clordid == c && matches!(o.status, "NEW" | "PARTIALLY_FILLED"))
    {
        return err(400, -2010, "Duplicate order sent.");
    }
    let buy = p.get("side") == Some(&"BUY");
    st.next_order += 1;
    let mut o = VOrder {
        order_id: st.next_order,
        clordid: c,
        buy,
        price: px,
        qty,
        executed: Decimal::ZERO,
        status: "NEW",
        placed_at: mono_now_ns(),
    };
    let fill = match st.fill_mode {
        FillMode::All => vec![qty],
        FillMode::Rest => vec![],
        FillMode::Half => {
            let q = (qty / Decimal::from(4) / st.step).floor() * st.step;
            if q > Decimal::ZERO {
                vec![q, q]
            } else {
                vec![]
            }
        }
    };
    let mut fills = Vec::new();
    for q in fill {
        st.next_trade += 1;
        let t = VTrade {
            id: st.next_trade,
            order_id: o.order_id,
            price: px,
            qty: q,
            buy,
        };
        o.executed += q;
        let sign = if buy { Decimal::ONE } else { -Decimal::ONE };
        *st.balances.get_mut("BTC").unwrap() += sign * q;
        *st.balances.get_mut("USDT").unwrap() -= sign * q * px;
        fills.push(t.clone());
        st.trades.push(t);
    }
    o.status = if o.executed == o.qty {
        "FILLED"
    } else if o.executed > Decimal::ZERO {
        "PARTIALLY_FILLED"
    } else {
        "NEW"
    };
    if let Some(e) = st.oracle.last_mut() {
        e.placed = true;
    }
    let body = order_json(&o, &fills);
    st.orders.push(o);
    match fault {
        Some(Fault::DropAfterAccept) => None,
        Some(Fault::Http5xxPlaced) => Some((503, String::new(), "Service Unavailable".into())),
        Some(Fault::Timeout1007Placed) => err(408, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."),
        _ => ok(body),
    }
}

fn order_json(o: &VOrder, fills: &[VTrade]) -> String {
    let f: Vec<String> = fills
        .iter()
        .map(|t| {
            format!(
                "{{\"price\":\"{}\",\"qty\":\"{}\",\"commission\":\"0\",\"commissionAsset\":\"USDT\",\"tradeId\":{}}}",
                t.price, t.qty, t.id
            )
        })
        .collect();
    format!(
        "{{\"symbol\":\"{SYMBOL}\",\"orderId\":{},\"orderListId\":-1,\"clientOrderId\":\"{}\",\"transactTime\":1,\"price\":\"{}\",\"origQty\":\"{}\",\"executedQty\":\"{}\",\"cummulativeQuoteQty\":\"{}\",\"status\":\"{}\",\"timeInForce\":\"GTC\",\"type\":\"LIMIT\",\"side\":\"{}\",\"fills\":[{}]}}",
        o.order_id,
        o.clordid,
        o.price,
        o.qty,
        o.executed,
        o.executed * o.price,
        o.status,
        if o.buy { "BUY" } else { "SELL" },
        f.join(",")
    )
}

fn exchange_info(st: &State) -> String {
    format!(
        "{{\"timezone\":\"UTC\",\"serverTime\":{},\"rateLimits\":[{{\"rateLimitType\":\"REQUEST_WEIGHT\",\"interval\":\"MINUTE\",\"intervalNum\":1,\"limit\":6000}},{{\"rateLimitType\":\"ORDERS\",\"interval\":\"SECOND\",\"intervalNum\":10,\"limit\":1000}},{{\"rateLimitType\":\"ORDERS\",\"interval\":\"DAY\",\"intervalNum\":1,\"limit\":200000}}],\"exchangeFilters\":[],\"symbols\":[{{\"symbol\":\"{SYMBOL}\",\"status\":\"{}\",\"baseAsset\":\"BTC\",\"quoteAsset\":\"USDT\",\"filters\":[{{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"0.01\",\"maxPrice\":\"1000000.00\",\"tickSize\":\"{}\"}},{{\"filterType\":\"LOT_SIZE\",\"minQty\":\"0.00001\",\"maxQty\":\"9000.00000\",\"stepSize\":\"{}\"}},{{\"filterType\":\"NOTIONAL\",\"minNotional\":\"{}\",\"applyMinToMarket\":true,\"maxNotional\":\"9000000.00\",\"applyMaxToMarket\":false,\"avgPriceMins\":5}}]}}]}}",
        server_now_ms(st),
        st.symbol_status,
        st.tick,
        st.step,
        st.min_notional
    )
}
