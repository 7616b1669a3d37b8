//! The live feed handler: one venue connection's WebSocket client, venue decoder, per-instrument
//! depth sync and REST snapshot fetcher, wired into one poll-driven object that emits `MdEvent`s
//! into an [`MdSink`] (the engine passes a ring producer, tests a `Vec`).
//!
//! The engine's feed stage calls `poll(now)` in its loop: it drains the connection's own
//! `mio::Poll` with a zero timeout, decodes every frame straight into events, takes finished REST
//! snapshots, and runs the timers (reconnect, keep-alive, staleness watchdog, snapshot retries).
//! It never blocks. `lyra record` and tests use `poll_wait` instead, which waits in `Poll::poll`
//! up to the next deadline.
//!
//! Every feed is a [`LiveFeed`]: that connection life cycle is written once there, and a feed
//! adds only how it repairs books ([`bridged`]: REST snapshots, [`socket`]: resubscription).
//!
//! Resync: a gap, a malformed frame, a stale feed, an oversized frame or a disconnect emits
//! `BookInvalid` at once for the affected instrument(s); the sync then buffers the stream again
//! and the handler fetches a fresh REST snapshot ([`BinanceFeed`], [`GateioFeed`]) or resubscribes the
//! instrument so the venue pushes a new one on the socket ([`SocketFeed`] with [`OkxVenue`] or
//! [`KrakenVenue`]), until the book is valid again.
//! Checks that need the rebuilt book (crossed/locked top, venue checksums) run in the book stage,
//! which reports a break back through `resync(inst, reason)`.
//!
//! Recording: every raw frame and every REST snapshot body can be handed to a [`Recorder`] with
//! its wall-clock receive time, before it is decoded (so a recording holds exactly what the
//! decoder saw, in the order it saw it).

pub mod binance;
pub mod bridged;
mod driver;
pub mod gateio;
pub mod kraken;
pub mod okx;
pub mod socket;

use lyra_shm::msg::MdEvent;
use thiserror::Error;

pub use self::{
    binance::{BinanceFeed, BinanceFeedConfig},
    bridged::{BridgedFeed, BridgedMd},
    driver::{Flavor, LiveFeed},
    gateio::{GateioFeed, GateioFeedConfig},
    kraken::KrakenVenue,
    okx::OkxVenue,
    socket::{SocketFeed, SocketFeedConfig, SocketVenue},
};
use crate::{rest::RestError, sink::MdSink, ws::TlsError, ws::WsError};

/// What a recorder is handed: one raw input of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded<'a> {
    /// A WebSocket data payload.
    Frame(&'a [u8]),
    /// A REST snapshot body and the URL it was fetched from.
    Snapshot {
        /// The request URL (names the symbol).
        url: &'a str,
        /// The response body.
        body: &'a [u8],
    },
}

/// A callback receiving every raw input with its wall-clock receive time, ns since the epoch.
pub type Recorder = Box<dyn FnMut(u64, Recorded<'_>) + Send>;

/// Counters of one live feed (for metrics, `lyra record` and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// WebSocket data payloads decoded.
    pub frames: u64,
    /// Payloads that could not be decoded (each broke the book(s) it may have touched).
    pub malformed: u64,
    /// REST snapshots requested.
    pub snapshots_requested: u64,
    /// REST snapshots received and offered to the sync.
    pub snapshots_received: u64,
    /// REST snapshot requests that failed (retried after `snapshot_retry_ms`).
    pub snapshot_errors: u64,
    /// Connection-level breaks (stale, oversized, disconnect) that invalidated every book.
    pub connection_breaks: u64,
    /// Breaks reported by the book stage through `resync`.
    pub external_resyncs: u64,
    /// Venue error frames after subscription.
    pub venue_errors: u64,
    /// Times the connection became subscribed.
    pub subscriptions: u64,
}

/// Why a live feed could not be built.
#[derive(Debug, Error)]
pub enum LiveError {
    /// The TLS roots could not be loaded.
    #[error("live feed {venue}: TLS roots: {source}")]
    Tls {
        /// Venue name.
        venue: &'static str,
        /// The cause.
        #[source]
        source: TlsError,
    },
    /// The WebSocket client could not be built (bad URL, host name).
    #[error("live feed {venue}: websocket: {source}")]
    Ws {
        /// Venue name.
        venue: &'static str,
        /// The cause.
        #[source]
        source: WsError,
    },
    /// The REST fetcher could not start.
    #[error("live feed {venue}: REST fetcher: {source}")]
    Rest {
        /// Venue name.
        venue: &'static str,
        /// The cause.
        #[source]
        source: RestError,
    },
    /// A symbol could not be registered in the instrument table.
    #[error("live feed {venue}: symbol {symbol:?}: {reason}")]
    Symbol {
        /// Venue name.
        venue: &'static str,
        /// The symbol as given.
        symbol: String,
        /// Why.
        reason: String,
    },
    /// The connection's `mio::Poll` could not be created or waited on.
    #[error("live feed {venue}: poll: {source}")]
    Poll {
        /// Venue name.
        venue: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Wraps a sink and counts the events it accepted (what `poll` returns).
pub(crate) struct Counted<'a, S: MdSink> {
    /// The real sink.
    pub(crate) inner: &'a mut S,
    /// Events offered.
    pub(crate) n: usize,
}

impl<S: MdSink> MdSink for Counted<'_, S> {
    #[inline]
    fn push(&mut self, ev: MdEvent) -> bool {
        self.n += 1;
        self.inner.push(ev)
    }
}
