//! `lyra-gate` end to end over loopback: the real binary against a temporary control segment,
//! read with plain HTTP/1.1 GETs. /health (200, 503 on a stale heartbeat, 503 without a segment,
//! re-mapping a replaced segment), /metrics (every line valid exposition format 0.0.4, histograms
//! consistent, the halted gauge flips after an AMRC trip), and the dashboard.

mod gate_support;

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc},
};

use lyra_amrc::{Amrc, AuditLog};
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns},
    control::{
        ControlSegment, Counter, CreateOpts, HaltReason, Hist, HistSnapshot, Note, Source,
        HIST_BUCKETS,
    },
};
use serde_json::Value;

use gate_support::{request, TempSegment, GUARD};

/// A running `lyra-gate`, killed and reaped on drop.
struct Gate {
    child: Child,
    /// `host:port` it listens on.
    addr: String,
}

impl Gate {
    fn start(segment: &Path, stale_ms: u64) -> Gate {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lyra-gate"))
            .arg("--segment")
            .arg(segment)
            .args(["--listen", "127.0.0.1:0", "--stale-ms"])
            .arg(stale_ms.to_string())
            .arg("--exit-on-stdin-eof")
            .env_remove("LYRA_CONFIG")
            .env_remove("LYRA_GATE_LISTEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn lyra-gate");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(GUARD).expect("lyra-gate printed nothing");
        let addr = line
            .strip_prefix("lyra-gate: listening on http://")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Gate { child, addr }
    }

    /// `GET path` -> (status, content type, body).
    fn get(&self, path: &str) -> (u16, String, String) {
        self.request("GET", path)
    }

    fn request(&self, method: &str, path: &str) -> (u16, String, String) {
        let r = request(&self.addr, method, path);
        (r.code, r.content_type, r.body)
    }

    fn health(&self) -> (u16, Value) {
        let (code, ctype, body) = self.get("/health");
        assert_eq!(ctype, "application/json");
        (code, serde_json::from_str(&body).expect("health is JSON"))
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create(path: &Path, id: u64) -> Arc<ControlSegment> {
    let opts = CreateOpts {
        replace_stale: true,
        mlock: false,
        segment_id: Some(id),
    };
    Arc::new(ControlSegment::create(path, &opts).expect("create the segment"))
}

/// The oldest possible beat: monotonic time 1 ns, i.e. as old as the machine's uptime, which is
/// far past the tests' 30 s limit once a test binary has been built and started.
fn ancient() -> u64 {
    assert!(
        mono_now_ns() > 31_000_000_000,
        "machine up for less than 31 s: cannot fake a stale beat"
    );
    1
}

#[test]
fn health_is_200_while_threads_beat_and_503_when_one_goes_stale() {
    let tmp = TempSegment::new("gate-health");
    let seg = create(&tmp.path, 0x1111);
    let feed = seg.register_thread("lyra-feed").unwrap();
    let oms = seg.register_thread("lyra-oms").unwrap();
    // Limit 30 s: fresh beats pass however loaded the machine is; an ancient beat never does.
    let gate = Gate::start(&tmp.path, 30_000);

    seg.beat(feed, mono_now_ns());
    seg.beat(oms, mono_now_ns());
    let (code, h) = gate.health();
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["halted"], false);
    assert_eq!(h["segment_id"], "0x0000000000001111");
    assert_eq!(h["engine_pid"], std::process::id());
    assert_eq!(h["engine_alive"], true);
    let beats = h["heartbeats"].as_array().unwrap();
    assert_eq!(beats.len(), 2);
    assert!(beats
        .iter()
        .all(|b| b["ok"] == true && b["age_ms"].is_u64()));

    seg.beat(oms, ancient());
    let (code, h) = gate.health();
    assert_eq!(code, 503, "{h}");
    assert_eq!(h["status"], "unhealthy");
    let stale: Vec<&Value> = h["heartbeats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["ok"] == false)
        .collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0]["thread"], "lyra-oms");
    assert!(stale[0]["age_ms"].as_u64().unwrap() > 30_000);
    assert!(h["problems"][0].as_str().unwrap().contains("lyra-oms"));

    // The thread beats again: healthy again (nothing latched in the gate).
    seg.beat(oms, mono_now_ns());
    assert_eq!(gate.health().0, 200);
    // A thread gone from the table is no longer judged; with none left the engine is not up.
    seg.unregister_thread(feed);
    seg.unregister_thread(oms);
    let (code, h) = gate.health();
    assert_eq!(code, 503);
    assert!(h["problems"][0].as_str().unwrap().contains("no hot thread"));
}

#[test]
fn health_is_503_without_a_segment_and_follows_a_replaced_one() {
    let tmp = TempSegment::new("gate-remap");
    let gate = Gate::start(&tmp.path, 30_000);
    let (code, h) = gate.health();
    assert_eq!(code, 503, "{h}");
    assert_eq!(h["mapped"], false);
    assert!(h["problems"][0].as_str().unwrap().contains("no such file"));
    let (code, _, m) = gate.get("/metrics");
    assert_eq!(code, 200);
    assert!(m.contains("\nlyra_segment_mapped 0\n"), "{m}");
    validate_exposition(&m);

    // The engine starts: the gate maps the new segment on the next request.
    let first = create(&tmp.path, 0xaaaa);
    let t = first.register_thread("lyra-main").unwrap();
    first.beat(t, mono_now_ns());
    let (code, h) = gate.health();
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["segment_id"], "0x000000000000aaaa");
    drop(first);

    // A restart replaces the file (a new inode): the gate must not keep showing the old page.
    std::fs::remove_file(&tmp.path).unwrap();
    let second = create(&tmp.path, 0xbbbb);
    let t = second.register_thread("lyra-main").unwrap();
    second.beat(t, mono_now_ns());
    let (code, h) = gate.health();
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["segment_id"], "0x000000000000bbbb");
}

#[test]
fn metrics_are_valid_exposition_and_the_halt_gauge_flips_after_a_trip() {
    let tmp = TempSegment::new("gate-metrics");
    let seg = create(&tmp.path, 0x2222);
    let t = seg.register_thread("lyra-feed").unwrap();
    seg.beat(t, mono_now_ns());
    seg.add(Counter::MdEvents, 1234);
    seg.add(Counter::Intents, 7);
    seg.store_counter(Counter::BooksValid, 3);
    seg.store_counter(Counter::TickToOrderP99Ns, 55_000);
    let mut h = HistSnapshot::default();
    for ns in [50, 1_000, 1_000, 20_000, 3_000_000] {
        h.record(ns);
    }
    seg.publish_histogram(Hist::TickToOrder, &h.counts, h.sum_ns)
        .unwrap();
    let gate = Gate::start(&tmp.path, 30_000);

    let (code, ctype, text) = gate.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let samples = validate_exposition(&text);
    let v = |key: &str| {
        *samples
            .get(key)
            .unwrap_or_else(|| panic!("no sample {key} in\n{text}"))
    };
    assert_eq!(v("lyra_segment_mapped"), 1.0);
    assert_eq!(v("lyra_halted"), 0.0);
    assert_eq!(v("lyra_halt_epoch"), 0.0);
    assert_eq!(v("lyra_md_events_total"), 1234.0);
    assert_eq!(v("lyra_intents_total"), 7.0);
    assert_eq!(v("lyra_books_valid"), 3.0);
    assert_eq!(v("lyra_tick_to_order_p99_ns"), 55_000.0);
    let thread = format!(
        "{{thread=\"lyra-feed\",slot=\"{}\",pid=\"{}\"}}",
        t.0,
        std::process::id()
    );
    assert_eq!(v(&format!("lyra_heartbeat_ok{thread}")), 1.0);
    assert!(v(&format!("lyra_heartbeat_age_seconds{thread}")) < 30.0);
    assert_eq!(v("lyra_threads_registered"), 1.0);
    // Every counter of the segment is exported.
    for c in Counter::ALL {
        assert!(
            samples.contains_key(&format!("lyra_{}_total", c.name()))
                || samples.contains_key(&format!("lyra_{}", c.name())),
            "counter {} missing",
            c.name()
        );
    }
    // Every histogram, with the published samples in the right buckets.
    for hist in Hist::ALL {
        assert!(samples.contains_key(&format!("lyra_{}_seconds_count", hist.name())));
    }
    assert_eq!(v("lyra_tick_to_order_seconds_count"), 5.0);
    assert_eq!(v("lyra_tick_to_order_seconds_bucket{le=\"+Inf\"}"), 5.0);
    assert_eq!(
        v("lyra_tick_to_order_seconds_bucket{le=\"0.000000064\"}"),
        1.0
    );
    assert_eq!(
        v("lyra_tick_to_order_seconds_bucket{le=\"0.000001024\"}"),
        3.0
    );
    let sum = v("lyra_tick_to_order_seconds_sum");
    assert!((sum - 3_022_050e-9).abs() < 1e-12, "sum {sum}");
    assert_eq!(HIST_BUCKETS, h.counts.len());

    // A trip through the AMRC (audited) flips the gauge; a halted engine is still healthy.
    let dir = std::env::temp_dir().join(format!("lyra-gate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let amrc = Amrc::new(seg.clone(), AuditLog::new(dir.join("audit.jsonl")));
    let note = Note {
        source: Source::Operator,
        operator: "gate-test",
        text: "metrics flip",
        wall_ns: wall_now_ns(),
    };
    amrc.trip_with(HaltReason::Operator, &note).unwrap();
    let samples = validate_exposition(&gate.get("/metrics").2);
    assert_eq!(samples["lyra_halted"], 1.0);
    assert_eq!(samples["lyra_halt_epoch"], 1.0);
    assert_eq!(samples["lyra_halt_reason{reason=\"operator\"}"], 1.0);
    assert_eq!(samples["lyra_halt_trips_total"], 1.0);
    let (code, h) = gate.health();
    assert_eq!(code, 200, "a halt is not a failure: {h}");
    assert_eq!(h["halted"], true);
    assert_eq!(h["reason"], "operator");
    assert_eq!(h["epoch"], 1);
    assert_eq!(h["last_transition"]["operator"], "gate-test");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_engine_config_gives_the_segment_and_the_heartbeat_limit_and_a_bad_one_is_refused() {
    let tmp = TempSegment::new("gate-config");
    let seg = create(&tmp.path, 0x4444);
    let t = seg.register_thread("lyra-main").unwrap();
    seg.beat(t, mono_now_ns());
    let dir = std::env::temp_dir().join(format!("lyra-gate-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("engine.toml");
    std::fs::write(
        &good,
        format!(
            "[engine]\nrun_id = \"gate1\"\n[paths]\nsegment = {:?}\n[threads]\nstuck_ms = 43210\n",
            tmp.path
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lyra-gate"))
        .arg("--config")
        .arg(&good)
        .args(["--listen", "127.0.0.1:0", "--exit-on-stdin-eof"])
        .env_remove("LYRA_SEGMENT")
        .env_remove("LYRA_GATE_LISTEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let gate = Gate {
        addr: line
            .strip_prefix("lyra-gate: listening on http://")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned(),
        child,
    };
    let (code, h) = gate.health();
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["stale_ms"], 43_210);
    assert_eq!(h["segment"], tmp.path.display().to_string());
    drop(gate);

    // A key the engine would refuse is refused by the gate too, named, exit 4.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[engine]\nrun_id = \"gate1\"\n[threads]\nstuck_msec = 5\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lyra-gate"))
        .arg("--config")
        .arg(&bad)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stuck_msec") && err.contains("bad.toml"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dashboard_shows_state_escapes_names_and_other_routes_are_refused() {
    let tmp = TempSegment::new("gate-page");
    let seg = create(&tmp.path, 0x3333);
    let t = seg.register_thread("<b>evil</b>").unwrap();
    seg.beat(t, mono_now_ns());
    let gate = Gate::start(&tmp.path, 30_000);

    let (code, ctype, page) = gate.get("/");
    assert_eq!(code, 200);
    assert_eq!(ctype, "text/html; charset=utf-8");
    assert!(page.contains("RUNNING"));
    assert!(page.contains("http-equiv=\"refresh\""));
    assert!(page.contains("&lt;b&gt;evil&lt;/b&gt;"));
    assert!(!page.contains("<b>evil"));
    assert!(!page.contains("src=\"http"), "no external assets");
    assert!(page.contains("tick_to_order"));

    seg.trip(HaltReason::Operator, Source::Operator);
    assert!(gate.get("/").2.contains("HALTED"));

    // HEAD: GET's headers, no body.
    let head = gate.request("HEAD", "/metrics");
    assert_eq!((head.0, head.2.as_str()), (200, ""));
    assert_eq!(gate.get("/nope").0, 404);
    assert_eq!(gate.request("POST", "/health").0, 405);
    // Read-only means read-only: the POST changed nothing.
    assert!(seg.is_halted());
}

/// Checks every line against the text exposition format 0.0.4 and returns the samples, keyed by
/// `name{labels}` exactly as written. Panics on the first violation, naming the line.
fn validate_exposition(text: &str) -> HashMap<String, f64> {
    assert!(text.ends_with('\n'), "output must end with a newline");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut samples = HashMap::new();
    // Histogram name -> (last le, last cumulative count).
    let mut buckets: HashMap<String, (f64, f64)> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(valid_name(name), "bad metric name in {line:?}");
            match kw {
                "HELP" => assert!(helped.insert(name.to_owned()), "second HELP: {line:?}"),
                "TYPE" => {
                    let t = parts.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "bad type in {line:?}"
                    );
                    assert!(
                        types.insert(name.to_owned(), t.to_owned()).is_none(),
                        "second TYPE: {line:?}"
                    );
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        assert!(
            !line.is_empty() && !line.starts_with('#'),
            "bad line {line:?}"
        );
        let name_end = line.find(['{', ' ']).expect("sample without value");
        let name = &line[..name_end];
        assert!(
            valid_name(name) && name.starts_with("lyra_"),
            "bad name in {line:?}"
        );
        let (labels, value) = if line[name_end..].starts_with('{') {
            let close = label_end(line, name_end).unwrap_or_else(|| panic!("labels {line:?}"));
            (&line[name_end..=close], line[close + 1..].trim_start())
        } else {
            ("", line[name_end..].trim_start())
        };
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample before its TYPE: {line:?}"
        );
        assert!(helped.contains(family), "sample without HELP: {line:?}");
        if types[family] == "counter" {
            assert!(name.ends_with("_total") && value >= 0.0, "counter {line:?}");
        }
        if name.ends_with("_bucket") && family != name {
            let le = labels
                .split("le=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("bucket without le: {line:?}"));
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("le is a float")
            };
            let prev = buckets.insert(family.to_owned(), (le, value));
            if let Some((ple, pv)) = prev {
                assert!(le > ple && value >= pv, "buckets out of order at {line:?}");
            }
        }
        if name.ends_with("_count") && family != name {
            let (le, cum) = buckets[family];
            assert!(
                le.is_infinite() && cum == value,
                "+Inf bucket != _count: {line:?}"
            );
        }
        assert!(
            samples.insert(format!("{name}{labels}"), value).is_none(),
            "duplicate series {line:?}"
        );
    }
    samples
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Index of the `}` closing the label set that opens at `open`, honouring escapes in values;
/// checks each label is `name="value"`.
fn label_end(line: &str, open: usize) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = open + 1;
    loop {
        let eq = i + line[i..].find('=')?;
        if !valid_name(&line[i..eq]) || b.get(eq + 1) != Some(&b'"') {
            return None;
        }
        i = eq + 2;
        while b.get(i)? != &b'"' {
            if b[i] == b'\\' {
                if !matches!(b.get(i + 1)?, b'\\' | b'"' | b'n') {
                    return None;
                }
                i += 1;
            }
            i += 1;
        }
        i += 1;
        match b.get(i)? {
            b',' => i += 1,
            b'}' => return Some(i),
            _ => return None,
        }
    }
}

#[test]
fn the_gate_stops_cleanly_on_sigterm_and_when_its_parent_goes() {
    let tmp = TempSegment::new("gate-stop");
    // SIGTERM (what systemd sends): exit 0.
    let mut gate = Gate::start(&tmp.path, 30_000);
    let pid = gate.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let status = wait_exit(&mut gate.child);
    assert_eq!(status.code(), Some(0), "{status:?}");

    // --exit-on-stdin-eof: the parent's end of the pipe closes, the gate exits 0.
    let mut gate = Gate::start(&tmp.path, 30_000);
    drop(gate.child.stdin.take());
    let status = wait_exit(&mut gate.child);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// Waits for `child` to exit (sleeping between polls, failure guard only).
fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..GUARD.as_millis() / 10 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("lyra-gate did not exit");
}
