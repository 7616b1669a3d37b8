//! Shared by the gate tests: a unique control segment path and a plain HTTP/1.1 GET over a std
//! `TcpStream` (no client library: the tests see exactly what the gate sent).
#![allow(dead_code)] // each test binary uses a different part

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    time::Duration,
};

/// Failure guard for reads and start-up only; nothing should come near it.
pub const GUARD: Duration = Duration::from_secs(60);

/// A unique path under /dev/shm for a test's segment, removed on drop. (The tools tests cannot
/// use `lyra_tests::TempSegment`: nothing may depend on the tests crate, see
/// `tests/tests/dependency_edges.rs`.)
pub struct TempSegment {
    /// The segment path.
    pub path: PathBuf,
}

impl TempSegment {
    /// A fresh name for `tag`.
    pub fn new(tag: &str) -> Self {
        let n = lyra_shm::clock::mono_now_ns();
        let name = format!("lyra-gate-test-{tag}-{}-{n}", std::process::id());
        Self {
            path: PathBuf::from("/dev/shm").join(name),
        }
    }
}

impl Drop for TempSegment {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A response: status code, `Content-Type` and body.
pub struct Reply {
    /// HTTP status.
    pub code: u16,
    /// The `Content-Type` header (empty if none).
    pub content_type: String,
    /// The body as text.
    pub body: String,
}

/// `METHOD path` against `addr` (`host:port`) with `Connection: close`.
pub fn request(addr: &str, method: &str, path: &str) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect to the gate");
    s.set_read_timeout(Some(GUARD)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header/body separator");
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Reply {
        code,
        content_type,
        body: body.to_owned(),
    }
}
