//! The live feed of a venue whose book is a REST snapshot bridged to WebSocket diffs by update
//! ids (Binance Spot `lastUpdateId`/`U`/`u`, Gate.io v4 `id`/`U`/`u`): one [`WsClient`], one
//! decoder holding a depth sync per instrument ([`BridgedMd`]), and a [`RestFetcher`] thread
//! that fetches snapshots off the hot thread. [`super::BinanceFeed`] and [`super::GateioFeed`]
//! are this type with their venue's decoder and WebSocket dialect.
//!
//! Snapshot procedure (PROTOCOLS §a.1 and §e): open the stream and buffer; once subscribed and at
//! least one diff is buffered, fetch the snapshot; the sync drops stale diffs and bridges. A
//! snapshot that is too old or does not bridge leaves the sync asking for another one, fetched
//! again after `snapshot_retry_ms`.
//!
//! With a recorder, a finished snapshot is applied right after the next frame of its instrument
//! (at once if the last decoded frame was one): the sync is buffering anyway, and it keeps a
//! native recording unambiguous — `lyra replay` names an unnamed snapshot body by the last stream
//! frame before it. Without a recorder it is applied as soon as it arrives.

use std::{sync::Arc, time::Duration};

use lyra_shm::{
    clock::{Clock, Nanos},
    msg::{InstrumentIdx, InvalidReason, VenueId},
};
use mio::{Events, Poll, Token};

use super::{Counted, LiveError, LiveStats, Recorded, Recorder};
use crate::{
    instrument::{InstrumentTable, Resolved},
    rest::{RestConfig, RestFetcher, RestResponse},
    sink::MdSink,
    ws::{client_config, ConnState, TlsRoots, WsClient, WsConfig, WsEvent, WsProtocol, WsStats},
};

/// How long a blocking wait may last while a REST answer is awaited: answers arrive on a channel,
/// not on the `mio::Poll`, so the wait is capped to notice them promptly.
const REST_WAIT_CAP: Duration = Duration::from_millis(5);

/// What one WebSocket frame was, as far as the feed's snapshot scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A depth diff of this instrument (buffered or applied).
    Depth(InstrumentIdx),
    /// Another per-instrument message (BBO, trade).
    Other(InstrumentIdx),
    /// Nothing per-instrument (acks, other channels).
    Nothing,
    /// The frame could not be decoded; the decoder has already invalidated the book it names,
    /// or every book when `None`.
    Malformed(Option<InstrumentIdx>),
}

/// What a REST snapshot body did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotDecoded {
    /// Installed (or not needed: the book is already newer).
    Applied,
    /// Read but not usable (too old, does not bridge, sink overrun): fetch another later.
    Rejected,
    /// Not readable; fetch another later.
    Malformed,
}

/// A venue decoder with one REST-bridged depth sync per instrument (what [`BridgedFeed`] drives).
pub trait BridgedMd {
    /// Venue name in errors and logs.
    const VENUE: &'static str;
    /// The per-instrument depth sync.
    type Sync;
    /// Creates the sync of `inst` up front (so the hot path never allocates for it).
    fn prepare(&mut self, inst: InstrumentIdx);
    /// The sync of `inst`, if it exists.
    fn sync(&self, inst: InstrumentIdx) -> Option<&Self::Sync>;
    /// Whether `sync` waits for a (new) REST snapshot.
    fn needs_snapshot(sync: &Self::Sync) -> bool;
    /// Whether `sync`'s book is valid (a snapshot bridged, no break since).
    fn is_synced(sync: &Self::Sync) -> bool;
    /// Diffs `sync` holds while waiting for a snapshot.
    fn buffered(sync: &Self::Sync) -> usize;
    /// Decodes one WebSocket frame received at `recv` (wall ns) and emits its events; a frame
    /// that cannot be decoded breaks what it may have touched and is logged.
    fn decode<K: MdSink>(
        &mut self,
        recv: u64,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        sink: &mut K,
    ) -> Decoded;
    /// Offers the REST snapshot `body` of `inst` received at `recv` to its sync.
    fn decode_snapshot<K: MdSink>(
        &mut self,
        recv: u64,
        body: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        inst: Resolved,
        sink: &mut K,
    ) -> SnapshotDecoded;
    /// Breaks `inst`'s book (every book when `None`) for `reason`.
    fn invalidate<K: MdSink>(
        &mut self,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
        recv: u64,
        sink: &mut K,
    );
}

/// Per-instrument snapshot state.
#[derive(Debug)]
struct Inst {
    idx: InstrumentIdx,
    resolved: Resolved,
    /// The snapshot URL (built once).
    url: String,
    /// Id of the request in flight, if any.
    in_flight: Option<u64>,
    /// A received body waiting for the next depth frame of this instrument.
    pending: Option<Vec<u8>>,
    /// No new request before this monotonic time.
    retry_at_ns: Nanos,
}

/// Everything the WebSocket callback touches (split from the client so both borrow at once).
struct Core<M: BridgedMd, S: MdSink> {
    venue: VenueId,
    md: M,
    table: InstrumentTable,
    insts: Vec<Inst>,
    sink: S,
    clock: Arc<dyn Clock>,
    recorder: Option<Recorder>,
    stats: LiveStats,
    /// Every subscription acknowledged on the current connection.
    subscribed: bool,
    /// Every book was invalidated for a connection break and none was rebuilt since.
    broken: bool,
    /// The instrument named by the last decoded frame.
    last_inst: Option<InstrumentIdx>,
    /// Events emitted since the last `poll`.
    emitted: usize,
    retry_ns: Nanos,
}

impl<M: BridgedMd, S: MdSink> Core<M, S> {
    fn on_ws(&mut self, e: WsEvent<'_>) {
        match e {
            WsEvent::Connected | WsEvent::Reconnecting { .. } => {}
            WsEvent::Subscribed => {
                self.subscribed = true;
                self.stats.subscriptions += 1;
            }
            WsEvent::Data(d) => self.on_frame(d),
            WsEvent::VenueError(_) => self.stats.venue_errors += 1,
            WsEvent::Stale { .. } => self.break_all(InvalidReason::Stale),
            WsEvent::Oversized => self.break_all(InvalidReason::Oversized),
            WsEvent::Disconnected(_) => self.break_all(InvalidReason::Disconnected),
        }
    }

    /// The connection is gone or untrustworthy: every book is invalid at once; snapshots in
    /// flight belong to the old stream and are dropped when they arrive.
    fn break_all(&mut self, reason: InvalidReason) {
        self.subscribed = false;
        self.last_inst = None;
        for i in &mut self.insts {
            i.in_flight = None;
            i.pending = None;
        }
        if self.broken {
            return; // Stale/Oversized are followed by Disconnected: one break, not two.
        }
        self.broken = true;
        self.stats.connection_breaks += 1;
        let now = self.clock.wall_ns();
        let mut c = Counted {
            inner: &mut self.sink,
            n: 0,
        };
        self.md.invalidate(None, reason, now, &mut c);
        self.emitted += c.n;
    }

    fn on_frame(&mut self, frame: &[u8]) {
        let recv = self.clock.wall_ns();
        self.stats.frames += 1;
        if let Some(r) = self.recorder.as_mut() {
            r(recv, Recorded::Frame(frame));
        }
        let venue = self.venue;
        let table = &self.table;
        let mut resolve = |s: &[u8]| table.resolve(venue, s);
        let mut c = Counted {
            inner: &mut self.sink,
            n: 0,
        };
        let decoded = self.md.decode(recv, frame, &mut resolve, &mut c);
        self.emitted += c.n;
        let inst = match decoded {
            Decoded::Depth(inst) => {
                self.broken = false;
                Some(inst)
            }
            Decoded::Other(inst) => Some(inst),
            Decoded::Nothing => None,
            Decoded::Malformed(inst) => {
                self.stats.malformed += 1;
                if inst.is_none() {
                    self.last_inst = None;
                }
                None
            }
        };
        if let Some(inst) = inst {
            self.last_inst = Some(inst);
            if let Some(k) = self.insts.iter().position(|i| i.idx == inst) {
                if self.insts[k].pending.is_some() {
                    self.apply_snapshot(k);
                }
            }
        }
    }

    /// Offers the pending snapshot of `self.insts[k]` to its sync.
    fn apply_snapshot(&mut self, k: usize) {
        let Some(body) = self.insts[k].pending.take() else {
            return;
        };
        let recv = self.clock.wall_ns();
        if let Some(r) = self.recorder.as_mut() {
            r(
                recv,
                Recorded::Snapshot {
                    url: &self.insts[k].url,
                    body: &body,
                },
            );
        }
        self.stats.snapshots_received += 1;
        let venue = self.venue;
        let table = &self.table;
        let mut resolve = |s: &[u8]| table.resolve(venue, s);
        let mut c = Counted {
            inner: &mut self.sink,
            n: 0,
        };
        let res =
            self.md
                .decode_snapshot(recv, &body, &mut resolve, self.insts[k].resolved, &mut c);
        self.emitted += c.n;
        if res == SnapshotDecoded::Malformed {
            self.stats.malformed += 1;
        }
        if res != SnapshotDecoded::Applied {
            self.insts[k].retry_at_ns = self.clock.mono_ns().saturating_add(self.retry_ns);
        }
    }

    fn on_rest(&mut self, resp: RestResponse) {
        let Some(k) = self.insts.iter().position(|i| i.in_flight == Some(resp.id)) else {
            return; // requested on a connection that has since broken
        };
        self.insts[k].in_flight = None;
        match resp.result {
            Ok(body) => {
                self.insts[k].pending = Some(body);
                // Without a recorder nothing needs the ordering: apply at once.
                if self.recorder.is_none() || self.last_inst == Some(self.insts[k].idx) {
                    self.apply_snapshot(k);
                }
            }
            Err(e) => {
                tracing::warn!(venue = M::VENUE, error = %e, "snapshot request failed");
                self.stats.snapshot_errors += 1;
                self.insts[k].retry_at_ns = self.clock.mono_ns().saturating_add(self.retry_ns);
            }
        }
    }
}

/// What a venue's constructor hands [`BridgedFeed::build`] besides the decoder and dialect.
pub(crate) struct Setup<'a> {
    /// The venue id stamped on every event.
    pub(crate) venue: VenueId,
    /// Trusted CAs for WebSocket and REST.
    pub(crate) roots: &'a TlsRoots,
    /// Transport settings.
    pub(crate) ws: WsConfig,
    /// REST request timeout, ms.
    pub(crate) rest_timeout_ms: u64,
    /// Symbols in venue spelling, each with its snapshot URL.
    pub(crate) symbols: Vec<(String, String)>,
    /// Price and quantity scales of symbols the instrument table does not know yet.
    pub(crate) scale: u8,
    /// Wait before refetching a snapshot, ms.
    pub(crate) snapshot_retry_ms: u64,
}

/// One live REST-bridged market-data connection emitting `MdEvent`s into `S`: decoder `M`,
/// WebSocket dialect `P`.
pub struct BridgedFeed<M: BridgedMd, P: WsProtocol, S: MdSink> {
    client: WsClient<P>,
    poll: Poll,
    events: Events,
    rest: RestFetcher,
    core: Core<M, S>,
    next_req: u64,
}

impl<M: BridgedMd, P: WsProtocol, S: MdSink> std::fmt::Debug for BridgedFeed<M, P, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgedFeed")
            .field("venue_name", &M::VENUE)
            .field("venue", &self.core.venue)
            .field("state", &self.client.state())
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl<M: BridgedMd, P: WsProtocol, S: MdSink> BridgedFeed<M, P, S> {
    /// Builds the connection (not yet started) from a venue's parts: symbols the table lacks are
    /// added at `setup.scale`, each gets its sync prepared.
    pub(crate) fn build(
        setup: Setup<'_>,
        mut md: M,
        protocol: P,
        mut table: InstrumentTable,
        sink: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LiveError> {
        let venue = M::VENUE;
        let tls = client_config(setup.roots).map_err(|source| LiveError::Tls { venue, source })?;
        let client = WsClient::new(protocol, setup.ws, Some(tls), clock.clone(), Token(0))
            .map_err(|source| LiveError::Ws { venue, source })?;
        let mut rest_cfg = RestConfig::new(venue, setup.roots.clone());
        rest_cfg.timeout_ms = setup.rest_timeout_ms;
        let rest =
            RestFetcher::spawn(&rest_cfg).map_err(|source| LiveError::Rest { venue, source })?;
        let poll = Poll::new().map_err(|source| LiveError::Poll { venue, source })?;
        let mut insts = Vec::with_capacity(setup.symbols.len());
        for (sym, url) in setup.symbols {
            let bad = |reason: String| LiveError::Symbol {
                venue,
                symbol: sym.clone(),
                reason,
            };
            let idx = table
                .lookup_or_add(setup.venue, &sym, setup.scale, setup.scale)
                .map_err(|e| bad(e.to_string()))?;
            let resolved = table
                .resolved(idx)
                .ok_or_else(|| bad("not resolvable".into()))?;
            md.prepare(idx);
            insts.push(Inst {
                idx,
                resolved,
                url,
                in_flight: None,
                pending: None,
                retry_at_ns: 0,
            });
        }
        Ok(Self {
            client,
            poll,
            events: Events::with_capacity(64),
            rest,
            core: Core {
                venue: setup.venue,
                md,
                table,
                insts,
                sink,
                clock,
                recorder: None,
                stats: LiveStats::default(),
                subscribed: false,
                broken: true,
                last_inst: None,
                emitted: 0,
                retry_ns: setup.snapshot_retry_ms.saturating_mul(1_000_000),
            },
            next_req: 1,
        })
    }

    /// Hands every raw frame and snapshot body to `recorder` from now on.
    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.core.recorder = Some(recorder);
    }

    /// Starts connecting (call once; reconnects are automatic).
    pub fn start(&mut self) {
        let Self {
            client, poll, core, ..
        } = self;
        client.start(poll.registry(), &mut |e| core.on_ws(e));
    }

    /// Closes the connection; it stays closed until [`BridgedFeed::start`].
    pub fn stop(&mut self) {
        self.client.stop(self.poll.registry());
    }

    /// One non-blocking turn for the engine's feed stage: drains readiness (zero timeout),
    /// decodes frames, takes finished snapshots, runs timers and requests snapshots due at
    /// `now_ns` (monotonic). Returns the number of events emitted.
    pub fn poll(&mut self, now_ns: Nanos) -> usize {
        self.turn(Some(Duration::ZERO), now_ns)
    }

    /// One blocking turn for standalone use (`lyra record`, tests): waits in `Poll::poll` up to
    /// `max_wait` or the client's next deadline (shorter while a snapshot is awaited), then does
    /// what [`BridgedFeed::poll`] does. Returns the number of events emitted.
    pub fn poll_wait(&mut self, max_wait: Duration) -> usize {
        let now = self.core.clock.mono_ns();
        let mut wait = max_wait;
        if let Some(d) = self.client.next_deadline_ns() {
            wait = wait.min(Duration::from_nanos(d.saturating_sub(now)));
        }
        if self
            .core
            .insts
            .iter()
            .any(|i| i.in_flight.is_some() || self.snapshot_due(i))
        {
            wait = wait.min(REST_WAIT_CAP);
        }
        let now = self.core.clock.mono_ns();
        self.turn(Some(wait), now)
    }

    fn snapshot_due(&self, i: &Inst) -> bool {
        self.core.subscribed
            && i.pending.is_none()
            && self.core.md.sync(i.idx).is_some_and(M::needs_snapshot)
    }

    fn turn(&mut self, timeout: Option<Duration>, now_ns: Nanos) -> usize {
        // An interrupted wait (EINTR) is a spurious wake-up: the timers below still run.
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::warn!(venue = M::VENUE, error = %e, "poll failed");
            }
        }
        let Self {
            client,
            poll,
            events,
            core,
            rest,
            next_req,
        } = self;
        for ev in events.iter() {
            client.on_ready(poll.registry(), ev, &mut |e| core.on_ws(e));
        }
        client.on_tick(poll.registry(), &mut |e| core.on_ws(e));
        while let Some(resp) = rest.try_recv() {
            core.on_rest(resp);
        }
        if core.subscribed {
            for i in &mut core.insts {
                let Some(sync) = core.md.sync(i.idx) else {
                    continue;
                };
                // Buffer first (one diff at least), then fetch: the documented order, so the
                // snapshot is never older than the stream we hold.
                if !M::needs_snapshot(sync)
                    || M::buffered(sync) == 0
                    || i.in_flight.is_some()
                    || i.pending.is_some()
                    || now_ns < i.retry_at_ns
                {
                    continue;
                }
                let id = *next_req;
                *next_req += 1;
                match rest.submit(id, i.url.as_str()) {
                    Ok(()) => {
                        i.in_flight = Some(id);
                        core.stats.snapshots_requested += 1;
                    }
                    Err(e) => {
                        tracing::warn!(venue = M::VENUE, error = %e, "snapshot request not queued");
                        core.stats.snapshot_errors += 1;
                        i.retry_at_ns = now_ns.saturating_add(core.retry_ns);
                    }
                }
            }
        }
        std::mem::take(&mut core.emitted)
    }

    /// The book stage found `inst`'s rebuilt book wrong (crossed/locked, checksum mismatch, a
    /// dropped event in its ring): emits `BookInvalid(reason)` and resyncs it from a new snapshot.
    pub fn resync(&mut self, inst: InstrumentIdx, reason: InvalidReason) {
        let core = &mut self.core;
        core.stats.external_resyncs += 1;
        if let Some(i) = core.insts.iter_mut().find(|i| i.idx == inst) {
            i.in_flight = None;
            i.pending = None;
        }
        let now = core.clock.wall_ns();
        let mut c = Counted {
            inner: &mut core.sink,
            n: 0,
        };
        core.md.invalidate(Some(inst), reason, now, &mut c);
        core.emitted += c.n;
    }

    /// The instrument of `symbol` (venue spelling, any case).
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentIdx> {
        self.core
            .table
            .lookup(self.core.venue, symbol.to_ascii_uppercase().as_bytes())
    }

    /// The instruments this connection serves, in configuration order.
    pub fn instruments(&self) -> impl Iterator<Item = InstrumentIdx> + '_ {
        self.core.insts.iter().map(|i| i.idx)
    }

    /// The REST snapshot URL of `inst`, if this connection serves it.
    pub fn snapshot_url(&self, inst: InstrumentIdx) -> Option<&str> {
        self.core
            .insts
            .iter()
            .find(|i| i.idx == inst)
            .map(|i| i.url.as_str())
    }

    /// The depth sync of `inst` (state, book id, counters).
    pub fn sync(&self, inst: InstrumentIdx) -> Option<&M::Sync> {
        self.core.md.sync(inst)
    }

    /// Whether `inst`'s book is synced (a snapshot bridged, no break since).
    pub fn is_synced(&self, inst: InstrumentIdx) -> bool {
        self.core.md.sync(inst).is_some_and(M::is_synced)
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
