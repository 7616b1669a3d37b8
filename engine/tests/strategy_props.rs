//! Properties over random book sequences: the strategies are deterministic (the same inputs give
//! the same intents, so every thread layout produces the same intents), and every arbitrage
//! group they emit had a positive fee-inclusive edge, above the threshold at its limit prices,
//! on valid, fresh books it saw.

mod strategy_support;

use lyra_engine::strategy::{
    depth_walk::edge_now, fees::unit_clears, Ids, OneLegPolicy, Strategies,
};
use lyra_shm::msg::{BookTop, IntentAction, OrderIntent, OrderState, Qty, Side, Tif, VenueId};
use proptest::prelude::*;
use strategy_support::*;

const VENUES: u8 = 3;
const ARB: u8 = 3;
const FEE_PPM: i64 = 1_000;
const THRESHOLD_PPM: i64 = 500 + 200; // edge 5 bps + slippage 2 bps
const MAX_AGE_NS: u64 = 500 * MS;

#[derive(Debug, Clone)]
enum Ev {
    /// A new top on `venue`: mid offset and half spread in ticks of 10, level sizes, validity and
    /// how old it already is when it arrives.
    Top {
        venue: u8,
        mid_off: i64,
        half: i64,
        sizes: Vec<i64>,
        valid: bool,
        age_ms: u64,
    },
    /// A report for the `pick`-th working order: fill none, half or all of it, then finish it.
    Report { pick: usize, frac: i64 },
    /// Time passes.
    Timer { dt_ms: u64 },
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        6 => (0..VENUES, -300i64..300, 1i64..30, prop::collection::vec(1i64..20, 1..=5),
              prop::bool::weighted(0.9), prop_oneof![4 => Just(0u64), 1 => 0u64..800])
            .prop_map(|(venue, mid_off, half, sizes, valid, age_ms)| Ev::Top {
                venue, mid_off, half, sizes, valid, age_ms
            }),
        3 => (0usize..64, 0i64..=2).prop_map(|(pick, frac)| Ev::Report { pick, frac }),
        1 => (1u64..400).prop_map(|dt_ms| Ev::Timer { dt_ms }),
    ]
}

fn strategies() -> Strategies {
    let mut arb = arb_cfg(5, OneLegPolicy::Hedge);
    arb.slippage_bps = 2;
    arb.max_group_qty = 25;
    let mut markets = Vec::new();
    for v in 0..VENUES {
        let mut m = market(v, FEE_PPM, 500);
        m.tick = 10;
        markets.push(m);
    }
    let mut c = cfg(markets, Some(arb), vec![mm_cfg()]);
    c.mm[0].skew_bps_at_max = 10;
    let mut s = Strategies::new(&c, VENUES as usize, 1, Ids::new(1, 1)).unwrap();
    for v in 0..VENUES {
        s.set_balance(
            VenueId(v),
            lyra_shm::msg::InstrumentIdx(0),
            Qty(60),
            100_000_000,
        );
    }
    s
}

fn make_top(venue: u8, seq: u64, now: u64, e: &Ev) -> BookTop {
    let Ev::Top {
        mid_off,
        half,
        sizes,
        valid,
        age_ms,
        ..
    } = e
    else {
        unreachable!()
    };
    let mid = 1_000_000 + mid_off * 10;
    let bids: Vec<(i64, i64)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &q)| (mid - (half + i as i64) * 10, q))
        .collect();
    let asks: Vec<(i64, i64)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &q)| (mid + (half + i as i64) * 10, q))
        .collect();
    let mut t = top(venue, seq, now.saturating_sub(age_ms * MS), &bids, &asks);
    t.valid = u8::from(*valid);
    t
}

/// Runs the events; returns every intent and checks each new arbitrage group on the way.
fn run(events: &[Ev]) -> Result<Vec<OrderIntent>, TestCaseError> {
    let mut s = strategies();
    let mut now = 1_000 * MS;
    let mut seq = 0u64;
    let mut trade = 0u64;
    let mut latest: Vec<Option<BookTop>> = vec![None; VENUES as usize];
    let mut groups_seen: Vec<u64> = Vec::new();
    let mut all = Vec::new();
    for e in events {
        now += MS;
        let mut out = Vec::with_capacity(64);
        match e {
            Ev::Top { venue, .. } => {
                seq += 1;
                let t = make_top(*venue, seq, now, e);
                latest[*venue as usize] = Some(t);
                s.on_top(&t, now, &mut out);
            }
            Ev::Report { pick, frac } => {
                let w = s.inventory().working();
                if w.is_empty() {
                    continue;
                }
                let w = w[pick % w.len()];
                let rest = w.qty.0 - w.filled.0;
                let q = rest * frac / 2;
                if q > 0 {
                    trade += 1;
                    let st = if q == rest {
                        OrderState::Filled
                    } else {
                        OrderState::Partial
                    };
                    let r = fill(w.intent_seq, trade, w.px.0, q, w.filled.0 + q, st);
                    s.on_report(&r, now, &mut out);
                }
                if q < rest {
                    let end = if w.side == Side::Buy {
                        OrderState::Expired
                    } else {
                        OrderState::Canceled
                    };
                    s.on_report(&state(w.intent_seq, w.filled.0 + q, end), now, &mut out);
                }
            }
            Ev::Timer { dt_ms } => {
                now += dt_ms * MS;
                s.on_timer(now, &mut out);
            }
        }
        // Every new arbitrage group: two IOC legs, buy then sell, on valid fresh books.
        let legs: Vec<&OrderIntent> = out
            .iter()
            .filter(|i| i.strategy == ARB && i.action == IntentAction::New)
            .filter(|i| !groups_seen.contains(&i.group_id))
            .collect();
        prop_assert!(legs.len() % 2 == 0, "legs come in pairs: {legs:?}");
        for pair in legs.chunks(2) {
            let (b, x) = (pair[0], pair[1]);
            prop_assert_eq!(b.group_id, x.group_id);
            prop_assert_eq!((b.side, x.side), (Side::Buy, Side::Sell));
            prop_assert_eq!((b.tif, x.tif), (Tif::Ioc, Tif::Ioc));
            prop_assert_eq!(b.qty, x.qty);
            prop_assert!(b.venue != x.venue);
            let tb = latest[b.venue.0 as usize].expect("buy book seen");
            let ts = latest[x.venue.0 as usize].expect("sell book seen");
            for (t, it) in [(&tb, b), (&ts, x)] {
                prop_assert!(t.is_valid(), "traded from an invalid book");
                prop_assert!(now - t.recv_ts <= MAX_AGE_NS, "traded from a stale book");
                prop_assert_eq!(it.book_seq, t.seq);
            }
            let e = edge_now(&tb, &ts, b.qty, b.px, x.px, FEE_PPM, FEE_PPM);
            prop_assert!(
                e.is_some_and(|e| e.is_positive()),
                "no edge after fees: {e:?}"
            );
            prop_assert!(unit_clears(b.px, x.px, FEE_PPM, FEE_PPM, THRESHOLD_PPM));
            groups_seen.push(b.group_id);
        }
        // Probe-free market making never crosses its own book when it quotes.
        for q in out
            .iter()
            .filter(|i| i.strategy == 1 && i.action == IntentAction::New)
        {
            let t = latest[0].expect("mm book seen");
            match q.side {
                Side::Buy => prop_assert!(q.px < t.ask_px[0]),
                Side::Sell => prop_assert!(q.px > t.bid_px[0]),
            }
        }
        all.extend(out);
    }
    Ok(all)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn same_inputs_same_intents_and_every_group_had_edge(events in prop::collection::vec(ev(), 1..250)) {
        let first = run(&events)?;
        let second = run(&events)?;
        prop_assert_eq!(first, second);
    }
}

/// The random sequences do produce arbitrage groups and quotes (the properties are not vacuous).
#[test]
fn random_books_produce_groups() {
    let mut events = Vec::new();
    for k in 0..200i64 {
        events.push(Ev::Top {
            venue: (k % 3) as u8,
            mid_off: ((k * 137) % 600) - 300,
            half: 1 + (k % 3),
            sizes: vec![5, 5, 5],
            valid: true,
            age_ms: 0,
        });
        if k % 4 == 0 {
            events.push(Ev::Report {
                pick: k as usize,
                frac: k % 3,
            });
        }
    }
    let out = run(&events).unwrap();
    let groups = out
        .iter()
        .filter(|i| i.strategy == ARB && i.side == Side::Sell)
        .count();
    let quotes = out.iter().filter(|i| i.strategy == 1).count();
    assert!(groups > 5, "{groups} arbitrage sells");
    assert!(quotes > 5, "{quotes} quotes");
}
