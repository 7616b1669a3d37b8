//! Live feeds whose snapshot comes on the socket (OKX `books`, Kraken v2 `book`): a break is
//! repaired by resubscribing the instrument (unsubscribe + subscribe), after which the venue
//! pushes a fresh snapshot that restarts the sequence. A connection break is repaired by the
//! reconnect itself (every subscription, hence every snapshot, is sent again).
//!
//! [`SocketFeed`] is the shared connection driver ([`LiveFeed`]) with the [`Socket`] flavor;
//! [`SocketVenue`] is what a venue contributes: its transport dialect, its decoder, and its
//! resubscribe requests ([`super::okx`], [`super::kraken`]).

use std::{sync::Arc, time::Duration};

use lyra_shm::{
    clock::{Clock, Nanos},
    msg::{InstrumentIdx, InvalidReason, VenueId},
};

use super::{
    driver::{register, Core, Decoded, Flavor, LiveFeed, Transport},
    LiveError,
};
use crate::{
    instrument::{InstrumentTable, Resolved},
    sink::MdSink,
    ws::{TlsRoots, WsClient, WsConfig, WsProtocol},
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
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
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

/// The socket-snapshot flavor of a live feed: venue `V` and the resubscription timer of every
/// instrument.
pub struct Socket<V> {
    venue: V,
    insts: Vec<Inst>,
    wait_ns: Nanos,
    /// Resubscribe requests being sent (reused).
    frames: Vec<String>,
}

impl<V: SocketVenue> Flavor for Socket<V> {
    type Proto = V::Proto;
    const NAME: &'static str = V::NAME;
    const UPPERCASE_SYMBOLS: bool = false;

    fn instruments(&self) -> impl Iterator<Item = InstrumentIdx> + '_ {
        self.insts.iter().map(|i| i.idx)
    }

    fn is_synced(&self, inst: InstrumentIdx) -> bool {
        self.venue.is_synced(inst)
    }

    fn decode<S: MdSink>(&mut self, core: &mut Core<S>, recv: u64, frame: &[u8]) -> Decoded {
        let venue = &mut self.venue;
        match core.emit(|resolve, sink| venue.decode(recv, frame, resolve, sink)) {
            Ok(Some(inst)) => Decoded::Depth(inst),
            Ok(None) => Decoded::Nothing,
            Err(why) => {
                tracing::warn!(venue = V::NAME, error = %why, "undecodable frame; book(s) invalid");
                Decoded::Malformed(None)
            }
        }
    }

    fn invalidate<K: MdSink>(
        &mut self,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
        recv: u64,
        sink: &mut K,
    ) {
        self.venue.invalidate(inst, reason, recv, sink);
    }

    /// The subscription itself brings every snapshot: give it time before asking again.
    fn on_subscribed(&mut self, clock: &dyn Clock) {
        let until = clock.mono_ns().saturating_add(self.wait_ns);
        for i in &mut self.insts {
            i.wait_until_ns = until;
        }
    }

    fn on_resync(&mut self, inst: InstrumentIdx) {
        if let Some(i) = self.insts.iter_mut().find(|i| i.idx == inst) {
            i.wait_until_ns = 0;
        }
    }

    /// Resubscribes every book that still waits for its snapshot once its wait is over.
    fn service<S: MdSink>(
        &mut self,
        client: &mut WsClient<V::Proto>,
        core: &mut Core<S>,
        now_ns: Nanos,
    ) {
        if !core.subscribed {
            return;
        }
        for i in &mut self.insts {
            if now_ns < i.wait_until_ns || !self.venue.needs_snapshot(i.idx) {
                continue;
            }
            self.frames.clear();
            self.venue.resubscribe(&i.symbol, &mut self.frames);
            for f in &self.frames {
                if let Err(e) = client.send_text(f) {
                    tracing::warn!(venue = V::NAME, error = %e, "resubscribe not sent");
                }
            }
            core.stats.snapshots_requested += 1;
            i.wait_until_ns = now_ns.saturating_add(self.wait_ns);
        }
    }

    /// Wakes up when the first awaited snapshot is overdue.
    fn wait_cap(&self, subscribed: bool, now_ns: Nanos) -> Option<Duration> {
        if !subscribed {
            return None;
        }
        self.insts
            .iter()
            .filter(|i| self.venue.needs_snapshot(i.idx))
            .map(|i| i.wait_until_ns)
            .min()
            .map(|d| Duration::from_nanos(d.saturating_sub(now_ns)))
    }
}

/// One live connection of a socket-snapshot venue, emitting `MdEvent`s into `S`.
pub type SocketFeed<V, S> = LiveFeed<Socket<V>, S>;

impl<V: SocketVenue, S: MdSink> SocketFeed<V, S> {
    /// Builds the connection (not yet started) for `venue`'s decoder.
    ///
    /// # Errors
    /// [`LiveError`] for bad TLS roots, URL or symbols, or when the poll cannot be created.
    pub fn new(
        cfg: &SocketFeedConfig,
        mut venue: V,
        table: InstrumentTable,
        sink: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LiveError> {
        let transport = Transport {
            roots: &cfg.roots,
            ws: cfg.ws.clone(),
            protocol: venue.protocol(&cfg.url, &cfg.symbols),
        };
        Self::assemble(transport, cfg.venue, table, sink, clock, |table| {
            let mut insts = Vec::with_capacity(cfg.symbols.len());
            for sym in &cfg.symbols {
                let idx = register(table, cfg.venue, V::NAME, sym, cfg.scale)?;
                venue.prepare(idx);
                insts.push(Inst {
                    idx,
                    symbol: sym.clone(),
                    wait_until_ns: 0,
                });
            }
            Ok(Socket {
                venue,
                insts,
                wait_ns: cfg.snapshot_wait_ms.saturating_mul(1_000_000),
                frames: Vec::with_capacity(4),
            })
        })
    }

    /// The decoder (sync states and counters).
    pub fn venue(&self) -> &V {
        &self.flavor().venue
    }
}
