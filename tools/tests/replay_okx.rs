//! Acceptance tests of `lyra replay --venue okx` on the real capture
//! (`cryptofeed/2022-05-13_okx/OKX.ws.1.0`, books channel, pre-seqId): every checksum verifies
//! for every instrument, a malformed frame breaks only its own book, and a checksum mismatch
//! invalidates the book. Each test skips, saying why, when the recorded data is absent.

use std::path::{Path, PathBuf};

mod replay_support;
use replay_support::*;

fn capture(dir: &Path) -> PathBuf {
    dir.join("cryptofeed/2022-05-13_okx/OKX.ws.1.0")
}

const INSTRUMENTS: [&str; 3] = ["BTC-USDT", "BTC-USD-220527", "UNI-USD-SWAP"];

#[test]
fn every_books_checksum_verifies_for_every_instrument() {
    let Some(dir) = data_dir() else { return };
    let (lines, _) = replay(
        &["--venue", "okx", "--format", "cryptofeed"],
        &[capture(&dir)],
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    let mut total = 0;
    for sym in INSTRUMENTS {
        let s = line(&lines, sym);
        assert_eq!(s["venue"], "okx");
        assert_eq!(s["checksum_fail"], 0, "{s}");
        // One snapshot plus its updates, each with a checksum.
        assert_eq!(s["checksum_ok"], s["frames"], "{s}");
        assert_eq!(
            s["applied"].as_u64().unwrap() + 1,
            s["frames"].as_u64().unwrap(),
            "{s}"
        );
        assert_eq!(
            (
                s["gaps"].as_u64(),
                s["crossed"].as_u64(),
                s["malformed"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "{s}"
        );
        assert_eq!(s["valid_at_end"], true, "{s}");
        total += s["checksum_ok"].as_u64().unwrap();
    }
    // PROTOCOLS §b.3: 290/290 books messages verify.
    assert_eq!(total, 290);
    let btc = line(&lines, "BTC-USDT");
    assert_eq!(
        (btc["bid_levels"].as_u64(), btc["ask_levels"].as_u64()),
        (Some(400), Some(400))
    );
}

#[test]
fn malformed_frame_breaks_only_its_book() {
    let Some(dir) = data_dir() else { return };
    let mut done = false;
    let mut bad_line = 0;
    let tmp = edited_copy(&capture(&dir), "okx_malformed", |n, l| {
        if !done && l.contains(r#""instId":"BTC-USDT"},"action":"update""#) {
            done = true;
            bad_line = n;
            return Some(l.replacen(r#""asks":[[""#, r#""asks":[["x"#, 1));
        }
        Some(l.to_owned())
    });
    let (lines, stderr) = replay(
        &["--venue", "okx", "--format", "cryptofeed"],
        std::slice::from_ref(&tmp),
    );
    let _ = std::fs::remove_file(&tmp);
    let btc = line(&lines, "BTC-USDT");
    assert_eq!(btc["malformed"], 1, "{btc}");
    assert_eq!(btc["valid_at_end"], false, "no later snapshot: {btc}");
    assert_eq!(
        btc["checksum_fail"], 0,
        "a broken book is not checked: {btc}"
    );
    assert!(
        stderr.contains("okx")
            && stderr.contains("BTC-USDT")
            && stderr.contains(&format!(":{bad_line}:")),
        "{stderr}"
    );
    for sym in ["BTC-USD-220527", "UNI-USD-SWAP"] {
        let s = line(&lines, sym);
        assert_eq!(
            (s["malformed"].as_u64(), s["checksum_fail"].as_u64()),
            (Some(0), Some(0)),
            "{s}"
        );
        assert_eq!(s["valid_at_end"], true, "{s}");
    }
}

#[test]
fn checksum_mismatch_invalidates_the_book() {
    let Some(dir) = data_dir() else { return };
    let mut done = false;
    // Change the size of the first ask of the first BTC-USDT update: still valid JSON and a
    // valid decimal, but no longer the venue's book.
    let tmp = edited_copy(&capture(&dir), "okx_mismatch", |_, l| {
        if !done && l.contains(r#""instId":"BTC-USDT"},"action":"update""#) {
            done = true;
            let i = l.find(r#""asks":[[""#).unwrap() + r#""asks":[[""#.len();
            let j = i + l[i..].find(r#"",""#).unwrap() + 3;
            return Some(format!("{}9{}", &l[..j], &l[j..]));
        }
        Some(l.to_owned())
    });
    let (lines, _) = replay(
        &["--venue", "okx", "--format", "cryptofeed"],
        std::slice::from_ref(&tmp),
    );
    let _ = std::fs::remove_file(&tmp);
    let btc = line(&lines, "BTC-USDT");
    assert_eq!(btc["checksum_fail"], 1, "{btc}");
    assert_eq!(btc["checksum_ok"], 1, "only the snapshot verified: {btc}");
    assert_eq!(btc["valid_at_end"], false, "{btc}");
    assert_eq!(line(&lines, "UNI-USD-SWAP")["checksum_fail"], 0);
}
