//! Control segment: create/open round trip, layout/owner/mode refusals, seqlock consistency,
//! futex wake on trip.

use std::{
    fs::OpenOptions,
    io::{Seek, SeekFrom, Write},
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use lyra_shm::{
    control::{
        ControlError, ControlSegment, Counter, CreateOpts, Grant, GrantMode, HaltReason, Note,
        Source, TransitionKind, TripOutcome, WaitOutcome, LAYOUT_HASH,
    },
    msg::{InstrumentIdx, VenueId},
};

/// A unique segment path under /dev/shm, removed on drop.
struct TempSeg(PathBuf);

impl TempSeg {
    fn new(tag: &str) -> Self {
        let n = lyra_shm::clock::mono_now_ns();
        TempSeg(PathBuf::from(format!(
            "/dev/shm/lyra-test-{tag}-{}-{n}",
            std::process::id()
        )))
    }
}

impl Drop for TempSeg {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn create(p: &TempSeg) -> ControlSegment {
    ControlSegment::create(&p.0, &CreateOpts::default()).expect("create segment")
}

fn note<'a>(op: &'a str, text: &'a str, wall_ns: u64) -> Note<'a> {
    Note {
        source: Source::Operator,
        operator: op,
        text,
        wall_ns,
    }
}

#[test]
fn create_open_round_trip_across_handles() {
    let p = TempSeg::new("roundtrip");
    let a = create(&p);
    let mode = std::fs::metadata(&p.0).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let b = ControlSegment::open(&p.0).expect("open");
    assert_eq!(a.segment_id(), b.segment_id());
    assert_ne!(a.segment_id(), 0);
    assert_eq!(b.creator_pid(), std::process::id());
    assert!(!b.is_halted());
    let e0 = b.halt_state().epoch();

    let out = a.trip_with(HaltReason::Operator, &note("alice", "fat finger", 42));
    assert!(matches!(out, TripOutcome::Tripped(s) if s.halted() && s.epoch() == e0 + 1));
    assert!(b.is_halted());
    assert_eq!(b.halt_state().reason(), HaltReason::Operator);
    let rec = b.last_transition().expect("record");
    assert_eq!(rec.kind, TransitionKind::Trip);
    assert_eq!(rec.source, Source::Operator);
    assert_eq!(rec.operator.as_str(), "alice");
    assert_eq!(rec.text.as_str(), "fat finger");
    assert_eq!(rec.wall_ns, 42);
    assert_eq!(rec.epoch, e0 + 1);

    // Re-trip keeps the first cause and the epoch.
    let again = b.trip(HaltReason::RiskLimit, Source::Risk);
    assert!(matches!(again, TripOutcome::AlreadyHalted(s) if s.epoch() == e0 + 1));
    assert_eq!(a.halt_state().reason(), HaltReason::Operator);
    assert_eq!(a.get(Counter::HaltRetrips), 1);

    // Venue bits.
    assert!(!a.is_venue_halted(VenueId(3)) || a.is_halted());
    b.trip_venue(VenueId(3), HaltReason::VenueBan, &note("", "418", 43))
        .unwrap();
    assert_eq!(a.venue_mask(), 1 << 3);
    assert_eq!(a.halt_state().epoch(), e0 + 2);
    assert!(matches!(
        a.trip_venue(VenueId(64), HaltReason::VenueBan, &note("", "", 0)),
        Err(ControlError::VenueOutOfRange { venue: 64 })
    ));

    // Resume needs the current word.
    let stale = lyra_shm::control::HaltState::clone(&a.halt_state());
    a.trip_venue(VenueId(5), HaltReason::VenueBan, &note("", "", 0))
        .unwrap();
    assert!(matches!(
        a.resume_if(stale, &note("bob", "", 1)),
        Err(ControlError::EpochMoved { .. })
    ));
    let cur = a.halt_state();
    let after = a.resume_if(cur, &note("bob", "ok", 44)).expect("resume");
    assert!(!after.halted());
    assert_eq!(after.epoch(), cur.epoch() + 1);
    assert!(!b.is_halted());
    assert_eq!(b.venue_mask(), 0);
    assert!(!b.is_venue_halted(VenueId(3)));
    assert!(matches!(
        b.resume_if(b.halt_state(), &note("", "", 0)),
        Err(ControlError::NotHalted)
    ));
    assert_eq!(b.last_transition().unwrap().kind, TransitionKind::Resume);

    // Counters, grants, heartbeats are shared.
    a.add(Counter::SendsAttempted, 5);
    assert_eq!(b.get(Counter::SendsAttempted), 5);
    let g = Grant {
        grant_id: 7,
        strategy_id: 2,
        venue_mask: 0b11,
        instrument: Some(InstrumentIdx(9)),
        max_order_notional: 1_000,
        max_exposure: 10_000,
        max_orders: 50,
        mode: GrantMode::Live,
        expiry_wall_ns: 1_000,
        revoked: false,
    };
    let slot = a.put_grant(&g, 0).unwrap();
    assert_eq!(b.read_grant(slot), Some(g));
    assert!(g.is_live(999) && !g.is_live(1_000));
    assert!(
        g.covers(2, VenueId(1), InstrumentIdx(9)) && !g.covers(2, VenueId(2), InstrumentIdx(9))
    );
    b.revoke_grant(7).unwrap();
    assert!(a.read_grant(slot).unwrap().revoked);
    assert!(matches!(
        a.revoke_grant(8),
        Err(ControlError::GrantNotFound { grant_id: 8 })
    ));
    let t = a.register_thread("oms").unwrap();
    a.beat(t, 123);
    a.beat(t, 456);
    let hb = b.heartbeats().find(|h| h.slot == t.0).unwrap();
    assert_eq!(hb.name.as_str(), "oms");
    assert_eq!((hb.last_beat_ns, hb.beats), (456, 2));
    a.unregister_thread(t);
    assert!(b.heartbeat(t.0).is_none());
}

#[test]
fn create_refuses_live_creator_and_replaces_stale() {
    let p = TempSeg::new("stale");
    let a = create(&p);
    // Our own pid is alive: a second engine must not steal the segment.
    assert!(matches!(
        ControlSegment::create(&p.0, &CreateOpts::default()),
        Err(ControlError::InUse { .. })
    ));
    drop(a);
    // A segment whose creator pid is dead is replaced.
    let mut f = OpenOptions::new().write(true).open(&p.0).unwrap();
    f.seek(SeekFrom::Start(12)).unwrap();
    f.write_all(&(i32::MAX as u32 - 1).to_le_bytes()).unwrap();
    drop(f);
    let b = ControlSegment::create(&p.0, &CreateOpts::default()).expect("replace stale");
    assert_eq!(b.creator_pid(), std::process::id());
}

/// Overwrites `bytes` at `offset` in an existing segment file.
fn poke(p: &TempSeg, offset: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(&p.0).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn open_refuses_layout_mismatches() {
    let p = TempSeg::new("layout");
    drop(create(&p));

    poke(&p, 0, b"NOTLYRA!");
    let e = ControlSegment::open(&p.0).unwrap_err();
    assert!(matches!(e, ControlError::BadMagic { .. }), "{e}");
    assert!(e.to_string().contains(&*p.0.to_string_lossy()));
    poke(&p, 0, b"LYRACTL1");
    ControlSegment::open(&p.0).expect("restored");

    poke(&p, 8, &99u32.to_le_bytes());
    let e = ControlSegment::open(&p.0).unwrap_err();
    assert!(
        matches!(e, ControlError::LayoutVersion { found: 99, .. }),
        "{e}"
    );
    poke(&p, 8, &lyra_shm::control::LAYOUT_VERSION.to_le_bytes());

    poke(&p, 16, &(LAYOUT_HASH ^ 1).to_le_bytes());
    let e = ControlSegment::open(&p.0).unwrap_err();
    assert!(matches!(e, ControlError::LayoutHash { .. }), "{e}");
    poke(&p, 16, &LAYOUT_HASH.to_le_bytes());
    ControlSegment::open(&p.0).expect("restored");

    OpenOptions::new()
        .write(true)
        .open(&p.0)
        .unwrap()
        .set_len(100)
        .unwrap();
    assert!(matches!(
        ControlSegment::open(&p.0),
        Err(ControlError::TooSmall { len: 100, .. })
    ));

    std::fs::remove_file(&p.0).unwrap();
    let e = ControlSegment::open(&p.0).unwrap_err();
    assert!(matches!(e, ControlError::Missing { .. }), "{e}");
}

#[test]
fn open_refuses_wrong_mode_and_foreign_owner() {
    let p = TempSeg::new("perm");
    drop(create(&p));
    std::fs::set_permissions(&p.0, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = ControlSegment::open(&p.0).unwrap_err();
    assert!(
        matches!(e, ControlError::BadMode { mode: 0o644, .. }),
        "{e}"
    );
    std::fs::set_permissions(&p.0, std::fs::Permissions::from_mode(0o600)).unwrap();
    ControlSegment::open(&p.0).expect("0600 opens");

    if lyra_shm::control::fsutil::euid() != 0 {
        eprintln!("skipping foreign-owner check: needs root to chown");
        return;
    }
    std::os::unix::fs::chown(&p.0, Some(65534), None).unwrap();
    let e = ControlSegment::open(&p.0).unwrap_err();
    assert!(
        matches!(
            e,
            ControlError::ForeignOwner {
                owner: 65534,
                euid: 0,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn seqlock_readers_never_see_torn_records() {
    let p = TempSeg::new("seqlock");
    let w = Arc::new(create(&p));
    let r = Arc::new(ControlSegment::open(&p.0).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let grant = |k: u64| Grant {
        grant_id: 1,
        strategy_id: k as u16,
        venue_mask: k,
        instrument: None,
        max_order_notional: k as i64,
        max_exposure: k as i64,
        max_orders: k,
        mode: GrantMode::Safe,
        expiry_wall_ns: k,
        revoked: false,
    };
    w.put_grant(&grant(1), 0).unwrap();
    let writer = {
        let (w, stop) = (w.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut k = 1u64;
            while !stop.load(Ordering::Relaxed) && k < 200_000 {
                k += 1;
                w.put_grant(&grant(k), 0).unwrap();
                // Transition records: operator, text and time all encode the same k.
                let (op, text) = (format!("op{k}"), format!("{k}-").repeat(20));
                let n = note(&op, &text, k);
                let s = w.halt_state();
                if s.halted() {
                    let _ = w.resume_if(s, &n);
                } else {
                    w.trip_with(HaltReason::Operator, &n);
                }
            }
            k
        })
    };
    let (mut seen, mut read_ok) = (0u64, 0u64);
    while !writer.is_finished() {
        // `None` means the writer held the lock for the whole read budget (preempted on a busy
        // machine): allowed; a torn value never is.
        if let Some(g) = r.read_grant(0) {
            assert_eq!(g, grant(g.max_orders), "torn grant");
            read_ok += 1;
        }
        if let Some(rec) = r.last_transition() {
            let k = rec.wall_ns;
            assert_eq!(rec.operator.as_str(), format!("op{k}"), "torn record");
            let text = format!("{k}-").repeat(20);
            assert_eq!(
                rec.text.as_str(),
                lyra_shm::control::truncate_utf8(&text, 96)
            );
        }
        seen += 1;
        if seen % 64 == 0 {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let k = writer.join().unwrap();
    assert!(k > 1 && seen > 0 && read_ok > 0);
}

#[test]
fn futex_wait_is_released_by_trip_from_another_mapping() {
    let p = TempSeg::new("futex");
    let a = create(&p);
    let b = Arc::new(ControlSegment::open(&p.0).unwrap());
    let waiter = {
        let b = b.clone();
        std::thread::spawn(move || {
            let seq = b.wake_seq();
            assert!(!b.is_halted());
            // A long timeout: returning `Changed` with the halt set proves the trip woke us.
            loop {
                match b.wait_for_change(seq, Duration::from_secs(60)) {
                    WaitOutcome::Changed(_) => return b.is_halted(),
                    WaitOutcome::Spurious => continue,
                    WaitOutcome::TimedOut => return false,
                }
            }
        })
    };
    // Give the waiter a chance to be inside FUTEX_WAIT (correctness does not depend on it).
    std::thread::sleep(Duration::from_millis(50));
    a.trip(HaltReason::Operator, Source::Operator);
    assert!(
        waiter.join().unwrap(),
        "waiter woke without seeing the halt"
    );
}

#[test]
fn futex_wait_times_out_without_a_transition() {
    let p = TempSeg::new("futex-timeout");
    let a = create(&p);
    let seq = a.wake_seq();
    let out = loop {
        match a.wait_for_change(seq, Duration::from_millis(20)) {
            WaitOutcome::Spurious => continue,
            o => break o,
        }
    };
    assert_eq!(out, WaitOutcome::TimedOut);
    // A stale expected value returns at once.
    a.trip(HaltReason::Operator, Source::Operator);
    assert!(matches!(
        a.wait_for_change(seq, Duration::from_secs(60)),
        WaitOutcome::Changed(_)
    ));
}

#[test]
fn text_is_truncated_on_char_boundaries() {
    let p = TempSeg::new("utf8");
    let a = create(&p);
    let long = "é".repeat(100); // 200 bytes, 2-byte chars
    a.trip_with(HaltReason::Operator, &note(&"ü".repeat(40), &long, 1));
    let rec = a.last_transition().unwrap();
    assert_eq!(rec.text.as_str(), "é".repeat(48));
    assert_eq!(rec.operator.as_str(), "ü".repeat(16));
}
