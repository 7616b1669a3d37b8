//! The audit store (daily JSONL + SQLite, one SHA-256 chain): the chain runs across days, each
//! kind of damage is found at its record in each sink, and concurrent appenders (threads and
//! processes) keep one valid chain.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use lyra_amrc::{
    audit::{sha256_hex, verify_store, Layout, Sink},
    verify_chain, AuditError, AuditEvent, AuditLog,
};
use lyra_shm::clock::{Clock, ManualClock};
use rusqlite::Connection;

const DAY_NS: u64 = 86_400 * 1_000_000_000;
/// 2026-11-21 23:59:59 UTC.
const LATE: u64 = (20_778 * 86_400 + 86_399) * 1_000_000_000;

/// A unique scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let n = lyra_shm::clock::mono_now_ns();
        let dir = std::env::temp_dir().join(format!("lyra-audit-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn audit(&self) -> PathBuf {
        self.0.join("audit.jsonl")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn event(kind: &str, wall_ns: u64, intent: u64) -> AuditEvent {
    AuditEvent {
        event: kind.into(),
        wall_ns,
        source: "test".into(),
        run: Some("r1".into()),
        cycle: Some(intent * 10),
        decision: Some(intent / 2),
        intent: Some(intent),
        text: Some(format!("record {intent}")),
        pid: std::process::id(),
        ..AuditEvent::default()
    }
}

/// `n` records, the clock stepping 1 s each.
fn fill(log: &AuditLog, clock: &ManualClock, n: u64) {
    for i in 1..=n {
        log.append(&event("intent", clock.wall_ns(), i)).unwrap();
        clock.advance(1_000_000_000);
    }
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(p: &Path, lines: &[String]) {
    std::fs::write(p, lines.join("\n") + "\n").unwrap();
}

#[test]
fn the_chain_runs_across_a_day_boundary_in_both_sinks() {
    let s = Scratch::new("days");
    let log = AuditLog::new(s.audit());
    let clock = ManualClock::new(LATE - 2_000_000_000);
    // 23:59:57, :58, :59 on the 21st, then 00:00:00 and :01 on the 22nd.
    fill(&log, &clock, 5);
    // A record stamped earlier (another process's clock) never goes back to the 21st's file.
    log.append(&event("fill", LATE - 10_000_000_000, 6))
        .unwrap();

    let layout = Layout::new(&s.audit());
    let files = layout.daily_files().unwrap();
    assert_eq!(
        files,
        vec![
            s.0.join("audit-2026-11-21.jsonl"),
            s.0.join("audit-2026-11-22.jsonl")
        ]
    );
    let (d1, d2) = (lines(&files[0]), lines(&files[1]));
    assert_eq!((d1.len(), d2.len()), (3, 3));
    let first_of_day2: serde_json::Value = serde_json::from_str(&d2[0]).unwrap();
    assert_eq!(first_of_day2["seq"], 4);
    assert_eq!(
        first_of_day2["prev_hash"],
        sha256_hex(d1[2].as_bytes()),
        "the 22nd's first record chains to the 21st's last"
    );
    assert_eq!(verify_chain(&s.audit()).unwrap(), 6);

    let r = verify_store(&s.audit()).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!((r.jsonl_records, r.sqlite_records), (6, 6));

    // SQLite: WAL, private, the correlation ids as columns, the same hashes as the lines.
    let db = Connection::open(layout.sqlite()).unwrap();
    let mode: String = db
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let perm = std::fs::metadata(layout.sqlite()).unwrap().permissions();
    assert_eq!(perm.mode() & 0o777, 0o600);
    let (kind, run, cycle, decision, intent, hash): (String, String, i64, i64, i64, String) = db
        .query_row(
            "SELECT kind, run, cycle, decision, intent, hash FROM audit WHERE seq = 4",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        (kind.as_str(), run.as_str(), cycle, decision, intent),
        ("intent", "r1", 40, 2, 4)
    );
    assert_eq!(first_of_day2["hash"], hash);
}

#[test]
fn a_tampered_jsonl_line_is_found_at_its_file_and_line() {
    let s = Scratch::new("tamper-jsonl");
    let log = AuditLog::new(s.audit());
    let clock = ManualClock::new(LATE - 2_000_000_000);
    fill(&log, &clock, 6);
    let file = Layout::new(&s.audit()).daily(20_779);
    let mut l = lines(&file);
    l[1] = l[1].replace("record 5", "record 50");
    write_lines(&file, &l);

    let r = verify_store(&s.audit()).unwrap();
    assert!(!r.ok);
    let b = r.first_broken.clone().unwrap();
    assert_eq!(
        (b.sink, b.file.as_path(), b.line, b.seq),
        (Sink::Jsonl, file.as_path(), Some(2), Some(5))
    );
    assert_eq!(b.reason, "hash does not match the record's content");
    assert_eq!(r.jsonl_records, 4, "intact up to the break");
    assert_eq!(r.sqlite_records, 6, "SQLite still holds the original");
    match verify_chain(&s.audit()) {
        Err(AuditError::Broken { path, line: 2, .. }) if path == file => {}
        other => panic!("expected line 2 of {file:?}, got {other:?}"),
    }
}

#[test]
fn a_tampered_sqlite_row_is_found_at_its_seq() {
    let s = Scratch::new("tamper-sqlite");
    let log = AuditLog::new(s.audit());
    fill(&log, &ManualClock::new(LATE), 5);
    let db = Connection::open(Layout::new(&s.audit()).sqlite()).unwrap();

    // The row's copy of the record edited: its own hash fails.
    db.execute(
        "UPDATE audit SET json = replace(json, 'record 3', 'record 30') WHERE seq = 3",
        [],
    )
    .unwrap();
    let r = verify_store(&s.audit()).unwrap();
    let b = r.first_broken.unwrap();
    assert_eq!(
        (b.sink, b.seq, b.line),
        (Sink::Sqlite, Some(3), None),
        "{b:?}"
    );
    assert_eq!(r.jsonl_records, 5, "the JSONL chain is intact");
    match verify_chain(&s.audit()) {
        Err(AuditError::BrokenRow { seq: 3, .. }) => {}
        other => panic!("expected row 3, got {other:?}"),
    }

    // Restored, then only a column changed: the row no longer says what its record says.
    db.execute(
        "UPDATE audit SET json = replace(json, 'record 30', 'record 3') WHERE seq = 3",
        [],
    )
    .unwrap();
    assert!(verify_store(&s.audit()).unwrap().ok);
    db.execute("UPDATE audit SET intent = 99 WHERE seq = 4", [])
        .unwrap();
    let b = verify_store(&s.audit()).unwrap().first_broken.unwrap();
    assert_eq!((b.sink, b.seq), (Sink::Sqlite, Some(4)));
    assert!(b.reason.contains("correlation id"), "{}", b.reason);
}

#[test]
fn deleted_records_are_found_in_either_sink() {
    let s = Scratch::new("delete");
    let log = AuditLog::new(s.audit());
    fill(&log, &ManualClock::new(LATE - 2_000_000_000), 6);
    let layout = Layout::new(&s.audit());

    // A row deleted from SQLite: the gap is named.
    let db = Connection::open(layout.sqlite()).unwrap();
    db.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
    let b = verify_store(&s.audit()).unwrap().first_broken.unwrap();
    assert_eq!((b.sink, b.seq), (Sink::Sqlite, Some(2)));
    assert!(b.reason.contains("row seq 2 is missing"), "{}", b.reason);

    // A line deleted from the first day's file: the next record's link breaks there.
    let file = layout.daily(20_778);
    let mut l = lines(&file);
    l.remove(1);
    write_lines(&file, &l);
    let b = verify_store(&s.audit()).unwrap().first_broken.unwrap();
    assert_eq!(
        (b.sink, b.file.as_path(), b.line),
        (Sink::Jsonl, file.as_path(), Some(2))
    );
    assert_eq!(b.reason, "prev_hash does not match the previous record");

    // A whole day's file deleted: the next day's first record no longer links.
    std::fs::remove_file(&file).unwrap();
    let b = verify_store(&s.audit()).unwrap().first_broken.unwrap();
    assert_eq!(
        (b.sink, b.file.as_path(), b.line),
        (Sink::Jsonl, layout.daily(20_779).as_path(), Some(1))
    );
}

#[test]
fn the_last_record_missing_from_one_sink_is_found_and_sqlite_catches_up() {
    let s = Scratch::new("cross");
    let log = AuditLog::new(s.audit());
    let clock = ManualClock::new(LATE - DAY_NS / 2);
    fill(&log, &clock, 3);
    let layout = Layout::new(&s.audit());
    // As if the process died between the JSONL write and the SQLite commit.
    let db = Connection::open(layout.sqlite()).unwrap();
    db.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    let b = verify_store(&s.audit()).unwrap().first_broken.unwrap();
    assert_eq!((b.sink, b.seq), (Sink::CrossCheck, Some(3)), "{b:?}");
    // The next append copies it from the JSONL file first.
    fill(&log, &clock, 1);
    let r = verify_store(&s.audit()).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.sqlite_records, 4);

    // A chain-valid tail cut from the JSONL file is found by the cross-check.
    let file = layout.daily(20_778);
    let mut l = lines(&file);
    l.pop();
    write_lines(&file, &l);
    let b = verify_store(&s.audit()).unwrap().first_broken.unwrap();
    assert_eq!((b.sink, b.seq), (Sink::CrossCheck, Some(4)), "{b:?}");
    assert!(b.reason.contains("JSONL files lack"), "{}", b.reason);
}

/// Run as a child process by the concurrency test: appends `LYRA_AUDIT_CHILD_N` records.
#[test]
fn child_appender() {
    let (Ok(path), Ok(n)) = (
        std::env::var("LYRA_AUDIT_CHILD_PATH"),
        std::env::var("LYRA_AUDIT_CHILD_N"),
    ) else {
        return; // only meaningful as the concurrency test's child
    };
    let log = AuditLog::new(path);
    for i in 0..n.parse::<u64>().unwrap() {
        log.append(&event("child", lyra_shm::clock::wall_now_ns(), i))
            .unwrap();
    }
}

#[test]
fn concurrent_threads_and_processes_keep_one_chain() {
    let s = Scratch::new("concurrent");
    let (threads, procs, per) = (3u64, 2u64, 40u64);
    let children: Vec<_> = (0..procs)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_appender", "--test-threads=1"])
                .env("LYRA_AUDIT_CHILD_PATH", s.audit())
                .env("LYRA_AUDIT_CHILD_N", per.to_string())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn the child appender")
        })
        .collect();
    std::thread::scope(|sc| {
        for t in 0..threads {
            let path = s.audit();
            sc.spawn(move || {
                // Each thread its own handle (own SQLite connection), like separate processes.
                let log = AuditLog::new(path);
                for i in 0..per {
                    let e = event("thread", lyra_shm::clock::wall_now_ns(), t * 1000 + i);
                    if i % 4 == 0 {
                        log.append_all(&[e.clone(), e]).unwrap();
                    } else {
                        log.append(&e).unwrap();
                    }
                }
            });
        }
    });
    for mut c in children {
        assert!(c.wait().unwrap().success(), "child appender failed");
    }
    let expected = threads * (per + per / 4) + procs * per;
    let r = verify_store(&s.audit()).unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!((r.jsonl_records, r.sqlite_records), (expected, expected));
}

#[test]
fn no_store_is_an_error_not_an_empty_pass() {
    let s = Scratch::new("none");
    assert!(matches!(
        verify_chain(&s.audit()),
        Err(AuditError::Io { .. })
    ));
}
