//! Server plumbing: one loopback listener per venue, a thread per connection over blocking
//! rustls (`StreamOwned`) and tungstenite's server side.
//!
//! Why threads and not tokio: a simulator serves a handful of connections (one engine, a test
//! client, a recorder), each of which is a simple sequential conversation; a thread per
//! connection keeps every dialect handler plain synchronous code, the fan-out is a bounded
//! crossbeam queue per subscriber, and there is no runtime to start in tests. Market frames are
//! produced once per step under the venue lock and only copied by `Arc` into each queue, which
//! is what sustains tens of thousands of updates per second per venue.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{atomic::Ordering, Arc},
    thread,
    time::Duration,
};

use rustls::{ServerConnection, StreamOwned};
use tungstenite::{
    handshake::derive_accept_key,
    protocol::{Role, WebSocketConfig},
    WebSocket,
};

use super::{
    binance,
    config::Dialect,
    http::{self, Request},
    kraken, okx, Shared,
};

/// A server-side byte stream: plain TCP or TLS.
pub enum Stream {
    /// Plain TCP (debugging).
    Plain(TcpStream),
    /// TLS. Boxed: a `ServerConnection` is large.
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

/// Binds venue `v`'s listener on 127.0.0.1.
///
/// # Errors
/// The port is taken.
pub fn bind(port: u16) -> io::Result<TcpListener> {
    let l = TcpListener::bind(("127.0.0.1", port))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Accepts connections for venue `v` until the simulator stops.
pub fn accept_loop(shared: Arc<Shared>, v: usize, listener: TcpListener) {
    while !shared.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((sock, peer)) => {
                let sh = shared.clone();
                let _ = thread::Builder::new()
                    .name(format!("sim-conn-{}", shared.venues[v].cfg.name))
                    .spawn(move || {
                        let _ = serve(sh, v, sock, peer);
                    });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// One connection: TLS, then HTTP requests with keep-alive, or a WebSocket upgrade.
fn serve(shared: Arc<Shared>, v: usize, sock: TcpStream, _peer: SocketAddr) -> io::Result<()> {
    sock.set_nonblocking(false)?;
    sock.set_nodelay(true)?;
    // Idle keep-alive connections wake up now and then to notice a stop.
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut stream = match &shared.tls {
        Some(cfg) => {
            let conn = ServerConnection::new(cfg.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            Stream::Tls(Box::new(StreamOwned::new(conn, sock)))
        }
        None => Stream::Plain(sock),
    };
    let mut buf = Vec::new();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let req = match http::read_request(&mut stream, &mut buf) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        };
        if req.is_websocket() {
            let leftover = std::mem::take(&mut buf);
            return upgrade(&shared, v, stream, &req, leftover);
        }
        let close = req.wants_close();
        let resp = match shared.venues[v].cfg.dialect {
            Dialect::Binance => binance::rest::handle(&shared, v, &req),
            Dialect::Okx => okx::rest::handle(&shared, v, &req),
            Dialect::Kraken => kraken::rest::handle(&shared, v, &req),
        };
        match resp {
            Some(resp) => http::write_response(&mut stream, &resp, close)?,
            // The accept-then-drop fault: the request was processed, the response never comes.
            None => return Ok(()),
        }
        if close {
            return Ok(());
        }
    }
}

/// Whether an I/O error is a read timeout (`WouldBlock` on Linux, `TimedOut` elsewhere).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Completes the WebSocket handshake by hand (we already parsed the request) and hands the
/// socket to the dialect's WebSocket handler.
fn upgrade(
    shared: &Arc<Shared>,
    v: usize,
    mut stream: Stream,
    req: &Request,
    leftover: Vec<u8>,
) -> io::Result<()> {
    let Some(key) = req.header("sec-websocket-key") else {
        let resp =
            http::Response::json(400, binance::error_body(-1000, "Missing Sec-WebSocket-Key"));
        return http::write_response(&mut stream, &resp, true);
    };
    let accept = derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    stream.flush()?;
    let cfg = WebSocketConfig::default()
        .max_write_buffer_size(64 << 20)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    let ws = WebSocket::from_partially_read(stream, leftover, Role::Server, Some(cfg));
    match shared.venues[v].cfg.dialect {
        Dialect::Okx => okx::ws::serve(shared, v, ws, &req.path),
        Dialect::Kraken => kraken::ws::serve(shared, v, ws, &req.path),
        Dialect::Binance if req.path.starts_with("/ws-api/") => {
            binance::user_stream::serve(shared, v, ws)
        }
        Dialect::Binance => binance::ws::serve(shared, v, ws, &req.path, &req.query),
    }
    Ok(())
}
