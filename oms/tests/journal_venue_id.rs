//! The journal keeps the venue's text order id (OKX `ordId`, Kraken txid) with a state record,
//! so restart recovery can query a Kraken order that has closed (txid only); records without
//! one (Binance, or files written before) read back with an empty id.

use lyra_oms::{journal::Journal, venue::IdText};
use lyra_shm::msg::{OrderIntent, OrderState, Px, Qty, VenueId};

#[test]
fn text_venue_ids_survive_a_reopen_and_plain_records_stay_plain() {
    let dir = std::env::temp_dir().join(format!("lyra-journal-vid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("intents.journal");
    let it = |seq| OrderIntent {
        intent_seq: seq,
        px: Px(6_000_000),
        qty: Qty(1_000),
        venue: VenueId(1),
        ..Default::default()
    };
    let txid = IdText::new("OSIMUL-ATED0-000042").unwrap();
    {
        let (mut j, _) = Journal::open(&path, "vid", 16).unwrap();
        j.append_intent(&it(1), 1).unwrap();
        j.append_intent(&it(2), 1).unwrap();
        j.append_state(1, OrderState::Sent, 0, Qty(0), 2).unwrap();
        j.append_state_with_id(1, OrderState::Acked, 77, &txid, Qty(0), 3)
            .unwrap();
        // A later record without an id keeps the one learned.
        j.append_state(1, OrderState::Partial, 0, Qty(400), 4)
            .unwrap();
        j.append_state(2, OrderState::Acked, 9, Qty(0), 5).unwrap();
    }
    let (_, rec) = Journal::open(&path, "vid", 16).unwrap();
    let one = rec.intents[&1];
    assert_eq!(
        (one.state, one.venue_order_id, one.venue_id, one.cum_qty),
        (OrderState::Partial, 77, txid, Qty(400))
    );
    let two = rec.intents[&2];
    assert_eq!((two.venue_order_id, two.venue_id), (9, IdText::default()));
    let _ = std::fs::remove_dir_all(&dir);
}
