//! SAFE mode, LIVE fills and positions, kill on halt, rate limits (429/418), -1021, -1013,
//! reconciliation of foreign orders; all against the loopback venue with exact expectations.

mod support;

use std::time::Duration;

use lyra_oms::{
    order::{AlertKind, AuditEvent},
    Mode, OmsConfig, OmsError, UnknownOrders,
};
use lyra_shm::{
    control::{GrantMode, HaltReason, Note, Source},
    msg::{OrderState, Side, VenueId},
};
use support::*;

fn live_cfg(run: &str) -> OmsConfig {
    OmsConfig {
        mode: Mode::Live,
        ..fast_cfg(run)
    }
}

#[test]
fn safe_mode_sends_every_order_to_the_test_endpoint_and_none_live() {
    let v = Venue::start();
    let dir = TempDir::new("safe");
    let seg = segment(&dir);
    put_grant(&seg, GrantMode::Safe);
    let mut risk = Risk::new(seg.clone(), false);
    let mut oms = oms(&v, &dir, seg.clone(), fast_cfg("safe1"));
    oms.reconcile().unwrap();
    for seq in 1..=20 {
        let a = risk
            .approve(intent(seq, Side::Buy, 6_000_000, 1_000))
            .unwrap();
        let s = oms.submit(a).unwrap();
        assert!(s.safe);
        assert_eq!(
            s.state,
            OrderState::Expired,
            "a would-be order ends without trading"
        );
    }
    let st = v.state();
    assert_eq!(
        st.live_order_requests(),
        0,
        "SAFE: zero requests reach /api/v3/order"
    );
    assert_eq!(
        st.test_order_requests(),
        20,
        "every would-be order hits /order/test"
    );
    assert!(st.orders.is_empty());
    drop(st);
    let safe_events = oms
        .drain_events()
        .filter(|e| matches!(e, AuditEvent::SafeOrder { accepted: true, .. }))
        .count();
    assert_eq!(safe_events, 20, "each would-be order recorded");
}

#[test]
fn live_mode_needs_the_live_grant_and_preflight() {
    let v = Venue::start();
    let dir = TempDir::new("livegate");
    let seg = segment(&dir);
    put_grant(&seg, GrantMode::Live);
    let mut risk = Risk::new(seg.clone(), true);
    let mut oms = oms(&v, &dir, seg.clone(), live_cfg("gate1"));
    oms.reconcile().unwrap();
    // No preflight yet: SAFE routing.
    let s = oms
        .submit(
            risk.approve(intent(1, Side::Buy, 6_000_000, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert!(s.safe);
    oms.set_preflight(true);
    let s = oms
        .submit(
            risk.approve(intent(2, Side::Buy, 6_000_000, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert!(!s.safe);
    assert_eq!(s.state, OrderState::Filled);
    let st = v.state();
    assert_eq!((st.test_order_requests(), st.live_order_requests()), (1, 1));
}

fn live_oms(
    v: &Venue,
    dir: &TempDir,
    run: &str,
    cfg: OmsConfig,
) -> (
    lyra_oms::Oms,
    Risk,
    std::sync::Arc<lyra_shm::control::ControlSegment>,
) {
    let seg = segment(dir);
    put_grant(&seg, GrantMode::Live);
    let risk = Risk::new(seg.clone(), true);
    let mut oms = oms(
        v,
        dir,
        seg.clone(),
        OmsConfig {
            run_id: run.into(),
            ..cfg
        },
    );
    oms.reconcile().unwrap();
    oms.set_preflight(true);
    (oms, risk, seg)
}

#[test]
fn fills_make_positions_equal_to_venue_balances() {
    let v = Venue::start();
    let dir = TempDir::new("fills");
    let (mut oms, mut risk, _seg) = live_oms(&v, &dir, "fill1", live_cfg("x"));
    v.state().fill_mode = FillMode::Half;
    oms.submit(
        risk.approve(intent(1, Side::Buy, 6_000_000, 40_000))
            .unwrap(),
    )
    .unwrap();
    v.state().fill_mode = FillMode::All;
    oms.submit(
        risk.approve(intent(2, Side::Sell, 6_100_000, 15_000))
            .unwrap(),
    )
    .unwrap();
    let o1 = *oms.order(1).unwrap();
    assert_eq!(
        (o1.state, o1.cum_qty.0, o1.filled_qty.0),
        (OrderState::Partial, 20_000, 20_000)
    );
    let p = oms
        .positions()
        .get(VenueId(0), lyra_shm::msg::InstrumentIdx(0));
    assert_eq!(p.base, 20_000 - 15_000);
    assert_eq!(p.fills, 3);
    let st = v.state();
    // Venue: BTC 10 + 0.05; USDT 1e6 - 0.2*60000 + 0.15*61000 (mantissa scale 7).
    let btc = st.balances["BTC"] - rust_decimal::Decimal::from(10);
    let usdt = st.balances["USDT"] - rust_decimal::Decimal::from(1_000_000);
    assert_eq!(btc, rust_decimal::Decimal::new(p.base, 5));
    assert_eq!(
        usdt,
        rust_decimal::Decimal::from_i128_with_scale(p.quote, 7)
    );
}

#[test]
fn after_a_halt_no_order_request_reaches_the_venue_and_open_orders_are_cancelled() {
    let v = Venue::start();
    let dir = TempDir::new("halt");
    let (mut oms, mut risk, seg) = live_oms(&v, &dir, "halt1", live_cfg("x"));
    v.state().fill_mode = FillMode::Rest;
    for seq in 1..=3 {
        let s = oms
            .submit(
                risk.approve(intent(seq, Side::Buy, 5_000_000, 1_000))
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(s.state, OrderState::Acked);
    }
    // An intent approved before the halt reaches the OMS after it: the OMS check refuses it.
    let late = risk
        .approve(intent(4, Side::Buy, 5_000_000, 1_000))
        .unwrap();
    seg.trip(HaltReason::Operator, Source::Operator);
    let flag_set = lyra_shm::clock::mono_now_ns();
    let e = oms.submit(late).unwrap_err();
    assert!(matches!(e, OmsError::Halted { intent_seq: 4, .. }), "{e}");
    assert!(
        risk.approve(intent(5, Side::Buy, 5_000_000, 1_000))
            .is_err(),
        "risk refuses too"
    );
    oms.poll().unwrap();
    let st = v.state();
    let after: Vec<_> = st
        .oracle
        .iter()
        .filter(|e| e.at >= flag_set && e.method == "POST")
        .collect();
    assert!(after.is_empty(), "order requests after the halt: {after:?}");
    assert!(
        st.orders.iter().all(|o| o.status == "CANCELED"),
        "cancel_on_halt = all"
    );
    drop(st);
    for seq in 1..=3 {
        assert_eq!(oms.order(seq).unwrap().state, OrderState::Canceled);
    }
    assert!(oms.order(4).is_none(), "refused before the journal");
}

#[test]
fn cancel_on_halt_none_leaves_orders_and_venue_policy_ignores_other_venues() {
    let v = Venue::start();
    let dir = TempDir::new("haltpol");
    let cfg = OmsConfig {
        cancel_on_halt: lyra_oms::CancelOnHalt::Venue,
        ..live_cfg("x")
    };
    let (mut oms, mut risk, seg) = live_oms(&v, &dir, "pol1", cfg);
    v.state().fill_mode = FillMode::Rest;
    oms.submit(
        risk.approve(intent(1, Side::Buy, 5_000_000, 1_000))
            .unwrap(),
    )
    .unwrap();
    oms.poll().unwrap();
    let note = Note::auto(Source::Operator);
    seg.trip_venue(VenueId(3), HaltReason::Operator, &note)
        .unwrap();
    oms.poll().unwrap();
    assert_eq!(
        oms.order(1).unwrap().state,
        OrderState::Acked,
        "another venue's halt"
    );
    seg.trip_venue(VenueId(0), HaltReason::Operator, &note)
        .unwrap();
    oms.poll().unwrap();
    assert_eq!(
        oms.order(1).unwrap().state,
        OrderState::Canceled,
        "our venue's halt"
    );
}

#[test]
fn http_429_honours_retry_after() {
    let v = Venue::start();
    let dir = TempDir::new("429");
    let (mut oms, mut risk, _seg) = live_oms(&v, &dir, "r429", live_cfg("x"));
    v.state().faults.push_back(Fault::Http429(1));
    let s = oms
        .submit(
            risk.approve(intent(1, Side::Buy, 6_000_000, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(s.state, OrderState::Rejected);
    let e = oms
        .submit(
            risk.approve(intent(2, Side::Buy, 6_000_000, 1_000))
                .unwrap(),
        )
        .unwrap_err();
    assert!(matches!(e, OmsError::Throttled { .. }), "{e}");
    assert_eq!(
        v.state().live_order_requests(),
        1,
        "nothing sent during Retry-After"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let s = oms
        .submit(
            risk.approve(intent(3, Side::Buy, 6_000_000, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(s.state, OrderState::Filled);
    assert_eq!(oms.stats().http_429, 1);
}

#[test]
fn http_418_halts_the_venue_until_the_ban_ends() {
    let v = Venue::start();
    let dir = TempDir::new("418");
    let (mut oms, mut risk, seg) = live_oms(&v, &dir, "r418", live_cfg("x"));
    v.state().faults.push_back(Fault::Http418(120));
    let approved_before = risk
        .approve(intent(2, Side::Buy, 6_000_000, 1_000))
        .unwrap();
    let s = oms
        .submit(
            risk.approve(intent(1, Side::Buy, 6_000_000, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(s.state, OrderState::Rejected);
    assert!(seg.is_venue_halted(VenueId(0)), "418 halts the venue");
    assert!(oms.binance().unwrap().budget.banned_until_ms() > 0);
    let e = oms.submit(approved_before);
    assert!(matches!(e, Err(OmsError::Halted { .. })), "{e:?}");
    assert!(oms.drain_events().any(|e| matches!(
        e,
        AuditEvent::Alert {
            kind: AlertKind::IpBanned,
            ..
        }
    )));
    assert_eq!(v.state().live_order_requests(), 1);
}

#[test]
fn timestamp_outside_recv_window_resyncs_and_halts_past_the_skew_limit() {
    let v = Venue::start();
    let dir = TempDir::new("1021");
    let (mut oms, mut risk, seg) = live_oms(&v, &dir, "r1021", live_cfg("x"));
    // The venue clock jumps 7 s ahead: our timestamps look older than recvWindow (5 s).
    v.state().skew_ms = 7_000;
    let s = oms
        .submit(
            risk.approve(intent(1, Side::Buy, 6_000_000, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(s.state, OrderState::Rejected);
    assert_eq!(oms.stats().time_resyncs, 1);
    assert!(
        (6_500..7_500).contains(&oms.binance().unwrap().offset_ms()),
        "{}",
        oms.binance().unwrap().offset_ms()
    );
    assert!(seg.is_venue_halted(VenueId(0)), "7 s skew > 1 s limit");
    // A small skew only resyncs: a fresh venue and OMS.
    let v = Venue::start();
    let dir = TempDir::new("1021b");
    let cfg = OmsConfig {
        max_skew_ms: 10_000,
        ..live_cfg("x")
    };
    let (mut oms, mut risk, seg) = live_oms(&v, &dir, "r1021b", cfg);
    v.state().skew_ms = 7_000;
    oms.submit(
        risk.approve(intent(1, Side::Buy, 6_000_000, 1_000))
            .unwrap(),
    )
    .unwrap();
    assert!(!seg.is_venue_halted(VenueId(0)));
    let s = oms
        .submit(
            risk.approve(intent(2, Side::Buy, 6_000_000, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(s.state, OrderState::Filled, "after the resync orders pass");
}

#[test]
fn filter_failure_refreshes_exchange_info_and_the_next_order_is_quantized() {
    let v = Venue::start();
    let dir = TempDir::new("1013");
    let (mut oms, mut risk, _seg) = live_oms(&v, &dir, "r1013", live_cfg("x"));
    // The venue's tick changes to 0.10 (a filter change): 60000.05 is now off-tick.
    v.state().tick = rust_decimal::Decimal::new(10, 2);
    let s = oms
        .submit(
            risk.approve(intent(1, Side::Buy, 6_000_005, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(s.state, OrderState::Rejected);
    assert_eq!(oms.stats().filter_refreshes, 1);
    assert_eq!(
        oms.symbol(lyra_shm::msg::InstrumentIdx(0))
            .unwrap()
            .filters
            .tick_size,
        rust_decimal::Decimal::new(1, 1)
    );
    let s = oms
        .submit(
            risk.approve(intent(2, Side::Buy, 6_000_005, 1_000))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(s.state, OrderState::Filled);
    assert_eq!(
        v.state().orders[0].price,
        rust_decimal::Decimal::new(600_000, 1),
        "buy rounds down"
    );
    // Below minNotional never leaves the process.
    let e = oms
        .submit(risk.approve(intent(3, Side::Buy, 6_000_000, 1)).unwrap())
        .unwrap_err();
    assert!(matches!(e, OmsError::Filter { .. }), "{e}");
    assert_eq!(v.state().live_order_requests(), 2);
}

#[test]
fn reconciliation_reports_and_cancels_foreign_open_orders() {
    let v = Venue::start();
    let dir = TempDir::new("foreign");
    // A manual order at the venue, not in any journal.
    {
        let dir0 = TempDir::new("foreign0");
        let (mut other, mut risk, _s) = live_oms(&v, &dir0, "manual", live_cfg("x"));
        v.state().fill_mode = FillMode::Rest;
        other
            .submit(
                risk.approve(intent(1, Side::Buy, 5_000_000, 1_000))
                    .unwrap(),
            )
            .unwrap();
    }
    let seg = segment(&dir);
    let cfg = OmsConfig {
        unknown_orders: UnknownOrders::Cancel,
        ..live_cfg("mine")
    };
    let mut oms = oms(&v, &dir, seg, cfg);
    let rep = oms.reconcile().unwrap();
    assert_eq!(rep.foreign.len(), 1);
    assert!(rep.foreign[0].cancelled);
    assert_eq!(v.state().orders[0].status, "CANCELED");
    assert!(rep.balances.iter().any(|b| b.asset == "BTC"));
}

#[test]
fn balances_are_checked_against_fills_and_cancel_intents_cancel() {
    let v = Venue::start();
    let dir = TempDir::new("balances");
    let (mut oms, mut risk, _seg) = live_oms(&v, &dir, "bal1", live_cfg("x"));
    let baseline = oms.balances().unwrap();
    oms.submit(
        risk.approve(intent(1, Side::Buy, 6_000_000, 30_000))
            .unwrap(),
    )
    .unwrap();
    v.state().fill_mode = FillMode::Rest;
    oms.submit(
        risk.approve(intent(2, Side::Sell, 7_000_000, 10_000))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(oms.check_balances(&baseline).unwrap(), vec![]);
    // A strategy's cancel intent (target 2) goes through risk and the OMS like any intent.
    let mut c = intent(3, Side::Sell, 7_000_000, 10_000);
    c.action = lyra_shm::msg::IntentAction::Cancel;
    c.target_seq = 2;
    let s = oms.submit(risk.approve(c).unwrap()).unwrap();
    assert_eq!((s.intent_seq, s.state), (2, OrderState::Canceled));
    // Someone else trades on the account: the check reports it.
    *v.state().balances.get_mut("BTC").unwrap() += rust_decimal::Decimal::ONE;
    let d = oms.check_balances(&baseline).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].asset, "BTC");
    assert_eq!(d[0].venue - d[0].expected, rust_decimal::Decimal::ONE);
    assert!(oms.drain_events().any(|e| matches!(
        e,
        AuditEvent::Alert {
            kind: AlertKind::BalanceMismatch,
            ..
        }
    )));
}

#[test]
fn working_orders_are_polled_with_open_orders_and_queried_only_when_they_change() {
    let v = Venue::start();
    let dir = TempDir::new("working");
    let cfg = OmsConfig {
        working_poll_ms: 0,
        ..live_cfg("x")
    };
    let (mut oms, mut risk, _seg) = live_oms(&v, &dir, "work1", cfg);
    v.state().fill_mode = FillMode::Rest;
    for seq in 1..=3 {
        oms.submit(
            risk.approve(intent(seq, Side::Buy, 5_000_000, 1_000))
                .unwrap(),
        )
        .unwrap();
    }
    let queries = |v: &Venue| {
        v.state()
            .oracle
            .iter()
            .filter(|e| e.method == "GET" && e.path == "/api/v3/order")
            .count()
    };
    oms.poll().unwrap();
    assert_eq!(queries(&v), 0, "nothing changed: openOrders only");
    // The venue fills order 2 completely (a trade the OMS has not seen).
    {
        let mut st = v.state();
        let o = &mut st.orders[1];
        o.executed = o.qty;
        o.status = "FILLED";
        let (id, px, qty) = (o.order_id, o.price, o.qty);
        st.trades.push(support::venue::VTrade {
            id: 9_001,
            order_id: id,
            price: px,
            qty,
            buy: true,
        });
    }
    oms.poll().unwrap();
    assert_eq!(queries(&v), 1, "only the order that left the open list");
    let o = oms.order(2).unwrap();
    assert_eq!((o.state, o.filled_qty.0), (OrderState::Filled, 1_000));
    assert_eq!(oms.order(1).unwrap().state, OrderState::Acked);
}
