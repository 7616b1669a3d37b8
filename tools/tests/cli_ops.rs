//! The `lyra` binary end to end: halt, status, approve, resume, each refusal, segment errors,
//! exit codes, and a canary check that key material never leaks.

use std::{
    fs::OpenOptions,
    io::{Seek, SeekFrom, Write},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

/// A unique segment under /dev/shm plus a scratch dir (keys, approvals, audit); removed on drop.
struct Env {
    seg: PathBuf,
    dir: PathBuf,
}

impl Env {
    fn new(tag: &str) -> Self {
        let n = lyra_shm::clock::mono_now_ns();
        let id = format!("lyra-cli-{tag}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        Env {
            seg: PathBuf::from("/dev/shm").join(id),
            dir,
        }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The configured audit path (the store's name, see `lyra_amrc::audit::Layout`).
    fn audit(&self) -> PathBuf {
        self.p("audit.jsonl")
    }

    /// The store's daily JSONL files, oldest first.
    fn audit_files(&self) -> Vec<PathBuf> {
        lyra_amrc::audit::Layout::new(&self.audit())
            .daily_files()
            .unwrap()
    }

    /// The store's JSONL text, all days in order.
    fn audit_text(&self) -> String {
        self.audit_files()
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    }

    /// Runs `lyra doctor --audit <audit>`: its JSON report and exit code.
    fn doctor_audit(&self) -> (Value, Option<i32>) {
        let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
            .args(["doctor", "--audit"])
            .arg(self.audit())
            .output()
            .expect("run lyra doctor");
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("doctor prints JSON ({e}): {}", text(&out)));
        (report, out.status.code())
    }

    /// Runs `lyra <args> --segment <seg> --audit <audit>`.
    fn lyra(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_lyra"))
            .args(args)
            .env_remove("LYRA_OPERATORS")
            .env_remove("LYRA_OPERATOR")
            .arg("--segment")
            .arg(&self.seg)
            .arg("--audit")
            .arg(self.audit())
            .output()
            .expect("run lyra")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.lyra(args);
        assert!(out.status.success(), "lyra {args:?} failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status is JSON")
    }

    /// Keys for `names` (all added to the operators file unless `outsider`).
    fn keygen(&self, name: &str, outsider: bool) -> PathBuf {
        let key = self.p(&format!("{name}.key"));
        let mut args = vec!["keygen", "--operator", name, "--out", key.to_str().unwrap()];
        let ops = self.p("operators");
        if !outsider {
            args.extend(["--operators", ops.to_str().unwrap()]);
        }
        self.ok(&args);
        key
    }

    fn approve(&self, name: &str) -> PathBuf {
        let out = self.p(&format!(
            "{name}-{}.approval",
            lyra_shm::clock::mono_now_ns()
        ));
        let key = self.p(&format!("{name}.key"));
        self.ok(&[
            "approve",
            "--operator",
            name,
            "--key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    }

    fn resume(&self, approvals: &[&Path]) -> Output {
        let ops = self.p("operators");
        let mut args = vec!["resume", "--operators", ops.to_str().unwrap()];
        for a in approvals {
            args.extend(["--approval", a.to_str().unwrap()]);
        }
        self.lyra(&args)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.seg);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_refused(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "expected exit 1: {}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
}

#[test]
fn halt_shows_in_status_and_two_approvals_resume() {
    let e = Env::new("flow");
    e.ok(&["segment", "create"]);
    let s = e.status();
    assert_eq!(s["halted"], false);
    assert_eq!(s["epoch"], 0);

    let out = e.ok(&[
        "halt",
        "--reason",
        "fat finger on BTCUSDT",
        "--operator",
        "alice",
    ]);
    assert!(out.contains("halted engine: epoch 1"), "{out}");
    let s = e.status();
    assert_eq!(s["halted"], true);
    assert_eq!(s["epoch"], 1);
    assert_eq!(s["reason"], "operator");
    assert_eq!(s["source"], "operator");
    assert_eq!(s["operator"], "alice");
    assert_eq!(s["last"]["kind"], "trip");
    assert_eq!(s["last"]["source"], "operator");
    assert_eq!(s["last"]["operator"], "alice");
    assert_eq!(s["last"]["text"], "fat finger on BTCUSDT");
    assert!(s["last"]["since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s["counters"]["halt_trips"], 1);

    e.ok(&[
        "halt",
        "--reason",
        "feed 3 flapping",
        "--venue",
        "3",
        "--operator",
        "bob",
    ]);
    let s = e.status();
    assert_eq!(s["venues_halted"], serde_json::json!([3]));
    assert_eq!(s["epoch"], 2);

    e.keygen("alice", false);
    e.keygen("bob", false);
    let a = e.approve("alice");
    let b = e.approve("bob");
    let out = e.resume(&[&a, &b]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("resumed: epoch 3"));
    let s = e.status();
    assert_eq!(s["halted"], false);
    assert_eq!(s["epoch"], 3);
    assert_eq!(s["venue_mask"], 0);
    assert_eq!(s["last"]["kind"], "resume");

    // The audit chain holds every transition and verifies.
    let n = lyra_amrc::verify_chain(&e.audit()).expect("audit chain verifies");
    assert!(
        n >= 7,
        "trip, venue trip, 2 keygens, 2 approvals, resume: {n}"
    );
    let out = e.ok(&["audit", "verify"]);
    assert!(out.contains(&format!("{n} records, chain intact")), "{out}");
    // Tampering with a record is caught, naming its line.
    let (report, code) = e.doctor_audit();
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["jsonl_records"], n, "{report}");
    assert_eq!(report["sqlite_records"], n, "{report}");
    // Tampering with a record is caught, naming its file and line.
    let first = e.audit_files().remove(0);
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, text.replacen("fat finger", "fat thumb", 1)).unwrap();
    let o = e.lyra(&["audit", "verify"]);
    assert_refused(&o, "record at line 1 is broken");
    let (report, code) = e.doctor_audit();
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["ok"], false, "{report}");
    let b = &report["first_broken"];
    assert_eq!(b["sink"], "jsonl", "{report}");
    assert_eq!(b["file"], first.display().to_string(), "{report}");
    assert_eq!(b["line"], 1, "{report}");
}

#[test]
fn bad_resumes_are_refused_with_exit_1() {
    let e = Env::new("refuse");
    e.ok(&["segment", "create"]);
    e.ok(&["halt", "--reason", "drill"]);
    e.keygen("alice", false);
    e.keygen("bob", false);
    e.keygen("mallory", true);
    let a = e.approve("alice");
    let b = e.approve("bob");
    let a2 = e.approve("alice");
    let m = e.approve("mallory");

    assert_refused(&e.resume(&[&a]), "1 approval(s) given");
    assert_refused(
        &e.resume(&[&a, &a2]),
        "operator alice approved more than once",
    );
    assert_refused(&e.resume(&[&a, &m]), "unknown operator mallory");

    let forged = e.p("forged.approval");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&b).unwrap()).unwrap();
    let mac = v["mac"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if mac.starts_with('0') { '1' } else { '0' },
        &mac[1..]
    );
    v["mac"] = Value::String(flipped);
    std::fs::write(&forged, v.to_string()).unwrap();
    assert_refused(&e.resume(&[&a, &forged]), "invalid MAC");

    // Any transition after the approvals were made voids them.
    e.ok(&["halt", "--reason", "venue 5 too", "--venue", "5"]);
    assert_refused(&e.resume(&[&a, &b]), "stale");

    assert_eq!(e.status()["halted"], true, "no refusal may clear the halt");
    let audit = e.audit_text();
    assert_eq!(audit.matches("\"resume_refused\"").count(), 5);
    lyra_amrc::verify_chain(&e.audit()).expect("audit chain verifies");

    // Approving with someone else's name is refused too, and so is a key file others can read.
    let key = e.p("alice.key");
    let o = e.lyra(&[
        "approve",
        "--operator",
        "bob",
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_refused(&o, "belongs to operator alice");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = e.lyra(&[
        "approve",
        "--operator",
        "alice",
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_refused(&o, "must be 0600");
}

fn assert_segment_refused(e: &Env, needle: &str) {
    let o = e.lyra(&["status"]);
    assert_eq!(o.status.code(), Some(3), "expected exit 3: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&*e.seg.to_string_lossy()),
        "message lacks the path: {err}"
    );
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    // Every command that needs the segment fails the same way.
    let o = e.lyra(&["halt", "--reason", "x"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn unusable_segments_exit_3_naming_path_and_cause() {
    let e = Env::new("segerr");
    assert_segment_refused(&e, "no such file");
    e.ok(&["segment", "create"]);

    // Layout mismatch: a different layout hash (bytes 16..24).
    let mut f = OpenOptions::new().write(true).open(&e.seg).unwrap();
    f.seek(SeekFrom::Start(16)).unwrap();
    f.write_all(&0x1234_5678_u64.to_le_bytes()).unwrap();
    drop(f);
    assert_segment_refused(&e, "layout hash");
    e.ok(&["segment", "create"]); // creator (a CLI process) is dead: replaced

    std::fs::set_permissions(&e.seg, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_segment_refused(&e, "mode 0644");
    std::fs::set_permissions(&e.seg, std::fs::Permissions::from_mode(0o600)).unwrap();
    e.ok(&["status"]);

    if lyra_shm::control::fsutil::euid() != 0 {
        eprintln!("skipping foreign-owner check: needs root to chown");
        return;
    }
    std::os::unix::fs::chown(&e.seg, Some(65534), None).unwrap();
    assert_segment_refused(&e, "foreign owner uid 65534");
}

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    let e = Env::new("usage");
    let o = e.lyra(&["halt"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = e.lyra(&["halt", "--reason", "x", "--venue", "binance"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("venue id number"), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for line in [
        "0  ok",
        "1  refused",
        "2  usage",
        "3  control segment",
        "4  I/O",
    ] {
        assert!(help.contains(line), "help lacks {line:?}: {help}");
    }
}

#[test]
fn key_material_never_appears_in_output_or_audit() {
    let e = Env::new("canary");
    let mut seen = String::new();
    let mut run = |args: &[&str]| {
        let o = e.lyra(args);
        seen += &text(&o);
        o
    };
    run(&["segment", "create"]);
    run(&["halt", "--reason", "canary drill"]);
    let ops = e.p("operators");
    for name in ["alice", "bob"] {
        let key = e.p(&format!("{name}.key"));
        run(&[
            "keygen",
            "--operator",
            name,
            "--out",
            key.to_str().unwrap(),
            "--operators",
            ops.to_str().unwrap(),
        ]);
    }
    let mut approvals = Vec::new();
    for name in ["alice", "bob"] {
        let key = e.p(&format!("{name}.key"));
        // To stdout this time, so the test sees exactly what an operator would.
        let o = run(&[
            "approve",
            "--operator",
            name,
            "--key",
            key.to_str().unwrap(),
        ]);
        let file = e.p(&format!("{name}.approval"));
        std::fs::write(&file, &o.stdout).unwrap();
        approvals.push(file);
    }
    // A refused resume (one approval), a malformed-key refusal, then the real resume.
    let a0 = approvals[0].to_str().unwrap().to_owned();
    run(&[
        "resume",
        "--operators",
        ops.to_str().unwrap(),
        "--approval",
        &a0,
    ]);
    let broken = e.p("broken.key");
    let alice_key = std::fs::read_to_string(e.p("alice.key")).unwrap();
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&broken)
            .unwrap();
        // The key truncated by one digit: the parse error must not echo it.
        let line = alice_key.lines().find(|l| l.contains("key=")).unwrap();
        f.write_all(&line.as_bytes()[..line.len() - 1]).unwrap();
    }
    run(&[
        "approve",
        "--operator",
        "alice",
        "--key",
        broken.to_str().unwrap(),
    ]);
    let a1 = approvals[1].to_str().unwrap().to_owned();
    let o = run(&[
        "resume",
        "--operators",
        ops.to_str().unwrap(),
        "--approval",
        &a0,
        "--approval",
        &a1,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    run(&["status"]);
    run(&["status", "--json"]);
    seen += &e.audit_text();
    // The SQLite sink (and its WAL, where recent records may still be) must not hold keys either.
    let db = lyra_amrc::audit::Layout::new(&e.audit()).sqlite();
    for f in [db.clone(), PathBuf::from(format!("{}-wal", db.display()))] {
        if let Ok(bytes) = std::fs::read(&f) {
            seen += &String::from_utf8_lossy(&bytes);
        }
    }

    for name in ["alice", "bob"] {
        let k = std::fs::read_to_string(e.p(&format!("{name}.key"))).unwrap();
        let hex = k.split("key=").nth(1).unwrap().trim().to_owned();
        assert_eq!(hex.len(), 64);
        assert!(!seen.contains(&hex), "key of {name} leaked");
        // Not even a long fragment of it (e.g. a truncated echo).
        assert!(!seen.contains(&hex[..32]), "key fragment of {name} leaked");
    }
}

#[test]
fn a_parked_thread_is_woken_by_lyra_halt_from_another_process() {
    use std::{sync::Arc, time::Duration};

    use lyra_shm::control::{ControlSegment, WaitOutcome};

    let e = Env::new("futex");
    e.ok(&["segment", "create"]);
    let seg = Arc::new(ControlSegment::open(&e.seg).unwrap());
    let seq = seg.wake_seq();
    let waiter = {
        let seg = seg.clone();
        std::thread::spawn(move || loop {
            // A long timeout: `Changed` with the halt set proves the CLI's trip woke us.
            match seg.wait_for_change(seq, Duration::from_secs(60)) {
                WaitOutcome::Changed(_) => return seg.is_halted(),
                WaitOutcome::Spurious => continue,
                WaitOutcome::TimedOut => return false,
            }
        })
    };
    // Let the waiter park (correctness does not depend on it: a missed wait returns at once).
    while seg.sleepers() == 0 && !waiter.is_finished() {
        std::thread::yield_now();
    }
    e.ok(&["halt", "--reason", "wake the parked"]);
    assert!(
        waiter.join().unwrap(),
        "parked thread not woken by the halt"
    );
}
