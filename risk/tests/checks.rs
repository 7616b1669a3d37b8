//! Every risk rule refuses with its own reason code; approvals book working orders; fills move
//! positions and PnL; property tests hold the limits over random order flow.

use lyra_risk::{
    evaluate, BookCheck, CheckInput, InstrumentLimits, Refusal, RiskEngine, RiskLimits, RiskState,
};
use lyra_shm::{
    control::{Grant, GrantMode},
    msg::{
        ExecReport, InstrumentIdx, IntentAction, OrdType, OrderIntent, OrderState, Px, Qty, Side,
        VenueId,
    },
};

const SEC: u64 = 1_000_000_000;
const NOW: u64 = 1_000 * SEC;
const WALL: u64 = 1_700_000_000 * SEC;

/// BTC/USDT-like: price scale 2, qty scale 5; notional scale 8.
fn inst() -> InstrumentLimits {
    InstrumentLimits {
        px_scale: 2,
        qty_scale: 5,
        max_order_qty: Qty(100_000),              // 1 BTC
        max_order_notional: 70_000 * 100_000_000, // 70k USDT
        max_position: Qty(200_000),               // 2 BTC
        collar_bps: 100,
        max_book_age_ms: 500,
    }
}

fn limits() -> RiskLimits {
    RiskLimits {
        instruments: vec![Some(inst()), None],
        max_open_orders: 4,
        max_orders_per_s: 10,
        daily_loss_stop: 1_000 * 100_000_000,
        cooldown_after_losses: 3,
        cooldown_ms: 60_000,
    }
}

fn grant() -> Grant {
    Grant {
        grant_id: 7,
        strategy_id: 0,
        venue_mask: 0b11,
        instrument: None,
        max_order_notional: 50_000 * 100_000_000,
        max_exposure: 120_000 * 100_000_000,
        max_orders: 100,
        mode: GrantMode::Live,
        expiry_wall_ns: WALL + 3600 * SEC,
        revoked: false,
    }
}

/// A grant whose total budget never binds (for tests of other rules).
fn big_grant() -> Grant {
    Grant {
        max_exposure: i64::MAX,
        ..grant()
    }
}

/// Buy 0.5 BTC at 60,000.00 on venue 0.
fn intent(seq: u64) -> OrderIntent {
    OrderIntent {
        intent_seq: seq,
        px: Px(6_000_000),
        qty: Qty(50_000),
        instrument: InstrumentIdx(0),
        venue: VenueId(0),
        side: Side::Buy,
        ..Default::default()
    }
}

const BOOKS: [BookCheck; 2] = [
    BookCheck {
        valid: true,
        updated_ns: NOW - 1_000_000,
    },
    BookCheck {
        valid: true,
        updated_ns: NOW - 2_000_000,
    },
];

fn input<'a>(g: &'a Grant) -> CheckInput<'a> {
    CheckInput {
        now_mono_ns: NOW,
        now_wall_ns: WALL,
        halted: false,
        venue_halt_mask: 0,
        grant: Some(g),
        live: true,
        ref_mid: Some(Px(6_000_000)),
        books: &BOOKS,
        edge_after_fees: None,
    }
}

fn refusal(it: OrderIntent, inp: &CheckInput<'_>, st: &RiskState) -> Option<Refusal> {
    evaluate(&it, inp, &limits(), st).err()
}

#[test]
fn a_good_intent_passes() {
    let g = grant();
    let st = RiskState::new(&limits());
    assert_eq!(evaluate(&intent(1), &input(&g), &limits(), &st), Ok(7));
}

#[test]
fn each_rule_refuses_with_its_code() {
    let g = grant();
    let st = RiskState::new(&limits());
    let base = input(&g);

    let mut it = intent(1);
    it.qty = Qty(0);
    assert_eq!(refusal(it, &base, &st), Some(Refusal::Malformed));

    assert_eq!(
        refusal(
            intent(1),
            &CheckInput {
                halted: true,
                ..base
            },
            &st
        ),
        Some(Refusal::Halted)
    );
    assert_eq!(
        refusal(
            intent(1),
            &CheckInput {
                venue_halt_mask: 1,
                ..base
            },
            &st
        ),
        Some(Refusal::VenueHalted)
    );

    let mut it = intent(1);
    it.instrument = InstrumentIdx(1);
    assert_eq!(
        refusal(it, &base, &st),
        Some(Refusal::InstrumentNotConfigured)
    );
    it.instrument = InstrumentIdx(9);
    assert_eq!(
        refusal(it, &base, &st),
        Some(Refusal::InstrumentNotConfigured)
    );

    assert_eq!(
        refusal(
            intent(1),
            &CheckInput {
                grant: None,
                ..base
            },
            &st
        ),
        Some(Refusal::NoGrant)
    );
    let expired = Grant {
        expiry_wall_ns: WALL - 1,
        ..grant()
    };
    assert_eq!(
        refusal(intent(1), &input(&expired), &st),
        Some(Refusal::NoGrant)
    );
    let revoked = Grant {
        revoked: true,
        ..grant()
    };
    assert_eq!(
        refusal(intent(1), &input(&revoked), &st),
        Some(Refusal::NoGrant)
    );
    let other_venue = Grant {
        venue_mask: 0b10,
        ..grant()
    };
    assert_eq!(
        refusal(intent(1), &input(&other_venue), &st),
        Some(Refusal::NoGrant)
    );
    let other_strategy = Grant {
        strategy_id: 3,
        ..grant()
    };
    assert_eq!(
        refusal(intent(1), &input(&other_strategy), &st),
        Some(Refusal::NoGrant)
    );
    let safe = Grant {
        mode: GrantMode::Safe,
        ..grant()
    };
    assert_eq!(
        refusal(intent(1), &input(&safe), &st),
        Some(Refusal::GrantMode)
    );
    assert_eq!(
        refusal(
            intent(1),
            &CheckInput {
                live: false,
                ..input(&safe)
            },
            &st
        ),
        None
    );

    let invalid = [
        BookCheck {
            valid: false,
            updated_ns: NOW,
        },
        BOOKS[1],
    ];
    assert_eq!(
        refusal(
            intent(1),
            &CheckInput {
                books: &invalid,
                ..base
            },
            &st
        ),
        Some(Refusal::BookInvalid)
    );
    assert_eq!(
        refusal(intent(1), &CheckInput { books: &[], ..base }, &st),
        Some(Refusal::BookInvalid)
    );
    let stale = [
        BOOKS[0],
        BookCheck {
            valid: true,
            updated_ns: NOW - 501_000_000,
        },
    ];
    assert_eq!(
        refusal(
            intent(1),
            &CheckInput {
                books: &stale,
                ..base
            },
            &st
        ),
        Some(Refusal::BookStale)
    );

    assert_eq!(
        refusal(
            intent(1),
            &CheckInput {
                ref_mid: None,
                ..base
            },
            &st
        ),
        Some(Refusal::NoReference)
    );
    let mut it = intent(1);
    it.px = Px(6_060_001); // 1.00002 % above mid
    assert_eq!(refusal(it, &base, &st), Some(Refusal::PriceCollar));
    it.px = Px(6_060_000); // exactly 100 bps: allowed
    assert_eq!(refusal(it, &base, &st), None);

    let mut it = intent(1);
    it.qty = Qty(100_001);
    assert_eq!(refusal(it, &base, &st), Some(Refusal::MaxOrderQty));

    let small = InstrumentLimits {
        max_order_notional: 29_999 * 100_000_000,
        ..inst()
    };
    let lim = RiskLimits {
        instruments: vec![Some(small)],
        ..limits()
    };
    assert_eq!(
        evaluate(&intent(1), &base, &lim, &st),
        Err(Refusal::MaxOrderNotional)
    );

    let tight = Grant {
        max_order_notional: 29_999 * 100_000_000,
        ..grant()
    };
    assert_eq!(
        refusal(intent(1), &input(&tight), &st),
        Some(Refusal::GrantOrderNotional)
    );
    let budget = Grant {
        max_exposure: 29_999 * 100_000_000,
        ..grant()
    };
    assert_eq!(
        refusal(intent(1), &input(&budget), &st),
        Some(Refusal::GrantExposure)
    );
    let no_orders = Grant {
        max_orders: 0,
        ..grant()
    };
    assert_eq!(
        refusal(intent(1), &input(&no_orders), &st),
        Some(Refusal::GrantOrderCount)
    );

    let arb = CheckInput {
        edge_after_fees: Some(0),
        ..base
    };
    assert_eq!(refusal(intent(1), &arb, &st), Some(Refusal::NoEdge));
    assert_eq!(
        refusal(
            intent(1),
            &CheckInput {
                edge_after_fees: Some(1),
                ..base
            },
            &st
        ),
        None
    );
}

#[test]
fn stateful_rules_refuse_with_their_codes() {
    let g = big_grant();
    let inp = input(&g);

    // Position including working orders: 4 x 0.5 BTC working = 2 BTC; the next buy would pass 2.
    let mut rk = RiskEngine::new(RiskLimits {
        max_open_orders: 10,
        ..limits()
    });
    for seq in 1..=4 {
        rk.check(intent(seq), &inp).expect("within limits");
    }
    assert_eq!(
        rk.check(intent(5), &inp).unwrap_err(),
        Refusal::PositionLimit
    );
    // A sell reduces the worst case: allowed.
    let mut sell = intent(6);
    sell.side = Side::Sell;
    assert!(rk.check(sell, &inp).is_ok());

    // Open orders.
    let mut rk = RiskEngine::new(RiskLimits {
        max_open_orders: 2,
        ..limits()
    });
    let mut it = intent(1);
    it.qty = Qty(1_000);
    rk.check(it, &inp).unwrap();
    it.intent_seq = 2;
    rk.check(it, &inp).unwrap();
    it.intent_seq = 3;
    assert_eq!(rk.check(it, &inp).unwrap_err(), Refusal::MaxOpenOrders);

    // Message rate: 10/s burst, then refused until tokens refill.
    let mut rk = RiskEngine::new(RiskLimits {
        max_open_orders: 100,
        ..limits()
    });
    let mut it = intent(1);
    it.qty = Qty(1_000);
    for seq in 1..=10 {
        it.intent_seq = seq;
        rk.check(it, &inp).unwrap();
    }
    it.intent_seq = 11;
    assert_eq!(rk.check(it, &inp).unwrap_err(), Refusal::MessageRate);
    let later = CheckInput {
        now_mono_ns: NOW + SEC / 5,
        ..inp
    };
    assert!(
        rk.check(it, &later).is_ok(),
        "refilled after 200 ms (2 tokens)"
    );

    // Grant exposure counts what is working under the grant.
    let g2 = Grant {
        max_exposure: 50_000 * 100_000_000,
        ..grant()
    };
    let inp2 = input(&g2);
    let mut rk = RiskEngine::new(limits());
    rk.check(intent(1), &inp2).unwrap(); // 30k committed
    assert_eq!(
        rk.check(intent(2), &inp2).unwrap_err(),
        Refusal::GrantExposure
    );
    // Cancelling the first order (terminal, nothing filled) releases its budget.
    let cancel = ExecReport {
        intent_seq: 1,
        state: OrderState::Canceled,
        ..Default::default()
    };
    rk.state_mut().on_exec(&cancel, &limits(), NOW);
    assert!(rk.check(intent(2), &inp2).is_ok());
}

fn near_59k<'a>(inp: &CheckInput<'a>) -> CheckInput<'a> {
    CheckInput {
        ref_mid: Some(Px(5_900_000)),
        ..*inp
    }
}

fn fill(seq: u64, px: i64, qty: i64, state: OrderState) -> ExecReport {
    ExecReport {
        intent_seq: seq,
        last_px: Px(px),
        last_qty: Qty(qty),
        state,
        ..Default::default()
    }
}

#[test]
fn fills_move_position_and_pnl_and_losses_stop_trading() {
    let g = big_grant();
    let inp = CheckInput {
        ref_mid: Some(Px(6_000_000)),
        ..input(&g)
    };
    let lim = RiskLimits {
        max_open_orders: 10,
        max_orders_per_s: 1000,
        ..limits()
    };
    let mut rk = RiskEngine::new(lim.clone());
    // Buy 0.5 at 60,000, sell 0.5 at 59,000: a 500 USDT loss.
    rk.check(intent(1), &inp).unwrap();
    rk.state_mut()
        .on_exec(&fill(1, 6_000_000, 50_000, OrderState::Filled), &lim, NOW);
    assert_eq!(rk.state().instrument(InstrumentIdx(0)).position, 50_000);
    let mut sell = intent(2);
    sell.side = Side::Sell;
    sell.px = Px(5_900_000);
    rk.check(sell, &near_59k(&inp)).unwrap();
    rk.state_mut()
        .on_exec(&fill(2, 5_900_000, 20_000, OrderState::Partial), &lim, NOW);
    rk.state_mut()
        .on_exec(&fill(2, 5_900_000, 30_000, OrderState::Filled), &lim, NOW);
    let st = rk.state().instrument(InstrumentIdx(0));
    assert_eq!((st.position, st.working_buy, st.working_sell), (0, 0, 0));
    assert_eq!(rk.state().daily_pnl, -500 * 100_000_000);
    assert_eq!(rk.state().open_orders(), 0);

    // Another 500 loss reaches the 1,000 stop.
    rk.check(intent(3), &inp).unwrap();
    rk.state_mut()
        .on_exec(&fill(3, 6_000_000, 50_000, OrderState::Filled), &lim, NOW);
    let mut sell = intent(4);
    sell.side = Side::Sell;
    sell.px = Px(5_900_000);
    rk.check(sell, &near_59k(&inp)).unwrap();
    rk.state_mut()
        .on_exec(&fill(4, 5_900_000, 50_000, OrderState::Filled), &lim, NOW);
    assert_eq!(
        rk.check(intent(5), &inp).unwrap_err(),
        Refusal::DailyLossStop
    );
    // A new UTC day starts again.
    rk.state_mut().roll_day(WALL + 86_400 * SEC);
    assert_eq!(rk.check(intent(5), &inp).err(), None);
}

#[test]
fn consecutive_losses_start_a_cooldown() {
    let g = big_grant();
    let inp = input(&g);
    let lim = RiskLimits {
        max_open_orders: 20,
        max_orders_per_s: 1000,
        daily_loss_stop: i64::MAX,
        ..limits()
    };
    let mut rk = RiskEngine::new(lim.clone());
    let mut seq = 0;
    for _ in 0..3 {
        seq += 1;
        rk.check(intent(seq), &inp).unwrap();
        rk.state_mut()
            .on_exec(&fill(seq, 6_000_000, 50_000, OrderState::Filled), &lim, NOW);
        seq += 1;
        let mut sell = intent(seq);
        sell.side = Side::Sell;
        sell.px = Px(5_990_000);
        rk.check(sell, &inp).unwrap();
        rk.state_mut()
            .on_exec(&fill(seq, 5_990_000, 50_000, OrderState::Filled), &lim, NOW);
    }
    assert_eq!(
        rk.check(intent(99), &inp).unwrap_err(),
        Refusal::LossCooldown
    );
    let fresh = [BookCheck {
        valid: true,
        updated_ns: NOW + 61 * SEC,
    }];
    let after = CheckInput {
        now_mono_ns: NOW + 61 * SEC,
        books: &fresh,
        ..inp
    };
    assert_eq!(rk.check(intent(99), &after).err(), None);
}

#[test]
fn cancels_pass_even_when_halted() {
    let g = grant();
    let inp = CheckInput {
        halted: true,
        ..input(&g)
    };
    let mut rk = RiskEngine::new(limits());
    let cancel = OrderIntent {
        action: IntentAction::Cancel,
        target_seq: 1,
        ..intent(2)
    };
    assert!(rk.check(cancel, &inp).is_ok());
    assert_eq!(rk.check(intent(3), &inp).unwrap_err(), Refusal::Halted);
}

#[test]
fn market_orders_use_the_mid_for_notional() {
    let g = grant();
    let st = RiskState::new(&limits());
    let mut it = intent(1);
    it.ord_type = OrdType::Market;
    it.px = Px(0);
    it.qty = Qty(100_000); // 1 BTC at mid 60,000 > grant's 50k per order
    assert_eq!(
        refusal(it, &input(&g), &st),
        Some(Refusal::GrantOrderNotional)
    );
}

proptest::proptest! {
    /// Over random order flow and fills, whatever risk approves keeps every limit.
    #[test]
    fn approvals_never_break_limits(ops in proptest::collection::vec((0u8..4, 1i64..60_000, 5_900_000i64..6_100_000, proptest::bool::ANY), 1..80)) {
        let g = grant();
        let lim = RiskLimits { max_open_orders: 6, max_orders_per_s: 5, ..limits() };
        let mut rk = RiskEngine::new(lim.clone());
        let mut now = NOW;
        let mut seq = 0;
        let mut approved_seqs = Vec::new();
        for (op, qty, px, buy) in ops {
            now += 37_000_000;
            let books = [BookCheck { valid: true, updated_ns: now }];
            let inp = CheckInput { now_mono_ns: now, books: &books, ..input(&g) };
            if op == 0 && !approved_seqs.is_empty() {
                // Fill (fully) the oldest working order.
                let s: u64 = approved_seqs.remove(0);
                rk.state_mut().on_exec(&fill(s, 6_000_000, i64::MAX, OrderState::Filled), &lim, now);
                continue;
            }
            seq += 1;
            let it = OrderIntent { qty: Qty(qty), px: Px(px), side: if buy { Side::Buy } else { Side::Sell }, ..intent(seq) };
            let before = rk.state().instrument(InstrumentIdx(0));
            if let Ok(a) = rk.check(it, &inp) {
                approved_seqs.push(a.intent().intent_seq);
                let l = inst();
                proptest::prop_assert!(it.qty <= l.max_order_qty);
                proptest::prop_assert!(lyra_risk::notional(it.px, it.qty, &l) <= l.max_order_notional as i128);
                proptest::prop_assert!((it.px.0 - 6_000_000).abs() * 10_000 <= 100 * 6_000_000);
                let after = rk.state().instrument(InstrumentIdx(0));
                let worst_long = after.position + after.working_buy;
                let worst_short = after.position - after.working_sell;
                let grew = worst_long.abs().max(worst_short.abs()) > (before.position + before.working_buy).abs().max((before.position - before.working_sell).abs());
                proptest::prop_assert!(!grew || worst_long.abs().max(worst_short.abs()) <= l.max_position.0);
                proptest::prop_assert!(rk.state().open_orders() <= lim.max_open_orders);
            }
        }
    }
}
