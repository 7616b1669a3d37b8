//! The array-indexed book must be exact: it is checked against a `BTreeMap<i64, i64>` model over
//! random set/delete sequences that include far levels, off-grid prices, tick derivation and
//! recentring (small windows force many recentres).

use std::collections::BTreeMap;

use lyra_engine::book::{Applied, BookConfig, L2Book};
use lyra_shm::msg::{
    md_flags, InstrumentIdx, InvalidReason, MdEvent, MdKind, Px, Qty, Side, VenueId,
};
use proptest::prelude::*;

/// The reference model: price -> qty per side.
#[derive(Default)]
struct Model {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl Model {
    fn set(&mut self, side: Side, px: i64, qty: i64) {
        let m = if side == Side::Buy {
            &mut self.bids
        } else {
            &mut self.asks
        };
        if qty == 0 {
            m.remove(&px);
        } else {
            m.insert(px, qty);
        }
    }
}

fn check(book: &L2Book, model: &Model) {
    let bids: Vec<(i64, i64)> = book.bids().map(|(p, q)| (p.0, q.0)).collect();
    let asks: Vec<(i64, i64)> = book.asks().map(|(p, q)| (p.0, q.0)).collect();
    let mbids: Vec<(i64, i64)> = model.bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
    let masks: Vec<(i64, i64)> = model.asks.iter().map(|(p, q)| (*p, *q)).collect();
    assert_eq!(bids, mbids, "bids differ");
    assert_eq!(asks, masks, "asks differ");
    assert_eq!(
        book.best_bid().map(|(p, q)| (p.0, q.0)),
        mbids.first().copied()
    );
    assert_eq!(
        book.best_ask().map(|(p, q)| (p.0, q.0)),
        masks.first().copied()
    );
    assert_eq!(book.bid_levels(), mbids.len());
    assert_eq!(book.ask_levels(), masks.len());
    for &(p, q) in mbids.iter().take(8) {
        assert_eq!(book.qty_at(Side::Buy, Px(p)), Qty(q));
    }
    let top = book.top();
    for (i, &(p, q)) in masks.iter().take(5).enumerate() {
        assert_eq!((top.ask_px[i].0, top.ask_qty[i].0), (p, q));
    }
}

fn level(side: Side, px: i64, qty: i64, flags: u8) -> MdEvent {
    MdEvent {
        kind: MdKind::Level,
        side,
        px: Px(px),
        qty: Qty(qty),
        flags,
        ..MdEvent::default()
    }
}

/// An operation: side, price offset in ticks from a moving centre (some far, some off-grid), qty.
fn op() -> impl Strategy<Value = (bool, i64, i64, bool)> {
    (
        any::<bool>(),
        prop_oneof![6 => -40i64..40, 1 => -5000i64..5000],
        prop_oneof![1 => Just(0i64), 3 => 1i64..1000],
        prop_oneof![9 => Just(false), 1 => Just(true)],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Direct set/delete through the public API, with a known tick and a tiny window.
    #[test]
    fn matches_btreemap(ops in proptest::collection::vec((op(), -3i64..=3), 1..400), slots in 1usize..64) {
        let tick = 100;
        let cfg = BookConfig { window_slots: slots, far_levels: 16, tick };
        let mut book = L2Book::new(VenueId(0), InstrumentIdx(0), cfg);
        let mut model = Model::default();
        let mut centre: i64 = 1_000_000;
        for ((is_bid, off, qty, off_grid), drift) in ops {
            centre += drift * tick * 7;
            let mut px = centre + off * tick;
            if off_grid {
                px += 37;
            }
            if px <= 0 {
                continue;
            }
            let side = if is_bid { Side::Buy } else { Side::Sell };
            prop_assert!(book.set(side, Px(px), Qty(qty)));
            model.set(side, px, qty);
            check(&book, &model);
        }
    }

    /// The occupancy bitmap over multi-word windows (up to 3 summary words): sparse levels
    /// thousands of slots apart, frequent deletes of the best (the next best is found through the
    /// bitmap, across empty words), full-book reads (iteration jumps gaps) and recentres from a
    /// drifting touch, with windows that are not a multiple of 64.
    #[test]
    fn bitmap_sparse_levels_match_btreemap(
        ops in proptest::collection::vec(
            (any::<bool>(), prop_oneof![2 => 0i64..64, 2 => 0i64..12_000, 1 => -12_000i64..0], prop_oneof![1 => Just(0i64), 2 => 1i64..1000], 0u8..4, -300i64..=300),
            1..300),
        slots in prop_oneof![Just(64usize), Just(65), Just(4096), Just(4097), Just(9000), 100usize..10_000],
    ) {
        let tick = 5;
        let cfg = BookConfig { window_slots: slots, far_levels: 32, tick };
        let mut book = L2Book::new(VenueId(0), InstrumentIdx(0), cfg);
        let mut model = Model::default();
        let mut centre: i64 = 10_000_000;
        for (is_bid, off, qty, action, drift) in ops {
            centre += drift * tick;
            let side = if is_bid { Side::Buy } else { Side::Sell };
            let m = if is_bid { &model.bids } else { &model.asks };
            // action 0: delete the current best of the side (exercises the next-best search).
            let best = if is_bid { m.last_key_value() } else { m.first_key_value() };
            let (px, qty) = match (action, best) {
                (0, Some((&p, _))) => (p, 0),
                // Bids below, asks above the centre, `off` ticks away (sparse when large).
                _ => (if is_bid { centre - (off + 1) * tick } else { centre + (off + 1) * tick }, qty),
            };
            if px <= 0 {
                continue;
            }
            prop_assert!(book.set(side, Px(px), Qty(qty)));
            model.set(side, px, qty);
            check(&book, &model);
        }
        // Drain each side best-first: every delete of the best must find the next one.
        while let Some((p, _)) = book.best_bid() {
            book.set(Side::Buy, p, Qty(0));
            model.set(Side::Buy, p.0, 0);
            check(&book, &model);
        }
        while let Some((p, _)) = book.best_ask() {
            book.set(Side::Sell, p, Qty(0));
            model.set(Side::Sell, p.0, 0);
            check(&book, &model);
        }
        prop_assert_eq!(book.bid_levels() + book.ask_levels(), 0);
    }

    /// Through `apply`: a snapshot with unknown tick (derived by gcd), then updates.
    #[test]
    fn apply_with_derived_tick(snap in proptest::collection::vec(op(), 1..100), ops in proptest::collection::vec(op(), 0..300)) {
        let tick = 1_000_000;
        let cfg = BookConfig { window_slots: 32, far_levels: 8, tick: 0 };
        let mut book = L2Book::new(VenueId(0), InstrumentIdx(3), cfg);
        let mut model = Model::default();
        let centre = 6_000_000_000_000i64;
        book.apply(&MdEvent { kind: MdKind::SnapshotBegin, seq: 7, ..MdEvent::default() });
        for (is_bid, off, qty, _) in snap {
            // Bids below, asks above the centre so the snapshot is never crossed.
            let (side, px) = if is_bid { (Side::Buy, centre - (off.abs() + 1) * tick) } else { (Side::Sell, centre + (off.abs() + 1) * tick) };
            book.apply(&level(side, px, qty, md_flags::SNAPSHOT));
            model.set(side, px, qty);
        }
        let end = book.apply(&MdEvent { kind: MdKind::SnapshotEnd, seq: 7, flags: md_flags::SNAPSHOT | md_flags::END_OF_MESSAGE, ..MdEvent::default() });
        prop_assert_eq!(end, Applied::EndOfMessage);
        prop_assert!(book.is_valid());
        check(&book, &model);
        for (is_bid, off, qty, off_grid) in ops {
            let (side, mut px) = if is_bid { (Side::Buy, centre - (off.abs() + 1) * tick) } else { (Side::Sell, centre + (off.abs() + 1) * tick) };
            if off_grid { px += 5000; }
            book.apply(&level(side, px, qty, md_flags::END_OF_MESSAGE));
            model.set(side, px, qty);
            check(&book, &model);
        }
    }
}

#[test]
fn crossed_after_complete_message_invalidates() {
    let mut book = L2Book::new(VenueId(1), InstrumentIdx(0), BookConfig::default());
    book.apply(&MdEvent {
        kind: MdKind::SnapshotBegin,
        seq: 1,
        ..MdEvent::default()
    });
    book.apply(&level(Side::Buy, 100, 5, md_flags::SNAPSHOT));
    book.apply(&level(Side::Sell, 101, 5, md_flags::SNAPSHOT));
    book.apply(&MdEvent {
        kind: MdKind::SnapshotEnd,
        seq: 1,
        ..MdEvent::default()
    });
    assert!(book.is_valid());
    assert_eq!(book.tick(), 1);
    // A message that crosses transiently but ends uncrossed is fine.
    assert_eq!(book.apply(&level(Side::Buy, 102, 1, 0)), Applied::Partial);
    assert_eq!(
        book.apply(&level(Side::Buy, 102, 0, md_flags::END_OF_MESSAGE)),
        Applied::EndOfMessage
    );
    assert!(book.is_valid());
    // Locked after a complete message: invalid at once.
    assert_eq!(
        book.apply(&level(Side::Buy, 101, 1, md_flags::END_OF_MESSAGE)),
        Applied::Invalidated(InvalidReason::Crossed)
    );
    assert!(!book.is_valid());
    assert_eq!(book.invalid_reason(), InvalidReason::Crossed);
    // A new snapshot makes it valid again.
    book.apply(&MdEvent {
        kind: MdKind::SnapshotBegin,
        seq: 9,
        ..MdEvent::default()
    });
    book.apply(&level(Side::Buy, 99, 5, md_flags::SNAPSHOT));
    book.apply(&MdEvent {
        kind: MdKind::SnapshotEnd,
        seq: 9,
        ..MdEvent::default()
    });
    assert!(book.is_valid());
    assert_eq!(book.bid_levels(), 1);
    assert_eq!(book.ask_levels(), 0);
}

#[test]
fn bad_levels_and_invalid_events() {
    let mut book = L2Book::new(VenueId(0), InstrumentIdx(0), BookConfig::default());
    book.apply(&MdEvent {
        kind: MdKind::SnapshotBegin,
        ..MdEvent::default()
    });
    book.apply(&level(Side::Sell, -5, 1, md_flags::SNAPSHOT));
    book.apply(&MdEvent {
        kind: MdKind::SnapshotEnd,
        ..MdEvent::default()
    });
    assert!(
        !book.is_valid(),
        "a snapshot with a bad level is not published"
    );
    book.apply(&MdEvent {
        kind: MdKind::SnapshotBegin,
        ..MdEvent::default()
    });
    book.apply(&MdEvent {
        kind: MdKind::SnapshotEnd,
        ..MdEvent::default()
    });
    assert!(book.is_valid());
    let inv = MdEvent {
        kind: MdKind::BookInvalid,
        reason: InvalidReason::Gap,
        ..MdEvent::default()
    };
    assert_eq!(book.apply(&inv), Applied::Invalidated(InvalidReason::Gap));
    assert_eq!(book.invalid_reason(), InvalidReason::Gap);
    let trade = MdEvent {
        kind: MdKind::Trade,
        ..MdEvent::default()
    };
    assert_eq!(book.apply(&trade), Applied::Ignored);
}
