//! The OKX and Kraken order paths through [`Oms`] (`Oms::open_entry` over the real venue
//! clients, against `lyra sim`) allocate nothing after warm-up: a risk-approved intent ->
//! journal -> signed request -> write over the kept-alive HTTPS connection -> read the answer ->
//! state change, journal state record, audit event, execution report; cancels, which read the
//! final state back by query, with the fills of filled orders into positions; [`Oms::poll`] in
//! between.
//!
//! The simulator serves on its own threads and allocates freely there: the count is the OMS
//! thread's own ([`CountingAlloc::thread_allocations`]), taken around the `Oms` calls only
//! (risk runs on the strategy thread in the engine). One `#[test]`, both venues.
//!
//! Known exceptions, each counted apart and printed rather than hidden:
//! - rustls's buffered API allocates one buffer per TLS record it encrypts and one per record
//!   it reads (`lyra_oms::http` runs those calls inside `lyra_shm::alloc_count::foreign`): held
//!   to at most four per HTTP round trip — one record written, two read (the simulator writes
//!   an answer's head and body as two records), and rustls's occasional extra (3.14 measured).
//! - Reading a filled order's trades back over REST (`OrderEntry::fills`: OKX `trade/fills`,
//!   Kraken `TradesHistory`, a list of the account's recent trades with text fees) and the
//!   refusal of a cancel that came after the fill (`VenueError::Refused` carries the venue's
//!   words): measured as the "fill read-back" bucket, not asserted — it scales with the
//!   account's trade history. With a private stream (Binance user data stream; OKX/Kraken
//!   private streams) fills arrive without this REST read.
//!
//! Everything else — place, ack, resting cancels and their query, poll — must be zero.

// The shared harness; this binary uses part of it.
#[allow(unused_imports)]
mod oms_life;

use std::sync::Arc;

use lyra_oms::{Oms, OmsConfig};
use lyra_shm::{
    alloc_count::{counted, CountingAlloc, ThreadAllocs},
    clock::{Clock, LiveClock},
    control::GrantMode,
    msg::{IntentAction, OrderIntent, OrderState, Side},
};
use oms_life::{cfg, intent, segment, Harness, Kind, Risk, TempDir};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Orders before counting: every kind of answer, so every reused buffer has its final size.
const WARM_ORDERS: u64 = 240;
/// Orders counted.
const COUNTED_ORDERS: u64 = 240;
/// 0.0002 BTC: over Kraken's 5 USDT cost minimum at the resting price.
const LOTS: i64 = 20;
/// A resting buy (well under the frozen book), a crossing buy, a resting sell (well over it).
const REST_BUY_PX: i64 = 5_000_000;
const CROSS_BUY_PX: i64 = 6_100_000;
const REST_SELL_PX: i64 = 7_000_000;

/// What the engine's order stage does after each call: the audit writer and the strategies take
/// the queued events and reports (the queues are preallocated; draining keeps them so).
fn drain(oms: &mut Oms) -> usize {
    oms.drain_events().count() + oms.drain_reports().count()
}

/// Allocations of one cycle: the order path (held to zero), the REST fill read-back of a
/// filled order (measured), and the order path's HTTP round trips (by construction).
#[derive(Debug, Clone, Copy, Default)]
struct Cycle {
    path: ThreadAllocs,
    fill_reads: ThreadAllocs,
    path_trips: u64,
}

/// One order of the cycle — a resting buy, a crossing buy (filled at the venue) or a resting
/// sell — then a poll and a cancel intent, whose query reads the final state (and, for the
/// filled one, its trades).
fn cycle(oms: &mut Oms, risk: &mut Risk, kind: Kind, seq: u64, next_seq: &mut u64) -> Cycle {
    let (side, px, end) = match seq % 3 {
        0 => (Side::Buy, REST_BUY_PX, OrderState::Canceled),
        1 => (Side::Buy, CROSS_BUY_PX, OrderState::Filled),
        _ => (Side::Sell, REST_SELL_PX, OrderState::Canceled),
    };
    let mut out = Cycle::default();
    let a = risk.approve(intent(seq, side, px, LOTS)).expect("approved");
    let (s, a) = counted(|| oms.submit(a));
    out.path += a;
    // Place: one round trip.
    out.path_trips += 1;
    let s = s.expect("submit");
    // OKX and Kraken answer a place with the order id only: ACKED, fills come later.
    assert_eq!(s.state, OrderState::Acked, "{kind:?} intent {seq}");
    let (n, a) = counted(|| {
        oms.poll().expect("poll");
        drain(oms)
    });
    out.path += a;
    assert!(
        n >= 2,
        "{kind:?} intent {seq}: state events and reports queued"
    );
    let cancel = OrderIntent {
        action: IntentAction::Cancel,
        target_seq: seq,
        ..intent(*next_seq, side, px, LOTS)
    };
    *next_seq += 1;
    let c = risk.approve(cancel).expect("cancel approved");
    let (s, a) = counted(|| {
        let s = oms.submit(c);
        oms.poll().expect("poll");
        drain(oms);
        s
    });
    if end == OrderState::Filled {
        out.fill_reads += a;
    } else {
        out.path += a;
        // Cancel, then the query that reads the final state.
        out.path_trips += 2;
    }
    assert_eq!(s.expect("cancel").state, end, "{kind:?} intent {seq}");
    out
}

fn venue_path_allocates_nothing(kind: Kind) {
    let h = Harness::start(kind, 11);
    let dir = TempDir::new("pathalloc");
    let seg = segment(&dir, GrantMode::Live);
    let mut risk = Risk::new(seg.clone(), true);
    let clock: Arc<dyn Clock> = Arc::new(LiveClock);
    // Intents, SENT, ACKED/FILLED/CANCELED records: well under 8 per order.
    let capacity = 8 * (WARM_ORDERS + COUNTED_ORDERS) + 64;
    let cfg = OmsConfig {
        // The periodic REST poll of working orders (`orders-pending` / `OpenOrders`, the
        // fallback without a private stream) runs once at the first poll, in warm-up, and not
        // again however slow the machine: it is not part of an order's path.
        working_poll_ms: 3_600_000,
        ..cfg("palloc1")
    };
    let mut oms = Oms::open_entry(
        cfg,
        &dir.0.join("journal"),
        capacity,
        h.client(),
        vec![h.spec()],
        seg,
        clock,
    )
    .expect("oms");
    oms.refresh_symbol_rules().expect("symbol rules");
    oms.set_preflight(true);
    oms.reconcile().expect("reconcile");
    // Cancel intents take their own sequence numbers, above every order's.
    let mut next_seq = 1_000_000;
    for seq in 1..=WARM_ORDERS {
        cycle(&mut oms, &mut risk, kind, seq, &mut next_seq);
    }
    let (mut path, mut fill_reads, mut trips) =
        (ThreadAllocs::default(), ThreadAllocs::default(), 0);
    let fills_before = oms.stats().fills;
    for seq in WARM_ORDERS + 1..=WARM_ORDERS + COUNTED_ORDERS {
        let c = cycle(&mut oms, &mut risk, kind, seq, &mut next_seq);
        path += c.path;
        fill_reads += c.fill_reads;
        trips += c.path_trips;
    }
    let st = oms.stats();
    let filled = COUNTED_ORDERS / 3;
    println!(
        "{kind:?}: {COUNTED_ORDERS} orders ({filled} filled, {} fills), order path {trips} round \
         trips: Lyra allocated {} times, rustls {} ({:.2} per round trip); fill read-back of the \
         filled orders (REST trades + refused cancel): Lyra {} ({:.1} per filled order), rustls {}",
        st.fills - fills_before,
        path.own,
        path.foreign,
        path.foreign as f64 / trips as f64,
        fill_reads.own,
        fill_reads.own as f64 / filled as f64,
        fill_reads.foreign,
    );
    assert_eq!(
        st.order_requests,
        WARM_ORDERS + COUNTED_ORDERS,
        "{kind:?}: every order went to the venue once"
    );
    assert_eq!(st.sent_unknown, 0, "{kind:?}: no lost answer on loopback");
    assert!(
        st.fills - fills_before >= filled,
        "{kind:?}: every crossing order's fills were applied"
    );
    assert_eq!(
        path.own, 0,
        "{kind:?}: the order path allocated {} times on the OMS thread (rustls apart) over \
         {COUNTED_ORDERS} orders after warm-up",
        path.own
    );
    assert!(
        path.foreign <= 4 * trips,
        "{kind:?}: rustls allocated {} times over {trips} round trips (known: one per TLS \
         record)",
        path.foreign
    );
}

#[test]
fn okx_and_kraken_order_paths_through_the_oms_allocate_nothing_after_warm_up() {
    venue_path_allocates_nothing(Kind::Okx);
    venue_path_allocates_nothing(Kind::Kraken);
}
