//! `lyra demo` runs the engine, halts it (no send while halted), resumes with two operators'
//! approvals, and verifies its audit chain.

use std::process::Command;

#[test]
fn demo_halts_resumes_and_audits() {
    let seg = format!("/dev/shm/lyra-test-demo-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(["demo", "--duration", "4", "--json", "--segment", &seg])
        .output()
        .expect("run lyra demo");
    let _ = std::fs::remove_file(&seg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    assert!(report["sends_done"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["sends_refused_halted"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["sends_done_while_halted"], 0, "{report}");
    assert_eq!(report["halts"], 1);
    assert_eq!(report["resumes"], 1);
    assert_eq!(report["halted_at_end"], false);
    assert_eq!(report["audit_chain_ok"], true);
    assert_eq!(report["audit_records"], 2, "a trip and a resume");
    assert_eq!(report["threads"], 2, "compact layout: two hot threads");
    assert!(
        stderr.contains("lyra halt --reason"),
        "tells the user how to halt it: {stderr}"
    );
}
