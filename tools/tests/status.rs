//! `lyra status` from the control segment, in JSON and in text: latency percentiles computed
//! from the histograms (nothing for paths without samples), and which venues' market data is
//! down now and how often each went down (written by the engine's book stage).

use std::{path::PathBuf, process::Command};

use lyra_shm::{
    control::{ControlSegment, Hist, HistSnapshot},
    msg::VenueId,
};
use serde_json::{json, Value};

/// A unique segment path under /dev/shm, removed on drop.
struct Seg(PathBuf);

impl Drop for Seg {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("audit.jsonl"));
    }
}

fn lyra(seg: &Seg, args: &[&str]) -> String {
    let audit = seg.0.with_extension("audit.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(args)
        .arg("--segment")
        .arg(&seg.0)
        .arg("--audit")
        .arg(&audit)
        .output()
        .expect("run lyra");
    assert!(
        out.status.success(),
        "lyra {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn status_shows_percentiles_from_the_histograms() {
    let seg = Seg(PathBuf::from(format!(
        "/dev/shm/lyra-status-latency-{}-{}",
        std::process::id(),
        lyra_shm::clock::mono_now_ns()
    )));
    lyra(&seg, &["segment", "create"]);
    let s: Value = serde_json::from_str(&lyra(&seg, &["status", "--json"])).unwrap();
    for h in Hist::ALL {
        let l = &s["latency"][h.name()];
        assert_eq!(l["count"], 0, "{}: {l}", h.name());
        assert!(
            l["p50_ns"].is_null(),
            "{}: no samples, no percentile",
            h.name()
        );
    }

    // 980 samples of 1 us, 18 of 100 us, 2 of 10 ms: p50 in the 1 us bucket, p99 (rank 990) in
    // the 100 us one, p99.9 (rank 999) in the 10 ms one, each reported as its bucket's bound.
    let mut h = HistSnapshot::default();
    for _ in 0..980 {
        h.record(1_000);
    }
    for _ in 0..18 {
        h.record(100_000);
    }
    for _ in 0..2 {
        h.record(10_000_000);
    }
    let w = ControlSegment::open_with(&seg.0, false).unwrap();
    w.publish_histogram(Hist::TickToOrder, &h.counts, h.sum_ns)
        .unwrap();

    let s: Value = serde_json::from_str(&lyra(&seg, &["status", "--json"])).unwrap();
    let l = &s["latency"]["tick_to_order"];
    assert_eq!(l["count"], 1_000);
    assert_eq!(l["sum_ns"], 980_000 + 1_800_000 + 20_000_000);
    assert_eq!(l["mean_ns"], 22_780);
    assert_eq!(l["p50_ns"], 1_024);
    assert_eq!(l["p99_ns"], 131_072);
    assert_eq!(l["p999_ns"], 11_863_283); // ⌊2^23 · √2⌋, the bucket above 8.39 ms
    assert_eq!(s["latency"]["frame_to_book"]["count"], 0);

    let text = lyra(&seg, &["status"]);
    let line = text
        .lines()
        .find(|l| l.starts_with("latency") && l.contains("tick_to_order"))
        .unwrap_or_else(|| panic!("no tick_to_order latency line in:\n{text}"));
    assert!(
        line.contains("n 1000")
            && line.contains("p50 1.0 us")
            && line.contains("p99 131.1 us")
            && line.contains("p99.9 11.86 ms"),
        "{line}"
    );
    assert!(
        !text.contains("frame_to_book"),
        "empty paths are left out:\n{text}"
    );
}

#[test]
fn status_shows_the_venues_whose_market_data_is_down() {
    let seg = Seg(PathBuf::from(format!(
        "/dev/shm/lyra-status-md-{}-{}",
        std::process::id(),
        lyra_shm::clock::mono_now_ns()
    )));
    lyra(&seg, &["segment", "create"]);

    // Nothing down yet: empty lists, no market-data lines.
    let s: Value = serde_json::from_str(&lyra(&seg, &["status", "--json"])).unwrap();
    assert_eq!(s["md_down_mask"], 0);
    assert_eq!(s["venues_md_down"], json!([]));
    assert_eq!(s["md_disconnects"], json!({}));
    assert!(!lyra(&seg, &["status"]).contains("market"));

    // Venue 0 went down and came back; venue 2 went down twice and is down now.
    let w = ControlSegment::open_with(&seg.0, false).unwrap();
    assert!(w.set_md_down(VenueId(0)).unwrap());
    assert!(w.set_md_up(VenueId(0)).unwrap());
    assert!(w.set_md_down(VenueId(2)).unwrap());
    assert!(!w.set_md_down(VenueId(2)).unwrap(), "already down");
    assert!(w.set_md_up(VenueId(2)).unwrap());
    assert!(w.set_md_down(VenueId(2)).unwrap());

    let s: Value = serde_json::from_str(&lyra(&seg, &["status", "--json"])).unwrap();
    assert_eq!(s["md_down_mask"], 4, "{s}");
    assert_eq!(s["venues_md_down"], json!([2]), "{s}");
    assert_eq!(s["md_disconnects"], json!({"0": 1, "2": 2}), "{s}");

    let text = lyra(&seg, &["status"]);
    assert!(text.contains("market    data DOWN: venues [2]\n"), "{text}");
    assert!(
        text.contains("market    data disconnects: venue 0: 1, venue 2: 2\n"),
        "{text}"
    );
}
