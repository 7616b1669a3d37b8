//! TLS for the market-data transport: rustls 0.23 with the `ring` provider (no aws-lc), a root store
//! of either the Mozilla roots (`webpki-roots`, real venues) or an injected CA (tests, simulator), and
//! a non-blocking byte stream (plain TCP or TLS over a `mio::net::TcpStream`) that tungstenite drives.

use std::{
    io::{self, Read, Write},
    path::PathBuf,
    sync::Arc,
};

use mio::net::TcpStream;
use rustls::{
    crypto::ring::default_provider,
    pki_types::{pem::PemObject, CertificateDer, ServerName},
    ClientConfig, ClientConnection, RootCertStore,
};

/// Which certificate authorities a client trusts.
#[derive(Debug, Clone)]
pub enum TlsRoots {
    /// The Mozilla root programme (`webpki-roots`): what real venues need.
    WebPki,
    /// Every certificate in a PEM file (a test or simulator CA).
    PemFile(PathBuf),
    /// DER-encoded CA certificates held in memory.
    Der(Vec<Vec<u8>>),
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The PEM CA file could not be read or parsed.
    #[error("cannot load CA certificates from {path}: {reason}")]
    CaFile {
        /// The PEM file named in the configuration.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A CA certificate was rejected by the root store.
    #[error("CA certificate rejected: {0}")]
    BadCa(String),
    /// The configuration names no CA at all.
    #[error("no CA certificate given")]
    NoRoots,
    /// rustls refused the protocol versions of the ring provider (cannot happen with the defaults).
    #[error("TLS configuration: {0}")]
    Config(String),
}

impl TlsRoots {
    /// The trusted CA certificates as DER (empty for [`TlsRoots::WebPki`], whose anchors are built in).
    ///
    /// # Errors
    /// [`TlsError::CaFile`] when the PEM file cannot be read or holds no certificate.
    pub fn ca_ders(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        match self {
            TlsRoots::WebPki => Ok(Vec::new()),
            TlsRoots::Der(ders) => Ok(ders
                .iter()
                .map(|d| CertificateDer::from(d.clone()))
                .collect()),
            TlsRoots::PemFile(path) => {
                let bad = |reason: String| TlsError::CaFile {
                    path: path.clone(),
                    reason,
                };
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(e.to_string()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(e.to_string()))?;
                if certs.is_empty() {
                    return Err(bad("no CERTIFICATE block".into()));
                }
                Ok(certs)
            }
        }
    }

    /// A rustls root store holding these roots.
    ///
    /// # Errors
    /// As [`TlsRoots::ca_ders`], plus [`TlsError::BadCa`] for a certificate rustls cannot use.
    pub fn root_store(&self) -> Result<RootCertStore, TlsError> {
        if let TlsRoots::WebPki = self {
            return Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            });
        }
        let mut store = RootCertStore::empty();
        for der in self.ca_ders()? {
            store.add(der).map_err(|e| TlsError::BadCa(e.to_string()))?;
        }
        if store.is_empty() {
            return Err(TlsError::NoRoots);
        }
        Ok(store)
    }
}

/// A rustls client configuration on the `ring` provider trusting `roots`; build it once per process
/// and share it (the `Arc`) between connections, so reconnects reuse session tickets.
///
/// # Errors
/// See [`TlsRoots::root_store`].
pub fn client_config(roots: &TlsRoots) -> Result<Arc<ClientConfig>, TlsError> {
    let store = roots.root_store()?;
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The byte stream under tungstenite: plain TCP (`ws://`, for debugging) or TLS (`wss://`).
///
/// Both variants are non-blocking: reads and writes return `WouldBlock` instead of waiting, and the
/// TLS handshake advances inside them, so tungstenite's own handshake simply sees `WouldBlock` until
/// TLS is up.
pub enum MaybeTls {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP. Boxed: a `ClientConnection` is large and this enum moves between states.
    Tls(Box<TlsStream>),
}

impl MaybeTls {
    /// The TCP socket, for (de)registration with a `mio::Registry`.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            MaybeTls::Plain(s) => s,
            MaybeTls::Tls(t) => &mut t.sock,
        }
    }

    /// Wraps a connected socket in TLS for `server_name` (SNI and certificate name).
    pub fn tls(
        sock: TcpStream,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<Self, rustls::Error> {
        let conn = ClientConnection::new(config, server_name)?;
        Ok(MaybeTls::Tls(Box::new(TlsStream { conn, sock })))
    }
}

impl Read for MaybeTls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTls::Plain(s) => s.read(buf),
            MaybeTls::Tls(t) => t.read(buf),
        }
    }
}

impl Write for MaybeTls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTls::Plain(s) => s.write(buf),
            MaybeTls::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(s) => s.flush(),
            MaybeTls::Tls(t) => t.flush(),
        }
    }
}

/// A rustls client session over a non-blocking socket.
///
/// Written here rather than using `rustls::StreamOwned` so the non-blocking contract is explicit:
/// `read` returns plaintext, or `WouldBlock` only after the socket itself said `WouldBlock` (so an
/// edge-triggered poller has been drained), and ciphertext rustls wants to send (handshake messages,
/// alerts, key updates) is pushed out opportunistically on every call.
pub struct TlsStream {
    conn: ClientConnection,
    sock: TcpStream,
}

impl TlsStream {
    /// Writes buffered ciphertext until rustls has none left or the socket would block.
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.sock)? == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero));
            }
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                // Ok(0) here is a clean close_notify; Err(UnexpectedEof) a TCP close without it.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // No plaintext buffered: pull ciphertext from the socket (WouldBlock propagates).
            let n = self.conn.read_tls(&mut self.sock)?;
            let state = self.conn.process_new_packets().map_err(|e| {
                // Tell the peer why before failing (best effort; the connection is finished anyway).
                let _ = self.flush_tls();
                io::Error::new(io::ErrorKind::InvalidData, e)
            })?;
            // Handshake replies and the plaintext queued during the handshake go out now.
            match self.flush_tls() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if n == 0 && state.plaintext_bytes_to_read() == 0 {
                // TCP EOF: let the reader say whether it was clean (Ok(0)) or truncated.
                return self.conn.reader().read(buf);
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Earlier ciphertext first: if the socket is full, refuse new data so tungstenite keeps it.
        self.flush_tls()?;
        let n = self.conn.writer().write(buf)?;
        match self.flush_tls() {
            Ok(()) => Ok(n),
            // The bytes are accepted (rustls holds them); they go out on the next write/flush.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(e) => Err(e),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.conn.writer().flush()?;
        self.flush_tls()
    }
}
