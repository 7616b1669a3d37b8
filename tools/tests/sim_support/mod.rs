//! Raw loopback clients for the simulator tests: an HTTPS/1.1 client with keep-alive and a
//! blocking TLS WebSocket client (rustls + tungstenite), both trusting the simulator's CA, plus
//! Binance request signing. Raw on purpose: fault tests observe exactly what the server sent.
#![allow(dead_code)] // each test binary uses a different part

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};

use rustls::{
    crypto::ring::default_provider, pki_types::CertificateDer, ClientConfig, ClientConnection,
    RootCertStore, StreamOwned,
};
use serde_json::Value;
use tungstenite::{protocol::WebSocketConfig, Message, WebSocket};

use crate::sim::{
    binance::sign::hmac_hex,
    config::{Dialect, SimConfig, VenueCfg},
    Credentials, Sim, SimHandle,
};

/// A simulator for tests: manual stepping (frozen book), frames not logged, fixed epoch.
pub fn manual_sim(seed: u64) -> SimHandle {
    let cfg = SimConfig {
        seed,
        step_ms: 0,
        epoch_ms: Some(1_700_000_000_000),
        oracle_frames: false,
        ..SimConfig::default()
    };
    Sim::start(cfg, None).expect("start simulator")
}

/// A simulator with one venue `name` speaking `dialect` (default profile), stepping every
/// `step_ms` (0: manual stepping), frames not logged.
pub fn single_venue_sim(name: &str, dialect: Dialect, seed: u64, step_ms: u64) -> SimHandle {
    let cfg = SimConfig {
        seed,
        step_ms,
        oracle_frames: false,
        venues: vec![VenueCfg {
            name: name.into(),
            dialect,
            ..VenueCfg::default()
        }],
        ..SimConfig::default()
    };
    Sim::start(cfg, None).expect("start simulator")
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    lyra_shm::clock::wall_now_ns() / 1_000_000
}

fn tls_config(ca_der: &[u8]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .expect("add CA");
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS stream to the simulator.
pub fn tls_stream(addr: SocketAddr, ca_der: &[u8]) -> StreamOwned<ClientConnection, TcpStream> {
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let conn = ClientConnection::new(tls_config(ca_der), "127.0.0.1".try_into().expect("name"))
        .expect("tls client");
    StreamOwned::new(conn, sock)
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Body parsed as JSON (Null if empty or not JSON).
    pub json: Value,
}

impl Resp {
    /// A header value.
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    }
    /// The Binance error code, if any.
    pub fn code(&self) -> Option<i64> {
        self.json.get("code").and_then(Value::as_i64)
    }
}

/// An HTTPS/1.1 keep-alive client.
pub struct Http {
    s: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl Http {
    /// Connects.
    pub fn new(sim: &SimHandle) -> Self {
        let ep = &sim.endpoints()[0];
        Self {
            s: tls_stream(ep.addr, sim.ca_der()),
            buf: Vec::new(),
        }
    }

    /// Sends a request; `Err` if the server closed the connection without answering.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        key: Option<&str>,
        body: &str,
    ) -> io::Result<Resp> {
        let key_header = key.map(|k| ("X-MBX-APIKEY".to_string(), k.to_string()));
        self.request_with(method, target, key_header.as_slice(), body)
    }

    /// An OKX request signed with `OK-ACCESS-*` headers (`target` includes any query).
    pub fn okx(&mut self, method: &str, target: &str, c: &Credentials, body: &str) -> Resp {
        let ts = crate::sim::okx::sign::iso_ms(now_ms());
        let sig = crate::sim::okx::sign::sign(&c.secret, &ts, method, target, body);
        let h = [
            ("OK-ACCESS-KEY".to_string(), c.api_key.clone()),
            ("OK-ACCESS-SIGN".to_string(), sig),
            ("OK-ACCESS-TIMESTAMP".to_string(), ts),
            ("OK-ACCESS-PASSPHRASE".to_string(), c.passphrase.clone()),
        ];
        self.request_with(method, target, &h, body).expect("answer")
    }

    /// Sends a request with extra headers; `Err` if the server closed without answering.
    pub fn request_with(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> io::Result<Resp> {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if body.starts_with('{') {
            req.push_str("Content-Type: application/json\r\n");
        } else if !body.is_empty() {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.s.write_all(req.as_bytes())?;
        self.s.flush()?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(n) = r
                .parse(&self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
            {
                let hs: Vec<(String, String)> = r
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let len: usize = hs
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                if self.buf.len() >= n + len {
                    let body = self.buf[n..n + len].to_vec();
                    let status = r.code.unwrap_or(0);
                    self.buf.drain(..n + len);
                    return Ok(Resp {
                        status,
                        headers: hs,
                        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                }
            }
            let mut chunk = [0u8; 16384];
            let k = match self.s.read(&mut chunk) {
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e),
            };
            if k == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed without a response",
                ));
            }
            self.buf.extend_from_slice(&chunk[..k]);
        }
    }

    /// A public GET.
    pub fn get(&mut self, target: &str) -> Resp {
        self.request("GET", target, None, "").expect("GET")
    }

    /// A signed request: `params` plus timestamp, signed over query (GET/DELETE) or body (POST).
    pub fn signed(
        &mut self,
        method: &str,
        path: &str,
        c: &Credentials,
        params: &str,
    ) -> io::Result<Resp> {
        let p = if params.is_empty() {
            format!("timestamp={}", now_ms())
        } else {
            format!("{params}&timestamp={}", now_ms())
        };
        let sig = hmac_hex(&c.secret, p.as_bytes());
        if method == "POST" {
            self.request(
                method,
                path,
                Some(&c.api_key),
                &format!("{p}&signature={sig}"),
            )
        } else {
            self.request(
                method,
                &format!("{path}?{p}&signature={sig}"),
                Some(&c.api_key),
                "",
            )
        }
    }

    /// A signed request that must get an answer.
    pub fn call(&mut self, method: &str, path: &str, c: &Credentials, params: &str) -> Resp {
        self.signed(method, path, c, params).expect("answer")
    }
}

/// A blocking TLS WebSocket client.
pub type Ws = WebSocket<StreamOwned<ClientConnection, TcpStream>>;

/// Opens a WebSocket to `path` (e.g. `/stream?streams=btcusdt@depth`).
pub fn ws(sim: &SimHandle, path: &str) -> Ws {
    let ep = &sim.endpoints()[0];
    let s = tls_stream(ep.addr, sim.ca_der());
    let url = format!("wss://127.0.0.1:{}{path}", ep.addr.port());
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(8 << 20))
        .max_frame_size(Some(8 << 20));
    let (ws, _) =
        tungstenite::client::client_with_config(url.as_str(), s, Some(cfg)).expect("ws handshake");
    ws
}

/// The next text frame; `None` when the connection ended (with the close frame, if one came).
pub fn next_text(ws: &mut Ws) -> Result<String, Option<u16>> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return Ok(t.to_string()),
            Ok(Message::Close(f)) => return Err(Some(f.map_or(1005, |f| u16::from(f.code)))),
            Ok(_) => {}
            Err(_) => return Err(None),
        }
    }
}

/// Sends a text frame.
pub fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_string())).expect("send");
}

/// Subscribes the user data stream on a `/ws-api/v3` socket; returns the subscription id.
pub fn subscribe_user(ws: &mut Ws, c: &Credentials) -> i64 {
    let ts = now_ms().to_string();
    let payload = format!("apiKey={}&timestamp={ts}", c.api_key);
    let sig = hmac_hex(&c.secret, payload.as_bytes());
    send(
        ws,
        &format!(
            r#"{{"id":"s1","method":"userDataStream.subscribe.signature","params":{{"apiKey":"{}","timestamp":{ts},"signature":"{sig}"}}}}"#,
            c.api_key
        ),
    );
    let r: Value = serde_json::from_str(&next_text(ws).expect("reply")).expect("json");
    assert_eq!(r["status"], 200, "{r}");
    r["result"]["subscriptionId"]
        .as_i64()
        .expect("subscription id")
}
