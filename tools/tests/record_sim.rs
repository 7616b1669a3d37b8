//! `lyra record` against the loopback simulator (endpoints and CA from `lyra sim`'s
//! `--write-config` output), then `lyra replay` of the file: the recording holds the frames and
//! the REST snapshots the live handler fetched, and rebuilds every book with no gap, no checksum
//! failure, valid at the end.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{io::Read, path::Path, process::Command};

use sim::{
    config::{Dialect, SimConfig, VenueCfg},
    Sim,
};

fn lyra() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lyra"))
}

fn read_text(path: &Path) -> String {
    let f = std::fs::File::open(path).expect("open recording");
    let mut s = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(f)
            .read_to_string(&mut s)
            .expect("gunzip");
    } else {
        std::io::BufReader::new(f)
            .read_to_string(&mut s)
            .expect("read");
    }
    s
}

/// Records `symbols` of the simulator's `venue` for a few seconds into `out`, replays it and
/// checks every book.
fn record_then_replay(venue: &str, out_name: &str, symbols: &[&str]) {
    let dialect = match venue {
        "okx" => Dialect::Okx,
        "kraken" => Dialect::Kraken,
        _ => Dialect::Binance,
    };
    let cfg = SimConfig {
        seed: 5,
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
    let dir = std::env::temp_dir().join(format!(
        "lyra-record-test-{}-{}",
        std::process::id(),
        lyra_shm::clock::wall_now_ns()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("lyra.toml");
    sim.write_config(&config).expect("write config");
    let out = dir.join(out_name);
    let rec = lyra()
        .args(["record", "--venue", venue, "--symbols"])
        .arg(symbols.join(","))
        .arg("--config")
        .arg(&config)
        .args(["--duration", "3", "--out"])
        .arg(&out)
        .output()
        .expect("run lyra record");
    let stdout = String::from_utf8_lossy(&rec.stdout);
    assert!(
        rec.status.success(),
        "lyra record failed: {stdout}\n{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("summary")).expect("summary JSON");
    assert_eq!(summary["malformed"], 0, "{summary}");
    assert_eq!(summary["connection_breaks"], 0, "{summary}");
    // Binance: one REST snapshot per symbol; OKX/Kraken push theirs on the socket.
    let rest_snapshots = if venue == "binance" { symbols.len() } else { 0 };
    assert_eq!(
        summary["snapshots"].as_u64(),
        Some(rest_snapshots as u64),
        "{summary}"
    );

    // The file: `<ns> <frame>` lines, the snapshots as bare REST bodies.
    let text = read_text(&out);
    let mut snapshots = 0;
    let mut prev = 0u64;
    for line in text.lines() {
        let (ts, frame) = line.split_once(' ').expect("'<ns> <frame>'");
        let ns: u64 = ts.parse().expect("receive ns");
        assert!(ns >= prev, "receive times never go back");
        prev = ns;
        let v: serde_json::Value = serde_json::from_str(frame).expect("frame is JSON");
        if v.get("lastUpdateId").is_some() {
            snapshots += 1;
        }
    }
    assert_eq!(snapshots, rest_snapshots);
    sim.stop();

    // Replay it: no network, books rebuilt from the recorded snapshots.
    let rep = lyra()
        .args(["replay", "--venue", venue])
        .arg(&out)
        .output()
        .expect("run lyra replay");
    let stdout = String::from_utf8_lossy(&rep.stdout);
    assert!(
        rep.status.success(),
        "lyra replay failed: {stdout}\n{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    let mut seen = Vec::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).expect("replay JSON");
        let sym = v["symbol"].as_str().expect("symbol").to_owned();
        assert_eq!(v["gaps"], 0, "{line}");
        assert_eq!(v["checksum_fail"], 0, "{line}");
        assert_eq!(v["crossed"], 0, "{line}");
        assert_eq!(v["bbo_mismatch"], 0, "{line}");
        assert_eq!(v["valid_at_end"], true, "{line}");
        assert!(v["applied"].as_u64().unwrap_or(0) > 100, "{line}");
        if venue != "binance" {
            // Every recorded update's venue checksum verified on the rebuilt book.
            assert!(v["checksum_ok"].as_u64().unwrap_or(0) > 100, "{line}");
        }
        seen.push(sym);
    }
    seen.sort();
    let mut want: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen, want, "one line per recorded symbol:\n{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_one_symbol_gzip_then_replay_rebuilds_a_valid_book() {
    record_then_replay("binance", "btc.gz", &["BTCUSDT"]);
}

#[test]
fn record_three_symbols_plain_then_replay_rebuilds_every_book() {
    record_then_replay("binance", "three.txt", &["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
}

#[test]
fn record_okx_books_then_replay_verifies_every_checksum() {
    record_then_replay("okx", "okx.gz", &["BTC-USDT", "ETH-USDT"]);
}

#[test]
fn record_kraken_book_then_replay_verifies_every_checksum() {
    record_then_replay("kraken", "kraken.gz", &["BTC/USDT", "ETH/USDT"]);
}
