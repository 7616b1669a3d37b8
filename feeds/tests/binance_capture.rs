//! The Binance parser and depth sync over the real capture
//! (`hftbacktest/spot/btcusdt_20240808.gz`): every frame decodes, the counts match SOURCES.md,
//! and the sync follows the PROTOCOLS §a.1 worked example (two stale events, one bridge, no gap).

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
};

use lyra_feeds::{
    binance::{
        BinanceMd, BinanceParser, DepthOutcome, FrameInfo, Msg, SnapshotOutcome, SyncConfig,
    },
    instrument::InstrumentTable,
};
use lyra_shm::msg::{MdEvent, MdKind, VenueId};

/// `$LYRA_DATA_DIR`, else `../shared/data` beside the workspace; `None` (printed) if absent.
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

#[test]
fn decodes_and_syncs_the_real_capture() {
    let Some(dir) = data_dir() else { return };
    let path = dir.join("hftbacktest/spot/btcusdt_20240808.gz");
    let file = std::fs::File::open(&path).expect("open capture");
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let venue = VenueId(0);
    let mut table = InstrumentTable::new();
    let btc = table.add("BTC-USDT", 8, 8, 1_000_000).unwrap();
    table.map_symbol(venue, "BTCUSDT", btc).unwrap();
    let mut md = BinanceMd::new(venue, SyncConfig::default());
    let mut out: Vec<MdEvent> = Vec::with_capacity(1 << 16);
    let (mut depth, mut tickers, mut trades, mut snaps) = (0, 0, 0, 0);
    let mut first_applied = None;
    for (n, line) in reader.lines().enumerate() {
        let line = line.expect("read line");
        let (ts, frame) = line.split_once(' ').expect("<ns> <frame>");
        let recv: u64 = ts.parse().expect("recv ns");
        let snap_inst = table.resolved(btc);
        let info = md
            .on_frame(
                recv,
                frame.as_bytes(),
                &mut |s| table.resolve(venue, s),
                snap_inst,
                &mut out,
            )
            .unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        match info {
            FrameInfo::Depth {
                outcome, last_id, ..
            } => {
                depth += 1;
                if outcome == DepthOutcome::Applied && first_applied.is_none() {
                    first_applied = Some(last_id);
                }
                assert_ne!(outcome, DepthOutcome::Gap, "line {}", n + 1);
            }
            FrameInfo::Snapshot { outcome, .. } => {
                snaps += 1;
                assert_eq!(n + 1, 8, "the snapshot is line 8");
                // Lines 1, 2 stale; line 6 straddles 50093239219.
                assert_eq!(outcome, SnapshotOutcome::Applied { replayed: 1 });
                first_applied.get_or_insert(50093239224);
            }
            FrameInfo::BookTicker { .. } => tickers += 1,
            FrameInfo::Trade { .. } => trades += 1,
            FrameInfo::Other => panic!("line {}: unexpected frame", n + 1),
        }
        out.clear();
    }
    assert_eq!((depth, tickers, trades, snaps), (3451, 28040, 9757, 1));
    assert_eq!(first_applied, Some(50093239224));
    let sync = md.sync(btc).expect("sync exists");
    let c = sync.counters();
    assert!(sync.is_synced());
    assert_eq!(sync.book_id(), 50093421584, "end-of-file u from PROTOCOLS");
    assert_eq!((c.stale_dropped, c.gaps, c.resyncs), (2, 0, 0));
    assert_eq!(c.applied, 3451 - 2);
}

#[test]
fn bad_frames_are_errors_not_panics() {
    let venue = VenueId(0);
    let mut table = InstrumentTable::new();
    let btc = table.add("BTC-USDT", 2, 8, 0).unwrap();
    table.map_symbol(venue, "BTCUSDT", btc).unwrap();
    let mut md = BinanceMd::new(venue, SyncConfig::default());
    let mut out: Vec<MdEvent> = Vec::new();
    let frames: &[&[u8]] = &[
        b"{not json",
        b"",
        br#"{"stream":"x","data":{"e":"depthUpdate","s":"BTCUSDT","U":1}}"#,
        // More decimals than the scale: an error for that frame.
        br#"{"stream":"x","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.234","1"]],"a":[]}}"#,
        br#"{"stream":"x","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}}"#,
        br#"{"stream":"x","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.2"]],"a":[]}}"#,
        br#"{"lastUpdateId":5,"bids":[["x","1"]],"asks":[]}"#,
        br#"{"u":1,"s":"BTCUSDT","b":"1.00","B":"1","a":"1.01"}"#,
    ];
    for f in frames {
        let snap_inst = table.resolved(btc);
        let r = md.on_frame(1, f, &mut |s| table.resolve(venue, s), snap_inst, &mut out);
        assert!(
            r.is_err() || matches!(r, Ok(FrameInfo::Other)),
            "{:?} -> {r:?}",
            String::from_utf8_lossy(f)
        );
    }
    // A valid bookTicker becomes two BBO events.
    let f = br#"{"stream":"btcusdt@bookTicker","data":{"u":7,"s":"BTCUSDT","b":"1.00","B":"2","a":"1.01","A":"3"}}"#;
    let info = md
        .on_frame(1, f, &mut |s| table.resolve(venue, s), None, &mut out)
        .unwrap();
    assert_eq!(info, FrameInfo::BookTicker { inst: btc });
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].kind, out[0].px.0, out[0].qty.0, out[0].seq),
        (MdKind::Bbo, 100, 200_000_000, 7)
    );
    assert_eq!((out[1].px.0, out[1].qty.0), (101, 300_000_000));
}

#[test]
fn fast_path_and_simd_json_path_agree_on_every_real_frame() {
    let Some(dir) = data_dir() else { return };
    let venue = VenueId(0);
    let mut table = InstrumentTable::new();
    let btc = table.add("BTC-USDT", 8, 8, 0).unwrap();
    table.map_symbol(venue, "BTCUSDT", btc).unwrap();
    let snap = table.resolved(btc);
    let (mut a, mut b) = (BinanceParser::new(), BinanceParser::new());
    let mut n = 0;
    for name in ["btcusdt_20240808.gz", "btcusdt_20240809.gz"] {
        let file = std::fs::File::open(dir.join("hftbacktest/spot").join(name)).expect("open");
        for line in BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
            let line = line.expect("read");
            let frame = line.split_once(' ').expect("<ns> <frame>").1.as_bytes();
            let fast = a.parse(frame, &mut |s| table.resolve(venue, s), snap);
            let tape = b.parse_tape(frame, &mut |s| table.resolve(venue, s), snap);
            assert_eq!(fast, tape, "{}", String::from_utf8_lossy(frame));
            assert_eq!((a.bids(), a.asks()), (b.bids(), b.asks()));
            n += 1;
        }
    }
    assert!(n > 99_000);
    // Non-canonical but valid JSON (spaces, other key order) still decodes, via simd-json.
    let f = br#"{ "data" : {"s":"BTCUSDT","e":"depthUpdate","E":1,"U":5,"u":6,"a":[],"b":[["1.5","2"]]}, "stream":"x"}"#;
    match a.parse(f, &mut |s| table.resolve(venue, s), None) {
        Ok(Msg::Depth(h)) => assert_eq!(
            (h.first_id, h.last_id, a.bids()),
            (5, 6, &[(150_000_000, 200_000_000)][..])
        ),
        other => panic!("{other:?}"),
    }
}
