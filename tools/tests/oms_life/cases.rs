//! Deterministic life-cycle cases run on both venues: rules read from the venue, SAFE sends no
//! order, a halt blocks sends and cancels open orders, a rate-limit refusal backs the venue off,
//! clock refusals re-sync or halt, a death between send and ack is settled by reconciliation,
//! an intent the venue never resolves halts the venue.

use std::time::Duration;

use lyra_oms::{
    clordid::ClOrdId,
    journal::Journal,
    order::{AlertKind, AuditEvent},
    Mode, OmsConfig, OmsError,
};
use lyra_shm::{
    clock::wall_now_ns,
    control::{GrantMode, HaltReason, Source},
    msg::{InstrumentIdx, OrderState, Qty, Side, VenueId},
};
use lyra_tools::sim::faults::FaultKind;

use super::{cfg, d, intent, segment, Harness, Kind, Risk, TempDir, LOT, QTY_SCALE};

/// A resting buy price (well under the frozen book) and a crossing one.
const REST_PX: i64 = 5_000_000;
const CROSS_PX: i64 = 6_100_000;

/// The venue's rules land in the symbol; an order outside them is refused locally; a market in
/// maintenance is not tradable.
pub fn rules_are_read_from_the_venue(kind: Kind) {
    let h = Harness::start(kind, 1);
    let dir = TempDir::new("rules");
    let seg = segment(&dir, GrantMode::Live);
    let mut risk = Risk::new(seg.clone(), true);
    let mut oms = h.oms(&dir, &seg, cfg("rules"));
    let s = oms.symbol(InstrumentIdx(0)).expect("symbol").clone();
    assert!(s.trading);
    assert_eq!(
        (s.filters.tick_size, s.filters.step_size, s.filters.min_qty),
        (d("0.01"), d("0.00001"), d("0.00001")),
        "{kind:?}"
    );
    if kind == Kind::Kraken {
        assert_eq!(s.filters.min_notional, d("5"), "AssetPairs costmin");
    }
    oms.reconcile().expect("reconcile");
    if kind == Kind::Kraken {
        // 0.00001 BTC at 60,000 is 0.60 USDT, under the 5 USDT cost minimum.
        let e = oms
            .submit(risk.approve(intent(1, Side::Buy, 6_000_000, 1)).unwrap())
            .unwrap_err();
        assert!(matches!(e, OmsError::Filter { .. }), "{e}");
        assert!(oms.order(1).is_none(), "refused before the journal");
    }
    h.window(FaultKind::Maintenance, 60_000);
    oms.refresh_symbol_rules().expect("rules");
    assert!(!oms.symbol(InstrumentIdx(0)).unwrap().trading);
    let e = oms
        .submit(risk.approve(intent(2, Side::Buy, REST_PX, 1_000)).unwrap())
        .unwrap_err();
    assert!(matches!(e, OmsError::Instrument { .. }), "{e}");
    assert!(h.venue_client_ids().is_empty(), "nothing reached the venue");
}

/// SAFE: the would-be order is checked (Kraken `validate=true`) or built (OKX), recorded, and
/// ends EXPIRED; the venue holds no order.
pub fn safe_mode_sends_no_order(kind: Kind) {
    let h = Harness::start(kind, 2);
    let dir = TempDir::new("safe");
    let seg = segment(&dir, GrantMode::Safe);
    let mut risk = Risk::new(seg.clone(), false);
    let mut oms = h.oms(
        &dir,
        &seg,
        OmsConfig {
            mode: Mode::Safe,
            ..cfg("safe")
        },
    );
    oms.reconcile().expect("reconcile");
    for (seq, px) in [(1, CROSS_PX), (2, REST_PX)] {
        let s = oms
            .submit(risk.approve(intent(seq, Side::Buy, px, 1_000)).unwrap())
            .expect("submit");
        assert!(s.safe);
        assert_eq!(s.state, OrderState::Expired, "{kind:?}");
    }
    let accepted = oms
        .drain_events()
        .filter(|e| matches!(e, AuditEvent::SafeOrder { accepted: true, .. }))
        .count();
    assert_eq!(accepted, 2);
    let sent = match kind {
        Kind::Kraken => 2, // AddOrder validate=true: checked by the venue
        Kind::Okx => 0,    // no test endpoint: built and signed, not sent
    };
    assert_eq!(oms.stats().test_requests, sent);
    assert!(h.venue_client_ids().is_empty(), "the venue holds no order");
    assert_eq!(oms.positions().get(VenueId(0), InstrumentIdx(0)).base, 0);
}

/// After a halt the OMS sends nothing (its own check, right before the write) and the kill
/// path cancels the open orders.
pub fn halt_blocks_sends_and_cancels(kind: Kind) {
    let h = Harness::start(kind, 3);
    let dir = TempDir::new("halt");
    let seg = segment(&dir, GrantMode::Live);
    let mut risk = Risk::new(seg.clone(), true);
    let mut oms = h.oms(&dir, &seg, cfg("halt"));
    oms.reconcile().expect("reconcile");
    for seq in 1..=2 {
        let s = oms
            .submit(
                risk.approve(intent(seq, Side::Buy, REST_PX, 1_000))
                    .unwrap(),
            )
            .expect("submit");
        assert_eq!(s.state, OrderState::Acked);
    }
    let late = risk.approve(intent(3, Side::Buy, REST_PX, 1_000)).unwrap();
    seg.trip(HaltReason::Operator, Source::Operator);
    let e = oms.submit(late).unwrap_err();
    assert!(matches!(e, OmsError::Halted { intent_seq: 3, .. }), "{e}");
    oms.poll().expect("poll");
    for seq in 1..=2 {
        assert_eq!(oms.order(seq).unwrap().state, OrderState::Canceled);
    }
    assert!(oms.order(3).is_none(), "refused before the journal");
    let id = ClOrdId::new("halt", 3).unwrap();
    assert!(h.venue_orders(id.as_str()).is_empty());
    assert_eq!(oms.stats().kill_cancels, 2);
}

/// A rate-limit refusal rejects the order and backs the venue off: the next intent is
/// throttled locally, never sent.
pub fn rate_limit_backs_off(kind: Kind) {
    let h = Harness::start(kind, 4);
    let dir = TempDir::new("rate");
    let seg = segment(&dir, GrantMode::Live);
    let mut risk = Risk::new(seg.clone(), true);
    let mut oms = h.oms(&dir, &seg, cfg("rate"));
    oms.reconcile().expect("reconcile");
    h.inject(FaultKind::RateLimit, 1);
    let s = oms
        .submit(risk.approve(intent(1, Side::Buy, REST_PX, 1_000)).unwrap())
        .expect("submit");
    assert_eq!(s.state, OrderState::Rejected);
    assert_eq!(oms.stats().http_429, 1);
    let e = oms
        .submit(risk.approve(intent(2, Side::Buy, REST_PX, 1_000)).unwrap())
        .unwrap_err();
    assert!(matches!(e, OmsError::Throttled { .. }), "{e}");
    assert!(h.venue_client_ids().is_empty());
}

/// OKX refuses a timestamp 60 s off (`50102`): the OMS re-syncs and the next order passes;
/// with `max_skew_ms` under the offset the venue is halted and an alert raised.
pub fn clock_refusal_resyncs_or_halts(kind: Kind) {
    let h = Harness::start(kind, 5);
    for (max_skew_ms, halts) in [(120_000, false), (1_000, true)] {
        let run = if halts { "skewb" } else { "skewa" };
        let dir = TempDir::new(run);
        let seg = segment(&dir, GrantMode::Live);
        let mut risk = Risk::new(seg.clone(), true);
        let mut oms = h.oms(
            &dir,
            &seg,
            OmsConfig {
                max_skew_ms,
                ..cfg(run)
            },
        );
        oms.reconcile().expect("reconcile");
        h.sim
            .inject(h.name(), FaultKind::ClockSkew, 1, 600_000, 60_000)
            .expect("skew");
        let s = oms
            .submit(risk.approve(intent(1, Side::Buy, REST_PX, 1_000)).unwrap())
            .expect("submit");
        assert_eq!(s.state, OrderState::Rejected);
        assert_eq!(oms.stats().time_resyncs, 1);
        assert_eq!(seg.is_venue_halted(VenueId(0)), halts);
        if halts {
            assert!(oms.drain_events().any(|e| matches!(
                e,
                AuditEvent::Alert {
                    kind: AlertKind::ClockSkew,
                    ..
                }
            )));
        } else {
            let s = oms
                .submit(risk.approve(intent(2, Side::Buy, REST_PX, 1_000)).unwrap())
                .expect("submit");
            assert_eq!(s.state, OrderState::Acked, "accepted after the re-sync");
        }
        oms.cancel_all().expect("cancel");
        h.sim
            .inject(h.name(), FaultKind::ClockSkew, 1, 1, 0)
            .expect("skew off");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A process that died after sending an order that filled at once (and before reading the
/// answer) restarts: reconciliation finds the order by client id (Kraken: among the closed
/// orders, its txid never journaled), applies the fill and ends it FILLED, exactly once.
pub fn death_between_send_and_ack_is_reconciled(kind: Kind) {
    let h = Harness::start(kind, 6);
    let dir = TempDir::new("death");
    let seg = segment(&dir, GrantMode::Live);
    let (btc0, usdt0) = (h.balance("BTC"), h.balance("USDT"));
    let run = "death";
    let it = intent(1, Side::Buy, CROSS_PX, 2_000);
    {
        let (mut j, _) = Journal::open(dir.0.join("journal"), run, 256).expect("journal");
        j.append_intent(&it, wall_now_ns()).unwrap();
        j.append_state(1, OrderState::Sent, 0, Qty(0), wall_now_ns())
            .unwrap();
        h.place_raw(&it, &ClOrdId::new(run, 1).unwrap());
    }
    // And one that died after the journal write, before the send.
    {
        let (mut j, _) = Journal::open(dir.0.join("journal"), run, 256).expect("journal");
        j.append_intent(&intent(2, Side::Buy, CROSS_PX, 2_000), wall_now_ns())
            .unwrap();
    }
    let mut oms = h.oms(&dir, &seg, cfg(run));
    let rep = oms.reconcile().expect("reconcile");
    assert!(rep.unresolved.is_empty(), "{rep:?}");
    assert!(rep.foreign.is_empty(), "{rep:?}");
    let o = *oms.order(1).unwrap();
    assert_eq!(o.state, OrderState::Filled, "{kind:?} {:?}", oms.stats());
    assert_eq!((o.cum_qty.0, o.filled_qty.0), (2_000 * LOT, 2_000 * LOT));
    assert!(!o.venue_id.is_empty(), "the venue id was learned");
    assert_eq!(
        oms.order(2).unwrap().state,
        OrderState::Rejected,
        "never sent"
    );
    assert_eq!(
        h.venue_orders(ClOrdId::new(run, 1).unwrap().as_str()).len(),
        1
    );
    assert!(h
        .venue_orders(ClOrdId::new(run, 2).unwrap().as_str())
        .is_empty());
    let pos = oms.positions().get(VenueId(0), InstrumentIdx(0));
    assert_eq!(
        h.balance("BTC") - btc0,
        rust_decimal::Decimal::new(pos.base, u32::from(QTY_SCALE))
    );
    assert_eq!(
        h.balance("USDT") - usdt0,
        rust_decimal::Decimal::from_i128_with_scale(pos.quote, 2 + u32::from(QTY_SCALE))
    );
    // The venue id is in the journal now: a second restart needs no client-id search.
    drop(oms);
    let (_, rec) = Journal::open(dir.0.join("journal"), run, 256).expect("journal");
    assert_eq!(rec.intents[&1].venue_id, o.venue_id);
}

/// An order whose answer was lost on a venue that then stops answering at all is never
/// guessed: past the window it stays SENT_UNKNOWN, the venue is halted and an alert raised.
pub fn unresolvable_intent_halts_the_venue(kind: Kind) {
    let h = Harness::start(kind, 7);
    let dir = TempDir::new("unres");
    let seg = segment(&dir, GrantMode::Live);
    let mut risk = Risk::new(seg.clone(), true);
    let mut oms = h.oms(&dir, &seg, cfg("unres"));
    oms.reconcile().expect("reconcile");
    h.inject(FaultKind::RestDropResponse, 1);
    let s = oms
        .submit(risk.approve(intent(1, Side::Buy, REST_PX, 1_000)).unwrap())
        .expect("submit");
    assert_eq!(s.state, OrderState::SentUnknown);
    h.sim.stop();
    oms.settle(Duration::from_secs(5)).expect("settle");
    assert_eq!(
        oms.order(1).unwrap().state,
        OrderState::SentUnknown,
        "not guessed"
    );
    assert!(seg.is_venue_halted(VenueId(0)));
    assert_eq!(oms.stats().unresolved, 1);
    assert!(oms.drain_events().any(|e| matches!(
        e,
        AuditEvent::Alert {
            kind: AlertKind::UnresolvedSentUnknown,
            ..
        }
    )));
}
