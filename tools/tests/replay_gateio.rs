//! Acceptance tests of `lyra replay --venue gateio` on the real capture
//! (`cryptofeed/2021-04-22_gateio/`: `spot.order_book_update` in `GATEIO.ws.1.0`, REST snapshots
//! with `id` in `GATEIO.http.0.0`): exactly the 8 pairs that have an update bridging their
//! snapshot sync and end valid with no gap; without snapshots nothing is ever published; a lost
//! update is a gap. Each test skips, saying why, when the recorded data is absent.

use std::path::{Path, PathBuf};

mod replay_support;
use replay_support::*;

fn files(dir: &Path) -> [PathBuf; 2] {
    let d = dir.join("cryptofeed/2021-04-22_gateio");
    [d.join("GATEIO.ws.1.0"), d.join("GATEIO.http.0.0")]
}

/// Pairs with an update straddling the snapshot `id` (`U <= id+1 <= u`). The other two,
/// INK_USDT and BTC_USDC, get no update after their snapshot in the 30 s capture.
const BRIDGED: [&str; 8] = [
    "HAI_ETH",
    "QTUM3S_USDT",
    "FAST_USDT",
    "OMG_USDT",
    "ZKS_ETH",
    "NEO_BTC",
    "DIS_USDT",
    "NANO_USDT",
];
const SNAPSHOT_ONLY: [&str; 2] = ["INK_USDT", "BTC_USDC"];

#[test]
fn exactly_the_bridged_pairs_sync_without_gaps() {
    let Some(dir) = data_dir() else { return };
    let (lines, _) = replay(
        &["--venue", "gateio", "--format", "cryptofeed"],
        &files(&dir),
    );
    assert_eq!(lines.len(), 10, "{lines:?}");
    let mut bridged: Vec<&str> = lines
        .iter()
        .filter(|s| s["applied"].as_u64().unwrap() > 0)
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    bridged.sort_unstable();
    let mut want = BRIDGED.to_vec();
    want.sort_unstable();
    assert_eq!(bridged, want);
    for sym in BRIDGED {
        let s = line(&lines, sym);
        assert_eq!(s["venue"], "gateio");
        assert_eq!(
            (
                s["gaps"].as_u64(),
                s["resyncs"].as_u64(),
                s["crossed"].as_u64(),
                s["malformed"].as_u64()
            ),
            (Some(0), Some(0), Some(0), Some(0)),
            "{s}"
        );
        assert_eq!(s["valid_at_end"], true, "{s}");
    }
    for sym in SNAPSHOT_ONLY {
        // The snapshot is installed (its updates before it were stale), nothing bridged it.
        let s = line(&lines, sym);
        assert_eq!(
            (s["applied"].as_u64(), s["gaps"].as_u64()),
            (Some(0), Some(0)),
            "{s}"
        );
        assert!(s["stale_dropped"].as_u64().unwrap() > 0, "{s}");
    }
    // QTUM3S_USDT: two updates older than the snapshot, then the live bridge.
    let q = line(&lines, "QTUM3S_USDT");
    assert_eq!(
        (q["stale_dropped"].as_u64(), q["applied"].as_u64()),
        (Some(2), Some(16)),
        "{q}"
    );
}

#[test]
fn without_snapshots_nothing_is_published() {
    let Some(dir) = data_dir() else { return };
    let [ws, _] = files(&dir);
    let (lines, _) = replay(&["--venue", "gateio", "--format", "cryptofeed"], &[ws]);
    // Every update stays buffered waiting for a snapshot: no book event is ever emitted, so
    // the driver has no book (and prints no line) for any pair.
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn a_lost_update_is_a_gap() {
    let Some(dir) = data_dir() else { return };
    let [ws, rest] = files(&dir);
    let mut seen = 0;
    // Drop the 5th OMG_USDT update (well after its bridge).
    let tmp = edited_copy(&ws, "gateio_gap", |_, l| {
        if l.contains(r#""s":"OMG_USDT""#) && l.contains(r#""event":"update""#) {
            seen += 1;
            if seen == 5 {
                return None;
            }
        }
        Some(l.to_owned())
    });
    let (lines, _) = replay(
        &["--venue", "gateio", "--format", "cryptofeed"],
        &[tmp.clone(), rest],
    );
    let _ = std::fs::remove_file(&tmp);
    let s = line(&lines, "OMG_USDT");
    assert_eq!(
        (s["gaps"].as_u64(), s["resyncs"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    assert_eq!(s["valid_at_end"], false, "no later snapshot: {s}");
    let other = line(&lines, "NEO_BTC");
    assert_eq!(
        (other["gaps"].as_u64(), other["valid_at_end"].as_bool()),
        (Some(0), Some(true)),
        "{other}"
    );
}
