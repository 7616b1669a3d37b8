//! The strategy stage: tops -> strategies -> intents -> send-time edge recheck -> risk -> the
//! approved-intents ring; execution reports from the order stage -> risk and strategies.
//!
//! Everything an intent is checked against is read fresh right before its check: the halt word
//! and venue mask (one Acquire load each), the grant in the segment, the ages and validity of the
//! books the decision used. An intent dropped here (risk refusal, edge gone, full ring) is handed
//! back to the strategies with `on_refused`, so reservations release and a lone leg is hedged.
//!
//! Each poll also reads the halt word and venue mask once (two Acquire loads) and, when they
//! changed, tells the strategies: market makers of a halted venue hold their quotes instead of
//! re-quoting into certain risk refusals, and quote again after the resume.

use std::sync::{atomic::Ordering::Relaxed, Arc};

use lyra_risk::{
    find_grant, BookCheck, CheckInput, RiskApproved, RiskEngine, RiskLimits, NOTIONAL_SCALE,
};
use lyra_shm::{
    clock::{Clock, Nanos},
    control::ControlSegment,
    msg::{BookTop, ExecReport, IntentAction, OrderIntent, Px},
    ring::{Consumer, Producer},
};

use crate::{
    audit::{AuditTx, Record},
    runtime::stage::Stage,
    stats::EngineStats,
    strategy::{edge_still_positive, fees::raw_to_notional, Strategies, RATE_SCALE},
};

/// Items taken from each input ring per poll.
const BATCH: usize = 64;
/// Timer period of the strategies (quote TTLs, time boxes, staleness pulls), ns.
const TIMER_NS: u64 = 5_000_000;

/// An approved intent on its way to the order stage, with the frame time it descends from.
#[derive(Debug, Clone, Copy)]
pub struct Approved {
    /// The approval the OMS requires.
    pub approved: RiskApproved<OrderIntent>,
    /// Wall receive time of the frame whose top triggered the decision (0 = a timer or report).
    pub tick_wall_ns: u64,
    /// Wall time of the approval.
    pub approved_wall_ns: u64,
}

/// Scales of one instrument (for the edge in quote units).
#[derive(Debug, Clone, Copy)]
pub struct Scales {
    /// Decimals of prices.
    pub px: u8,
    /// Decimals of quantities.
    pub qty: u8,
}

/// The strategy stage.
pub struct StrategyStage {
    tops: Consumer<BookTop>,
    reports: Consumer<ExecReport>,
    out: Producer<Approved>,
    strategies: Strategies,
    risk: RiskEngine,
    /// A copy of risk's limits (execution reports need them beside risk's mutable state).
    limits: RiskLimits,
    scales: Vec<Scales>,
    seg: Arc<ControlSegment>,
    clock: Arc<dyn Clock>,
    stats: Arc<EngineStats>,
    /// Intents of the current decision (capacity fixed at start).
    scratch: Vec<OrderIntent>,
    /// Whether orders go to live endpoints (LIVE mode) or test endpoints.
    live: bool,
    next_timer_ns: u64,
    timer_ticks: u64,
    /// Every intent in the order it was approved (tests compare layouts with it).
    log: Option<Producer<OrderIntent>>,
    /// The decision audit (off-thread writer).
    audit: Option<AuditTx>,
    /// Polls so far: the audit's cycle id.
    cycle: u64,
    /// The (halted, venue mask) last handed to the strategies.
    halt_seen: (bool, u64),
}

impl StrategyStage {
    /// A stage over built strategies and risk; `log` (tests) receives every approved intent.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tops: Consumer<BookTop>,
        reports: Consumer<ExecReport>,
        out: Producer<Approved>,
        strategies: Strategies,
        risk: RiskEngine,
        scales: Vec<Scales>,
        seg: Arc<ControlSegment>,
        clock: Arc<dyn Clock>,
        stats: Arc<EngineStats>,
        live: bool,
        log: Option<Producer<OrderIntent>>,
    ) -> Self {
        Self {
            tops,
            reports,
            out,
            strategies,
            limits: risk.limits().clone(),
            risk,
            scales,
            seg,
            clock,
            stats,
            scratch: Vec::with_capacity(1_024),
            live,
            next_timer_ns: 0,
            timer_ticks: 0,
            log,
            audit: None,
            cycle: 0,
            halt_seen: (false, 0),
        }
    }

    /// Audits every approval and refusal through `tx`.
    pub fn set_audit(&mut self, tx: AuditTx) {
        self.audit = Some(tx);
    }

    fn audit_refused(&mut self, intent: OrderIntent, code: u8) {
        if let Some(a) = &mut self.audit {
            a.push(Record::Refused {
                cycle: self.cycle,
                intent,
                code,
                wall_ns: self.clock.wall_ns(),
            });
        }
    }

    fn book_check(&self, top: Option<&BookTop>, now_wall: u64, now_mono: u64) -> BookCheck {
        match top {
            // Tops carry wall receive times; risk ages books on the monotonic clock.
            Some(t) => BookCheck {
                valid: t.is_valid(),
                updated_ns: now_mono.saturating_sub(now_wall.saturating_sub(t.recv_ts)),
            },
            None => BookCheck {
                valid: false,
                updated_ns: 0,
            },
        }
    }

    /// Checks and forwards everything in `scratch` (including what refusals add to it). The two
    /// legs of an arbitrage group go together or not at all: both are checked before either is
    /// sent, so a refusal can never leave one leg on the wire alone.
    fn drain_scratch(&mut self, tick_wall_ns: u64) {
        let mut i = 0;
        while i < self.scratch.len() {
            let it = self.scratch[i];
            i += 1;
            self.stats.intents.fetch_add(1, Relaxed);
            let pair = (i < self.scratch.len() && self.is_leg_pair(&it, &self.scratch[i]))
                .then(|| self.scratch[i]);
            let Some(other) = pair else {
                if !self.forward(&[it], tick_wall_ns) {
                    let now = self.clock.wall_ns();
                    self.strategies
                        .on_refused(it.intent_seq, now, &mut self.scratch);
                }
                continue;
            };
            i += 1;
            self.stats.intents.fetch_add(1, Relaxed);
            if self.forward(&[it, other], tick_wall_ns) {
                self.stats.arb_groups_sent.fetch_add(1, Relaxed);
            } else {
                let now = self.clock.wall_ns();
                self.strategies
                    .on_refused(it.intent_seq, now, &mut self.scratch);
                self.strategies
                    .on_refused(other.intent_seq, now, &mut self.scratch);
            }
        }
        self.scratch.clear();
    }

    /// Whether `a` and `b` are the two legs of one arbitrage group.
    fn is_leg_pair(&self, a: &OrderIntent, b: &OrderIntent) -> bool {
        a.group_id != 0
            && a.group_id == b.group_id
            && a.action == IntentAction::New
            && b.action == IntentAction::New
            && self
                .strategies
                .arb()
                .and_then(|x| x.group(a.group_id))
                .is_some_and(|g| {
                    let legs = [g.buy_seq, g.sell_seq];
                    legs.contains(&a.intent_seq) && legs.contains(&b.intent_seq)
                })
    }

    /// Checks every intent of `batch` (one intent, or both legs of a group) and sends them all,
    /// or none: `false` if any was refused or the ring lacked room (risk then forgets the ones
    /// it had approved).
    fn forward(&mut self, batch: &[OrderIntent], tick_wall_ns: u64) -> bool {
        let mut ok = [None; 2];
        for (k, it) in batch.iter().enumerate() {
            ok[k] = self.check(*it);
        }
        let n = batch.len();
        let all = ok[..n].iter().all(Option::is_some);
        let room = self.out.capacity() - self.out.len() >= n;
        if !all || !room {
            if all {
                self.stats.order_ring_full.fetch_add(n as u64, Relaxed);
                for it in batch {
                    self.audit_refused(*it, 254);
                }
            }
            let now_mono = self.clock.mono_ns();
            for a in ok[..n].iter().flatten() {
                let r = ExecReport {
                    intent_seq: a.intent().intent_seq,
                    state: lyra_shm::msg::OrderState::Rejected,
                    ..Default::default()
                };
                self.risk.state_mut().on_exec(&r, &self.limits, now_mono);
            }
            return false;
        }
        for approved in ok[..n].iter().flatten() {
            if tick_wall_ns != 0 {
                self.stats
                    .book_to_intent
                    .record(self.clock.wall_ns().saturating_sub(tick_wall_ns));
            }
            let msg = Approved {
                approved: *approved,
                tick_wall_ns,
                approved_wall_ns: self.clock.wall_ns(),
            };
            // Room was checked above and this stage is the ring's only producer.
            let _ = self.out.push(msg);
            if let Some(log) = &mut self.log {
                let _ = log.push(*approved.intent());
            }
            if let Some(a) = &mut self.audit {
                a.push(Record::Approved {
                    cycle: self.cycle,
                    intent: *approved.intent(),
                    wall_ns: self.clock.wall_ns(),
                });
            }
        }
        true
    }

    /// The send-time edge recheck (arbitrage legs) and the risk check of one intent.
    fn check(&mut self, it: OrderIntent) -> Option<RiskApproved<OrderIntent>> {
        let now_wall = self.clock.wall_ns();
        let now_mono = self.clock.mono_ns();
        let tops = self.strategies.tops();
        let own = tops.get(it.venue, it.instrument);
        let mut books = [self.book_check(own, now_wall, now_mono); 2];
        let mut nbooks = 1;
        let mut edge = None;
        if it.action == IntentAction::New && it.group_id != 0 {
            let group = self
                .strategies
                .arb()
                .and_then(|a| a.group(it.group_id))
                .filter(|g| g.buy_seq == it.intent_seq || g.sell_seq == it.intent_seq)
                .copied();
            if let Some(g) = group {
                // The send-time recheck: both legs on the latest tops, or nothing is sent.
                let Some(e) = edge_still_positive(&g, tops) else {
                    self.stats.edge_gone.fetch_add(1, Relaxed);
                    self.audit_refused(it, 255);
                    return None;
                };
                let s = self.scales[it.instrument.0 as usize];
                edge = Some(e.to_notional(s.px, s.qty, NOTIONAL_SCALE).max(0));
                let other = if g.buy_venue == it.venue {
                    g.sell_venue
                } else {
                    g.buy_venue
                };
                books[1] = self.book_check(tops.get(other, it.instrument), now_wall, now_mono);
                nbooks = 2;
            }
        }
        let ref_mid = own.and_then(|t| {
            (t.bid_qty[0].0 > 0 && t.ask_qty[0].0 > 0)
                .then(|| Px((t.bid_px[0].0 + t.ask_px[0].0) / 2))
        });
        let grant = find_grant(
            &self.seg,
            u16::from(it.strategy),
            it.venue,
            it.instrument,
            now_wall,
        );
        let inp = CheckInput {
            now_mono_ns: now_mono,
            now_wall_ns: now_wall,
            halted: self.seg.is_halted(),
            venue_halt_mask: self.seg.venue_mask(),
            grant: grant.as_ref(),
            live: self.live,
            ref_mid,
            books: &books[..nbooks],
            edge_after_fees: edge,
        };
        match self.risk.check(it, &inp) {
            Ok(a) => Some(a),
            Err(why) => {
                self.stats.risk_refused.fetch_add(1, Relaxed);
                self.stats.risk_refused_by[(why as usize) & 31].fetch_add(1, Relaxed);
                self.seg.add(lyra_shm::control::Counter::RiskRefused, 1);
                self.audit_refused(it, why as u8);
                None
            }
        }
    }

    /// Copies the strategies' counters into the shared stats. Realised edge counts only groups
    /// whose bought and sold base match (one-legged groups hold inventory, not realised PnL; they
    /// are counted apart).
    fn publish_stats(&self) {
        if let Some(a) = self.strategies.arb() {
            let s = a.stats();
            self.stats.arb_opportunities.store(s.opportunities, Relaxed);
            self.stats.arb_groups.store(s.groups, Relaxed);
            let (mut pnl, mut bought, mut balanced, mut one_legged) = (0i64, 0i64, 0u64, 0u64);
            for g in a.ledger().records() {
                if !g.closed || g.fills == 0 {
                    continue;
                }
                if g.residual() != 0 {
                    one_legged += 1;
                    continue;
                }
                balanced += 1;
                let sc = self
                    .scales
                    .get(g.instrument.0 as usize)
                    .copied()
                    .unwrap_or(Scales { px: 8, qty: 8 });
                pnl += raw_to_notional(g.pnl(), sc.px, sc.qty, NOTIONAL_SCALE);
                bought += raw_to_notional(g.buy_raw * RATE_SCALE, sc.px, sc.qty, NOTIONAL_SCALE);
            }
            let edge = if bought > 0 {
                (i128::from(pnl) * 1_000_000 / i128::from(bought)) as i64
            } else {
                0
            };
            self.stats.arb_edge_ppm.store(edge, Relaxed);
            self.stats.arb_pnl_e8.store(pnl, Relaxed);
            self.stats.arb_groups_balanced.store(balanced, Relaxed);
            self.stats.arb_groups_one_legged.store(one_legged, Relaxed);
        }
        let (mut fills, mut quotes) = (0, 0);
        for m in self.strategies.market_makers() {
            fills += m.stats().fills;
            quotes += m.stats().quotes;
        }
        self.stats.mm_fills.store(fills, Relaxed);
        self.stats.mm_quotes.store(quotes, Relaxed);
    }

    /// The strategies (tests read their ledgers).
    pub fn strategies(&self) -> &Strategies {
        &self.strategies
    }
}

impl Stage for StrategyStage {
    fn name(&self) -> &'static str {
        "strategy"
    }

    fn poll(&mut self, _now_ns: Nanos) -> usize {
        let mut n = 0;
        self.cycle += 1;
        let halt = (self.seg.is_halted(), self.seg.venue_mask());
        if halt != self.halt_seen {
            self.halt_seen = halt;
            self.strategies.set_halt(halt.0, halt.1);
        }
        for _ in 0..BATCH {
            let Some(r) = self.reports.pop() else {
                break;
            };
            n += 1;
            self.risk
                .state_mut()
                .on_exec(&r, &self.limits, self.clock.mono_ns());
            let now = self.clock.wall_ns();
            self.strategies.on_report(&r, now, &mut self.scratch);
            self.drain_scratch(0);
        }
        for _ in 0..BATCH {
            let Some(top) = self.tops.pop() else {
                break;
            };
            n += 1;
            self.stats.strategy_tops.fetch_add(1, Relaxed);
            let now = self.clock.wall_ns();
            self.strategies.on_top(&top, now, &mut self.scratch);
            self.drain_scratch(top.recv_ts);
        }
        let now = self.clock.wall_ns();
        if self.next_timer_ns == 0 {
            // The first timer is due one period after the first data, not at start-up: with no
            // data there is nothing to time, and a replay on a fixed clock never fires it.
            if self.stats.strategy_tops.load(Relaxed) > 0 {
                self.next_timer_ns = now + TIMER_NS;
            }
        } else if now >= self.next_timer_ns {
            self.next_timer_ns = now + TIMER_NS;
            self.strategies.on_timer(now, &mut self.scratch);
            self.drain_scratch(0);
            self.timer_ticks += 1;
            if self.timer_ticks % 20 == 0 {
                self.publish_stats();
            }
        }
        n
    }

    fn stop(&mut self, _now_ns: Nanos) {
        self.publish_stats();
    }
}
