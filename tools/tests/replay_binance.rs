//! Acceptance tests of `lyra replay` on the real Binance captures (PROTOCOLS §a.1, SOURCES.md).
//! Each test skips, saying why, when the recorded data is absent.

use std::path::PathBuf;

use serde_json::Value;

mod replay_support;
use replay_support::*;

fn spot(dir: &std::path::Path, name: &str) -> PathBuf {
    dir.join("hftbacktest/spot").join(name)
}

fn top_is(v: &Value, bid: &str, bid_qty: &str, ask: &str, ask_qty: &str) {
    assert_eq!(v["best_bid"], bid, "{v}");
    assert_eq!(v["best_bid_qty"], bid_qty, "{v}");
    assert_eq!(v["best_ask"], ask, "{v}");
    assert_eq!(v["best_ask_qty"], ask_qty, "{v}");
}

#[test]
fn first_file_matches_the_worked_example() {
    let Some(dir) = data_dir() else { return };
    let (lines, _) = replay(
        &["--venue", "binance"],
        &[spot(&dir, "btcusdt_20240808.gz")],
    );
    assert_eq!(lines.len(), 1);
    let s = &lines[0];
    assert_eq!(s["venue"], "binance");
    assert_eq!(s["symbol"], "BTCUSDT");
    assert_eq!(s["gaps"], 0);
    assert_eq!(s["crossed"], 0);
    assert_eq!(
        s["stale_dropped"], 2,
        "lines 1 and 2 are older than the snapshot"
    );
    assert_eq!(s["bbo_checked"], 564, "PROTOCOLS: 564/564 for BTCUSDT");
    assert_eq!(s["bbo_mismatch"], 0);
    assert_eq!(s["valid_at_end"], true);
    // PROTOCOLS: end of this file u=50093421584, 61685.99 x 1.0087 / 61686.00 x 2.29327, 1209/2196.
    top_is(s, "61685.99", "1.0087", "61686", "2.29327");
    assert_eq!(
        (s["bid_levels"].as_u64(), s["ask_levels"].as_u64()),
        (Some(1209), Some(2196))
    );
}

#[test]
fn two_day_files_replay_as_one_gap_free_stream() {
    let Some(dir) = data_dir() else { return };
    let files = [
        spot(&dir, "btcusdt_20240808.gz"),
        spot(&dir, "btcusdt_20240809.gz"),
    ];
    let (lines, _) = replay(&["--venue", "binance", "--top", "1"], &files);
    let (tops, summaries): (Vec<&Value>, Vec<&Value>) =
        lines.iter().partition(|v| v.get("bids").is_some());
    assert_eq!(summaries.len(), 1);
    let s = summaries[0];
    assert_eq!(s["gaps"], 0);
    assert_eq!(s["resyncs"], 0);
    assert_eq!(s["crossed"], 0);
    assert_eq!(s["bbo_mismatch"], 0);
    assert!(s["bbo_checked"].as_u64().unwrap() > 1000, "{s}");
    assert_eq!(s["valid_at_end"], true);
    // At the day boundary (last depth event of the first file) the top is the worked example's.
    let boundary = tops
        .iter()
        .find(|t| t["seq"] == 50093421584u64)
        .expect("a top printed at the first file's last u");
    assert_eq!(boundary["valid"], true);
    assert_eq!(
        boundary["bids"][0],
        serde_json::json!(["61685.99", "1.0087"])
    );
    assert_eq!(boundary["asks"][0], serde_json::json!(["61686", "2.29327"]));
    // End of the second file: the state the exact replay reaches (every one of the >1000
    // bookTicker cross-checks on the way agreed with it).
    top_is(s, "61602.01", "1.67177", "61602.02", "2.66795");
    // Every printed top after a valid message is uncrossed.
    for t in &tops {
        if t["valid"] == true {
            let bid: f64 = t["bids"][0][0].as_str().unwrap().parse().unwrap();
            let ask: f64 = t["asks"][0][0].as_str().unwrap().parse().unwrap();
            assert!(bid < ask, "{t}");
        }
    }
}

#[test]
fn second_file_alone_is_never_valid_and_says_so() {
    let Some(dir) = data_dir() else { return };
    let (lines, stderr) = replay(
        &["--venue", "binance"],
        &[spot(&dir, "btcusdt_20240809.gz")],
    );
    assert_eq!(lines.len(), 1);
    let s = &lines[0];
    assert_eq!(s["valid_at_end"], false);
    assert_eq!(s["applied"], 0);
    assert_eq!(s["book_msgs"], 0);
    assert_eq!(s["bbo_checked"], 0);
    assert_eq!(s["best_bid"], Value::Null);
    assert!(stderr.contains("no valid book"), "{stderr}");
}

#[test]
fn cryptofeed_capture_syncs_every_symbol() {
    let Some(dir) = data_dir() else { return };
    let d = dir.join("cryptofeed/2021-10-12_binance");
    let (lines, _) = replay(
        &["--venue", "binance", "--format", "cryptofeed"],
        &[d.join("BINANCE.ws.1.0"), d.join("BINANCE.http.0.0")],
    );
    let mut symbols: Vec<&str> = lines
        .iter()
        .map(|l| l["symbol"].as_str().unwrap())
        .collect();
    symbols.sort_unstable();
    assert_eq!(symbols, ["BLZETH", "LRCBTC", "NKNUSDT", "RUNEEUR"]);
    for s in &lines {
        assert_eq!(s["gaps"], 0, "{s}");
        assert_eq!(s["crossed"], 0, "{s}");
        assert_eq!(s["bbo_mismatch"], 0, "{s}");
        assert_eq!(s["malformed"], 0, "{s}");
        assert_eq!(s["valid_at_end"], true, "{s}");
    }
    let checked: u64 = lines
        .iter()
        .map(|s| s["bbo_checked"].as_u64().unwrap())
        .sum();
    assert!(checked > 0, "some bookTicker cross-checks ran");
}

#[test]
fn malformed_lines_are_counted_and_invalidate_never_crash() {
    let Some(dir) = data_dir() else { return };
    // The first 40 lines of the real capture with a broken depth line and a garbage line.
    use std::io::{BufRead, Write};
    let src = std::fs::File::open(spot(&dir, "btcusdt_20240808.gz")).unwrap();
    let lines: Vec<String> = std::io::BufReader::new(flate2::read::GzDecoder::new(src))
        .lines()
        .take(40)
        .map(Result::unwrap)
        .collect();
    let tmp =
        std::env::temp_dir().join(format!("lyra_replay_malformed_{}.txt", std::process::id()));
    let mut f = std::fs::File::create(&tmp).unwrap();
    for (i, l) in lines.iter().enumerate() {
        if i == 30 {
            writeln!(
                f,
                "123 {{\"stream\":\"btcusdt@depth@100ms\",\"data\":{{\"e\":\"depthUpdate\""
            )
            .unwrap();
            writeln!(f, "not a record").unwrap();
            f.write_all(b"124 {\"stream\":\"\xff\xfe\"}\n").unwrap();
        }
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let (out, stderr) = replay(&["--venue", "binance"], std::slice::from_ref(&tmp));
    let _ = std::fs::remove_file(&tmp);
    let s = &out[0];
    assert_eq!(s["malformed"], 3, "{s}");
    assert!(stderr.contains("binance"), "{stderr}");
    assert!(
        stderr.contains(":31:"),
        "the line number is named: {stderr}"
    );
    // The book was broken by the bad line and no later snapshot exists in the excerpt.
    assert_eq!(s["valid_at_end"], false);
}
