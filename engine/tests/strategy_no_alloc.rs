//! After construction, the strategies allocate nothing: tops, fills, hedges, quotes, cancel-
//! replaces, pulls and timer ticks over thousands of events, counted by a global allocator.
//! Its own test binary: the allocator counts for the whole process.

mod strategy_support;

use lyra_engine::strategy::{Ids, OneLegPolicy, Strategies};
use lyra_shm::{
    alloc_count::CountingAlloc,
    msg::{BookTop, InstrumentIdx, OrderIntent, OrderState, Qty, Side, VenueId},
};
use strategy_support::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

fn tops(n: i64) -> Vec<BookTop> {
    (0..n)
        .map(|k| {
            let mid = 1_000_000 + (((k * 137) % 600) - 300) * 10;
            let h = 10 * (1 + k % 3);
            let mut t = top(
                (k % 3) as u8,
                k as u64 + 1,
                0,
                &[(mid - h, 5), (mid - h - 10, 7), (mid - h - 20, 9)],
                &[(mid + h, 5), (mid + h + 10, 7), (mid + h + 20, 9)],
            );
            t.valid = u8::from(k % 17 != 0);
            t
        })
        .collect()
}

fn drive(s: &mut Strategies, tops: &[BookTop], now: &mut u64, sink: &mut Vec<OrderIntent>) -> u64 {
    let mut emitted = 0;
    for (k, t) in tops.iter().enumerate() {
        *now += MS;
        let mut t = *t;
        t.recv_ts = *now;
        sink.clear();
        s.on_top(&t, *now, sink);
        emitted += sink.len() as u64;
        if k % 3 == 0 {
            if let Some(&w) = s.inventory().working().get(k % 5) {
                sink.clear();
                let rest = w.qty.0 - w.filled.0;
                let q = rest * ((k as i64 / 3) % 3) / 2;
                if q > 0 {
                    let r = fill(
                        w.intent_seq,
                        k as u64 + 1,
                        w.px.0,
                        q,
                        w.filled.0 + q,
                        OrderState::Partial,
                    );
                    s.on_report(&r, *now, sink);
                }
                let end = if w.side == Side::Buy {
                    OrderState::Expired
                } else {
                    OrderState::Canceled
                };
                s.on_report(&state(w.intent_seq, w.filled.0 + q, end), *now, sink);
                emitted += sink.len() as u64;
            }
        }
        if k % 7 == 0 {
            *now += 150 * MS;
            sink.clear();
            s.on_timer(*now, sink);
            emitted += sink.len() as u64;
        }
    }
    emitted
}

#[test]
fn decisions_allocate_nothing_after_construction() {
    let mut markets = Vec::new();
    for v in 0..3 {
        let mut m = market(v, 1_000, 500);
        m.tick = 10;
        markets.push(m);
    }
    let mut arb = arb_cfg(5, OneLegPolicy::Hedge);
    arb.max_group_qty = 20;
    arb.ledger_capacity = 16;
    let mut mm = mm_cfg();
    mm.skew_bps_at_max = 10;
    let c = cfg(markets, Some(arb), vec![mm]);
    let mut s = Strategies::new(&c, 3, 1, Ids::new(1, 1)).unwrap();
    for v in 0..3 {
        s.set_balance(
            VenueId(v),
            InstrumentIdx(0),
            Qty(1_000_000),
            1_000_000_000_000_000,
        );
    }
    let tops = tops(3_000);
    let mut sink = Vec::with_capacity(64);
    let mut now = 1_000 * MS;
    let before = ALLOC.allocations();
    let emitted = drive(&mut s, &tops, &mut now, &mut sink);
    let allocs = ALLOC.allocations() - before;
    let arb = s.arb().unwrap();
    assert!(arb.ledger().totals().groups > 50, "{:?}", arb.stats());
    assert!(arb.stats().fixes > 0 && s.market_makers()[0].stats().replaces > 0);
    assert!(emitted > 500, "{emitted}");
    assert_eq!(
        allocs, 0,
        "allocations on the decision path over {emitted} intents"
    );
}
