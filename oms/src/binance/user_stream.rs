//! The Binance user data stream client (PROTOCOLS-ORDERS A.5): the WebSocket API
//! (`wss://ws-api.binance.com:443/ws-api/v3`) with `userDataStream.subscribe.signature`
//! (HMAC keys, no logon) — listenKey streams were switched off on 2026-02-20.
//!
//! It runs on its own side thread, never the OMS thread: blocking TLS WebSocket (rustls +
//! tungstenite) with a short read timeout, a signed subscribe (the REST client's [`Signer`] and
//! server-time offset), WebSocket pings, a dead-stream check (no frame for `dead_after`),
//! reconnect with exponential backoff and resubscribe. Events become fixed-size `Copy`
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

use lyra_shm::{
    clock::Clock,
    ring::{channel, Consumer, Producer, PushError},
};
use rustls::{pki_types::ServerName, ClientConfig, ClientConnection, StreamOwned};
use thiserror::Error;
use tungstenite::{protocol::WebSocketConfig, Message, WebSocket};

use super::user_stream_event::{balances, execution, IdValue, UserEvent, WsFrame};
use crate::sign::Credentials;

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
    parse_url(url).map(|_| ())
}

/// `wss://host[:port]/path` split up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WsUrl {
    host: String,
    port: u16,
}

fn parse_url(url: &str) -> Result<WsUrl, UserStreamError> {
    let bad = |reason: &str| UserStreamError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("wss://")
        .ok_or_else(|| bad("must start with wss://"))?;
    let hostport = rest.split('/').next().unwrap_or("");
    if !rest[hostport.len()..].starts_with("/ws-api/") {
        return Err(bad("path must be /ws-api/v3"));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
        None => (hostport, 443),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(WsUrl {
        host: host.to_owned(),
        port,
    })
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
        assert!(
            cfg.ring_capacity.is_power_of_two(),
            "user stream ring capacity must be a power of two"
        );
        let url = parse_url(&cfg.ws_api_url)?;
        let name = ServerName::try_from(url.host.clone()).map_err(|e| UserStreamError::Url {
            url: cfg.ws_api_url.clone(),
            reason: e.to_string(),
        })?;
        let (tx, rx) = channel(cfg.ring_capacity);
        let status = Arc::new(UserStreamStatus::default());
        status.offset_ms.store(offset_ms, Ordering::Relaxed);
        let host = url.host.clone();
        let mut worker = Worker {
            cfg,
            url,
            name,
            tls,
            creds,
            clock,
            tx,
            status: status.clone(),
            epoch: 0,
            next_id: 1,
            sub_id: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("lyra-user-{}", host))
            .spawn(move || worker.run())
            .map_err(|e| UserStreamError::Thread {
                host,
                reason: e.to_string(),
            })?;
        Ok(Self {
            rx,
            status,
            thread: Some(thread),
        })
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

/// How one connection ended.
enum End {
    /// Stop requested.
    Stop,
    /// Reconnect after the backoff, for this reason (logged; never holds a secret).
    Retry(&'static str),
}

struct Worker {
    cfg: UserStreamConfig,
    url: WsUrl,
    name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    creds: Credentials,
    clock: Arc<dyn Clock>,
    tx: Producer<UserEvent>,
    status: Arc<UserStreamStatus>,
    epoch: u64,
    next_id: u64,
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

impl Worker {
    fn stopping(&self) -> bool {
        self.status.stop.load(Ordering::Acquire)
    }

    fn mono_ns(&self) -> u64 {
        self.clock.mono_ns()
    }

    fn run(&mut self) {
        let mut backoff = self.cfg.backoff_initial;
        let mut first = true;
        while !self.stopping() {
            if !first {
                self.status.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            let subs_before = self.status.subscriptions.load(Ordering::Relaxed);
            let end = match self.connect() {
                Ok(mut ws) => {
                    let end = self.session(&mut ws);
                    let _ = ws.close(None);
                    let _ = ws.flush();
                    end
                }
                Err(e) => {
                    tracing::warn!(host = %self.url.host, error = %e, "user stream: connect failed");
                    End::Retry("connect failed")
                }
            };
            if self.sub_id.take().is_some() {
                self.status.subscribed.store(false, Ordering::Relaxed);
                self.push(UserEvent::Down { epoch: self.epoch });
            }
            match end {
                End::Stop => break,
                End::Retry(why) => {
                    tracing::warn!(host = %self.url.host, reason = why, "user stream: reconnecting");
                }
            }
            if self.status.subscriptions.load(Ordering::Relaxed) > subs_before {
                backoff = self.cfg.backoff_initial;
            }
            self.sleep(backoff);
            backoff = (backoff * 2).min(self.cfg.backoff_max);
        }
    }

    /// Sleeps in ticks so a stop is seen promptly.
    fn sleep(&self, d: Duration) {
        let end = self.mono_ns() + d.as_nanos() as u64;
        while !self.stopping() {
            let now = self.mono_ns();
            if now >= end {
                return;
            }
            std::thread::sleep(Duration::from_nanos(end - now).min(TICK));
        }
    }

    fn connect(&self) -> io::Result<Ws> {
        // The path is fixed by A.5; the URL only says where.
        let uri = format!("wss://{}:{}/ws-api/v3", self.url.host, self.url.port);
        connect_ws(
            &self.url.host,
            self.url.port,
            &uri,
            &self.name,
            &self.tls,
            self.cfg.connect_timeout,
        )
    }

    /// The signed `userDataStream.subscribe.signature` request (A.5): params sorted by name,
    /// signed over `apiKey=…&recvWindow=…&timestamp=…`.
    fn subscribe_request(&mut self) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let local_ms = self.clock.wall_ns() / 1_000_000;
        let ts = (local_ms as i64 + self.status.offset_ms.load(Ordering::Relaxed)).max(0) as u64;
        let payload = format!(
            "apiKey={}&recvWindow={}&timestamp={ts}",
            self.creds.api_key(),
            self.cfg.recv_window_ms
        );
        let sig = self.creds.signer().sign_hex(payload.as_bytes());
        let sig = std::str::from_utf8(&sig).unwrap_or("");
        let req = format!(
            r#"{{"id":{id},"method":"userDataStream.subscribe.signature","params":{{"apiKey":"{}","recvWindow":{},"timestamp":{ts},"signature":"{sig}"}}}}"#,
            self.creds.api_key(),
            self.cfg.recv_window_ms
        );
        (id, req)
    }

    fn send(ws: &mut Ws, text: String) -> Result<(), &'static str> {
        match ws.send(Message::text(text)) {
            Ok(()) => Ok(()),
            Err(e) if is_timeout(&e) => Ok(()), // queued; flushed on the next write
            Err(_) => Err("write failed"),
        }
    }

    /// Pushes to the OMS; a full ring waits (TCP backpressure holds the venue) rather than drop.
    fn push(&mut self, mut ev: UserEvent) -> bool {
        let mut counted = false;
        loop {
            match self.tx.push(ev) {
                Ok(()) => {
                    if matches!(ev, UserEvent::Execution(_) | UserEvent::Balance(_)) {
                        self.status.events.fetch_add(1, Ordering::Relaxed);
                    }
                    return true;
                }
                Err(PushError::Full(back)) => {
                    ev = back;
                    if !counted {
                        self.status.ring_full.fetch_add(1, Ordering::Relaxed);
                        counted = true;
                    }
                    if self.stopping() {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// One connection: subscribe, then stream until it ends.
    fn session(&mut self, ws: &mut Ws) -> End {
        let (mut pending, req) = self.subscribe_request();
        if Self::send(ws, req).is_err() {
            return End::Retry("subscribe not sent");
        }
        let mut pending_time: Option<(u64, u64)> = None;
        let mut sub_deadline = self.mono_ns() + self.cfg.connect_timeout.as_nanos() as u64;
        let mut last_rx = self.mono_ns();
        let mut last_ping = last_rx;
        let ping_ns = self.cfg.ping_every.as_nanos() as u64;
        let dead_ns = self.cfg.dead_after.as_nanos() as u64;
        loop {
            if self.stopping() {
                if self.sub_id.is_some() {
                    let id = self.next_id;
                    let _ = Self::send(
                        ws,
                        format!(r#"{{"id":{id},"method":"userDataStream.unsubscribe"}}"#),
                    );
                }
                return End::Stop;
            }
            let msg = match ws.read() {
                Ok(m) => Some(m),
                Err(e) if is_timeout(&e) => None,
                Err(_) => return End::Retry("connection lost"),
            };
            let now = self.mono_ns();
            match msg {
                Some(Message::Text(t)) => {
                    last_rx = now;
                    match self.on_text(t.as_str(), &mut pending, &mut pending_time) {
                        Ok(Some(req)) => {
                            sub_deadline = now + self.cfg.connect_timeout.as_nanos() as u64;
                            if Self::send(ws, req).is_err() {
                                return End::Retry("request not sent");
                            }
                        }
                        Ok(None) => {}
                        Err(why) => return End::Retry(why),
                    }
                }
                Some(Message::Close(_)) => return End::Retry("closed by the venue"),
                Some(_) => last_rx = now, // ping (tungstenite queues the pong), pong, binary
                None => {}
            }
            if self.sub_id.is_none() && now > sub_deadline {
                return End::Retry("subscribe not answered");
            }
            if now.saturating_sub(last_rx) > dead_ns {
                self.status.dead.fetch_add(1, Ordering::Relaxed);
                return End::Retry("no frame within dead_after");
            }
            if now.saturating_sub(last_ping) >= ping_ns {
                last_ping = now;
                match ws.send(Message::Ping(Vec::new().into())) {
                    Ok(()) => {}
                    Err(e) if is_timeout(&e) => {}
                    Err(_) => return End::Retry("ping not sent"),
                }
            }
            match ws.flush() {
                Ok(()) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return End::Retry("flush failed"),
            }
        }
    }

    /// Handles one text frame; may return a request to send (a resubscribe, a time sync).
    fn on_text(
        &mut self,
        text: &str,
        pending: &mut u64,
        pending_time: &mut Option<(u64, u64)>,
    ) -> Result<Option<String>, &'static str> {
        let Ok(f) = serde_json::from_str::<WsFrame<'_>>(text) else {
            self.status.malformed.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        if let Some(ev) = &f.event {
            if f.subscription_id.is_some() && f.subscription_id != self.sub_id {
                // Another subscription's event (none is made on this socket): not ours.
                return Ok(None);
            }
            match ev.e {
                "executionReport" => match execution(ev) {
                    Ok(u) => {
                        if !self.push(UserEvent::Execution(u)) {
                            return Err("stopping");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(host = %self.url.host, error = %e, "user stream: bad executionReport");
                        self.status.malformed.fetch_add(1, Ordering::Relaxed);
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
                    if r.is_err() {
                        self.status.malformed.fetch_add(1, Ordering::Relaxed);
                    }
                    for b in list.into_iter().flatten().chain(more) {
                        if !self.push(UserEvent::Balance(b)) {
                            return Err("stopping");
                        }
                    }
                }
                // The subscription ended (A.6); subscribe again on this connection.
                "eventStreamTerminated" => {
                    self.end_subscription();
                    let (id, req) = self.subscribe_request();
                    *pending = id;
                    return Ok(Some(req));
                }
                "serverShutdown" => return Err("server shutdown"),
                _ => {} // balanceUpdate, listStatus, externalLockUpdate: not used by the OMS
            }
            return Ok(None);
        }
        let id = match f.id {
            Some(IdValue::Num(n)) => n,
            _ => return Ok(None),
        };
        if let Some((tid, t0)) = *pending_time {
            if id == tid {
                *pending_time = None;
                if let Some(st) = f.result.as_ref().and_then(|r| r.server_time) {
                    let t1 = self.clock.wall_ns() / 1_000_000;
                    let mid = (t0 + t1) / 2;
                    self.status
                        .offset_ms
                        .store(st as i64 - mid as i64, Ordering::Relaxed);
                }
                let (id, req) = self.subscribe_request();
                *pending = id;
                return Ok(Some(req));
            }
        }
        if id != *pending {
            return Ok(None);
        }
        match (f.status, f.result, f.error) {
            (Some(200), Some(r), _) if r.subscription_id.is_some() => {
                self.sub_id = r.subscription_id;
                self.epoch += 1;
                self.status.subscriptions.fetch_add(1, Ordering::Relaxed);
                self.status.subscribed.store(true, Ordering::Relaxed);
                self.status.last_error_code.store(0, Ordering::Relaxed);
                if !self.push(UserEvent::Subscribed { epoch: self.epoch }) {
                    return Err("stopping");
                }
                tracing::info!(host = %self.url.host, epoch = self.epoch, "user stream subscribed");
                Ok(None)
            }
            (_, _, Some(e)) if e.code == -1021 && pending_time.is_none() => {
                // Timestamp outside recvWindow: ask the venue's time, then sign again.
                self.status.last_error_code.store(e.code, Ordering::Relaxed);
                let id = self.next_id;
                self.next_id += 1;
                *pending_time = Some((id, self.clock.wall_ns() / 1_000_000));
                Ok(Some(format!(r#"{{"id":{id},"method":"time"}}"#)))
            }
            (_, _, e) => {
                let code = e.map_or(0, |e| e.code);
                self.status.last_error_code.store(code, Ordering::Relaxed);
                tracing::warn!(host = %self.url.host, code, "user stream: subscribe refused");
                Err("subscribe refused")
            }
        }
    }

    fn end_subscription(&mut self) {
        if self.sub_id.take().is_some() {
            self.status.subscribed.store(false, Ordering::Relaxed);
            let epoch = self.epoch;
            self.push(UserEvent::Down { epoch });
        }
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
        assert_eq!(
            parse_url("wss://ws-api.binance.com:443/ws-api/v3").unwrap(),
            WsUrl {
                host: "ws-api.binance.com".into(),
                port: 443
            }
        );
        assert_eq!(
            parse_url("wss://h/ws-api/v3").unwrap().port,
            443,
            "default port"
        );
        assert!(parse_url("https://h/ws-api/v3").is_err());
        assert!(parse_url("wss://h:1/stream").is_err(), "market stream path");
        assert!(parse_url("wss://h:x/ws-api/v3").is_err());
    }

    #[test]
    fn the_subscribe_request_is_signed_over_its_sorted_params_and_hides_nothing_else() {
        use lyra_shm::clock::ManualClock;
        let (tx, _rx) = channel(2);
        let clock = Arc::new(ManualClock::new(1_645_423_376_532_000_000));
        let mut w = Worker {
            cfg: UserStreamConfig::new("wss://h/ws-api/v3", 100),
            url: parse_url("wss://h/ws-api/v3").unwrap(),
            name: ServerName::try_from("h".to_owned()).unwrap(),
            tls: crate::http::tls_config(None).unwrap(),
            creds: Credentials::new("KEY", b"SECRET"),
            clock,
            tx,
            status: Arc::new(UserStreamStatus::default()),
            epoch: 0,
            next_id: 1,
            sub_id: None,
        };
        let (id, req) = w.subscribe_request();
        assert_eq!(id, 1);
        let sig = crate::sign::Signer::new(b"SECRET")
            .sign_hex(b"apiKey=KEY&recvWindow=100&timestamp=1645423376532");
        let want = format!(
            r#"{{"id":1,"method":"userDataStream.subscribe.signature","params":{{"apiKey":"KEY","recvWindow":100,"timestamp":1645423376532,"signature":"{}"}}}}"#,
            std::str::from_utf8(&sig).unwrap()
        );
        assert_eq!(req, want);
        assert!(!req.contains("SECRET"));
    }
}
