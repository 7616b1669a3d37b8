//! The live Gate.io v4 spot feed: `spot.order_book_update` over a `WsClient` ([`GateWs`]: one
//! subscribe request per pair, each acknowledged with `"result":{"status":"success"}`, app-level
//! `spot.ping`/`spot.pong` keep-alive), [`GateMd`] (parser + one `U`/`u` bridge per pair, PROTOCOLS
//! §e), and REST `GET /api/v4/spot/order_book?currency_pair=..&limit=..&with_id=true` snapshots
//! fetched off the hot thread — a [`BridgedFeed`] with Gate.io's decoder and dialect, so the
//! snapshot procedure, resync and recording order are the same as Binance's.

use std::sync::Arc;

use lyra_shm::{
    clock::Clock,
    msg::{InstrumentIdx, InvalidReason, VenueId},
};

use super::{
    bridged::{BridgedFeed, BridgedMd, Decoded, Setup, SnapshotDecoded},
    LiveError,
};
use crate::{
    gateio::{GateBookSync, GateFrameInfo, GateMd, GateOutcome, GateParseError, GateSyncConfig},
    instrument::{InstrumentTable, Resolved},
    sink::MdSink,
    ws::{venues::GateWs, TlsRoots, WsConfig},
};

/// Venue name in errors and logs.
const VENUE: &str = "gateio";

/// Settings of one Gate.io spot market-data connection.
#[derive(Debug, Clone)]
pub struct GateioFeedConfig {
    /// The venue id stamped on every event.
    pub venue: VenueId,
    /// WebSocket URL, path included (`wss://api.gateio.ws/ws/v4/`, or the simulator's).
    pub ws_url: String,
    /// REST base URL (`https://api.gateio.ws`, or the simulator's).
    pub rest_base: String,
    /// Trusted CAs for both.
    pub roots: TlsRoots,
    /// Currency pairs in venue spelling (`BTC_USDT`).
    pub pairs: Vec<String>,
    /// Update interval of `spot.order_book_update` (`100ms` or `20ms`).
    pub interval: String,
    /// `limit` of the REST snapshot (levels per side).
    pub snapshot_limit: u32,
    /// Wait before refetching after a failed request or a snapshot that did not bridge, ms.
    pub snapshot_retry_ms: u64,
    /// Price and quantity scales of pairs the instrument table does not know yet.
    pub scale: u8,
    /// Transport settings (limits, watchdog, keep-alive, reconnect).
    pub ws: WsConfig,
    /// Bridge buffer bounds.
    pub sync: GateSyncConfig,
    /// REST request timeout, ms.
    pub rest_timeout_ms: u64,
}

impl GateioFeedConfig {
    /// 100 ms order-book updates of `pairs` on the given endpoints, Gate.io's transport settings,
    /// 100-level snapshots.
    pub fn new(
        venue: VenueId,
        ws_url: &str,
        rest_base: &str,
        roots: TlsRoots,
        pairs: Vec<String>,
    ) -> Self {
        Self {
            venue,
            ws_url: ws_url.to_owned(),
            rest_base: rest_base.trim_end_matches('/').to_owned(),
            roots,
            pairs: pairs.iter().map(|s| s.to_ascii_uppercase()).collect(),
            interval: "100ms".into(),
            snapshot_limit: 100,
            snapshot_retry_ms: 250,
            // Gate prints up to 10 decimals (amounts such as "0.0012345678"); 10 still leaves
            // room for 9e8 units in an i64 (the scale `lyra replay --venue gateio` uses).
            scale: 10,
            ws: GateWs::transport_config(),
            sync: GateSyncConfig::default(),
            rest_timeout_ms: 10_000,
        }
    }

    /// The REST snapshot URL of `pair`.
    pub fn snapshot_url(&self, pair: &str) -> String {
        format!(
            "{}/api/v4/spot/order_book?currency_pair={pair}&limit={}&with_id=true",
            self.rest_base, self.snapshot_limit
        )
    }
}

impl BridgedMd for GateMd {
    const VENUE: &'static str = VENUE;
    type Sync = GateBookSync;

    fn prepare(&mut self, inst: InstrumentIdx) {
        GateMd::prepare(self, inst);
    }

    fn sync(&self, inst: InstrumentIdx) -> Option<&GateBookSync> {
        self.book(inst)
    }

    fn needs_snapshot(sync: &GateBookSync) -> bool {
        sync.needs_snapshot()
    }

    fn is_synced(sync: &GateBookSync) -> bool {
        sync.is_synced()
    }

    fn buffered(sync: &GateBookSync) -> usize {
        sync.buffered()
    }

    fn decode<K: MdSink>(
        &mut self,
        recv: u64,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        sink: &mut K,
    ) -> Decoded {
        match self.on_frame(recv, frame, resolve, None, sink) {
            Ok(GateFrameInfo::Book { inst, .. }) => Decoded::Depth(inst),
            Ok(GateFrameInfo::Other) => Decoded::Nothing,
            Err(GateParseError::UnknownSymbol(pair)) => {
                // A pair this connection did not subscribe: no book of ours is touched.
                tracing::warn!(venue = VENUE, pair = %pair, "update for an unknown pair ignored");
                Decoded::Nothing
            }
            Err(e) => {
                // `on_frame` has already broken the pair's book (every book if unnamed).
                let inst = e.pair().and_then(|p| resolve(p.as_bytes())).map(|r| r.idx);
                tracing::warn!(venue = VENUE, error = %e, "undecodable frame; book(s) invalid");
                Decoded::Malformed(inst)
            }
        }
    }

    fn decode_snapshot<K: MdSink>(
        &mut self,
        recv: u64,
        body: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        inst: Resolved,
        sink: &mut K,
    ) -> SnapshotDecoded {
        match self.on_frame(recv, body, resolve, Some(inst), sink) {
            Ok(GateFrameInfo::Book {
                outcome: GateOutcome::Installed { .. } | GateOutcome::Ignored,
                ..
            }) => SnapshotDecoded::Applied,
            Ok(_) => SnapshotDecoded::Rejected,
            Err(e) => {
                // The sync keeps buffering: a bad body breaks nothing live.
                tracing::warn!(venue = VENUE, error = %e, "undecodable snapshot");
                SnapshotDecoded::Malformed
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
        GateMd::invalidate(self, inst, reason, recv, sink);
    }
}

/// One live Gate.io spot market-data connection emitting `MdEvent`s into `S`.
pub type GateioFeed<S> = BridgedFeed<GateMd, GateWs, S>;

impl<S: MdSink> BridgedFeed<GateMd, GateWs, S> {
    /// Builds the connection (not yet started): `table` maps the venue's pairs to instruments
    /// (pairs it lacks are added at `cfg.scale`), `sink` receives every event.
    ///
    /// # Errors
    /// [`LiveError`] for bad TLS roots, URLs, pairs, or when the REST thread or poll cannot
    /// start.
    pub fn new(
        cfg: &GateioFeedConfig,
        table: InstrumentTable,
        sink: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LiveError> {
        let setup = Setup {
            venue: cfg.venue,
            roots: &cfg.roots,
            ws: cfg.ws.clone(),
            rest_timeout_ms: cfg.rest_timeout_ms,
            symbols: cfg
                .pairs
                .iter()
                .map(|p| (p.clone(), cfg.snapshot_url(p)))
                .collect(),
            scale: cfg.scale,
            snapshot_retry_ms: cfg.snapshot_retry_ms,
        };
        Self::build(
            setup,
            GateMd::new(cfg.venue, cfg.sync),
            GateWs::new(&cfg.ws_url, cfg.pairs.clone(), &cfg.interval),
            table,
            sink,
            clock,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::ConnState;

    #[test]
    fn pairs_and_snapshot_url_follow_the_config() {
        let cfg = GateioFeedConfig::new(
            VenueId(4),
            "wss://api.gateio.ws/ws/v4/",
            "https://api.gateio.ws/",
            TlsRoots::WebPki,
            vec!["btc_usdt".into(), "ETH_USDT".into()],
        );
        assert_eq!(cfg.pairs, ["BTC_USDT", "ETH_USDT"]);
        let feed = GateioFeed::new(
            &cfg,
            InstrumentTable::new(),
            Vec::new(),
            Arc::new(lyra_shm::clock::LiveClock),
        )
        .expect("feed");
        let btc = feed.instrument("btc_usdt").expect("instrument");
        assert_eq!(
            feed.snapshot_url(btc),
            Some("https://api.gateio.ws/api/v4/spot/order_book?currency_pair=BTC_USDT&limit=100&with_id=true")
        );
        assert!(!feed.is_synced(btc), "no book before a snapshot bridges");
        assert_eq!(feed.conn_state(), ConnState::Idle);
        assert_eq!(feed.instruments().count(), 2);
    }
}
