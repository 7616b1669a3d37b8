//! The whole Binance order path through [`Oms`] allocates nothing after warm-up: a risk-approved
//! intent -> journal -> signed request -> write over the kept-alive HTTPS connection -> read
//! the answer -> state change, journal state record, audit event, execution report, positions
//! from the fills, working-order bookkeeping; cancels the same way; [`Oms::poll`] in between,
//! with its REST poll of working orders (`openOrders`) at every call.
//!
//! The loopback venue (`support/venue.rs`) serves on its own threads and allocates freely there:
//! the count is the OMS thread's own ([`CountingAlloc::thread_allocations`]), taken around the
//! `Oms` calls only (risk runs on the strategy thread in the engine). One `#[test]`.
//!
//! One known exception, counted apart and bounded rather than hidden: rustls's buffered API
//! allocates one buffer per TLS record it encrypts and one per record it reads
//! (`lyra_oms::http` runs those calls inside `lyra_shm::alloc_count::foreign`). Everything
//! else must be zero; rustls's share must stay within two per HTTP round trip (one request
//! record, one answer record), the round trips counted by the venue.

// The shared set-up; this binary uses part of it.
#[allow(unused_imports)]
mod support;

use std::{sync::Arc, time::Duration};

use lyra_oms::{
    binance::{BinanceConfig, BinanceRest},
    http::tls_config,
    sign::Credentials,
    Mode, Oms, OmsConfig,
};
use lyra_shm::{
    alloc_count::{counted, CountingAlloc, ThreadAllocs},
    clock::LiveClock,
    control::GrantMode,
    msg::{IntentAction, OrderIntent, OrderState, Side},
};
use support::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Orders before counting: every kind of answer, so every reused buffer has its final size.
const WARM_ORDERS: u64 = 300;
/// Orders counted.
const COUNTED_ORDERS: u64 = 300;

/// What the engine's order stage does after each call: the audit writer and the strategies take
/// the queued events and reports (the queues are preallocated; draining keeps them so).
fn drain(oms: &mut Oms) -> usize {
    oms.drain_events().count() + oms.drain_reports().count()
}

/// One order of the cycle: `fill` decides how the venue matches it; a resting (or half-filled)
/// order is cancelled after a poll. Returns this thread's allocations inside the `Oms` calls.
fn cycle(oms: &mut Oms, risk: &mut Risk, v: &Venue, seq: u64, next_seq: &mut u64) -> ThreadAllocs {
    let fill = [FillMode::Rest, FillMode::All, FillMode::Half][seq as usize % 3];
    v.state().fill_mode = fill;
    let side = if seq % 2 == 0 { Side::Buy } else { Side::Sell };
    let a = risk
        .approve(intent(seq, side, 6_000_000 + (seq % 7) as i64, 40_000))
        .expect("approved");
    let (s, mut allocs) = counted(|| oms.submit(a));
    let s = s.expect("submit");
    let want = match fill {
        FillMode::Rest => OrderState::Acked,
        FillMode::All => OrderState::Filled,
        FillMode::Half => OrderState::Partial,
    };
    assert_eq!(s.state, want, "intent {seq}");
    let (n, a) = counted(|| {
        oms.poll().expect("poll");
        drain(oms)
    });
    allocs += a;
    assert!(n >= 2, "intent {seq}: state events and reports queued");
    if fill != FillMode::All {
        let cancel = OrderIntent {
            action: IntentAction::Cancel,
            target_seq: seq,
            intent_seq: *next_seq,
            ..intent(*next_seq, side, 6_000_000, 40_000)
        };
        *next_seq += 1;
        let c = risk.approve(cancel).expect("cancel approved");
        let (s, a) = counted(|| {
            let s = oms.submit(c);
            oms.poll().expect("poll");
            drain(oms);
            s
        });
        allocs += a;
        assert_eq!(
            s.expect("cancel").state,
            OrderState::Canceled,
            "intent {seq}"
        );
    }
    allocs
}

/// A warmed Binance client with a generous timeout: a loaded CI machine must not turn a slow
/// loopback answer into SENT_UNKNOWN (this test is about allocations, not faults).
fn patient_client(v: &Venue) -> BinanceRest {
    let cfg = BinanceConfig {
        rest_url: v.url(),
        recv_window_ms: 5000,
        timeout: Duration::from_secs(10),
    };
    let mut r = BinanceRest::new(
        &cfg,
        tls_config(Some(&v.ca_file)).expect("tls"),
        Credentials::new(venue::API_KEY, venue::SECRET.as_bytes()),
        Arc::new(LiveClock),
    )
    .expect("client");
    r.warm().expect("warm");
    r
}

#[test]
fn binance_order_path_through_the_oms_allocates_nothing_after_warm_up() {
    let v = Venue::start();
    let dir = TempDir::new("pathalloc");
    let seg = segment(&dir);
    put_grant(&seg, GrantMode::Live);
    let mut risk = Risk::new(seg.clone(), true);
    let cfg = OmsConfig {
        mode: Mode::Live,
        // The REST poll of working orders (`openOrders`, the fallback beside the user stream)
        // at every poll, so each one is counted too: one per poll with an order working.
        working_poll_ms: 0,
        ..fast_cfg("palloc1")
    };
    // Intents, SENT, ACKED/PARTIAL/FILLED/CANCELED records: well under 8 per order.
    let mut oms = Oms::open(
        cfg,
        &dir.0.join("journal"),
        8 * (WARM_ORDERS + COUNTED_ORDERS) + 64,
        patient_client(&v),
        vec![spec()],
        seg,
        Arc::new(LiveClock),
    )
    .expect("oms");
    // The venue's limits (1,000 orders per 10 s) replace the conservative defaults.
    oms.refresh_exchange_info().expect("exchangeInfo");
    // The venue's limits (1,000 orders per 10 s) replace the conservative defaults.
    oms.refresh_exchange_info().expect("exchangeInfo");
    oms.reconcile().expect("reconcile");
    oms.set_preflight(true);
    // Cancel intents take their own sequence numbers, above every order's.
    let mut next_seq = 1_000_000;
    for seq in 1..=WARM_ORDERS {
        cycle(&mut oms, &mut risk, &v, seq, &mut next_seq);
    }
    let mut allocs = ThreadAllocs::default();
    let requests_before = v.state().oracle.len();
    for seq in WARM_ORDERS + 1..=WARM_ORDERS + COUNTED_ORDERS {
        allocs += cycle(&mut oms, &mut risk, &v, seq, &mut next_seq);
    }
    let round_trips = (v.state().oracle.len() - requests_before) as u64;
    let total = WARM_ORDERS + COUNTED_ORDERS;
    let st = oms.stats();
    assert_eq!(
        st.order_requests, total,
        "every order went to the venue once"
    );
    assert_eq!(st.sent_unknown, 0, "no lost answer on loopback");
    // Two trades per half fill, one per full fill.
    assert_eq!(st.fills, total / 3 * 3);
    println!(
        "{COUNTED_ORDERS} orders, {round_trips} round trips: Lyra allocated {} times, rustls {} \
         ({:.2} per round trip)",
        allocs.own,
        allocs.foreign,
        allocs.foreign as f64 / round_trips as f64
    );
    // Place for every order; for two in three (resting, half filled) an `openOrders` at the
    // poll that sees them working, then a cancel.
    assert_eq!(round_trips, COUNTED_ORDERS + COUNTED_ORDERS / 3 * 4);
    assert_eq!(
        allocs.own, 0,
        "the OMS thread allocated {} times (rustls apart) over {COUNTED_ORDERS} orders after warm-up",
        allocs.own
    );
    assert!(
        allocs.foreign <= 2 * round_trips,
        "rustls allocated {} times over {round_trips} round trips (known: one per TLS record)",
        allocs.foreign
    );
}
