//! The Binance user data stream client (PROTOCOLS-ORDERS A.5): the WebSocket API
//! (`wss://ws-api.binance.com:443/ws-api/v3`) with `userDataStream.subscribe.signature`
//! (HMAC keys, no logon) — listenKey streams were switched off on 2026-02-20.
//!
//! It runs on its own side thread, never the OMS thread, in the loop every private stream
//! shares ([`crate::private_stream`]: blocking TLS WebSocket with a short read timeout, pings, a
//! dead-stream check — no frame for `dead_after` —, reconnect with exponential backoff); this
//! file holds its Binance dialect: the signed subscribe (the REST client's [`Signer`] and
//! server-time offset, a `time` sync after -1021), WebSocket pings, resubscribe after
//! `eventStreamTerminated`, unsubscribe on stop. Events become fixed-size `Copy`
//! [`UserEvent`]s in an `lyra_shm::ring` SPSC ring the OMS drains in [`crate::Oms::poll`].
//! A [`UserEvent::Subscribed`] marker after every (re)subscription tells the OMS to poll once:
//! Binance does not replay what a dead connection missed, REST does.
//!
//! The subscribe request carries the API key and a signature: it is never logged, and errors
//! name the host and the cause only.

use std::{
    io::{self, ErrorKind},
    net::{TcpStream, ToSocketAddrs},
    sync::{
        atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use lyra_shm::{clock::Clock, ring::Consumer};
use rustls::{pki_types::ServerName, ClientConfig, ClientConnection, StreamOwned};
use thiserror::Error;
use tungstenite::{protocol::WebSocketConfig, Message, WebSocket};

use super::user_stream_event::{balances, execution, EventBody, IdValue, UserEvent, WsFrame};
use crate::{
    private_stream::{self, parse_url, Dialect, PrivateUrl, Step},
    sign::Credentials,
};

/// A `tracing` filter directive every log subscriber of a process running a user stream adds:
/// tungstenite logs whole frames at TRACE — the signed subscribe, API key included — and at
/// DEBUG only handshakes and closes.
pub const LOG_DIRECTIVE: &str = "tungstenite=debug";

/// Why the stream could not be set up (a running stream never fails: it reconnects).
#[derive(Debug, Error)]
pub enum UserStreamError {
    /// The WS-API URL is unusable.
    #[error("user stream {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The side thread could not be started.
    #[error("user stream {host}: thread: {reason}")]
    Thread {
        /// Venue host.
        host: String,
        /// The OS error.
        reason: String,
    },
}

/// Settings of one user stream.
#[derive(Debug, Clone)]
pub struct UserStreamConfig {
    /// `wss://host[:port]/ws-api/v3`.
    pub ws_api_url: String,
    /// `recvWindow` of the signed subscribe, ms.
    pub recv_window_ms: u32,
    /// A WebSocket ping is sent after this long without one.
    pub ping_every: Duration,
    /// No frame (event, answer, ping or pong) for this long: the stream is dead; reconnect.
    pub dead_after: Duration,
    /// TCP connect, TLS + WebSocket handshake and the subscribe answer must each fit in this.
    pub connect_timeout: Duration,
    /// First reconnect delay (doubles up to `backoff_max`; a subscription resets it).
    pub backoff_initial: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// Ring slots towards the OMS (power of two).
    pub ring_capacity: usize,
}

impl UserStreamConfig {
    /// Defaults for `ws_api_url`: ping every 10 s, dead after 30 s (Binance pings every 20 s),
    /// 5 s connect timeout, backoff 100 ms .. 5 s, 4096 slots.
    pub fn new(ws_api_url: &str, recv_window_ms: u32) -> Self {
        Self {
            ws_api_url: ws_api_url.to_owned(),
            recv_window_ms,
            ping_every: Duration::from_secs(10),
            dead_after: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ring_capacity: 4096,
        }
    }
}

/// The WS-API URL of a Binance REST base: `https://api.binance.com` (and `api1-4`, `api-gcp`)
/// -> `wss://ws-api.binance.com:443/ws-api/v3`, `https://testnet.binance.vision` ->
/// `wss://ws-api.testnet.binance.vision/ws-api/v3`; any other host (the simulator) serves the WS
/// API on the REST host and port: `wss://host:port/ws-api/v3`.
///
/// # Errors
/// A URL that is not `https://host[:port]`.
pub fn ws_api_url_for(rest_url: &str) -> Result<String, UserStreamError> {
    let ep = crate::http::Endpoint::parse(rest_url).map_err(|e| UserStreamError::Url {
        url: rest_url.to_owned(),
        reason: e.to_string(),
    })?;
    let h = ep.host.as_str();
    let binance = h == "api.binance.com"
        || h == "api-gcp.binance.com"
        || (h.len() == "api1.binance.com".len()
            && h.starts_with("api")
            && h.ends_with(".binance.com")
            && h.as_bytes()[3].is_ascii_digit());
    Ok(if binance {
        "wss://ws-api.binance.com:443/ws-api/v3".into()
    } else if h == "testnet.binance.vision" {
        "wss://ws-api.testnet.binance.vision/ws-api/v3".into()
    } else {
        format!("wss://{h}:{}/ws-api/v3", ep.port)
    })
}

/// Checks a configured WS-API URL (`wss://host[:port]/ws-api/...`) without connecting.
///
/// # Errors
/// [`UserStreamError::Url`] saying what is wrong.
pub fn check_ws_api_url(url: &str) -> Result<(), UserStreamError> {
    checked(url).map(|_| ())
}

/// The stream's URL: `wss://host[:port]/ws-api/...`; the path asked for is always
/// `/ws-api/v3` (fixed by A.5; the URL only says where).
fn checked(url: &str) -> Result<PrivateUrl, UserStreamError> {
    let mut u = parse_url(url, "/ws-api/")?;
    u.uri = format!("wss://{}:{}/ws-api/v3", u.host, u.port);
    Ok(u)
}

/// Counters and state the stream thread publishes (read with relaxed loads: monitoring only).
#[derive(Debug, Default)]
pub struct UserStreamStatus {
    pub(crate) stop: AtomicBool,
    pub(crate) offset_ms: AtomicI64,
    pub(crate) subscribed: AtomicBool,
    /// Successful subscriptions.
    pub subscriptions: AtomicU64,
    /// Connection attempts after the first.
    pub reconnects: AtomicU64,
    /// Events pushed to the OMS.
    pub events: AtomicU64,
    /// Frames that could not be read (counted, skipped).
    pub malformed: AtomicU64,
    /// Streams declared dead (no frame for `dead_after`).
    pub dead: AtomicU64,
    /// Times the ring was full (the thread waited for the OMS; nothing dropped).
    pub ring_full: AtomicU64,
    /// Last venue error code on subscribe (0 = none).
    pub last_error_code: AtomicI32,
}

impl UserStreamStatus {
    /// Whether a subscription is live now.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    /// The server-minus-local offset the stream signs with, ms (the REST client's, or its own
    /// after a -1021 made it ask the venue's `time`).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}

/// A running user stream: the OMS end of the ring and the side thread (stopped on drop).
pub struct UserStream {
    rx: Consumer<UserEvent>,
    status: Arc<UserStreamStatus>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for UserStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserStream")
            .field("status", &self.status)
            .finish()
    }
}

impl UserStream {
    /// Starts the side thread `lyra-user-<host>`: connect, subscribe, stream, reconnect.
    /// `offset_ms` is the REST client's server-minus-local offset (kept fresh by the OMS).
    ///
    /// # Errors
    /// [`UserStreamError`] for a bad URL or a thread that cannot start.
    pub fn start(
        cfg: UserStreamConfig,
        tls: Arc<ClientConfig>,
        creds: Credentials,
        clock: Arc<dyn Clock>,
        offset_ms: i64,
    ) -> Result<Self, UserStreamError> {
        let url = checked(&cfg.ws_api_url)?;
        let status = Arc::new(UserStreamStatus::default());
        status.offset_ms.store(offset_ms, Ordering::Relaxed);
        let dialect = BinancePrivate {
            creds,
            recv_window_ms: cfg.recv_window_ms,
            clock: clock.clone(),
            status: status.clone(),
            host: url.host.clone(),
            next_id: 1,
            pending: 0,
            pending_time: None,
            sub_id: None,
        };
        private_stream::spawn(dialect, url, cfg, tls, clock, status)
    }

    /// A stream of another venue's dialect ([`crate::private_stream`]) behind the same handle,
    /// so the OMS attaches and drains every venue's stream the same way.
    pub(crate) fn from_parts(
        rx: Consumer<UserEvent>,
        status: Arc<UserStreamStatus>,
        thread: JoinHandle<()>,
    ) -> Self {
        Self {
            rx,
            status,
            thread: Some(thread),
        }
    }

    /// The next update, if one is queued (OMS thread; no allocation, no lock).
    pub fn pop(&mut self) -> Option<UserEvent> {
        self.rx.pop()
    }

    /// The thread's counters.
    pub fn status(&self) -> &UserStreamStatus {
        &self.status
    }

    /// Hands the REST client's current server-time offset to the stream's signer.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.status.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// Stops the thread (unsubscribes and closes) and waits for it.
    pub fn stop(&mut self) {
        self.status.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for UserStream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A blocking TLS WebSocket (rustls + tungstenite), as every private stream uses.
pub(crate) type Ws = WebSocket<StreamOwned<ClientConnection, TcpStream>>;

/// Read timeout while streaming: how often the loop looks at the stop flag and the clocks.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// The Binance dialect of the shared private-stream loop: the signed subscribe, its answers,
/// the time sync after -1021 and the events (A.5, A.6).
struct BinancePrivate {
    creds: Credentials,
    recv_window_ms: u32,
    clock: Arc<dyn Clock>,
    /// The stream's status: the offset it signs with (and stores after a time sync), the last
    /// refusal code.
    status: Arc<UserStreamStatus>,
    /// Venue host (logs).
    host: String,
    /// Next request id (never reused on this stream, across connections too).
    next_id: u64,
    /// Id of the subscribe request whose answer is awaited.
    pending: u64,
    /// A `time` request in flight: its id and the local ms it was sent at.
    pending_time: Option<(u64, u64)>,
    /// The live subscription on this connection.
    sub_id: Option<u64>,
}

/// Whether a read or write only timed out (the socket is fine; try again).
pub(crate) fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

/// Opens `uri` at `host:port`: TCP (no Nagle), TLS, the WebSocket handshake, each within
/// `timeout`; then reads time out every [`TICK`] so a stream loop sees its stop flag.
pub(crate) fn connect_ws(
    host: &str,
    port: u16,
    uri: &str,
    name: &ServerName<'static>,
    tls: &Arc<ClientConfig>,
    timeout: Duration,
) -> io::Result<Ws> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no address"))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let conn = ClientConnection::new(tls.clone(), name.clone())
        .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
    let stream = StreamOwned::new(conn, tcp);
    let ws_cfg = WebSocketConfig::default()
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    let (ws, _) = tungstenite::client::client_with_config(uri, stream, Some(ws_cfg))
        .map_err(|e| io::Error::other(format!("WebSocket handshake: {e}")))?;
    ws.get_ref().sock.set_read_timeout(Some(TICK))?;
    Ok(ws)
}

impl BinancePrivate {
    /// Venue time estimate, ms: local wall clock plus the offset.
    fn server_ms(&self) -> u64 {
        let local_ms = self.clock.wall_ns() / 1_000_000;
        (local_ms as i64 + self.status.offset_ms.load(Ordering::Relaxed)).max(0) as u64
    }

    /// The signed `userDataStream.subscribe.signature` request (A.5) at venue time `ts`: params
    /// sorted by name, signed over `apiKey=…&recvWindow=…&timestamp=…`.
    fn subscribe_request(&mut self, ts: u64) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let payload = format!(
            "apiKey={}&recvWindow={}&timestamp={ts}",
            self.creds.api_key(),
            self.recv_window_ms
        );
        let sig = self.creds.signer().sign_hex(payload.as_bytes());
        let sig = std::str::from_utf8(&sig).unwrap_or("");
        let req = format!(
            r#"{{"id":{id},"method":"userDataStream.subscribe.signature","params":{{"apiKey":"{}","recvWindow":{},"timestamp":{ts},"signature":"{sig}"}}}}"#,
            self.creds.api_key(),
            self.recv_window_ms
        );
        (id, req)
    }

    /// A fresh subscribe, awaited from now on.
    fn resubscribe(&mut self) -> Step {
        let ts = self.server_ms();
        let (id, req) = self.subscribe_request(ts);
        self.pending = id;
        Step::Reopen(req)
    }

    /// An event frame: reports to `emit`; the end of the subscription subscribes again.
    fn on_event(&mut self, ev: &EventBody<'_>, emit: &mut dyn FnMut(UserEvent) -> bool) -> Step {
        match ev.e {
            "executionReport" => match execution(ev) {
                Ok(u) => {
                    if !emit(UserEvent::Execution(u)) {
                        return Step::Retry("stopping");
                    }
                    Step::Idle
                }
                Err(e) => {
                    tracing::warn!(host = %self.host, error = %e, "user stream: bad executionReport");
                    Step::Malformed
                }
            },
            "outboundAccountPosition" => {
                let mut list = [None; 16];
                let mut n = 0;
                let mut more = Vec::new();
                let r = balances(ev, |b| {
                    if n < list.len() {
                        list[n] = Some(b);
                        n += 1;
                    } else {
                        more.push(b);
                    }
                });
                for b in list.into_iter().flatten().chain(more) {
                    if !emit(UserEvent::Balance(b)) {
                        return Step::Retry("stopping");
                    }
                }
                // What could be read was pushed; the rest is counted.
                if r.is_err() {
                    Step::Malformed
                } else {
                    Step::Idle
                }
            }
            // The subscription ended (A.6); subscribe again on this connection.
            "eventStreamTerminated" => {
                self.sub_id = None;
                self.resubscribe()
            }
            "serverShutdown" => Step::Retry("server shutdown"),
            _ => Step::Idle, // balanceUpdate, listStatus, externalLockUpdate: not used by the OMS
        }
    }
}

impl Dialect for BinancePrivate {
    fn venue(&self) -> &'static str {
        "binance"
    }

    fn prepare(&mut self) -> Result<(), &'static str> {
        Ok(()) // HMAC keys: nothing to fetch before a connection
    }

    fn open(&mut self, server_ms: u64) -> String {
        self.sub_id = None;
        self.pending_time = None;
        let (id, req) = self.subscribe_request(server_ms);
        self.pending = id;
        req
    }

    fn on_text(&mut self, text: &str, emit: &mut dyn FnMut(UserEvent) -> bool) -> Step {
        let Ok(f) = serde_json::from_str::<WsFrame<'_>>(text) else {
            return Step::Malformed;
        };
        if let Some(ev) = &f.event {
            if f.subscription_id.is_some() && f.subscription_id != self.sub_id {
                // Another subscription's event (none is made on this socket): not ours.
                return Step::Idle;
            }
            return self.on_event(ev, emit);
        }
        let id = match f.id {
            Some(IdValue::Num(n)) => n,
            _ => return Step::Idle,
        };
        if let Some((tid, t0)) = self.pending_time {
            if id == tid {
                self.pending_time = None;
                if let Some(st) = f.result.as_ref().and_then(|r| r.server_time) {
                    let t1 = self.clock.wall_ns() / 1_000_000;
                    let mid = (t0 + t1) / 2;
                    self.status
                        .offset_ms
                        .store(st as i64 - mid as i64, Ordering::Relaxed);
                }
                return self.resubscribe();
            }
        }
        if id != self.pending {
            return Step::Idle;
        }
        match (f.status, f.result, f.error) {
            (Some(200), Some(r), _) if r.subscription_id.is_some() => {
                self.sub_id = r.subscription_id;
                Step::Subscribed
            }
            (_, _, Some(e)) if e.code == -1021 && self.pending_time.is_none() => {
                // Timestamp outside recvWindow: ask the venue's time, then sign again.
                self.status.last_error_code.store(e.code, Ordering::Relaxed);
                let id = self.next_id;
                self.next_id += 1;
                self.pending_time = Some((id, self.clock.wall_ns() / 1_000_000));
                Step::Reopen(format!(r#"{{"id":{id},"method":"time"}}"#))
            }
            (_, _, e) => Step::Refused(e.map_or(0, |e| e.code), "subscribe refused"),
        }
    }

    /// The WS API's text `ping` (request weight 1); the loop sends [`Self::keepalive`] instead.
    fn ping(&mut self) -> String {
        let id = self.next_id;
        self.next_id += 1;
        format!(r#"{{"id":{id},"method":"ping"}}"#)
    }

    /// A WebSocket ping frame: Binance answers it with a pong and counts no request weight.
    fn keepalive(&mut self) -> Message {
        Message::Ping(Vec::new().into())
    }

    fn goodbye(&mut self) -> Option<String> {
        self.sub_id.map(|_| {
            let id = self.next_id;
            format!(r#"{{"id":{id},"method":"userDataStream.unsubscribe"}}"#)
        })
    }

    fn label(&self) -> &'static str {
        "user stream"
    }

    fn thread_name(&self, host: &str) -> String {
        format!("lyra-user-{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_api_url_is_derived_from_the_rest_base() {
        assert_eq!(
            ws_api_url_for("https://api.binance.com").unwrap(),
            "wss://ws-api.binance.com:443/ws-api/v3"
        );
        assert_eq!(
            ws_api_url_for("https://api3.binance.com/").unwrap(),
            "wss://ws-api.binance.com:443/ws-api/v3"
        );
        assert_eq!(
            ws_api_url_for("https://testnet.binance.vision").unwrap(),
            "wss://ws-api.testnet.binance.vision/ws-api/v3"
        );
        assert_eq!(
            ws_api_url_for("https://127.0.0.1:4443").unwrap(),
            "wss://127.0.0.1:4443/ws-api/v3"
        );
        assert!(ws_api_url_for("http://x").is_err());
    }

    #[test]
    fn urls_are_checked() {
        let u = checked("wss://ws-api.binance.com:443/ws-api/v3").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("ws-api.binance.com", 443));
        assert_eq!(u.uri, "wss://ws-api.binance.com:443/ws-api/v3");
        assert_eq!(
            checked("wss://h/ws-api/v3").unwrap().port,
            443,
            "default port"
        );
        assert_eq!(
            checked("wss://h:9/ws-api/v9").unwrap().uri,
            "wss://h:9/ws-api/v3",
            "the path asked for is fixed"
        );
        assert!(checked("https://h/ws-api/v3").is_err());
        assert!(checked("wss://h:1/stream").is_err(), "market stream path");
        assert!(checked("wss://h:x/ws-api/v3").is_err());
    }

    fn dialect(clock: Arc<dyn Clock>) -> BinancePrivate {
        BinancePrivate {
            creds: Credentials::new("KEY", b"SECRET"),
            recv_window_ms: 100,
            clock,
            status: Arc::new(UserStreamStatus::default()),
            host: "h".into(),
            next_id: 1,
            pending: 0,
            pending_time: None,
            sub_id: None,
        }
    }

    #[test]
    fn the_subscribe_request_is_signed_over_its_sorted_params_and_hides_nothing_else() {
        use lyra_shm::clock::ManualClock;
        let mut d = dialect(Arc::new(ManualClock::new(0)));
        let req = d.open(1_645_423_376_532);
        assert_eq!(d.pending, 1);
        let sig = crate::sign::Signer::new(b"SECRET")
            .sign_hex(b"apiKey=KEY&recvWindow=100&timestamp=1645423376532");
        let want = format!(
            r#"{{"id":1,"method":"userDataStream.subscribe.signature","params":{{"apiKey":"KEY","recvWindow":100,"timestamp":1645423376532,"signature":"{}"}}}}"#,
            std::str::from_utf8(&sig).unwrap()
        );
        assert_eq!(req, want);
        assert!(!req.contains("SECRET"));
    }

    #[test]
    fn answers_drive_subscribe_time_sync_resubscribe_and_unsubscribe() {
        use lyra_shm::clock::ManualClock;
        let clock = Arc::new(ManualClock::new(1_000_000_000_000 * 1_000_000));
        let mut d = dialect(clock.clone());
        let mut events = Vec::new();
        let mut emit = |ev: UserEvent| {
            events.push(ev);
            true
        };
        let _ = d.open(1_000_000_000_000);
        assert_eq!(d.on_text("not json", &mut emit), Step::Malformed);
        assert_eq!(d.goodbye(), None, "nothing to unsubscribe yet");
        // -1021: the time is asked, then the subscribe is signed again with the venue's offset.
        let step = d.on_text(
            r#"{"id":1,"status":400,"error":{"code":-1021,"msg":"ts"}}"#,
            &mut emit,
        );
        assert_eq!(step, Step::Reopen(r#"{"id":2,"method":"time"}"#.into()));
        assert_eq!(d.status.last_error_code.load(Ordering::Relaxed), -1021);
        let step = d.on_text(
            r#"{"id":2,"status":200,"result":{"serverTime":1000000000500}}"#,
            &mut emit,
        );
        assert_eq!(d.status.offset_ms(), 500);
        match step {
            Step::Reopen(req) => {
                assert!(req.contains(r#""id":3,"#) && req.contains("1000000000500"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            d.on_text(
                r#"{"id":1,"status":200,"result":{"subscriptionId":7}}"#,
                &mut emit
            ),
            Step::Idle,
            "a stale answer"
        );
        assert_eq!(
            d.on_text(
                r#"{"id":3,"status":200,"result":{"subscriptionId":7}}"#,
                &mut emit
            ),
            Step::Subscribed
        );
        // Another subscription's event is not ours; the end of ours subscribes again.
        let other = r#"{"subscriptionId":8,"event":{"e":"eventStreamTerminated","E":1}}"#;
        assert_eq!(d.on_text(other, &mut emit), Step::Idle);
        assert_eq!(
            d.goodbye().as_deref(),
            Some(r#"{"id":4,"method":"userDataStream.unsubscribe"}"#)
        );
        let ours = r#"{"subscriptionId":7,"event":{"e":"eventStreamTerminated","E":1}}"#;
        assert!(matches!(d.on_text(ours, &mut emit), Step::Reopen(r) if r.contains(r#""id":4,"#)));
        assert_eq!(d.goodbye(), None);
        assert_eq!(
            d.on_text(r#"{"id":4,"status":401,"error":{"code":-2015}}"#, &mut emit),
            Step::Refused(-2015, "subscribe refused")
        );
        let shutdown = r#"{"event":{"e":"serverShutdown","E":1}}"#;
        assert_eq!(
            d.on_text(shutdown, &mut emit),
            Step::Retry("server shutdown")
        );
        assert!(events.is_empty());
        assert_eq!(d.thread_name("h"), "lyra-user-h");
    }
}
