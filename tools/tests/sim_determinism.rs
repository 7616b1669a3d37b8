//! Determinism: the same seed gives the same published frames — compared by hash on the
//! simulator side and on the bytes a WebSocket client receives; another seed gives others.

#[allow(unused_imports)]
use lyra_tools::sim;
mod sim_support;

use sim::venue::fnv;
use sim_support::{manual_sim, next_text, send, ws};

/// Steps a fresh simulator and returns (server-side hash, hash of the frames a client received).
fn run(seed: u64) -> (u64, u64) {
    let sim = manual_sim(seed);
    let mut c = ws(
        &sim,
        "/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@trade/ethusdt@depth",
    );
    // The reply proves the subscription is registered before we step.
    send(&mut c, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#);
    let list = next_text(&mut c).expect("list");
    assert!(list.contains("btcusdt@trade"), "{list}");
    sim.step(300);
    // Count what the server published for these streams, then read exactly that many frames.
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    let mut n = 0;
    let mut last_depth_u = 0u64;
    while n < 300 {
        let f = next_text(&mut c).expect("frame");
        h = fnv(h, f.as_bytes());
        if f.starts_with(r#"{"stream":"btcusdt@depth@100ms""#) {
            n += 1;
            let v: serde_json::Value = serde_json::from_str(&f).expect("json");
            let (first, last) = (
                v["data"]["U"].as_u64().unwrap(),
                v["data"]["u"].as_u64().unwrap(),
            );
            if last_depth_u != 0 {
                assert_eq!(first, last_depth_u + 1, "U must follow the previous u");
            }
            last_depth_u = last;
        }
    }
    (sim.frames_hash(0), h)
}

#[test]
fn same_seed_same_frames_other_seed_other_frames() {
    let a = run(42);
    let b = run(42);
    let c = run(43);
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
}
