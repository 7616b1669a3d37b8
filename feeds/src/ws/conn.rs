//! The connection state machine: connect → TLS + WebSocket handshake → subscribe → live, and back
//! through a jittered backoff whenever anything goes wrong.
//!
//! Driven by the feed thread that owns the `mio::Poll`: call [`WsClient::on_ready`] for every event
//! carrying the client's token and [`WsClient::on_tick`] once per loop turn (it only reads the
//! injected clock unless a timer is due); wait at most until [`WsClient::next_deadline_ns`].
//!
//! Allocation (measured by `tests/ws_alloc.rs` with a counting allocator): after warm-up the
//! plain `ws://` receive path allocates nothing per frame. The client copies each payload into one
//! reused scratch buffer and hands it out as `&mut [u8]` (simd-json parses in place); tungstenite
//! 0.30 splits each payload out of its `BytesMut` read buffer, and since the message is dropped
//! before the next read the buffer reclaims that storage. Over TLS, rustls' buffered API copies
//! every decrypted record into a fresh `Vec` (one allocation per record, i.e. about one per frame).
//! rustls 0.23's `UnbufferedClientConnection` does not avoid it: its `ReadTraffic::next_record`
//! pops the same per-record `Vec`s (in-place decryption is a rustls TODO) — tried and measured, no
//! change — so this stays until rustls decrypts in place. Fragmented messages (assembled in a
//! `Vec`), pongs, keep-alives, subscribe requests, pre-ack buffering and reconnects also allocate;
//! none of them is per data frame.

use std::{io, net::SocketAddr, sync::Arc};

use lyra_shm::clock::{Clock, Nanos};
use mio::{event::Event, net::TcpStream, Interest, Registry, Token};
use rustls::{pki_types::ServerName, ClientConfig};
use tungstenite::{
    client::client_with_config,
    error::{CapacityError, ProtocolError},
    handshake::{client::ClientHandshake, HandshakeError, MidHandshake},
    protocol::WebSocketConfig,
    Bytes, Message, WebSocket,
};

use super::{
    backoff::{Backoff, BackoffConfig},
    keepalive::{KeepAlive, KeepAliveAction, KeepAliveConfig},
    protocol::{FrameKind, PreAckData, WsProtocol},
    resolve::{Lookup, Resolver},
    tls::MaybeTls,
    url::{UrlError, WsUrl},
    watchdog::Watchdog,
};

/// Transport settings of one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct WsConfig {
    /// Largest WebSocket frame accepted, bytes; a bigger one is reported as [`WsEvent::Oversized`].
    pub max_frame_bytes: usize,
    /// Largest (reassembled) message accepted, bytes.
    pub max_message_bytes: usize,
    /// TCP connect + TLS + WebSocket handshake must finish within this, ms.
    pub connect_timeout_ms: u64,
    /// Every subscription must be acknowledged within this after the handshake, ms.
    pub ack_timeout_ms: u64,
    /// No data frame for this long while subscribed ⇒ [`WsEvent::Stale`] and reconnect, ms.
    pub stale_after_ms: Option<u64>,
    /// Idle keep-alive policy.
    pub keepalive: KeepAliveConfig,
    /// Reconnect proactively once a connection is this old, ms (Binance: set a little under 24 h).
    pub max_age_ms: Option<u64>,
    /// Reconnect schedule.
    pub backoff: BackoffConfig,
    /// Initial capacity of the payload scratch buffer, bytes (grows once if a frame is larger).
    pub scratch_bytes: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 16 << 20,
            max_message_bytes: 16 << 20,
            connect_timeout_ms: 10_000,
            ack_timeout_ms: 10_000,
            stale_after_ms: Some(30_000),
            keepalive: KeepAliveConfig::default(),
            max_age_ms: None,
            backoff: BackoffConfig::default(),
            scratch_bytes: 64 << 10,
        }
    }
}

/// Why a connection ended (small and `Copy`: it travels on the hot thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The host name did not resolve (within `connect_timeout_ms`).
    Resolve,
    /// The TCP connect failed.
    Connect(io::ErrorKind),
    /// Connect + TLS + WebSocket handshake took longer than `connect_timeout_ms`.
    ConnectTimeout,
    /// The TLS or HTTP upgrade handshake failed (bad certificate, HTTP error status ...).
    Handshake,
    /// Not every subscription was acknowledged within `ack_timeout_ms`.
    SubscribeTimeout,
    /// The venue answered a subscription with an error.
    SubscribeRejected,
    /// The venue sent a Close frame with this code.
    ClosedByPeer {
        /// The close code (1005 when the frame had none).
        code: u16,
    },
    /// The connection dropped without a closing handshake (what browsers call 1006).
    Reset,
    /// Another socket or TLS error.
    Io(io::ErrorKind),
    /// The peer broke the WebSocket protocol.
    Protocol,
    /// A frame or message exceeded the configured limits.
    Oversized,
    /// The staleness watchdog fired.
    Stale,
    /// A keep-alive went unanswered.
    KeepAliveTimeout,
    /// Proactive reconnect at `max_age_ms`.
    MaxAge,
    /// The caller asked for it ([`WsClient::reconnect`]).
    Requested,
}

/// What the client tells its caller; `Data` borrows the client's scratch buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// Handshake complete and subscribe requests sent.
    Connected,
    /// Every subscription acknowledged: data from here on is live.
    Subscribed,
    /// One text or binary data payload, mutable so it can be parsed in place.
    Data(&'a mut [u8]),
    /// An error frame from the venue (after subscription; before it, the connection is recycled).
    VenueError(&'a [u8]),
    /// No data for `silent_ms` while subscribed: books from this connection are invalid.
    /// A `Disconnected(Stale)` and a reconnect follow.
    Stale {
        /// Milliseconds since the last data frame.
        silent_ms: u64,
    },
    /// A frame or message above the configured limit arrived; the connection is recycled.
    Oversized,
    /// The connection, or a connection attempt, ended (books from it are invalid). Always
    /// followed by `Reconnecting`.
    Disconnected(DisconnectReason),
    /// A new connection attempt is scheduled after `delay_ms` (`attempt` counts since the last
    /// healthy period; the delays come from [`Backoff`], so they are computed, not measured).
    Reconnecting {
        /// 1 for the first retry after a healthy period.
        attempt: u32,
        /// The computed delay.
        delay_ms: u64,
    },
}

/// Where a client is, for display and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Not started, or stopped.
    Idle,
    /// Waiting for the next attempt.
    Backoff,
    /// Waiting for the host name to resolve (off-thread).
    Resolving,
    /// TCP connect in flight.
    Connecting,
    /// TLS / WebSocket handshake in flight.
    Handshaking,
    /// Connected, waiting for subscription acks.
    Subscribing,
    /// Subscribed and streaming.
    Live,
}

/// Counters since creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WsStats {
    /// Completed WebSocket handshakes.
    pub connects: u64,
    /// Connections lost or recycled.
    pub disconnects: u64,
    /// Data frames delivered.
    pub data_frames: u64,
    /// Data bytes delivered.
    pub data_bytes: u64,
    /// Data frames discarded before the subscription ack.
    pub dropped_pre_ack: u64,
    /// Keep-alives sent.
    pub keepalives_sent: u64,
    /// WebSocket pings received (each answered with a pong).
    pub pings_received: u64,
}

/// Errors building a client.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The protocol's URL does not parse.
    #[error("{venue}: {source}")]
    Url {
        /// Venue of the protocol.
        venue: &'static str,
        /// The parse error.
        source: UrlError,
    },
    /// A `wss://` URL without a TLS configuration.
    #[error("{venue}: {url} needs TLS but no TLS configuration was given")]
    NoTls {
        /// Venue of the protocol.
        venue: &'static str,
        /// The URL (public stream URL; no credentials).
        url: String,
    },
    /// The host is not a valid TLS server name.
    #[error("{venue}: {host:?} is not a valid TLS server name")]
    ServerName {
        /// Venue of the protocol.
        venue: &'static str,
        /// The host from the URL.
        host: String,
    },
    /// [`WsClient::send_text`] while not connected.
    #[error("{venue}: not connected")]
    NotConnected {
        /// Venue of the protocol.
        venue: &'static str,
    },
    /// A write on the WebSocket failed (the connection will be recycled).
    #[error("{venue}: send failed: {reason}")]
    Send {
        /// Venue of the protocol.
        venue: &'static str,
        /// What tungstenite said.
        reason: String,
    },
}

/// How long resolved addresses are reused before a background refresh.
const RESOLVE_TTL_MS: u64 = 300_000;

type Mid = MidHandshake<ClientHandshake<MaybeTls>>;

enum State {
    Idle,
    Resolving {
        deadline_ns: Nanos,
    },
    Backoff {
        until_ns: Nanos,
    },
    Connecting {
        sock: TcpStream,
        deadline_ns: Nanos,
    },
    Handshaking {
        mid: Box<Mid>,
        deadline_ns: Nanos,
    },
    Open {
        ws: Box<WebSocket<MaybeTls>>,
        acks_left: usize,
        ack_deadline_ns: Nanos,
    },
}

/// One venue WebSocket connection: non-blocking, self-healing, driven by the caller's `mio::Poll`.
pub struct WsClient<P: WsProtocol> {
    protocol: P,
    cfg: WsConfig,
    url: WsUrl,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    clock: Arc<dyn Clock>,
    token: Token,
    state: State,
    backoff: Backoff,
    keepalive: KeepAlive,
    watchdog: Watchdog,
    /// The reused payload buffer handed to the caller.
    scratch: Vec<u8>,
    /// Data frames held until the subscription ack (`PreAckData::Buffer`).
    held: Vec<Vec<u8>>,
    requests: Vec<String>,
    keepalive_text: String,
    connected_ns: Nanos,
    subscribed_ns: Option<Nanos>,
    stats: WsStats,
    /// Connection attempts so far (picks the resolved address to try).
    connect_seq: usize,
    /// Cached addresses of the host, looked up off-thread.
    resolver: Resolver,
}

impl<P: WsProtocol> WsClient<P> {
    /// A client for `protocol`'s URL, registering its socket under `token`. `tls` is required for
    /// `wss://` (build it once with [`super::tls::client_config`] and share it).
    ///
    /// # Errors
    /// [`WsError::Url`], [`WsError::NoTls`] or [`WsError::ServerName`].
    pub fn new(
        protocol: P,
        cfg: WsConfig,
        tls: Option<Arc<ClientConfig>>,
        clock: Arc<dyn Clock>,
        token: Token,
    ) -> Result<Self, WsError> {
        let venue = protocol.venue();
        let url = WsUrl::parse(protocol.url()).map_err(|source| WsError::Url { venue, source })?;
        let tls = match (url.tls, tls) {
            (false, _) => None,
            (true, None) => {
                return Err(WsError::NoTls {
                    venue,
                    url: url.full.clone(),
                })
            }
            (true, Some(config)) => {
                let name =
                    ServerName::try_from(url.host.clone()).map_err(|_| WsError::ServerName {
                        venue,
                        host: url.host.clone(),
                    })?;
                Some((config, name))
            }
        };
        let now = clock.mono_ns();
        Ok(Self {
            backoff: Backoff::new(cfg.backoff),
            keepalive: KeepAlive::new(cfg.keepalive, now),
            watchdog: Watchdog::new(cfg.stale_after_ms, now),
            scratch: Vec::with_capacity(cfg.scratch_bytes),
            held: Vec::new(),
            requests: Vec::new(),
            keepalive_text: String::with_capacity(128),
            connected_ns: now,
            subscribed_ns: None,
            stats: WsStats::default(),
            connect_seq: 0,
            resolver: Resolver::new(&url.host, url.port, RESOLVE_TTL_MS),
            protocol,
            cfg,
            url,
            tls,
            clock,
            token,
            state: State::Idle,
        })
    }

    /// The token this client registers its socket under.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The venue hook.
    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// The venue hook, mutably (e.g. to change the instruments before the next reconnect).
    pub fn protocol_mut(&mut self) -> &mut P {
        &mut self.protocol
    }

    /// Counters since creation.
    pub fn stats(&self) -> WsStats {
        self.stats
    }

    /// The reconnect schedule (attempt count, ceilings).
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// Where the connection is.
    pub fn state(&self) -> ConnState {
        match &self.state {
            State::Idle => ConnState::Idle,
            State::Backoff { .. } => ConnState::Backoff,
            State::Resolving { .. } => ConnState::Resolving,
            State::Connecting { .. } => ConnState::Connecting,
            State::Handshaking { .. } => ConnState::Handshaking,
            State::Open { acks_left: 0, .. } => ConnState::Live,
            State::Open { .. } => ConnState::Subscribing,
        }
    }

    /// Starts connecting now (from `Idle` or `Backoff`; otherwise does nothing).
    pub fn start(&mut self, registry: &Registry, on: &mut impl FnMut(WsEvent<'_>)) {
        if matches!(self.state, State::Idle | State::Backoff { .. }) {
            self.connect(registry, on);
        }
    }

    /// Closes the connection (if any) and stays idle until [`WsClient::start`].
    pub fn stop(&mut self, registry: &Registry) {
        let state = std::mem::replace(&mut self.state, State::Idle);
        Self::teardown(state, registry);
    }

    /// Drops the connection and reconnects through the backoff (e.g. the adapter found a gap and
    /// wants a fresh snapshot).
    pub fn reconnect(&mut self, registry: &Registry, on: &mut impl FnMut(WsEvent<'_>)) {
        self.fail(registry, DisconnectReason::Requested, on);
    }

    /// Sends one text frame on the open connection (control path: it allocates).
    ///
    /// # Errors
    /// [`WsError::NotConnected`] without an open connection, [`WsError::Send`] if the write fails
    /// (the next `on_ready`/`on_tick` will then see the broken connection).
    pub fn send_text(&mut self, text: &str) -> Result<(), WsError> {
        let venue = self.protocol.venue();
        let State::Open { ws, .. } = &mut self.state else {
            return Err(WsError::NotConnected { venue });
        };
        match ws.send(Message::text(text)) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(WsError::Send {
                venue,
                reason: e.to_string(),
            }),
        }
    }

    /// The earliest monotonic time at which [`WsClient::on_tick`] has something to do.
    pub fn next_deadline_ns(&self) -> Option<Nanos> {
        match &self.state {
            State::Idle => None,
            State::Backoff { until_ns } => Some(*until_ns),
            // Poll the resolver every 2 ms until its answer or the deadline.
            State::Resolving { deadline_ns } => {
                Some((*deadline_ns).min(self.clock.mono_ns().saturating_add(2_000_000)))
            }
            State::Connecting { deadline_ns, .. } | State::Handshaking { deadline_ns, .. } => {
                Some(*deadline_ns)
            }
            State::Open {
                acks_left,
                ack_deadline_ns,
                ..
            } => {
                let mut d = self.keepalive.deadline_ns();
                let mut fold = |x: Option<Nanos>| {
                    if let Some(x) = x {
                        d = Some(d.map_or(x, |d| d.min(x)));
                    }
                };
                if *acks_left > 0 {
                    fold(Some(*ack_deadline_ns));
                } else {
                    fold(self.watchdog.deadline_ns());
                }
                fold(self.cfg.max_age_ms.map(|a| {
                    self.connected_ns
                        .saturating_add(a.saturating_mul(1_000_000))
                }));
                d
            }
        }
    }

    /// Handles readiness of this client's socket (spurious wake-ups are fine): finishes the connect
    /// and handshakes, drains every readable frame, answers pings and flushes pending writes.
    pub fn on_ready(
        &mut self,
        registry: &Registry,
        event: &Event,
        on: &mut impl FnMut(WsEvent<'_>),
    ) {
        if event.token() != self.token {
            return;
        }
        self.drive(registry, on);
    }

    /// Runs the timers: backoff expiry, connect/ack timeouts, keep-alives, the staleness watchdog
    /// and the maximum connection age. Cheap when nothing is due (one clock read).
    pub fn on_tick(&mut self, registry: &Registry, on: &mut impl FnMut(WsEvent<'_>)) {
        let now = self.clock.mono_ns();
        match &mut self.state {
            State::Idle => {}
            State::Backoff { until_ns } => {
                if now >= *until_ns {
                    self.connect(registry, on);
                }
            }
            State::Resolving { deadline_ns } => {
                if now >= *deadline_ns {
                    self.fail(registry, DisconnectReason::Resolve, on);
                } else {
                    self.begin_connect(registry, on);
                }
            }
            State::Connecting { deadline_ns, .. } | State::Handshaking { deadline_ns, .. } => {
                if now >= *deadline_ns {
                    self.fail(registry, DisconnectReason::ConnectTimeout, on);
                }
            }
            State::Open {
                ws,
                acks_left,
                ack_deadline_ns,
            } => {
                if *acks_left > 0 && now >= *ack_deadline_ns {
                    return self.fail(registry, DisconnectReason::SubscribeTimeout, on);
                }
                if *acks_left == 0 && self.watchdog.is_stale(now) {
                    on(WsEvent::Stale {
                        silent_ms: self.watchdog.silent_ms(now),
                    });
                    return self.fail(registry, DisconnectReason::Stale, on);
                }
                if let Some(age_ms) = self.cfg.max_age_ms {
                    if now.saturating_sub(self.connected_ns) >= age_ms.saturating_mul(1_000_000) {
                        return self.fail(registry, DisconnectReason::MaxAge, on);
                    }
                }
                match self.keepalive.poll(now) {
                    KeepAliveAction::Idle => {}
                    KeepAliveAction::TimedOut => {
                        self.fail(registry, DisconnectReason::KeepAliveTimeout, on);
                    }
                    KeepAliveAction::SendPing => {
                        let wall_ms = self.clock.wall_ns() / 1_000_000;
                        let msg = if self
                            .protocol
                            .keepalive_frame(wall_ms, &mut self.keepalive_text)
                        {
                            Message::text(self.keepalive_text.as_str())
                        } else {
                            Message::Ping(Bytes::new())
                        };
                        self.keepalive.on_sent(now);
                        self.stats.keepalives_sent += 1;
                        if let Err(reason) = write_and_flush(ws, msg) {
                            self.fail(registry, reason, on);
                        }
                    }
                }
            }
        }
    }

    /// Advances whatever is in flight as far as the socket allows.
    fn drive(&mut self, registry: &Registry, on: &mut impl FnMut(WsEvent<'_>)) {
        if let State::Connecting { sock, .. } = &mut self.state {
            match connect_status(sock) {
                Ok(false) => return,
                Ok(true) => {}
                Err(kind) => return self.fail(registry, DisconnectReason::Connect(kind), on),
            }
            // Latency over throughput: market data frames must not wait for Nagle.
            let _ = sock.set_nodelay(true);
            let State::Connecting { sock, deadline_ns } =
                std::mem::replace(&mut self.state, State::Idle)
            else {
                unreachable!("matched above")
            };
            let stream = match &self.tls {
                None => MaybeTls::Plain(sock),
                Some((config, name)) => match MaybeTls::tls(sock, config.clone(), name.clone()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(venue = self.protocol.venue(), error = %e, "TLS session setup failed");
                        return self.fail(registry, DisconnectReason::Handshake, on);
                    }
                },
            };
            let ws_config = WebSocketConfig::default()
                .max_frame_size(Some(self.cfg.max_frame_bytes))
                .max_message_size(Some(self.cfg.max_message_bytes));
            let result = client_with_config(self.url.full.as_str(), stream, Some(ws_config));
            self.after_handshake_step(registry, result, deadline_ns, on);
        } else if let State::Handshaking { .. } = &self.state {
            let State::Handshaking { mid, deadline_ns } =
                std::mem::replace(&mut self.state, State::Idle)
            else {
                unreachable!("matched above")
            };
            let result = mid.handshake();
            self.after_handshake_step(registry, result, deadline_ns, on);
        } else if let State::Open { .. } = &self.state {
            self.pump(registry, on);
        }
    }

    fn after_handshake_step(
        &mut self,
        registry: &Registry,
        result: Result<
            (
                WebSocket<MaybeTls>,
                tungstenite::handshake::client::Response,
            ),
            HandshakeError<ClientHandshake<MaybeTls>>,
        >,
        deadline_ns: Nanos,
        on: &mut impl FnMut(WsEvent<'_>),
    ) {
        match result {
            Ok((ws, _response)) => self.opened(registry, Box::new(ws), on),
            Err(HandshakeError::Interrupted(mid)) => {
                self.state = State::Handshaking {
                    mid: Box::new(mid),
                    deadline_ns,
                }
            }
            Err(HandshakeError::Failure(e)) => {
                tracing::warn!(venue = self.protocol.venue(), host = %self.url.host, error = %e, "WebSocket handshake failed");
                // The socket was moved into the failed handshake and is closed with it.
                self.fail(registry, DisconnectReason::Handshake, on);
            }
        }
    }

    /// Handshake done: send the subscriptions, arm the timers, and read what already arrived
    /// (with edge-triggered readiness nothing would wake us for bytes read during the handshake).
    fn opened(
        &mut self,
        registry: &Registry,
        mut ws: Box<WebSocket<MaybeTls>>,
        on: &mut impl FnMut(WsEvent<'_>),
    ) {
        let now = self.clock.mono_ns();
        self.stats.connects += 1;
        self.connected_ns = now;
        self.subscribed_ns = None;
        self.keepalive.reset(now);
        self.held.clear();
        self.requests.clear();
        let acks = self
            .protocol
            .subscribe_frames(self.clock.wall_ns() / 1_000_000, &mut self.requests);
        let sent = self
            .requests
            .drain(..)
            .try_for_each(|req| write_only(&mut ws, Message::text(req)));
        if let Err(reason) = sent.and_then(|()| flush(&mut ws)) {
            self.state = State::Open {
                ws,
                acks_left: acks,
                ack_deadline_ns: now,
            };
            return self.fail(registry, reason, on);
        }
        let ack_deadline_ns = now.saturating_add(self.cfg.ack_timeout_ms.saturating_mul(1_000_000));
        self.state = State::Open {
            ws,
            acks_left: acks,
            ack_deadline_ns,
        };
        on(WsEvent::Connected);
        if acks == 0 {
            self.subscribed(now, on);
        }
        self.pump(registry, on);
    }

    fn subscribed(&mut self, now: Nanos, on: &mut impl FnMut(WsEvent<'_>)) {
        self.subscribed_ns = Some(now);
        self.watchdog.arm(now);
        on(WsEvent::Subscribed);
        for mut frame in self.held.drain(..) {
            self.stats.data_frames += 1;
            self.stats.data_bytes += frame.len() as u64;
            on(WsEvent::Data(&mut frame));
        }
    }

    /// Reads until the socket would block, then flushes queued pongs and writes.
    fn pump(&mut self, registry: &Registry, on: &mut impl FnMut(WsEvent<'_>)) {
        loop {
            let State::Open { ws, acks_left, .. } = &mut self.state else {
                return;
            };
            let msg = match ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let reason = read_error_reason(&e);
                    if reason == DisconnectReason::Oversized {
                        on(WsEvent::Oversized);
                    } else {
                        tracing::info!(venue = self.protocol.venue(), error = %e, "WebSocket read ended");
                    }
                    return self.fail(registry, reason, on);
                }
            };
            let now = self.clock.mono_ns();
            self.keepalive.on_rx(now);
            let payload: &[u8] = match &msg {
                Message::Text(t) => t.as_bytes(),
                Message::Binary(b) => &b[..],
                Message::Ping(_) => {
                    // tungstenite has queued the pong; the flush below (or the next read) sends it.
                    self.stats.pings_received += 1;
                    continue;
                }
                Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(frame) => {
                    let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                    let _ = ws.flush(); // our Close reply, best effort
                    return self.fail(registry, DisconnectReason::ClosedByPeer { code }, on);
                }
            };
            match self.protocol.classify(payload) {
                FrameKind::Data if *acks_left == 0 => {
                    self.watchdog.on_data(now);
                    self.stats.data_frames += 1;
                    self.stats.data_bytes += payload.len() as u64;
                    self.scratch.clear();
                    self.scratch.extend_from_slice(payload);
                    on(WsEvent::Data(&mut self.scratch));
                }
                FrameKind::Data => match self.protocol.pre_ack_data() {
                    PreAckData::Drop => self.stats.dropped_pre_ack += 1,
                    PreAckData::Buffer { max_frames } if self.held.len() < max_frames => {
                        self.held.push(payload.to_vec())
                    }
                    PreAckData::Buffer { .. } => self.stats.dropped_pre_ack += 1,
                    PreAckData::Deliver => {
                        self.stats.data_frames += 1;
                        self.stats.data_bytes += payload.len() as u64;
                        self.scratch.clear();
                        self.scratch.extend_from_slice(payload);
                        on(WsEvent::Data(&mut self.scratch));
                    }
                },
                FrameKind::Ack if *acks_left > 0 => {
                    *acks_left -= 1;
                    if *acks_left == 0 {
                        self.subscribed(now, on);
                    }
                }
                FrameKind::Ack | FrameKind::KeepAliveReply | FrameKind::Control => {}
                FrameKind::Error => {
                    on(WsEvent::VenueError(payload));
                    if *acks_left > 0 {
                        tracing::warn!(venue = self.protocol.venue(), "subscription rejected");
                        return self.fail(registry, DisconnectReason::SubscribeRejected, on);
                    }
                }
            }
        }
        if let State::Open { ws, .. } = &mut self.state {
            if let Err(reason) = flush(ws) {
                self.fail(registry, reason, on);
            }
        }
    }

    /// Drops any connection and starts a new attempt (resolution first, off-thread if needed).
    fn connect(&mut self, registry: &Registry, on: &mut impl FnMut(WsEvent<'_>)) {
        let state = std::mem::replace(&mut self.state, State::Idle);
        Self::teardown(state, registry);
        self.begin_connect(registry, on);
    }

    /// Asks the resolver for an address and connects to it, or waits in `Resolving`.
    fn begin_connect(&mut self, registry: &Registry, on: &mut impl FnMut(WsEvent<'_>)) {
        let now = self.clock.mono_ns();
        match self.resolver.lookup(now, self.connect_seq) {
            Lookup::Ready(addr) => {
                self.connect_seq = self.connect_seq.wrapping_add(1);
                self.connect_to(addr, registry, on);
            }
            Lookup::Pending => {
                if !matches!(self.state, State::Resolving { .. }) {
                    let deadline_ns =
                        now.saturating_add(self.cfg.connect_timeout_ms.saturating_mul(1_000_000));
                    self.state = State::Resolving { deadline_ns };
                }
            }
            Lookup::Failed => {
                tracing::warn!(venue = self.protocol.venue(), host = %self.url.host, "cannot resolve");
                self.fail(registry, DisconnectReason::Resolve, on);
            }
        }
    }

    /// Starts a non-blocking TCP connect to `addr`.
    fn connect_to(
        &mut self,
        addr: SocketAddr,
        registry: &Registry,
        on: &mut impl FnMut(WsEvent<'_>),
    ) {
        let mut sock = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => return self.fail(registry, DisconnectReason::Connect(e.kind()), on),
        };
        if let Err(e) = registry.register(
            &mut sock,
            self.token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.fail(registry, DisconnectReason::Io(e.kind()), on);
        }
        let deadline_ns = self
            .clock
            .mono_ns()
            .saturating_add(self.cfg.connect_timeout_ms.saturating_mul(1_000_000));
        self.state = State::Connecting { sock, deadline_ns };
        // The connect may already be complete (loopback); readiness will tell us otherwise.
        self.drive(registry, on);
    }

    /// Ends the current connection, reports it, and schedules the next attempt.
    fn fail(
        &mut self,
        registry: &Registry,
        reason: DisconnectReason,
        on: &mut impl FnMut(WsEvent<'_>),
    ) {
        let state = std::mem::replace(&mut self.state, State::Idle);
        let was_connected = matches!(state, State::Open { .. });
        Self::teardown(state, registry);
        self.held.clear();
        let now = self.clock.mono_ns();
        if was_connected {
            self.stats.disconnects += 1;
        }
        if let Some(since) = self.subscribed_ns.take() {
            if now.saturating_sub(since)
                >= self.cfg.backoff.healthy_reset_ms.saturating_mul(1_000_000)
            {
                self.backoff.reset();
            }
        }
        on(WsEvent::Disconnected(reason));
        // A planned recycle is not a failure: reconnect at once and keep the schedule as it is.
        let (attempt, delay_ms) = if matches!(
            reason,
            DisconnectReason::MaxAge | DisconnectReason::Requested
        ) {
            (self.backoff.attempt(), 0)
        } else {
            let d = self.backoff.next_delay_ms();
            (self.backoff.attempt(), d)
        };
        self.state = State::Backoff {
            until_ns: now.saturating_add(delay_ms.saturating_mul(1_000_000)),
        };
        on(WsEvent::Reconnecting { attempt, delay_ms });
    }

    /// Deregisters and drops whatever socket `state` holds.
    fn teardown(state: State, registry: &Registry) {
        match state {
            State::Idle | State::Backoff { .. } | State::Resolving { .. } => {}
            State::Connecting { mut sock, .. } => {
                let _ = registry.deregister(&mut sock);
            }
            State::Handshaking { mut mid, .. } => {
                let _ = registry.deregister(mid.get_mut().get_mut().tcp_mut());
            }
            State::Open { mut ws, .. } => {
                let _ = registry.deregister(ws.get_mut().tcp_mut());
                let _ = ws.get_mut().tcp_mut().shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// `Ok(true)` once a non-blocking connect has completed, `Ok(false)` while it is in flight.
fn connect_status(sock: &TcpStream) -> Result<bool, io::ErrorKind> {
    if let Ok(Some(e)) | Err(e) = sock.take_error() {
        return Err(e.kind());
    }
    match sock.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e.kind()),
    }
}

fn write_only(ws: &mut WebSocket<MaybeTls>, msg: Message) -> Result<(), DisconnectReason> {
    match ws.write(msg) {
        Ok(()) => Ok(()),
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(read_error_reason(&e)),
    }
}

fn flush(ws: &mut WebSocket<MaybeTls>) -> Result<(), DisconnectReason> {
    match ws.flush() {
        Ok(()) => Ok(()),
        // The rest goes out on the next writable event.
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(read_error_reason(&e)),
    }
}

fn write_and_flush(ws: &mut WebSocket<MaybeTls>, msg: Message) -> Result<(), DisconnectReason> {
    write_only(ws, msg)?;
    flush(ws)
}

fn read_error_reason(e: &tungstenite::Error) -> DisconnectReason {
    use tungstenite::Error as E;
    match e {
        E::Capacity(CapacityError::MessageTooLong { .. }) | E::Capacity(_) => {
            DisconnectReason::Oversized
        }
        E::ConnectionClosed | E::AlreadyClosed => DisconnectReason::ClosedByPeer { code: 1005 },
        E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => DisconnectReason::Reset,
        E::Io(io) => match io.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => DisconnectReason::Reset,
            k => DisconnectReason::Io(k),
        },
        _ => DisconnectReason::Protocol,
    }
}
