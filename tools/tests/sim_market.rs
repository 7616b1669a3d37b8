//! The market generator across the default three venues: one latent mid, each venue quoting
//! around it with its own spread and latency, books never crossed on a venue, and fee-inclusive
//! cross-venue arbitrage that opens at a low but non-zero rate (dislocations and lags).

#[allow(unused_imports)]
use lyra_tools::sim;

use sim::{config::SimConfig, Sim};

#[test]
fn venues_track_one_mid_and_arbitrage_opens_rarely() {
    let cfg = SimConfig {
        seed: 77,
        step_ms: 0,
        oracle_frames: false,
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg, None).expect("start");
    let shared = sim.shared().clone();
    assert_eq!(shared.venues.len(), 3);
    let steps = 20_000u64;
    let mut open = 0u64;
    let mut max_dev_bps = 0f64;
    for _ in 0..steps {
        shared.step_all();
        // (best bid, best ask, taker fee bps) of BTC on every venue.
        let tops: Vec<(i64, i64, i64)> = shared
            .venues
            .iter()
            .map(|v| {
                let st = v.state.lock().expect("venue lock");
                let (b, a) = st.m.top(0);
                let (b, a) = (b.expect("bid"), a.expect("ask"));
                assert!(b < a, "venue {} crossed", v.cfg.name);
                (b, a, st.m.taker_fee_bps)
            })
            .collect();
        let mid0 = (tops[0].0 + tops[0].1) as f64 / 2.0;
        for t in &tops {
            let mid = (t.0 + t.1) as f64 / 2.0;
            max_dev_bps = max_dev_bps.max(((mid - mid0) / mid0).abs() * 1e4);
        }
        // Buy on i at its ask, sell on j at its bid, both as taker.
        let arb = tops.iter().enumerate().any(|(i, buy)| {
            tops.iter().enumerate().any(|(j, sell)| {
                i != j && {
                    let cost = buy.1 as f64 * (1.0 + buy.2 as f64 / 1e4);
                    let proceeds = sell.0 as f64 * (1.0 - sell.2 as f64 / 1e4);
                    proceeds > cost
                }
            })
        });
        open += u64::from(arb);
    }
    // Venues follow one latent mid: never more than a few dislocations apart.
    assert!(
        max_dev_bps < 200.0,
        "venues drifted apart by {max_dev_bps} bps"
    );
    let rate = open as f64 / steps as f64;
    assert!(open > 0, "no fee-inclusive arbitrage in {steps} steps");
    assert!(
        rate < 0.2,
        "arbitrage open {rate:.3} of the time: unrealistically often"
    );
    eprintln!(
        "fee-inclusive arbitrage open in {open}/{steps} steps ({:.2}%)",
        rate * 100.0
    );
}
