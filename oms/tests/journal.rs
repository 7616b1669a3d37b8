//! The intents journal survives `kill -9` at any point: every record before the kill reads back
//! intact, a torn last record is detected and dropped, sequences continue without reuse.

use std::{path::PathBuf, process::Command, time::Duration};

use lyra_oms::journal::{Journal, JournalError};
use lyra_shm::msg::{OrderIntent, OrderState, Px, Qty, Side, VenueId};

fn temp_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lyra-journal-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("intents.journal")
}

/// The intent a writer journals for sequence `seq` (so a reader can check every field).
fn intent_for(seq: u64) -> OrderIntent {
    OrderIntent {
        intent_seq: seq,
        group_id: seq / 2,
        decided_ts: seq * 1_000,
        book_seq: seq * 7,
        px: Px(6_000_000 + seq as i64),
        qty: Qty(1_000 + seq as i64 % 97),
        venue: VenueId((seq % 3) as u8),
        side: if seq % 2 == 0 { Side::Buy } else { Side::Sell },
        ..Default::default()
    }
}

#[test]
fn round_trip_states_and_refusals() {
    let path = temp_path("rt");
    {
        let (mut j, rec) = Journal::open(&path, "run1", 16).unwrap();
        assert_eq!(rec.next_intent_seq(), 1);
        for s in 1..=3 {
            j.append_intent(&intent_for(s), 10).unwrap();
        }
        j.append_state(1, OrderState::Sent, 0, Qty(0), 11).unwrap();
        j.append_state(1, OrderState::Acked, 777, Qty(0), 12)
            .unwrap();
        j.append_state(1, OrderState::Filled, 0, Qty(1001), 13)
            .unwrap();
        j.append_state(2, OrderState::SentUnknown, 0, Qty(0), 14)
            .unwrap();
    }
    let (mut j, rec) = Journal::open(&path, "run1", 16).unwrap();
    assert_eq!(rec.records, 7);
    assert!(!rec.torn_tail);
    assert_eq!(rec.next_intent_seq(), 4);
    let one = rec.intents[&1];
    assert_eq!(
        (one.state, one.venue_order_id, one.cum_qty),
        (OrderState::Filled, 777, Qty(1001))
    );
    assert_eq!(one.intent, intent_for(1));
    let open: Vec<u64> = rec.non_terminal().map(|j| j.intent.intent_seq).collect();
    assert_eq!(
        open,
        vec![2, 3],
        "SENT_UNKNOWN and NEW intents need reconciling"
    );
    for _ in 7..16 {
        j.append_state(3, OrderState::Sent, 0, Qty(0), 1).unwrap();
    }
    assert!(matches!(
        j.append_state(3, OrderState::Sent, 0, Qty(0), 1),
        Err(JournalError::Full { capacity: 16 })
    ));
    drop(j);
    assert!(matches!(
        Journal::open(&path, "run2", 16),
        Err(JournalError::OtherRun { .. })
    ));
}

#[test]
fn a_torn_record_ends_the_journal() {
    let path = temp_path("torn");
    {
        let (mut j, _) = Journal::open(&path, "r", 8).unwrap();
        j.append_intent(&intent_for(1), 1).unwrap();
        j.append_intent(&intent_for(2), 1).unwrap();
    }
    // Corrupt one byte of the second record, as a crash mid-append would leave it.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096 + 128 + 60] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (mut j, rec) = Journal::open(&path, "r", 8).unwrap();
    assert!(rec.torn_tail);
    assert_eq!(rec.records, 1);
    assert_eq!(
        rec.next_intent_seq(),
        2,
        "the torn intent was never sent; its sequence is reused by no one else"
    );
    j.append_intent(&intent_for(2), 1).unwrap();
    drop(j);
    let (_, rec) = Journal::open(&path, "r", 8).unwrap();
    assert!(!rec.torn_tail);
    assert_eq!(rec.records, 2);
}

/// Child role: append intents and their life cycle as fast as possible until killed.
#[test]
fn journal_writer_child() {
    let Some(path) = std::env::var_os("LYRA_JOURNAL_CHILD") else {
        return;
    };
    let (mut j, rec) = Journal::open(PathBuf::from(path), "kill9", 2_000_000).unwrap();
    // Restart reconciliation, as the OMS does before any new order: settle what was in flight.
    let pending: Vec<u64> = rec.non_terminal().map(|j| j.intent.intent_seq).collect();
    for s in pending {
        j.append_state(s, OrderState::Filled, s, intent_for(s).qty, s)
            .unwrap();
    }
    let mut seq = rec.next_intent_seq();
    loop {
        j.append_intent(&intent_for(seq), seq).unwrap();
        j.append_state(seq, OrderState::Sent, 0, Qty(0), seq)
            .unwrap();
        j.append_state(seq, OrderState::Filled, seq, intent_for(seq).qty, seq)
            .unwrap();
        seq += 1;
    }
}

#[test]
fn survives_kill_9_at_any_point() {
    let path = temp_path("kill9");
    let exe = std::env::current_exe().unwrap();
    let mut last_next = 1;
    for round in 0..12u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "journal_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LYRA_JOURNAL_CHILD", &path)
            .spawn()
            .unwrap();
        // Let it write for a varying while, then SIGKILL it mid-stream.
        std::thread::sleep(Duration::from_millis(30 + (round * 17) % 90));
        child.kill().unwrap();
        child.wait().unwrap();
        let (_, rec) = Journal::open(&path, "kill9", 2_000_000).unwrap();
        let next = rec.next_intent_seq();
        assert!(
            next >= last_next,
            "round {round}: sequences never go back ({next} < {last_next})"
        );
        // Every intent is present, intact, contiguous from 1; only the last may be mid-life.
        for (expect, (seq, j)) in (1u64..).zip(rec.intents.iter()) {
            assert_eq!(*seq, expect, "round {round}: no hole in the sequence");
            assert_eq!(
                j.intent,
                intent_for(*seq),
                "round {round}: intent {seq} intact"
            );
            if *seq + 1 < next {
                assert_eq!(
                    j.state,
                    OrderState::Filled,
                    "round {round}: earlier intents completed"
                );
                assert_eq!(j.cum_qty, intent_for(*seq).qty);
            }
        }
        last_next = next;
    }
    assert!(last_next > 1, "the writer made progress");
}
