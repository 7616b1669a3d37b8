//! Spot market making on one venue (issue 6, item 3): post-only (`LimitMaker`) quotes around a
//! fair price with inventory skew, a spread of at least a multiple of the maker fee, refresh on
//! move or TTL by cancel-replace under a per-second limit (and a side left without a quote
//! re-quoted at most at that rate), quotes pulled at once when the book goes invalid or stale.
//! Probe mode (commissioning rung C) quotes `probe_bps` away from the fair price and always
//! outside the touch, so the quotes cannot fill against the book seen.
//!
//! While its venue (or everything) is halted ([`MarketMaker::set_halt`], fed by the strategy
//! stage from the halt word) it places and replaces nothing: risk would refuse every new quote,
//! wasting work and filling the audit with refusals. Resting quotes are the OMS's to cancel on the
//! halt (`cancel_on_halt`); pulls for an unusable book still go out, since cancels reduce risk.
//! After the resume the next update quotes again.
//!
//! Prices: `bid = floor_tick(fair x (1 - half + skew))`, `ask = ceil_tick(fair x (1 + half +
//! skew))` with `half = max(half_spread_bps, multiple x maker_fee / 2)`, so rounding only widens
//! the spread; `skew = -clamp(base - target, ±max_position) / max_position x skew_bps_at_max`
//! (long inventory lowers both quotes: sell more readily, buy less). A quote that would cross
//! the venue's touch is moved one tick behind it (a crossing LIMIT_MAKER is rejected anyway).

use lyra_shm::{
    clock::Nanos,
    msg::{IntentAction, OrdType, OrderIntent, Px, Qty, Side, Tif},
};

use super::{
    budget::Budget,
    config::{FairPrice, MmConfig},
    fees::{PPM_PER_BPS, RATE_SCALE},
    filters::{ceil_to, floor_to, MarketSpec},
    inventory::{Inventory, Owner, ReportEffect, Working},
    tops::{mid, Tops},
    Ids, IntentSink,
};

/// A quote we believe is resting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quote {
    /// Its intent sequence (the cancel's target).
    pub intent_seq: u64,
    /// Limit price.
    pub px: Px,
    /// Quantity.
    pub qty: Qty,
    /// When it was placed.
    pub placed_ts: Nanos,
}

/// Counters of one market maker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmStats {
    /// New quotes placed.
    pub quotes: u64,
    /// Cancel-replaces (refresh on move or TTL).
    pub replaces: u64,
    /// Refreshes held back by the cancel-replace limit.
    pub rate_limited: u64,
    /// Quotes pulled for an invalid or stale book.
    pub pulls: u64,
    /// Fills on our quotes.
    pub fills: u64,
    /// Base bought by quotes.
    pub bought: i64,
    /// Base sold by quotes.
    pub sold: i64,
    /// Updates that placed and replaced nothing because the venue was halted.
    pub halted_holds: u64,
}

/// The prices and sizes a market maker wants now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Fair price used.
    pub fair: Px,
    /// Bid (price, qty), if the bid side can be quoted.
    pub bid: Option<(Px, Qty)>,
    /// Ask (price, qty), if the ask side can be quoted.
    pub ask: Option<(Px, Qty)>,
}

/// One market maker: one (venue, instrument).
#[derive(Debug, Clone)]
pub struct MarketMaker {
    index: u16,
    cfg: MmConfig,
    spec: MarketSpec,
    bid: Option<Quote>,
    ask: Option<Quote>,
    /// Cancel-replace budget (`max_cancel_replaces_per_s`).
    replaces: Budget,
    /// Per side (buy, sell), the budget of quotes placed where none rested, at the same rate.
    new_quotes: [Budget; 2],
    stats: MmStats,
    /// Whether its venue (or everything) is halted: no new quotes.
    halted: bool,
}

impl MarketMaker {
    /// Market maker number `index` quoting with `cfg` on the venue described by `spec`.
    pub fn new(index: u16, cfg: MmConfig, spec: MarketSpec) -> Self {
        Self {
            replaces: Budget::new(cfg.max_cancel_replaces_per_s),
            new_quotes: [Budget::new(cfg.max_cancel_replaces_per_s); 2],
            index,
            cfg,
            spec,
            bid: None,
            ask: None,
            stats: MmStats::default(),
            halted: false,
        }
    }

    /// Tells the market maker the halt state: `global` (the halt word's halted bit) or its
    /// venue's bit in `venue_mask` stops new quotes until both clear.
    pub fn set_halt(&mut self, global: bool, venue_mask: u64) {
        let venue_bit = venue_mask
            .checked_shr(u32::from(self.spec.venue_id().0))
            .is_some_and(|m| m & 1 != 0);
        self.halted = global || venue_bit;
    }

    /// Whether it is holding its quotes for a halt.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// The configuration.
    pub fn config(&self) -> &MmConfig {
        &self.cfg
    }

    /// The live bid and ask quotes.
    pub fn quotes(&self) -> (Option<Quote>, Option<Quote>) {
        (self.bid, self.ask)
    }

    /// Counters.
    pub fn stats(&self) -> &MmStats {
        &self.stats
    }

    fn max_age_ns(&self) -> u64 {
        self.cfg.max_book_age_ms.saturating_mul(1_000_000)
    }

    /// Whether a top of (venue, instrument) concerns this market maker.
    pub fn watches(&self, venue: u8, instrument: u16) -> bool {
        instrument == self.cfg.instrument
            && (venue == self.cfg.venue
                || (self.cfg.fair == FairPrice::CrossMid
                    && self.cfg.reference_venues.contains(&venue)))
    }

    /// What this market maker would quote now, or `None` if its book is not usable (quotes must
    /// be pulled).
    pub fn wanted(&self, tops: &Tops, inv: &Inventory, now: Nanos) -> Option<Wanted> {
        let (v, i) = (self.spec.venue_id(), self.spec.instrument_idx());
        let own = tops.usable(v, i, now, self.max_age_ns())?;
        let fair = match self.cfg.fair {
            FairPrice::Mid => mid(own)?,
            FairPrice::CrossMid => {
                let (mut sum, mut n) = (mid(own)?.0 as i128, 1i128);
                for &r in &self.cfg.reference_venues {
                    if r == self.cfg.venue {
                        continue;
                    }
                    let t = tops.usable(lyra_shm::msg::VenueId(r), i, now, self.max_age_ns());
                    if let Some(m) = t.and_then(mid) {
                        sum += m.0 as i128;
                        n += 1;
                    }
                }
                Px((sum / n) as i64)
            }
        };
        let tick = self.spec.tick.max(1);
        let (best_bid, best_ask) = (own.bid_px[0].0, own.ask_px[0].0);
        let bal = inv.balance(v, i);
        let (half, shift) = if self.cfg.probe {
            (self.cfg.probe_bps as i64 * PPM_PER_BPS, 0)
        } else {
            // Full spread >= multiple x maker fee: half >= multiple x fee / 2 (rounded up).
            let fee_half =
                (self.cfg.min_spread_fee_multiple as i64 * self.spec.maker_fee_ppm.max(0) + 1) / 2;
            let half = (self.cfg.half_spread_bps as i64 * PPM_PER_BPS).max(fee_half);
            let pos = (bal.base - self.cfg.target_position)
                .clamp(-self.cfg.max_position, self.cfg.max_position);
            let shift = -(pos as i128 * self.cfg.skew_bps_at_max as i128 * PPM_PER_BPS as i128
                / self.cfg.max_position as i128) as i64;
            (half, shift)
        };
        // Bid rounds down and ask rounds up at every step, so rounding only widens the spread.
        let x = |ppm: i64| fair.0 as i128 * (RATE_SCALE + ppm as i128);
        let mut bid = floor_to(x(-half + shift).div_euclid(RATE_SCALE) as i64, tick);
        let ask_exact = (x(half + shift) + RATE_SCALE - 1).div_euclid(RATE_SCALE);
        let mut ask = ceil_to(ask_exact as i64, tick);
        if self.cfg.probe {
            // Strictly outside the touch: nothing on the book seen can trade with it.
            bid = bid.min(best_bid - tick);
            ask = ask.max(best_ask + tick);
        } else {
            // Post-only: never at or through the other side.
            bid = bid.min(floor_to(best_ask - tick, tick));
            ask = ask.max(ceil_to(best_bid + tick, tick));
        }
        let bid_qty = {
            let unit = bid as i128 * (RATE_SCALE + self.spec.maker_fee_ppm.max(0) as i128);
            let afford = (bal.free_quote_raw() * RATE_SCALE / unit.max(1)).min(i64::MAX as i128);
            self.spec.floor_qty(Qty(self.cfg.qty.min(afford as i64)))
        };
        let ask_qty = self.spec.floor_qty(Qty(self.cfg.qty.min(bal.free_base())));
        let ok = |px: i64, q: Qty| (px > 0 && self.spec.accepts(Px(px), q)).then_some((Px(px), q));
        Some(Wanted {
            fair,
            bid: ok(bid, bid_qty),
            ask: ok(ask, ask_qty),
        })
    }

    /// Re-evaluates the quotes at `now` (on a book change of a watched venue, or on a timer):
    /// pulls, places or cancel-replaces as needed.
    pub fn update(
        &mut self,
        tops: &Tops,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        let Some(w) = self.wanted(tops, inv, now) else {
            self.pull(ids, now, sink);
            return;
        };
        if self.halted {
            self.stats.halted_holds += 1;
            return;
        }
        let book_seq = tops
            .get(self.spec.venue_id(), self.spec.instrument_idx())
            .map_or(0, |t| t.seq);
        let mut group = 0;
        for side in [Side::Buy, Side::Sell] {
            let (live, want) = match side {
                Side::Buy => (self.bid, w.bid),
                Side::Sell => (self.ask, w.ask),
            };
            let Some((px, qty)) = want else {
                // Nothing quotable on this side (inventory or filters): take down what is there.
                if let Some(q) = live {
                    if self.cancel(q, side, ids, now, book_seq, sink) {
                        self.set(side, None);
                    }
                }
                continue;
            };
            match live {
                None => {
                    // A side with no quote is quoted again at most at the same rate: a quote
                    // the venue ends at once (SAFE mode expires every order; a post-only
                    // reject) would otherwise be placed again on every top, straight into
                    // risk's message rate.
                    let k = side as usize & 1;
                    if !self.new_quotes[k].ready(now) {
                        self.stats.rate_limited += 1;
                        continue;
                    }
                    if sink.room() >= 1 && inv.working_room() >= 1 {
                        self.new_quotes[k].take(now);
                        self.place(side, px, qty, &mut group, inv, ids, now, book_seq, sink);
                    }
                }
                Some(q) => {
                    let moved = (px.0 - q.px.0).abs()
                        > self.cfg.refresh_ticks as i64 * self.spec.tick.max(1);
                    let expired =
                        now.saturating_sub(q.placed_ts) >= self.cfg.quote_ttl_ms * 1_000_000;
                    if !(moved || expired) {
                        continue;
                    }
                    if !self.replaces.ready(now) {
                        self.stats.rate_limited += 1;
                        continue;
                    }
                    if sink.room() < 2 || inv.working_room() < 1 {
                        continue;
                    }
                    self.replaces.take(now);
                    self.stats.replaces += 1;
                    self.cancel(q, side, ids, now, book_seq, sink);
                    self.set(side, None);
                    self.place(side, px, qty, &mut group, inv, ids, now, book_seq, sink);
                }
            }
        }
    }

    fn set(&mut self, side: Side, q: Option<Quote>) {
        match side {
            Side::Buy => self.bid = q,
            Side::Sell => self.ask = q,
        }
    }

    fn pull(&mut self, ids: &mut Ids, now: Nanos, sink: &mut impl IntentSink) {
        for side in [Side::Buy, Side::Sell] {
            let live = if side == Side::Buy {
                self.bid
            } else {
                self.ask
            };
            if let Some(q) = live {
                if self.cancel(q, side, ids, now, 0, sink) {
                    self.stats.pulls += 1;
                    self.set(side, None);
                }
            }
        }
    }

    fn cancel(
        &self,
        q: Quote,
        side: Side,
        ids: &mut Ids,
        now: Nanos,
        book_seq: u64,
        sink: &mut impl IntentSink,
    ) -> bool {
        if sink.room() < 1 {
            return false;
        }
        sink.push(OrderIntent {
            intent_seq: ids.intent_seq(),
            group_id: 0,
            decided_ts: now,
            book_seq,
            px: q.px,
            qty: q.qty,
            target_seq: q.intent_seq,
            instrument: self.spec.instrument_idx(),
            venue: self.spec.venue_id(),
            side,
            ord_type: OrdType::LimitMaker,
            tif: Tif::Gtc,
            action: IntentAction::Cancel,
            strategy: self.cfg.strategy,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        side: Side,
        px: Px,
        qty: Qty,
        group: &mut u64,
        inv: &mut Inventory,
        ids: &mut Ids,
        now: Nanos,
        book_seq: u64,
        sink: &mut impl IntentSink,
    ) {
        if sink.room() < 1 || inv.working_room() < 1 {
            return;
        }
        if *group == 0 {
            // Quotes placed in one update form one quote pair.
            *group = ids.group_id();
        }
        let it = OrderIntent {
            intent_seq: ids.intent_seq(),
            group_id: *group,
            decided_ts: now,
            book_seq,
            px,
            qty,
            target_seq: 0,
            instrument: self.spec.instrument_idx(),
            venue: self.spec.venue_id(),
            side,
            ord_type: OrdType::LimitMaker,
            tif: Tif::Gtc,
            action: IntentAction::New,
            strategy: self.cfg.strategy,
        };
        let w = Working {
            intent_seq: it.intent_seq,
            group_id: it.group_id,
            owner: Owner::Mm(self.index),
            venue: it.venue,
            instrument: it.instrument,
            side,
            px,
            qty,
            fee_ppm: self.spec.maker_fee_ppm,
            ..Default::default()
        };
        // Room for both was checked: the reservation and the intent go together.
        if !inv.place(w) {
            return;
        }
        sink.push(it);
        self.stats.quotes += 1;
        self.set(
            side,
            Some(Quote {
                intent_seq: it.intent_seq,
                px,
                qty,
                placed_ts: now,
            }),
        );
    }

    /// An execution report for one of this market maker's orders (already applied to the
    /// inventory): counts fills and forgets a quote the venue finished (filled, cancelled,
    /// rejected), so the next update re-quotes that side.
    pub fn on_report(&mut self, e: &ReportEffect) {
        if let Some((_, qty)) = e.fill {
            self.stats.fills += 1;
            match e.order.side {
                Side::Buy => self.stats.bought += qty.0,
                Side::Sell => self.stats.sold += qty.0,
            }
        }
        if e.order.state.is_terminal() {
            for side in [Side::Buy, Side::Sell] {
                let live = if side == Side::Buy {
                    self.bid
                } else {
                    self.ask
                };
                if live.is_some_and(|q| q.intent_seq == e.order.intent_seq) {
                    self.set(side, None);
                }
            }
        }
    }
}
