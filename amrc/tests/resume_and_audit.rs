//! AMRC: two-operator resume (and each refusal), key file checks, the audit chain.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use lyra_amrc::{
    keygen, verify_chain, Amrc, AmrcError, Approval, AuditError, AuditLog, KeyError, OperatorKey,
    OperatorKeys, ResumeRefused,
};
use lyra_shm::{
    control::{ControlSegment, CreateOpts, HaltReason, Note, Source},
    msg::VenueId,
};

/// A unique scratch directory (segment, keys, audit), removed on drop.
struct Scratch {
    dir: PathBuf,
    seg: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let n = lyra_shm::clock::mono_now_ns();
        let dir = std::env::temp_dir().join(format!("lyra-amrc-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let seg = PathBuf::from(format!(
            "/dev/shm/lyra-amrc-{tag}-{}-{n}",
            std::process::id()
        ));
        Scratch { dir, seg }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The audit store's JSONL text: its daily files in order (one file unless a test runs over
/// midnight UTC).
fn audit_text(path: &Path) -> String {
    let files = lyra_amrc::audit::Layout::new(path).daily_files().unwrap();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.seg);
    }
}

struct Setup {
    s: Scratch,
    amrc: Amrc,
    ops: OperatorKeys,
    alice: OperatorKey,
    bob: OperatorKey,
    carol: OperatorKey,
}

fn setup(tag: &str) -> Setup {
    let s = Scratch::new(tag);
    let seg = Arc::new(ControlSegment::create(&s.seg, &CreateOpts::default()).unwrap());
    let amrc = Amrc::new(seg, AuditLog::new(s.path("audit.jsonl")));
    let operators = s.path("operators");
    keygen("alice", &s.path("alice.key"), Some(&operators)).unwrap();
    keygen("bob", &s.path("bob.key"), Some(&operators)).unwrap();
    // carol has a key but is not in the operators file.
    keygen("carol", &s.path("carol.key"), None).unwrap();
    let ops = OperatorKeys::load(&operators).unwrap();
    let alice = OperatorKey::load(&s.path("alice.key")).unwrap();
    let bob = OperatorKey::load(&s.path("bob.key")).unwrap();
    let carol = OperatorKey::load(&s.path("carol.key")).unwrap();
    Setup {
        s,
        amrc,
        ops,
        alice,
        bob,
        carol,
    }
}

fn op_note(op: &str) -> Note<'_> {
    Note {
        source: Source::Operator,
        operator: op,
        text: "test halt",
        wall_ns: 1,
    }
}

fn refused(r: Result<lyra_shm::control::HaltState, AmrcError>) -> ResumeRefused {
    match r {
        Err(AmrcError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn resume_needs_two_distinct_valid_approvals_for_the_current_epoch() {
    let t = setup("resume");
    let a = &t.amrc;
    assert!(matches!(
        refused(a.resume(&[], &t.ops, 0)),
        ResumeRefused::NotHalted
    ));
    a.trip_with(HaltReason::Operator, &op_note("alice"))
        .unwrap();
    a.trip_venue(VenueId(2), HaltReason::VenueBan, &op_note("alice"))
        .unwrap();
    assert!(a.is_halted());

    let c = a.challenge();
    let ap = Approval::sign(&t.alice, c);
    let bp = Approval::sign(&t.bob, c);
    let cp = Approval::sign(&t.carol, c);

    assert_eq!(
        refused(a.resume(std::slice::from_ref(&ap), &t.ops, 0)),
        ResumeRefused::TooFewApprovals { got: 1 }
    );
    assert_eq!(
        refused(a.resume(&[ap.clone(), ap.clone()], &t.ops, 0)),
        ResumeRefused::DuplicateOperator {
            operator: "alice".into()
        }
    );
    assert_eq!(
        refused(a.resume(&[ap.clone(), cp], &t.ops, 0)),
        ResumeRefused::UnknownOperator {
            operator: "carol".into()
        }
    );
    let mut forged = bp.clone();
    let flip = if forged.mac.starts_with('0') {
        "1"
    } else {
        "0"
    };
    forged.mac.replace_range(0..1, flip);
    assert_eq!(
        refused(a.resume(&[ap.clone(), forged], &t.ops, 0)),
        ResumeRefused::BadMac {
            operator: "bob".into()
        }
    );
    // A MAC is bound to its fields: re-labelling bob's approval as a later epoch fails too.
    let mut relabelled = bp.clone();
    relabelled.epoch += 1;
    assert!(matches!(
        refused(a.resume(&[ap.clone(), relabelled], &t.ops, 0)),
        ResumeRefused::StaleEpoch { .. }
    ));
    let mut other_seg = bp.clone();
    other_seg.segment_id ^= 1;
    assert!(matches!(
        refused(a.resume(&[ap.clone(), other_seg], &t.ops, 0)),
        ResumeRefused::WrongSegment { .. }
    ));
    assert!(a.is_halted(), "no refusal may clear the halt");

    let after = a
        .resume(&[ap.clone(), bp.clone()], &t.ops, 5)
        .expect("resume");
    assert!(!after.halted());
    assert_eq!(after.epoch(), c.epoch + 1);
    assert!(!a.is_halted());
    assert_eq!(a.segment().venue_mask(), 0);

    // Replaying the same approvals after a new trip: the epoch moved, so they are stale.
    a.trip(HaltReason::RiskLimit, Source::Risk).unwrap();
    assert_eq!(
        refused(a.resume(&[ap, bp], &t.ops, 0)),
        ResumeRefused::StaleEpoch {
            operator: "alice".into(),
            approval: c.epoch,
            current: c.epoch + 2
        }
    );

    // The audit chain holds every transition and refusal, verifies, and carries no key.
    let audit = t.s.path("audit.jsonl");
    let n = verify_chain(&audit).expect("chain verifies");
    let text = audit_text(&audit);
    assert_eq!(n as usize, text.lines().count());
    for ev in [
        "\"trip\"",
        "\"venue_trip\"",
        "\"resume\"",
        "\"resume_refused\"",
    ] {
        assert!(text.contains(&format!("\"event\":{ev}")), "missing {ev}");
    }
    for key in ["alice.key", "bob.key", "carol.key"] {
        let k = std::fs::read_to_string(t.s.path(key)).unwrap();
        let hex = k.split("key=").nth(1).unwrap().trim();
        assert!(!text.contains(hex), "key material in audit");
    }
}

#[test]
fn stale_epoch_after_a_venue_trip_during_approval() {
    let t = setup("stale");
    t.amrc.trip(HaltReason::Operator, Source::Operator).unwrap();
    let c = t.amrc.challenge();
    let ap = Approval::sign(&t.alice, c);
    let bp = Approval::sign(&t.bob, c);
    t.amrc
        .trip_venue(
            VenueId(1),
            HaltReason::VenueBan,
            &Note::auto(Source::Engine),
        )
        .unwrap();
    assert!(matches!(
        refused(t.amrc.resume(&[ap, bp], &t.ops, 0)),
        ResumeRefused::StaleEpoch { .. }
    ));
    assert!(t.amrc.is_halted());
}

#[test]
fn key_files_must_be_private_and_owned() {
    let t = setup("keyperm");
    let p = t.s.path("alice.key");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = OperatorKey::load(&p).unwrap_err();
    assert!(matches!(e, KeyError::BadMode { mode: 0o640, .. }), "{e}");
    let ops = t.s.path("operators");
    std::fs::set_permissions(&ops, std::fs::Permissions::from_mode(0o604)).unwrap();
    assert!(matches!(
        OperatorKeys::load(&ops),
        Err(KeyError::BadMode { .. })
    ));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    OperatorKey::load(&p).expect("0600 loads");
    // keygen refuses to overwrite an existing key file.
    assert!(matches!(
        keygen("alice", &p, None),
        Err(KeyError::Io { .. })
    ));
    assert!(matches!(
        keygen("bad name", &t.s.path("x"), None),
        Err(KeyError::BadName { .. })
    ));
    if lyra_shm::control::fsutil::euid() != 0 {
        eprintln!("skipping foreign-owner check: needs root to chown");
        return;
    }
    std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
    assert!(matches!(
        OperatorKey::load(&p),
        Err(KeyError::ForeignOwner { owner: 65534, .. })
    ));
}

#[test]
fn malformed_key_file_errors_never_echo_the_key() {
    let t = setup("keyparse");
    let p = t.s.path("broken.key");
    let secret = "deadbeef".repeat(7); // 56 hex digits: too short
    write_private(&p, &format!("operator=zed key={secret}\n"));
    let e = OperatorKey::load(&p).unwrap_err();
    assert!(matches!(e, KeyError::Parse { line: 1, .. }), "{e}");
    assert!(!format!("{e} {e:?}").contains(&secret));
    let dbg = format!("{:?} {:?}", t.alice, t.ops);
    let k = std::fs::read_to_string(t.s.path("alice.key")).unwrap();
    assert!(!dbg.contains(k.split("key=").nth(1).unwrap().trim()));
}

fn write_private(p: &Path, text: &str) {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn verify_reports_the_first_broken_record() {
    let t = setup("chain");
    for _ in 0..3 {
        t.amrc.trip(HaltReason::Operator, Source::Operator).unwrap();
    }
    let audit = t.s.path("audit.jsonl");
    assert_eq!(verify_chain(&audit).unwrap(), 3);
    // The three trips are one day's file (the test does not run across midnight UTC often
    // enough to matter: if it does, the edits below still hit the newest file's records).
    let file = lyra_amrc::audit::Layout::new(&audit)
        .daily_files()
        .unwrap()
        .pop()
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let k = lines.len() - 2;
    lines[k] = lines[k].replace("\"retrip\"", "\"tripx\"");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    match verify_chain(&audit) {
        Err(AuditError::Broken { line, path, .. }) if line == k + 1 && path == file => {}
        other => panic!("expected line {} broken, got {other:?}", k + 1),
    }
    // Deleting a record breaks the link of the one after it.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(0);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    assert!(matches!(
        verify_chain(&audit),
        Err(AuditError::Broken { line: 1, .. })
    ));
}

#[test]
fn a_silent_thread_trips_the_halt_once() {
    use lyra_amrc::HeartbeatWatch;
    let t = setup("watchdog");
    let seg = t.amrc.segment();
    let slot = seg.register_thread("feed-binance").unwrap();
    let _quiet = seg.register_thread("never-beat").unwrap();
    let watch = HeartbeatWatch {
        max_age_ns: 5_000_000,
    };
    seg.beat(slot, 1_000_000);
    assert!(t
        .amrc
        .check_heartbeats(&watch, 6_000_000, 7)
        .unwrap()
        .is_none());
    let out = t
        .amrc
        .check_heartbeats(&watch, 6_000_001, 7)
        .unwrap()
        .expect("tripped");
    assert!(out.state().halted());
    assert_eq!(out.state().reason(), HaltReason::HeartbeatLost);
    let rec = seg.last_transition().unwrap();
    assert_eq!(rec.source, Source::AmrcMonitor);
    assert!(
        rec.text.as_str().starts_with("thread feed-binance"),
        "{}",
        rec.text
    );
    // Already halted: no re-trip flood.
    assert!(t
        .amrc
        .check_heartbeats(&watch, 9_000_000, 8)
        .unwrap()
        .is_none());
    let audit = audit_text(&t.s.path("audit.jsonl"));
    assert_eq!(audit.lines().count(), 1);
    assert!(audit.contains("\"heartbeat_lost\""));
}
