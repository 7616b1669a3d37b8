//! A small HTTP/1.1 client codec over one pre-warmed keep-alive rustls connection: blocking
//! sockets with timeouts (no async runtime on the OMS thread), the request written from the
//! caller's reused buffer, the response head parsed with `httparse`, the body read into a reused
//! buffer. Content-Length and chunked bodies are supported.

use std::{
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    path::Path,
    sync::Arc,
    time::Duration,
};

use lyra_shm::alloc_count::foreign;
use rustls::{
    crypto::ring::default_provider,
    pki_types::{pem::PemObject, CertificateDer, ServerName},
    ClientConfig, ClientConnection, RootCertStore, StreamOwned,
};
use thiserror::Error;

/// Why a request failed; `sent` says whether any request byte may have reached the venue (then
/// an order's outcome is unknown and must be resolved, never assumed).
#[derive(Debug, Error)]
pub enum HttpError {
    /// Connecting, TLS or socket I/O failed.
    #[error("{host}: {reason} (request {})", if *.sent { "possibly sent" } else { "not sent" })]
    Io {
        /// Venue host.
        host: String,
        /// What failed.
        reason: String,
        /// Whether the request may have been sent.
        sent: bool,
    },
    /// The response was not HTTP/1.1 we can read (always after the send).
    #[error("{host}: unreadable response: {reason}")]
    Malformed {
        /// Venue host.
        host: String,
        /// What is wrong.
        reason: String,
    },
    /// The URL or TLS set-up is unusable.
    #[error("{url}: {reason}")]
    Config {
        /// The URL or file.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

impl HttpError {
    /// Whether the request may have reached the venue.
    pub fn maybe_sent(&self) -> bool {
        match self {
            HttpError::Io { sent, .. } => *sent,
            HttpError::Malformed { .. } => true,
            HttpError::Config { .. } => false,
        }
    }
}

/// Rate-limit and ban headers Binance puts on responses (PROTOCOLS a.4), parsed without
/// allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RespMeta {
    /// `X-MBX-USED-WEIGHT-1M`.
    pub used_weight_1m: Option<u32>,
    /// `X-MBX-ORDER-COUNT-10S`.
    pub order_count_10s: Option<u32>,
    /// `X-MBX-ORDER-COUNT-1D`.
    pub order_count_1d: Option<u32>,
    /// `Retry-After`, seconds.
    pub retry_after_s: Option<u32>,
}

/// A parsed response: status, meta, and the body (in the connection's buffer).
#[derive(Debug)]
pub struct Response<'a> {
    /// HTTP status.
    pub status: u16,
    /// Headers that matter.
    pub meta: RespMeta,
    /// The body bytes.
    pub body: &'a [u8],
}

/// Where a venue's REST API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// The `Host` header value: the host, with `:port` unless it is the HTTPS default 443.
    pub fn host_header(&self) -> String {
        if self.port == 443 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Parses `https://host[:port][/]`.
    ///
    /// # Errors
    /// [`HttpError::Config`] for anything else.
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = |reason: &str| HttpError::Config {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| bad("must start with https://"))?;
        let hostport = rest.trim_end_matches('/');
        if hostport.contains('/') {
            return Err(bad("no path allowed after the host"));
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
            None => (hostport, 443),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

/// A rustls client configuration (ring provider) trusting `ca_file` (PEM) or, without one, the
/// WebPKI roots.
///
/// # Errors
/// [`HttpError::Config`] naming the file.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, HttpError> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |reason: String| HttpError::Config {
                url: path.display().to_string(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            for c in certs {
                store.add(c).map_err(|e| bad(e.to_string()))?;
            }
            if store.is_empty() {
                return Err(bad("no CERTIFICATE block".into()));
            }
        }
        None => store.roots = webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
    let cfg = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Config {
            url: "tls".into(),
            reason: e.to_string(),
        })?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One keep-alive HTTPS connection, reconnected on demand.
pub struct HttpsConn {
    ep: Endpoint,
    name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    timeout: Duration,
    stream: Option<StreamOwned<ClientConnection, TcpStream>>,
    rbuf: Vec<u8>,
    body: Vec<u8>,
    connects: u64,
}

impl HttpsConn {
    /// A connection to `ep` (not yet open; call [`HttpsConn::connect`] to pre-warm it).
    ///
    /// # Errors
    /// [`HttpError::Config`] for a host rustls cannot name.
    pub fn new(ep: Endpoint, tls: Arc<ClientConfig>, timeout: Duration) -> Result<Self, HttpError> {
        let name = ServerName::try_from(ep.host.clone()).map_err(|e| HttpError::Config {
            url: ep.host.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            ep,
            name,
            tls,
            timeout,
            stream: None,
            rbuf: Vec::with_capacity(64 * 1024),
            body: Vec::with_capacity(64 * 1024),
            connects: 0,
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// TCP+TLS connections opened so far (keep-alive keeps this at 1 in steady state).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Whether a connection is open.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// Drops the connection (the next request reconnects).
    pub fn close(&mut self) {
        self.stream = None;
    }

    fn io_err(&self, reason: impl std::fmt::Display, sent: bool) -> HttpError {
        HttpError::Io {
            host: self.ep.host.clone(),
            reason: reason.to_string(),
            sent,
        }
    }

    /// Opens the TCP+TLS connection and completes the handshake now, off the order path.
    ///
    /// # Errors
    /// [`HttpError::Io`] (not sent).
    pub fn connect(&mut self) -> Result<(), HttpError> {
        if self.stream.is_some() {
            return Ok(());
        }
        let addr = (self.ep.host.as_str(), self.ep.port)
            .to_socket_addrs()
            .map_err(|e| self.io_err(e, false))?
            .next()
            .ok_or_else(|| self.io_err("no address", false))?;
        let tcp =
            TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| self.io_err(e, false))?;
        tcp.set_nodelay(true).map_err(|e| self.io_err(e, false))?;
        tcp.set_read_timeout(Some(self.timeout))
            .map_err(|e| self.io_err(e, false))?;
        tcp.set_write_timeout(Some(self.timeout))
            .map_err(|e| self.io_err(e, false))?;
        let conn = ClientConnection::new(self.tls.clone(), self.name.clone())
            .map_err(|e| self.io_err(e, false))?;
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| self.io_err(format!("TLS handshake: {e}"), false))?;
        }
        self.stream = Some(s);
        self.connects += 1;
        self.rbuf.clear();
        Ok(())
    }

    /// Writes `request` (a complete HTTP/1.1 request) and reads the response. On any error the
    /// connection is dropped; the error says whether the request may have been sent.
    ///
    /// # Errors
    /// [`HttpError`].
    pub fn roundtrip(&mut self, request: &[u8]) -> Result<Response<'_>, HttpError> {
        self.connect()?;
        let res = self.exchange(request);
        match res {
            Ok((status, meta, close)) => {
                if close {
                    self.stream = None;
                }
                Ok(Response {
                    status,
                    meta,
                    body: &self.body,
                })
            }
            Err(e) => {
                self.stream = None;
                self.rbuf.clear();
                Err(e)
            }
        }
    }

    fn exchange(&mut self, request: &[u8]) -> Result<(u16, RespMeta, bool), HttpError> {
        // The host is copied into an error only when there is one: a request that succeeds
        // allocates nothing here.
        let host = self.ep.host.as_str();
        let io = |e: io::Error, sent: bool| HttpError::Io {
            host: host.to_owned(),
            reason: e.to_string(),
            sent,
        };
        let Some(s) = self.stream.as_mut() else {
            return Err(io(io::Error::other("not connected"), false));
        };
        // rustls allocates a buffer per TLS record it encrypts and per record it reads
        // (`PrefixedPayload`, `Payload::into_vec` in the buffered API): counted apart in
        // allocation tests, see `lyra_shm::alloc_count::foreign`.
        foreign(|| s.write_all(request).and_then(|()| s.flush())).map_err(|e| io(e, true))?;
        // Read until the head is complete.
        self.rbuf.clear();
        let mut chunk = [0u8; 8192];
        let (status, meta, head_len, length, chunked, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 48];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.rbuf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut meta = RespMeta::default();
                    let mut length = None;
                    let mut chunked = false;
                    let mut close = false;
                    for h in resp.headers.iter() {
                        let num = || {
                            std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<u64>().ok())
                        };
                        let n = h.name;
                        if n.eq_ignore_ascii_case("content-length") {
                            length = num();
                        } else if n.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = h.value.eq_ignore_ascii_case(b"chunked");
                        } else if n.eq_ignore_ascii_case("connection") {
                            close = h.value.eq_ignore_ascii_case(b"close");
                        } else if n.eq_ignore_ascii_case("x-mbx-used-weight-1m") {
                            meta.used_weight_1m = num().map(|v| v as u32);
                        } else if n.eq_ignore_ascii_case("x-mbx-order-count-10s") {
                            meta.order_count_10s = num().map(|v| v as u32);
                        } else if n.eq_ignore_ascii_case("x-mbx-order-count-1d") {
                            meta.order_count_1d = num().map(|v| v as u32);
                        } else if n.eq_ignore_ascii_case("retry-after") {
                            meta.retry_after_s = num().map(|v| v as u32);
                        }
                    }
                    break (status, meta, n, length, chunked, close);
                }
                Ok(httparse::Status::Partial) => {
                    if self.rbuf.len() > MAX_HEAD {
                        return Err(self.malformed("response head too large"));
                    }
                }
                Err(e) => return Err(self.malformed(e)),
            }
            let Some(s) = self.stream.as_mut() else {
                return Err(io(io::Error::other("not connected"), true));
            };
            let n = foreign(|| s.read(&mut chunk)).map_err(|e| io(e, true))?;
            if n == 0 {
                return Err(io(
                    io::Error::other("connection closed before response"),
                    true,
                ));
            }
            self.rbuf.extend_from_slice(&chunk[..n]);
        };
        self.rbuf.drain(..head_len);
        self.body.clear();
        if chunked {
            self.read_chunked(&mut chunk)?;
        } else if let Some(len) = length {
            let len = len as usize;
            if len > MAX_BODY {
                return Err(self.malformed("body too large"));
            }
            while self.rbuf.len() < len {
                self.fill(&mut chunk)?;
            }
            self.body.extend_from_slice(&self.rbuf[..len]);
            self.rbuf.drain(..len);
        } else if status != 204 && status != 304 {
            // No length: the body runs to the end of the connection.
            loop {
                let Some(s) = self.stream.as_mut() else {
                    return Err(io(io::Error::other("not connected"), true));
                };
                match foreign(|| s.read(&mut chunk)) {
                    Ok(0) => break,
                    Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(io(e, true)),
                }
            }
            self.body.extend_from_slice(&self.rbuf);
            self.rbuf.clear();
            return Ok((status, meta, true));
        }
        Ok((status, meta, close))
    }

    fn malformed(&self, reason: impl std::fmt::Display) -> HttpError {
        HttpError::Malformed {
            host: self.ep.host.clone(),
            reason: reason.to_string(),
        }
    }

    fn fill(&mut self, chunk: &mut [u8; 8192]) -> Result<(), HttpError> {
        let Some(s) = self.stream.as_mut() else {
            return Err(self.io_err("not connected", true));
        };
        let n = match foreign(|| s.read(chunk)) {
            Ok(n) => n,
            Err(e) => return Err(self.io_err(e, true)),
        };
        if n == 0 {
            return Err(self.io_err("connection closed mid-body", true));
        }
        self.rbuf.extend_from_slice(&chunk[..n]);
        if self.rbuf.len() > MAX_BODY {
            return Err(self.malformed("body too large"));
        }
        Ok(())
    }

    fn read_chunked(&mut self, chunk: &mut [u8; 8192]) -> Result<(), HttpError> {
        loop {
            let line_end = loop {
                if let Some(p) = self.rbuf.windows(2).position(|w| w == b"\r\n") {
                    break p;
                }
                self.fill(chunk)?;
            };
            let size = std::str::from_utf8(&self.rbuf[..line_end])
                .ok()
                .map(|s| s.split(';').next().unwrap_or("").trim())
                .and_then(|t| usize::from_str_radix(t, 16).ok())
                .ok_or_else(|| self.malformed("bad chunk size"))?;
            if self.body.len() + size > MAX_BODY {
                return Err(self.malformed("body too large"));
            }
            let need = line_end + 2 + size + 2;
            while self.rbuf.len() < need {
                self.fill(chunk)?;
            }
            self.body
                .extend_from_slice(&self.rbuf[line_end + 2..line_end + 2 + size]);
            self.rbuf.drain(..need);
            if size == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("https://api.binance.com").unwrap(),
            Endpoint {
                host: "api.binance.com".into(),
                port: 443
            }
        );
        assert_eq!(
            Endpoint::parse("https://127.0.0.1:8443/").unwrap().port,
            8443
        );
        assert!(Endpoint::parse("http://x").is_err());
        assert!(Endpoint::parse("https://x/api").is_err());
        assert!(Endpoint::parse("https://x:y").is_err());
    }
}
