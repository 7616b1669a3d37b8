//! The side thread of every private order stream — the Binance user data stream, OKX and
//! Kraken: one connection loop (the blocking TLS WebSocket `connect_ws` of
//! [`crate::binance::user_stream`], its [`UserStreamConfig`] timings, its ring of
//! [`UserEvent`]s and its [`UserStream`] handle), with the venue's dialect — authenticate,
//! subscribe, parse — behind [`Dialect`] (`binance::user_stream`, `okx::private_stream`,
//! `kraken::private_stream`).
//!
//! A session: connect, send the dialect's opening request (Binance
//! `userDataStream.subscribe.signature`, OKX `login`, Kraken `subscribe` with its token), follow
//! its answers until the subscription is live ([`UserEvent::Subscribed`]: the OMS polls once, no
//! venue replays what a dead connection missed), then push every report. A dialect may make its
//! request again on the same connection ([`Step::Reopen`]: Binance after `eventStreamTerminated`
//! or a time sync). Keep-alive is the dialect's [`Dialect::keepalive`] every `ping_every`
//! (Binance: a WebSocket ping; OKX: `ping` within 30 s; Kraken: `{"method":"ping"}`); no frame
//! for `dead_after` declares the connection dead. Any end pushes [`UserEvent::Down`] and
//! reconnects after a backoff that doubles from `backoff_initial` to `backoff_max` and restarts
//! after a subscription; a stop sends the dialect's [`Dialect::goodbye`] first.
//!
//! Requests carry keys, signatures and tokens: they are never logged; errors and logs name the
//! host and the cause only.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use lyra_shm::{
    clock::Clock,
    ring::{channel, Producer, PushError},
};
use rustls::{pki_types::ServerName, ClientConfig};
use tungstenite::Message;

use crate::binance::{
    user_stream::{connect_ws, is_timeout, UserStreamStatus, Ws, TICK},
    user_stream_event::{ExecutionUpdate, UserEvent},
    UserStream, UserStreamConfig, UserStreamError,
};

/// What a dialect asks of the connection after a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing (a pong, a report already pushed, a frame of no interest).
    Idle,
    /// Send this request (holds secrets: never logged).
    Send(String),
    /// The subscription ended or its request must be made again (Binance:
    /// `eventStreamTerminated`, a time sync after -1021): a live subscription goes down, this
    /// request is sent and its answer has `connect_timeout` again.
    Reopen(String),
    /// The subscription is live from now on.
    Subscribed,
    /// The frame could not be read (counted, skipped).
    Malformed,
    /// The venue refused (login, subscription) with this code (0 = not a number): reconnect.
    Refused(i32, &'static str),
    /// End this connection and reconnect, for this reason.
    Retry(&'static str),
}

/// Pushes the execution report of every item in `items` (`update` reads one; `None` = unreadable,
/// skipped and reported as [`Step::Malformed`] after the rest went out): the tail of every
/// dialect's `on_text` for a frame of order reports.
pub(crate) fn emit_reports<T>(
    items: &[T],
    update: impl Fn(&T) -> Option<ExecutionUpdate>,
    emit: &mut dyn FnMut(UserEvent) -> bool,
) -> Step {
    let mut bad = false;
    for item in items {
        match update(item) {
            Some(u) => {
                if !emit(UserEvent::Execution(u)) {
                    return Step::Retry("stopping");
                }
            }
            None => bad = true,
        }
    }
    if bad {
        Step::Malformed
    } else {
        Step::Idle
    }
}

/// One venue's private-stream protocol, driven by the shared connection loop.
pub(crate) trait Dialect: Send + 'static {
    /// Venue name (thread name, logs).
    fn venue(&self) -> &'static str;

    /// Before each connection (Kraken: a usable token); an error reconnects after the backoff.
    ///
    /// # Errors
    /// Why the connection cannot be tried now (never a secret).
    fn prepare(&mut self) -> Result<(), &'static str>;

    /// The first request on a fresh connection; `server_ms` is the venue time estimate.
    fn open(&mut self, server_ms: u64) -> String;

    /// Handles one text frame, handing reports to `emit` (which returns `false` when the
    /// stream is stopping).
    fn on_text(&mut self, text: &str, emit: &mut dyn FnMut(UserEvent) -> bool) -> Step;

    /// The keep-alive text request.
    fn ping(&mut self) -> String;

    /// The keep-alive frame sent every `ping_every` (default: [`Dialect::ping`] as text).
    fn keepalive(&mut self) -> Message {
        Message::text(self.ping())
    }

    /// The last request before a stop closes the connection (Binance: unsubscribe), if any.
    fn goodbye(&mut self) -> Option<String> {
        None
    }

    /// What the logs call the stream (operators grep for it).
    fn label(&self) -> &'static str {
        "private stream"
    }

    /// Name of the side thread for a stream to `host`.
    fn thread_name(&self, host: &str) -> String {
        let _ = host; // one stream per venue: the venue names it
        format!("lyra-priv-{}", self.venue())
    }
}

/// `wss://host[:port]/path` split up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrivateUrl {
    /// Host.
    pub host: String,
    /// Port (443 when absent).
    pub port: u16,
    /// The whole URL with the port written out, as the handshake requests it.
    pub uri: String,
}

/// Parses `wss://host[:port]/path`; `path` must start with `want_path` (`/ws/v5/`, `/v2`).
///
/// # Errors
/// [`UserStreamError::Url`] saying what is wrong.
pub(crate) fn parse_url(url: &str, want_path: &str) -> Result<PrivateUrl, UserStreamError> {
    let bad = |reason: String| UserStreamError::Url {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("wss://")
        .ok_or_else(|| bad("must start with wss://".into()))?;
    let hostport = rest.split('/').next().unwrap_or("");
    let path = &rest[hostport.len()..];
    if !path.starts_with(want_path) {
        return Err(bad(format!("path must start with {want_path}")));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port".into()))?),
        None => (hostport, 443),
    };
    if host.is_empty() {
        return Err(bad("no host".into()));
    }
    Ok(PrivateUrl {
        host: host.to_owned(),
        port,
        uri: format!("wss://{host}:{port}{path}"),
    })
}

/// Starts the side thread of `dialect` on `url` (already checked by the dialect's `start`):
/// connect, authenticate, subscribe, stream, reconnect.
///
/// # Errors
/// [`UserStreamError`] for a host that is no TLS name or a thread that cannot start.
pub(crate) fn start<D: Dialect>(
    dialect: D,
    url: PrivateUrl,
    cfg: UserStreamConfig,
    tls: Arc<ClientConfig>,
    clock: Arc<dyn Clock>,
    offset_ms: i64,
) -> Result<UserStream, UserStreamError> {
    let status = Arc::new(UserStreamStatus::default());
    status.offset_ms.store(offset_ms, Ordering::Relaxed);
    spawn(dialect, url, cfg, tls, clock, status)
}

/// [`start`] with a status the dialect already holds (Binance signs with its `offset_ms` and
/// stores the offset a time sync finds).
///
/// # Errors
/// [`UserStreamError`] for a host that is no TLS name or a thread that cannot start.
pub(crate) fn spawn<D: Dialect>(
    dialect: D,
    url: PrivateUrl,
    cfg: UserStreamConfig,
    tls: Arc<ClientConfig>,
    clock: Arc<dyn Clock>,
    status: Arc<UserStreamStatus>,
) -> Result<UserStream, UserStreamError> {
    assert!(
        cfg.ring_capacity.is_power_of_two(),
        "private stream ring capacity must be a power of two"
    );
    let name = ServerName::try_from(url.host.clone()).map_err(|e| UserStreamError::Url {
        url: cfg.ws_api_url.clone(),
        reason: e.to_string(),
    })?;
    let (tx, rx) = channel(cfg.ring_capacity);
    let host = url.host.clone();
    let thread_name = dialect.thread_name(&host);
    let mut worker = Worker {
        d: dialect,
        cfg,
        url,
        name,
        tls,
        clock,
        tx,
        status: status.clone(),
        epoch: 0,
        subscribed: false,
    };
    let thread = std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || worker.run())
        .map_err(|e| UserStreamError::Thread {
            host,
            reason: e.to_string(),
        })?;
    Ok(UserStream::from_parts(rx, status, thread))
}

/// How one connection ended.
enum End {
    Stop,
    Retry(&'static str),
}

struct Worker<D: Dialect> {
    d: D,
    cfg: UserStreamConfig,
    url: PrivateUrl,
    name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    clock: Arc<dyn Clock>,
    tx: Producer<UserEvent>,
    status: Arc<UserStreamStatus>,
    epoch: u64,
    subscribed: bool,
}

/// Hands `ev` to the OMS; a full ring waits (TCP backpressure holds the venue) rather than
/// drop. `false`: stopping.
fn push(tx: &mut Producer<UserEvent>, status: &UserStreamStatus, mut ev: UserEvent) -> bool {
    let mut counted = false;
    loop {
        match tx.push(ev) {
            Ok(()) => {
                if matches!(ev, UserEvent::Execution(_) | UserEvent::Balance(_)) {
                    status.events.fetch_add(1, Ordering::Relaxed);
                }
                return true;
            }
            Err(PushError::Full(back)) => {
                ev = back;
                if !counted {
                    status.ring_full.fetch_add(1, Ordering::Relaxed);
                    counted = true;
                }
                if status.stop.load(Ordering::Acquire) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl<D: Dialect> Worker<D> {
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
            let end = match self.d.prepare() {
                Err(why) => End::Retry(why),
                Ok(()) => match connect_ws(
                    &self.url.host,
                    self.url.port,
                    &self.url.uri,
                    &self.name,
                    &self.tls,
                    self.cfg.connect_timeout,
                ) {
                    Ok(mut ws) => {
                        let end = self.session(&mut ws);
                        let _ = ws.close(None);
                        let _ = ws.flush();
                        end
                    }
                    Err(e) => {
                        tracing::warn!(venue = self.d.venue(), host = %self.url.host, error = %e, "{}: connect failed", self.d.label());
                        End::Retry("connect failed")
                    }
                },
            };
            if self.subscribed {
                self.subscribed = false;
                self.status.subscribed.store(false, Ordering::Relaxed);
                push(
                    &mut self.tx,
                    &self.status,
                    UserEvent::Down { epoch: self.epoch },
                );
            }
            match end {
                End::Stop => break,
                End::Retry(why) => {
                    tracing::warn!(venue = self.d.venue(), host = %self.url.host, reason = why, "{}: reconnecting", self.d.label());
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

    fn send(ws: &mut Ws, text: String) -> Result<(), &'static str> {
        match ws.send(Message::text(text)) {
            Ok(()) => Ok(()),
            Err(e) if is_timeout(&e) => Ok(()), // queued; flushed on the next write
            Err(_) => Err("write failed"),
        }
    }

    /// Ends a session on a stop: the dialect's goodbye goes out with the close.
    fn stop_session(&mut self, ws: &mut Ws) -> End {
        if let Some(req) = self.d.goodbye() {
            let _ = Self::send(ws, req);
        }
        End::Stop
    }

    /// One connection: open, then stream until it ends.
    fn session(&mut self, ws: &mut Ws) -> End {
        let server_ms = (self.clock.wall_ns() / 1_000_000) as i64
            + self.status.offset_ms.load(Ordering::Relaxed);
        let req = self.d.open(server_ms.max(0) as u64);
        if Self::send(ws, req).is_err() {
            return End::Retry("opening request not sent");
        }
        let answer_ns = self.cfg.connect_timeout.as_nanos() as u64;
        let mut sub_deadline = self.mono_ns() + answer_ns;
        let mut last_rx = self.mono_ns();
        let mut last_ping = last_rx;
        let ping_ns = self.cfg.ping_every.as_nanos() as u64;
        let dead_ns = self.cfg.dead_after.as_nanos() as u64;
        loop {
            if self.stopping() {
                return self.stop_session(ws);
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
                    let (tx, status) = (&mut self.tx, &self.status);
                    let step = self.d.on_text(t.as_str(), &mut |ev| push(tx, status, ev));
                    match step {
                        Step::Idle => {}
                        Step::Send(req) => {
                            if Self::send(ws, req).is_err() {
                                return End::Retry("request not sent");
                            }
                        }
                        Step::Reopen(req) => {
                            if self.subscribed {
                                self.subscribed = false;
                                self.status.subscribed.store(false, Ordering::Relaxed);
                                let ev = UserEvent::Down { epoch: self.epoch };
                                push(&mut self.tx, &self.status, ev);
                            }
                            sub_deadline = now + answer_ns;
                            if Self::send(ws, req).is_err() {
                                return End::Retry("request not sent");
                            }
                        }
                        Step::Subscribed => {
                            if !self.subscribed {
                                self.subscribed = true;
                                self.epoch += 1;
                                self.status.subscriptions.fetch_add(1, Ordering::Relaxed);
                                self.status.subscribed.store(true, Ordering::Relaxed);
                                self.status.last_error_code.store(0, Ordering::Relaxed);
                                let ev = UserEvent::Subscribed { epoch: self.epoch };
                                if !push(&mut self.tx, &self.status, ev) {
                                    return End::Stop;
                                }
                                tracing::info!(venue = self.d.venue(), host = %self.url.host, epoch = self.epoch, "{} subscribed", self.d.label());
                            }
                        }
                        Step::Malformed => {
                            self.status.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                        Step::Refused(code, why) => {
                            self.status.last_error_code.store(code, Ordering::Relaxed);
                            tracing::warn!(venue = self.d.venue(), host = %self.url.host, code, reason = why, "{}: refused", self.d.label());
                            return End::Retry(why);
                        }
                        Step::Retry(why) => return End::Retry(why),
                    }
                    if self.stopping() {
                        return self.stop_session(ws);
                    }
                }
                Some(Message::Close(_)) => return End::Retry("closed by the venue"),
                Some(_) => last_rx = now, // ping (tungstenite queues the pong), pong, binary
                None => {}
            }
            if !self.subscribed && now > sub_deadline {
                return End::Retry("subscription not answered");
            }
            if now.saturating_sub(last_rx) > dead_ns {
                self.status.dead.fetch_add(1, Ordering::Relaxed);
                return End::Retry("no frame within dead_after");
            }
            if now.saturating_sub(last_ping) >= ping_ns {
                last_ping = now;
                match ws.send(self.d.keepalive()) {
                    Ok(()) => {}
                    Err(e) if is_timeout(&e) => {} // queued; flushed on the next write
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
}

/// Decimal text of a JSON number (Kraken v2 writes amounts as numbers). serde_json reads it
/// correctly rounded and `Display` writes the shortest text that reads back the same, so a
/// venue amount of at most 15 significant digits comes back digit for digit.
pub(crate) fn number_text(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// `text` with its sign flipped (`-0.1` ↔ `0.1`; `0` and empty stay): OKX fees are negative
/// when paid, the OMS counts paid fees positive.
pub(crate) fn negated(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() || t.bytes().all(|b| matches!(b, b'0' | b'.')) {
        return "0".into();
    }
    match t.strip_prefix('-') {
        Some(rest) => rest.to_owned(),
        None => format!("-{}", t.strip_prefix('+').unwrap_or(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("wss://ws.okx.com:8443/ws/v5/private", "/ws/v5/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("ws.okx.com", 8443));
        assert_eq!(u.uri, "wss://ws.okx.com:8443/ws/v5/private");
        let k = parse_url("wss://ws-auth.kraken.com/v2", "/v2").unwrap();
        assert_eq!(
            (k.port, k.uri.as_str()),
            (443, "wss://ws-auth.kraken.com:443/v2")
        );
        assert!(parse_url("https://h/v2", "/v2").is_err());
        assert!(parse_url("wss://h/ws/v5/public", "/v2").is_err());
        assert!(parse_url("wss://:1/v2", "/v2").is_err());
        assert!(parse_url("wss://h:x/v2", "/v2").is_err());
    }

    #[test]
    fn numbers_and_signs() {
        assert_eq!(number_text(0.00001), "0.00001");
        assert_eq!(number_text(26_500.1), "26500.1");
        assert_eq!(number_text(0.12345678), "0.12345678");
        assert_eq!(number_text(3.0), "3");
        assert_eq!(negated("-0.0001"), "0.0001");
        assert_eq!(negated("0.0002"), "-0.0002");
        assert_eq!(negated("0"), "0");
        assert_eq!(negated(""), "0");
    }
}
