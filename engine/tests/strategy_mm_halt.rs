//! Market making while halted: the strategy stage reads the halt word each poll, and market
//! makers of a halted venue (or of a globally halted engine) place no quotes, so risk refuses
//! nothing and the audit fills with nothing; after the resume they quote again.

mod strategy_support;

use std::sync::{atomic::Ordering::Relaxed, Arc};

use lyra_engine::{
    runtime::stage::Stage,
    stages::strategy::{Approved, Scales, StrategyStage},
    stats::EngineStats,
    strategy::{Ids, MarketSpec, Strategies},
};
use lyra_risk::{InstrumentLimits, RiskEngine, RiskLimits};
use lyra_shm::{
    clock::{Clock, ManualClock},
    control::{ControlSegment, CreateOpts, Grant, GrantMode, HaltReason, Note, Source},
    msg::{BookTop, ExecReport, InstrumentIdx, IntentAction, OrderIntent, Qty, VenueId},
    ring::{channel, Consumer, Producer},
};
use strategy_support::*;

const I0: InstrumentIdx = InstrumentIdx(0);
const T0: u64 = 10_000 * MS;

/// Tick 10, maker fee 10 bps.
fn spec(venue: u8) -> MarketSpec {
    let mut m = market(venue, 1_000, 1_000);
    m.tick = 10;
    m
}

/// One market maker on venue 0 (strategy 1), quoting 5 a side around the mid.
fn strategies() -> Strategies {
    let conf = cfg(vec![spec(0), spec(1)], None, vec![mm_cfg()]);
    let mut s = Strategies::new(&conf, 2, 1, Ids::new(1, 1)).unwrap();
    s.set_balance(VenueId(0), I0, Qty(50), 1_000_000_000_000);
    s
}

fn book(venue: u8, t: u64) -> BookTop {
    top(venue, t / MS, t, &[(999_900, 100)], &[(1_000_100, 100)])
}

fn news(out: &[OrderIntent]) -> usize {
    out.iter().filter(|i| i.action == IntentAction::New).count()
}

#[test]
fn a_halted_market_maker_places_nothing_and_quotes_again_after_the_resume() {
    let mut s = strategies();
    let mut out = Vec::with_capacity(16);
    // Globally halted: no quotes, the hold counted.
    s.set_halt(true, 0);
    s.on_top(&book(0, T0), T0, &mut out);
    s.on_timer(T0 + 10 * MS, &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(s.market_makers()[0].stats().halted_holds, 2);
    assert_eq!(s.market_makers()[0].stats().quotes, 0);
    // Only venue 0 halted: still nothing. Only venue 1 halted: venue 0 quotes.
    s.set_halt(false, 0b01);
    s.on_top(&book(0, T0 + 20 * MS), T0 + 20 * MS, &mut out);
    assert!(out.is_empty(), "{out:?}");
    s.set_halt(false, 0b10);
    s.on_top(&book(0, T0 + 30 * MS), T0 + 30 * MS, &mut out);
    assert_eq!(news(&out), 2, "venue 0 is not halted: {out:?}");
    out.clear();
    // Halted with quotes resting: no replace however old they get...
    s.set_halt(true, 0);
    s.on_timer(T0 + 500 * MS, &mut out);
    assert!(
        out.is_empty(),
        "TTL passed but halted: no cancel-replace {out:?}"
    );
    // ...but a book gone bad still pulls them (cancels reduce risk and pass a halt).
    let mut bad = book(0, T0 + 510 * MS);
    bad.valid = 0;
    s.on_top(&bad, T0 + 510 * MS, &mut out);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|i| i.action == IntentAction::Cancel));
    out.clear();
    // Resume: the next update quotes again.
    s.set_halt(false, 0);
    s.on_top(&book(0, T0 + 520 * MS), T0 + 520 * MS, &mut out);
    assert_eq!(news(&out), 2, "{out:?}");
}

/// A strategy stage over a real control segment with a SAFE grant for the market maker.
struct Rig {
    stage: StrategyStage,
    tops: Producer<BookTop>,
    approved: Consumer<Approved>,
    _reports: Producer<ExecReport>,
    seg: Arc<ControlSegment>,
    clock: Arc<ManualClock>,
    stats: Arc<EngineStats>,
    path: std::path::PathBuf,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn rig() -> Rig {
    let path = std::env::temp_dir().join(format!(
        "lyra-mm-halt-{}-{}",
        std::process::id(),
        lyra_shm::clock::mono_now_ns()
    ));
    let opts = CreateOpts {
        mlock: false,
        ..CreateOpts::default()
    };
    let seg = Arc::new(ControlSegment::create(&path, &opts).expect("segment"));
    let grant = Grant {
        grant_id: 1,
        strategy_id: 1,
        venue_mask: 0b11,
        instrument: None,
        max_order_notional: i64::MAX / 4,
        max_exposure: i64::MAX / 4,
        max_orders: 1_000,
        mode: GrantMode::Safe,
        expiry_wall_ns: T0 + 3_600_000 * MS,
        revoked: false,
    };
    seg.put_grant(&grant, T0).expect("grant");
    let limits = RiskLimits {
        instruments: vec![Some(InstrumentLimits {
            px_scale: 2,
            qty_scale: 2,
            max_order_qty: Qty(1_000),
            max_order_notional: i64::MAX / 4,
            max_position: Qty(1_000),
            collar_bps: 100,
            max_book_age_ms: 1_000,
        })],
        max_open_orders: 64,
        max_orders_per_s: 1_000,
        daily_loss_stop: i64::MAX / 4,
        cooldown_after_losses: 0,
        cooldown_ms: 0,
    };
    let clock = Arc::new(ManualClock::new(T0));
    let stats = Arc::new(EngineStats::default());
    let (tops, top_rx) = channel(64);
    let (reports, rep_rx) = channel(64);
    let (ord_tx, approved) = channel(64);
    let stage = StrategyStage::new(
        top_rx,
        rep_rx,
        ord_tx,
        strategies(),
        RiskEngine::new(limits),
        vec![Scales { px: 2, qty: 2 }],
        seg.clone(),
        clock.clone() as Arc<dyn Clock>,
        stats.clone(),
        false,
        None,
    );
    Rig {
        stage,
        tops,
        approved,
        _reports: reports,
        seg,
        clock,
        stats,
        path,
    }
}

impl Rig {
    /// A fresh top of venue 0 at `t`, then one poll; returns what reached the order ring.
    fn top_at(&mut self, t: u64) -> Vec<OrderIntent> {
        self.clock.set(t);
        self.tops.push(book(0, t)).unwrap();
        self.stage.poll(t);
        std::iter::from_fn(|| self.approved.pop())
            .map(|a| *a.approved.intent())
            .collect()
    }
}

fn note(text: &str) -> Note<'_> {
    Note {
        source: Source::Operator,
        operator: "test",
        text,
        wall_ns: T0,
    }
}

#[test]
fn the_strategy_stage_holds_quotes_while_the_halt_word_is_set() {
    let mut r = rig();
    // Halted before the first top: nothing is emitted, so risk refuses nothing.
    r.seg.trip_with(HaltReason::Operator, &note("test halt"));
    assert!(r.top_at(T0).is_empty());
    assert!(r.top_at(T0 + 10 * MS).is_empty());
    assert_eq!(r.stats.intents.load(Relaxed), 0, "no intent reached risk");
    assert_eq!(r.stats.risk_refused.load(Relaxed), 0);
    // Two tops and the 5 ms strategy timer, each held.
    assert_eq!(
        r.stage.strategies().market_makers()[0].stats().halted_holds,
        3
    );
    // Resumed: the next top quotes, and risk approves both sides.
    let state = r.seg.halt_state();
    r.seg
        .resume_if(state, &note("test resume"))
        .expect("resume");
    let out = r.top_at(T0 + 20 * MS);
    assert_eq!(news(&out), 2, "{out:?}");
    assert_eq!(r.stats.risk_refused.load(Relaxed), 0);
    // A venue halt of venue 0 holds them too (TTL 100 ms passed: it would replace otherwise).
    r.seg
        .trip_venue(VenueId(0), HaltReason::Operator, &note("venue 0"))
        .expect("venue trip");
    assert!(r.top_at(T0 + 200 * MS).is_empty());
    assert_eq!(r.stats.risk_refused.load(Relaxed), 0);
}
