//! `lyra-bench` suites: each measures Lyra and its baselines side by side in one run (DESIGN §10).
#![forbid(unsafe_code)]

pub mod book;
pub mod book_barter;
pub mod book_hftbacktest;
pub mod halt;
pub mod oms;
pub mod oms_venues;
pub mod parse;
pub mod pin;
pub mod replay;
pub mod report;
pub mod ring;
pub mod sim;
pub mod strategy;
pub mod tick;
pub mod tick_to_order;
pub mod venue_books;

use report::Report;

/// Options every suite receives.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// Fewer iterations, for CI.
    pub quick: bool,
}

impl Opts {
    /// `full` normally, `quick` under `--quick`.
    pub fn pick(&self, full: u64, quick: u64) -> u64 {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// A suite: a name and a function producing one report per implementation measured.
pub struct Suite {
    /// The name given on the command line.
    pub name: &'static str,
    /// What it measures, for `--help`.
    pub about: &'static str,
    /// Runs the suite.
    pub run: fn(&Opts) -> anyhow::Result<Vec<Report>>,
}

/// Every suite, in the order `all` runs them.
pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "ring",
        about: "SPSC ring one-way latency and throughput vs rtrb, ArrayQueue, atomic floor",
        run: ring::run,
    },
    Suite {
        name: "halt",
        about: "trip -> observed in another process: shm poll, shm futex park, pipe baseline, lyra CLI",
        run: halt::run,
    },
    Suite {
        name: "parse",
        about: "Binance frames -> prices/quantities: simd-json + mantissas vs serde_json + rust_decimal",
        run: parse::run,
    },
    Suite {
        name: "book",
        about: "parse + depth sync + book apply per depth message: L2Book vs BTreeMap<Decimal>, hftbacktest depth books",
        run: book::run,
    },
    Suite {
        name: "oms",
        about: "approved intent -> signed Binance order request bytes: reused buffers vs format!+hex+String",
        run: oms::run,
    },
    Suite {
        name: "oms-venues",
        about: "approved intent -> signed OKX / Kraken order request bytes: reused buffers vs format!+String",
        run: oms_venues::run,
    },
    Suite {
        name: "replay",
        about: "whole-capture replay throughput (frames/s): Lyra pipeline vs serde_json + BTreeMap",
        run: replay::run,
    },
    Suite {
        name: "sim",
        about: "lyra sim: book updates/s and publish->receive latency per venue over wss vs a bare wss writer",
        run: sim::run,
    },
    Suite {
        name: "venue-books",
        about: "OKX + Kraken book messages: decode + sequence + L2Book + checksum vs serde_json + Decimal + BTreeMap",
        run: venue_books::run,
    },
    Suite {
        name: "strategy",
        about: "book top -> arbitrage legs over 3 venues: engine::strategy vs rust_decimal + HashMap + Vec",
        run: strategy::run,
    },
    Suite {
        name: "feed",
        about: "loopback WS frame written -> MdEvent emitted: feeds::live::BinanceFeed vs tungstenite + serde_json + rust_decimal",
        run: tick::run,
    },
    Suite {
        name: "tick-to-order",
        about: "raw depth frame into the feed parser -> signed order bytes, through the real stages, rings and threads (compact, spread)",
        run: tick_to_order::run,
    }]
}
