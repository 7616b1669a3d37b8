//! The live Binance Spot feed: combined streams over [`WsClient`], [`BinanceMd`] (parser + one
//! diff-depth sync per instrument), REST `/api/v3/depth` snapshots from a [`RestFetcher`] thread.
//!
//! Snapshot procedure (PROTOCOLS §a.1, Binance "How to manage a local order book correctly"):
//! open the stream and buffer; once subscribed and at least one event is buffered, fetch the
//! snapshot; the sync drops stale events and bridges. A snapshot that is too old or does not
//! bridge leaves the sync asking for another one, fetched again after `snapshot_retry_ms`.
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
    binance::{BinanceMd, DepthSync, FrameInfo, ParseError, SnapshotOutcome, SyncConfig},
    instrument::{InstrumentTable, Resolved},
    rest::{RestConfig, RestFetcher, RestResponse},
    sink::MdSink,
    ws::{
        client_config, venues::BinanceWs, ConnState, TlsRoots, WsClient, WsConfig, WsEvent, WsStats,
    },
};

/// Venue name in errors and logs.
const VENUE: &str = "binance";

/// How long a blocking wait may last while a REST answer is awaited: answers arrive on a channel,
/// not on the `mio::Poll`, so the wait is capped to notice them promptly.
const REST_WAIT_CAP: Duration = Duration::from_millis(5);

/// Settings of one Binance Spot market-data connection.
#[derive(Debug, Clone)]
pub struct BinanceFeedConfig {
    /// The venue id stamped on every event.
    pub venue: VenueId,
    /// Market-stream base URL (`wss://stream.binance.com:9443`, or the simulator's).
    pub ws_base: String,
    /// REST base URL (`https://api.binance.com`, or the simulator's).
    pub rest_base: String,
    /// Trusted CAs for both.
    pub roots: TlsRoots,
    /// Symbols in venue spelling (`BTCUSDT`).
    pub symbols: Vec<String>,
    /// Depth stream speed suffix (`100ms`; empty for the 1 s stream).
    pub depth_speed: String,
    /// Also subscribe `<symbol>@bookTicker`.
    pub book_ticker: bool,
    /// Also subscribe `<symbol>@trade`.
    pub trades: bool,
    /// `limit` of the REST snapshot (Binance: up to 5000; 1000 costs weight 50).
    pub snapshot_limit: u32,
    /// Wait before refetching after a failed request or a snapshot that did not bridge, ms.
    pub snapshot_retry_ms: u64,
    /// Price and quantity scales of symbols the instrument table does not know yet.
    pub scale: u8,
    /// Transport settings (limits, watchdog, keep-alive, reconnect).
    pub ws: WsConfig,
    /// Depth sync buffer bounds.
    pub sync: SyncConfig,
    /// REST request timeout, ms.
    pub rest_timeout_ms: u64,
}

impl BinanceFeedConfig {
    /// Depth (100 ms), bookTicker and trades of `symbols` on the given endpoints, Binance's
    /// transport settings, 1000-level snapshots.
    pub fn new(
        venue: VenueId,
        ws_base: &str,
        rest_base: &str,
        roots: TlsRoots,
        symbols: Vec<String>,
    ) -> Self {
        Self {
            venue,
            ws_base: ws_base.to_owned(),
            rest_base: rest_base.trim_end_matches('/').to_owned(),
            roots,
            symbols: symbols.iter().map(|s| s.to_ascii_uppercase()).collect(),
            depth_speed: "100ms".into(),
            book_ticker: true,
            trades: true,
            snapshot_limit: 1000,
            snapshot_retry_ms: 250,
            // Binance sends 8 decimals for prices and quantities: scale 8 holds every text.
            scale: 8,
            ws: BinanceWs::transport_config(),
            sync: SyncConfig::default(),
            rest_timeout_ms: 10_000,
        }
    }

    /// The stream names this configuration subscribes.
    pub fn streams(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.symbols {
            let l = s.to_ascii_lowercase();
            if self.depth_speed.is_empty() {
                out.push(format!("{l}@depth"));
            } else {
                out.push(format!("{l}@depth@{}", self.depth_speed));
            }
            if self.book_ticker {
                out.push(format!("{l}@bookTicker"));
            }
            if self.trades {
                out.push(format!("{l}@trade"));
            }
        }
        out
    }
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
struct Core<S: MdSink> {
    venue: VenueId,
    md: BinanceMd,
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

impl<S: MdSink> Core<S> {
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
        let res = self.md.on_frame(recv, frame, &mut resolve, None, &mut c);
        match res {
            Ok(info) => {
                self.emitted += c.n;
                let inst = match info {
                    FrameInfo::Depth { inst, .. } => {
                        self.broken = false;
                        Some(inst)
                    }
                    FrameInfo::BookTicker { inst } | FrameInfo::Trade { inst } => Some(inst),
                    FrameInfo::Snapshot { .. } | FrameInfo::Other => None,
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
            Err(e) => {
                // A frame we cannot read may have been a depth update: the book it names breaks,
                // or every book when the name is unreadable.
                let inst = match &e {
                    ParseError::Field { symbol, .. } | ParseError::Decimal { symbol, .. }
                        if !symbol.is_empty() =>
                    {
                        table.lookup(venue, symbol.as_bytes())
                    }
                    _ => None,
                };
                tracing::warn!(venue = VENUE, error = %e, "undecodable frame; book(s) invalid");
                self.stats.malformed += 1;
                self.md.on_malformed(inst, recv, &mut c);
                self.emitted += c.n;
                if inst.is_none() {
                    self.last_inst = None;
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
        let res = self.md.on_frame(
            recv,
            &body,
            &mut resolve,
            Some(self.insts[k].resolved),
            &mut c,
        );
        let ok = match res {
            Ok(FrameInfo::Snapshot { outcome, .. }) => {
                matches!(
                    outcome,
                    SnapshotOutcome::Applied { .. } | SnapshotOutcome::Ignored
                )
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(venue = VENUE, error = %e, "undecodable snapshot");
                self.stats.malformed += 1;
                self.md.on_malformed(Some(self.insts[k].idx), recv, &mut c);
                false
            }
        };
        self.emitted += c.n;
        if !ok {
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
                tracing::warn!(venue = VENUE, error = %e, "snapshot request failed");
                self.stats.snapshot_errors += 1;
                self.insts[k].retry_at_ns = self.clock.mono_ns().saturating_add(self.retry_ns);
            }
        }
    }
}

/// One live Binance Spot market-data connection emitting `MdEvent`s into `S`.
pub struct BinanceFeed<S: MdSink> {
    client: WsClient<BinanceWs>,
    poll: Poll,
    events: Events,
    rest: RestFetcher,
    core: Core<S>,
    next_req: u64,
}

impl<S: MdSink> std::fmt::Debug for BinanceFeed<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceFeed")
            .field("venue", &self.core.venue)
            .field("state", &self.client.state())
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl<S: MdSink> BinanceFeed<S> {
    /// Builds the connection (not yet started): `table` maps the venue's symbols to instruments
    /// (symbols it lacks are added at `cfg.scale`), `sink` receives every event.
    ///
    /// # Errors
    /// [`LiveError`] for bad TLS roots, URLs, symbols, or when the REST thread or poll cannot
    /// start.
    pub fn new(
        cfg: &BinanceFeedConfig,
        mut table: InstrumentTable,
        sink: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LiveError> {
        let tls = client_config(&cfg.roots).map_err(|source| LiveError::Tls {
            venue: VENUE,
            source,
        })?;
        let client = WsClient::new(
            BinanceWs::new(&cfg.ws_base, cfg.streams()),
            cfg.ws.clone(),
            Some(tls),
            clock.clone(),
            Token(0),
        )
        .map_err(|source| LiveError::Ws {
            venue: VENUE,
            source,
        })?;
        let mut rest_cfg = RestConfig::new(VENUE, cfg.roots.clone());
        rest_cfg.timeout_ms = cfg.rest_timeout_ms;
        let rest = RestFetcher::spawn(&rest_cfg).map_err(|source| LiveError::Rest {
            venue: VENUE,
            source,
        })?;
        let poll = Poll::new().map_err(|source| LiveError::Poll {
            venue: VENUE,
            source,
        })?;
        let mut md = BinanceMd::new(cfg.venue, cfg.sync);
        let mut insts = Vec::with_capacity(cfg.symbols.len());
        for sym in &cfg.symbols {
            let bad = |reason: String| LiveError::Symbol {
                venue: VENUE,
                symbol: sym.clone(),
                reason,
            };
            let idx = table
                .lookup_or_add(cfg.venue, sym, cfg.scale, cfg.scale)
                .map_err(|e| bad(e.to_string()))?;
            let resolved = table
                .resolved(idx)
                .ok_or_else(|| bad("not resolvable".into()))?;
            md.prepare(idx);
            insts.push(Inst {
                idx,
                resolved,
                url: format!(
                    "{}/api/v3/depth?symbol={sym}&limit={}",
                    cfg.rest_base, cfg.snapshot_limit
                ),
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
                venue: cfg.venue,
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
                retry_ns: cfg.snapshot_retry_ms.saturating_mul(1_000_000),
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

    /// Closes the connection; it stays closed until [`BinanceFeed::start`].
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
    /// what [`BinanceFeed::poll`] does. Returns the number of events emitted.
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
            && self
                .core
                .md
                .sync(i.idx)
                .is_some_and(DepthSync::needs_snapshot)
    }

    fn turn(&mut self, timeout: Option<Duration>, now_ns: Nanos) -> usize {
        // An interrupted wait (EINTR) is a spurious wake-up: the timers below still run.
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::warn!(venue = VENUE, error = %e, "poll failed");
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
                // Buffer first (one event at least), then fetch: the documented order, so the
                // snapshot is never older than the stream we hold.
                if !sync.needs_snapshot()
                    || sync.buffered() == 0
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
                        tracing::warn!(venue = VENUE, error = %e, "snapshot request not queued");
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

    /// The instrument of `symbol` (venue spelling).
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentIdx> {
        self.core
            .table
            .lookup(self.core.venue, symbol.to_ascii_uppercase().as_bytes())
    }

    /// The instruments this connection serves, in configuration order.
    pub fn instruments(&self) -> impl Iterator<Item = InstrumentIdx> + '_ {
        self.core.insts.iter().map(|i| i.idx)
    }

    /// The depth sync of `inst` (state, book id, counters).
    pub fn sync(&self, inst: InstrumentIdx) -> Option<&DepthSync> {
        self.core.md.sync(inst)
    }

    /// Whether `inst`'s book is synced (a snapshot bridged, no break since).
    pub fn is_synced(&self, inst: InstrumentIdx) -> bool {
        self.core.md.sync(inst).is_some_and(DepthSync::is_synced)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_snapshot_url_follow_the_config() {
        let mut cfg = BinanceFeedConfig::new(
            VenueId(0),
            "wss://stream.binance.com:9443",
            "https://api.binance.com/",
            TlsRoots::WebPki,
            vec!["btcusdt".into(), "ETHUSDT".into()],
        );
        assert_eq!(cfg.symbols, ["BTCUSDT", "ETHUSDT"]);
        assert_eq!(
            cfg.streams(),
            [
                "btcusdt@depth@100ms",
                "btcusdt@bookTicker",
                "btcusdt@trade",
                "ethusdt@depth@100ms",
                "ethusdt@bookTicker",
                "ethusdt@trade"
            ]
        );
        cfg.book_ticker = false;
        cfg.trades = false;
        cfg.depth_speed.clear();
        assert_eq!(cfg.streams(), ["btcusdt@depth", "ethusdt@depth"]);
        let feed = BinanceFeed::new(
            &cfg,
            InstrumentTable::new(),
            Vec::new(),
            Arc::new(lyra_shm::clock::LiveClock),
        )
        .expect("feed");
        assert_eq!(
            feed.core.insts[0].url,
            "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000"
        );
        let btc = feed.instrument("btcusdt").expect("instrument");
        assert!(!feed.is_synced(btc), "no book before a snapshot bridges");
        assert_eq!(feed.conn_state(), ConnState::Idle);
    }
}
