//! `lyra demo` against the in-process simulator: it trades (arbitrage groups and market-making
//! fills in LIVE-on-simulator mode), a scripted halt stops every order request (the simulator's
//! oracle counts none while halted), two operators resume it, and the audit chain verifies.
//! The venues speak three dialects (`alpha` Binance, `beta` OKX, `gamma` Kraken) and each one
//! receives orders. `--safe` sends no real order to any of them: Binance's go to the test
//! endpoint, Kraken's are `validate=true`, OKX's are built and checked but not sent.

use std::process::Command;

fn demo(extra: &[&str], tag: &str) -> serde_json::Value {
    let seg = format!("/dev/shm/lyra-test-demo-{tag}-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(["demo", "--duration", "8", "--json", "--segment", &seg])
        .args(extra)
        .output()
        .expect("run lyra demo");
    let _ = std::fs::remove_file(&seg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    assert!(
        stderr.contains("lyra halt --reason") && stderr.contains("DEMO GRANT"),
        "tells the user how to halt it and labels the grant: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    if let Some(dir) = report["run_dir"].as_str() {
        let _ = std::fs::remove_dir_all(dir);
    }
    report
}

fn common(r: &serde_json::Value) {
    for key in [
        "arb_groups",
        "arb_edge_net_bps",
        "mm_fills",
        "order_requests",
        "intents_by_state",
        "books_valid",
        "tick_to_order_p50_ns",
        "tick_to_order_p99_ns",
    ] {
        assert!(r.get(key).is_some(), "report has {key}: {r}");
    }
    assert_eq!(r["books_valid"]["alpha"], "3/3", "{r}");
    assert_eq!(r["halts"], 1, "{r}");
    assert_eq!(r["resumes"], 1, "{r}");
    assert_eq!(r["halted_at_end"], false, "{r}");
    assert_eq!(
        r["order_requests_during_halt"], 0,
        "no order request reached the simulator while halted: {r}"
    );
    assert_eq!(r["audit_chain_ok"], true, "{r}");
    assert_eq!(r["audit_records"], 2, "a trip and a resume: {r}");
    assert_eq!(r["threads"], 2, "compact layout: two hot threads: {r}");
    assert_eq!(
        r["dialects"],
        serde_json::json!(["binance", "okx", "kraken"]),
        "{r}"
    );
    for v in ["alpha", "beta", "gamma"] {
        assert_eq!(r["books_valid"][v], "3/3", "{v}: {r}");
    }
    // The per-venue counts add up to the totals.
    for k in ["order", "test", "cancel"] {
        let sum: u64 = ["alpha", "beta", "gamma"]
            .iter()
            .map(|v| r["order_requests_by_venue"][v][k].as_u64().unwrap())
            .sum();
        assert_eq!(Some(sum), r["order_requests"][k].as_u64(), "{k}: {r}");
    }
}

#[test]
fn demo_trades_against_the_simulator_halts_and_resumes() {
    let r = demo(&[], "live");
    common(&r);
    assert!(r["arb_groups"].as_u64().unwrap() > 0, "{r}");
    assert!(r["mm_fills"].as_u64().unwrap() > 0, "{r}");
    for v in ["alpha", "beta", "gamma"] {
        assert!(
            r["order_requests_by_venue"][v]["order"].as_u64().unwrap() > 0,
            "every dialect traded ({v}): {r}"
        );
    }
    assert!(r["tick_to_order_p50_ns"].as_u64().is_some(), "{r}");
}

#[test]
fn demo_safe_sends_only_to_the_test_endpoint() {
    let r = demo(&["--safe"], "safe");
    common(&r);
    assert_eq!(
        r["order_requests"]["order"], 0,
        "no real order on any venue: {r}"
    );
    assert!(r["order_requests"]["test"].as_u64().unwrap() > 0, "{r}");
    assert!(
        r["order_requests_by_venue"]["alpha"]["test"]
            .as_u64()
            .unwrap()
            > 0,
        "Binance's market maker quotes to /order/test: {r}"
    );
    assert_eq!(
        r["order_requests_by_venue"]["beta"]["test"], 0,
        "OKX has no test endpoint: SAFE orders are built and checked, never sent: {r}"
    );
}
