//! The feed stage: every venue's market-data source polled without blocking, `MdEvent`s into
//! one ring per venue, and resync requests from the book stage handed back to the right source.

use std::sync::{atomic::Ordering::Relaxed, Arc};

use lyra_feeds::live::{Flavor, LiveFeed};
use lyra_shm::{
    clock::Nanos,
    msg::{InstrumentIdx, InvalidReason, MdEvent, VenueId},
    ring::{Consumer, Producer},
};

use crate::{runtime::stage::Stage, stats::EngineStats};

/// A market-data source of one venue the feed stage can drive.
pub trait MdSource: Send {
    /// The venue it serves.
    fn venue(&self) -> VenueId;
    /// One non-blocking turn; returns the events emitted.
    fn poll(&mut self, now_ns: Nanos) -> usize;
    /// The book stage found `inst`'s book broken: invalidate it and resync from a snapshot.
    fn resync(&mut self, inst: InstrumentIdx, reason: InvalidReason);
    /// Closes the connection.
    fn stop(&mut self) {}
}

/// A live connection of any venue (Binance, Gate.io, OKX, Kraken: `BinanceFeed`, `GateioFeed`
/// and `SocketFeed` are all `LiveFeed`s) writing into its venue's ring.
pub struct LiveSource<F: Flavor>(pub LiveFeed<F, Producer<MdEvent>>, pub VenueId);

impl<F: Flavor> MdSource for LiveSource<F>
where
    LiveFeed<F, Producer<MdEvent>>: Send,
{
    fn venue(&self) -> VenueId {
        self.1
    }
    fn poll(&mut self, now_ns: Nanos) -> usize {
        self.0.poll(now_ns)
    }
    fn resync(&mut self, inst: InstrumentIdx, reason: InvalidReason) {
        self.0.resync(inst, reason);
    }
    fn stop(&mut self) {
        self.0.stop();
    }
}

/// Polls the sources and serves the book stage's resync requests.
pub struct FeedStage {
    sources: Vec<Box<dyn MdSource>>,
    resync: Consumer<MdEvent>,
    stats: Arc<EngineStats>,
}

impl FeedStage {
    /// A stage over `sources`; `resync` carries `BookInvalid` requests from the book stage.
    pub fn new(
        sources: Vec<Box<dyn MdSource>>,
        resync: Consumer<MdEvent>,
        stats: Arc<EngineStats>,
    ) -> Self {
        Self {
            sources,
            resync,
            stats,
        }
    }
}

impl Stage for FeedStage {
    fn name(&self) -> &'static str {
        "feed"
    }

    fn poll(&mut self, now_ns: Nanos) -> usize {
        let mut n = 0;
        while let Some(req) = self.resync.pop() {
            if let Some(s) = self.sources.iter_mut().find(|s| s.venue() == req.venue) {
                s.resync(req.instrument, req.reason);
            }
            n += 1;
        }
        for s in &mut self.sources {
            n += s.poll(now_ns);
        }
        self.stats.md_events.fetch_add(n as u64, Relaxed);
        n
    }

    fn stop(&mut self, _now_ns: Nanos) {
        for s in &mut self.sources {
            s.stop();
        }
    }
}
