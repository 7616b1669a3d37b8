//! The venue calls of the OMS life cycle for venues driven through [`OrderEntry`] (OKX,
//! Kraken): place / check (SAFE), query, fills, cancel, open orders, rules, balances, with the
//! answers turned into the same bookkeeping the Binance path uses (`advance`, `apply_fill`,
//! `mark_unknown`, `set_state`). A child module of `manager`, so the journal, the state
//! machine, the SENT_UNKNOWN queue and positions exist once.
//!
//! Errors act by class: [`ErrorClass::Unknown`] makes an order SENT_UNKNOWN (resolved by query,
//! never assumed); a refusal rejects it, and `RateLimited` backs the venue off, `Clock`
//! re-syncs the time offset (halting the venue past `max_skew_ms`), `Filter` re-reads the
//! instrument rules.

use std::sync::Arc;

use lyra_shm::{
    control::Counter,
    msg::{OrderState, Qty},
};

use super::{Balance, Entry, ForeignOrder, Oms, OmsError, Query, ReconcileReport};
use crate::{
    binance::SymbolSpec,
    clordid::ClOrdId,
    config::UnknownOrders,
    order::{AlertKind, AuditEvent},
    venue::{trade_key, ErrorClass, IdText, OrderReport, Refusal, VenueError},
};

/// How long a venue is left alone after a rate-limit refusal, s: OKX and Kraken name no retry
/// time in the error; OKX limits count per 2 s window, Kraken's counters decay each second.
const RATE_LIMIT_BACKOFF_S: u32 = 2;

/// A venue code as the audit's integer: OKX codes are numbers, Kraken's are text (-1).
fn code_of(e: &VenueError) -> i32 {
    match e {
        VenueError::Refused { code, .. } => code.parse().unwrap_or(-1),
        _ => 0,
    }
}

impl Oms {
    fn client(&mut self) -> Option<&mut (dyn crate::venue::OrderEntry + Send)> {
        match &mut self.entry {
            Entry::Other { client, .. } => Some(client.as_mut()),
            Entry::Binance(_) => None,
        }
    }

    fn spec_of(&self, seq: u64) -> Option<Arc<SymbolSpec>> {
        let o = self.orders.get(&seq)?;
        self.shared_symbol(o.intent.instrument)
    }

    /// Places (or, SAFE, checks) intent `seq`, already journaled SENT; handles the answer.
    pub(super) fn send_via_entry(&mut self, seq: u64, px: i64, qty: i64) -> Result<(), OmsError> {
        let (Some(o), Some(spec)) = (self.orders.get(&seq).copied(), self.spec_of(seq)) else {
            return Ok(());
        };
        self.seg.add(Counter::SendsAttempted, 1);
        let Some(client) = self.client() else {
            return Ok(());
        };
        if o.safe {
            let res = client.check_order(&spec, &o.intent, px, qty, &o.clordid);
            let sent = !matches!(res, Ok(false));
            if sent {
                self.stats.order_requests += 1;
                self.stats.test_requests += 1;
            }
            let wall_ns = self.wall_ns();
            let (accepted, venue_code) = match &res {
                Ok(_) => (true, 0),
                Err(e) => (false, code_of(e)),
            };
            self.events.push(AuditEvent::SafeOrder {
                intent_seq: seq,
                venue: self.cfg.venue,
                accepted,
                venue_code,
                wall_ns,
            });
            self.seg.add(Counter::SendsDone, 1);
            return match res {
                // A would-be order never exists at the venue: it ends without trading.
                Ok(_) => self.set_state(seq, OrderState::Expired, 0),
                Err(e) => {
                    // A check places nothing, whatever its answer: never SENT_UNKNOWN.
                    self.seg.add(Counter::VenueRejects, 1);
                    self.after_refusal(e.refusal());
                    self.set_state(seq, OrderState::Rejected, venue_code)
                }
            };
        }
        let res = client.place(&spec, &o.intent, px, qty, &o.clordid);
        self.stats.order_requests += 1;
        match res {
            Ok(placed) => {
                self.seg.add(Counter::SendsDone, 1);
                self.learn_venue_id(seq, &placed.order_id);
                match placed.report {
                    Some(r) => self.apply_report(seq, &spec, &r),
                    None => self.advance(seq, OrderState::Acked, Qty(0)),
                }
            }
            Err(e) => self.on_place_error(seq, &e),
        }
    }

    fn on_place_error(&mut self, seq: u64, e: &VenueError) -> Result<(), OmsError> {
        if e.class() == ErrorClass::Unknown {
            return self.mark_unknown(seq);
        }
        if matches!(e, VenueError::Refused { .. }) {
            self.seg.add(Counter::VenueRejects, 1);
        }
        let code = code_of(e);
        self.set_state(seq, OrderState::Rejected, code)?;
        self.after_refusal(e.refusal());
        Ok(())
    }

    /// What a refusal asks of the OMS besides ending the request.
    fn after_refusal(&mut self, kind: Option<Refusal>) {
        match kind {
            Some(Refusal::RateLimited) => {
                self.stats.http_429 += 1;
                self.seg.add(Counter::VenueRateLimited, 1);
                let now = self.venue_ms();
                self.entry.budget().on_429(now, Some(RATE_LIMIT_BACKOFF_S));
            }
            Some(Refusal::Clock) => self.resync_time(),
            Some(Refusal::Filter) => {
                self.stats.filter_refreshes += 1;
                // A failed refresh keeps the old rules; the next refusal tries again.
                let _ = self.refresh_rules_entry();
            }
            _ => {}
        }
    }

    /// Records the venue's order id (text, and as a number for reports and audit).
    fn learn_venue_id(&mut self, seq: u64, id: &IdText) {
        if id.is_empty() {
            return;
        }
        if let Some(o) = self.orders.get_mut(&seq) {
            o.venue_id = *id;
            o.venue_order_id = trade_key(id);
        }
    }

    /// Applies a venue report (place, query, open orders): venue id, state, executed quantity,
    /// and the trades behind any quantity not yet applied as fills.
    fn apply_report(
        &mut self,
        seq: u64,
        spec: &SymbolSpec,
        r: &OrderReport,
    ) -> Result<(), OmsError> {
        self.learn_venue_id(seq, &r.order_id);
        self.advance(seq, r.state, Qty(r.executed))?;
        let o = self.orders[&seq];
        if o.filled_qty.0 < o.cum_qty.0 {
            self.fetch_trades_entry(seq, spec);
        }
        Ok(())
    }

    /// The venue's trades of the order: applies each not seen yet (deduplicated by trade id).
    pub(super) fn fetch_trades_entry(&mut self, seq: u64, spec: &SymbolSpec) {
        let Some(o) = self.orders.get(&seq).copied() else {
            return;
        };
        if o.venue_id.is_empty() {
            return;
        }
        let Some(client) = self.client() else {
            return;
        };
        let Ok(fills) = client.fills(spec, &o.venue_id) else {
            return;
        };
        for f in fills.iter().filter(|f| f.order_id == o.venue_id) {
            self.apply_fill(
                seq,
                spec,
                trade_key(&f.trade_id),
                f.px,
                f.qty,
                &f.fee,
                &f.fee_asset,
            );
        }
    }

    /// Queries intent `seq` by client id (and venue id where known) and applies the answer.
    pub(super) fn query_entry(&mut self, seq: u64) -> Query {
        let (Some(o), Some(spec)) = (self.orders.get(&seq).copied(), self.spec_of(seq)) else {
            return Query::Failed;
        };
        let now = self.venue_ms();
        if self.entry.budget().take(now, 1, false).is_err() {
            return Query::Failed;
        }
        let Some(client) = self.client() else {
            return Query::Failed;
        };
        let vid = (!o.venue_id.is_empty()).then_some(o.venue_id);
        match client.query(&spec, o.clordid.as_str(), vid.as_ref()) {
            Ok(r) if r.client_id.is_empty() || r.client_id.as_str() == o.clordid.as_str() => {
                if self.apply_report(seq, &spec, &r).is_ok() {
                    Query::Found
                } else {
                    Query::Failed
                }
            }
            Ok(_) => Query::Failed,
            Err(e) if e.refusal() == Some(Refusal::NotFound) => Query::NotFound,
            Err(e) => {
                if matches!(e.refusal(), Some(Refusal::RateLimited | Refusal::Clock)) {
                    self.after_refusal(e.refusal());
                }
                Query::Failed
            }
        }
    }

    /// Cancels intent `target` by client id; the final state comes from a query (OKX and
    /// Kraken accept a cancel before it takes effect).
    pub(super) fn cancel_entry(&mut self, target: u64) -> Result<(), OmsError> {
        let (Some(o), Some(spec)) = (self.orders.get(&target).copied(), self.spec_of(target))
        else {
            return Ok(());
        };
        let Some(client) = self.client() else {
            return Ok(());
        };
        let res = client.cancel(&spec, o.clordid.as_str());
        if let Err(e) = &res {
            if e.refusal() == Some(Refusal::RateLimited) {
                self.after_refusal(e.refusal());
            }
        }
        // Accepted, already final, unknown or lost: the query settles it. A SENT_UNKNOWN
        // intent stays with its own resolution (the query there applies what it finds).
        if o.state != OrderState::SentUnknown && !matches!(self.query_entry(target), Query::Found) {
            // Unanswered (or a false "not found"): the next poll looks at working orders again.
            self.next_working_poll_ms = 0;
        }
        Ok(())
    }

    /// Working orders without a private stream: one open-orders call per instrument, then a
    /// query only for orders that left the list or whose executed quantity moved.
    pub(super) fn poll_working_entry(&mut self) {
        self.seqs.clear();
        for i in 0..self.symbols.len() {
            let Some(spec) = self.symbols[i].clone() else {
                continue;
            };
            let now = self.venue_ms();
            if self.entry.budget().take(now, 1, false).is_err() {
                return;
            }
            let Some(client) = self.client() else {
                return;
            };
            let open = match client.open_orders(&spec) {
                Ok(v) => v,
                Err(e) => {
                    if e.refusal() == Some(Refusal::RateLimited) {
                        self.after_refusal(e.refusal());
                    }
                    continue;
                }
            };
            for o in self.orders.values().filter(|o| {
                o.intent.instrument == spec.instrument
                    && matches!(o.state, OrderState::Acked | OrderState::Partial)
            }) {
                let unchanged = open.iter().any(|r| {
                    r.client_id.as_str() == o.clordid.as_str() && r.executed == o.cum_qty.0
                });
                if !unchanged {
                    self.seqs.push(o.intent.intent_seq);
                }
            }
        }
        let seqs = std::mem::take(&mut self.seqs);
        let mut unanswered = false;
        for &s in &seqs {
            unanswered |= !matches!(self.query_entry(s), Query::Found);
        }
        self.seqs = seqs;
        if unanswered {
            // An order that left the open list but whose end the venue did not tell (a lost
            // or false "not found" answer): ask again after the longest query backoff, not
            // a whole working-poll period later.
            self.next_working_poll_ms = self.now_ms() + self.cfg.backoff_max_ms;
        }
    }

    /// Every configured instrument's rules from the venue.
    pub(super) fn refresh_rules_entry(&mut self) -> Result<(), String> {
        for i in 0..self.symbols.len() {
            let Some(spec) = self.symbols[i].clone() else {
                continue;
            };
            let Some(client) = self.client() else {
                return Ok(());
            };
            let rules = client.symbol_rules(&spec).map_err(|e| e.to_string())?;
            if let Some(s) = self.symbols[i].as_mut().map(Arc::make_mut) {
                s.filters = rules.filters;
                s.trading = rules.trading;
            }
        }
        Ok(())
    }

    /// Open orders at the venue the journal does not know: reported, and cancelled by client id
    /// when the policy says so and they have one.
    pub(super) fn reconcile_open_orders_entry(&mut self, report: &mut ReconcileReport) {
        for i in 0..self.symbols.len() {
            let Some(spec) = self.symbols[i].clone() else {
                continue;
            };
            let Some(client) = self.client() else {
                return;
            };
            let Ok(open) = client.open_orders(&spec) else {
                continue;
            };
            for o in &open {
                let ours = ClOrdId::parse_seq(&self.cfg.run_id, o.client_id.as_str().as_bytes())
                    .ok()
                    .filter(|s| self.orders.contains_key(s));
                if ours.is_some() {
                    continue;
                }
                self.alert(AlertKind::UnknownOpenOrder, 0);
                let mut cancelled = false;
                if self.cfg.unknown_orders == UnknownOrders::Cancel && !o.client_id.is_empty() {
                    if let Some(client) = self.client() {
                        cancelled = client.cancel(&spec, o.client_id.as_str()).is_ok();
                    }
                }
                report.foreign.push(ForeignOrder {
                    symbol: spec.symbol.clone(),
                    order_id: trade_key(&o.order_id),
                    client_order_id: o.client_id.as_str().to_owned(),
                    cancelled,
                });
            }
        }
    }

    /// Balances from the venue.
    pub(super) fn balances_entry(&mut self) -> Result<Vec<Balance>, String> {
        match self.client() {
            Some(c) => c.balances().map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        }
    }
}
