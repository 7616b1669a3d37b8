//! Kraken WS v2/v1 decoding and book upkeep (PROTOCOLS §c) through the real decoder: the
//! documented checksum vectors (v1, v2, check strings and CRCs), a v2 snapshot whose JSON-number
//! prices keep their precision, truncation to depth, republish `r` levels, two dicts in one v1
//! frame, zero-volume deletes, and a malformed frame breaking only its own book.

use std::collections::BTreeMap;

use lyra_feeds::{
    checksum::{kraken_check_string, kraken_checksum, ChecksumRecipe, KrakenPrecision},
    instrument::InstrumentTable,
    kraken::{KrakenFrameInfo, KrakenMd, KrakenOutcome},
};
use lyra_shm::{
    decimal::parse_mantissa,
    msg::{md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, Side, VenueId},
};

const V: VenueId = VenueId(2);

/// `$LYRA_DATA_DIR`, else `../shared/data` beside the workspace; `None` (printed) if absent.
fn data_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("LYRA_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
        });
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

fn vectors() -> Option<serde_json::Value> {
    let dir = data_dir()?;
    Some(
        serde_json::from_str(&std::fs::read_to_string(dir.join("test_vectors.json")).unwrap())
            .unwrap(),
    )
}

/// A book rebuilt from events the way the book stage does (a BTreeMap per side; tests only).
#[derive(Default)]
struct RefBook {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl RefBook {
    fn apply(&mut self, ev: &MdEvent) {
        match ev.kind {
            MdKind::SnapshotBegin => {
                self.bids.clear();
                self.asks.clear();
            }
            MdKind::Level => {
                let side = if ev.side == Side::Buy {
                    &mut self.bids
                } else {
                    &mut self.asks
                };
                if ev.qty.0 == 0 {
                    side.remove(&ev.px.0);
                } else {
                    side.insert(ev.px.0, ev.qty.0);
                }
            }
            _ => {}
        }
    }
    fn bids(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.bids.iter().rev().map(|(p, q)| (*p, *q))
    }
    fn asks(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.asks.iter().map(|(p, q)| (*p, *q))
    }
}

fn levels(x: &serde_json::Value, ps: u8, qs: u8) -> Vec<(i64, i64)> {
    x.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                parse_mantissa(l[0].as_str().unwrap().as_bytes(), ps).unwrap(),
                parse_mantissa(l[1].as_str().unwrap().as_bytes(), qs).unwrap(),
            )
        })
        .collect()
}

#[test]
fn documented_v1_and_v2_vectors() {
    let Some(v) = vectors() else { return };
    for (key, ps, prec) in [
        (
            "kraken_v2_book_checksum_doc_example",
            1,
            KrakenPrecision {
                px_dec: 1,
                qty_dec: 8,
            },
        ),
        (
            "kraken_v1_book_checksum_doc_example",
            5,
            KrakenPrecision {
                px_dec: 5,
                qty_dec: 8,
            },
        ),
    ] {
        let c = &v[key];
        let asks = levels(&c["asks_low_to_high"], ps, 8);
        let bids = levels(&c["bids_high_to_low"], ps, 8);
        let s = kraken_check_string(asks.iter().copied(), bids.iter().copied(), ps, 8, prec);
        assert_eq!(s, c["check_string"].as_str().unwrap(), "{key}");
        let crc = kraken_checksum(asks.iter().copied(), bids.iter().copied(), ps, 8, prec);
        assert_eq!(
            u64::from(crc),
            c["expected_crc32_unsigned"].as_u64().unwrap(),
            "{key}"
        );
        // A wider mantissa scale renders the same text at the same precision.
        let asks9 = levels(&c["asks_low_to_high"], 9, 10);
        let bids9 = levels(&c["bids_high_to_low"], 9, 10);
        assert_eq!(
            kraken_checksum(asks9.into_iter(), bids9.into_iter(), 9, 10, prec),
            crc,
            "{key} at scale 9"
        );
    }
    // The real v1 example's leading ask: 58729.40000 x 0.45000000 at pair_decimals 1.
    let c = &v["kraken_v1_real_capture_checksum"];
    let ask = c["snapshot_best"]["ask"].as_array().unwrap();
    let one = [(
        parse_mantissa(ask[0].as_str().unwrap().as_bytes(), 1).unwrap(),
        parse_mantissa(ask[1].as_str().unwrap().as_bytes(), 8).unwrap(),
    )];
    let s = kraken_check_string(
        one.into_iter(),
        std::iter::empty(),
        1,
        8,
        KrakenPrecision {
            px_dec: 5,
            qty_dec: 8,
        },
    );
    assert!(
        c["check_string_prefix"].as_str().unwrap().starts_with(&s),
        "{s}"
    );
}

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    let btc = t.add("BTC-USD", 1, 8, 0).unwrap();
    t.map_symbol(V, "BTC/USD", btc).unwrap();
    let xbt = t.add("XBT-USD", 5, 8, 0).unwrap();
    t.map_symbol(V, "XBT/USD", xbt).unwrap();
    let eth = t.add("ETH-USD", 2, 8, 0).unwrap();
    t.map_symbol(V, "ETH/USD", eth).unwrap();
    t
}

fn feed(
    md: &mut KrakenMd,
    t: &InstrumentTable,
    frame: &str,
    out: &mut Vec<MdEvent>,
) -> Result<KrakenFrameInfo, String> {
    let mut resolve = |s: &[u8]| t.resolve(V, s);
    md.on_frame(1, frame.as_bytes(), &mut resolve, out)
        .map_err(|e| e.to_string())
}

#[test]
fn v2_snapshot_keeps_number_text_and_verifies() {
    let Some(v) = vectors() else { return };
    let c = &v["kraken_v2_book_checksum_doc_example"];
    let side = |k: &str| {
        c[k].as_array()
            .unwrap()
            .iter()
            .map(|l| {
                format!(
                    r#"{{"price":{},"qty":{}}}"#,
                    l[0].as_str().unwrap(),
                    l[1].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let frame = format!(
        r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{}],"checksum":{},"timestamp":"2023-10-06T17:35:55.440295Z"}}]}}"#,
        side("bids_high_to_low"),
        side("asks_low_to_high"),
        c["expected_crc32_unsigned"]
    );
    let t = table();
    let mut md = KrakenMd::new(V, 10);
    let mut out = Vec::new();
    let info = feed(&mut md, &t, &frame, &mut out).unwrap();
    assert!(matches!(
        info,
        KrakenFrameInfo::Book {
            outcome: KrakenOutcome::Snapshot,
            checksum: Some(3_310_070_434),
            ..
        }
    ));
    let mut book = RefBook::default();
    out.iter().for_each(|e| book.apply(e));
    assert_eq!(out[0].exch_ts, 1_696_613_755_440_295_000);
    let ck = out.last().unwrap();
    assert_eq!((ck.kind, ck.aux), (MdKind::Checksum, 3_310_070_434));
    let recipe = md.checksum_recipe(InstrumentIdx(0)).unwrap();
    assert_eq!(
        recipe,
        ChecksumRecipe::Kraken(KrakenPrecision {
            px_dec: 1,
            qty_dec: 8
        })
    );
    assert_eq!(
        recipe.compute(book.bids(), book.asks(), 1, 8),
        3_310_070_434
    );
}

fn v2(kind: &str, bids: &[(&str, &str)], asks: &[(&str, &str)], checksum: Option<u32>) -> String {
    let side = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(p, q)| format!(r#"{{"price":{p},"qty":{q}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ck = checksum.map_or(String::new(), |c| format!(r#","checksum":{c}"#));
    format!(
        r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"ETH/USD","bids":[{}],"asks":[{}]{ck},"timestamp":"2023-10-06T17:35:55.1Z"}}]}}"#,
        side(bids),
        side(asks)
    )
}

#[test]
fn v2_truncates_to_depth_and_the_checksum_covers_the_truncated_book() {
    let t = table();
    let mut md = KrakenMd::new(V, 10);
    let mut out = Vec::new();
    // Ten bids 100.00..91.00 and ten asks 101.00..110.00: the full depth-10 book.
    let bids: Vec<(String, String)> = (0..10)
        .map(|i| (format!("{}.00", 100 - i), "1.00000000".to_owned()))
        .collect();
    let asks: Vec<(String, String)> = (0..10)
        .map(|i| (format!("{}.00", 101 + i), "2.00000000".to_owned()))
        .collect();
    fn r(v: &[(String, String)]) -> Vec<(&str, &str)> {
        v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }
    feed(
        &mut md,
        &t,
        &v2("snapshot", &r(&bids), &r(&asks), None),
        &mut out,
    )
    .unwrap();
    let mut book = RefBook::default();
    out.iter().for_each(|e| book.apply(e));
    out.clear();
    // A better bid arrives: Kraken sends no delete for 91.00, which falls out of the top 10.
    let mut expect = RefBook {
        bids: book.bids.clone(),
        asks: book.asks.clone(),
    };
    expect.bids.insert(10_050, 300_000_000);
    expect.bids.remove(&9_100);
    let prec = KrakenPrecision {
        px_dec: 2,
        qty_dec: 8,
    };
    let crc = kraken_checksum(expect.asks(), expect.bids(), 2, 8, prec);
    feed(
        &mut md,
        &t,
        &v2("update", &[("100.50", "3.00000000")], &[], Some(crc)),
        &mut out,
    )
    .unwrap();
    let kinds: Vec<(MdKind, i64, i64)> = out.iter().map(|e| (e.kind, e.px.0, e.qty.0)).collect();
    assert_eq!(
        kinds[..2],
        [
            (MdKind::Level, 10_050, 300_000_000),
            (MdKind::Level, 9_100, 0)
        ]
    );
    assert_eq!(out.len(), 3);
    // The checksum event carries its recipe: the book stage needs nothing from the feed.
    assert_eq!(
        ChecksumRecipe::from_event(&out[2]),
        Some(ChecksumRecipe::Kraken(prec))
    );
    // END_OF_MESSAGE is on the last level (the truncation delete), not before it.
    assert_eq!(out[0].flags & md_flags::END_OF_MESSAGE, 0);
    assert_ne!(out[1].flags & md_flags::END_OF_MESSAGE, 0);
    out.iter().for_each(|e| book.apply(e));
    assert_eq!(book.bids.len(), 10);
    let recipe = md.checksum_recipe(InstrumentIdx(2)).unwrap();
    assert_eq!(
        u64::from(recipe.compute(book.bids(), book.asks(), 2, 8)),
        out[2].aux
    );
    assert_eq!(md.book(InstrumentIdx(2)).unwrap().counters().truncated, 1);
}

#[test]
fn v1_two_dicts_republish_and_zero_volume_delete() {
    let t = table();
    let mut md = KrakenMd::new(V, 10);
    let mut out = Vec::new();
    let snap = r#"[320,{"as":[["58729.40000","0.45000000","1617666423.1"],["58729.50000","1.49480000","1617666423.1"]],"bs":[["58719.90000","0.03666000","1617666423.1"],["58719.00000","1.00000000","1617666423.2"]]},"book-1000","XBT/USD"]"#;
    let info = feed(&mut md, &t, snap, &mut out).unwrap();
    // v1 snapshots carry no checksum.
    assert!(matches!(
        info,
        KrakenFrameInfo::Book {
            outcome: KrakenOutcome::Snapshot,
            checksum: None,
            ..
        }
    ));
    assert_eq!(md.book(InstrumentIdx(1)).unwrap().depth(), 1000);
    assert_eq!(out[0].exch_ts, 1_617_666_423_200_000_000);
    let mut book = RefBook::default();
    out.iter().for_each(|e| book.apply(e));
    out.clear();
    // Two dicts: asks (a republished level, then a delete), then bids with the checksum; the
    // same price twice in one message is applied in frame order.
    let mut expect = RefBook {
        bids: book.bids.clone(),
        asks: book.asks.clone(),
    };
    expect.asks.insert(5_872_940_000, 50_000_000);
    expect.asks.remove(&5_872_950_000);
    expect.bids.insert(5_872_480_000, 20_000_000);
    let prec = KrakenPrecision {
        px_dec: 5,
        qty_dec: 8,
    };
    let crc = kraken_checksum(expect.asks(), expect.bids(), 5, 8, prec);
    let upd = format!(
        r#"[320,{{"a":[["58729.40000","0.50000000","1617666424.1","r"],["58729.50000","0.00000000","1617666424.2"]]}},{{"b":[["58724.80000","0.36000000","1617666424.3"],["58724.80000","0.20000000","1617666424.4"]],"c":"{crc}"}},"book-1000","XBT/USD"]"#
    );
    let info = feed(&mut md, &t, &upd, &mut out).unwrap();
    assert!(
        matches!(info, KrakenFrameInfo::Book { outcome: KrakenOutcome::Applied, checksum: Some(c), .. } if c == crc)
    );
    let levels: Vec<(Side, i64, i64)> = out
        .iter()
        .filter(|e| e.kind == MdKind::Level)
        .map(|e| (e.side, e.px.0, e.qty.0))
        .collect();
    assert_eq!(
        levels,
        [
            (Side::Sell, 5_872_940_000, 50_000_000),
            (Side::Sell, 5_872_950_000, 0),
            (Side::Buy, 5_872_480_000, 36_000_000),
            (Side::Buy, 5_872_480_000, 20_000_000),
        ]
    );
    out.iter().for_each(|e| book.apply(e));
    let recipe = md.checksum_recipe(InstrumentIdx(1)).unwrap();
    assert_eq!(recipe, ChecksumRecipe::Kraken(prec));
    assert_eq!(recipe.compute(book.bids(), book.asks(), 5, 8), crc);
    let c = md.book(InstrumentIdx(1)).unwrap().counters();
    assert_eq!((c.republished, c.checksums, c.precision_widened), (1, 1, 0));
    // Heartbeats, status and other channels are not book frames.
    for other in [
        r#"{"event":"heartbeat"}"#,
        r#"[321,["1.0","2.0","1617666424.1","s","l",""],"trade","XBT/USD"]"#,
    ] {
        assert_eq!(
            feed(&mut md, &t, other, &mut out),
            Ok(KrakenFrameInfo::Other)
        );
    }
}

#[test]
fn malformed_frame_breaks_only_its_book() {
    let t = table();
    let mut md = KrakenMd::new(V, 10);
    let mut out = Vec::new();
    for pair in ["XBT/USD", "ETH/USD"] {
        let snap = format!(
            r#"[1,{{"as":[["2.00000","1.00000000","1.0"]],"bs":[["1.00000","1.00000000","1.0"]]}},"book-10","{pair}"]"#
        );
        feed(&mut md, &t, &snap, &mut out).unwrap();
    }
    out.clear();
    let err = feed(
        &mut md,
        &t,
        r#"[1,{"a":[["2.0x","1.0","1.0"]],"c":"5"},"book-10","ETH/USD"]"#,
        &mut out,
    )
    .unwrap_err();
    assert!(err.contains("kraken") && err.contains("ETH/USD"), "{err}");
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].kind, out[0].reason, out[0].instrument),
        (
            MdKind::BookInvalid,
            InvalidReason::Malformed,
            InstrumentIdx(2)
        )
    );
    assert!(md.book(InstrumentIdx(1)).unwrap().is_synced());
    assert!(!md.book(InstrumentIdx(2)).unwrap().is_synced());
    for junk in [
        "",
        "[",
        "[1,2,3,4,5,6]",
        r#"[1,{"a":"x"},"book-10","XBT/USD"]"#,
        r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":"x"}],"asks":[]}]}"#,
        r#"{"channel":"book","type":"update","data":7}"#,
    ] {
        let _ = feed(&mut md, &t, junk, &mut out);
    }
}

/// Deterministic pseudo-random numbers (xorshift64*), so a failure reproduces.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn mutated_real_frames_never_panic() {
    let Some(dir) = data_dir() else { return };
    let path = dir.join("cryptofeed/2021-04-17_kraken/KRAKEN.ws.50.0");
    let text = std::fs::read_to_string(path).unwrap();
    // Every 8th frame (the file has ~4,300): snapshots included, a few seconds in debug.
    let frames: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, f)| f))
        .enumerate()
        .filter(|(i, f)| i % 8 == 0 || f.contains("\"as\""))
        .map(|(_, f)| f)
        .collect();
    let mut t = InstrumentTable::new();
    for p in [
        "WAVES/EUR",
        "XMR/USD",
        "KSM/XBT",
        "GRT/ETH",
        "SC/EUR",
        "ETH/CHF",
        "OCEAN/XBT",
        "OMG/USD",
        "XBT/CHF",
        "ADA/XBT",
    ] {
        t.lookup_or_add(V, p, 8, 8).unwrap();
    }
    let mut md = KrakenMd::new(V, 10);
    let mut out = Vec::new();
    let mut s = 0x1234_5678_9abc_def1u64;
    for f in &frames {
        for k in 0..8 {
            let mut b = f.as_bytes().to_vec();
            let i = (rng(&mut s) as usize) % b.len().max(1);
            if k % 2 == 0 {
                b.truncate(i);
            } else if let Some(c) = b.get_mut(i) {
                *c = b"[]{},:\"0.-x\\9r"[(rng(&mut s) % 14) as usize];
            }
            let mut resolve = |x: &[u8]| t.resolve(V, x);
            let _ = md.on_frame(1, &b, &mut resolve, &mut out);
            out.clear();
        }
    }
    // v2-shaped garbage goes through the number-quoting pass too.
    for junk in [
        r#"{"channel":"book","type":"update","data":[{"symbol":"XMR/USD","bids":[{"price":"#,
        r#"{"price":1e400,"qty":-"#,
        r#""price""#,
    ] {
        let mut resolve = |x: &[u8]| t.resolve(V, x);
        let _ = md.on_frame(1, junk.as_bytes(), &mut resolve, &mut out);
    }
}
