//! `book` peer baseline: barter-data's `OrderBook` (crate `barter-data` 0.13), fed the same Binance
//! capture as `lyra`, `serde-decimal-btreemap` and the hftbacktest rows.
//!
//! What exactly runs, per frame (all synchronous: barter-data's tokio/reqwest/WebSocket half is
//! compiled in, as the crate has no feature to leave it out, but none of it runs here):
//! - Front end: barter-data's own Binance Spot serde types, decoded with `serde_json` as its
//!   WebSocket stream does (the combined-stream envelope's `data` taken by a one-field wrapper,
//!   as Lyra's capture records the combined stream): `BinanceSpotOrderBookL2Update` for depth
//!   diffs (its `SubscriptionId` built from `s`, `E` to a chrono time, levels as
//!   `rust_decimal::Decimal` through its `BinanceLevel`), `BinanceOrderBookL2Snapshot` for the REST
//!   snapshot, and `BinanceOrderBookL1` / `BinanceTrade` for bookTickers and trades, decoded and
//!   dropped (keeping a live feed's cache traffic on every row, as the other rows do).
//! - Conversion: barter-data's own `From` impls, as its transformer and snapshot fetcher call
//!   them: an update becomes a `MarketIter<_, OrderBookEvent>` (a one-event `Vec`, an
//!   `OrderBookEvent::Update` holding an `OrderBook` built and sorted from the diff's levels, a
//!   `Utc::now()` receive time), the snapshot a `MarketEvent<_, OrderBookEvent::Snapshot>`.
//! - Bridge: [`crate::book::Bridge`], the snapshot bridge and gap rules of the other rows (buffer
//!   diffs until the snapshot, drop diffs with `u <= lastUpdateId`, a `U` past `last + 1`
//!   unsyncs). barter-data's
//!   own `BinanceSpotOrderBookL2Sequencer` is not on the timed path: its transformer only comes
//!   from an `async fn init`, and its rule after the first diff is stricter (`U == last + 1`). The
//!   test shows it accepts every diff the bridge applies on this capture.
//! - Book: `OrderBook::update(&event.kind)` (a snapshot replaces the book; an update upserts
//!   each level into its sorted `Vec<Level>` by binary search), then the best bid/ask read
//!   (`bids().best()`, `asks().best()`) per depth message.
//! - Left out, so this row is a lower bound of barter-data's own pipeline: the transformer's
//!   `SubscriptionId` map lookup, the `parking_lot::RwLock` its `OrderBookL2Manager` wraps each
//!   book in, and the channels between its tasks.
//!
//! Check at the end of every pass: best bid and ask (price and quantity, as `Decimal`s equal to
//! Lyra's mantissas at the instrument's 8 decimals) and the level count per side (barter-data
//! keeps every level, as Lyra does), so this row did the same work.

use std::hint::black_box;

use anyhow::{ensure, Context, Result};
use barter_data::{
    books::{Level, OrderBook},
    event::{MarketEvent, MarketIter},
    exchange::binance::{
        book::{l1::BinanceOrderBookL1, l2::BinanceOrderBookL2Snapshot},
        spot::l2::BinanceSpotOrderBookL2Update,
        trade::BinanceTrade,
    },
    subscription::book::OrderBookEvent,
};
use barter_instrument::exchange::ExchangeId;
use lyra_engine::book::L2Book;
use rust_decimal::Decimal;

use crate::{
    book::{BookMsg, Bridge, BridgeBook, PeerBook, PeerRow},
    parse::{frame_kind, Env, FrameKind},
};

/// The row name.
pub const NAME: &str = "barter-data-orderbook";
/// The instrument key barter-data's events carry (one instrument in the capture).
const KEY: u16 = 0;
/// Lyra's price and quantity scale (8 decimals).
const SCALE: u32 = 8;

/// One decoded frame, in barter-data's types.
pub type BarterMsg = BookMsg<BinanceSpotOrderBookL2Update, BinanceOrderBookL2Snapshot>;

/// Decodes one frame into barter-data's types, dispatching on the stream name ([`frame_kind`])
/// as the other rows do. barter-data subscribes on a raw stream, whose frames are the combined
/// stream's `data`: [`Env`] takes it.
///
/// # Errors
/// serde_json's error (a malformed frame or number).
pub fn barter_parse(frame: &str) -> Result<BarterMsg, serde_json::Error> {
    Ok(match frame_kind(frame) {
        FrameKind::Snapshot => BarterMsg::Snapshot(serde_json::from_str(frame)?),
        FrameKind::Depth => {
            BarterMsg::Depth(serde_json::from_str::<Env<BinanceSpotOrderBookL2Update>>(frame)?.data)
        }
        FrameKind::BookTicker => {
            black_box(serde_json::from_str::<Env<BinanceOrderBookL1>>(frame)?.data);
            BarterMsg::Other
        }
        FrameKind::Trade => {
            black_box(serde_json::from_str::<Env<BinanceTrade>>(frame)?.data);
            BarterMsg::Other
        }
        FrameKind::Other => BarterMsg::Other,
    })
}

impl BridgeBook for OrderBook {
    type Diff = BinanceSpotOrderBookL2Update;
    type Snapshot = BinanceOrderBookL2Snapshot;
    type Top<'t>
        = (Option<&'t Level>, Option<&'t Level>)
    where
        Self: 't;

    fn diff_ids(d: &BinanceSpotOrderBookL2Update) -> (u64, u64) {
        (d.first_update_id, d.last_update_id)
    }

    fn snapshot_id(s: &BinanceOrderBookL2Snapshot) -> u64 {
        s.last_update_id
    }

    fn apply_diff(&mut self, d: BinanceSpotOrderBookL2Update) {
        // barter-data's conversion yields one `Ok` event per update (its `Err`s come from the
        // sequencer, which the bridge replaces).
        let events = MarketIter::<u16, OrderBookEvent>::from((ExchangeId::BinanceSpot, KEY, d));
        for ev in events.0.into_iter().flatten() {
            self.update(&ev.kind);
        }
    }

    fn load_snapshot(&mut self, s: BinanceOrderBookL2Snapshot) {
        // barter-data's snapshot event replaces the whole book: that is its clear.
        let ev = MarketEvent::<u16, OrderBookEvent>::from((ExchangeId::BinanceSpot, KEY, s));
        self.update(&ev.kind);
    }

    fn top(&self) -> Self::Top<'_> {
        (self.bids().best(), self.asks().best())
    }
}

/// The [`Bridge`] over barter-data's `OrderBook`.
pub type BarterBook = Bridge<OrderBook>;

impl PeerBook for Bridge<OrderBook> {
    const NAME: &'static str = NAME;

    fn fresh() -> Self {
        Self::default()
    }

    #[inline]
    fn frame(&mut self, f: &str) -> Result<bool> {
        let m = barter_parse(f).with_context(|| format!("{NAME}: {f:.80}"))?;
        Ok(self.step(m))
    }

    fn check(&self, lyra: &L2Book) -> Result<()> {
        same_book(lyra, self)
    }
}

/// Checks barter-data's book against Lyra's: same top and the same level counts.
///
/// # Errors
/// When they differ (the comparison would not be of equal work).
pub fn same_book(l: &L2Book, b: &BarterBook) -> Result<()> {
    let level = |(p, q): (i64, i64)| Level::new(Decimal::new(p, SCALE), Decimal::new(q, SCALE));
    let (bb, ba) = b.top();
    let lb = l.best_bid().map(|(p, q)| level((p.0, q.0)));
    let la = l.best_ask().map(|(p, q)| level((p.0, q.0)));
    ensure!(
        lb.as_ref() == bb,
        "{NAME}: best bids differ: {lb:?} vs {bb:?}"
    );
    ensure!(
        la.as_ref() == ba,
        "{NAME}: best asks differ: {la:?} vs {ba:?}"
    );
    let lyra = (l.bid_levels(), l.ask_levels());
    let peer = (b.book.bids().levels().len(), b.book.asks().levels().len());
    ensure!(
        lyra == peer,
        "{NAME}: level counts differ (bids, asks): lyra {lyra:?} vs {peer:?}"
    );
    Ok(())
}

/// The barter-data row of the `book` suite, run after the other rows in every pass.
pub type BarterPeer = PeerRow<BarterBook>;

#[cfg(test)]
mod tests {
    use barter_data::exchange::binance::spot::l2::BinanceSpotOrderBookL2Sequencer;

    use super::*;
    use crate::{book::beside_lyra, parse::load_capture};

    #[test]
    fn decodes_depth_levels_to_decimals_and_refuses_bad_numbers() {
        let f = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161253000,"s":"BTCUSDT","U":10,"u":12,"b":[["61800.01","0.50000000"]],"a":[["61800.02","0.00000000"]]}}"#;
        let BarterMsg::Depth(d) = barter_parse(f).expect("valid frame") else {
            panic!("not a depth message")
        };
        assert_eq!((d.first_update_id, d.last_update_id), (10, 12));
        assert_eq!(d.time_exchange.timestamp_millis(), 1_723_161_253_000);
        assert_eq!(d.bids[0].price, Decimal::new(6_180_001, 2));
        assert_eq!(d.bids[0].amount, Decimal::new(5, 1));
        assert!(d.asks[0].amount.is_zero());
        let bad = f.replace("61800.01", "61800.0x");
        assert!(barter_parse(&bad).is_err());
    }

    /// barter-data's book, behind the bridge, ends one pass over the capture equal to Lyra's;
    /// the check notices one level more; and barter-data's own sequencer accepts every diff
    /// the bridge applied (its rules and the bridge's agree on this capture).
    #[test]
    fn peer_matches_lyra_over_the_capture() {
        let frames = match load_capture() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipped: {e:#}");
                return;
            }
        };
        let (pipe, mut barter) = beside_lyra::<BarterBook>(&frames);
        same_book(&pipe.book, &barter).expect("barter-data's book equals lyra's");
        let bids = barter.book.bids().levels().len();
        assert!(bids > 100, "a real book: {bids} bid levels");

        // A bid at a price no level holds, far below the touch: same top, one level more.
        let far = Level::new(Decimal::new(5_812_345, 2), Decimal::ONE);
        assert!(barter
            .book
            .bids()
            .levels()
            .iter()
            .all(|l| l.price != far.price));
        let seq = barter.book.sequence();
        let no_asks: [Level; 0] = [];
        barter.book.update(&OrderBookEvent::Update(OrderBook::new(
            seq,
            None,
            [far],
            no_asks,
        )));
        assert!(same_book(&pipe.book, &barter).is_err());

        // barter-data's sequencer from the snapshot on, over the diffs in order.
        let mut snapshot_id = None;
        let mut diffs = Vec::new();
        for (_, f) in &frames {
            match barter_parse(f).expect("decodes") {
                BarterMsg::Snapshot(s) => snapshot_id = Some(s.last_update_id),
                BarterMsg::Depth(d) => diffs.push(d),
                BarterMsg::Other => {}
            }
        }
        let last = snapshot_id.expect("the capture holds the REST snapshot");
        let bridged = diffs.iter().filter(|d| d.last_update_id > last).count();
        let mut seq = BinanceSpotOrderBookL2Sequencer::new(last);
        let mut accepted = 0;
        for d in diffs {
            let ok = seq
                .validate_sequence(d)
                .expect("barter-data's sequencer accepts it");
            accepted += usize::from(ok.is_some());
        }
        assert_eq!(accepted, bridged);
        assert!(accepted > 3000, "{accepted} diffs after the snapshot");
    }
}
