//! Issue 6, acceptance: the engine against the simulator with dislocations (`lyra demo`, LIVE on
//! the simulator, its default venues: `alpha` Binance, `beta` OKX, `gamma` Kraken). Checked
//! against what the engine sent (`--intent-log`) and what the simulator received (its oracle):
//! - every arbitrage group sent was profitable after both taker fees at send time: its two legs'
//!   limits alone (fills can only be at or better than them) clear the fees;
//! - every leg reached the simulator, decided on a synced book no older than the configured age:
//!   the venue's update id when the request arrived is never before the one the decision saw, and
//!   the first update the decision did not see was published at most 1.5 s before the request
//!   arrived (the oracle logs every published frame with its time, so this is measured in time,
//!   not in update ids, whose count per step varies). Binance (`U`/`u`) and OKX
//!   (`prevSeqId`/`seqId`) books carry the venue's update ids; Kraken's carry none (its
//!   integrity is the checksum alone, PROTOCOLS §c), so its books are seq 0 in the engine and a
//!   Kraken leg is checked in time: decided before it arrived, and arrived within the age;
//! - no order request reached the simulator while halted;
//! - the arbitrage crossed dialects: groups with legs on at least two different dialects.

use std::{collections::HashMap, process::Command};

use lyra_oms::clordid::ClOrdId;

/// Taker fees of the demo's venues (alpha, beta, gamma), ppm.
const TAKER_PPM: [i128; 3] = [200, 300, 400];
/// The demo's `max_book_age_ms`, in ns.
const MAX_AGE_NS: u64 = 1_500_000_000;

#[test]
fn every_arbitrage_group_sent_was_profitable_on_fresh_books_and_none_while_halted() {
    let seg = format!("/dev/shm/lyra-test-demo-oracle-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args([
            "demo",
            "--duration",
            "8",
            "--json",
            "--intent-log",
            "--segment",
            &seg,
        ])
        .output()
        .expect("run lyra demo");
    let _ = std::fs::remove_file(&seg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("report");
    assert_eq!(report["order_requests_during_halt"], 0, "{report}");
    let run_dir = report["run_dir"].as_str().unwrap().to_owned();
    let read = |p: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    };
    let intents = read(&format!("{run_dir}/intents.jsonl"));
    let oracle = read(report["oracle"].as_str().unwrap());

    let dialects: Vec<String> = report["dialects"]
        .as_array()
        .expect("the report names each venue's dialect")
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(dialects.len(), 3, "{report}");

    // New-order endpoints of each dialect, as the oracle logs them.
    const NEW_ORDER: [&str; 3] = [
        "/api/v3/order",
        "/api/v5/trade/order",
        "POST /0/private/AddOrder",
    ];
    // What reached a new-order endpoint, by intent sequence: (venue, symbol, time, venue's
    // update id).
    let mut arrived: HashMap<u64, (String, String, u64, u64)> = HashMap::new();
    // Depth updates published, per (venue, symbol): (last update id, time), in publish order.
    let mut published: HashMap<(String, String), Vec<(u64, u64)>> = HashMap::new();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    for r in &oracle {
        let new_order = NEW_ORDER.iter().any(|e| r["endpoint"] == *e);
        if r["kind"] == "request" && r["method"] == "POST" && new_order {
            let id = r["client_order_id"].as_str().unwrap_or_default();
            if let Ok(seq) = ClOrdId::parse_seq("demo", id.as_bytes()) {
                let (t, at) = (
                    r["t_ns"].as_u64().unwrap(),
                    r["book_seq"].as_u64().unwrap_or(0),
                );
                arrived.insert(seq, (text(&r["venue"]), text(&r["symbol"]), t, at));
            }
        } else if r["kind"] == "frame" && r["stream"] == "depthUpdate" {
            let data: serde_json::Value =
                serde_json::from_str(r["data"].as_str().unwrap()).expect("frame data");
            // The symbol as each dialect spells it in a depth frame (and the oracle in a request).
            let symbol = [
                &data["s"],
                &data["arg"]["instId"],
                &data["data"][0]["symbol"],
            ]
            .into_iter()
            .find_map(|s| s.as_str())
            .unwrap_or_else(|| panic!("depth frame without a symbol: {data}"))
            .to_owned();
            published
                .entry((text(&r["venue"]), symbol))
                .or_default()
                .push((r["seq"].as_u64().unwrap(), r["t_ns"].as_u64().unwrap()));
        }
    }
    assert!(!published.is_empty(), "the oracle logged the depth frames");

    // Arbitrage legs: the first buy and sell of each group of strategy 0 (later orders of the
    // group are hedges/unwinds).
    let mut legs: HashMap<u64, (Option<&serde_json::Value>, Option<&serde_json::Value>)> =
        HashMap::new();
    for i in &intents {
        if i["strategy"] != 0 || i["action"] != "New" {
            continue;
        }
        let e = legs.entry(i["group_id"].as_u64().unwrap()).or_default();
        match i["side"].as_str() {
            Some("Buy") if e.0.is_none() => e.0 = Some(i),
            Some("Sell") if e.1.is_none() => e.1 = Some(i),
            _ => {}
        }
    }
    let mut groups = 0;
    let mut cross_dialect = 0;
    for (g, (buy, sell)) in &legs {
        let (Some(b), Some(s)) = (buy, sell) else {
            continue;
        };
        if b["qty"] != s["qty"] {
            continue;
        }
        groups += 1;
        let dialect = |leg: &serde_json::Value| &dialects[leg["venue"].as_u64().unwrap() as usize];
        if dialect(b) != dialect(s) {
            cross_dialect += 1;
        }
        let f = |v: &serde_json::Value, k: &str| v[k].as_i64().unwrap() as i128;
        let qty = f(b, "qty");
        let fee_b = TAKER_PPM[b["venue"].as_u64().unwrap() as usize];
        let fee_s = TAKER_PPM[s["venue"].as_u64().unwrap() as usize];
        let net = f(s, "px") * qty * (1_000_000 - fee_s) - f(b, "px") * qty * (1_000_000 + fee_b);
        assert!(net > 0, "group {g}: legs {b} / {s} lose after fees ({net})");
        for leg in [b, s] {
            let seq = leg["intent_seq"].as_u64().unwrap();
            let seen = leg["book_seq"].as_u64().unwrap();
            let (venue, symbol, t, at) = arrived
                .get(&seq)
                .unwrap_or_else(|| panic!("group {g}: leg {seq} never reached the simulator"));
            if dialect(leg) == "kraken" {
                // No update ids on Kraken: the decision's time against the arrival's.
                let decided = leg["decided_ts"].as_u64().unwrap();
                assert!(
                    *t >= decided && t - decided <= MAX_AGE_NS,
                    "group {g}: Kraken leg {seq} on {venue} {symbol} decided at {decided}, \
                     arrived at {t}"
                );
                continue;
            }
            assert!(seen > 0, "group {g}: decided on a book never synced: {leg}");
            assert!(
                *at >= seen,
                "group {g}: leg {seq} decided on update {seen}, after the venue's {at}"
            );
            if *at == seen {
                continue;
            }
            // The first update the decision had not seen: its age when the request arrived.
            let frames = &published[&(venue.clone(), symbol.clone())];
            let next = frames.iter().find(|(last, _)| *last > seen);
            let (next_id, next_t) = next.unwrap_or_else(|| {
                panic!("group {g}: {venue} {symbol} update after {seen} not in the oracle")
            });
            let age = t.saturating_sub(*next_t);
            assert!(
                age <= MAX_AGE_NS,
                "group {g}: leg {seq} on {venue} {symbol} decided on update {seen}; update \
                 {next_id} was published {age} ns before the request arrived (venue at {at})"
            );
        }
    }
    assert!(groups > 0, "the dislocations produced arbitrage groups");
    let mixed = dialects.iter().any(|d| d != &dialects[0]);
    assert!(
        !mixed || cross_dialect > 0,
        "venues of dialects {dialects:?}: no group crossed dialects ({groups} groups)"
    );
    let _ = std::fs::remove_dir_all(&run_dir);
}
