//! Live feeds whose snapshot comes on the socket (OKX `books`, Kraken v2 `book`): a break is
//! repaired by resubscribing the instrument (unsubscribe + subscribe), after which the venue
//! pushes a fresh snapshot that restarts the sequence. A connection break is repaired by the
//! reconnect itself (every subscription, hence every snapshot, is sent again).
//!
//! [`SocketFeed`] is the poll-driven handler; [`SocketVenue`] is what a venue contributes: its
//! transport dialect, its decoder, and its resubscribe requests ([`super::okx`],
//! [`super::kraken`]).

use std::{sync::Arc, time::Duration};

use lyra_shm::{
    clock::{Clock, Nanos},
    msg::{InstrumentIdx, InvalidReason, VenueId},
};
use mio::{Events, Poll, Token};

use super::{Counted, LiveError, LiveStats, Recorded, Recorder};
use crate::{
    instrument::InstrumentTable,
    sink::MdSink,
    ws::{client_config, ConnState, TlsRoots, WsClient, WsConfig, WsEvent, WsProtocol, WsStats},
};

/// A venue whose book snapshots arrive on the socket.
pub trait SocketVenue: Send {
    /// Its WebSocket dialect.
    type Proto: WsProtocol;
    /// Venue name for logs and errors.
    const NAME: &'static str;
    /// Builds the dialect subscribing every symbol of `symbols` (venue spelling) on `url`.
    fn protocol(&self, url: &str, symbols: &[String]) -> Self::Proto;
    /// Creates the per-instrument state up front.
    fn prepare(&mut self, inst: InstrumentIdx);
    /// Decodes one frame; `Ok(Some(inst))` names the instrument it touched. On `Err` the
    /// decoder has already broken the affected book(s); the string says why (for the log).
    ///
    /// # Errors
    /// A frame that could not be decoded.
    fn decode(
        &mut self,
        recv_ts: u64,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<crate::instrument::Resolved>,
        sink: &mut impl MdSink,
    ) -> Result<Option<InstrumentIdx>, String>;
    /// Breaks `inst`'s book (every book when `None`) for `reason`.
    fn invalidate(
        &mut self,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
        recv_ts: u64,
        sink: &mut impl MdSink,
    );
    /// Whether `inst`'s book waits for a snapshot.
    fn needs_snapshot(&self, inst: InstrumentIdx) -> bool;
    /// Whether `inst`'s book is synced.
    fn is_synced(&self, inst: InstrumentIdx) -> bool;
    /// The text frames that make the venue send `symbol`'s snapshot again.
    fn resubscribe(&mut self, symbol: &str, out: &mut Vec<String>);
}

/// Settings of one socket-snapshot connection.
#[derive(Debug, Clone)]
pub struct SocketFeedConfig {
    /// The venue id stamped on every event.
    pub venue: VenueId,
    /// The WebSocket URL (path included).
    pub url: String,
    /// Trusted CAs.
    pub roots: TlsRoots,
    /// Symbols in venue spelling (`BTC-USDT`, `BTC/USD`).
    pub symbols: Vec<String>,
    /// Price and quantity scales of symbols the instrument table does not know yet.
    pub scale: u8,
    /// How long a (re)subscribed book may wait for its snapshot before it is asked again, ms.
    pub snapshot_wait_ms: u64,
    /// Transport settings.
    pub ws: WsConfig,
}

/// Per-instrument state.
#[derive(Debug)]
struct Inst {
    idx: InstrumentIdx,
    symbol: String,
    /// No resubscription before this monotonic time (the snapshot may be on its way).
    wait_until_ns: Nanos,
}

/// Everything the WebSocket callback touches.
struct Core<V: SocketVenue, S: MdSink> {
    venue_id: VenueId,
    venue: V,
    table: InstrumentTable,
    insts: Vec<Inst>,
    sink: S,
    clock: Arc<dyn Clock>,
    recorder: Option<Recorder>,
    stats: LiveStats,
    subscribed: bool,
    broken: bool,
    emitted: usize,
    wait_ns: Nanos,
}

impl<V: SocketVenue, S: MdSink> Core<V, S> {
    fn on_ws(&mut self, e: WsEvent<'_>) {
        match e {
            WsEvent::Connected | WsEvent::Reconnecting { .. } => {}
            WsEvent::Subscribed => {
                self.subscribed = true;
                self.stats.subscriptions += 1;
                // The subscription itself brings every snapshot: give it time before asking again.
                let until = self.clock.mono_ns().saturating_add(self.wait_ns);
                for i in &mut self.insts {
                    i.wait_until_ns = until;
                }
            }
            WsEvent::Data(d) => self.on_frame(d),
            WsEvent::VenueError(_) => self.stats.venue_errors += 1,
            WsEvent::Stale { .. } => self.break_all(InvalidReason::Stale),
            WsEvent::Oversized => self.break_all(InvalidReason::Oversized),
            WsEvent::Disconnected(_) => self.break_all(InvalidReason::Disconnected),
        }
    }

    fn break_all(&mut self, reason: InvalidReason) {
        self.subscribed = false;
        if self.broken {
            return;
        }
        self.broken = true;
        self.stats.connection_breaks += 1;
        let now = self.clock.wall_ns();
        let mut c = Counted {
            inner: &mut self.sink,
            n: 0,
        };
        self.venue.invalidate(None, reason, now, &mut c);
        self.emitted += c.n;
    }

    fn on_frame(&mut self, frame: &[u8]) {
        let recv = self.clock.wall_ns();
        self.stats.frames += 1;
        if let Some(r) = self.recorder.as_mut() {
            r(recv, Recorded::Frame(frame));
        }
        let venue = self.venue_id;
        let table = &self.table;
        let mut resolve = |s: &[u8]| table.resolve(venue, s);
        let mut c = Counted {
            inner: &mut self.sink,
            n: 0,
        };
        match self.venue.decode(recv, frame, &mut resolve, &mut c) {
            Ok(Some(_)) => self.broken = false,
            Ok(None) => {}
            Err(why) => {
                tracing::warn!(venue = V::NAME, error = %why, "undecodable frame; book(s) invalid");
                self.stats.malformed += 1;
            }
        }
        self.emitted += c.n;
    }
}

/// One live connection of a socket-snapshot venue, emitting `MdEvent`s into `S`.
pub struct SocketFeed<V: SocketVenue, S: MdSink> {
    client: WsClient<V::Proto>,
    poll: Poll,
    events: Events,
    core: Core<V, S>,
    frames: Vec<String>,
}

impl<V: SocketVenue, S: MdSink> std::fmt::Debug for SocketFeed<V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketFeed")
            .field("venue", &V::NAME)
            .field("state", &self.client.state())
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl<V: SocketVenue, S: MdSink> SocketFeed<V, S> {
    /// Builds the connection (not yet started) for `venue`'s decoder.
    ///
    /// # Errors
    /// [`LiveError`] for bad TLS roots, URL or symbols, or when the poll cannot be created.
    pub fn new(
        cfg: &SocketFeedConfig,
        mut venue: V,
        mut table: InstrumentTable,
        sink: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LiveError> {
        let tls = client_config(&cfg.roots).map_err(|source| LiveError::Tls {
            venue: V::NAME,
            source,
        })?;
        let client = WsClient::new(
            venue.protocol(&cfg.url, &cfg.symbols),
            cfg.ws.clone(),
            Some(tls),
            clock.clone(),
            Token(0),
        )
        .map_err(|source| LiveError::Ws {
            venue: V::NAME,
            source,
        })?;
        let poll = Poll::new().map_err(|source| LiveError::Poll {
            venue: V::NAME,
            source,
        })?;
        let mut insts = Vec::with_capacity(cfg.symbols.len());
        for sym in &cfg.symbols {
            let idx = table
                .lookup_or_add(cfg.venue, sym, cfg.scale, cfg.scale)
                .map_err(|e| LiveError::Symbol {
                    venue: V::NAME,
                    symbol: sym.clone(),
                    reason: e.to_string(),
                })?;
            venue.prepare(idx);
            insts.push(Inst {
                idx,
                symbol: sym.clone(),
                wait_until_ns: 0,
            });
        }
        Ok(Self {
            client,
            poll,
            events: Events::with_capacity(64),
            core: Core {
                venue_id: cfg.venue,
                venue,
                table,
                insts,
                sink,
                clock,
                recorder: None,
                stats: LiveStats::default(),
                subscribed: false,
                broken: true,
                emitted: 0,
                wait_ns: cfg.snapshot_wait_ms.saturating_mul(1_000_000),
            },
            frames: Vec::with_capacity(4),
        })
    }

    /// Hands every raw frame to `recorder` from now on.
    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.core.recorder = Some(recorder);
    }

    /// Starts connecting.
    pub fn start(&mut self) {
        let Self {
            client, poll, core, ..
        } = self;
        client.start(poll.registry(), &mut |e| core.on_ws(e));
    }

    /// Closes the connection.
    pub fn stop(&mut self) {
        self.client.stop(self.poll.registry());
    }

    /// One non-blocking turn (see [`super::BinanceFeed::poll`]); returns the events emitted.
    pub fn poll(&mut self, now_ns: Nanos) -> usize {
        self.turn(Some(Duration::ZERO), now_ns)
    }

    /// One blocking turn of at most `max_wait` (standalone use); returns the events emitted.
    pub fn poll_wait(&mut self, max_wait: Duration) -> usize {
        let now = self.core.clock.mono_ns();
        let mut wait = max_wait;
        if let Some(d) = self.client.next_deadline_ns() {
            wait = wait.min(Duration::from_nanos(d.saturating_sub(now)));
        }
        if self.core.subscribed {
            if let Some(d) = self
                .core
                .insts
                .iter()
                .filter(|i| self.core.venue.needs_snapshot(i.idx))
                .map(|i| i.wait_until_ns)
                .min()
            {
                wait = wait.min(Duration::from_nanos(d.saturating_sub(now)));
            }
        }
        let now = self.core.clock.mono_ns();
        self.turn(Some(wait), now)
    }

    fn turn(&mut self, timeout: Option<Duration>, now_ns: Nanos) -> usize {
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::warn!(venue = V::NAME, error = %e, "poll failed");
            }
        }
        let Self {
            client,
            poll,
            events,
            core,
            frames,
        } = self;
        for ev in events.iter() {
            client.on_ready(poll.registry(), ev, &mut |e| core.on_ws(e));
        }
        client.on_tick(poll.registry(), &mut |e| core.on_ws(e));
        if core.subscribed {
            for i in &mut core.insts {
                if now_ns < i.wait_until_ns || !core.venue.needs_snapshot(i.idx) {
                    continue;
                }
                frames.clear();
                core.venue.resubscribe(&i.symbol, frames);
                for f in frames.iter() {
                    if let Err(e) = client.send_text(f) {
                        tracing::warn!(venue = V::NAME, error = %e, "resubscribe not sent");
                    }
                }
                core.stats.snapshots_requested += 1;
                i.wait_until_ns = now_ns.saturating_add(core.wait_ns);
            }
        }
        std::mem::take(&mut core.emitted)
    }

    /// The book stage found `inst`'s book wrong (checksum mismatch, crossed, a dropped event):
    /// emits `BookInvalid(reason)`; the next turn resubscribes it for a fresh snapshot.
    pub fn resync(&mut self, inst: InstrumentIdx, reason: InvalidReason) {
        let core = &mut self.core;
        core.stats.external_resyncs += 1;
        if let Some(i) = core.insts.iter_mut().find(|i| i.idx == inst) {
            i.wait_until_ns = 0;
        }
        let now = core.clock.wall_ns();
        let mut c = Counted {
            inner: &mut core.sink,
            n: 0,
        };
        core.venue.invalidate(Some(inst), reason, now, &mut c);
        core.emitted += c.n;
    }

    /// The instrument of `symbol` (venue spelling).
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentIdx> {
        self.core
            .table
            .lookup(self.core.venue_id, symbol.as_bytes())
    }

    /// The instruments this connection serves.
    pub fn instruments(&self) -> impl Iterator<Item = InstrumentIdx> + '_ {
        self.core.insts.iter().map(|i| i.idx)
    }

    /// Whether `inst`'s book is synced.
    pub fn is_synced(&self, inst: InstrumentIdx) -> bool {
        self.core.venue.is_synced(inst)
    }

    /// The decoder (sync states and counters).
    pub fn venue(&self) -> &V {
        &self.core.venue
    }

    /// The instrument table.
    pub fn table(&self) -> &InstrumentTable {
        &self.core.table
    }

    /// The feed's counters.
    pub fn stats(&self) -> LiveStats {
        self.core.stats
    }

    /// The transport's counters.
    pub fn ws_stats(&self) -> WsStats {
        self.client.stats()
    }

    /// The connection state.
    pub fn conn_state(&self) -> ConnState {
        self.client.state()
    }

    /// The sink.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.core.sink
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.core.sink
    }
}
