//! The connection life cycle every live feed shares, written once: one [`WsClient`] on its own
//! `mio::Poll`, the non-blocking ([`LiveFeed::poll`]) and blocking ([`LiveFeed::poll_wait`])
//! turns, the dispatch of transport events (subscription ack, frames, stale / oversized /
//! disconnect breaks), frame recording and counting, external resyncs and the accessors. The
//! transport below it (connect, backoff, proactive reconnect, watchdog, keep-alive, subscription
//! acks) is the [`WsClient`]'s.
//!
//! What differs between feeds is how a broken book gets its snapshot back — a [`Flavor`]:
//! [`super::bridged::Bridged`] fetches REST snapshots and bridges them by update ids (Binance,
//! Gate.io), [`super::socket::Socket`] resubscribes the instrument so the venue pushes one on the
//! socket (OKX, Kraken). [`super::BridgedFeed`] and [`super::SocketFeed`] are [`LiveFeed`] with
//! one or the other.

use std::{sync::Arc, time::Duration};

use lyra_shm::{
    clock::{Clock, Nanos},
    msg::{InstrumentIdx, InvalidReason, VenueId},
};
use mio::{Events, Poll, Token};

use super::{Counted, LiveError, LiveStats, Recorded, Recorder};
use crate::{
    instrument::{InstrumentTable, Resolved},
    sink::MdSink,
    ws::{client_config, ConnState, TlsRoots, WsClient, WsConfig, WsEvent, WsProtocol, WsStats},
};

/// What one WebSocket frame was, as far as the feed's book repair cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A depth diff or snapshot of this instrument (buffered or applied).
    Depth(InstrumentIdx),
    /// Another per-instrument message (BBO, trade).
    Other(InstrumentIdx),
    /// Nothing per-instrument (acks, other channels).
    Nothing,
    /// The frame could not be decoded; the decoder has already invalidated the book it names,
    /// or every book when `None`.
    Malformed(Option<InstrumentIdx>),
}

/// How a feed repairs its books: the per-instrument state and timers beside the shared life cycle.
/// Implemented by [`super::bridged::Bridged`] and [`super::socket::Socket`] only.
pub trait Flavor {
    /// The WebSocket dialect.
    type Proto: WsProtocol;
    /// Venue name in errors and logs.
    const NAME: &'static str;
    /// Whether [`LiveFeed::instrument`] upper-cases the symbol (the config did so on the way in).
    const UPPERCASE_SYMBOLS: bool;
    /// The instruments served, in configuration order.
    fn instruments(&self) -> impl Iterator<Item = InstrumentIdx> + '_;
    /// Whether `inst`'s book is synced.
    fn is_synced(&self, inst: InstrumentIdx) -> bool;
    /// Decodes one frame received at `recv` (wall ns) into `core`'s sink (see [`Core::emit`]).
    fn decode<S: MdSink>(&mut self, core: &mut Core<S>, recv: u64, frame: &[u8]) -> Decoded;
    /// Breaks `inst`'s book (every book when `None`) for `reason`.
    fn invalidate<K: MdSink>(
        &mut self,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
        recv: u64,
        sink: &mut K,
    );
    /// Every subscription was acknowledged.
    fn on_subscribed(&mut self, _clock: &dyn Clock) {}
    /// The connection broke (called for every break event, before the books are invalidated).
    fn on_break(&mut self) {}
    /// The book stage reported `inst` broken; its book is invalidated right after.
    fn on_resync(&mut self, inst: InstrumentIdx);
    /// Once per turn after the transport: snapshot requests and other per-instrument timers.
    fn service<S: MdSink>(
        &mut self,
        client: &mut WsClient<Self::Proto>,
        core: &mut Core<S>,
        now_ns: Nanos,
    );
    /// How long a blocking wait may last at most, given the state at monotonic `now_ns`.
    fn wait_cap(&self, subscribed: bool, now_ns: Nanos) -> Option<Duration>;
}

/// The state the WebSocket callback shares with the flavor (split from the client so both can
/// be borrowed at once).
pub struct Core<S> {
    /// The venue id stamped on every event.
    pub(crate) venue: VenueId,
    /// Symbols and scales.
    pub(crate) table: InstrumentTable,
    /// Where events go.
    pub(crate) sink: S,
    /// Wall time for `recv_ts`, monotonic time for timers.
    pub(crate) clock: Arc<dyn Clock>,
    /// Receives every raw input when set.
    pub(crate) recorder: Option<Recorder>,
    /// Counters.
    pub(crate) stats: LiveStats,
    /// Every subscription acknowledged on the current connection.
    pub(crate) subscribed: bool,
    /// Every book was invalidated for a connection break and none was rebuilt since.
    pub(crate) broken: bool,
    /// Events emitted since the last turn.
    pub(crate) emitted: usize,
}

impl<S: MdSink> Core<S> {
    /// Runs `f` with the symbol resolver and a counting view of the sink; what it emits is added
    /// to the turn's count.
    pub(crate) fn emit<R>(
        &mut self,
        f: impl FnOnce(&mut dyn FnMut(&[u8]) -> Option<Resolved>, &mut Counted<'_, S>) -> R,
    ) -> R {
        let venue = self.venue;
        let table = &self.table;
        let mut resolve = |s: &[u8]| table.resolve(venue, s);
        let mut c = Counted {
            inner: &mut self.sink,
            n: 0,
        };
        let r = f(&mut resolve, &mut c);
        self.emitted += c.n;
        r
    }

    fn on_ws<F: Flavor>(&mut self, flavor: &mut F, e: WsEvent<'_>) {
        match e {
            WsEvent::Connected | WsEvent::Reconnecting { .. } => {}
            WsEvent::Subscribed => {
                self.subscribed = true;
                self.stats.subscriptions += 1;
                flavor.on_subscribed(&*self.clock);
            }
            WsEvent::Data(d) => self.on_frame(flavor, d),
            WsEvent::VenueError(_) => self.stats.venue_errors += 1,
            WsEvent::Stale { .. } => self.break_all(flavor, InvalidReason::Stale),
            WsEvent::Oversized => self.break_all(flavor, InvalidReason::Oversized),
            WsEvent::Disconnected(_) => self.break_all(flavor, InvalidReason::Disconnected),
        }
    }

    /// The connection is gone or untrustworthy: every book is invalid at once.
    fn break_all<F: Flavor>(&mut self, flavor: &mut F, reason: InvalidReason) {
        self.subscribed = false;
        flavor.on_break();
        if self.broken {
            return; // Stale/Oversized are followed by Disconnected: one break, not two.
        }
        self.broken = true;
        self.stats.connection_breaks += 1;
        self.invalidate(flavor, None, reason);
    }

    fn invalidate<F: Flavor>(
        &mut self,
        flavor: &mut F,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
    ) {
        let now = self.clock.wall_ns();
        self.emit(|_, sink| flavor.invalidate(inst, reason, now, sink));
    }

    fn on_frame<F: Flavor>(&mut self, flavor: &mut F, frame: &[u8]) {
        let recv = self.clock.wall_ns();
        self.stats.frames += 1;
        if let Some(r) = self.recorder.as_mut() {
            r(recv, Recorded::Frame(frame));
        }
        match flavor.decode(self, recv, frame) {
            Decoded::Depth(_) => self.broken = false,
            Decoded::Malformed(_) => self.stats.malformed += 1,
            Decoded::Other(_) | Decoded::Nothing => {}
        }
    }
}

/// The transport half of a feed's settings.
pub(crate) struct Transport<'a, P> {
    /// Trusted CAs.
    pub(crate) roots: &'a TlsRoots,
    /// Transport settings.
    pub(crate) ws: WsConfig,
    /// The venue's dialect.
    pub(crate) protocol: P,
}

/// Adds `symbol` (venue spelling) to `table` at `scale` unless it is there.
pub(crate) fn register(
    table: &mut InstrumentTable,
    venue: VenueId,
    name: &'static str,
    symbol: &str,
    scale: u8,
) -> Result<InstrumentIdx, LiveError> {
    table
        .lookup_or_add(venue, symbol, scale, scale)
        .map_err(|e| LiveError::Symbol {
            venue: name,
            symbol: symbol.to_owned(),
            reason: e.to_string(),
        })
}

/// One live market-data connection emitting `MdEvent`s into `S`, repairing books the way `F`
/// does; used as [`super::BridgedFeed`] or [`super::SocketFeed`].
pub struct LiveFeed<F: Flavor, S: MdSink> {
    client: WsClient<F::Proto>,
    poll: Poll,
    events: Events,
    core: Core<S>,
    flavor: F,
}

impl<F: Flavor, S: MdSink> std::fmt::Debug for LiveFeed<F, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFeed")
            .field("venue_name", &F::NAME)
            .field("venue", &self.core.venue)
            .field("state", &self.client.state())
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl<F: Flavor, S: MdSink> LiveFeed<F, S> {
    /// Builds a feed (not yet started): TLS, the WebSocket client and the poll, then the flavor
    /// (`flavor` registers the symbols in the table and prepares their state).
    pub(crate) fn assemble(
        transport: Transport<'_, F::Proto>,
        venue_id: VenueId,
        mut table: InstrumentTable,
        sink: S,
        clock: Arc<dyn Clock>,
        flavor: impl FnOnce(&mut InstrumentTable) -> Result<F, LiveError>,
    ) -> Result<Self, LiveError> {
        let venue = F::NAME;
        let tls =
            client_config(transport.roots).map_err(|source| LiveError::Tls { venue, source })?;
        let (proto, ws) = (transport.protocol, transport.ws);
        let client = WsClient::new(proto, ws, Some(tls), clock.clone(), Token(0))
            .map_err(|source| LiveError::Ws { venue, source })?;
        let poll = Poll::new().map_err(|source| LiveError::Poll { venue, source })?;
        let flavor = flavor(&mut table)?;
        Ok(Self {
            client,
            poll,
            events: Events::with_capacity(64),
            core: Core {
                venue: venue_id,
                table,
                sink,
                clock,
                recorder: None,
                stats: LiveStats::default(),
                subscribed: false,
                broken: true,
                emitted: 0,
            },
            flavor,
        })
    }

    /// The flavor's state.
    pub(crate) fn flavor(&self) -> &F {
        &self.flavor
    }

    /// Hands every raw input (frames, and snapshot bodies where the venue has them) to `recorder`
    /// from now on.
    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.core.recorder = Some(recorder);
    }

    /// Starts connecting (call once; reconnects are automatic).
    pub fn start(&mut self) {
        let Self {
            client,
            poll,
            core,
            flavor,
            ..
        } = self;
        client.start(poll.registry(), &mut |e| core.on_ws(flavor, e));
    }

    /// Closes the connection; it stays closed until [`LiveFeed::start`].
    pub fn stop(&mut self) {
        self.client.stop(self.poll.registry());
    }

    /// One non-blocking turn for the engine's feed stage: drains readiness (zero timeout),
    /// decodes frames, runs timers and repairs books due at `now_ns` (monotonic). Returns the
    /// number of events emitted.
    pub fn poll(&mut self, now_ns: Nanos) -> usize {
        self.turn(Some(Duration::ZERO), now_ns)
    }

    /// One blocking turn for standalone use (`lyra record`, tests): waits in `Poll::poll` up to
    /// `max_wait`, the client's next deadline or the flavor's next repair (a REST snapshot
    /// awaited, a resubscription due), then does what [`LiveFeed::poll`] does. Returns the
    /// number of events emitted.
    pub fn poll_wait(&mut self, max_wait: Duration) -> usize {
        let now = self.core.clock.mono_ns();
        let mut wait = max_wait;
        if let Some(d) = self.client.next_deadline_ns() {
            wait = wait.min(Duration::from_nanos(d.saturating_sub(now)));
        }
        if let Some(cap) = self.flavor.wait_cap(self.core.subscribed, now) {
            wait = wait.min(cap);
        }
        let now = self.core.clock.mono_ns();
        self.turn(Some(wait), now)
    }

    fn turn(&mut self, timeout: Option<Duration>, now_ns: Nanos) -> usize {
        // An interrupted wait (EINTR) is a spurious wake-up: the timers below still run.
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::warn!(venue = F::NAME, error = %e, "poll failed");
            }
        }
        let Self {
            client,
            poll,
            events,
            core,
            flavor,
        } = self;
        for ev in events.iter() {
            client.on_ready(poll.registry(), ev, &mut |e| core.on_ws(flavor, e));
        }
        client.on_tick(poll.registry(), &mut |e| core.on_ws(flavor, e));
        flavor.service(client, core, now_ns);
        std::mem::take(&mut core.emitted)
    }

    /// The book stage found `inst`'s book wrong (crossed/locked, checksum mismatch, a dropped
    /// event in its ring): emits `BookInvalid(reason)` at once and repairs it (a new REST
    /// snapshot, or a resubscription on the next turn).
    pub fn resync(&mut self, inst: InstrumentIdx, reason: InvalidReason) {
        self.core.stats.external_resyncs += 1;
        self.flavor.on_resync(inst);
        self.core.invalidate(&mut self.flavor, Some(inst), reason);
    }

    /// The instrument of `symbol` (venue spelling; any case where the config upper-cases).
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentIdx> {
        let venue = self.core.venue;
        if F::UPPERCASE_SYMBOLS {
            let upper = symbol.to_ascii_uppercase();
            self.core.table.lookup(venue, upper.as_bytes())
        } else {
            self.core.table.lookup(venue, symbol.as_bytes())
        }
    }

    /// The instruments this connection serves, in configuration order.
    pub fn instruments(&self) -> impl Iterator<Item = InstrumentIdx> + '_ {
        self.flavor.instruments()
    }

    /// Whether `inst`'s book is synced (a snapshot applied, no break since).
    pub fn is_synced(&self, inst: InstrumentIdx) -> bool {
        self.flavor.is_synced(inst)
    }

    /// The instrument table (symbols and scales).
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

    /// The sink (e.g. to drain a `Vec` in tests).
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.core.sink
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.core.sink
    }
}
