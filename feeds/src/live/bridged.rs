//! The live feed of a venue whose book is a REST snapshot bridged to WebSocket diffs by update
//! ids (Binance Spot `lastUpdateId`/`U`/`u`, Gate.io v4 `id`/`U`/`u`): the shared connection
//! driver ([`LiveFeed`]) with the [`Bridged`] flavor — one decoder holding a depth sync per
//! instrument ([`BridgedMd`]), and a [`RestFetcher`] thread that fetches snapshots off the hot
//! thread. [`super::BinanceFeed`] and [`super::GateioFeed`] are this type with their venue's
//! decoder and WebSocket dialect.
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

use std::{marker::PhantomData, sync::Arc, time::Duration};

use lyra_shm::{
    clock::{Clock, Nanos},
    msg::{InstrumentIdx, InvalidReason, VenueId},
};

pub use super::driver::Decoded;
use super::{
    driver::{register, Core, Flavor, LiveFeed, Transport},
    LiveError, Recorded,
};
use crate::{
    instrument::{InstrumentTable, Resolved},
    rest::{RestConfig, RestFetcher, RestResponse},
    sink::MdSink,
    ws::{TlsRoots, WsClient, WsConfig, WsProtocol},
};

/// How long a blocking wait may last while a REST answer is awaited: answers arrive on a channel,
/// not on the `mio::Poll`, so the wait is capped to notice them promptly.
const REST_WAIT_CAP: Duration = Duration::from_millis(5);

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

/// The REST-snapshot flavor of a live feed: decoder `M`, WebSocket dialect `P`, the snapshot
/// state of every instrument and the fetcher thread.
pub struct Bridged<M, P> {
    md: M,
    insts: Vec<Inst>,
    rest: RestFetcher,
    next_req: u64,
    /// The instrument named by the last decoded frame.
    last_inst: Option<InstrumentIdx>,
    retry_ns: Nanos,
    proto: PhantomData<fn() -> P>,
}

impl<M: BridgedMd, P> Bridged<M, P> {
    /// Offers the pending snapshot of `self.insts[k]` to its sync.
    fn apply_snapshot<S: MdSink>(&mut self, core: &mut Core<S>, k: usize) {
        let Some(body) = self.insts[k].pending.take() else {
            return;
        };
        let recv = core.clock.wall_ns();
        if let Some(r) = core.recorder.as_mut() {
            r(
                recv,
                Recorded::Snapshot {
                    url: &self.insts[k].url,
                    body: &body,
                },
            );
        }
        core.stats.snapshots_received += 1;
        let inst = self.insts[k].resolved;
        let md = &mut self.md;
        let res = core.emit(|resolve, sink| md.decode_snapshot(recv, &body, resolve, inst, sink));
        if res == SnapshotDecoded::Malformed {
            core.stats.malformed += 1;
        }
        if res != SnapshotDecoded::Applied {
            self.insts[k].retry_at_ns = core.clock.mono_ns().saturating_add(self.retry_ns);
        }
    }

    fn on_rest<S: MdSink>(&mut self, core: &mut Core<S>, resp: RestResponse) {
        let Some(k) = self.insts.iter().position(|i| i.in_flight == Some(resp.id)) else {
            return; // requested on a connection that has since broken
        };
        self.insts[k].in_flight = None;
        match resp.result {
            Ok(body) => {
                self.insts[k].pending = Some(body);
                // Without a recorder nothing needs the ordering: apply at once.
                if core.recorder.is_none() || self.last_inst == Some(self.insts[k].idx) {
                    self.apply_snapshot(core, k);
                }
            }
            Err(e) => {
                tracing::warn!(venue = M::VENUE, error = %e, "snapshot request failed");
                core.stats.snapshot_errors += 1;
                self.insts[k].retry_at_ns = core.clock.mono_ns().saturating_add(self.retry_ns);
            }
        }
    }
}

impl<M: BridgedMd, P: WsProtocol> Flavor for Bridged<M, P> {
    type Proto = P;
    const NAME: &'static str = M::VENUE;
    const UPPERCASE_SYMBOLS: bool = true;

    fn instruments(&self) -> impl Iterator<Item = InstrumentIdx> + '_ {
        self.insts.iter().map(|i| i.idx)
    }

    fn is_synced(&self, inst: InstrumentIdx) -> bool {
        self.md.sync(inst).is_some_and(M::is_synced)
    }

    /// A snapshot held for this instrument's next frame is applied now (see the module doc).
    fn decode<S: MdSink>(&mut self, core: &mut Core<S>, recv: u64, frame: &[u8]) -> Decoded {
        let md = &mut self.md;
        let decoded = core.emit(|resolve, sink| md.decode(recv, frame, resolve, sink));
        let inst = match decoded {
            Decoded::Depth(inst) | Decoded::Other(inst) => inst,
            Decoded::Malformed(None) => {
                self.last_inst = None;
                return decoded;
            }
            Decoded::Nothing | Decoded::Malformed(Some(_)) => return decoded,
        };
        self.last_inst = Some(inst);
        if let Some(k) = self
            .insts
            .iter()
            .position(|i| i.idx == inst && i.pending.is_some())
        {
            self.apply_snapshot(core, k);
        }
        decoded
    }

    fn invalidate<K: MdSink>(
        &mut self,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
        recv: u64,
        sink: &mut K,
    ) {
        self.md.invalidate(inst, reason, recv, sink);
    }

    /// Snapshots in flight belong to the old stream: they are dropped when they arrive.
    fn on_break(&mut self) {
        self.last_inst = None;
        for i in &mut self.insts {
            i.in_flight = None;
            i.pending = None;
        }
    }

    fn on_resync(&mut self, inst: InstrumentIdx) {
        if let Some(i) = self.insts.iter_mut().find(|i| i.idx == inst) {
            i.in_flight = None;
            i.pending = None;
        }
    }

    /// Takes finished snapshots, then requests those due.
    fn service<S: MdSink>(&mut self, _client: &mut WsClient<P>, core: &mut Core<S>, now_ns: Nanos) {
        while let Some(resp) = self.rest.try_recv() {
            self.on_rest(core, resp);
        }
        if !core.subscribed {
            return;
        }
        for i in &mut self.insts {
            let Some(sync) = self.md.sync(i.idx) else {
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
            let id = self.next_req;
            self.next_req += 1;
            match self.rest.submit(id, i.url.as_str()) {
                Ok(()) => {
                    i.in_flight = Some(id);
                    core.stats.snapshots_requested += 1;
                }
                Err(e) => {
                    tracing::warn!(venue = M::VENUE, error = %e, "snapshot request not queued");
                    core.stats.snapshot_errors += 1;
                    i.retry_at_ns = now_ns.saturating_add(self.retry_ns);
                }
            }
        }
    }

    /// REST answers arrive on a channel, not on the `mio::Poll`: while one is awaited (or due),
    /// the wait is capped to notice it promptly.
    fn wait_cap(&self, subscribed: bool, _now_ns: Nanos) -> Option<Duration> {
        let awaited = |i: &Inst| {
            i.in_flight.is_some()
                || (subscribed
                    && i.pending.is_none()
                    && self.md.sync(i.idx).is_some_and(M::needs_snapshot))
        };
        self.insts.iter().any(awaited).then_some(REST_WAIT_CAP)
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
pub type BridgedFeed<M, P, S> = LiveFeed<Bridged<M, P>, S>;

impl<M: BridgedMd, P: WsProtocol, S: MdSink> BridgedFeed<M, P, S> {
    /// Builds the connection (not yet started) from a venue's parts: symbols the table lacks are
    /// added at `setup.scale`, each gets its sync prepared.
    pub(crate) fn build(
        setup: Setup<'_>,
        mut md: M,
        protocol: P,
        table: InstrumentTable,
        sink: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LiveError> {
        let venue = M::VENUE;
        let transport = Transport {
            roots: setup.roots,
            ws: setup.ws,
            protocol,
        };
        Self::assemble(transport, setup.venue, table, sink, clock, |table| {
            let mut rest_cfg = RestConfig::new(venue, setup.roots.clone());
            rest_cfg.timeout_ms = setup.rest_timeout_ms;
            let rest = RestFetcher::spawn(&rest_cfg)
                .map_err(|source| LiveError::Rest { venue, source })?;
            let mut insts = Vec::with_capacity(setup.symbols.len());
            for (sym, url) in setup.symbols {
                let idx = register(table, setup.venue, venue, &sym, setup.scale)?;
                let resolved = table.resolved(idx).ok_or_else(|| LiveError::Symbol {
                    venue,
                    symbol: sym.clone(),
                    reason: "not resolvable".into(),
                })?;
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
            Ok(Bridged {
                md,
                insts,
                rest,
                next_req: 1,
                last_inst: None,
                retry_ns: setup.snapshot_retry_ms.saturating_mul(1_000_000),
                proto: PhantomData,
            })
        })
    }

    /// The REST snapshot URL of `inst`, if this connection serves it.
    pub fn snapshot_url(&self, inst: InstrumentIdx) -> Option<&str> {
        self.flavor()
            .insts
            .iter()
            .find(|i| i.idx == inst)
            .map(|i| i.url.as_str())
    }

    /// The depth sync of `inst` (state, book id, counters).
    pub fn sync(&self, inst: InstrumentIdx) -> Option<&M::Sync> {
        self.flavor().md.sync(inst)
    }
}
