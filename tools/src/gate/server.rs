//! The HTTP side: hyper's HTTP/1 server on a single-threaded tokio runtime, three GET routes.
//!
//! Each request takes a fresh [`Snapshot`] (a few hundred atomic loads), so what it shows is as
//! current as the segment; nothing is cached between requests except the mapping itself.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::{
    body::{Bytes, Incoming},
    header, Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::{
    args::Settings, dashboard, health::health, metrics, reader::SegmentReader, snapshot::Snapshot,
};

/// A client has this long to send its request headers (a stuck client holds only its own task).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request handler shares.
#[derive(Debug)]
pub struct GateState {
    reader: SegmentReader,
    stale_ns: u64,
    venues: Vec<String>,
}

impl GateState {
    /// State for `settings` (the segment is mapped on the first request).
    pub fn new(settings: &Settings) -> Self {
        Self {
            reader: SegmentReader::new(&settings.segment),
            stale_ns: settings.stale_ns,
            venues: settings.venues.clone(),
        }
    }

    /// A snapshot of the segment now, or why there is none.
    pub fn snapshot(&self) -> Result<Snapshot, String> {
        let seg = self.reader.current()?;
        Ok(Snapshot::take(&seg, self.stale_ns, &self.venues))
    }

    /// The response to one request. (For HEAD, hyper sends GET's headers and drops the body.)
    pub fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        if method != Method::GET && method != Method::HEAD {
            let mut r = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "read-only: GET or HEAD\n".to_owned(),
            );
            r.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let segment = self.reader.path().display().to_string();
        let snap = self.snapshot();
        let snap_ref = snap.as_ref().map_err(String::as_str);
        match path {
            "/health" => {
                let (code, body) = health(snap_ref, &segment);
                reply(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                    "application/json",
                    format!("{body}\n"),
                )
            }
            "/metrics" => reply(
                StatusCode::OK,
                metrics::CONTENT_TYPE,
                metrics::render(snap_ref.ok()),
            ),
            "/" => reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                dashboard::render(snap_ref, &segment),
            ),
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: try /, /health or /metrics\n".to_owned(),
            ),
        }
    }
}

fn reply(code: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    // Every response is a live reading: never serve one from a cache.
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Binds `settings.listen` (call inside a tokio runtime).
///
/// # Errors
/// The address cannot be bound (in use, not local, no permission).
pub async fn bind(settings: &Settings) -> Result<TcpListener> {
    TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("lyra-gate: cannot listen on {}", settings.listen))
}

/// Serves `listener` until `shutdown` completes. Connection errors (a client that hangs up,
/// sends garbage or stalls) end that connection only.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GateState>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = listener.accept() => match r {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning on the error.
                    eprintln!("lyra-gate: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let r = state.respond(req.method(), req.uri().path());
                async move { Ok::<_, Infallible>(r) }
            });
            // The error is the client's (reset, timeout, malformed request): nothing to do.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// The address a listener is bound to, as an `http://` URL.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
