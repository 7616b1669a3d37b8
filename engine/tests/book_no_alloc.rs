//! After warm-up, the market-data hot path — Binance parse (simd-json tape) + depth sync + L2 book
//! apply + top export — allocates nothing per message. Warm-up is the first real capture
//! (`btcusdt_20240808.gz`, which syncs the book); the measured run is the whole next-day file,
//! ~58k frames (depth diffs, bookTickers, trades), with a counting global allocator.
//! Its own test binary: the allocator counts for the whole process.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
};

use lyra_engine::book::{BookConfig, L2Book};
use lyra_feeds::{
    binance::{BinanceMd, SyncConfig},
    instrument::InstrumentTable,
};
use lyra_shm::{
    alloc_count::CountingAlloc,
    msg::{BookTop, MdEvent, VenueId},
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LYRA_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if dir.join("SOURCES.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: recorded data not found at {} (set LYRA_DATA_DIR)",
            dir.display()
        );
        None
    }
}

fn lines(path: PathBuf) -> Vec<(u64, String)> {
    let f = std::fs::File::open(&path).expect("open capture");
    BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .map(|l| {
            let l = l.expect("read");
            let (ts, frame) = l.split_once(' ').expect("<ns> <frame>");
            (ts.parse().expect("ns"), frame.to_owned())
        })
        .collect()
}

#[test]
fn hot_path_allocates_nothing_after_warm_up() {
    let Some(dir) = data_dir() else { return };
    let warm = lines(dir.join("hftbacktest/spot/btcusdt_20240808.gz"));
    let measured = lines(dir.join("hftbacktest/spot/btcusdt_20240809.gz"));
    let venue = VenueId(0);
    let mut table = InstrumentTable::new();
    let btc = table.add("BTC-USDT", 8, 8, 1_000_000).unwrap();
    table.map_symbol(venue, "BTCUSDT", btc).unwrap();
    let snap = table.resolved(btc);
    let mut md = BinanceMd::new(venue, SyncConfig::default());
    md.prepare(btc);
    let mut book = L2Book::new(
        venue,
        btc,
        BookConfig {
            tick: 1_000_000,
            ..BookConfig::default()
        },
    );
    let mut events: Vec<MdEvent> = Vec::with_capacity(1 << 16);
    let mut top = BookTop::default();
    let mut run = |frames: &[(u64, String)], md: &mut BinanceMd, book: &mut L2Book| {
        let mut applied = 0u64;
        for (ts, frame) in frames {
            events.clear();
            md.on_frame(
                *ts,
                frame.as_bytes(),
                &mut |s| table.resolve(venue, s),
                snap,
                &mut events,
            )
            .expect("real frames decode");
            for ev in &events {
                book.apply(ev);
            }
            if !events.is_empty() {
                book.top_into(&mut top);
                applied += 1;
            }
        }
        applied
    };
    run(&warm, &mut md, &mut book);
    assert!(book.is_valid(), "warm-up syncs the book");
    let before = ALLOC.allocations();
    assert!(before > 0, "the counting allocator is installed and counts");
    let n = run(&measured, &mut md, &mut book);
    let after = ALLOC.allocations();
    assert!(n > 50_000, "measured {n} messages");
    assert!(book.is_valid(), "the next-day file continues the stream");
    assert_eq!(
        after - before,
        0,
        "allocations during {n} hot-path messages"
    );
}
