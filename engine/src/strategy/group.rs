//! The strategy stage's state: the latest tops, the inventory and working orders, the id
//! counters, the arbitrage and the market makers — one object the strategy thread drives with
//! tops, execution reports and timer ticks, in arrival order.

use lyra_shm::{
    clock::Nanos,
    msg::{BookTop, ExecReport, InstrumentIdx, OrderState, Qty, VenueId},
};

use super::{
    arb::Arb,
    config::{StrategiesConfig, StrategyConfigError},
    depth_walk::Depth,
    inventory::{Inventory, Owner},
    mm::MarketMaker,
    tops::Tops,
    Ids, IntentSink,
};

/// Counters of the stage itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageStats {
    /// Tops received.
    pub tops: u64,
    /// Tops outside the configured venue x instrument table (ignored).
    pub tops_unknown: u64,
    /// Execution reports received.
    pub reports: u64,
    /// Reports for orders the strategies do not know (another process's, or already finished).
    pub reports_unknown: u64,
}

/// Every strategy of one engine, fed in arrival order.
#[derive(Debug, Clone)]
pub struct Strategies {
    ids: Ids,
    tops: Tops,
    inv: Inventory,
    arb: Option<Arb>,
    mms: Vec<MarketMaker>,
    stats: StageStats,
}

impl Strategies {
    /// Builds the strategies for `venues` x `instruments` from a config (validated here) and the
    /// id counters (from the journal's recovery: ids never repeat across restarts).
    ///
    /// # Errors
    /// [`StrategyConfigError`] naming the first bad key.
    pub fn new(
        cfg: &StrategiesConfig,
        venues: usize,
        instruments: usize,
        ids: Ids,
    ) -> Result<Self, StrategyConfigError> {
        cfg.validate()?;
        for (k, m) in cfg.markets.iter().enumerate() {
            if m.venue as usize >= venues || m.instrument as usize >= instruments {
                return Err(StrategyConfigError::Invalid {
                    key: format!("strategies.markets[{k}]"),
                    reason: format!(
                        "venue {} instrument {} is outside the engine's {venues} venues x \
                         {instruments} instruments",
                        m.venue, m.instrument
                    ),
                });
            }
        }
        let arb = cfg
            .arb
            .clone()
            .map(|a| Arb::new(a, &cfg.markets, venues, instruments));
        let mut mms = Vec::with_capacity(cfg.mm.len());
        for (k, m) in cfg.mm.iter().enumerate() {
            // validate() proved the market exists.
            let spec =
                *cfg.market(m.venue, m.instrument)
                    .ok_or_else(|| StrategyConfigError::Invalid {
                        key: format!("strategies.mm[{k}].venue"),
                        reason: "no market".into(),
                    })?;
            mms.push(MarketMaker::new(k as u16, m.clone(), spec));
        }
        Ok(Self {
            ids,
            tops: Tops::new(venues, instruments),
            inv: Inventory::new(venues, instruments, cfg.max_working_orders),
            arb,
            mms,
            stats: StageStats::default(),
        })
    }

    /// Sets what is held on a venue for an instrument (base mantissa; quote as raw notional,
    /// i.e. quote money x 10^(px_scale + qty_scale)).
    pub fn set_balance(
        &mut self,
        v: VenueId,
        i: InstrumentIdx,
        base: Qty,
        quote_raw: i128,
    ) -> bool {
        self.inv.set_balance(v, i, base, quote_raw)
    }

    /// A new top arrived: store it, then let the arbitrage and the market makers that watch it
    /// decide.
    pub fn on_top(&mut self, top: &BookTop, now: Nanos, sink: &mut impl IntentSink) {
        self.stats.tops += 1;
        if !self.tops.update(top) {
            self.stats.tops_unknown += 1;
            return;
        }
        if let Some(arb) = &mut self.arb {
            arb.on_top(top, &self.tops, &mut self.inv, &mut self.ids, now, sink);
        }
        for mm in &mut self.mms {
            if mm.watches(top.venue.0, top.instrument.0) {
                mm.update(&self.tops, &mut self.inv, &mut self.ids, now, sink);
            }
        }
    }

    /// [`Strategies::on_top`] where the arbitrage walks full books beyond the top's five levels:
    /// `depth(venue)` gives the venue's book of `top.instrument` (e.g. the book stage's
    /// [`crate::book::L2Book`]); validity, age and sequence still come from the tops.
    pub fn on_top_with_depth<'d, D: Depth + 'd>(
        &mut self,
        top: &BookTop,
        depth: impl Fn(VenueId) -> Option<&'d D>,
        now: Nanos,
        sink: &mut impl IntentSink,
    ) {
        self.stats.tops += 1;
        if !self.tops.update(top) {
            self.stats.tops_unknown += 1;
            return;
        }
        if let Some(arb) = &mut self.arb {
            let (i, v) = (top.instrument, top.venue);
            arb.scan(
                i,
                v,
                &self.tops,
                depth,
                &mut self.inv,
                &mut self.ids,
                now,
                sink,
            );
        }
        for mm in &mut self.mms {
            if mm.watches(top.venue.0, top.instrument.0) {
                mm.update(&self.tops, &mut self.inv, &mut self.ids, now, sink);
            }
        }
    }

    /// An execution report from the OMS: updates the inventory and tells the owner.
    pub fn on_report(&mut self, r: &ExecReport, now: Nanos, sink: &mut impl IntentSink) {
        self.stats.reports += 1;
        let Some(e) = self.inv.on_report(r) else {
            self.stats.reports_unknown += 1;
            return;
        };
        match e.order.owner {
            Owner::Arb => {
                if let Some(arb) = &mut self.arb {
                    arb.on_report(&e, &self.tops, &mut self.inv, &mut self.ids, now, sink);
                }
            }
            Owner::Mm(k) => {
                if let Some(mm) = self.mms.get_mut(k as usize) {
                    mm.on_report(&e);
                }
            }
        }
    }

    /// An intent that never reached the venue (risk refused it, the send-time edge recheck
    /// dropped it, the ring or OMS refused it): finishes it as rejected with nothing filled, so
    /// its reservation is released and its group settles (a lone surviving leg is then hedged or
    /// unwound). The stage that drops an intent must call this, or the order stays working.
    pub fn on_refused(&mut self, intent_seq: u64, now: Nanos, sink: &mut impl IntentSink) {
        let r = ExecReport {
            intent_seq,
            state: OrderState::Rejected,
            ..Default::default()
        };
        self.on_report(&r, now, sink);
    }

    /// The halt state as the strategy stage last read it (halted bit, per-venue mask): the
    /// market makers of a halted venue place no new quotes and the arbitrage opens no group on a
    /// halted venue until it clears.
    pub fn set_halt(&mut self, global: bool, venue_mask: u64) {
        if let Some(arb) = &mut self.arb {
            arb.set_halt(global, venue_mask);
        }
        for mm in &mut self.mms {
            mm.set_halt(global, venue_mask);
        }
    }

    /// Time passes without data: time boxes, quote TTLs and staleness pulls.
    pub fn on_timer(&mut self, now: Nanos, sink: &mut impl IntentSink) {
        if let Some(arb) = &mut self.arb {
            arb.on_timer(&self.tops, &mut self.inv, &mut self.ids, now, sink);
        }
        for mm in &mut self.mms {
            mm.update(&self.tops, &mut self.inv, &mut self.ids, now, sink);
        }
    }

    /// The latest tops (for the order stage's send-time recheck).
    pub fn tops(&self) -> &Tops {
        &self.tops
    }

    /// Balances and working orders.
    pub fn inventory(&self) -> &Inventory {
        &self.inv
    }

    /// The arbitrage, if configured.
    pub fn arb(&self) -> Option<&Arb> {
        self.arb.as_ref()
    }

    /// The market makers, in config order.
    pub fn market_makers(&self) -> &[MarketMaker] {
        &self.mms
    }

    /// The id counters.
    pub fn ids(&self) -> &Ids {
        &self.ids
    }

    /// Stage counters.
    pub fn stats(&self) -> &StageStats {
        &self.stats
    }
}
