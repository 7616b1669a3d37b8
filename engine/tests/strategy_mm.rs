//! Spot market making on hand-built books: quote prices with the maker-fee floor and inventory
//! skew, refresh on move and TTL under the cancel-replace limit, pulls on invalid and stale
//! books, probe quotes outside the touch, and fills.

mod strategy_support;

use lyra_engine::strategy::{FairPrice, Ids, MarketSpec, MmConfig, Strategies};
use lyra_shm::msg::{
    BookTop, InstrumentIdx, IntentAction, OrdType, OrderIntent, OrderState, Qty, Side, Tif, VenueId,
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

fn mm(c: MmConfig, base: i64) -> Strategies {
    let conf = cfg(vec![spec(0), spec(1)], None, vec![c]);
    let mut s = Strategies::new(&conf, 2, 1, Ids::new(1, 1)).unwrap();
    s.set_balance(VenueId(0), I0, Qty(base), 1_000_000_000_000);
    s
}

/// Mid 1,000,000 (bid 999,900 / ask 1,000,100) received at `t`.
fn book(t: u64, bid: i64, ask: i64) -> BookTop {
    top(0, t / MS, t, &[(bid, 100)], &[(ask, 100)])
}

fn on_top(s: &mut Strategies, b: BookTop, now: u64) -> Vec<OrderIntent> {
    let mut out = Vec::with_capacity(16);
    s.on_top(&b, now, &mut out);
    out
}

fn on_timer(s: &mut Strategies, now: u64) -> Vec<OrderIntent> {
    let mut out = Vec::with_capacity(16);
    s.on_timer(now, &mut out);
    out
}

fn news(out: &[OrderIntent]) -> Vec<(Side, i64, i64)> {
    out.iter()
        .filter(|i| i.action == IntentAction::New)
        .map(|i| (i.side, i.px.0, i.qty.0))
        .collect()
}

fn cancels(out: &[OrderIntent]) -> Vec<u64> {
    out.iter()
        .filter(|i| i.action == IntentAction::Cancel)
        .map(|i| i.target_seq)
        .collect()
}

#[test]
fn quotes_around_mid_with_maker_fee_floor() {
    // half_spread 5 bps, but 2 x maker fee (10 bps) = 20 bps full spread: half = 10 bps.
    let mut s = mm(mm_cfg(), 50);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 999_000, 5), (Side::Sell, 1_001_000, 5)]
    );
    for it in &out {
        assert_eq!(
            (it.ord_type, it.tif, it.strategy),
            (OrdType::LimitMaker, Tif::Gtc, 1)
        );
        assert_eq!(
            (it.venue, it.decided_ts, it.book_seq),
            (VenueId(0), T0, T0 / MS)
        );
        assert_eq!(it.group_id, out[0].group_id, "one quote pair, one group");
    }
    // A bigger multiple widens it: 4 x 10 bps = 40 bps full spread.
    let mut c = mm_cfg();
    c.min_spread_fee_multiple = 4;
    c.half_spread_bps = 1;
    let mut s = mm(c, 50);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 998_000, 5), (Side::Sell, 1_002_000, 5)]
    );
    let spread = out[1].px.0 - out[0].px.0;
    assert!(spread as i128 * 1_000_000 >= 4 * 1_000 * 1_000_000);
    // A wider configured spread wins over the fee floor: 30 bps.
    let mut c = mm_cfg();
    c.half_spread_bps = 30;
    let mut s = mm(c, 50);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 997_000, 5), (Side::Sell, 1_003_000, 5)]
    );
}

#[test]
fn inventory_skew_shifts_both_quotes_against_the_position() {
    let mut c = mm_cfg();
    c.skew_bps_at_max = 20;
    c.max_position = 100;
    // Long 50 of 100: both quotes 10 bps lower.
    let mut s = mm(c.clone(), 50);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 998_000, 5), (Side::Sell, 1_000_000, 5)]
    );
    // Short 50 against a target of 100: both 10 bps higher.
    c.target_position = 100;
    let mut s = mm(c.clone(), 50);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 1_000_000, 5), (Side::Sell, 1_002_000, 5)]
    );
    // Far beyond the max: clamped at the full 20 bps, and the bid stays behind the ask (post-only).
    c.target_position = 10_000;
    let mut s = mm(c, 50);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 1_000_090, 5), (Side::Sell, 1_003_000, 5)]
    );
}

#[test]
fn no_base_no_ask_spot_only() {
    let mut s = mm(mm_cfg(), 3);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 999_000, 5), (Side::Sell, 1_001_000, 3)]
    );
    let mut s = mm(mm_cfg(), 0);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(news(&out), vec![(Side::Buy, 999_000, 5)]);
}

#[test]
fn refreshes_on_move_beyond_n_ticks_with_cancel_replace() {
    let mut s = mm(mm_cfg(), 50);
    let first = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    let (bid_seq, ask_seq) = (first[0].intent_seq, first[1].intent_seq);
    // Mid +10: bid unchanged, ask +20 = exactly 2 ticks: not more than refresh_ticks, no action.
    let t = T0 + MS;
    assert!(on_top(&mut s, book(t, 999_910, 1_000_110), t).is_empty());
    // Mid +100: both move by more than 2 ticks.
    let t = T0 + 2 * MS;
    let out = on_top(&mut s, book(t, 1_000_000, 1_000_200), t);
    assert_eq!(cancels(&out), vec![bid_seq, ask_seq]);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 999_090, 5), (Side::Sell, 1_001_110, 5)]
    );
    // Cancel precedes its replacement; the cancel names the venue, side and strategy.
    assert_eq!(out[0].action, IntentAction::Cancel);
    assert_eq!(
        (out[0].side, out[0].venue, out[0].strategy),
        (Side::Buy, VenueId(0), 1)
    );
    assert_eq!(s.market_makers()[0].stats().replaces, 2);
}

#[test]
fn ttl_refresh_respects_the_cancel_replace_limit() {
    let mut c = mm_cfg();
    c.max_cancel_replaces_per_s = 1;
    c.max_book_age_ms = 60_000;
    let mut s = mm(c, 50);
    let first = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert!(on_timer(&mut s, T0 + 99 * MS).is_empty(), "TTL not reached");
    // TTL reached on both, but one replace per second: the bid goes, the ask waits.
    let out = on_timer(&mut s, T0 + 100 * MS);
    assert_eq!(cancels(&out), vec![first[0].intent_seq]);
    assert_eq!(news(&out), vec![(Side::Buy, 999_000, 5)]);
    // Half a second later both are due (the new bid's TTL passed too), still no token.
    assert!(on_timer(&mut s, T0 + 500 * MS).is_empty());
    assert_eq!(s.market_makers()[0].stats().rate_limited, 3);
    // A second later the budget has one more token.
    let out = on_timer(&mut s, T0 + 1_100 * MS);
    assert_eq!(out.len(), 2);
}

#[test]
fn pulls_quotes_at_once_on_invalid_or_stale_books() {
    let mut s = mm(mm_cfg(), 50);
    let first = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    let mut bad = book(T0 + MS, 999_900, 1_000_100);
    bad.valid = 0;
    let out = on_top(&mut s, bad, T0 + MS);
    assert_eq!(
        cancels(&out),
        vec![first[0].intent_seq, first[1].intent_seq]
    );
    assert!(news(&out).is_empty());
    assert_eq!(s.market_makers()[0].quotes(), (None, None));
    assert!(
        on_timer(&mut s, T0 + 2 * MS).is_empty(),
        "nothing left to pull, nothing quoted"
    );
    // Valid again: quotes come back.
    let again = on_top(&mut s, book(T0 + 3 * MS, 999_900, 1_000_100), T0 + 3 * MS);
    assert_eq!(news(&again).len(), 2);
    // Stale: no top for more than 500 ms -> pulled on the timer, even past the replace limit.
    let out = on_timer(&mut s, T0 + 504 * MS);
    assert_eq!(
        cancels(&out),
        vec![again[0].intent_seq, again[1].intent_seq]
    );
    assert_eq!(s.market_makers()[0].stats().pulls, 4);
}

#[test]
fn probe_quotes_sit_far_away_and_outside_the_touch() {
    let mut c = mm_cfg();
    c.probe = true;
    c.probe_bps = 500;
    let mut s = mm(c.clone(), 50);
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 950_000, 5), (Side::Sell, 1_050_000, 5)]
    );
    // A tight probe on a wide book is pushed outside the touch: it cannot cross.
    c.probe_bps = 10;
    let mut s = mm(c, 50);
    let out = on_top(&mut s, book(T0, 900_000, 1_100_000), T0);
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 899_990, 5), (Side::Sell, 1_100_010, 5)]
    );
    for (side, px, _) in news(&out) {
        match side {
            Side::Buy => assert!(px < 900_000),
            Side::Sell => assert!(px > 1_100_000),
        }
    }
}

#[test]
fn fills_are_counted_and_a_finished_quote_is_replaced() {
    let mut s = mm(mm_cfg(), 50);
    let first = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    let mut out = Vec::with_capacity(8);
    s.on_report(
        &fill(first[1].intent_seq, 9, 1_001_000, 5, 5, OrderState::Filled),
        T0 + MS,
        &mut out,
    );
    let m = &s.market_makers()[0];
    assert_eq!((m.stats().fills, m.stats().sold), (1, 5));
    assert!(m.quotes().1.is_none());
    assert_eq!(s.inventory().balance(VenueId(0), I0).base, 45);
    let out = on_timer(&mut s, T0 + 2 * MS);
    assert_eq!(news(&out), vec![(Side::Sell, 1_001_000, 5)]);
}

#[test]
fn cross_mid_fair_price_uses_reference_venues() {
    let mut c = mm_cfg();
    c.fair = FairPrice::CrossMid;
    c.reference_venues = vec![1];
    let mut s = mm(c, 50);
    let r = top(1, 1, T0, &[(1_000_900, 10)], &[(1_001_100, 10)]);
    let mut out = Vec::with_capacity(8);
    s.on_top(&r, T0, &mut out);
    assert!(out.is_empty(), "own book not seen yet");
    let out = on_top(&mut s, book(T0, 999_900, 1_000_100), T0);
    // fair = (1,000,000 + 1,001,000) / 2 = 1,000,500.
    assert_eq!(
        news(&out),
        vec![(Side::Buy, 999_490, 5), (Side::Sell, 1_001_510, 5)]
    );
}

#[test]
fn a_side_whose_quotes_end_at_once_is_requoted_at_most_at_the_rate() {
    // SAFE mode expires every order as soon as it is checked: without a limit the side would be
    // quoted again on every top.
    let mut c = mm_cfg();
    c.max_cancel_replaces_per_s = 2;
    c.max_book_age_ms = 60_000;
    let mut s = mm(c, 50);
    let mut bids = 0;
    let mut out = Vec::with_capacity(8);
    for k in 0..100u64 {
        let t = T0 + k * 10 * MS;
        for it in on_top(&mut s, book(t, 999_900, 1_000_100), t) {
            if it.action == IntentAction::New && it.side == Side::Buy {
                bids += 1;
                s.on_report(&state(it.intent_seq, 0, OrderState::Expired), t, &mut out);
            }
        }
    }
    // One second of tops every 10 ms: the full bucket (2) plus one second's refill (2), at most.
    assert!((2..=4).contains(&bids), "{bids} bids placed");
    assert!(s.market_makers()[0].stats().rate_limited > 50);
}
