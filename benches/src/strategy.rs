//! `strategy`: one book top in -> arbitrage decision out, three venues, one instrument.
//!
//! - `lyra`: `Strategies::on_top` (engine::strategy) — the top stored, every ordered pair with the
//!   changed venue checked against fees and threshold in integer mantissa math, the depth walk,
//!   filters, inventory caps and reservations, both IOC legs pushed into a preallocated sink;
//! - `decimal-hashmap`: the common way — the top copied into `Vec<(Decimal, Decimal)>` levels in
//!   a `HashMap` keyed by venue, the same marginal walk with rust_decimal arithmetic (fees and
//!   threshold as `Decimal` rates), the legs collected into a fresh `Vec` per top;
//! - `harness-clock`: back-to-back clock reads, the measurement's own cost.
//!
//! The tops cycle through a fixed, seeded set with dislocations, so both implementations see
//! the same books and find the same groups (checked before timing). Between tops, every leg
//! Lyra sent is finished (expired unfilled) off the clock so its pair is free again; that is
//! not part of the sample. Rounds alternate between implementations so machine noise lands on
//! both.

use std::{collections::HashMap, hint::black_box};

use anyhow::{ensure, Result};
use lyra_engine::strategy::{
    ArbConfig, Ids, MarketSpec, OneLegPolicy, Strategies, StrategiesConfig,
};
use lyra_shm::{
    clock::mono_now_ns,
    msg::{
        BookTop, ExecReport, InstrumentIdx, IntentAction, OrderIntent, OrderState, Px, Qty, Side,
        VenueId, TOP_LEVELS,
    },
};
use rust_decimal::Decimal;

use crate::{
    report::{new_hist, Report},
    Opts,
};

const VENUES: u8 = 3;
const FEE_PPM: i64 = 1_000;
const EDGE_BPS: u32 = 5;

fn tops(n: usize) -> Vec<BookTop> {
    // A small LCG: the same books every run.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (x >> 33) as i64
    };
    (0..n)
        .map(|k| {
            let mid = 1_000_000 + (next() % 601 - 300) * 10;
            let half = 10 * (1 + next() % 3);
            let mut t = BookTop {
                seq: k as u64 + 1,
                venue: VenueId((k % VENUES as usize) as u8),
                instrument: InstrumentIdx(0),
                valid: 1,
                ..Default::default()
            };
            for i in 0..TOP_LEVELS {
                t.bid_px[i] = Px(mid - half - 10 * i as i64);
                t.ask_px[i] = Px(mid + half + 10 * i as i64);
                t.bid_qty[i] = Qty(1 + next() % 20);
                t.ask_qty[i] = Qty(1 + next() % 20);
            }
            t
        })
        .collect()
}

fn lyra() -> Result<Strategies> {
    let markets = (0..VENUES)
        .map(|v| MarketSpec {
            venue: v,
            instrument: 0,
            tick: 10,
            step: 1,
            min_qty: 1,
            max_qty: 0,
            min_notional_raw: 0,
            maker_fee_ppm: FEE_PPM,
            taker_fee_ppm: FEE_PPM,
        })
        .collect();
    let cfg = StrategiesConfig {
        markets,
        arb: Some(ArbConfig {
            strategy: 0,
            instruments: vec![0],
            edge_bps: EDGE_BPS,
            slippage_bps: 0,
            max_book_age_ms: 60_000,
            leg_timeout_ms: 1_000,
            one_leg_policy: OneLegPolicy::Hedge,
            max_group_qty: 50,
            max_open_groups: 16,
            max_groups_per_s: 0,
            max_fix_attempts: 3,
            ledger_capacity: 1_024,
        }),
        mm: vec![],
        max_working_orders: 64,
    };
    let mut s = Strategies::new(&cfg, VENUES as usize, 1, Ids::new(1, 1))?;
    for v in 0..VENUES {
        s.set_balance(VenueId(v), InstrumentIdx(0), Qty(1 << 40), 1 << 100);
    }
    Ok(s)
}

/// Levels of one side as decimals, best first: (price, qty).
type Levels = Vec<(Decimal, Decimal)>;

/// The baseline: the same marginal walk in rust_decimal over HashMap'd Vec levels.
struct Naive {
    books: HashMap<u8, (Levels, Levels)>,
    fee: Decimal,
    threshold: Decimal,
    max_qty: Decimal,
}

/// One leg from the baseline: (venue, side, price, qty).
type NaiveLeg = (u8, Side, Decimal, Decimal);

impl Naive {
    fn new() -> Self {
        Self {
            books: HashMap::new(),
            fee: Decimal::new(FEE_PPM, 6),
            threshold: Decimal::new(EDGE_BPS as i64, 4),
            max_qty: Decimal::from(50),
        }
    }

    fn on_top(&mut self, t: &BookTop) -> Vec<NaiveLeg> {
        let lv = |px: &[Px], q: &[Qty]| -> Levels {
            px.iter()
                .zip(q)
                .filter(|(_, q)| q.0 > 0)
                .map(|(p, q)| (Decimal::new(p.0, 2), Decimal::new(q.0, 0)))
                .collect()
        };
        self.books.insert(
            t.venue.0,
            (lv(&t.bid_px, &t.bid_qty), lv(&t.ask_px, &t.ask_qty)),
        );
        let mut out = Vec::new();
        for other in 0..VENUES {
            if other == t.venue.0 {
                continue;
            }
            for (a, b) in [(t.venue.0, other), (other, t.venue.0)] {
                let (Some(ba), Some(bb)) = (self.books.get(&a), self.books.get(&b)) else {
                    continue;
                };
                let one = Decimal::ONE;
                let (mut i, mut j) = (0, 0);
                let (mut qa, mut qb) = (ba.1[0].1, bb.0[0].1);
                let mut total = Decimal::ZERO;
                let (mut worst_a, mut worst_b) = (Decimal::ZERO, Decimal::ZERO);
                loop {
                    let (pa, pb) = (ba.1[i].0, bb.0[j].0);
                    let cost = pa * (one + self.fee);
                    if pb * (one - self.fee) - cost <= self.threshold * cost {
                        break;
                    }
                    let take = qa.min(qb).min(self.max_qty - total);
                    if take <= Decimal::ZERO {
                        break;
                    }
                    total += take;
                    (worst_a, worst_b) = (pa, pb);
                    qa -= take;
                    qb -= take;
                    if qa.is_zero() {
                        i += 1;
                        if i == ba.1.len() {
                            break;
                        }
                        qa = ba.1[i].1;
                    }
                    if qb.is_zero() {
                        j += 1;
                        if j == bb.0.len() {
                            break;
                        }
                        qb = bb.0[j].1;
                    }
                }
                if total > Decimal::ZERO {
                    out.push((a, Side::Buy, worst_a, total));
                    out.push((b, Side::Sell, worst_b, total));
                }
            }
        }
        out
    }
}

fn finish_all(s: &mut Strategies, sent: &[OrderIntent], now: u64, scratch: &mut Vec<OrderIntent>) {
    for it in sent.iter().filter(|i| i.action == IntentAction::New) {
        let r = ExecReport {
            intent_seq: it.intent_seq,
            state: OrderState::Expired,
            ..Default::default()
        };
        scratch.clear();
        s.on_report(&r, now, scratch);
    }
}

/// Runs the suite.
///
/// # Errors
/// If the two implementations disagree on the groups found.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let per_round = opts.pick(200_000, 20_000) as usize;
    let rounds = 5;
    let set = tops(4_096);
    let mut s = lyra()?;
    let mut naive = Naive::new();
    // Same decisions on the same books (the legs' venues, sides, prices and sizes).
    let (mut sink, mut scratch) = (Vec::with_capacity(64), Vec::with_capacity(64));
    let mut groups = 0;
    for t in &set {
        sink.clear();
        s.on_top(t, 1, &mut sink);
        let theirs = naive.on_top(t);
        let ours: Vec<NaiveLeg> = sink
            .iter()
            .map(|i| {
                (
                    i.venue.0,
                    i.side,
                    Decimal::new(i.px.0, 2),
                    Decimal::new(i.qty.0, 0),
                )
            })
            .collect();
        ensure!(
            ours == theirs,
            "lyra {ours:?} vs baseline {theirs:?} on top {}",
            t.seq
        );
        groups += ours.len() / 2;
        finish_all(&mut s, &sink, 1, &mut scratch);
    }
    ensure!(groups > 100, "only {groups} groups in the book set");
    let (mut h_lyra, mut h_base, mut h_clock) = (new_hist(), new_hist(), new_hist());
    let (mut t_lyra, mut t_base) = (0u64, 0u64);
    for round in 0..=rounds {
        let record = round > 0; // round 0 warms both
        for k in 0..per_round {
            let t = &set[k % set.len()];
            sink.clear();
            let a = mono_now_ns();
            s.on_top(t, 1, &mut sink);
            let b = mono_now_ns();
            finish_all(&mut s, &sink, 1, &mut scratch);
            if record {
                h_lyra.record((b - a).max(1))?;
                t_lyra += b - a;
            }
        }
        for k in 0..per_round {
            let t = &set[k % set.len()];
            let a = mono_now_ns();
            let legs = naive.on_top(t);
            let b = mono_now_ns();
            black_box(legs);
            if record {
                h_base.record((b - a).max(1))?;
                t_base += b - a;
            }
        }
        for _ in 0..per_round / 10 {
            let a = mono_now_ns();
            let b = mono_now_ns();
            if record {
                h_clock.record((b - a).max(1))?;
            }
        }
    }
    // Decisions per second of decision time (Lyra's off-clock leg finishing excluded).
    let per = |t: u64| (per_round * rounds) as f64 / (t.max(1) as f64 / 1e9);
    Ok(vec![
        Report::from_hist("strategy", "lyra", &h_lyra, per(t_lyra)),
        Report::from_hist("strategy", "decimal-hashmap", &h_base, per(t_base)),
        Report::from_hist("strategy", "harness-clock", &h_clock, 0.0),
    ])
}
