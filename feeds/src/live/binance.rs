//! The live Binance Spot feed: combined streams over a `WsClient` ([`BinanceWs`]), [`BinanceMd`]
//! (parser + one diff-depth sync per instrument), REST `/api/v3/depth` snapshots fetched off the
//! hot thread — a [`BridgedFeed`] (which holds the snapshot procedure, PROTOCOLS §a.1, Binance
//! "How to manage a local order book correctly") with Binance's decoder and dialect.

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
    binance::{BinanceMd, DepthSync, FrameInfo, ParseError, SnapshotOutcome, SyncConfig},
    instrument::{InstrumentTable, Resolved},
    sink::MdSink,
    ws::{venues::BinanceWs, TlsRoots, WsConfig},
};

/// Venue name in errors and logs.
const VENUE: &str = "binance";

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

impl BridgedMd for BinanceMd {
    const VENUE: &'static str = VENUE;
    type Sync = DepthSync;

    fn prepare(&mut self, inst: InstrumentIdx) {
        BinanceMd::prepare(self, inst);
    }

    fn sync(&self, inst: InstrumentIdx) -> Option<&DepthSync> {
        BinanceMd::sync(self, inst)
    }

    fn needs_snapshot(sync: &DepthSync) -> bool {
        sync.needs_snapshot()
    }

    fn is_synced(sync: &DepthSync) -> bool {
        sync.is_synced()
    }

    fn buffered(sync: &DepthSync) -> usize {
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
            Ok(FrameInfo::Depth { inst, .. }) => Decoded::Depth(inst),
            Ok(FrameInfo::BookTicker { inst } | FrameInfo::Trade { inst }) => Decoded::Other(inst),
            Ok(FrameInfo::Snapshot { .. } | FrameInfo::Other) => Decoded::Nothing,
            Err(e) => {
                // A frame we cannot read may have been a depth update: the book it names breaks,
                // or every book when the name is unreadable.
                let inst = match &e {
                    ParseError::Field { symbol, .. } | ParseError::Decimal { symbol, .. }
                        if !symbol.is_empty() =>
                    {
                        resolve(symbol.as_bytes()).map(|r| r.idx)
                    }
                    _ => None,
                };
                tracing::warn!(venue = VENUE, error = %e, "undecodable frame; book(s) invalid");
                self.on_malformed(inst, recv, sink);
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
            Ok(FrameInfo::Snapshot {
                outcome: SnapshotOutcome::Applied { .. } | SnapshotOutcome::Ignored,
                ..
            }) => SnapshotDecoded::Applied,
            Ok(_) => SnapshotDecoded::Rejected,
            Err(e) => {
                tracing::warn!(venue = VENUE, error = %e, "undecodable snapshot");
                self.on_malformed(Some(inst.idx), recv, sink);
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
        BinanceMd::invalidate(self, inst, reason, recv, sink);
    }
}

/// One live Binance Spot market-data connection emitting `MdEvent`s into `S`.
pub type BinanceFeed<S> = BridgedFeed<BinanceMd, BinanceWs, S>;

impl<S: MdSink> BridgedFeed<BinanceMd, BinanceWs, S> {
    /// Builds the connection (not yet started): `table` maps the venue's symbols to instruments
    /// (symbols it lacks are added at `cfg.scale`), `sink` receives every event.
    ///
    /// # Errors
    /// [`LiveError`] for bad TLS roots, URLs, symbols, or when the REST thread or poll cannot
    /// start.
    pub fn new(
        cfg: &BinanceFeedConfig,
        table: InstrumentTable,
        sink: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LiveError> {
        let symbols = cfg
            .symbols
            .iter()
            .map(|sym| {
                let url = format!(
                    "{}/api/v3/depth?symbol={sym}&limit={}",
                    cfg.rest_base, cfg.snapshot_limit
                );
                (sym.clone(), url)
            })
            .collect();
        let setup = Setup {
            venue: cfg.venue,
            roots: &cfg.roots,
            ws: cfg.ws.clone(),
            rest_timeout_ms: cfg.rest_timeout_ms,
            symbols,
            scale: cfg.scale,
            snapshot_retry_ms: cfg.snapshot_retry_ms,
        };
        Self::build(
            setup,
            BinanceMd::new(cfg.venue, cfg.sync),
            BinanceWs::new(&cfg.ws_base, cfg.streams()),
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
        let btc = feed.instrument("btcusdt").expect("instrument");
        assert_eq!(
            feed.snapshot_url(btc),
            Some("https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000")
        );
        assert!(!feed.is_synced(btc), "no book before a snapshot bridges");
        assert_eq!(feed.conn_state(), ConnState::Idle);
    }
}
