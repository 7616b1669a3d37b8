//! The OMS of one venue: accepts only `RiskApproved<OrderIntent>`, re-checks the halt right
//! before the write, journals before it sends, routes SAFE to the venue's check (`/order/test`,
//! Kraken `validate=true`; OKX builds and does not send), resolves SENT_UNKNOWN by query over a
//! bounded window, reconciles on start, cancels on halt.
//!
//! One life cycle, two kinds of venue client: Binance ([`Oms::open`]) keeps its detailed path
//! (headers-based rate limits, -1021/-1013/418, the user stream); OKX and Kraken
//! ([`Oms::open_entry`]) go through [`OrderEntry`], their venue calls in `manager/entry_path.rs`.
//!
//! Driven from one thread: [`Oms::submit`] for new intents, [`Oms::poll`] regularly (it advances
//! SENT_UNKNOWN resolution, polls working orders for fills and reacts to a halt). Audit events and
//! execution reports are queued in preallocated vectors the engine drains.

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration};

use lyra_risk::RiskApproved;
use lyra_shm::{
    clock::Clock,
    control::{ControlSegment, Counter, GrantMode, HaltReason, Note, Source},
    msg::{ExecReport, IntentAction, OrdType, OrderIntent, OrderState, Px, Qty, Side, VenueId},
};
use rust_decimal::Decimal;
use thiserror::Error;

use crate::{
    binance::{
        filters::{to_decimal, to_mantissa, FilterError, Filters},
        response::{
            mantissa, state_of, AccountBody, ApiErrorBody, ExchangeInfoBody, OrderBody, RejectKind,
            TradeBody,
        },
        BinanceRest, Method, RateBudget, SymbolSpec, Throttle,
    },
    clordid::{ClOrdId, ClOrdIdError},
    config::{CancelOnHalt, Mode, OmsConfig, UnknownOrders},
    journal::{Journal, JournalError, Recovery},
    order::{AlertKind, AuditEvent, IllegalTransition, Order, TradeInsert},
    position::Positions,
    venue::OrderEntry,
};

// The user data stream's updates applied to this OMS (a child module: it shares the private
// fill and state helpers below instead of copying them).
#[path = "binance/user_stream_apply.rs"]
mod user_stream_apply;
pub use user_stream_apply::UserStreamStats;

// The venue-neutral order-entry path (OKX, Kraken) of the same life cycle.
mod entry_path;

/// Why the OMS refused an intent (nothing reached the venue unless the variant says so).
#[derive(Debug, Error)]
pub enum OmsError {
    /// Restart reconciliation has not completed: no new order before it.
    #[error("venue {venue:?}: reconciliation not done; no new orders")]
    NotReconciled {
        /// The venue.
        venue: VenueId,
    },
    /// The halt word (global or this venue's bit) is set.
    #[error("venue {venue:?}: halted; intent {intent_seq} not sent")]
    Halted {
        /// The venue.
        venue: VenueId,
        /// The intent.
        intent_seq: u64,
    },
    /// The request budget says wait (429 Retry-After, 418 ban, or local limits).
    #[error("venue {venue:?}: throttled ({throttle:?}); intent {intent_seq} not sent")]
    Throttled {
        /// The venue.
        venue: VenueId,
        /// The intent.
        intent_seq: u64,
        /// Why.
        throttle: Throttle,
    },
    /// The intent fails a symbol filter locally.
    #[error("venue {venue:?} instrument {instrument}: intent {intent_seq}: {filter}")]
    Filter {
        /// The venue.
        venue: VenueId,
        /// The instrument index.
        instrument: u16,
        /// The intent.
        intent_seq: u64,
        /// Which filter.
        filter: FilterError,
    },
    /// The instrument is not configured for this venue (or not TRADING).
    #[error("venue {venue:?}: instrument {instrument} not tradable here")]
    Instrument {
        /// The venue.
        venue: VenueId,
        /// The instrument index.
        instrument: u16,
    },
    /// The intent is for another venue.
    #[error("intent {intent_seq} is for venue {got:?}, this OMS trades {venue:?}")]
    WrongVenue {
        /// This OMS's venue.
        venue: VenueId,
        /// The intent's.
        got: VenueId,
        /// The intent.
        intent_seq: u64,
    },
    /// The intent sequence was used before (client order ids are never reused).
    #[error("intent {intent_seq} already used")]
    SeqReused {
        /// The intent.
        intent_seq: u64,
    },
    /// A cancel names an intent this OMS does not hold.
    #[error("cancel of unknown intent {target_seq}")]
    UnknownTarget {
        /// The target intent.
        target_seq: u64,
    },
    /// The journal refused (full): the OMS stops sending.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The client order id could not be made.
    #[error("intent {intent_seq}: {source}")]
    ClOrdId {
        /// The intent.
        intent_seq: u64,
        /// Why.
        source: ClOrdIdError,
    },
    /// A life-cycle violation (a bug or a venue contradiction).
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
}

/// OMS counters (also exported through the control segment where a slot exists).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OmsStats {
    /// Order requests written to a socket (live and test).
    pub order_requests: u64,
    /// Of those, to `/order/test`.
    pub test_requests: u64,
    /// Intents refused because of a halt (both checks).
    pub refused_halted: u64,
    /// Intents that became SENT_UNKNOWN.
    pub sent_unknown: u64,
    /// SENT_UNKNOWN intents resolved by query.
    pub resolved: u64,
    /// SENT_UNKNOWN intents proven absent.
    pub absent: u64,
    /// SENT_UNKNOWN intents unresolved past the window (venue halted).
    pub unresolved: u64,
    /// Resends after proven absence.
    pub resends: u64,
    /// Fills applied.
    pub fills: u64,
    /// Duplicate fills ignored.
    pub duplicate_fills: u64,
    /// Reports older than what we know, ignored.
    pub stale_reports: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// 429 answers.
    pub http_429: u64,
    /// 418 answers.
    pub http_418: u64,
    /// Time re-syncs after -1021.
    pub time_resyncs: u64,
    /// exchangeInfo refreshes after -1013.
    pub filter_refreshes: u64,
    /// Cancels sent by the kill path.
    pub kill_cancels: u64,
}

/// What happened to one intent during reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The intent.
    pub intent_seq: u64,
    /// State in the journal.
    pub journal_state: OrderState,
    /// State after reconciliation.
    pub state: OrderState,
}

/// An open order at the venue the journal does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignOrder {
    /// Symbol.
    pub symbol: String,
    /// Venue order id.
    pub order_id: u64,
    /// Its client order id.
    pub client_order_id: String,
    /// Whether the policy cancelled it (and the venue confirmed).
    pub cancelled: bool,
}

/// One venue balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// Asset.
    pub asset: String,
    /// Free.
    pub free: Decimal,
    /// Locked in orders.
    pub locked: Decimal,
}

/// The result of restart reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Every journal intent that was not terminal, and where it ended.
    pub settled: Vec<Settled>,
    /// Intents still SENT_UNKNOWN (the venue was halted).
    pub unresolved: Vec<u64>,
    /// Foreign open orders.
    pub foreign: Vec<ForeignOrder>,
    /// Venue balances after reconciliation.
    pub balances: Vec<Balance>,
}

/// How a submitted intent left `submit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The intent.
    pub intent_seq: u64,
    /// Its state now (SENT_UNKNOWN means resolution is under way in `poll`).
    pub state: OrderState,
    /// Whether it went to the test endpoint.
    pub safe: bool,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u64,
    deadline_ms: u64,
    next_ms: u64,
    backoff_ms: u64,
    not_found: u32,
    attempts: u32,
    last_err: bool,
}

enum Query {
    Found,
    NotFound,
    Failed,
}

/// The OMS of one venue.
pub struct Oms {
    cfg: OmsConfig,
    journal: Journal,
    entry: Entry,
    /// Rules per instrument, shared so that an order's send borrows none of `self` and copies
    /// no strings (an `Arc` clone).
    symbols: Vec<Option<Arc<SymbolSpec>>>,
    seg: Arc<ControlSegment>,
    clock: Arc<dyn Clock>,
    orders: HashMap<u64, Order>,
    pending: Vec<Pending>,
    positions: Positions,
    events: Vec<AuditEvent>,
    reports: Vec<ExecReport>,
    stats: OmsStats,
    reconciled: bool,
    preflight_ok: bool,
    recovery: Option<Recovery>,
    body: Vec<u8>,
    seqs: Vec<u64>,
    halt_seen: (bool, u64),
    next_working_poll_ms: u64,
    user: Option<user_stream_apply::UserLink>,
}

impl std::fmt::Debug for Oms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oms")
            .field("venue", &self.cfg.venue)
            .field("mode", &self.cfg.mode)
            .field("orders", &self.orders.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// The venue client behind an OMS: Binance keeps its detailed path (headers-based rate
/// limits, -1021/-1013/418, `/order/test`, the user stream); OKX and Kraken go through
/// [`OrderEntry`] and act on [`crate::venue::VenueError::class`] / `refusal()`.
// One per OMS, never moved after construction: boxing the Binance client would only add an
// indirection to every Binance send.
#[allow(clippy::large_enum_variant)]
enum Entry {
    /// Binance Spot.
    Binance(BinanceRest),
    /// Any other venue, with the OMS's own budget (back-off after a rate-limit refusal).
    Other {
        client: Box<dyn OrderEntry + Send>,
        budget: RateBudget,
    },
}

impl Entry {
    fn budget(&mut self) -> &mut RateBudget {
        match self {
            Entry::Binance(b) => &mut b.budget,
            Entry::Other { budget, .. } => budget,
        }
    }

    fn offset_ms(&self) -> i64 {
        match self {
            Entry::Binance(b) => b.offset_ms(),
            Entry::Other { .. } => 0,
        }
    }
}

/// The Binance client of a Binance OMS, or `return $or` — every caller dispatches the other
/// venues before, so the fallback is a guard, not a path.
macro_rules! binance {
    ($self:ident) => {
        match &mut $self.entry {
            Entry::Binance(b) => b,
            Entry::Other { .. } => return,
        }
    };
    ($self:ident, $or:expr) => {
        match &mut $self.entry {
            Entry::Binance(b) => b,
            Entry::Other { .. } => return $or,
        }
    };
}

const QUERY_WEIGHT: u32 = 4;
/// "Not found" answers, the last one after the window ended, that prove an attempt absent.
const MIN_ABSENT_ANSWERS: u32 = 3;
const ORDER_WEIGHT: u32 = 1;

impl Oms {
    /// Opens the journal of `cfg.run_id` at `journal_path` (records: `capacity`) and builds the
    /// OMS of a Binance venue. No order can be sent before [`Oms::reconcile`] has run.
    ///
    /// # Errors
    /// [`OmsError::Journal`], or a bad run id.
    pub fn open(
        cfg: OmsConfig,
        journal_path: &Path,
        capacity: u64,
        venue: BinanceRest,
        symbols: Vec<SymbolSpec>,
        seg: Arc<ControlSegment>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OmsError> {
        Self::build(
            cfg,
            journal_path,
            capacity,
            Entry::Binance(venue),
            symbols,
            seg,
            clock,
        )
    }

    /// Opens the journal and builds the OMS of a venue driven through the venue-neutral
    /// [`OrderEntry`] trait — the engine's constructor for OKX ([`crate::okx::OkxRest`]) and
    /// Kraken ([`crate::kraken::KrakenRest`]) order entry. The life cycle is the one
    /// [`Oms::open`] gives Binance: write-ahead journal, SENT_UNKNOWN resolution by query over
    /// `unknown_window_ms` (a "not found" proves nothing until the window ends), late fills,
    /// venue halt on an unresolved intent, positions from fills deduplicated by venue trade id,
    /// [`Oms::reconcile`] before any order, cancel on halt. Call `entry.warm()` first (TLS and
    /// time sync off the order path), then [`Oms::refresh_symbol_rules`] and
    /// [`Oms::reconcile`]. SAFE orders go through [`OrderEntry::check_order`] (Kraken
    /// `validate=true`; OKX builds and signs, never sends) and end EXPIRED; working orders are
    /// polled every `working_poll_ms`, or `working_poll_stream_ms` while a private stream
    /// ([`Oms::attach_user_stream`]) is subscribed. The venue's text order id
    /// (OKX `ordId`, Kraken txid) is journaled with the first state that knows it.
    ///
    /// # Errors
    /// [`OmsError::Journal`], or a bad run id.
    pub fn open_entry(
        cfg: OmsConfig,
        journal_path: &Path,
        capacity: u64,
        entry: Box<dyn OrderEntry + Send>,
        symbols: Vec<SymbolSpec>,
        seg: Arc<ControlSegment>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OmsError> {
        let entry = Entry::Other {
            client: entry,
            // OKX and Kraken publish no request-weight budget to count against: the venue's
            // own refusals drive the back-off (these limits never bind).
            budget: RateBudget::new(1 << 24, 1 << 24, 1 << 24),
        };
        Self::build(cfg, journal_path, capacity, entry, symbols, seg, clock)
    }

    fn build(
        cfg: OmsConfig,
        journal_path: &Path,
        capacity: u64,
        entry: Entry,
        symbols: Vec<SymbolSpec>,
        seg: Arc<ControlSegment>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OmsError> {
        crate::clordid::validate_run_id(&cfg.run_id).map_err(|source| OmsError::ClOrdId {
            intent_seq: 0,
            source,
        })?;
        let (journal, recovery) = Journal::open(journal_path, &cfg.run_id, capacity)?;
        let n = symbols
            .iter()
            .map(|s| s.instrument.0 as usize + 1)
            .max()
            .unwrap_or(0);
        let mut table = vec![None; n];
        for s in symbols {
            let i = s.instrument.0 as usize;
            table[i] = Some(Arc::new(s));
        }
        Ok(Self {
            positions: Positions::new(n.max(1)),
            symbols: table,
            cfg,
            journal,
            entry,
            seg,
            clock,
            orders: HashMap::with_capacity(capacity as usize / 2 + 16),
            pending: Vec::with_capacity(256),
            events: Vec::with_capacity(4096),
            reports: Vec::with_capacity(4096),
            stats: OmsStats::default(),
            reconciled: false,
            preflight_ok: false,
            recovery: Some(recovery),
            body: Vec::with_capacity(64 * 1024),
            seqs: Vec::with_capacity(1024),
            halt_seen: (false, 0),
            next_working_poll_ms: 0,
            user: None,
        })
    }

    /// The first intent sequence never used by this run (from the journal).
    pub fn next_intent_seq(&self) -> u64 {
        self.orders.keys().max().map_or_else(
            || self.recovery.as_ref().map_or(1, |r| r.next_intent_seq()),
            |m| m + 1,
        )
    }

    /// Counters.
    pub fn stats(&self) -> &OmsStats {
        &self.stats
    }

    /// The Binance client, if this OMS trades Binance.
    pub fn binance(&mut self) -> Option<&mut BinanceRest> {
        match &mut self.entry {
            Entry::Binance(b) => Some(b),
            Entry::Other { .. } => None,
        }
    }

    /// The venue client as venue-neutral order entry (any venue).
    pub fn entry(&mut self) -> &mut dyn OrderEntry {
        match &mut self.entry {
            Entry::Binance(b) => b,
            Entry::Other { client, .. } => client.as_mut(),
        }
    }

    /// An order by intent sequence.
    pub fn order(&self, seq: u64) -> Option<&Order> {
        self.orders.get(&seq)
    }

    /// Every order.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Positions from fills.
    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// The symbol of an instrument.
    pub fn symbol(&self, i: lyra_shm::msg::InstrumentIdx) -> Option<&SymbolSpec> {
        self.symbols.get(i.0 as usize).and_then(Option::as_deref)
    }

    /// The rules of instrument `i` as a shared handle: answers are applied with `&mut self`
    /// while the rules stay in hand, without copying their strings.
    fn shared_symbol(&self, i: lyra_shm::msg::InstrumentIdx) -> Option<Arc<SymbolSpec>> {
        self.symbols.get(i.0 as usize)?.clone()
    }

    /// Takes the queued audit events (the engine's audit writer persists them).
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, AuditEvent> {
        self.events.drain(..)
    }

    /// Takes the queued execution reports (for risk and the strategies).
    pub fn drain_reports(&mut self) -> std::vec::Drain<'_, ExecReport> {
        self.reports.drain(..)
    }

    /// SENT_UNKNOWN intents still being resolved.
    pub fn pending_unknown(&self) -> usize {
        self.pending.len()
    }

    /// Records the outcome of preflight: LIVE orders need it passed.
    pub fn set_preflight(&mut self, passed: bool) {
        self.preflight_ok = passed;
    }

    fn now_ms(&self) -> u64 {
        self.clock.mono_ns() / 1_000_000
    }

    /// Wall ms as the venue client reads it (rate budgets run on it).
    fn venue_ms(&self) -> u64 {
        match &self.entry {
            Entry::Binance(b) => b.local_ms(),
            Entry::Other { .. } => self.clock.wall_ns() / 1_000_000,
        }
    }

    fn wall_ns(&self) -> u64 {
        self.clock.wall_ns()
    }

    fn halted(&self) -> bool {
        self.seg.is_halted() || self.seg.is_venue_halted(self.cfg.venue)
    }

    fn alert(&mut self, kind: AlertKind, intent_seq: u64) {
        self.stats.alerts += 1;
        let wall_ns = self.wall_ns();
        self.events.push(AuditEvent::Alert {
            kind,
            venue: self.cfg.venue,
            intent_seq,
            wall_ns,
        });
    }

    fn trip_venue(&mut self, reason: HaltReason, text: &str) {
        let note = Note {
            source: Source::Engine,
            operator: "",
            text,
            wall_ns: self.wall_ns(),
        };
        // The venue id is ours and in range; a failure here would mean a broken segment, and the
        // OMS refuses new orders on its own flags too.
        let _ = self.seg.trip_venue(self.cfg.venue, reason, &note);
    }

    /// Moves `seq` to `to`, journals it, and queues the audit event and execution report.
    fn set_state(&mut self, seq: u64, to: OrderState, code: i32) -> Result<(), OmsError> {
        let wall = self.wall_ns();
        let Some(o) = self.orders.get_mut(&seq) else {
            return Ok(());
        };
        let ev = o.transition(to, code, wall)?;
        if to == OrderState::Sent {
            o.sent_wall_ns = wall;
        }
        let (voi, cum) = (o.venue_order_id, o.cum_qty);
        let rep = ExecReport {
            intent_seq: seq,
            group_id: o.intent.group_id,
            venue_order_id: voi,
            cum_qty: cum,
            instrument: o.intent.instrument,
            venue: o.intent.venue,
            state: to,
            side: o.intent.side,
            recv_ts: self.clock.mono_ns(),
            reason: (code != 0) as u8,
            ..Default::default()
        };
        let vid = o.venue_id;
        let journaled = if vid.is_empty() {
            self.journal.append_state(seq, to, voi, cum, wall)
        } else {
            self.journal
                .append_state_with_id(seq, to, voi, &vid, cum, wall)
        };
        if let Err(e) = journaled {
            self.alert(AlertKind::JournalFull, seq);
            self.trip_venue(HaltReason::Engine, "journal full");
            return Err(e.into());
        }
        self.events.push(ev);
        self.reports.push(rep);
        Ok(())
    }

    fn live_allowed(&self, a: &RiskApproved<OrderIntent>) -> bool {
        if self.cfg.mode != Mode::Live || !a.is_live() || !self.preflight_ok {
            return false;
        }
        let now = self.wall_ns();
        self.seg
            .grants()
            .any(|(_, g)| g.grant_id == a.grant_id() && g.mode == GrantMode::Live && g.is_live(now))
    }

    /// Sends one approved intent: halt check, filters, budget, journal, halt re-check, send.
    ///
    /// # Errors
    /// [`OmsError`] (for refusals before the journal write nothing is journaled).
    pub fn submit(&mut self, a: RiskApproved<OrderIntent>) -> Result<Submitted, OmsError> {
        let it = *a.intent();
        let venue = self.cfg.venue;
        if !self.reconciled {
            return Err(OmsError::NotReconciled { venue });
        }
        if it.venue != venue {
            return Err(OmsError::WrongVenue {
                venue,
                got: it.venue,
                intent_seq: it.intent_seq,
            });
        }
        if it.action == IntentAction::Cancel {
            self.cancel(it.target_seq)?;
            let state = self
                .orders
                .get(&it.target_seq)
                .map_or(OrderState::Canceled, |o| o.state);
            return Ok(Submitted {
                intent_seq: it.target_seq,
                state,
                safe: false,
            });
        }
        if self.halted() {
            self.stats.refused_halted += 1;
            self.seg.add(Counter::SendsRefusedHalted, 1);
            return Err(OmsError::Halted {
                venue,
                intent_seq: it.intent_seq,
            });
        }
        if self.orders.contains_key(&it.intent_seq) {
            return Err(OmsError::SeqReused {
                intent_seq: it.intent_seq,
            });
        }
        let spec = match self.symbol(it.instrument) {
            Some(s) if s.trading => s,
            _ => {
                return Err(OmsError::Instrument {
                    venue,
                    instrument: it.instrument.0,
                })
            }
        };
        let (px, qty) = quantize(spec, &it).map_err(|filter| OmsError::Filter {
            venue,
            instrument: it.instrument.0,
            intent_seq: it.intent_seq,
            filter,
        })?;
        let now = self.venue_ms();
        self.entry
            .budget()
            .take(now, ORDER_WEIGHT, true)
            .map_err(|throttle| OmsError::Throttled {
                venue,
                intent_seq: it.intent_seq,
                throttle,
            })?;
        let clordid =
            ClOrdId::new(&self.cfg.run_id, it.intent_seq).map_err(|source| OmsError::ClOrdId {
                intent_seq: it.intent_seq,
                source,
            })?;
        let safe = !self.live_allowed(&a);
        // Write-ahead: the intent is in the journal before any byte can reach the venue.
        let wall = self.wall_ns();
        self.journal.append_intent(&it, wall)?;
        self.orders
            .insert(it.intent_seq, Order::new(it, clordid, safe));
        self.send_new(it.intent_seq, px, qty)?;
        let state = self.orders[&it.intent_seq].state;
        Ok(Submitted {
            intent_seq: it.intent_seq,
            state,
            safe,
        })
    }

    /// Builds, re-checks the halt, journals SENT, writes, and handles the answer.
    fn send_new(&mut self, seq: u64, px: i64, qty: i64) -> Result<(), OmsError> {
        let o = self.orders[&seq];
        let Some(spec) = self
            .symbols
            .get(o.intent.instrument.0 as usize)
            .and_then(Option::as_ref)
        else {
            return Ok(());
        };
        if let Entry::Binance(b) = &mut self.entry {
            let ts = b.server_ms();
            b.prepare_order(spec, &o.intent, px, qty, &o.clordid, o.safe, ts);
        }
        // The second halt check, right before the write (the first was in risk).
        if self.halted() {
            self.stats.refused_halted += 1;
            self.seg.add(Counter::SendsRefusedHalted, 1);
            if o.state == OrderState::New {
                self.set_state(seq, OrderState::Rejected, 0)?;
            } else {
                // A resend refused: the attempt is proven absent, so the intent ends here.
                self.set_state(seq, OrderState::Rejected, -2013)?;
            }
            return Err(OmsError::Halted {
                venue: self.cfg.venue,
                intent_seq: seq,
            });
        }
        self.set_state(seq, OrderState::Sent, 0)?;
        if matches!(self.entry, Entry::Other { .. }) {
            return self.send_via_entry(seq, px, qty);
        }
        self.stats.order_requests += 1;
        if o.safe {
            self.stats.test_requests += 1;
        }
        self.seg.add(Counter::SendsAttempted, 1);
        let res = binance!(self, Ok(())).send_prepared();
        let (status, meta) = match res {
            Ok(r) => {
                self.body.clear();
                self.body.extend_from_slice(r.body);
                (r.status, r.meta)
            }
            Err(e) => {
                if e.maybe_sent() {
                    return self.mark_unknown(seq);
                }
                return self.set_state(seq, OrderState::Rejected, 0);
            }
        };
        self.seg.add(Counter::SendsDone, 1);
        let body = std::mem::take(&mut self.body);
        let r = self.on_order_answer(seq, status, meta, &body, o.safe);
        self.body = body;
        r
    }

    fn on_order_answer(
        &mut self,
        seq: u64,
        status: u16,
        meta: crate::http::RespMeta,
        body: &[u8],
        safe: bool,
    ) -> Result<(), OmsError> {
        let now = self.venue_ms();
        match status {
            200 if safe => {
                let wall = self.wall_ns();
                self.events.push(AuditEvent::SafeOrder {
                    intent_seq: seq,
                    venue: self.cfg.venue,
                    accepted: true,
                    venue_code: 0,
                    wall_ns: wall,
                });
                // A would-be order never exists at the venue: it ends without trading.
                self.set_state(seq, OrderState::Expired, 0)
            }
            200 => match serde_json::from_slice::<OrderBody<'_>>(body) {
                Ok(b) => self.apply_body(seq, &b),
                Err(_) => self.mark_unknown(seq),
            },
            429 => {
                self.stats.http_429 += 1;
                self.seg.add(Counter::VenueRateLimited, 1);
                self.entry.budget().on_429(now, meta.retry_after_s);
                self.set_state(seq, OrderState::Rejected, -1003)
            }
            418 => {
                self.stats.http_418 += 1;
                self.seg.add(Counter::VenueRateLimited, 1);
                self.entry.budget().on_418(now, meta.retry_after_s);
                self.trip_venue(HaltReason::VenueBan, "418: IP banned");
                self.alert(AlertKind::IpBanned, seq);
                self.set_state(seq, OrderState::Rejected, -1003)
            }
            s if s >= 500 => self.mark_unknown(seq),
            _ => {
                let Ok(e) = serde_json::from_slice::<ApiErrorBody<'_>>(body) else {
                    return self.mark_unknown(seq);
                };
                let code = e.code;
                let kind = RejectKind::of(e.msg);
                if safe {
                    let wall = self.wall_ns();
                    self.events.push(AuditEvent::SafeOrder {
                        intent_seq: seq,
                        venue: self.cfg.venue,
                        accepted: false,
                        venue_code: code,
                        wall_ns: wall,
                    });
                }
                self.seg.add(Counter::VenueRejects, 1);
                match code {
                    -1007 => self.mark_unknown(seq),
                    -2010 if kind == RejectKind::Duplicate && !safe => self.mark_unknown(seq),
                    -1021 => {
                        self.set_state(seq, OrderState::Rejected, code)?;
                        self.resync_time();
                        Ok(())
                    }
                    -1013 => {
                        self.set_state(seq, OrderState::Rejected, code)?;
                        self.stats.filter_refreshes += 1;
                        // A failed refresh keeps the old filters; the next -1013 tries again.
                        let _ = self.refresh_exchange_info();
                        Ok(())
                    }
                    _ => self.set_state(seq, OrderState::Rejected, code),
                }
            }
        }
    }

    /// -1021: re-sync the offset; past the skew limit, halt the venue.
    fn resync_time(&mut self) {
        self.stats.time_resyncs += 1;
        let synced = match &mut self.entry {
            Entry::Binance(b) => b.sync_time().ok(),
            Entry::Other { client, .. } => client.sync_time().ok(),
        };
        match synced {
            Some(off) if off.unsigned_abs() <= self.cfg.max_skew_ms => {}
            _ => {
                self.trip_venue(HaltReason::Latency, "clock skew past limit after -1021");
                self.alert(AlertKind::ClockSkew, 0);
            }
        }
    }

    fn mark_unknown(&mut self, seq: u64) -> Result<(), OmsError> {
        self.set_state(seq, OrderState::SentUnknown, 0)?;
        self.stats.sent_unknown += 1;
        self.push_pending(seq);
        Ok(())
    }

    /// How long after its send a request may still be executed by the venue (see
    /// [`OmsConfig::request_life_ms`]), ms.
    fn request_life_ms(&self) -> u64 {
        if let Some(ms) = self.cfg.request_life_ms {
            return ms;
        }
        let venue = match &self.entry {
            Entry::Binance(rest) => u64::from(rest.recv_window_ms()),
            Entry::Other { client, .. } => client.request_life_ms(),
        };
        // The venue measures the request's age by its own clock; ours may be off by up to the
        // skew we tolerate.
        if venue == 0 {
            0
        } else {
            venue + self.cfg.max_skew_ms
        }
    }

    fn push_pending(&mut self, seq: u64) {
        let now = self.now_ms();
        // Not before the request can no longer execute: counted from its SENT (journaled
        // before the write; after a restart, the dead process's), or from now if unknown.
        let sent = self.orders.get(&seq).map_or(0, |o| o.sent_wall_ns);
        let age_ms = if sent == 0 {
            0
        } else {
            self.wall_ns().saturating_sub(sent) / 1_000_000
        };
        let life_left = self.request_life_ms().saturating_sub(age_ms);
        self.pending.retain(|p| p.seq != seq);
        self.pending.push(Pending {
            seq,
            deadline_ms: now + self.cfg.unknown_window_ms.max(life_left),
            next_ms: now,
            backoff_ms: self.cfg.backoff_initial_ms.max(1),
            not_found: 0,
            attempts: 0,
            last_err: false,
        });
    }

    /// Applies an order body (place, query or cancel reply): venue id, fills, state.
    fn apply_body(&mut self, seq: u64, b: &OrderBody<'_>) -> Result<(), OmsError> {
        let Some(o) = self.orders.get(&seq).copied() else {
            return Ok(());
        };
        let Some(spec) = self.shared_symbol(o.intent.instrument) else {
            return Ok(());
        };
        if let Some(ord) = self.orders.get_mut(&seq) {
            ord.venue_order_id = b.order_id;
        }
        for f in &b.fills {
            let (Some(px), Some(qty)) = (
                mantissa(f.price, spec.px_scale),
                mantissa(f.qty, spec.qty_scale),
            ) else {
                continue;
            };
            self.apply_fill(
                seq,
                &spec,
                f.trade_id,
                px,
                qty,
                f.commission,
                f.commission_asset,
            );
        }
        let to = b.status.and_then(state_of).unwrap_or(OrderState::Acked);
        let cum = b
            .executed_qty
            .and_then(|q| mantissa(q, spec.qty_scale))
            .map_or(o.cum_qty, Qty);
        self.advance(seq, to, cum)?;
        let o = self.orders[&seq];
        if o.filled_qty.0 < o.cum_qty.0 {
            self.fetch_trades(seq);
        }
        Ok(())
    }

    /// Moves to a venue-reported state if it is news; stale reports (an earlier state than what
    /// we know) are counted and ignored.
    fn advance(&mut self, seq: u64, to: OrderState, cum: Qty) -> Result<(), OmsError> {
        let Some(o) = self.orders.get_mut(&seq) else {
            return Ok(());
        };
        if cum.0 < o.cum_qty.0 || !o.is_news(to, cum) {
            if cum.0 < o.cum_qty.0 {
                self.stats.stale_reports += 1;
            }
            return Ok(());
        }
        // A partial fill reported as ACKED+qty, or PARTIAL after ACKED.
        let to = if to == OrderState::Acked && cum.0 > 0 {
            OrderState::Partial
        } else {
            to
        };
        let from = o.state;
        o.cum_qty = cum;
        if from == to && to != OrderState::Partial {
            return Ok(());
        }
        if !crate::order::legal(from, to) {
            self.stats.stale_reports += 1;
            return Ok(());
        }
        self.set_state(seq, to, 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_fill(
        &mut self,
        seq: u64,
        spec: &SymbolSpec,
        trade_id: u64,
        px: i64,
        qty: i64,
        commission: &str,
        commission_asset: &str,
    ) {
        let Some(o) = self.orders.get_mut(&seq) else {
            return;
        };
        match o.trades.insert(trade_id) {
            TradeInsert::New => {}
            TradeInsert::Duplicate => {
                self.stats.duplicate_fills += 1;
                return;
            }
            TradeInsert::Full => {
                self.alert(AlertKind::TradeSetFull, seq);
                return;
            }
        }
        o.filled_qty.0 += qty;
        let o = *o;
        let (venue, inst, side) = (o.intent.venue, o.intent.instrument, o.intent.side);
        let mut fee_base = 0;
        let mut fee_quote = 0i128;
        if commission_asset == spec.base_asset {
            fee_base = mantissa(commission, spec.qty_scale).unwrap_or(0);
        } else if commission_asset == spec.quote_asset {
            fee_quote = mantissa(commission, spec.px_scale + spec.qty_scale).unwrap_or(0) as i128;
        }
        self.positions
            .apply_fill(venue, inst, side, Px(px), Qty(qty), fee_base, fee_quote);
        self.stats.fills += 1;
        let wall = self.wall_ns();
        self.events.push(AuditEvent::Fill {
            intent_seq: seq,
            venue,
            trade_id,
            px: Px(px),
            qty: Qty(qty),
            wall_ns: wall,
        });
        self.reports.push(ExecReport {
            intent_seq: seq,
            group_id: o.intent.group_id,
            venue_order_id: o.venue_order_id,
            trade_id,
            last_px: Px(px),
            last_qty: Qty(qty),
            cum_qty: o.filled_qty,
            instrument: inst,
            venue,
            state: o.state,
            side,
            recv_ts: self.clock.mono_ns(),
            ..Default::default()
        });
    }

    /// `myTrades` of the order: applies every fill not seen yet.
    fn fetch_trades(&mut self, seq: u64) {
        let Some(o) = self.orders.get(&seq).copied() else {
            return;
        };
        let Some(spec) = self.shared_symbol(o.intent.instrument) else {
            return;
        };
        if matches!(self.entry, Entry::Other { .. }) {
            return self.fetch_trades_entry(seq, &spec);
        }
        if o.venue_order_id == 0 {
            return;
        }
        let idbuf = itoa_buf(o.venue_order_id);
        let id = idbuf.as_str();
        let ok = match binance!(self).call(
            Method::Get,
            "/api/v3/myTrades",
            &[("symbol", &spec.symbol), ("orderId", id)],
            true,
        ) {
            Ok(r) if r.status == 200 => {
                self.body.clear();
                self.body.extend_from_slice(r.body);
                true
            }
            _ => false,
        };
        if !ok {
            return;
        }
        let body = std::mem::take(&mut self.body);
        if let Ok(trades) = serde_json::from_slice::<Vec<TradeBody<'_>>>(&body) {
            for t in trades.iter().filter(|t| t.order_id == o.venue_order_id) {
                let (Some(px), Some(qty)) = (
                    mantissa(t.price, spec.px_scale),
                    mantissa(t.qty, spec.qty_scale),
                ) else {
                    continue;
                };
                self.apply_fill(seq, &spec, t.id, px, qty, t.commission, t.commission_asset);
            }
        }
        self.body = body;
    }

    /// `GET /api/v3/order?origClientOrderId=`: applies what it finds.
    fn query(&mut self, seq: u64) -> Query {
        let Some(o) = self.orders.get(&seq).copied() else {
            return Query::Failed;
        };
        if matches!(self.entry, Entry::Other { .. }) {
            return self.query_entry(seq);
        }
        let Some(spec) = self.shared_symbol(o.intent.instrument) else {
            return Query::Failed;
        };
        let now = self.venue_ms();
        if self.entry.budget().take(now, QUERY_WEIGHT, false).is_err() {
            return Query::Failed;
        }
        let (status, meta) = match binance!(self, Query::Failed).call(
            Method::Get,
            "/api/v3/order",
            &[
                ("symbol", &spec.symbol),
                ("origClientOrderId", o.clordid.as_str()),
            ],
            true,
        ) {
            Ok(r) => {
                self.body.clear();
                self.body.extend_from_slice(r.body);
                (r.status, r.meta)
            }
            Err(_) => return Query::Failed,
        };
        let body = std::mem::take(&mut self.body);
        let out = match status {
            200 => match serde_json::from_slice::<OrderBody<'_>>(&body) {
                Ok(b) if b.client_order_id == o.clordid.as_str() => {
                    if self.apply_body(seq, &b).is_ok() {
                        Query::Found
                    } else {
                        Query::Failed
                    }
                }
                _ => Query::Failed,
            },
            429 | 418 => {
                let now = self.venue_ms();
                if status == 429 {
                    self.entry.budget().on_429(now, meta.retry_after_s);
                } else {
                    self.entry.budget().on_418(now, meta.retry_after_s);
                }
                Query::Failed
            }
            _ => match serde_json::from_slice::<ApiErrorBody<'_>>(&body) {
                Ok(e) if e.code == -2013 => Query::NotFound,
                Ok(e) if e.code == -1021 => {
                    // Our clock drifted: re-sync so the next query is accepted.
                    self.resync_time();
                    Query::Failed
                }
                _ => Query::Failed,
            },
        };
        self.body = body;
        out
    }

    /// Advances SENT_UNKNOWN resolution, polls working orders, reacts to a halt. Call it often.
    ///
    /// # Errors
    /// Journal failures.
    pub fn poll(&mut self) -> Result<(), OmsError> {
        self.check_halt()?;
        self.drain_user_stream()?;
        let now = self.now_ms();
        let mut i = 0;
        while i < self.pending.len() {
            let p = self.pending[i];
            if now < p.next_ms {
                i += 1;
                continue;
            }
            let q = self.query(p.seq);
            let state = self.orders.get(&p.seq).map(|o| o.state);
            if matches!(q, Query::Found) && state != Some(OrderState::SentUnknown) {
                // Resolved: the order exists (and is now tracked as working or terminal).
                self.pending.remove(i);
                self.stats.resolved += 1;
                continue;
            }
            let now = self.now_ms();
            let p = &mut self.pending[i];
            p.attempts += 1;
            match q {
                Query::NotFound => {
                    p.not_found += 1;
                    p.last_err = false;
                }
                Query::Failed | Query::Found => p.last_err = true,
            }
            if now < p.deadline_ms {
                p.next_ms = now + p.backoff_ms;
                p.backoff_ms = (p.backoff_ms * 2).min(self.cfg.backoff_max_ms);
                i += 1;
                continue;
            }
            // Decisions need both time and answers: a stalled machine or a slow venue must not
            // turn two late answers into proof.
            let absent = !p.last_err && p.not_found >= MIN_ABSENT_ANSWERS;
            let hard_end = now >= p.deadline_ms + self.cfg.unknown_window_ms
                && p.attempts >= 2 * MIN_ABSENT_ANSWERS;
            if !absent && !hard_end {
                // The window is over but the answers are too few to prove anything (a slow
                // venue): keep asking, up to a second window.
                p.next_ms = now + p.backoff_ms;
                i += 1;
                continue;
            }
            let p = self.pending.remove(i);
            if absent {
                // Absent: every answer to the end of the window said "no such order".
                self.stats.absent += 1;
                let resend =
                    self.cfg.resend_absent && self.orders.get(&p.seq).is_some_and(|o| !o.safe);
                if resend {
                    self.stats.resends += 1;
                    if let Some((px, qty)) = self.orders.get(&p.seq).and_then(|o| {
                        self.symbol(o.intent.instrument)
                            .and_then(|s| quantize(s, &o.intent).ok())
                    }) {
                        // Same client order id: a function of the intent.
                        if let Err(OmsError::Journal(e)) = self.send_new(p.seq, px, qty) {
                            return Err(e.into());
                        }
                        continue;
                    }
                }
                self.set_state(p.seq, OrderState::Rejected, -2013)?;
            } else {
                self.stats.unresolved += 1;
                self.trip_venue(
                    HaltReason::ReconcileMismatch,
                    "SENT_UNKNOWN unresolved past the window",
                );
                self.alert(AlertKind::UnresolvedSentUnknown, p.seq);
            }
        }
        if now >= self.next_working_poll_ms {
            self.next_working_poll_ms = now + self.working_poll_every_ms();
            self.poll_working();
        }
        Ok(())
    }

    /// Finds fills and ends of working orders without a user stream: one `openOrders` per
    /// symbol (weight 6), then a query (weight 4) only for orders that left the list or whose
    /// executed quantity moved — not one query per working order per poll.
    fn poll_working(&mut self) {
        if !self
            .orders
            .values()
            .any(|o| matches!(o.state, OrderState::Acked | OrderState::Partial))
        {
            return;
        }
        if matches!(self.entry, Entry::Other { .. }) {
            return self.poll_working_entry();
        }
        self.seqs.clear();
        for i in 0..self.symbols.len() {
            let Some(spec) = self.symbols[i].clone() else {
                continue;
            };
            // Candidates: this instrument's working orders; those the list shows unchanged
            // drop out while it is read, the rest (gone from the list, or filled more) are
            // queried.
            let start = self.seqs.len();
            self.seqs.extend(
                self.orders
                    .values()
                    .filter(|o| {
                        o.intent.instrument == spec.instrument
                            && matches!(o.state, OrderState::Acked | OrderState::Partial)
                    })
                    .map(|o| o.intent.intent_seq),
            );
            if self.seqs.len() == start {
                continue;
            }
            let now = self.venue_ms();
            if self.entry.budget().take(now, 6, false).is_err() {
                return;
            }
            let read = match binance!(self).call(
                Method::Get,
                "/api/v3/openOrders",
                &[("symbol", &spec.symbol)],
                true,
            ) {
                Ok(r) if r.status == 200 => {
                    self.body.clear();
                    self.body.extend_from_slice(r.body);
                    true
                }
                _ => false,
            };
            if !read {
                self.seqs.truncate(start);
                continue;
            }
            // Read in place (no list built): the poll allocates nothing.
            let body = std::mem::take(&mut self.body);
            let (orders, seqs, qty_scale) = (&self.orders, &mut self.seqs, spec.qty_scale);
            let parsed = crate::venue::for_each_in_array::<OrderBody<'_>>(&body, |b| {
                let unchanged = seqs[start..].iter().position(|s| {
                    orders.get(s).is_some_and(|o| {
                        b.client_order_id == o.clordid.as_str()
                            && b.executed_qty.and_then(|q| mantissa(q, qty_scale))
                                == Some(o.cum_qty.0)
                    })
                });
                if let Some(p) = unchanged {
                    seqs.swap_remove(start + p);
                }
            });
            self.body = body;
            if parsed.is_err() {
                self.seqs.truncate(start);
            }
        }
        let seqs = std::mem::take(&mut self.seqs);
        for &s in &seqs {
            let _ = self.query(s);
        }
        self.seqs = seqs;
    }

    /// Drives [`Oms::poll`] until no SENT_UNKNOWN intent is pending or `max` passes (sleeping
    /// to the next query time: for start-up and tests, not the hot loop).
    ///
    /// # Errors
    /// Journal failures.
    pub fn settle(&mut self, max: Duration) -> Result<(), OmsError> {
        let end = self.now_ms() + max.as_millis() as u64;
        loop {
            self.poll()?;
            let now = self.now_ms();
            if self.pending.is_empty() || now >= end {
                return Ok(());
            }
            let next = self.pending.iter().map(|p| p.next_ms).min().unwrap_or(now);
            std::thread::sleep(Duration::from_millis(next.saturating_sub(now).clamp(1, 50)));
        }
    }

    /// Cancels the order of intent `target` (by client order id; allowed while halted).
    ///
    /// # Errors
    /// [`OmsError::UnknownTarget`], journal failures.
    pub fn cancel(&mut self, target: u64) -> Result<(), OmsError> {
        let Some(o) = self.orders.get(&target).copied() else {
            return Err(OmsError::UnknownTarget { target_seq: target });
        };
        if o.state.is_terminal() || o.state == OrderState::New || o.safe {
            return Ok(());
        }
        // The rules as a shared handle: the request borrows its symbol without copying it.
        let Some(spec) = self.shared_symbol(o.intent.instrument) else {
            return Ok(());
        };
        if matches!(self.entry, Entry::Other { .. }) {
            return self.cancel_entry(target);
        }
        let res = binance!(self, Ok(())).call(
            Method::Delete,
            "/api/v3/order",
            &[
                ("symbol", &spec.symbol),
                ("origClientOrderId", o.clordid.as_str()),
            ],
            true,
        );
        let status = match res {
            Ok(r) => {
                self.body.clear();
                self.body.extend_from_slice(r.body);
                r.status
            }
            Err(_) => 0,
        };
        let body = std::mem::take(&mut self.body);
        let parsed = if status == 200 {
            serde_json::from_slice::<OrderBody<'_>>(&body).ok()
        } else {
            None
        };
        let r = match parsed {
            Some(b) => self.apply_body(target, &b),
            None => {
                // -2011 (already done / unknown) or a lost answer: the query settles it.
                if o.state == OrderState::SentUnknown {
                    Ok(())
                } else {
                    let _ = self.query(target);
                    Ok(())
                }
            }
        };
        self.body = body;
        r
    }

    /// The kill path: on a newly observed halt, cancel open orders per `cancel_on_halt`.
    fn check_halt(&mut self) -> Result<(), OmsError> {
        let st = self.seg.halt_state();
        let mask = self.seg.venue_mask();
        let seen = (st.halted(), mask);
        if seen == self.halt_seen {
            return Ok(());
        }
        let was = self.halt_seen;
        self.halt_seen = seen;
        let ours = mask & (1u64 << self.cfg.venue.0.min(63)) != 0;
        let newly_global = st.halted() && !was.0;
        let newly_ours = ours && was.1 & (1u64 << self.cfg.venue.0.min(63)) == 0;
        let newly_any = mask & !was.1 != 0;
        let cancel = match self.cfg.cancel_on_halt {
            CancelOnHalt::None => false,
            CancelOnHalt::Venue => newly_global || newly_ours,
            CancelOnHalt::All => newly_global || newly_any,
        };
        if cancel {
            self.cancel_all()?;
        }
        Ok(())
    }

    /// Cancels every open (or possibly open) order of this OMS.
    ///
    /// # Errors
    /// Journal failures.
    pub fn cancel_all(&mut self) -> Result<(), OmsError> {
        self.seqs.clear();
        self.seqs.extend(
            self.orders
                .values()
                .filter(|o| {
                    !o.safe
                        && matches!(
                            o.state,
                            OrderState::Acked | OrderState::Partial | OrderState::SentUnknown
                        )
                })
                .map(|o| o.intent.intent_seq),
        );
        let seqs = std::mem::take(&mut self.seqs);
        for &s in &seqs {
            self.stats.kill_cancels += 1;
            self.cancel(s)?;
        }
        self.seqs = seqs;
        Ok(())
    }

    /// Reads exchangeInfo for every configured symbol: filters, TRADING status, rate limits.
    ///
    /// # Errors
    /// A description of the failure.
    pub fn refresh_exchange_info(&mut self) -> Result<(), String> {
        if matches!(self.entry, Entry::Other { .. }) {
            return self.refresh_rules_entry();
        }
        for i in 0..self.symbols.len() {
            let Some(sym) = self.symbols[i].as_ref().map(|s| s.symbol.clone()) else {
                continue;
            };
            let r = binance!(self, Ok(()))
                .call(
                    Method::Get,
                    "/api/v3/exchangeInfo",
                    &[("symbol", &sym)],
                    false,
                )
                .map_err(|e| e.to_string())?;
            if r.status != 200 {
                return Err(format!("exchangeInfo {sym}: HTTP {}", r.status));
            }
            let body = r.body.to_vec();
            let info: ExchangeInfoBody<'_> =
                serde_json::from_slice(&body).map_err(|e| format!("exchangeInfo {sym}: {e}"))?;
            let mut budget = *self.entry.budget();
            for l in &info.rate_limits {
                match (l.kind, l.interval, l.interval_num) {
                    ("REQUEST_WEIGHT", "MINUTE", 1) => budget.weight_per_min = l.limit,
                    ("ORDERS", "SECOND", 10) => budget.orders_per_10s = l.limit,
                    ("ORDERS", "DAY", 1) => budget.orders_per_day = l.limit,
                    _ => {}
                }
            }
            let parsed = info
                .symbols
                .iter()
                .find(|s| s.symbol == sym)
                .map(|s| (s.status == "TRADING", filters_of(s)));
            *self.entry.budget() = budget;
            if let (Some((trading, f)), Some(spec)) =
                (parsed, self.symbols[i].as_mut().map(Arc::make_mut))
            {
                spec.trading = trading;
                spec.filters = f;
            }
        }
        Ok(())
    }

    /// Restart reconciliation (before any new order): settles every non-terminal journal
    /// intent by query, rebuilds positions from the venue's trades of every journaled order,
    /// reports (and per policy cancels) foreign open orders, and reads balances.
    ///
    /// # Errors
    /// Journal failures.
    pub fn reconcile(&mut self) -> Result<ReconcileReport, OmsError> {
        let mut report = ReconcileReport::default();
        let rec = self.recovery.take().unwrap_or_default();
        let mut journal_states = Vec::new();
        for j in rec.intents.values() {
            let seq = j.intent.intent_seq;
            let Ok(id) = ClOrdId::new(&self.cfg.run_id, seq) else {
                continue;
            };
            let mut o = Order::new(j.intent, id, false);
            o.state = j.state;
            o.venue_order_id = j.venue_order_id;
            o.venue_id = j.venue_id;
            o.cum_qty = j.cum_qty;
            o.sent_wall_ns = j.sent_wall_ns;
            self.orders.insert(seq, o);
            if !j.state.is_terminal() {
                journal_states.push((seq, j.state));
            }
        }
        for &(seq, st) in &journal_states {
            match st {
                // SENT is journaled before the first byte is written: NEW was never sent.
                OrderState::New => self.set_state(seq, OrderState::Rejected, 0)?,
                OrderState::Sent => self.mark_unknown(seq)?,
                _ => self.push_pending(seq),
            }
        }
        // Positions come from the venue's trades of every order this run placed.
        let filled: Vec<u64> = self
            .orders
            .values()
            .filter(|o| o.cum_qty.0 > 0 && (o.venue_order_id != 0 || !o.venue_id.is_empty()))
            .map(|o| o.intent.intent_seq)
            .collect();
        for seq in filled {
            self.fetch_trades(seq);
        }
        // Working orders are pending too (query until they answer); wait for all.
        let max = Duration::from_millis(
            self.cfg.unknown_window_ms.saturating_mul(2) + self.request_life_ms() + 1000,
        );
        self.settle(max)?;
        for &(seq, st) in &journal_states {
            let state = self.orders[&seq].state;
            if state == OrderState::SentUnknown {
                report.unresolved.push(seq);
            }
            report.settled.push(Settled {
                intent_seq: seq,
                journal_state: st,
                state,
            });
        }
        self.reconcile_open_orders(&mut report);
        report.balances = self.balances().unwrap_or_default();
        self.reconciled = true;
        Ok(report)
    }

    /// Reads every configured instrument's trading rules from the venue into its
    /// [`SymbolSpec`] (filters for quantize and the minimum checks, trading status), on any
    /// venue: Binance exchangeInfo (with its rate limits), OKX instruments, Kraken AssetPairs.
    ///
    /// # Errors
    /// A description of the failure.
    pub fn refresh_symbol_rules(&mut self) -> Result<(), String> {
        self.refresh_exchange_info()
    }

    fn reconcile_open_orders(&mut self, report: &mut ReconcileReport) {
        if matches!(self.entry, Entry::Other { .. }) {
            return self.reconcile_open_orders_entry(report);
        }
        let syms: Vec<String> = self
            .symbols
            .iter()
            .flatten()
            .map(|s| s.symbol.clone())
            .collect();
        for sym in syms {
            let body = match binance!(self).call(
                Method::Get,
                "/api/v3/openOrders",
                &[("symbol", &sym)],
                true,
            ) {
                Ok(r) if r.status == 200 => r.body.to_vec(),
                _ => continue,
            };
            let Ok(open) = serde_json::from_slice::<Vec<OrderBody<'_>>>(&body) else {
                continue;
            };
            for o in &open {
                let ours = ClOrdId::parse_seq(&self.cfg.run_id, o.client_order_id.as_bytes())
                    .ok()
                    .filter(|s| self.orders.contains_key(s));
                if ours.is_some() {
                    continue;
                }
                self.alert(AlertKind::UnknownOpenOrder, 0);
                let mut cancelled = false;
                if self.cfg.unknown_orders == UnknownOrders::Cancel {
                    let id = o.order_id.to_string();
                    cancelled = matches!(
                        binance!(self).call(
                            Method::Delete,
                            "/api/v3/order",
                            &[("symbol", &sym), ("orderId", &id)],
                            true
                        ),
                        Ok(r) if r.status == 200
                    );
                }
                report.foreign.push(ForeignOrder {
                    symbol: sym.clone(),
                    order_id: o.order_id,
                    client_order_id: o.client_order_id.to_owned(),
                    cancelled,
                });
            }
        }
    }

    /// `GET /api/v3/account` balances.
    ///
    /// # Errors
    /// A description of the failure.
    pub fn balances(&mut self) -> Result<Vec<Balance>, String> {
        if matches!(self.entry, Entry::Other { .. }) {
            return self.balances_entry();
        }
        let r = binance!(self, Ok(Vec::new()))
            .call(
                Method::Get,
                "/api/v3/account",
                &[("omitZeroBalances", "true")],
                true,
            )
            .map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!("account: HTTP {}", r.status));
        }
        let a: AccountBody<'_> = serde_json::from_slice(r.body).map_err(|e| e.to_string())?;
        Ok(a.balances
            .iter()
            .map(|b| Balance {
                asset: b.asset.to_owned(),
                free: b.free.parse().unwrap_or_default(),
                locked: b.locked.parse().unwrap_or_default(),
            })
            .collect())
    }
}

/// A venue balance that differs from what the fills explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceDiff {
    /// Asset.
    pub asset: String,
    /// Baseline + net fills of this run.
    pub expected: Decimal,
    /// Free + locked at the venue now.
    pub venue: Decimal,
}

impl Oms {
    /// Compares the venue's balances (free + locked) of every configured symbol's assets with
    /// `baseline` (balances read at the start of the run) plus the net fills this OMS applied;
    /// each difference raises a `BalanceMismatch` alert. Deposits, withdrawals or another
    /// trader on the account show up here.
    ///
    /// # Errors
    /// A description of a failed balance read.
    pub fn check_balances(&mut self, baseline: &[Balance]) -> Result<Vec<BalanceDiff>, String> {
        let now = self.balances()?;
        let total = |v: &[Balance], a: &str| {
            v.iter()
                .find(|b| b.asset == a)
                .map_or(Decimal::ZERO, |b| b.free + b.locked)
        };
        let mut expected: Vec<(String, Decimal)> = Vec::new();
        for spec in self.symbols.iter().flatten() {
            let p = self.positions.get(self.cfg.venue, spec.instrument);
            let scale = spec.px_scale as u32 + spec.qty_scale as u32;
            for (asset, delta) in [
                (
                    &spec.base_asset,
                    Decimal::new(p.base, spec.qty_scale as u32),
                ),
                (
                    &spec.quote_asset,
                    Decimal::from_i128_with_scale(p.quote, scale),
                ),
            ] {
                match expected.iter_mut().find(|(a, _)| a == asset) {
                    Some((_, d)) => *d += delta,
                    None => expected.push((asset.clone(), delta)),
                }
            }
        }
        let mut diffs = Vec::new();
        for (asset, delta) in expected {
            let want = total(baseline, &asset) + delta;
            let got = total(&now, &asset);
            if want != got {
                diffs.push(BalanceDiff {
                    asset,
                    expected: want,
                    venue: got,
                });
            }
        }
        for _ in &diffs {
            self.alert(AlertKind::BalanceMismatch, 0);
        }
        Ok(diffs)
    }
}

/// Filters of an exchangeInfo symbol.
pub fn filters_of(s: &crate::binance::response::SymbolBody<'_>) -> Filters {
    let d = |v: Option<&str>| {
        v.and_then(|t| t.parse::<Decimal>().ok())
            .unwrap_or_default()
    };
    let mut f = Filters::default();
    for x in &s.filters {
        match x.filter_type {
            "PRICE_FILTER" => {
                f.min_price = d(x.min_price);
                f.max_price = d(x.max_price);
                f.tick_size = d(x.tick_size);
            }
            "LOT_SIZE" => {
                f.min_qty = d(x.min_qty);
                f.max_qty = d(x.max_qty);
                f.step_size = d(x.step_size);
            }
            "NOTIONAL" => {
                f.min_notional = d(x.min_notional);
                f.max_notional = d(x.max_notional);
            }
            "MIN_NOTIONAL" => f.min_notional = d(x.min_notional),
            _ => {}
        }
    }
    f
}

/// Quantizes an intent's price and quantity through the symbol's filters, back to mantissas.
///
/// # Errors
/// [`FilterError`].
pub fn quantize(spec: &SymbolSpec, it: &OrderIntent) -> Result<(i64, i64), FilterError> {
    let px = to_decimal(it.px.0, spec.px_scale);
    let qty = to_decimal(it.qty.0, spec.qty_scale);
    let (p, q) = spec.filters.apply(
        px,
        qty,
        it.side == Side::Buy,
        it.ord_type == OrdType::Market,
    )?;
    Ok((
        to_mantissa(p, spec.px_scale).ok_or(FilterError::Scale)?,
        to_mantissa(q, spec.qty_scale).ok_or(FilterError::Scale)?,
    ))
}

/// A u64 as decimal text in a small inline buffer.
struct ItoaBuf {
    b: [u8; 20],
    n: usize,
}

impl ItoaBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.b[20 - self.n..]).unwrap_or("0")
    }
}

fn itoa_buf(mut v: u64) -> ItoaBuf {
    let mut b = [0u8; 20];
    let mut n = 0;
    loop {
        n += 1;
        b[20 - n] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    ItoaBuf { b, n }
}
