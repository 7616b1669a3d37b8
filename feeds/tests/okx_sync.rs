//! OKX v5 sequencing rules (PROTOCOLS §b.2) on synthetic frames through the real decoder:
//! the doc chain (-1,10) → (10,15) → (15,15 heartbeat) → (15,3 reset) → (3,5), a gap, a second
//! snapshot replacing the first, checksum 0 = not provided, pre-seqId data, books5/bbo-tbt, and
//! a malformed frame breaking only its own book. Plus the documented checksum vectors.

use lyra_feeds::{
    checksum::{okx_check_string, okx_checksum},
    instrument::{InstrumentTable, Resolved},
    okx::{OkxFrameInfo, OkxMd, OkxOutcome},
};
use lyra_shm::{
    decimal::parse_mantissa,
    msg::{md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, VenueId},
};

const V: VenueId = VenueId(3);

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    let btc = t.add("BTC-USDT", 8, 8, 0).unwrap();
    t.map_symbol(V, "BTC-USDT", btc).unwrap();
    let eth = t.add("ETH-USDT", 8, 8, 0).unwrap();
    t.map_symbol(V, "ETH-USDT", eth).unwrap();
    t
}

fn book(
    action: &str,
    inst: &str,
    bids: &str,
    asks: &str,
    seq: Option<(i64, i64)>,
    checksum: i64,
) -> String {
    let seq = seq.map_or(String::new(), |(p, s)| {
        format!(r#","prevSeqId":{p},"seqId":{s}"#)
    });
    format!(
        r#"{{"arg":{{"channel":"books","instId":"{inst}"}},"action":"{action}","data":[{{"asks":[{asks}],"bids":[{bids}],"ts":"1652459225381","checksum":{checksum}{seq}}}]}}"#
    )
}

fn feed(
    md: &mut OkxMd,
    t: &InstrumentTable,
    frame: &str,
    out: &mut Vec<MdEvent>,
) -> Result<OkxFrameInfo, String> {
    let mut resolve = |s: &[u8]| t.resolve(V, s);
    md.on_frame(1, frame.as_bytes(), &mut resolve, out)
        .map_err(|e| e.to_string())
}

fn outcome(r: Result<OkxFrameInfo, String>) -> OkxOutcome {
    match r {
        Ok(OkxFrameInfo::Book { outcome, .. }) => outcome,
        other => panic!("not a book frame: {other:?}"),
    }
}

const B1: &str = r#"["100.5","2","0","1"]"#;
const A1: &str = r#"["101","3","0","1"]"#;

#[test]
fn doc_sequence_chain_with_heartbeat_and_reset() {
    let t = table();
    let mut md = OkxMd::new(V);
    let mut out = Vec::new();
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("snapshot", "BTC-USDT", B1, A1, Some((-1, 10)), 0),
            &mut out
        )),
        OkxOutcome::Snapshot
    );
    assert_eq!(out.first().map(|e| e.kind), Some(MdKind::SnapshotBegin));
    let end = out.last().unwrap();
    assert_eq!(
        (end.kind, end.seq, end.flags & md_flags::END_OF_MESSAGE != 0),
        (MdKind::SnapshotEnd, 10, true)
    );
    out.clear();
    let upd = book(
        "update",
        "BTC-USDT",
        r#"["100.5","0","0","0"]"#,
        "",
        Some((10, 15)),
        0,
    );
    assert_eq!(
        outcome(feed(&mut md, &t, &upd, &mut out)),
        OkxOutcome::Applied
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].kind, out[0].qty.0, out[0].seq),
        (MdKind::Level, 0, 15)
    );
    assert_ne!(out[0].flags & md_flags::END_OF_MESSAGE, 0);
    out.clear();
    // Heartbeat: prevSeqId == seqId, nothing changes, still in sequence.
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("update", "BTC-USDT", "", "", Some((15, 15)), 0),
            &mut out
        )),
        OkxOutcome::Applied
    );
    assert!(out.is_empty(), "a heartbeat emits nothing: {out:?}");
    // Maintenance reset: seqId < prevSeqId, chained on our last seqId: accepted.
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("update", "BTC-USDT", B1, "", Some((15, 3)), 0),
            &mut out
        )),
        OkxOutcome::Applied
    );
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("update", "BTC-USDT", "", A1, Some((3, 5)), 0),
            &mut out
        )),
        OkxOutcome::Applied
    );
    let s = md.book(InstrumentIdx(0)).unwrap();
    let c = s.counters();
    assert!(s.is_synced());
    assert_eq!(
        (c.heartbeats, c.resets, c.gaps, c.updates, s.last_seq()),
        (1, 1, 0, 4, Some(5))
    );
    assert!(out.iter().all(|e| e.kind != MdKind::BookInvalid));
}

#[test]
fn gap_invalidates_and_waits_for_a_snapshot() {
    let t = table();
    let mut md = OkxMd::new(V);
    let mut out = Vec::new();
    feed(
        &mut md,
        &t,
        &book("snapshot", "BTC-USDT", B1, A1, Some((-1, 10)), 0),
        &mut out,
    )
    .unwrap();
    out.clear();
    // prevSeqId 11 != last seqId 10: a message was lost.
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("update", "BTC-USDT", B1, "", Some((11, 12)), 0),
            &mut out
        )),
        OkxOutcome::Gap
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].kind, out[0].reason),
        (MdKind::BookInvalid, InvalidReason::Gap)
    );
    assert!(md.book(InstrumentIdx(0)).unwrap().needs_snapshot());
    out.clear();
    // Later updates are not applied to a broken book.
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("update", "BTC-USDT", B1, "", Some((12, 13)), 0),
            &mut out
        )),
        OkxOutcome::Unsynced
    );
    assert!(out.is_empty());
    // Updates before any snapshot are dropped too.
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("update", "ETH-USDT", B1, "", Some((1, 2)), 0),
            &mut out
        )),
        OkxOutcome::Unsynced
    );
    // A new snapshot restarts it.
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("snapshot", "BTC-USDT", B1, A1, Some((-1, 20)), 0),
            &mut out
        )),
        OkxOutcome::Snapshot
    );
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("update", "BTC-USDT", B1, "", Some((20, 21)), 0),
            &mut out
        )),
        OkxOutcome::Applied
    );
    assert_eq!(md.book(InstrumentIdx(0)).unwrap().counters().gaps, 1);
}

#[test]
fn second_snapshot_replaces_the_first_completely() {
    let t = table();
    let mut md = OkxMd::new(V);
    let mut out = Vec::new();
    let first = book(
        "snapshot",
        "BTC-USDT",
        &format!("{B1},[\"99\",\"1\",\"0\",\"1\"]"),
        A1,
        Some((-1, 7)),
        0,
    );
    let second = book(
        "snapshot",
        "BTC-USDT",
        r#"["98","4","0","1"]"#,
        r#"["102","5","0","1"]"#,
        Some((-1, 9)),
        0,
    );
    feed(&mut md, &t, &first, &mut out).unwrap();
    out.clear();
    assert_eq!(
        outcome(feed(&mut md, &t, &second, &mut out)),
        OkxOutcome::Snapshot
    );
    // Begin (clears the book), exactly the second snapshot's levels, End.
    let kinds: Vec<MdKind> = out.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            MdKind::SnapshotBegin,
            MdKind::Level,
            MdKind::Level,
            MdKind::SnapshotEnd
        ]
    );
    assert_eq!(out[1].px.0, 98 * 100_000_000);
    assert_eq!(md.book(InstrumentIdx(0)).unwrap().last_seq(), Some(9));
    // The next update chains on the second snapshot's seqId, not the first's.
    assert_eq!(
        outcome(feed(
            &mut md,
            &t,
            &book("update", "BTC-USDT", B1, "", Some((9, 10)), 0),
            &mut out
        )),
        OkxOutcome::Applied
    );
}

#[test]
fn checksum_zero_is_not_provided_and_pre_seqid_data_is_accepted() {
    let t = table();
    let mut md = OkxMd::new(V);
    let mut out = Vec::new();
    // 2022-style: no seqId/prevSeqId at all, checksum present.
    feed(
        &mut md,
        &t,
        &book("snapshot", "BTC-USDT", B1, A1, None, 47_640_993),
        &mut out,
    )
    .unwrap();
    let ck = out.last().unwrap();
    assert_eq!((ck.kind, ck.aux), (MdKind::Checksum, 47_640_993));
    out.clear();
    feed(
        &mut md,
        &t,
        &book("update", "BTC-USDT", B1, "", None, -652_563_973),
        &mut out,
    )
    .unwrap();
    let ck = out.last().unwrap();
    assert_eq!(
        (ck.kind, ck.aux as u32 as i32),
        (MdKind::Checksum, -652_563_973)
    );
    out.clear();
    // Checksum 0 (OKX's deprecated field): no Checksum event.
    feed(
        &mut md,
        &t,
        &book("update", "BTC-USDT", B1, "", None, 0),
        &mut out,
    )
    .unwrap();
    assert!(out.iter().all(|e| e.kind != MdKind::Checksum));
    let c = md.book(InstrumentIdx(0)).unwrap().counters();
    assert_eq!((c.checksums, c.checksums_absent, c.gaps), (2, 1, 0));
}

#[test]
fn books5_replaces_and_bbo_tbt_emits_bbo() {
    let t = table();
    let mut md = OkxMd::new(V);
    let mut out = Vec::new();
    let b5 = r#"{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"asks":[["101","3","0","1"]],"bids":[["100","2","0","1"]],"instId":"BTC-USDT","ts":"1"}]}"#;
    assert_eq!(
        outcome(feed(&mut md, &t, b5, &mut out)),
        OkxOutcome::Snapshot
    );
    assert_eq!(out[0].kind, MdKind::SnapshotBegin);
    out.clear();
    let bbo = r#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["101","3","0","1"]],"bids":[["100","2","0","1"]],"ts":"1","seqId":5}]}"#;
    assert_eq!(outcome(feed(&mut md, &t, bbo, &mut out)), OkxOutcome::Bbo);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|e| e.kind == MdKind::Bbo));
    assert_ne!(out[1].flags & md_flags::END_OF_MESSAGE, 0);
    // Acks and other channels are not book frames.
    assert_eq!(
        feed(
            &mut md,
            &t,
            r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}"#,
            &mut out
        ),
        Ok(OkxFrameInfo::Other)
    );
    assert_eq!(
        feed(
            &mut md,
            &t,
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"px":"1"}]}"#,
            &mut out
        ),
        Ok(OkxFrameInfo::Other)
    );
}

#[test]
fn malformed_frame_breaks_only_its_book() {
    let t = table();
    let mut md = OkxMd::new(V);
    let mut out = Vec::new();
    feed(
        &mut md,
        &t,
        &book("snapshot", "BTC-USDT", B1, A1, Some((-1, 1)), 0),
        &mut out,
    )
    .unwrap();
    feed(
        &mut md,
        &t,
        &book("snapshot", "ETH-USDT", B1, A1, Some((-1, 1)), 0),
        &mut out,
    )
    .unwrap();
    out.clear();
    let bad = book(
        "update",
        "ETH-USDT",
        r#"["12x","1","0","1"]"#,
        "",
        Some((1, 2)),
        0,
    );
    let err = feed(&mut md, &t, &bad, &mut out).unwrap_err();
    assert!(
        err.contains("okx") && err.contains("ETH-USDT") && err.contains("bids"),
        "{err}"
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].kind, out[0].reason, out[0].instrument, out[0].venue),
        (
            MdKind::BookInvalid,
            InvalidReason::Malformed,
            InstrumentIdx(1),
            V
        )
    );
    assert!(md.book(InstrumentIdx(0)).unwrap().is_synced());
    assert!(!md.book(InstrumentIdx(1)).unwrap().is_synced());
    // Garbage that is not JSON: no instrument known, every book breaks; nothing panics.
    out.clear();
    assert!(feed(&mut md, &t, "{\"arg\":", &mut out).is_err());
    assert!(out.iter().all(|e| e.kind == MdKind::BookInvalid));
    for junk in [
        "",
        "[]",
        "null",
        r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[1]}"#,
        r#"{"arg":{"channel":"books"},"action":"update","data":[]}"#,
    ] {
        let _ = feed(&mut md, &t, junk, &mut out);
    }
    // Unknown instruments are refused without touching known books.
    out.clear();
    assert!(feed(
        &mut md,
        &t,
        &book("update", "DOGE-USDT", B1, "", None, 0),
        &mut out
    )
    .is_err());
    assert!(out.is_empty());
}

#[test]
fn documented_checksum_vectors() {
    let Some(dir) = data_dir() else { return };
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test_vectors.json")).unwrap())
            .unwrap();
    let lv = |x: &serde_json::Value| -> Vec<(i64, i64)> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let p = l[0].as_str().unwrap();
                let q = l[1].as_str().unwrap();
                (
                    parse_mantissa(p.as_bytes(), 8).unwrap(),
                    parse_mantissa(q.as_bytes(), 8).unwrap(),
                )
            })
            .collect()
    };
    let cases = v["okx_checksum_doc_strings"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        let (b, a) = (lv(&c["bids"]), lv(&c["asks"]));
        assert_eq!(
            okx_check_string(b.iter().copied(), a.iter().copied(), 8, 8),
            c["check_string"].as_str().unwrap()
        );
        assert_eq!(
            i64::from(okx_checksum(b.iter().copied(), a.iter().copied(), 8, 8)),
            c["computed_by_collector_crc32_signed"].as_i64().unwrap()
        );
    }
}

#[test]
fn real_snapshot_check_string_prefix() {
    let Some(dir) = data_dir() else { return };
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test_vectors.json")).unwrap())
            .unwrap();
    let want = &v["okx_real_capture_checksums"]["snapshot"];
    let prefix = want["check_string_prefix"].as_str().unwrap();
    let text = std::fs::read_to_string(dir.join("cryptofeed/2022-05-13_okx/OKX.ws.1.0")).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(r#""instId":"BTC-USDT"},"action":"snapshot""#))
        .expect("BTC-USDT snapshot line");
    let frame = line.split_once(": ").unwrap().1;
    let t = table();
    let mut md = OkxMd::new(V);
    let mut out = Vec::new();
    let mut resolve = |s: &[u8]| -> Option<Resolved> { t.resolve(V, s) };
    md.on_frame(1, frame.as_bytes(), &mut resolve, &mut out)
        .unwrap();
    // Rebuild the levels best-first from the emitted snapshot and recompute.
    let mut bids: Vec<(i64, i64)> = out
        .iter()
        .filter(|e| e.kind == MdKind::Level && e.side == lyra_shm::msg::Side::Buy)
        .map(|e| (e.px.0, e.qty.0))
        .collect();
    let mut asks: Vec<(i64, i64)> = out
        .iter()
        .filter(|e| e.kind == MdKind::Level && e.side == lyra_shm::msg::Side::Sell)
        .map(|e| (e.px.0, e.qty.0))
        .collect();
    bids.sort_by_key(|l| std::cmp::Reverse(l.0));
    asks.sort_by_key(|l| l.0);
    let s = okx_check_string(bids.iter().copied(), asks.iter().copied(), 8, 8);
    assert!(s.starts_with(prefix), "{s}");
    let ck = out.last().unwrap();
    assert_eq!(ck.kind, MdKind::Checksum);
    assert_eq!(
        i64::from(ck.aux as u32 as i32),
        want["checksum"].as_i64().unwrap()
    );
    assert_eq!(
        okx_checksum(bids.iter().copied(), asks.iter().copied(), 8, 8),
        ck.aux as u32 as i32
    );
}

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
    let text = std::fs::read_to_string(dir.join("cryptofeed/2022-05-13_okx/OKX.ws.1.0")).unwrap();
    let frames: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, f)| f))
        .collect();
    let t = table();
    let mut md = OkxMd::new(V);
    let mut out = Vec::new();
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut errors = 0;
    for f in &frames {
        for k in 0..16 {
            let mut b = f.as_bytes().to_vec();
            let i = (rng(&mut s) as usize) % b.len().max(1);
            if k % 2 == 0 {
                b.truncate(i);
            } else if let Some(c) = b.get_mut(i) {
                *c = b"[]{},:\"0.-x\\9"[(rng(&mut s) % 13) as usize];
            }
            let mut resolve = |x: &[u8]| t.resolve(V, x);
            errors += usize::from(md.on_frame(1, &b, &mut resolve, &mut out).is_err());
            out.clear();
        }
    }
    assert!(
        errors > frames.len(),
        "most mutations are refused: {errors}"
    );
}
