//! Cross-venue arbitrage on hand-built books: sizes and prices from the depth walk with fees,
//! the strict threshold, filters and inventory caps, invalid/stale books, group pairing, the
//! send-time recheck, hedge/unwind after one-legged fills, the time box and the ledger.

mod strategy_support;

use lyra_engine::strategy::{
    edge_still_positive, fees::RATE_SCALE, ArbGroup, Ids, MarketSpec, OneLegPolicy, Strategies,
};
use lyra_shm::msg::{
    BookTop, InstrumentIdx, IntentAction, OrdType, OrderIntent, OrderState, Px, Qty, Side, Tif,
    VenueId,
};
use strategy_support::*;

const I0: InstrumentIdx = InstrumentIdx(0);
const NOW: u64 = 1_000 * MS;

/// Two venues, 10 bps taker fee each, 10 bps edge: a unit clears when
/// `bid x 0.999 > ask x 1.001 x 1.001`, i.e. `bid > ask x 1.002001 / 0.999`.
/// With ask 999000 the threshold bid is exactly 1002001.
fn strategies_with(markets: Vec<MarketSpec>, policy: OneLegPolicy) -> Strategies {
    let c = cfg(markets, Some(arb_cfg(10, policy)), vec![]);
    let mut s = Strategies::new(&c, 2, 1, Ids::new(100, 7)).unwrap();
    for v in 0..2 {
        s.set_balance(VenueId(v), I0, Qty(1_000_000), 1_000_000_000_000_000);
    }
    s
}

fn strategies(policy: OneLegPolicy) -> Strategies {
    strategies_with(vec![market(0, 1_000, 0), market(1, 1_000, 0)], policy)
}

fn feed(s: &mut Strategies, tops: &[BookTop], now: u64) -> Vec<OrderIntent> {
    let mut out = Vec::with_capacity(64);
    for t in tops {
        s.on_top(t, now, &mut out);
    }
    out
}

fn a_top(asks: &[(i64, i64)]) -> BookTop {
    top(0, 11, NOW, &[(998_000, 100)], asks)
}

fn b_top(bids: &[(i64, i64)]) -> BookTop {
    top(1, 22, NOW, bids, &[(1_010_000, 100)])
}

#[test]
fn edge_exactly_at_threshold_is_not_taken_one_tick_better_is() {
    let mut s = strategies(OneLegPolicy::Hedge);
    let out = feed(
        &mut s,
        &[a_top(&[(999_000, 5)]), b_top(&[(1_002_001, 5)])],
        NOW,
    );
    assert!(out.is_empty(), "{out:?}");
    let out = feed(&mut s, &[b_top(&[(1_002_002, 5)])], NOW);
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].side, out[0].venue, out[0].px, out[0].qty),
        (Side::Buy, VenueId(0), Px(999_000), Qty(5))
    );
    assert_eq!(
        (out[1].side, out[1].venue, out[1].px, out[1].qty),
        (Side::Sell, VenueId(1), Px(1_002_002), Qty(5))
    );
}

#[test]
fn no_group_opens_while_the_engine_or_a_venue_of_the_pair_is_halted() {
    let mut s = strategies(OneLegPolicy::Hedge);
    let (a, b) = (a_top(&[(999_000, 5)]), b_top(&[(1_003_000, 5)]));
    s.set_halt(true, 0);
    assert!(feed(&mut s, &[a, b], NOW).is_empty(), "globally halted");
    s.set_halt(false, 1 << 1);
    assert!(feed(&mut s, &[a, b], NOW).is_empty(), "venue 1 halted");
    assert!(s.arb().unwrap().stats().halted_skips >= 2);
    s.set_halt(false, 1 << 5);
    let out = feed(&mut s, &[b], NOW);
    assert_eq!(
        out.len(),
        2,
        "another venue's halt does not stop this pair: {out:?}"
    );
}

#[test]
fn depth_walk_finds_size_and_worst_prices_and_legs_share_a_group() {
    let mut s = strategies(OneLegPolicy::Hedge);
    // (999000, 1003000) clears: 2; (999000, 1002500) clears: 1 more; (999500, 1002500) needs a bid
    // above 1002502.5: stop. Size 3, limits at the worst levels touched.
    let a = a_top(&[(999_000, 3), (999_500, 4), (1_000_000, 10)]);
    let b = b_top(&[(1_003_000, 2), (1_002_500, 4), (1_001_000, 10)]);
    let out = feed(&mut s, &[a, b], NOW);
    assert_eq!(out.len(), 2, "{out:?}");
    let (buy, sell) = (out[0], out[1]);
    assert_eq!((buy.px, buy.qty), (Px(999_000), Qty(3)));
    assert_eq!((sell.px, sell.qty), (Px(1_002_500), Qty(3)));
    for it in [buy, sell] {
        assert_eq!(it.group_id, 7);
        assert_eq!(it.tif, Tif::Ioc);
        assert_eq!(it.ord_type, OrdType::Limit);
        assert_eq!(it.action, IntentAction::New);
        assert_eq!(it.strategy, 3);
        assert_eq!(it.decided_ts, NOW);
    }
    assert_eq!((buy.intent_seq, sell.intent_seq), (100, 101));
    assert_eq!((buy.book_seq, sell.book_seq), (11, 22));
    let g = s.arb().unwrap().group(7).unwrap();
    assert_eq!((g.buy_seq, g.sell_seq, g.qty), (100, 101, Qty(3)));
    assert!(g.floor.is_positive() && g.expected.net() >= g.floor.net());
    // The same books again: the pair is busy with the group in flight, nothing more is sent.
    assert!(feed(&mut s, &[b], NOW).is_empty());
}

#[test]
fn filters_step_min_qty_and_min_notional() {
    let a = a_top(&[(999_000, 3), (999_500, 4)]);
    let b = b_top(&[(1_003_000, 2), (1_002_500, 4)]);
    // Step 2 on the sell venue: 3 -> 2, and the sell limit moves back to the level 2 needs.
    let mut m1 = market(1, 1_000, 0);
    m1.step = 2;
    let mut s = strategies_with(vec![market(0, 1_000, 0), m1], OneLegPolicy::Hedge);
    let out = feed(&mut s, &[a, b], NOW);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].px, out[0].qty), (Px(999_000), Qty(2)));
    assert_eq!((out[1].px, out[1].qty), (Px(1_003_000), Qty(2)));
    // Min qty 4 on the buy venue: nothing clears that much.
    let mut m0 = market(0, 1_000, 0);
    m0.min_qty = 4;
    let mut s = strategies_with(vec![m0, market(1, 1_000, 0)], OneLegPolicy::Hedge);
    assert!(feed(&mut s, &[a, b], NOW).is_empty());
    // Min notional above 3 x 999000 on the buy venue.
    let mut m0 = market(0, 1_000, 0);
    m0.min_notional_raw = 2_997_001;
    let mut s = strategies_with(vec![m0, market(1, 1_000, 0)], OneLegPolicy::Hedge);
    assert!(feed(&mut s, &[a, b], NOW).is_empty());
    // Max qty 1 on the sell venue caps the group.
    let mut m1 = market(1, 1_000, 0);
    m1.max_qty = 1;
    let mut s = strategies_with(vec![market(0, 1_000, 0), m1], OneLegPolicy::Hedge);
    let out = feed(&mut s, &[a, b], NOW);
    assert_eq!((out[0].qty, out[1].px), (Qty(1), Px(1_003_000)));
}

#[test]
fn inventory_caps_size_spot_only() {
    let a = a_top(&[(999_000, 3)]);
    let b = b_top(&[(1_003_000, 5)]);
    // Base on the sell venue: 1.
    let mut s = strategies(OneLegPolicy::Hedge);
    s.set_balance(VenueId(1), I0, Qty(1), 0);
    let out = feed(&mut s, &[a, b], NOW);
    assert_eq!(out[0].qty, Qty(1));
    // Quote on the buy venue: 2 x 999000 x 1.001 = 1999998 buys 2; one less buys 1.
    let mut s = strategies(OneLegPolicy::Hedge);
    s.set_balance(VenueId(0), I0, Qty(0), 1_999_998);
    assert_eq!(feed(&mut s, &[a, b], NOW)[0].qty, Qty(2));
    let mut s = strategies(OneLegPolicy::Hedge);
    s.set_balance(VenueId(0), I0, Qty(0), 1_999_997);
    assert_eq!(feed(&mut s, &[a, b], NOW)[0].qty, Qty(1));
    // Nothing to sell with: no group at all (no borrowing).
    let mut s = strategies(OneLegPolicy::Hedge);
    s.set_balance(VenueId(1), I0, Qty(0), 1_000_000_000);
    assert!(feed(&mut s, &[a, b], NOW).is_empty());
    // Reservations: a first group reserves the quote, so a second opportunity on another pair
    // only gets what is left (here, nothing).
    let mut s = strategies(OneLegPolicy::Hedge);
    s.set_balance(VenueId(0), I0, Qty(0), 1_999_998);
    feed(&mut s, &[a, b], NOW);
    let bal = s.inventory().balance(VenueId(0), I0);
    assert_eq!(bal.reserved_quote_raw, 1_999_998);
    assert_eq!(bal.free_quote_raw(), 0);
}

#[test]
fn never_fires_from_an_invalid_or_stale_book() {
    let a = a_top(&[(999_000, 3)]);
    let b = b_top(&[(1_003_000, 5)]);
    let mut bad = b;
    bad.valid = 0;
    let mut s = strategies(OneLegPolicy::Hedge);
    assert!(feed(&mut s, &[a, bad], NOW).is_empty());
    // Stale: A was received 501 ms before now (max age 500 ms).
    let mut old = a;
    old.recv_ts = NOW - 501 * MS;
    let mut s = strategies(OneLegPolicy::Hedge);
    assert!(feed(&mut s, &[old, b], NOW).is_empty());
    // Exactly at the age limit is still fresh.
    old.recv_ts = NOW - 500 * MS;
    let mut s = strategies(OneLegPolicy::Hedge);
    assert_eq!(feed(&mut s, &[old, b], NOW).len(), 2);
    // A crossed own book is not a book to trade from.
    let mut crossed = a;
    crossed.bid_px[0] = Px(1_000_000);
    let mut s = strategies(OneLegPolicy::Hedge);
    assert!(feed(&mut s, &[crossed, b], NOW).is_empty());
}

#[test]
fn send_time_recheck_refuses_a_vanished_edge() {
    let mut s = strategies(OneLegPolicy::Hedge);
    let a = a_top(&[(999_000, 3)]);
    let b = b_top(&[(1_003_000, 5)]);
    feed(&mut s, &[a, b], NOW);
    let g = *s.arb().unwrap().group(7).unwrap();
    let e = edge_still_positive(&g, s.tops()).expect("edge still there");
    // The order stage's view, rebuilt from the two leg intents, gives the same answer.
    let out = s.inventory().working().to_vec();
    let leg = |k: usize| OrderIntent {
        intent_seq: out[k].intent_seq,
        group_id: out[k].group_id,
        px: out[k].px,
        qty: out[k].qty,
        venue: out[k].venue,
        side: out[k].side,
        ..Default::default()
    };
    let rebuilt = ArbGroup::from_legs(&leg(0), &leg(1), 1_000, 1_000).unwrap();
    assert_eq!(edge_still_positive(&rebuilt, s.tops()), Some(e));
    assert!(ArbGroup::from_legs(&leg(1), &leg(0), 1_000, 1_000).is_none());
    // 3 x (1003000 x 0.999 - 999000 x 1.001) in raw x RATE_SCALE.
    assert_eq!(
        e.net(),
        3 * (1_003_000i128 * 999_000 - 999_000i128 * 1_001_000)
    );
    // The bid fell below break-even: refused.
    let fell = b_top(&[(999_500, 5)]);
    feed(&mut s, &[fell], NOW);
    assert_eq!(edge_still_positive(&g, s.tops()), None);
    // Depth vanished: only 2 left within the sell limit.
    feed(&mut s, &[b_top(&[(1_003_000, 2), (1_000_000, 5)])], NOW);
    assert_eq!(edge_still_positive(&g, s.tops()), None);
    // Invalid book: refused.
    let mut inv = b;
    inv.valid = 0;
    feed(&mut s, &[inv], NOW);
    assert_eq!(edge_still_positive(&g, s.tops()), None);
    // Back to the original books: positive again.
    feed(&mut s, &[b], NOW);
    assert!(edge_still_positive(&g, s.tops()).is_some());
}

fn one_legged(policy: OneLegPolicy, buy_fills: bool) -> Vec<OrderIntent> {
    let mut s = strategies(policy);
    let a = top(0, 11, NOW, &[(998_500, 50)], &[(999_000, 3)]);
    let b = top(1, 22, NOW, &[(1_003_000, 5)], &[(1_004_000, 50)]);
    feed(&mut s, &[a, b], NOW);
    let mut out = Vec::with_capacity(8);
    let (filled, missed, px) = if buy_fills {
        (100, 101, 999_000)
    } else {
        (101, 100, 1_003_000)
    };
    s.on_report(
        &fill(filled, 1, px, 3, 3, OrderState::Filled),
        NOW,
        &mut out,
    );
    assert!(
        out.is_empty(),
        "no correction while the other leg is working"
    );
    s.on_report(&state(missed, 0, OrderState::Expired), NOW, &mut out);
    out
}

#[test]
fn one_legged_fill_hedges_or_unwinds_per_policy() {
    // Bought 3 on A, sold nothing on B.
    let h = one_legged(OneLegPolicy::Hedge, true);
    assert_eq!(h.len(), 1);
    // Hedge: sell the missing 3 on B at B's touch, IOC, same group.
    assert_eq!(
        (h[0].venue, h[0].side, h[0].px, h[0].qty),
        (VenueId(1), Side::Sell, Px(1_003_000), Qty(3))
    );
    assert_eq!(
        (h[0].tif, h[0].group_id, h[0].action),
        (Tif::Ioc, 7, IntentAction::New)
    );
    // Unwind: sell the 3 back on A at A's bid.
    let u = one_legged(OneLegPolicy::Unwind, true);
    assert_eq!(
        (u[0].venue, u[0].side, u[0].px, u[0].qty),
        (VenueId(0), Side::Sell, Px(998_500), Qty(3))
    );
    // Sold 3 on B, bought nothing: hedge buys on A at its ask, unwind buys back on B at its ask.
    let h = one_legged(OneLegPolicy::Hedge, false);
    assert_eq!(
        (h[0].venue, h[0].side, h[0].px, h[0].qty),
        (VenueId(0), Side::Buy, Px(999_000), Qty(3))
    );
    let u = one_legged(OneLegPolicy::Unwind, false);
    assert_eq!(
        (u[0].venue, u[0].side, u[0].px, u[0].qty),
        (VenueId(1), Side::Buy, Px(1_004_000), Qty(3))
    );
}

#[test]
fn hedge_waits_for_a_usable_book_and_the_time_box_flags() {
    let mut s = strategies(OneLegPolicy::Hedge);
    let a = a_top(&[(999_000, 3)]);
    let b = b_top(&[(1_003_000, 5)]);
    feed(&mut s, &[a, b], NOW);
    let mut out = Vec::with_capacity(8);
    // Time box: nothing finished 1001 ms later -> flagged once.
    s.on_timer(NOW + 1_001 * MS, &mut out);
    s.on_timer(NOW + 1_002 * MS, &mut out);
    assert!(out.is_empty());
    let arb = s.arb().unwrap();
    assert!(arb.group(7).unwrap().timed_out);
    assert_eq!(arb.stats().timed_out, 1);
    assert!(arb.ledger().group(7).unwrap().timed_out);
    // Buy filled, sell expired, but B's book is stale by now: the hedge waits...
    let later = NOW + 2_000 * MS;
    s.on_report(
        &fill(100, 1, 999_000, 3, 3, OrderState::Filled),
        later,
        &mut out,
    );
    s.on_report(&state(101, 0, OrderState::Expired), later, &mut out);
    assert!(out.is_empty());
    assert!(s.arb().unwrap().group(7).unwrap().fix_pending);
    // ...and goes out with B's next valid top.
    let fresh = top(1, 23, later, &[(1_001_000, 10)], &[(1_010_000, 100)]);
    s.on_top(&fresh, later, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].venue, out[0].side, out[0].px, out[0].qty),
        (VenueId(1), Side::Sell, Px(1_001_000), Qty(3))
    );
    assert_eq!(out[0].book_seq, 23);
}

#[test]
fn ledger_realised_edge_net_of_fees() {
    let mut s = strategies(OneLegPolicy::Hedge);
    let a = a_top(&[(999_000, 3), (999_500, 4)]);
    let b = b_top(&[(1_003_000, 2), (1_002_500, 4)]);
    feed(&mut s, &[a, b], NOW);
    let mut out = Vec::with_capacity(8);
    s.on_report(
        &fill(100, 1, 999_000, 3, 3, OrderState::Filled),
        NOW,
        &mut out,
    );
    s.on_report(
        &fill(101, 2, 1_003_000, 2, 2, OrderState::Partial),
        NOW,
        &mut out,
    );
    s.on_report(
        &fill(101, 3, 1_002_500, 1, 3, OrderState::Filled),
        NOW,
        &mut out,
    );
    assert!(out.is_empty());
    let arb = s.arb().unwrap();
    assert!(arb.groups().is_empty(), "group closed");
    let g = *arb.ledger().group(7).unwrap();
    assert!(g.closed);
    assert_eq!((g.bought, g.sold, g.fills, g.residual()), (3, 3, 3, 0));
    assert_eq!(g.buy_raw, 2_997_000);
    assert_eq!(g.sell_raw, 2_006_000 + 1_002_500);
    // Fees: 10 bps of both notionals, x RATE_SCALE.
    assert_eq!(g.fees, (2_997_000 + 3_008_500) * 1_000);
    assert_eq!(g.pnl(), 11_500 * RATE_SCALE - 6_005_500_000);
    assert_eq!(g.edge_ppm(), 1_833); // 18.33 bps net of fees.
    let t = arb.ledger().totals();
    assert_eq!((t.groups, t.closed, t.one_legged, t.fills), (1, 1, 0, 3));
    assert_eq!(t.pnl(), g.pnl());
    // Balances moved with the fills; nothing stays reserved.
    let (ba, bb) = (
        s.inventory().balance(VenueId(0), I0),
        s.inventory().balance(VenueId(1), I0),
    );
    assert_eq!(ba.base, 1_000_003);
    assert_eq!(bb.base, 999_997);
    assert_eq!((ba.reserved_quote_raw, bb.reserved_base), (0, 0));
    assert!(s.inventory().working().is_empty());
}

#[test]
fn a_partial_fix_is_retried_and_the_residual_is_reported() {
    let mut s = strategies(OneLegPolicy::Hedge);
    let a = a_top(&[(999_000, 3)]);
    let b = b_top(&[(1_003_000, 5)]);
    feed(&mut s, &[a, b], NOW);
    let mut out = Vec::with_capacity(8);
    s.on_report(
        &fill(100, 1, 999_000, 3, 3, OrderState::Filled),
        NOW,
        &mut out,
    );
    s.on_report(
        &fill(101, 2, 1_003_000, 1, 1, OrderState::Expired),
        NOW,
        &mut out,
    );
    // Long 2: hedge sells 2.
    assert_eq!((out[0].intent_seq, out[0].qty), (102, Qty(2)));
    s.on_report(&state(102, 0, OrderState::Expired), NOW, &mut out);
    s.on_report(&state(103, 0, OrderState::Expired), NOW, &mut out);
    s.on_report(&state(104, 0, OrderState::Expired), NOW, &mut out);
    // Three attempts (max_fix_attempts), then the group closes with a residual of 2.
    assert_eq!(out.len(), 3);
    let arb = s.arb().unwrap();
    assert!(arb.groups().is_empty());
    let g = arb.ledger().group(7).unwrap();
    assert_eq!((g.fixes, g.residual(), g.closed), (3, 2, true));
    assert_eq!(arb.ledger().totals().one_legged, 1);
}

#[test]
fn full_book_depth_beyond_five_levels_sizes_the_trade() {
    use lyra_engine::book::{BookConfig, L2Book};
    let bc = BookConfig {
        window_slots: 1_024,
        far_levels: 64,
        tick: 1,
    };
    let mut a = L2Book::new(VenueId(0), I0, bc);
    let mut b = L2Book::new(VenueId(1), I0, bc);
    // Seven asks of 1 at 999000..999006 on A; one bid of 10 at 1003100 on B: every ask clears.
    for k in 0..7 {
        a.set(Side::Sell, Px(999_000 + k), Qty(1));
    }
    a.set(Side::Buy, Px(998_000), Qty(5));
    b.set(Side::Buy, Px(1_003_100), Qty(10));
    b.set(Side::Sell, Px(1_010_000), Qty(5));
    let (mut ta, mut tb) = (a.top(), b.top());
    for t in [&mut ta, &mut tb] {
        t.valid = 1;
        t.recv_ts = NOW;
    }
    // Five levels only: 5 units, limit 999004.
    let mut s = strategies(OneLegPolicy::Hedge);
    let out = feed(&mut s, &[ta, tb], NOW);
    assert_eq!((out[0].qty, out[0].px), (Qty(5), Px(999_004)));
    // The full books: all 7, limit 999006.
    let mut s = strategies(OneLegPolicy::Hedge);
    let books = [&a, &b];
    let mut out = Vec::with_capacity(8);
    for t in [ta, tb] {
        s.on_top_with_depth(&t, |v| books.get(v.0 as usize).copied(), NOW, &mut out);
    }
    assert_eq!((out[0].qty, out[0].px), (Qty(7), Px(999_006)));
    assert_eq!((out[1].qty, out[1].px), (Qty(7), Px(1_003_100)));
}

#[test]
fn a_leg_refused_before_the_venue_releases_it_and_the_other_leg_is_hedged() {
    let mut s = strategies(OneLegPolicy::Hedge);
    let a = a_top(&[(999_000, 3)]);
    let b = b_top(&[(1_003_000, 5)]);
    feed(&mut s, &[a, b], NOW);
    let mut out = Vec::with_capacity(8);
    // Risk refused the sell leg; the buy leg filled.
    s.on_refused(101, NOW, &mut out);
    assert_eq!(s.inventory().balance(VenueId(1), I0).reserved_base, 0);
    assert!(out.is_empty());
    s.on_report(
        &fill(100, 1, 999_000, 3, 3, OrderState::Filled),
        NOW,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].venue, out[0].side, out[0].qty),
        (VenueId(1), Side::Sell, Qty(3))
    );
    // Both refused (edge vanished at send time): the group closes with nothing traded.
    let mut s = strategies(OneLegPolicy::Hedge);
    feed(&mut s, &[a, b], NOW);
    s.on_refused(100, NOW, &mut out);
    s.on_refused(101, NOW, &mut out);
    assert!(s.arb().unwrap().groups().is_empty());
    assert!(s.inventory().working().is_empty());
    assert_eq!(s.arb().unwrap().ledger().totals().closed, 1);
    // The pair is free again: the same books fire a new group.
    assert_eq!(feed(&mut s, &[b], NOW).len(), 2);
}

#[test]
fn groups_per_second_budget_holds_back_and_refills() {
    let mut c = arb_cfg(10, OneLegPolicy::Hedge);
    c.max_groups_per_s = 1;
    let c = cfg(
        vec![market(0, 1_000, 0), market(1, 1_000, 0)],
        Some(c),
        vec![],
    );
    let mut s = Strategies::new(&c, 2, 1, Ids::new(100, 7)).unwrap();
    for v in 0..2 {
        s.set_balance(VenueId(v), I0, Qty(1_000_000), 1_000_000_000_000_000);
    }
    let (a, b) = (a_top(&[(999_000, 3)]), b_top(&[(1_003_000, 3)]));
    assert_eq!(feed(&mut s, &[a, b], NOW).len(), 2, "the first group goes");
    // Both legs come back empty (IOC missed): the pair is free again, but the second is spent.
    let mut out = Vec::with_capacity(8);
    s.on_report(&state(100, 0, OrderState::Expired), NOW, &mut out);
    s.on_report(&state(101, 0, OrderState::Expired), NOW, &mut out);
    assert!(out.is_empty(), "nothing filled, nothing to fix: {out:?}");
    let later = NOW + 500 * MS;
    let (a2, b2) = (
        top(0, 12, later, &[(998_000, 100)], &[(999_000, 3)]),
        top(1, 23, later, &[(1_003_000, 3)], &[(1_010_000, 100)]),
    );
    assert!(feed(&mut s, &[a2, b2], later).is_empty(), "budget spent");
    assert!(s.arb().unwrap().stats().rate_limited >= 1);
    let next = NOW + 1_000 * MS;
    let b3 = top(1, 24, next, &[(1_003_000, 3)], &[(1_010_000, 100)]);
    let a3 = top(0, 13, next, &[(998_000, 100)], &[(999_000, 3)]);
    assert_eq!(
        feed(&mut s, &[a3, b3], next).len(),
        2,
        "a second later the budget has refilled"
    );
}
