//! The seeded fault runs: 1-3 intents per run with a fault each maybe (response dropped after
//! acceptance, 5xx and timeout with and without the order placed, a false "does not exist"
//! window), maybe a death between journal write and send or between send and ack, then the
//! oracle checks of the Binance runs: every intent terminal (OMS and journal), at most one venue
//! order per intent with the executed quantity the OMS holds, positions equal to the
//! simulator's balance changes.

use std::time::Duration;

use lyra_oms::{
    clordid::ClOrdId,
    journal::Journal,
    order::{AlertKind, AuditEvent},
    Oms,
};
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns},
    control::GrantMode,
    msg::{InstrumentIdx, OrderState, Qty, Side, VenueId},
};
use lyra_tools::sim::{config::SCALE, faults::FaultKind};
use rust_decimal::Decimal;

use super::{cfg, intent, segment, Harness, Kind, Risk, TempDir, QTY_SCALE};

/// splitmix64: a tiny deterministic generator for the seeds.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FAULTS: [Option<FaultKind>; 7] = [
    None,
    Some(FaultKind::RestDropResponse),
    Some(FaultKind::Rest5xxPlaced),
    Some(FaultKind::Rest5xxNotPlaced),
    Some(FaultKind::Rest1007Placed),
    Some(FaultKind::Rest1007NotPlaced),
    None,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    None,
    AfterJournal,
    AfterSend,
}

/// What one run exercised.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Intents that left `submit` SENT_UNKNOWN.
    pub unknowns: u64,
    /// Simulated process deaths.
    pub crashes: u64,
}

/// One seeded run: 1-3 intents with faults, maybe a death between journal write and send or
/// between send and ack, then the oracle checks.
pub fn one_run(h: &Harness, seed: u64) -> Outcome {
    let mut rng = Rng(seed);
    let run = format!("s{}", seed % 10_000_000);
    let dir = TempDir::new(h.name());
    let seg = segment(&dir, GrantMode::Live);
    let mut risk = Risk::new(seg.clone(), true);
    let (btc0, usdt0) = (h.balance("BTC"), h.balance("USDT"));
    let mut oms = h.oms(&dir, &seg, cfg(&run));
    oms.reconcile().expect("reconcile");
    let k = 1 + rng.below(3);
    let mut unknowns = 0;
    for seq in 1..=k {
        if let Some(f) = FAULTS[rng.below(FAULTS.len() as u64) as usize] {
            h.inject(f, 1);
        }
        if rng.below(4) == 0 {
            // "Does not exist" for existing orders, shorter than the SENT_UNKNOWN window.
            h.window(FaultKind::False2013, 20);
        }
        let side = if rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let px = 5_970_000 + rng.below(60_000) as i64;
        let a = risk
            .approve(intent(seq, side, px, 1_000 + rng.below(5_000) as i64))
            .expect("approve");
        let s = oms.submit(a).expect("submit");
        unknowns += u64::from(s.state == OrderState::SentUnknown);
    }
    let crash = [
        Crash::None,
        Crash::None,
        Crash::AfterJournal,
        Crash::AfterSend,
    ][rng.below(4) as usize];
    if crash != Crash::None {
        // The process dies while handling intent k+1, perhaps with earlier intents still
        // SENT_UNKNOWN: what is in the journal and at the venue is all that survives.
        let seq = k + 1;
        let it = intent(seq, Side::Buy, 6_000_000, 2_000);
        drop(oms);
        let (mut j, _) = Journal::open(dir.0.join("journal"), &run, 256).expect("journal");
        j.append_intent(&it, wall_now_ns()).expect("append");
        if crash == Crash::AfterSend {
            j.append_state(seq, OrderState::Sent, 0, Qty(0), wall_now_ns())
                .expect("append");
            h.place_raw(&it, &ClOrdId::new(&run, seq).expect("id"));
        }
        drop(j);
        oms = h.oms(&dir, &seg, cfg(&run));
        let rep = oms.reconcile().expect("reconcile after crash");
        assert!(rep.unresolved.is_empty(), "seed {seed}: unresolved {rep:?}");
        assert!(
            rep.foreign.is_empty(),
            "seed {seed}: our own orders look foreign: {rep:?}"
        );
    }
    oms.settle(Duration::from_secs(10)).expect("settle");
    assert_eq!(oms.pending_unknown(), 0, "seed {seed}: {:?}", oms.stats());
    // Resting orders are cancelled so that every intent ends terminal.
    oms.cancel_all().expect("cancel all");
    settle_working(&mut oms);
    for o in oms.orders() {
        assert!(
            o.state.is_terminal(),
            "seed {seed}: intent {} ended {:?}; crash {crash:?}; stats {:?}; venue {:?}",
            o.intent.intent_seq,
            o.state,
            oms.stats(),
            h.venue_orders(o.clordid.as_str())
        );
    }
    let unresolved = oms
        .drain_events()
        .filter(|e| {
            matches!(
                e,
                AuditEvent::Alert {
                    kind: AlertKind::UnresolvedSentUnknown,
                    ..
                }
            )
        })
        .count();
    assert_eq!(unresolved, 0, "seed {seed}: {:?}", oms.stats());
    let pos = oms.positions().get(VenueId(0), InstrumentIdx(0));
    let ours: Vec<_> = oms.orders().copied().collect();
    drop(oms);
    let (_, rec) = Journal::open(dir.0.join("journal"), &run, 256).expect("journal");
    assert_eq!(
        rec.non_terminal().count(),
        0,
        "seed {seed}: the journal says not terminal"
    );
    for o in &ours {
        let at_venue = h.venue_orders(o.clordid.as_str());
        assert!(
            at_venue.len() <= 1,
            "seed {seed}: {} venue orders for {}",
            at_venue.len(),
            o.clordid
        );
        if let Some(&(_, executed)) = at_venue.first() {
            assert_eq!(
                Decimal::new(o.cum_qty.0, u32::from(QTY_SCALE)),
                Decimal::new(executed, u32::from(SCALE)),
                "seed {seed}: executed of {}",
                o.clordid
            );
            assert_ne!(
                o.state,
                OrderState::Rejected,
                "seed {seed}: placed but rejected ({})",
                o.clordid
            );
        }
    }
    assert_eq!(
        h.balance("BTC") - btc0,
        Decimal::new(pos.base, u32::from(QTY_SCALE)),
        "seed {seed}: base"
    );
    assert_eq!(
        h.balance("USDT") - usdt0,
        Decimal::from_i128_with_scale(pos.quote, 2 + u32::from(QTY_SCALE)),
        "seed {seed}: quote"
    );
    Outcome {
        unknowns,
        crashes: u64::from(crash != Crash::None),
    }
}

/// Polls until no order is working (a cancel answered by a false "not found" is looked at
/// again by the next poll); gives up after 10 s, a failure guard, never a timing claim.
pub fn settle_working(oms: &mut Oms) {
    let end = mono_now_ns() + 10_000_000_000;
    while oms.orders().any(|o| !o.state.is_terminal()) && mono_now_ns() < end {
        std::thread::sleep(Duration::from_millis(5));
        oms.poll().expect("poll");
    }
}

/// The seeded runs: `LYRA_OMS_LIFE_SEEDS` runs (default `default_runs`), over two simulators
/// on two threads (a run mostly waits on loopback answers and query backoff); prints how many
/// ran and what they exercised.
pub fn seeded_runs(kind: Kind, default_runs: u64) {
    let runs: u64 = std::env::var("LYRA_OMS_LIFE_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_runs);
    let only: Option<u64> = std::env::var("LYRA_OMS_LIFE_SEED")
        .ok()
        .and_then(|v| v.parse().ok());
    let workers: Vec<_> = (0..2u64)
        .map(|w| {
            std::thread::spawn(move || {
                let h = Harness::start(kind, 40 + w);
                let mut total = Outcome::default();
                for seed in (1..=runs).filter(|s| s % 2 == w && only.is_none_or(|o| o == *s)) {
                    let o = one_run(&h, seed);
                    total.unknowns += o.unknowns;
                    total.crashes += o.crashes;
                }
                total
            })
        })
        .collect();
    let mut total = Outcome::default();
    for w in workers {
        let o = w.join().expect("worker");
        total.unknowns += o.unknowns;
        total.crashes += o.crashes;
    }
    eprintln!(
        "{kind:?}: {runs} seeded runs: {} SENT_UNKNOWN intents, {} simulated deaths",
        total.unknowns, total.crashes
    );
    assert!(
        runs < 20 || only.is_some() || (total.unknowns > runs / 4 && total.crashes > runs / 4),
        "faults were exercised"
    );
}
