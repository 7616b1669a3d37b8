//! REST fetcher for depth snapshots (and exchangeInfo), kept off the hot thread.
//!
//! A worker thread owns a keep-alive `ureq` agent (HTTPS through rustls on the `ring` provider,
//! trusting the same roots as the WebSocket client) and serves requests from a channel; the feed
//! thread submits and later picks up the bodies with `try_recv`, never blocking on the network.
//! ureq is used rather than a hand-written HTTP/1.1 client: with `default-features = false,
//! features = ["rustls"]` it brings rustls + ring + webpki-roots and nothing of aws-lc, and it
//! already does keep-alive pooling, chunked bodies, body limits and per-phase timeouts.
//!
//! Errors name the venue and the URL *path* only: query strings may carry signatures.

use std::{
    sync::Arc,
    thread::{self, JoinHandle},
    time::Duration,
};

use crossbeam::channel::{self, Receiver, Sender};
use ureq::{
    tls::{Certificate, RootCerts, TlsConfig, TlsProvider},
    Agent,
};

use crate::ws::tls::{TlsError, TlsRoots};

/// How much of an error response body is kept in [`RestError::Status`].
const ERROR_DETAIL_BYTES: usize = 256;

/// Settings of a REST client.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// Venue name used in errors and logs.
    pub venue: &'static str,
    /// Trusted CAs (webpki roots for real venues, the simulator's CA in tests).
    pub roots: TlsRoots,
    /// Whole-request limit (connect, send, headers, body), ms.
    pub timeout_ms: u64,
    /// TCP + TLS connect limit, ms.
    pub connect_timeout_ms: u64,
    /// Largest body accepted, bytes (a Binance depth snapshot at limit 5000 is about 300 KB).
    pub max_body_bytes: u64,
    /// Requests the worker queue holds before `submit` reports backpressure.
    pub queue_len: usize,
}

impl RestConfig {
    /// Defaults for `venue`: 10 s per request, 3 s connect, 16 MiB bodies, 64 queued requests.
    pub fn new(venue: &'static str, roots: TlsRoots) -> Self {
        Self {
            venue,
            roots,
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            max_body_bytes: 16 << 20,
            queue_len: 64,
        }
    }
}

/// Why a REST request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// The venue answered with a non-2xx status.
    #[error("{venue} GET {path}: HTTP {status}: {detail}")]
    Status {
        /// Venue name.
        venue: &'static str,
        /// URL path (no query).
        path: String,
        /// HTTP status code.
        status: u16,
        /// The start of the response body (venues put their error code there).
        detail: String,
    },
    /// The request did not complete within the configured time.
    #[error("{venue} GET {path}: timed out ({phase})")]
    Timeout {
        /// Venue name.
        venue: &'static str,
        /// URL path (no query).
        path: String,
        /// Which phase ran out of time (ureq's name for it).
        phase: String,
    },
    /// The body exceeded `max_body_bytes`.
    #[error("{venue} GET {path}: body larger than {limit} bytes")]
    TooLarge {
        /// Venue name.
        venue: &'static str,
        /// URL path (no query).
        path: String,
        /// The configured limit.
        limit: u64,
    },
    /// Connection, TLS or protocol failure.
    #[error("{venue} GET {path}: {reason}")]
    Transport {
        /// Venue name.
        venue: &'static str,
        /// URL path (no query).
        path: String,
        /// What went wrong (query strings removed).
        reason: String,
    },
    /// The TLS roots could not be loaded.
    #[error("{venue}: {reason}")]
    Tls {
        /// Venue name.
        venue: &'static str,
        /// The TLS configuration error.
        reason: String,
    },
    /// The worker queue is full (the caller should retry later).
    #[error("{venue}: REST queue full")]
    QueueFull {
        /// Venue name.
        venue: &'static str,
    },
    /// The worker thread is gone.
    #[error("{venue}: REST worker stopped")]
    WorkerGone {
        /// Venue name.
        venue: &'static str,
    },
}

/// A blocking HTTPS GET client with a keep-alive pool. Use it from start-up code or a side thread;
/// the feed thread uses [`RestFetcher`].
pub struct RestClient {
    agent: Agent,
    venue: &'static str,
    max_body_bytes: u64,
}

impl RestClient {
    /// A client for `cfg`.
    ///
    /// # Errors
    /// [`RestError::Tls`] when the roots cannot be loaded.
    pub fn new(cfg: &RestConfig) -> Result<Self, RestError> {
        let venue = cfg.venue;
        let tls_err = |e: TlsError| RestError::Tls {
            venue,
            reason: e.to_string(),
        };
        let roots = match &cfg.roots {
            TlsRoots::WebPki => RootCerts::WebPki,
            other => {
                let ders = other.ca_ders().map_err(tls_err)?;
                let certs = ders
                    .iter()
                    .map(|d| Certificate::from_der(d).to_owned())
                    .collect();
                RootCerts::Specific(Arc::new(certs))
            }
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent: Agent = Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_millis(cfg.timeout_ms)))
            .timeout_connect(Some(Duration::from_millis(cfg.connect_timeout_ms)))
            .user_agent("lyra")
            .build()
            .into();
        Ok(Self {
            agent,
            venue,
            max_body_bytes: cfg.max_body_bytes,
        })
    }

    /// GETs `url` and returns the body of a 2xx response.
    ///
    /// # Errors
    /// [`RestError::Status`] for non-2xx, [`RestError::Timeout`], [`RestError::TooLarge`],
    /// [`RestError::Transport`] for everything else.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, RestError> {
        let venue = self.venue;
        let path = url_path(url);
        let map = |e: ureq::Error| self.map_error(e, url);
        let mut resp = self.agent.get(url).call().map_err(map)?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.max_body_bytes)
            .read_to_vec();
        if !(200..300).contains(&status) {
            let detail = match &body {
                Ok(b) => {
                    String::from_utf8_lossy(&b[..b.len().min(ERROR_DETAIL_BYTES)]).into_owned()
                }
                Err(_) => String::new(),
            };
            return Err(RestError::Status {
                venue,
                path,
                status,
                detail,
            });
        }
        body.map_err(map)
    }

    fn map_error(&self, e: ureq::Error, url: &str) -> RestError {
        let venue = self.venue;
        let path = url_path(url);
        match e {
            ureq::Error::Timeout(t) => RestError::Timeout {
                venue,
                path,
                phase: t.to_string(),
            },
            ureq::Error::BodyExceedsLimit(_) => RestError::TooLarge {
                venue,
                path,
                limit: self.max_body_bytes,
            },
            ureq::Error::BadUri(_) => RestError::Transport {
                venue,
                path,
                reason: "malformed URL".into(),
            },
            other => {
                let mut reason = other.to_string();
                // Never echo a query string (it may hold a signature).
                if let Some((_, query)) = url.split_once('?') {
                    if !query.is_empty() {
                        reason = reason.replace(query, "<query>");
                    }
                }
                RestError::Transport {
                    venue,
                    path,
                    reason,
                }
            }
        }
    }
}

/// One request to the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestRequest {
    /// Caller's id, echoed in the response.
    pub id: u64,
    /// Full URL (scheme, host, path, query).
    pub url: String,
}

/// The worker's answer to one [`RestRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestResponse {
    /// The request's id.
    pub id: u64,
    /// The body of a 2xx answer, or why there is none.
    pub result: Result<Vec<u8>, RestError>,
}

/// A REST worker thread fed through a bounded channel; dropping it stops the thread.
pub struct RestFetcher {
    venue: &'static str,
    requests: Option<Sender<RestRequest>>,
    responses: Receiver<RestResponse>,
    worker: Option<JoinHandle<()>>,
}

impl RestFetcher {
    /// Starts the worker thread (named `rest-<venue>`).
    ///
    /// # Errors
    /// [`RestError::Tls`] when the roots cannot be loaded, [`RestError::Transport`] if the thread
    /// cannot be spawned.
    pub fn spawn(cfg: &RestConfig) -> Result<Self, RestError> {
        let venue = cfg.venue;
        let client = RestClient::new(cfg)?;
        let (req_tx, req_rx) = channel::bounded::<RestRequest>(cfg.queue_len.max(1));
        // Responses are never dropped for lack of room: the worker must not block on a slow reader.
        let (resp_tx, resp_rx) = channel::unbounded::<RestResponse>();
        let worker = thread::Builder::new()
            .name(format!("rest-{venue}"))
            .spawn(move || {
                for req in req_rx {
                    let result = client.get(&req.url);
                    if let Err(e) = &result {
                        tracing::warn!(venue, error = %e, "REST request failed");
                    }
                    if resp_tx.send(RestResponse { id: req.id, result }).is_err() {
                        break; // the fetcher is gone
                    }
                }
            })
            .map_err(|e| RestError::Transport {
                venue,
                path: String::new(),
                reason: format!("cannot spawn REST worker: {e}"),
            })?;
        Ok(Self {
            venue,
            requests: Some(req_tx),
            responses: resp_rx,
            worker: Some(worker),
        })
    }

    /// Queues a GET of `url`; the answer comes back with the same `id`. Never blocks.
    ///
    /// # Errors
    /// [`RestError::QueueFull`] or [`RestError::WorkerGone`].
    pub fn submit(&self, id: u64, url: impl Into<String>) -> Result<(), RestError> {
        let venue = self.venue;
        let tx = self
            .requests
            .as_ref()
            .ok_or(RestError::WorkerGone { venue })?;
        tx.try_send(RestRequest {
            id,
            url: url.into(),
        })
        .map_err(|e| match e {
            channel::TrySendError::Full(_) => RestError::QueueFull { venue },
            channel::TrySendError::Disconnected(_) => RestError::WorkerGone { venue },
        })
    }

    /// A finished response, if one is ready (non-blocking; for the feed thread).
    pub fn try_recv(&self) -> Option<RestResponse> {
        self.responses.try_recv().ok()
    }

    /// Waits up to `timeout` for a response (for side threads, start-up and tests).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<RestResponse> {
        self.responses.recv_timeout(timeout).ok()
    }
}

impl Drop for RestFetcher {
    fn drop(&mut self) {
        // Closing the request channel ends the worker's loop after its current request.
        self.requests.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The path of `url` without scheme, host or query: what errors may show.
pub fn url_path(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    let after_scheme = no_query.split_once("://").map_or(no_query, |(_, r)| r);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].to_string(),
        None => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_path_drops_host_and_query() {
        assert_eq!(
            url_path("https://api.binance.com/api/v3/depth?symbol=BTCUSDT&signature=abc"),
            "/api/v3/depth"
        );
        assert_eq!(url_path("https://h:1"), "/");
        assert_eq!(url_path("https://h:1?x=1"), "/");
    }
}
