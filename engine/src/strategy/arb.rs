//! Fee-inclusive cross-venue arbitrage for spot instruments (issue 6, item 2).
//!
//! On every book change of an instrument, for each ordered venue pair (buy on A's asks, sell on
//! B's bids) that includes the changed venue, both books must be valid and fresh; the depth walk
//! ([`super::depth_walk::walk`]) finds the quantity whose every unit clears both taker fees plus
//! `edge_bps + slippage_bps`, capped by the config clip, both venues' filters and the inventory
//! (free quote on A, free base on B — spot, no borrowing). Both legs go out as IOC LIMIT at the
//! worst level touched, under one group id. While a group is in flight its venue pair is busy,
//! so the same opportunity is not fired twice on the same books.
//!
//! After the legs finish, any base imbalance (one-legged or unequal fills) is corrected per
//! [`OneLegPolicy`]: `hedge` sends the missing quantity on the other venue at its touch, `unwind`
//! reverses the excess where it filled — IOC, at most `max_fix_attempts` orders per group. A
//! group whose orders are not all finished within `leg_timeout_ms` is flagged (counted and
//! marked in the ledger) so the runtime can alert or halt.

use lyra_shm::{
    clock::Nanos,
    msg::{
        BookTop, InstrumentIdx, IntentAction, OrdType, OrderIntent, Px, Qty, Side, Tif, VenueId,
    },
};

use super::{
    budget::Budget,
    config::{ArbConfig, OneLegPolicy},
    depth_walk::{edge_at_limits, edge_now, sweep, walk, Depth, WalkParams},
    fees::{unit_clears, Edge, PPM_PER_BPS, RATE_SCALE},
    filters::{floor_to, lcm, MarketSpec},
    inventory::{Inventory, Owner, ReportEffect, Working},
    ledger::GroupLedger,
    tops::Tops,
    Ids, IntentSink,
};

/// One arbitrage group in flight: both legs, what the decision saw, and what has filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArbGroup {
    /// Shared by both legs and every corrective order.
    pub group_id: u64,
    /// Instrument.
    pub instrument: InstrumentIdx,
    /// Where the buy leg goes.
    pub buy_venue: VenueId,
    /// Where the sell leg goes.
    pub sell_venue: VenueId,
    /// Quantity of each leg.
    pub qty: Qty,
    /// Buy limit (worst ask touched).
    pub buy_px: Px,
    /// Sell limit (worst bid touched).
    pub sell_px: Px,
    /// Buy venue taker fee, ppm.
    pub buy_fee_ppm: i64,
    /// Sell venue taker fee, ppm.
    pub sell_fee_ppm: i64,
    /// Intent sequence of the buy leg.
    pub buy_seq: u64,
    /// Intent sequence of the sell leg.
    pub sell_seq: u64,
    /// Book sequence of the buy venue's top the decision used.
    pub buy_book_seq: u64,
    /// Book sequence of the sell venue's top the decision used.
    pub sell_book_seq: u64,
    /// When it was decided.
    pub decided_ts: Nanos,
    /// Expected edge on the books seen (fills at the walked levels).
    pub expected: Edge,
    /// Guaranteed edge if every unit fills at the limits.
    pub floor: Edge,
    /// Base bought so far (legs and corrections).
    pub bought: i64,
    /// Base sold so far.
    pub sold: i64,
    /// Orders of the group not yet finished.
    pub open_orders: u32,
    /// Corrective orders sent.
    pub fixes: u32,
    /// Flagged by the time box.
    pub timed_out: bool,
    /// An imbalance waits for a usable book to be corrected.
    pub fix_pending: bool,
}

impl ArbGroup {
    /// The group as an order stage on another thread can rebuild it from the two leg intents
    /// it pops (same `group_id`, a buy and a sell) and the venues' taker fees, for the
    /// send-time recheck; `None` if the intents are not the two legs of one group.
    pub fn from_legs(
        buy: &OrderIntent,
        sell: &OrderIntent,
        buy_fee_ppm: i64,
        sell_fee_ppm: i64,
    ) -> Option<Self> {
        let legs = buy.group_id == sell.group_id
            && buy.side == Side::Buy
            && sell.side == Side::Sell
            && buy.instrument == sell.instrument
            && buy.qty == sell.qty
            && buy.action == IntentAction::New
            && sell.action == IntentAction::New;
        legs.then(|| Self {
            group_id: buy.group_id,
            instrument: buy.instrument,
            buy_venue: buy.venue,
            sell_venue: sell.venue,
            qty: buy.qty,
            buy_px: buy.px,
            sell_px: sell.px,
            buy_fee_ppm,
            sell_fee_ppm,
            buy_seq: buy.intent_seq,
            sell_seq: sell.intent_seq,
            buy_book_seq: buy.book_seq,
            sell_book_seq: sell.book_seq,
            decided_ts: buy.decided_ts,
            ..Default::default()
        })
    }

    /// The send-time recheck: the fee-inclusive edge of both legs on the latest tops, filling
    /// `qty` within the limits; `None` if a top is invalid or of the wrong book, a side cannot
    /// fill within its limit, or the edge is no longer strictly positive.
    pub fn edge_still_positive(&self, buy: &BookTop, sell: &BookTop) -> Option<Edge> {
        if !buy.is_valid()
            || !sell.is_valid()
            || buy.venue != self.buy_venue
            || sell.venue != self.sell_venue
            || buy.instrument != self.instrument
            || sell.instrument != self.instrument
        {
            return None;
        }
        edge_now(
            buy,
            sell,
            self.qty,
            self.buy_px,
            self.sell_px,
            self.buy_fee_ppm,
            self.sell_fee_ppm,
        )
        .filter(Edge::is_positive)
    }
}

/// [`ArbGroup::edge_still_positive`] against the latest tops in `tops` (for the order stage).
pub fn edge_still_positive(group: &ArbGroup, tops: &Tops) -> Option<Edge> {
    let b = tops.get(group.buy_venue, group.instrument)?;
    let s = tops.get(group.sell_venue, group.instrument)?;
    group.edge_still_positive(b, s)
}

/// Counters of what the arbitrage saw and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArbStats {
    /// Pair evaluations where the touch alone cleared fees and threshold.
    pub opportunities: u64,
    /// Groups sent.
    pub groups: u64,
    /// Opportunities skipped: inventory or filters left nothing to trade.
    pub too_small: u64,
    /// Opportunities skipped: the pair already had a group in flight.
    pub pair_busy: u64,
    /// Opportunities skipped: no room in the sink, the working table or the group table.
    pub no_room: u64,
    /// Opportunities skipped: `max_groups_per_s` was spent.
    pub rate_limited: u64,
    /// Groups flagged by the time box.
    pub timed_out: u64,
    /// Corrective orders sent.
    pub fixes: u64,
    /// Pair evaluations skipped because the engine or one of the pair's venues was halted.
    pub halted_skips: u64,
}

/// The arbitrage strategy.
#[derive(Debug, Clone)]
pub struct Arb {
    cfg: ArbConfig,
    /// Specs by venue x instrument (dense; `None` = not traded there).
    specs: Vec<Option<MarketSpec>>,
    venues: usize,
    instruments: usize,
    traded: Vec<bool>,
    groups: Vec<ArbGroup>,
    ledger: GroupLedger,
    stats: ArbStats,
    /// The halt state as the strategy stage last read it: (halted bit, per-venue halt mask).
    halt: (bool, u64),
    /// Groups per second (`max_groups_per_s`).
    budget: Budget,
}

impl Arb {
    /// An arbitrage over `venues` x `instruments` with these market specs (validated config).
    pub fn new(cfg: ArbConfig, markets: &[MarketSpec], venues: usize, instruments: usize) -> Self {
        let mut specs = vec![None; venues * instruments];
        for m in markets {
            if (m.venue as usize) < venues && (m.instrument as usize) < instruments {
                specs[m.venue as usize * instruments + m.instrument as usize] = Some(*m);
            }
        }
        let mut traded = vec![false; instruments];
        for &i in &cfg.instruments {
            if let Some(t) = traded.get_mut(i as usize) {
                *t = true;
            }
        }
        let groups = Vec::with_capacity(cfg.max_open_groups);
        let ledger = GroupLedger::new(cfg.ledger_capacity);
        Self {
            budget: Budget::new(cfg.max_groups_per_s),
            cfg,
            specs,
            venues,
            instruments,
            traded,
            groups,
            ledger,
            stats: ArbStats::default(),
            halt: (false, 0),
        }
    }

    fn spec(&self, v: VenueId, i: InstrumentIdx) -> Option<&MarketSpec> {
        if (v.0 as usize) >= self.venues || (i.0 as usize) >= self.instruments {
            return None;
        }
        self.specs[v.0 as usize * self.instruments + i.0 as usize].as_ref()
    }

    fn max_age_ns(&self) -> u64 {
        self.cfg.max_book_age_ms.saturating_mul(1_000_000)
    }

    fn threshold_ppm(&self) -> i64 {
        (self.cfg.edge_bps as i64 + self.cfg.slippage_bps as i64) * PPM_PER_BPS
    }

    /// The configuration.
    pub fn config(&self) -> &ArbConfig {
        &self.cfg
    }

    /// Groups in flight.
    pub fn groups(&self) -> &[ArbGroup] {
        &self.groups
    }

    /// The group `group_id`, if in flight.
    pub fn group(&self, group_id: u64) -> Option<&ArbGroup> {
        self.groups.iter().find(|g| g.group_id == group_id)
    }

    /// Realised results.
    pub fn ledger(&self) -> &GroupLedger {
        &self.ledger
    }

    /// Counters.
    pub fn stats(&self) -> &ArbStats {
        &self.stats
    }

    /// The halt state (halted bit, per-venue mask) as the strategy stage read it: while the engine
    /// is halted no pair is evaluated, and a pair with a halted venue is skipped, so no new group
    /// is opened that risk would only refuse (corrective orders for open groups still go to risk).
    pub fn set_halt(&mut self, global: bool, venue_mask: u64) {
        self.halt = (global, venue_mask);
    }

    /// A book of `top.instrument` changed (its top is already in `tops`): looks for arbitrage on
    /// every ordered pair that includes `top.venue`, walking the five levels of the tops.
    pub fn on_top(
        &mut self,
        top: &BookTop,
        tops: &Tops,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        let inst = top.instrument;
        self.scan(
            inst,
            top.venue,
            tops,
            |v| tops.get(v, inst),
            inv,
            ids,
            now,
            sink,
        );
    }

    /// [`Arb::on_top`] with the depth of each venue's book from `depth` (e.g. the full
    /// [`crate::book::L2Book`]s); validity, age and sequence still come from `tops`.
    #[allow(clippy::too_many_arguments)]
    pub fn scan<'d, D: Depth + 'd>(
        &mut self,
        inst: InstrumentIdx,
        changed: VenueId,
        tops: &Tops,
        depth: impl Fn(VenueId) -> Option<&'d D>,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        self.retry_fixes(tops, inv, ids, now, sink);
        if !self.traded.get(inst.0 as usize).copied().unwrap_or(false) {
            return;
        }
        let n = self.venues.min(tops.venues()) as u8;
        for other in 0..n {
            let other = VenueId(other);
            if other == changed {
                continue;
            }
            if self.halt.0 || venue_halted(self.halt.1, changed) || venue_halted(self.halt.1, other)
            {
                self.stats.halted_skips += 1;
                continue;
            }
            // Buy on the changed venue and sell on the other, then the reverse.
            for (a, b) in [(changed, other), (other, changed)] {
                self.try_pair(inst, a, b, tops, &depth, inv, ids, now, sink);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn try_pair<'d, D: Depth + 'd>(
        &mut self,
        inst: InstrumentIdx,
        a: VenueId,
        b: VenueId,
        tops: &Tops,
        depth: &impl Fn(VenueId) -> Option<&'d D>,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        let (Some(sa), Some(sb)) = (self.spec(a, inst).copied(), self.spec(b, inst).copied())
        else {
            return;
        };
        let age = self.max_age_ns();
        let (Some(ta), Some(tb)) = (
            tops.usable(a, inst, now, age),
            tops.usable(b, inst, now, age),
        ) else {
            return;
        };
        let thr = self.threshold_ppm();
        let (fa, fb) = (sa.taker_fee_ppm, sb.taker_fee_ppm);
        if !unit_clears(ta.ask_px[0], tb.bid_px[0], fa, fb, thr) {
            return;
        }
        self.stats.opportunities += 1;
        if self
            .groups
            .iter()
            .any(|g| g.instrument == inst && g.buy_venue == a && g.sell_venue == b)
        {
            self.stats.pair_busy += 1;
            return;
        }
        if sink.room() < 2
            || inv.working_room() < 2
            || self.groups.len() >= self.cfg.max_open_groups
        {
            self.stats.no_room += 1;
            return;
        }
        if !self.budget.ready(now) {
            self.stats.rate_limited += 1;
            return;
        }
        let (Some(da), Some(db)) = (depth(a), depth(b)) else {
            return;
        };
        let quote_free = inv.balance(a, inst).free_quote_raw();
        let base_free = inv.balance(b, inst).free_base();
        let max_qty = self
            .cfg
            .max_group_qty
            .min(sa.max_qty_or_inf())
            .min(sb.max_qty_or_inf())
            .min(base_free);
        let params = WalkParams {
            buy_fee_ppm: fa,
            sell_fee_ppm: fb,
            threshold_ppm: thr,
            max_qty: Qty(max_qty),
            quote_budget_raw: quote_free,
        };
        let Some(w) = walk(da, db, &params) else {
            self.stats.too_small += 1;
            return;
        };
        let step = lcm(sa.step, sb.step);
        let min_qty = sa.min_qty.max(sb.min_qty).max(1);
        let mut q = floor_to(w.qty.0, step);
        // Limits at the worst level the (quantized) quantity touches; the reservation is at the
        // limit for the whole quantity, so shrink once if that exceeds the free quote.
        let mut legs = None;
        for _ in 0..2 {
            if q < min_qty {
                break;
            }
            let (Some((bp, braw)), Some((sp, sraw))) = (
                sweep(da.ask_levels(), Qty(q), None),
                sweep(db.bid_levels(), Qty(q), None),
            ) else {
                break;
            };
            // ceil(cost / RATE_SCALE) <= free  <=>  cost <= free x RATE_SCALE (no division).
            let cost = bp.0 as i128 * q as i128 * (RATE_SCALE + fa as i128);
            if cost <= quote_free.saturating_mul(RATE_SCALE) {
                legs = Some((bp, braw, sp, sraw));
                break;
            }
            let afford = quote_free * RATE_SCALE / (bp.0 as i128 * (RATE_SCALE + fa as i128));
            q = floor_to(afford.min(q as i128 - 1) as i64, step);
        }
        let Some((buy_px, buy_raw, sell_px, sell_raw)) = legs else {
            self.stats.too_small += 1;
            return;
        };
        let qty = Qty(q);
        // Every unit must clear at the limits too (true by the walk; checked, never assumed).
        if !sa.accepts(buy_px, qty)
            || !sb.accepts(sell_px, qty)
            || !unit_clears(buy_px, sell_px, fa, fb, thr)
        {
            self.stats.too_small += 1;
            return;
        }
        let group_id = ids.group_id();
        let buy_seq = ids.intent_seq();
        let sell_seq = ids.intent_seq();
        let leg = |seq, venue, side, px, book_seq| OrderIntent {
            intent_seq: seq,
            group_id,
            decided_ts: now,
            book_seq,
            px,
            qty,
            target_seq: 0,
            instrument: inst,
            venue,
            side,
            ord_type: OrdType::Limit,
            tif: Tif::Ioc,
            action: IntentAction::New,
            strategy: self.cfg.strategy,
        };
        let buy = leg(buy_seq, a, Side::Buy, buy_px, ta.seq);
        let sell = leg(sell_seq, b, Side::Sell, sell_px, tb.seq);
        let work = |it: &OrderIntent, fee_ppm| Working {
            intent_seq: it.intent_seq,
            group_id,
            owner: Owner::Arb,
            venue: it.venue,
            instrument: inst,
            side: it.side,
            px: it.px,
            qty,
            fee_ppm,
            ..Default::default()
        };
        // Room was checked above, so both legs are placed or (impossible) neither is sent.
        if !inv.place(work(&buy, fa)) {
            self.stats.no_room += 1;
            return;
        }
        if !inv.place(work(&sell, fb)) {
            self.stats.no_room += 1;
            // Undo the buy's reservation: a synthetic terminal report with nothing filled.
            inv.on_report(&lyra_shm::msg::ExecReport {
                intent_seq: buy_seq,
                state: lyra_shm::msg::OrderState::Rejected,
                ..Default::default()
            });
            return;
        }
        sink.push(buy);
        sink.push(sell);
        self.budget.take(now);
        let expected = Edge {
            qty,
            cost: buy_raw * (RATE_SCALE + fa as i128),
            proceeds: sell_raw * (RATE_SCALE - fb as i128),
        };
        self.groups.push(ArbGroup {
            group_id,
            instrument: inst,
            buy_venue: a,
            sell_venue: b,
            qty,
            buy_px,
            sell_px,
            buy_fee_ppm: fa,
            sell_fee_ppm: fb,
            buy_seq,
            sell_seq,
            buy_book_seq: ta.seq,
            sell_book_seq: tb.seq,
            decided_ts: now,
            expected,
            floor: edge_at_limits(qty, buy_px, sell_px, fa, fb),
            open_orders: 2,
            ..Default::default()
        });
        self.ledger.open(group_id, inst, a, b);
        self.stats.groups += 1;
    }

    /// An execution report for one of the arbitrage's orders (already applied to the inventory).
    pub fn on_report(
        &mut self,
        e: &ReportEffect,
        tops: &Tops,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        let o = &e.order;
        let Some(k) = self.groups.iter().position(|g| g.group_id == o.group_id) else {
            return;
        };
        if let Some((px, qty)) = e.fill {
            self.ledger.fill(o.group_id, o.side, px, qty, o.fee_ppm);
            let g = &mut self.groups[k];
            match o.side {
                Side::Buy => g.bought += qty.0,
                Side::Sell => g.sold += qty.0,
            }
        }
        if e.done {
            let g = &mut self.groups[k];
            g.open_orders = g.open_orders.saturating_sub(1);
            if g.open_orders == 0 {
                self.settle(k, tops, inv, ids, now, sink);
            }
        }
    }

    /// Time passes: flags groups past their time box and retries pending corrections.
    pub fn on_timer(
        &mut self,
        tops: &Tops,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        let box_ns = self.cfg.leg_timeout_ms.saturating_mul(1_000_000);
        for g in &mut self.groups {
            if !g.timed_out && g.open_orders > 0 && now.saturating_sub(g.decided_ts) > box_ns {
                g.timed_out = true;
                self.stats.timed_out += 1;
                self.ledger.timed_out(g.group_id);
            }
        }
        self.retry_fixes(tops, inv, ids, now, sink);
    }

    fn retry_fixes(
        &mut self,
        tops: &Tops,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        let mut k = 0;
        while k < self.groups.len() {
            if self.groups[k].fix_pending && self.groups[k].open_orders == 0 {
                let before = self.groups.len();
                self.settle(k, tops, inv, ids, now, sink);
                if self.groups.len() < before {
                    continue;
                }
            }
            k += 1;
        }
    }

    /// Every order of group `k` is finished: close it, or correct its base imbalance.
    fn settle(
        &mut self,
        k: usize,
        tops: &Tops,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        let g = self.groups[k];
        let imbalance = g.bought - g.sold;
        if imbalance == 0 || g.fixes >= self.cfg.max_fix_attempts {
            self.close(k, imbalance);
            return;
        }
        // Long base (bought more): sell it; short (sold more): buy it back.
        let side = if imbalance > 0 { Side::Sell } else { Side::Buy };
        let venue = match (self.cfg.one_leg_policy, side) {
            // Hedge completes the missing leg: the sell venue sells, the buy venue buys.
            (OneLegPolicy::Hedge, Side::Sell) => g.sell_venue,
            (OneLegPolicy::Hedge, Side::Buy) => g.buy_venue,
            // Unwind reverses the excess where it filled.
            (OneLegPolicy::Unwind, Side::Sell) => g.buy_venue,
            (OneLegPolicy::Unwind, Side::Buy) => g.sell_venue,
        };
        let inst = g.instrument;
        let Some(spec) = self.spec(venue, inst).copied() else {
            self.close(k, imbalance);
            return;
        };
        let Some(top) = tops.usable(venue, inst, now, self.max_age_ns()) else {
            self.groups[k].fix_pending = true;
            return;
        };
        if sink.room() < 1 || inv.working_room() < 1 {
            self.groups[k].fix_pending = true;
            return;
        }
        let px = match side {
            Side::Sell => top.bid_px[0],
            Side::Buy => top.ask_px[0],
        };
        let bal = inv.balance(venue, inst);
        let fee = spec.taker_fee_ppm;
        let held = match side {
            Side::Sell => bal.free_base(),
            Side::Buy => {
                let unit = px.0 as i128 * (RATE_SCALE + fee as i128);
                (bal.free_quote_raw() * RATE_SCALE / unit.max(1)).min(i64::MAX as i128) as i64
            }
        };
        let qty = spec.floor_qty(Qty(imbalance.abs().min(held)));
        if !spec.accepts(px, qty) {
            // Dust below the venue's minimum, or nothing held to fix with: the residual stays
            // in the ledger for the operator.
            self.close(k, imbalance);
            return;
        }
        let it = OrderIntent {
            intent_seq: ids.intent_seq(),
            group_id: g.group_id,
            decided_ts: now,
            book_seq: top.seq,
            px,
            qty,
            target_seq: 0,
            instrument: inst,
            venue,
            side,
            ord_type: OrdType::Limit,
            tif: Tif::Ioc,
            action: IntentAction::New,
            strategy: self.cfg.strategy,
        };
        let w = Working {
            intent_seq: it.intent_seq,
            group_id: g.group_id,
            owner: Owner::Arb,
            venue,
            instrument: inst,
            side,
            px,
            qty,
            fee_ppm: fee,
            ..Default::default()
        };
        if !inv.place(w) {
            self.groups[k].fix_pending = true;
            return;
        }
        sink.push(it);
        let g = &mut self.groups[k];
        g.fixes += 1;
        g.open_orders += 1;
        g.fix_pending = false;
        self.stats.fixes += 1;
        self.ledger.fix_sent(g.group_id);
    }

    fn close(&mut self, k: usize, residual: i64) {
        let g = self.groups.remove(k);
        self.ledger.close(g.group_id, residual);
    }
}

/// Whether `v`'s bit is set in the per-venue halt mask (venues past bit 63 have none).
fn venue_halted(mask: u64, v: VenueId) -> bool {
    mask.checked_shr(u32::from(v.0)).is_some_and(|m| m & 1 != 0)
}
