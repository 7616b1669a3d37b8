//! Mapped rings: two OS processes exchanging items in order, header checks refusing a ring of
//! another type or layout, and single-holder claims on each end.
#![cfg(not(loom))]

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command},
    thread,
};

use lyra_shm::{
    clock::mono_now_ns,
    msg::{MdEvent, OrderIntent},
    ring::{mapped, MappedError, PushError, Role},
};

/// Items each way in the cross-process test.
const CROSS_ITEMS: u64 = 1_000_000;
/// Set in the child process to the directory holding the parent's ring files.
const CHILD_ENV: &str = "LYRA_RING_TEST_CHILD_DIR";

/// A fresh per-test directory under `/dev/shm` (or the temp dir where there is none).
fn scratch_dir(name: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("lyra-ring-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails the test if the child has exited (it would never drain the ring) or time ran out.
fn check_child(child: &mut Child, started_ns: u64, what: &str) {
    if let Some(status) = child.try_wait().unwrap() {
        panic!("child process exited early ({status}) while the parent {what}");
    }
    assert!(
        mono_now_ns() - started_ns < 120_000_000_000,
        "cross-process exchange stalled while {what}"
    );
}

#[test]
fn cross_process_exchange_in_order() {
    let dir = scratch_dir("xproc");
    // Parent -> child on `down`, child -> parent on `up`; the child echoes each item.
    let mut down = mapped::create_producer::<u64>(dir.join("down"), 256).unwrap();
    let mut up = mapped::create_consumer::<u64>(dir.join("up"), 256).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cross_process_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dir)
        .spawn()
        .unwrap();
    let started = mono_now_ns();
    let (mut sent, mut received) = (0u64, 0u64);
    while received < CROSS_ITEMS {
        let mut progressed = false;
        if sent < CROSS_ITEMS {
            match down.push(sent) {
                Ok(()) => {
                    sent += 1;
                    progressed = true;
                }
                Err(PushError::Full(_)) => {}
            }
        }
        if let Some(v) = up.pop() {
            assert_eq!(v, received, "echo out of order");
            received += 1;
            progressed = true;
        }
        if !progressed {
            check_child(&mut child, started, "exchanged items");
            thread::yield_now();
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status}");
    assert_eq!(up.pop(), None);
    drop((down, up));
    fs::remove_dir_all(&dir).unwrap();
}

/// The child half of `cross_process_exchange_in_order`; does nothing unless run as that child.
#[test]
fn cross_process_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut down = mapped::open_consumer::<u64>(dir.join("down")).unwrap();
    let mut up = mapped::open_producer::<u64>(dir.join("up")).unwrap();
    assert_eq!(down.capacity(), 256);
    let started = mono_now_ns();
    let mut expected = 0u64;
    while expected < CROSS_ITEMS {
        let Some(v) = down.pop() else {
            assert!(
                mono_now_ns() - started < 120_000_000_000,
                "parent stopped sending"
            );
            thread::yield_now();
            continue;
        };
        assert_eq!(v, expected, "item out of order in the child");
        expected += 1;
        let mut back = v;
        while let Err(PushError::Full(b)) = up.push(back) {
            back = b;
            thread::yield_now();
        }
    }
}

#[test]
fn same_process_two_mappings_and_reopen_resumes() {
    let dir = scratch_dir("reopen");
    let path = dir.join("ring");
    let mut tx = mapped::create_producer::<u64>(&path, 8).unwrap();
    let mut rx = mapped::open_consumer::<u64>(&path).unwrap();
    assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5, 6]), 6);
    let mut out = [0u64; 4];
    assert_eq!(rx.pop_into(&mut out), 4);
    assert_eq!(out, [1, 2, 3, 4]);
    drop(tx);
    // A new producer resumes at the shared tail; batches cross the wrap point.
    let mut tx = mapped::open_producer::<u64>(&path).unwrap();
    assert_eq!(tx.len(), 2);
    assert_eq!(tx.push_slice(&[7, 8, 9, 10, 11, 12, 13]), 6);
    assert_eq!(tx.push(14), Err(PushError::Full(14)));
    let mut seen = Vec::new();
    rx.read_batch(usize::MAX, |v| seen.push(*v));
    assert_eq!(seen, [5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(rx.pop(), None);
    drop((tx, rx));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn second_holder_of_an_end_is_refused() {
    let dir = scratch_dir("claim");
    let path = dir.join("ring");
    let tx = mapped::create_producer::<u64>(&path, 16).unwrap();
    match mapped::open_producer::<u64>(&path) {
        Err(MappedError::Claimed {
            role: Role::Producer,
            pid,
            ..
        }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected Claimed, got {other:?}"),
    }
    let rx = mapped::open_consumer::<u64>(&path).unwrap();
    let err = mapped::open_consumer::<u64>(&path).unwrap_err();
    assert!(
        matches!(
            err,
            MappedError::Claimed {
                role: Role::Consumer,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("consumer end is already held"),
        "{err}"
    );
    // The failed opens must not have freed the real holders' claims.
    assert!(mapped::open_producer::<u64>(&path).is_err());
    drop(tx);
    let _tx2 = mapped::open_producer::<u64>(&path).expect("a dropped producer frees its end");
    drop(rx);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ring_of_another_type_is_refused() {
    let dir = scratch_dir("types");
    let path = dir.join("ring");
    let _tx = mapped::create_producer::<u64>(&path, 16).unwrap();
    let err = mapped::open_consumer::<u32>(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            MappedError::TypeMismatch {
                found_size: 8,
                want_size: 4,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("holds `u64` (8 B, align 8)") && msg.contains("expects `u32` (4 B, align 4)"),
        "{msg}"
    );

    // Same size and alignment, different type: still refused, by name.
    let path = dir.join("md");
    let _md = mapped::create_producer::<MdEvent>(&path, 16).unwrap();
    let err = mapped::open_consumer::<OrderIntent>(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            MappedError::TypeMismatch {
                found_size: 64,
                want_size: 64,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("MdEvent") && msg.contains("OrderIntent"),
        "{msg}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_files_are_refused_with_clear_errors() {
    let dir = scratch_dir("bad");
    let missing = mapped::open_consumer::<u64>(dir.join("missing")).unwrap_err();
    assert!(
        matches!(missing, MappedError::Io { op: "open", .. }),
        "{missing}"
    );

    let short = dir.join("short");
    fs::write(&short, b"LYRARING").unwrap();
    let err = mapped::open_consumer::<u64>(&short).unwrap_err();
    assert!(
        matches!(
            err,
            MappedError::TooShort {
                len: 8,
                need: 384,
                ..
            }
        ),
        "{err}"
    );

    let zeros = dir.join("zeros");
    fs::write(&zeros, vec![0u8; 4096]).unwrap();
    let err = mapped::open_consumer::<u64>(&zeros).unwrap_err();
    assert!(
        matches!(err, MappedError::NotInitialised { found: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not yet initialised"), "{err}");

    // A truncated ring file: the header promises more slots than the file holds.
    let cut = dir.join("cut");
    let tx = mapped::create_producer::<u64>(&cut, 1024).unwrap();
    drop(tx);
    let f = fs::OpenOptions::new().write(true).open(&cut).unwrap();
    f.set_len(384 + 8 * 512).unwrap();
    let err = mapped::open_consumer::<u64>(&cut).unwrap_err();
    assert!(
        matches!(
            err,
            MappedError::BadLayout {
                capacity: 1024,
                len: 4480,
                ..
            }
        ),
        "{err}"
    );

    let err = mapped::create_producer::<u64>(dir.join("cap"), 12).unwrap_err();
    assert!(
        matches!(err, MappedError::BadCapacity { capacity: 12, .. }),
        "{err}"
    );
    let err = mapped::create_producer::<u64>(dir.join("cap0"), 0).unwrap_err();
    assert!(
        matches!(err, MappedError::BadCapacity { capacity: 0, .. }),
        "{err}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn create_replaces_a_stale_file_without_disturbing_old_mappers() {
    let dir = scratch_dir("replace");
    let path = dir.join("ring");
    let mut old_tx = mapped::create_producer::<u64>(&path, 8).unwrap();
    let mut old_rx = mapped::open_consumer::<u64>(&path).unwrap();
    old_tx.push(1).unwrap();
    // The engine restarts and recreates the ring: a new file, empty, with free ends.
    let mut new_tx = mapped::create_producer::<u64>(&path, 8).unwrap();
    let mut new_rx = mapped::open_consumer::<u64>(&path).unwrap();
    assert_eq!(new_rx.pop(), None);
    new_tx.push(2).unwrap();
    assert_eq!(new_rx.pop(), Some(2));
    assert_eq!(old_rx.pop(), Some(1));
    assert_eq!(old_rx.pop(), None);
    fs::remove_dir_all(&dir).unwrap();
}
