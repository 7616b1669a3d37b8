//! Acceptance tests of `lyra replay --venue kraken` on the real WS v1 capture
//! (`cryptofeed/2021-04-17_kraken/KRAKEN.ws.50.0`, book-1000, 10 pairs, with the AssetPairs REST
//! response `KRAKEN.0`): every update checksum verifies for every pair; the checksum text
//! precision comes from the wire (it verifies without AssetPairs too); a changed quantity is
//! caught as a checksum mismatch; a malformed frame breaks only its own book. Each test skips,
//! saying why, when the recorded data is absent.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod replay_support;
use replay_support::*;

fn files(dir: &Path) -> [PathBuf; 2] {
    let d = dir.join("cryptofeed/2021-04-17_kraken");
    [d.join("KRAKEN.ws.50.0"), d.join("KRAKEN.0")]
}

const PAIRS: [&str; 10] = [
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
];

fn all_verify(lines: &[Value]) -> u64 {
    assert_eq!(lines.len(), PAIRS.len(), "{lines:?}");
    let mut total = 0;
    for pair in PAIRS {
        let s = line(lines, pair);
        assert_eq!(s["venue"], "kraken");
        assert_eq!(s["checksum_fail"], 0, "{s}");
        let ok = s["checksum_ok"].as_u64().unwrap();
        assert!(ok > 0, "{s}");
        // v1: one snapshot (no checksum), then every update carries one.
        assert_eq!(ok, s["applied"].as_u64().unwrap(), "{s}");
        assert_eq!(ok + 1, s["frames"].as_u64().unwrap(), "{s}");
        assert_eq!(
            (s["crossed"].as_u64(), s["malformed"].as_u64()),
            (Some(0), Some(0)),
            "{s}"
        );
        assert_eq!(s["valid_at_end"], true, "{s}");
        total += ok;
    }
    total
}

#[test]
fn every_update_checksum_verifies_for_every_pair() {
    let Some(dir) = data_dir() else { return };
    let (lines, _) = replay(
        &["--venue", "kraken", "--format", "cryptofeed"],
        &files(&dir),
    );
    // PROTOCOLS §c.2: all 4,269 update checksums in this file verify.
    assert_eq!(all_verify(&lines), 4269);
    // Scales from AssetPairs: XBT/CHF pair_decimals 1 (the wire says "56060.30000").
    let x = line(&lines, "XBT/CHF");
    assert!(
        x["best_bid"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .map_or(0, str::len)
            <= 1,
        "{x}"
    );
}

#[test]
fn checksum_precision_comes_from_the_wire() {
    let Some(dir) = data_dir() else { return };
    // Without AssetPairs the mantissa scales fall back to 10/8 decimals; the check string is
    // still rendered at the precision Kraken printed.
    let [ws, _] = files(&dir);
    let (lines, _) = replay(&["--venue", "kraken", "--format", "cryptofeed"], &[ws]);
    assert_eq!(all_verify(&lines), 4269);
}

/// The first book update line for `pair` (`[id,{"a"|"b":..}..,"book-1000","<pair>"]`).
fn is_update(l: &str, pair: &str) -> bool {
    l.ends_with(&format!(r#""book-1000","{pair}"]"#))
        && !l.contains(r#""as""#)
        && (l.contains(r#"{"a""#) || l.contains(r#"{"b""#))
}

#[test]
fn changed_quantity_is_a_checksum_mismatch() {
    let Some(dir) = data_dir() else { return };
    let [ws, rest] = files(&dir);
    let mut done = false;
    let tmp = edited_copy(&ws, "kraken_mismatch", |_, l| {
        if !done && is_update(l, "XMR/USD") {
            done = true;
            // The first level's volume "v.vvvvvvvv" gets a different last digit.
            let i = l.find(r#"[[""#).unwrap() + 3;
            let j = i + l[i..].find(r#"",""#).unwrap() + 3;
            let k = j + l[j..].find('"').unwrap();
            let last = l.as_bytes()[k - 1];
            let new = if last == b'1' { '2' } else { '1' };
            return Some(format!("{}{}{}", &l[..k - 1], new, &l[k..]));
        }
        Some(l.to_owned())
    });
    assert!(done, "no XMR/USD update found");
    let (lines, _) = replay(
        &["--venue", "kraken", "--format", "cryptofeed"],
        &[tmp.clone(), rest],
    );
    let _ = std::fs::remove_file(&tmp);
    let s = line(&lines, "XMR/USD");
    assert_eq!(s["checksum_fail"], 1, "{s}");
    assert_eq!(s["checksum_ok"], 0, "{s}");
    // Kraken v1 sends no second snapshot: the book stays invalid.
    assert_eq!(s["valid_at_end"], false, "{s}");
    assert_eq!(line(&lines, "XBT/CHF")["checksum_fail"], 0);
}

#[test]
fn malformed_frame_breaks_only_its_book() {
    let Some(dir) = data_dir() else { return };
    let [ws, rest] = files(&dir);
    let mut done = false;
    let mut bad_line = 0;
    let tmp = edited_copy(&ws, "kraken_malformed", |n, l| {
        if !done && is_update(l, "SC/EUR") {
            done = true;
            bad_line = n;
            return Some(l.replacen(r#"[[""#, r#"[["?"#, 1));
        }
        Some(l.to_owned())
    });
    let (lines, stderr) = replay(
        &["--venue", "kraken", "--format", "cryptofeed"],
        &[tmp.clone(), rest],
    );
    let _ = std::fs::remove_file(&tmp);
    let s = line(&lines, "SC/EUR");
    assert_eq!(s["malformed"], 1, "{s}");
    assert_eq!(s["valid_at_end"], false, "{s}");
    assert_eq!(s["checksum_fail"], 0, "a broken book is not checked: {s}");
    assert!(
        stderr.contains("kraken")
            && stderr.contains("SC/EUR")
            && stderr.contains(&format!(":{bad_line}:")),
        "{stderr}"
    );
    for pair in PAIRS.iter().filter(|p| **p != "SC/EUR") {
        let o = line(&lines, pair);
        assert_eq!(
            (
                o["malformed"].as_u64(),
                o["checksum_fail"].as_u64(),
                o["valid_at_end"].as_bool()
            ),
            (Some(0), Some(0), Some(true)),
            "{o}"
        );
    }
}
