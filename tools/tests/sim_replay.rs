//! `lyra sim --replay FILE`: record the simulator's market with `lyra record` (Binance, OKX,
//! Kraken), serve that capture from a `lyra sim --replay` process (recorded pacing; Binance's
//! recorded REST snapshots, OKX's and Kraken's snapshot frames), record it again, and `lyra
//! replay` both files: the second rebuilds every book with no gap and no checksum failure, valid
//! at the end, and ends on exactly the first one's book.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use serde_json::Value;
use sim::{
    config::{Dialect, SimConfig, VenueCfg},
    Sim,
};

fn lyra() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lyra"))
}

/// `lyra record` of `symbols` on `venue` of `config` into `out`.
fn record(venue: &str, symbols: &str, config: &Path, out: &Path, secs: &str) {
    let rec = lyra()
        .args(["record", "--venue", venue, "--symbols", symbols])
        .arg("--config")
        .arg(config)
        .args(["--duration", secs, "--out"])
        .arg(out)
        .output()
        .expect("run lyra record");
    assert!(
        rec.status.success(),
        "lyra record failed: {}\n{}",
        String::from_utf8_lossy(&rec.stdout),
        String::from_utf8_lossy(&rec.stderr)
    );
}

/// `lyra replay` of `file`: its JSON line per symbol.
fn replay(venue: &str, file: &Path) -> BTreeMap<String, Value> {
    let rep = lyra()
        .args(["replay", "--venue", venue])
        .arg(file)
        .output()
        .expect("run lyra replay");
    let stdout = String::from_utf8_lossy(&rep.stdout);
    assert!(rep.status.success(), "lyra replay failed: {stdout}");
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("replay JSON");
            (v["symbol"].as_str().expect("symbol").to_string(), v)
        })
        .collect()
}

/// Kills the `lyra sim` child when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Record `venue`, replay the capture through `lyra sim --replay` (`--replay-fast` if `fast`),
/// record again, compare.
fn round_trip(venue: &str, dialect: Dialect, symbols: [&str; 2], fast: bool) {
    let joined = symbols.join(",");
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "lyra-sim-replay-test-{venue}-{}-{}",
        std::process::id(),
        lyra_shm::clock::wall_now_ns()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    // 1. A capture of the generated market.
    let cfg = SimConfig {
        seed: 8,
        step_ms: 2,
        oracle_frames: false,
        venues: vec![VenueCfg {
            name: venue.into(),
            dialect,
            ..VenueCfg::default()
        }],
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg, None).expect("simulator");
    let first_cfg = dir.join("first.toml");
    sim.write_config(&first_cfg).expect("write config");
    let first = dir.join("first.gz");
    record(venue, &joined, &first_cfg, &first, "2");
    sim.stop();

    // 2. `lyra sim --replay` of it, recorded again.
    let second_cfg = dir.join("second.toml");
    let mut child = Reaped(
        lyra()
            .arg("sim")
            .arg("--replay")
            .arg(&first)
            .args(["--replay-venue", venue, "--duration", "120"])
            .args(fast.then_some("--replay-fast"))
            .arg("--write-config")
            .arg(&second_cfg)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lyra sim"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut frames = 0u64;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("sim output");
        if let Some(rest) = line.strip_prefix("replay ") {
            frames = rest
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("frame count");
        }
        if line.starts_with("config ") {
            break;
        }
    }
    assert!(frames > 100, "the capture's frames are replayed: {frames}");
    let second = dir.join("second.gz");
    // The replay starts when the recorder subscribes and lasts as long as the capture (2 s).
    record(venue, &joined, &second_cfg, &second, "6");
    drop(child);

    // 3. Both captures rebuild the same books, the second with no gap.
    let a = replay(venue, &first);
    let b = replay(venue, &second);
    assert_eq!(a.keys().collect::<Vec<_>>(), symbols, "{a:?}");
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (sym, v) in &b {
        assert_eq!(v["gaps"], 0, "{sym}: {v}");
        assert_eq!(v["crossed"], 0, "{sym}: {v}");
        assert_eq!(v["checksum_fail"], 0, "{sym}: {v}");
        assert_eq!(v["bbo_mismatch"], 0, "{sym}: {v}");
        assert_eq!(v["valid_at_end"], true, "{sym}: {v}");
        assert!(v["applied"].as_u64().unwrap_or(0) > 50, "{sym}: {v}");
        for k in [
            "best_bid",
            "best_bid_qty",
            "best_ask",
            "best_ask_qty",
            "bid_levels",
            "ask_levels",
        ] {
            assert_eq!(
                v[k], a[sym][k],
                "{sym} {k}: replayed {v} vs original {}",
                a[sym]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binance_capture_replayed_through_the_simulator() {
    // Recorded pacing: the 2 s capture plays out well inside the 6 s recording.
    round_trip("binance", Dialect::Binance, ["BTCUSDT", "ETHUSDT"], false);
}

#[test]
fn okx_capture_replayed_through_the_simulator() {
    round_trip("okx", Dialect::Okx, ["BTC-USDT", "ETH-USDT"], true);
}

#[test]
fn kraken_capture_replayed_through_the_simulator() {
    round_trip("kraken", Dialect::Kraken, ["BTC/USDT", "ETH/USDT"], true);
}
