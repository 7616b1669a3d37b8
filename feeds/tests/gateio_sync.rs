//! Gate.io v4 bridge rules (PROTOCOLS §e) through the real decoder: buffering before the REST
//! snapshot, stale drop (`u <= id`), the straddle `U <= id+1 <= u` (from the buffer and live),
//! strict continuation `U == prev u + 1`, a gap, a snapshot that cannot bridge, and a malformed
//! frame breaking only its own book.

use lyra_feeds::{
    gateio::{GateFrameInfo, GateMd, GateOutcome, GateSyncConfig},
    instrument::{InstrumentTable, Resolved},
};
use lyra_shm::msg::{md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, VenueId};

const V: VenueId = VenueId(4);

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for p in ["BTC_USDT", "ETH_USDT"] {
        let i = t.add(p, 10, 10, 0).unwrap();
        t.map_symbol(V, p, i).unwrap();
    }
    t
}

fn upd(pair: &str, first: u64, last: u64) -> String {
    format!(
        r#"{{"time":1,"channel":"spot.order_book_update","event":"update","result":{{"t":1619093532978,"e":"depthUpdate","E":1619093532,"s":"{pair}","U":{first},"u":{last},"b":[["100.5","{last}"]],"a":[["101","2"]]}}}}"#
    )
}

fn snap(id: u64) -> String {
    format!(
        r#"{{"id":{id},"current":1619093533764,"update":1619093533760,"asks":[["101","1"],["102","3"]],"bids":[["100","2"]]}}"#
    )
}

struct Rig {
    t: InstrumentTable,
    md: GateMd,
    out: Vec<MdEvent>,
}

impl Rig {
    fn new() -> Self {
        Self {
            t: table(),
            md: GateMd::new(V, GateSyncConfig::default()),
            out: Vec::new(),
        }
    }
    fn ws(&mut self, frame: &str) -> Result<GateOutcome, String> {
        let t = &self.t;
        let mut resolve = |s: &[u8]| t.resolve(V, s);
        match self
            .md
            .on_frame(1, frame.as_bytes(), &mut resolve, None, &mut self.out)
        {
            Ok(GateFrameInfo::Book { outcome, .. }) => Ok(outcome),
            Ok(GateFrameInfo::Other) => Err("other".into()),
            Err(e) => Err(e.to_string()),
        }
    }
    fn rest(&mut self, pair: &str, body: &str) -> GateOutcome {
        let t = &self.t;
        let inst: Option<Resolved> = t.resolve(V, pair.as_bytes());
        let mut resolve = |s: &[u8]| t.resolve(V, s);
        match self
            .md
            .on_frame(2, body.as_bytes(), &mut resolve, inst, &mut self.out)
        {
            Ok(GateFrameInfo::Book { outcome, .. }) => outcome,
            other => panic!("{other:?}"),
        }
    }
    /// `seq` of every applied update (end-of-message level outside a snapshot).
    fn applied(&self) -> Vec<u64> {
        self.out
            .iter()
            .filter(|e| {
                e.kind == MdKind::Level
                    && e.flags & md_flags::SNAPSHOT == 0
                    && e.flags & md_flags::END_OF_MESSAGE != 0
            })
            .map(|e| e.seq)
            .collect()
    }
}

#[test]
fn buffered_straddle_like_the_capture() {
    // DIS_USDT in the capture: the bridging update arrives before the snapshot.
    let mut r = Rig::new();
    assert_eq!(r.ws(&upd("BTC_USDT", 90, 95)), Ok(GateOutcome::Buffered));
    assert_eq!(r.ws(&upd("BTC_USDT", 96, 101)), Ok(GateOutcome::Buffered));
    assert!(r.out.is_empty(), "nothing is published before a snapshot");
    assert_eq!(
        r.rest("BTC_USDT", &snap(98)),
        GateOutcome::Installed { replayed: 1 }
    );
    assert_eq!(r.out[0].kind, MdKind::SnapshotBegin);
    assert_eq!(r.applied(), [101]);
    assert_eq!(r.ws(&upd("BTC_USDT", 102, 102)), Ok(GateOutcome::Applied));
    // Stale after sync.
    assert_eq!(r.ws(&upd("BTC_USDT", 100, 102)), Ok(GateOutcome::Stale));
    let s = r.md.book(InstrumentIdx(0)).unwrap();
    let c = s.counters();
    assert!(s.is_synced());
    assert_eq!(
        (c.applied, c.stale_dropped, c.gaps, c.bridged, s.book_id()),
        (2, 2, 0, 1, 102)
    );
}

#[test]
fn live_straddle_then_strict_continuation() {
    // QTUM3S_USDT in the capture: stale updates around the snapshot, the bridge arrives live.
    let mut r = Rig::new();
    assert_eq!(r.ws(&upd("BTC_USDT", 43, 43)), Ok(GateOutcome::Buffered));
    assert_eq!(
        r.rest("BTC_USDT", &snap(51)),
        GateOutcome::Installed { replayed: 0 }
    );
    assert_eq!(r.ws(&upd("BTC_USDT", 44, 51)), Ok(GateOutcome::Stale));
    assert_eq!(r.ws(&upd("BTC_USDT", 52, 59)), Ok(GateOutcome::Applied));
    assert_eq!(r.ws(&upd("BTC_USDT", 60, 60)), Ok(GateOutcome::Applied));
    // After the bridge, an overlapping first id is not `prev u + 1`: the chain is broken.
    r.out.clear();
    assert_eq!(r.ws(&upd("BTC_USDT", 60, 62)), Ok(GateOutcome::Gap));
    assert_eq!(
        (r.out[0].kind, r.out[0].reason),
        (MdKind::BookInvalid, InvalidReason::Gap)
    );
    assert!(r.md.book(InstrumentIdx(0)).unwrap().needs_snapshot());
}

#[test]
fn gap_then_resync_from_a_new_snapshot() {
    let mut r = Rig::new();
    r.rest("BTC_USDT", &snap(10));
    assert_eq!(r.ws(&upd("BTC_USDT", 11, 12)), Ok(GateOutcome::Applied));
    r.out.clear();
    // 13 is missing.
    assert_eq!(r.ws(&upd("BTC_USDT", 14, 15)), Ok(GateOutcome::Gap));
    assert_eq!(r.out.len(), 1);
    assert_eq!(
        (r.out[0].kind, r.out[0].reason, r.out[0].instrument),
        (MdKind::BookInvalid, InvalidReason::Gap, InstrumentIdx(0))
    );
    // The gapping update is buffered; later ones too; a snapshot at 14 bridges them.
    assert_eq!(r.ws(&upd("BTC_USDT", 16, 16)), Ok(GateOutcome::Buffered));
    r.out.clear();
    assert_eq!(
        r.rest("BTC_USDT", &snap(14)),
        GateOutcome::Installed { replayed: 2 }
    );
    assert_eq!(r.applied(), [15, 16]);
    let c = r.md.book(InstrumentIdx(0)).unwrap().counters();
    assert_eq!((c.gaps, c.snapshots, c.resyncs), (1, 2, 1));
}

#[test]
fn snapshot_older_than_the_buffer_cannot_bridge() {
    let mut r = Rig::new();
    assert_eq!(r.ws(&upd("BTC_USDT", 20, 25)), Ok(GateOutcome::Buffered));
    assert_eq!(r.rest("BTC_USDT", &snap(10)), GateOutcome::NoBridge);
    assert!(
        r.out.is_empty(),
        "an unbridgeable snapshot is not published"
    );
    assert!(!r.md.book(InstrumentIdx(0)).unwrap().is_synced());
    // A newer snapshot bridges the kept update.
    assert_eq!(
        r.rest("BTC_USDT", &snap(22)),
        GateOutcome::Installed { replayed: 1 }
    );
    assert_eq!(r.applied(), [25]);
}

#[test]
fn malformed_frame_breaks_only_its_book() {
    let mut r = Rig::new();
    r.rest("BTC_USDT", &snap(10));
    r.rest("ETH_USDT", &snap(10));
    r.out.clear();
    let bad = upd("ETH_USDT", 11, 11).replace("100.5", "1e");
    let err = r.ws(&bad).unwrap_err();
    assert!(err.contains("gateio") && err.contains("ETH_USDT"), "{err}");
    assert_eq!(r.out.len(), 1);
    assert_eq!(
        (r.out[0].kind, r.out[0].reason, r.out[0].instrument),
        (
            MdKind::BookInvalid,
            InvalidReason::Malformed,
            InstrumentIdx(1)
        )
    );
    assert!(r.md.book(InstrumentIdx(0)).unwrap().is_synced());
    assert!(!r.md.book(InstrumentIdx(1)).unwrap().is_synced());
    for junk in [
        "",
        "{",
        r#"{"channel":"spot.order_book_update","event":"update","result":{"s":"BTC_USDT","U":5,"u":4}}"#,
        r#"{"channel":"spot.order_book_update","event":"update","result":7}"#,
    ] {
        let _ = r.ws(junk);
    }
    assert_eq!(
        r.ws(r#"{"time":1,"channel":"spot.trades","event":"update","result":{}}"#),
        Err("other".into())
    );
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
    let dir = std::env::var_os("LYRA_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
        });
    let Ok(text) = std::fs::read_to_string(dir.join("cryptofeed/2021-04-22_gateio/GATEIO.ws.1.0"))
    else {
        eprintln!(
            "skipping: recorded data not found at {} (set LYRA_DATA_DIR)",
            dir.display()
        );
        return;
    };
    let rest =
        std::fs::read_to_string(dir.join("cryptofeed/2021-04-22_gateio/GATEIO.http.0.0")).unwrap();
    let mut r = Rig::new();
    let mut s = 0x0bad_cafe_dead_beefu64;
    for (is_rest, l) in text
        .lines()
        .map(|l| (false, l))
        .chain(rest.lines().map(|l| (true, l)))
    {
        let Some((_, f)) = l.split_once(": ") else {
            continue;
        };
        for k in 0..16 {
            let mut b = f.as_bytes().to_vec();
            let i = (rng(&mut s) as usize) % b.len().max(1);
            if k % 2 == 0 {
                b.truncate(i);
            } else if let Some(c) = b.get_mut(i) {
                *c = b"[]{},:\"0.-x\\9"[(rng(&mut s) % 13) as usize];
            }
            let t = &r.t;
            let mut resolve = |x: &[u8]| t.resolve(V, x);
            let snap = if is_rest {
                t.resolve(V, b"BTC_USDT")
            } else {
                None
            };
            let _ = r.md.on_frame(1, &b, &mut resolve, snap, &mut r.out);
            r.out.clear();
        }
    }
}
