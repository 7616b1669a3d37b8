//! `lyra status` shows which venues' market data is down now and how often each went down, from
//! the control segment's market-data status (written by the engine's book stage), in JSON and
//! in text.

use std::{path::PathBuf, process::Command};

use lyra_shm::{control::ControlSegment, msg::VenueId};
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
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(args)
        .arg("--segment")
        .arg(&seg.0)
        .arg("--audit")
        .arg(seg.0.with_extension("audit.jsonl"))
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
