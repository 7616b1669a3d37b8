//! `lyra demo` starts the gate beside the engine: its URL is printed while the demo runs, the
//! gate answers from the demo's segment, and the JSON report carries `gate_url`. A gate that
//! cannot bind does not stop the demo.

mod gate_support;

use std::{
    io::{BufRead, BufReader, Read},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use serde_json::Value;

use gate_support::{request, TempSegment, GUARD};

fn get(base: &str, path: &str) -> (u16, String) {
    let r = request(base.strip_prefix("http://").expect("http URL"), "GET", path);
    (r.code, r.body)
}

/// Runs a 3 s demo; `during` gets each stderr line while it runs. Returns the JSON report.
fn demo(seg: &TempSegment, extra: &[&str], mut during: impl FnMut(&str)) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args([
            "demo",
            "--duration",
            "3",
            "--json",
            "--no-script",
            "--segment",
        ])
        .arg(&seg.path)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lyra demo");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut out);
        let _ = tx.send(out);
    });
    let mut err = String::new();
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        during(&line);
        err += &line;
        err.push('\n');
    }
    let status = child.wait().unwrap();
    let out = rx.recv_timeout(GUARD).expect("demo stdout");
    assert!(status.success(), "lyra demo failed:\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("report not JSON ({e}): {out}"))
}

#[test]
fn the_demo_runs_the_gate_and_reports_its_url() {
    let seg = TempSegment::new("gate-demo");
    let mut seen: Option<String> = None;
    let mut checked = false;
    let report = demo(&seg, &[], |line| {
        let Some(rest) = line.trim().strip_prefix("gate: dashboard ") else {
            return;
        };
        let url = rest
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('/');
        seen = Some(url.to_owned());
        // The engine is up (the demo prints this after its threads registered): the gate maps
        // the demo's segment and exports it. Health may be 200 or, on a starved machine, 503
        // for a late beat; what must hold is that it reads this segment.
        let (code, body) = get(url, "/health");
        assert!(code == 200 || code == 503, "health {code}: {body}");
        let h: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(h["mapped"], true, "{h}");
        assert_eq!(h["segment"], seg.path.display().to_string());
        assert!(!h["heartbeats"].as_array().unwrap().is_empty(), "{h}");
        let (code, metrics) = get(url, "/metrics");
        assert_eq!(code, 200);
        assert!(metrics.contains("\nlyra_segment_mapped 1\n"), "{metrics}");
        assert!(metrics.contains("\nlyra_halted 0\n"), "{metrics}");
        // The demo hands the gate its engine config: venues carry their names.
        assert!(
            metrics.contains("\nlyra_venue_halted{venue=\"alpha\",venue_id=\"0\"} 0\n"),
            "{metrics}"
        );
        checked = true;
    });
    let url = seen.expect("the demo printed no gate line");
    assert!(checked);
    assert_eq!(report["gate_url"], url, "{report}");
    assert!(url.starts_with("http://127.0.0.1:"));
    // The gate went away with the demo.
    let addr = url.strip_prefix("http://").unwrap();
    let gone = (0..500).any(|_| {
        let refused = TcpStream::connect(addr).is_err();
        if !refused {
            std::thread::sleep(Duration::from_millis(10));
        }
        refused
    });
    assert!(gone, "the gate outlived the demo");
}

#[test]
fn the_demo_goes_on_when_the_gate_cannot_bind() {
    let seg = TempSegment::new("gate-demo-busy");
    // Hold a port so the gate's bind fails.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let mut said = false;
    let report = demo(&seg, &["--gate-listen", &addr], |line| {
        said |= line.contains("gate: not started");
    });
    assert!(said, "the demo did not say the gate failed");
    assert!(report["gate_url"].is_null(), "{report}");
    assert!(report["md_events"].as_u64().unwrap() > 0, "{report}");
    drop(busy);
}
