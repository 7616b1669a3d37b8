//! Loopback test servers for the transport tests: a TLS (or plain) WebSocket server on
//! tungstenite's server side with scripted behaviour per connection, and a TLS HTTP/1.1 server for
//! the REST fetcher. Certificates come from an rcgen CA generated at test time.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

use lyra_feeds::ws::{DisconnectReason, WsClient, WsEvent, WsProtocol};
use mio::{Events, Poll};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::{
    crypto::ring::default_provider,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    ServerConfig, ServerConnection, StreamOwned,
};
use tungstenite::{
    handshake::HandshakeError,
    protocol::{frame::coding::CloseCode, CloseFrame},
    Message, WebSocket,
};

/// A CA and a server certificate for 127.0.0.1 / localhost signed by it.
pub struct TestCa {
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// Server configuration presenting the leaf certificate.
    pub server: Arc<ServerConfig>,
}

impl TestCa {
    /// Generates a fresh CA and leaf.
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("leaf params");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
            .expect("server cert");
        Self {
            ca_der: ca_cert.der().to_vec(),
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        }
    }

    /// The CA as a one-element DER list, as `TlsRoots::Der` wants it.
    pub fn ders(&self) -> Vec<Vec<u8>> {
        vec![self.ca_der.clone()]
    }
}

/// How the WebSocket server treats one connection.
#[derive(Clone)]
pub struct Behaviour {
    /// Drop the TCP connection right after the WebSocket handshake (no Close frame).
    pub drop_after_handshake: bool,
    /// Send a Close frame with this code right after the handshake.
    pub close_after_handshake: Option<u16>,
    /// Replies to a received text frame (subscription acks, errors, app pongs); empty = no reply.
    pub reply: fn(&str) -> Vec<String>,
    /// Data frames start after the first reply was sent (i.e. after the ack), or at once if false.
    pub data_after_reply: bool,
    /// Data frame `i` (0-based); `None` ends the data (a stall).
    pub data: fn(usize) -> Option<String>,
    /// Pause between data frames.
    pub data_every: Duration,
    /// Send a WebSocket ping this often.
    pub ping_every: Option<Duration>,
    /// After the reply, send one data frame of this many bytes.
    pub oversized: Option<usize>,
    /// After this many data frames, hold the rest until this text arrives.
    pub hold_data: Option<(usize, &'static str)>,
    /// Drop the connection (no Close frame) once `data` returns `None`.
    pub drop_when_data_ends: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            drop_after_handshake: false,
            close_after_handshake: None,
            reply: |_| Vec::new(),
            data_after_reply: true,
            data: |_| None,
            data_every: Duration::from_millis(2),
            ping_every: None,
            oversized: None,
            hold_data: None,
            drop_when_data_ends: false,
        }
    }
}

/// What the server saw.
#[derive(Debug, Default, Clone)]
pub struct ServerLog {
    /// Accepted connections (WebSocket handshake done).
    pub connections: usize,
    /// Text frames received: (connection index, text).
    pub texts: Vec<(usize, String)>,
    /// Pongs received: connection index per pong.
    pub pongs: Vec<usize>,
    /// Pings sent.
    pub pings_sent: usize,
    /// Data frames sent.
    pub data_sent: usize,
}

/// A loopback WebSocket server; stops when dropped.
pub struct WsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw (a lock is fine: this is test scaffolding, not the hot path).
    pub log: Arc<Mutex<ServerLog>>,
    stop: Arc<AtomicBool>,
}

type Script = Arc<dyn Fn(usize) -> Behaviour + Send + Sync>;

impl WsServer {
    /// Serves TLS with `ca`'s leaf (or plain TCP when `ca` is `None`); `script(i)` scripts the
    /// i-th connection.
    pub fn start(
        ca: Option<&TestCa>,
        script: impl Fn(usize) -> Behaviour + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(ServerLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let tls = ca.map(|c| c.server.clone());
        let script: Script = Arc::new(script);
        let (log2, stop2) = (log.clone(), stop.clone());
        thread::spawn(move || {
            for (index, sock) in listener.incoming().enumerate() {
                if stop2.load(Ordering::Acquire) {
                    break;
                }
                let Ok(sock) = sock else { continue };
                let (tls, script, log, stop) =
                    (tls.clone(), script.clone(), log2.clone(), stop2.clone());
                thread::spawn(move || {
                    let behaviour = script(index);
                    let _ = sock.set_nodelay(true);
                    let _ = sock.set_read_timeout(Some(Duration::from_millis(2)));
                    match tls {
                        Some(cfg) => {
                            let Ok(conn) = ServerConnection::new(cfg) else {
                                return;
                            };
                            serve(StreamOwned::new(conn, sock), index, &behaviour, &log, &stop);
                        }
                        None => serve(sock, index, &behaviour, &log, &stop),
                    }
                });
            }
        });
        Self { addr, log, stop }
    }

    /// A copy of the log.
    pub fn log(&self) -> ServerLog {
        self.log.lock().expect("log").clone()
    }

    /// `wss://127.0.0.1:port` (or `ws://` when `tls` is false).
    pub fn url(&self, tls: bool) -> String {
        format!("{}://{}", if tls { "wss" } else { "ws" }, self.addr)
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

/// Monotonic now (the shm clock; `Instant::now` is reserved to the clock itself).
fn now_ns() -> u64 {
    lyra_shm::clock::mono_now_ns()
}

fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

fn serve<S: Read + Write>(
    stream: S,
    index: usize,
    b: &Behaviour,
    log: &Mutex<ServerLog>,
    stop: &AtomicBool,
) {
    // The socket has a short read timeout, so the handshake may be interrupted: keep going.
    let mut attempt = tungstenite::accept(stream);
    let started = now_ns();
    let mut ws: WebSocket<S> = loop {
        match attempt {
            Ok(ws) => break ws,
            Err(HandshakeError::Interrupted(mid)) if now_ns() - started < 5_000_000_000 => {
                attempt = mid.handshake()
            }
            Err(_) => return,
        }
    };
    log.lock().expect("log").connections += 1;
    if b.drop_after_handshake {
        return; // dropping the stream closes TCP without a Close frame
    }
    if let Some(code) = b.close_after_handshake {
        let _ = ws.close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: "bye".into(),
        }));
        let _ = ws.flush();
        thread::sleep(Duration::from_millis(20));
        return;
    }
    let mut replied = false;
    let mut sent = 0usize;
    let mut oversized_done = false;
    let mut released = false;
    let mut next_data = now_ns();
    let mut next_ping = b.ping_every.map(|p| now_ns() + p.as_nanos() as u64);
    while !stop.load(Ordering::Acquire) {
        match ws.read() {
            Ok(Message::Text(t)) => {
                log.lock().expect("log").texts.push((index, t.to_string()));
                released |= b.hold_data.is_some_and(|(_, go)| t.as_str() == go);
                for r in (b.reply)(t.as_str()) {
                    replied = true;
                    if ws.send(Message::text(r)).is_err() {
                        return;
                    }
                }
            }
            Ok(Message::Pong(_)) => log.lock().expect("log").pongs.push(index),
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
                return;
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
        let may_send = replied || !b.data_after_reply;
        // With `data_every` zero, a burst goes out in one turn (up to the hold point).
        let mut burst = 0;
        while may_send && now_ns() >= next_data && burst < 10_000 {
            let held = b.hold_data.is_some_and(|(n, _)| sent >= n && !released);
            let next = (!held).then(|| (b.data)(sent)).flatten();
            if next.is_none() && !held && b.drop_when_data_ends {
                let _ = ws.flush();
                return;
            }
            let Some(frame) = next else { break };
            if ws.send(Message::text(frame)).is_err() {
                return;
            }
            sent += 1;
            burst += 1;
            log.lock().expect("log").data_sent += 1;
            next_data = now_ns() + b.data_every.as_nanos() as u64;
        }
        if let (Some(n), false, true) = (b.oversized, oversized_done, may_send) {
            oversized_done = true;
            let big = format!("{{\"stream\":\"x\",\"data\":\"{}\"}}", "x".repeat(n));
            if ws.send(Message::text(big)).is_err() {
                return;
            }
        }
        if let (Some(at), Some(every)) = (next_ping, b.ping_every) {
            if now_ns() >= at {
                if ws
                    .send(Message::Ping(tungstenite::Bytes::from_static(b"hb")))
                    .is_err()
                {
                    return;
                }
                log.lock().expect("log").pings_sent += 1;
                next_ping = Some(now_ns() + every.as_nanos() as u64);
            }
        }
        match ws.flush() {
            Ok(()) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

/// An owned copy of a [`WsEvent`], for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// `WsEvent::Connected`.
    Connected,
    /// `WsEvent::Subscribed`.
    Subscribed,
    /// `WsEvent::Data` as text.
    Data(String),
    /// `WsEvent::VenueError` as text.
    VenueError(String),
    /// `WsEvent::Stale`.
    Stale,
    /// `WsEvent::Oversized`.
    Oversized,
    /// `WsEvent::Disconnected`.
    Disconnected(DisconnectReason),
    /// `WsEvent::Reconnecting`.
    Reconnecting { attempt: u32, delay_ms: u64 },
}

impl Seen {
    fn from_event(e: WsEvent<'_>) -> Self {
        match e {
            WsEvent::Connected => Seen::Connected,
            WsEvent::Subscribed => Seen::Subscribed,
            WsEvent::Data(d) => Seen::Data(String::from_utf8_lossy(d).into_owned()),
            WsEvent::VenueError(d) => Seen::VenueError(String::from_utf8_lossy(d).into_owned()),
            WsEvent::Stale { .. } => Seen::Stale,
            WsEvent::Oversized => Seen::Oversized,
            WsEvent::Disconnected(r) => Seen::Disconnected(r),
            WsEvent::Reconnecting { attempt, delay_ms } => Seen::Reconnecting { attempt, delay_ms },
        }
    }
}

/// Runs a feed-thread loop over `clients` sharing one `Poll` until `done(seen)` holds for the
/// events collected per client, or `limit` passes (then panics with what was seen). Waits in
/// `Poll::poll` up to the earliest client deadline (at most 20 ms), never spins.
pub fn run_until<P: WsProtocol>(
    poll: &mut Poll,
    clients: &mut [WsClient<P>],
    limit: Duration,
    mut done: impl FnMut(&[Vec<Seen>]) -> bool,
) -> Vec<Vec<Seen>> {
    let mut seen: Vec<Vec<Seen>> = vec![Vec::new(); clients.len()];
    let mut events = Events::with_capacity(64);
    for (i, c) in clients.iter_mut().enumerate() {
        c.start(poll.registry(), &mut |e| seen[i].push(Seen::from_event(e)));
    }
    let started = now_ns();
    while !done(&seen) {
        let now = now_ns();
        assert!(
            now - started < limit.as_nanos() as u64,
            "condition not reached within {limit:?}; saw {seen:#?}"
        );
        let wait_ns = clients
            .iter()
            .filter_map(|c| c.next_deadline_ns())
            .min()
            .map_or(20_000_000, |d| d.saturating_sub(now).min(20_000_000));
        poll.poll(
            &mut events,
            Some(Duration::from_nanos(wait_ns.max(1_000_000))),
        )
        .expect("poll");
        for ev in events.iter() {
            for (i, c) in clients.iter_mut().enumerate() {
                if c.token() == ev.token() {
                    c.on_ready(poll.registry(), ev, &mut |e| {
                        seen[i].push(Seen::from_event(e))
                    });
                }
            }
        }
        for (i, c) in clients.iter_mut().enumerate() {
            c.on_tick(poll.registry(), &mut |e| seen[i].push(Seen::from_event(e)));
        }
    }
    seen
}

/// Counts events matching `f`.
pub fn count(seen: &[Seen], f: impl Fn(&Seen) -> bool) -> usize {
    seen.iter().filter(|s| f(s)).count()
}

/// A loopback HTTPS/1.1 server for the REST tests; counts accepted connections.
pub struct HttpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// TCP connections accepted.
    pub accepts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    /// Serves: `/api/v3/depth` (200, Content-Length), `/chunked` (200, chunked), `/fail` (503),
    /// `/slow` (answers after 1 s), `/big` (a 64 KiB body); anything else 404. Keeps connections alive.
    pub fn start(ca: &TestCa) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let cfg = ca.server.clone();
        let (accepts2, stop2) = (accepts.clone(), stop.clone());
        thread::spawn(move || {
            for sock in listener.incoming() {
                if stop2.load(Ordering::Acquire) {
                    break;
                }
                let Ok(sock) = sock else { continue };
                accepts2.fetch_add(1, Ordering::Relaxed);
                let cfg = cfg.clone();
                thread::spawn(move || {
                    let Ok(conn) = ServerConnection::new(cfg) else {
                        return;
                    };
                    let _ = serve_http(StreamOwned::new(conn, sock));
                });
            }
        });
        Self {
            addr,
            accepts,
            stop,
        }
    }

    /// `https://127.0.0.1:port`.
    pub fn base(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The depth snapshot body `/api/v3/depth` serves.
pub const DEPTH_BODY: &str = r#"{"lastUpdateId":50093239218,"bids":[["61828.01000000","0.12755000"]],"asks":[["61828.02000000","3.12617000"]]}"#;

fn serve_http<S: Read + Write>(stream: S) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let path = target.split('?').next().unwrap_or("/").to_string();
        let out = reader.get_mut();
        match path.as_str() {
            "/api/v3/depth" => respond(out, "200 OK", DEPTH_BODY)?,
            "/big" => respond(out, "200 OK", &"x".repeat(64 << 10))?,
            "/fail" => respond(
                out,
                "503 Service Unavailable",
                r#"{"code":-1008,"msg":"busy"}"#,
            )?,
            "/slow" => {
                thread::sleep(Duration::from_secs(1));
                respond(out, "200 OK", "late")?
            }
            "/chunked" => {
                let mut msg = String::from(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                for part in [r#"{"lastUpdateId":7,"#, r#""bids":[],"#, r#""asks":[]}"#] {
                    msg.push_str(&format!("{:x}\r\n{part}\r\n", part.len()));
                }
                msg.push_str("0\r\n\r\n");
                out.write_all(msg.as_bytes())?;
                out.flush()?;
            }
            _ => respond(out, "404 Not Found", "no such path")?,
        }
    }
}

fn respond<W: Write>(out: &mut W, status: &str, body: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
        body.len()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(body.as_bytes())?;
    out.flush()
}
