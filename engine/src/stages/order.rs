//! The order stage: approved intents -> the venue's OMS (halt re-check right before the write,
//! journal, sign, send) -> execution reports back to the strategy stage. Intents an OMS refuses
//! before the venue come back as `Rejected` reports so risk and the strategies release them.

use std::{
    collections::HashMap,
    sync::{atomic::Ordering::Relaxed, Arc},
};

use lyra_oms::{Oms, OmsError};
use lyra_shm::{
    clock::{Clock, Nanos},
    control::{ControlSegment, Counter},
    msg::{ExecReport, IntentAction, OrderState, VenueId, MAX_VENUES},
    ring::{Consumer, Producer},
};

use super::strategy::Approved;
use crate::{
    audit::{AuditTx, Record},
    config::MdDisconnectPolicy,
};
use crate::{runtime::stage::Stage, stats::EngineStats};

/// Intents submitted per poll (each is a blocking loopback/network round trip).
const BATCH: usize = 16;

/// Where approved intents go.
pub trait OrderSink: Send {
    /// Sends one approved intent; `Err(halted)` when refused before the venue.
    fn submit(&mut self, a: &Approved) -> Result<(), bool>;
    /// Advances background work (fills of working orders, SENT_UNKNOWN, kill on halt).
    fn poll(&mut self);
    /// Moves queued execution reports into `out`.
    fn drain_reports(&mut self, out: &mut Vec<ExecReport>);
    /// Order requests written so far.
    fn requests(&self) -> u64;
    /// Cancels what is working (shutdown).
    fn cancel_all(&mut self) {}
    /// `venue`'s market data dropped: cancels the open orders of that venue (`policy` `venue`)
    /// or of every venue (`all`), audits it, and returns the cancels asked for.
    fn cancel_on_md_down(&mut self, _venue: VenueId, _policy: MdDisconnectPolicy) -> u32 {
        0
    }
    /// Last words at shutdown (the daily statement).
    fn finish(&mut self) {}
}

/// Where and how the OMS set writes its daily statement.
#[derive(Debug, Clone)]
pub struct StatementSpec {
    /// Directory of `statement-<run>-<day>.json`.
    pub dir: std::path::PathBuf,
    /// Run id.
    pub run: String,
    /// Venue names by id.
    pub venues: Vec<String>,
    /// Instrument names, scales (price, quantity) by index.
    pub instruments: Vec<(String, u8, u8)>,
}

/// One OMS per venue, indexed by venue id.
pub struct OmsSet {
    oms: Vec<Option<Oms>>,
    events: u64,
    audit: Option<AuditTx>,
    statement: Option<StatementSpec>,
}

impl OmsSet {
    /// The set; `oms[v]` serves venue `v`.
    pub fn new(oms: Vec<Option<Oms>>) -> Self {
        Self {
            oms,
            events: 0,
            audit: None,
            statement: None,
        }
    }

    /// Writes a daily statement at shutdown per `spec`.
    pub fn with_statement(mut self, spec: StatementSpec) -> Self {
        self.statement = Some(spec);
        self
    }

    /// The statement: realised cash flow net of fees per venue and instrument, from fills only
    /// (base change and quote change; summed over venues, a flat base means the quote change is
    /// the realised PnL), then its SHA-256 into the decision audit chain.
    fn write_statement(&mut self) -> std::io::Result<()> {
        let Some(spec) = &self.statement else {
            return Ok(());
        };
        let wall = lyra_shm::clock::wall_now_ns();
        let day = wall / 86_400_000_000_000;
        let mut rows = Vec::new();
        let mut totals = Vec::new();
        for (i, (name, px_scale, qty_scale)) in spec.instruments.iter().enumerate() {
            let (mut base, mut quote, mut fills) = (0i64, 0i128, 0u64);
            for (v, o) in self.oms.iter().enumerate() {
                let Some(o) = o else { continue };
                let p = o.positions().get(
                    lyra_shm::msg::VenueId(v as u8),
                    lyra_shm::msg::InstrumentIdx(i as u16),
                );
                if p.fills == 0 {
                    continue;
                }
                base += p.base;
                quote += p.quote;
                fills += p.fills;
                rows.push(format!(
                    "{{\"venue\":\"{}\",\"instrument\":\"{name}\",\"fills\":{},\"base_change\":\"{}\",\"quote_change_net_of_fees\":\"{}\"}}",
                    spec.venues.get(v).map_or("?", String::as_str),
                    p.fills,
                    decimal(i128::from(p.base), *qty_scale),
                    decimal(p.quote, px_scale + qty_scale)
                ));
            }
            totals.push(format!(
                "{{\"instrument\":\"{name}\",\"fills\":{fills},\"base_change\":\"{}\",\"quote_change_net_of_fees\":\"{}\"}}",
                decimal(i128::from(base), *qty_scale),
                decimal(quote, px_scale + qty_scale)
            ));
        }
        let text = format!(
            "{{\"run\":\"{}\",\"day\":{day},\"written_wall_ns\":{wall},\"by_venue\":[{}],\"by_instrument\":[{}]}}\n",
            spec.run,
            rows.join(","),
            totals.join(",")
        );
        std::fs::create_dir_all(&spec.dir)?;
        let path = spec.dir.join(format!("statement-{}-{day}.json", spec.run));
        std::fs::write(&path, &text)?;
        let hex = lyra_amrc::audit::sha256_hex(text.as_bytes());
        std::fs::write(path.with_extension("json.sha256"), format!("{hex}\n"))?;
        let mut sha256 = [0u8; 32];
        for (k, b) in sha256.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * k..2 * k + 2).unwrap_or("00"), 16).unwrap_or(0);
        }
        if let Some(a) = &mut self.audit {
            a.push(Record::Statement {
                day,
                sha256,
                wall_ns: wall,
            });
        }
        Ok(())
    }

    /// Sends every OMS audit event (requests, responses, fills, alerts) to the decision audit.
    pub fn with_audit(mut self, tx: AuditTx) -> Self {
        self.audit = Some(tx);
        self
    }

    /// Audit events drained so far.
    pub fn events(&self) -> u64 {
        self.events
    }
}

impl OrderSink for OmsSet {
    fn submit(&mut self, a: &Approved) -> Result<(), bool> {
        let v = a.approved.intent().venue.0 as usize;
        let Some(Some(oms)) = self.oms.get_mut(v) else {
            return Err(false);
        };
        match oms.submit(a.approved) {
            Ok(_) => Ok(()),
            Err(OmsError::Halted { .. }) => Err(true),
            Err(e) => {
                tracing::debug!(error = %e, "order refused before the venue");
                Err(false)
            }
        }
    }

    fn poll(&mut self) {
        for o in self.oms.iter_mut().flatten() {
            if let Err(e) = o.poll() {
                tracing::warn!(error = %e, "oms poll");
            }
            for event in o.drain_events() {
                self.events += 1;
                if let Some(a) = &mut self.audit {
                    a.push(Record::Order { event });
                }
            }
        }
    }

    fn drain_reports(&mut self, out: &mut Vec<ExecReport>) {
        for o in self.oms.iter_mut().flatten() {
            out.extend(o.drain_reports());
        }
    }

    fn requests(&self) -> u64 {
        self.oms
            .iter()
            .flatten()
            .map(|o| o.stats().order_requests)
            .sum()
    }

    fn cancel_all(&mut self) {
        for o in self.oms.iter_mut().flatten() {
            if let Err(e) = o.cancel_all() {
                tracing::warn!(error = %e, "cancel on shutdown");
            }
        }
    }

    fn cancel_on_md_down(&mut self, venue: VenueId, policy: MdDisconnectPolicy) -> u32 {
        let mut cancels = 0u64;
        for (v, o) in self.oms.iter_mut().enumerate() {
            let Some(o) = o else { continue };
            if policy == MdDisconnectPolicy::None
                || (policy == MdDisconnectPolicy::Venue && v != venue.0 as usize)
            {
                continue;
            }
            let before = o.stats().kill_cancels;
            if let Err(e) = o.cancel_all() {
                tracing::warn!(venue = v, error = %e, "cancel on market-data disconnect");
            }
            cancels += o.stats().kill_cancels - before;
        }
        let cancels = u32::try_from(cancels).unwrap_or(u32::MAX);
        if let Some(a) = &mut self.audit {
            a.push(Record::MdDisconnect {
                venue,
                policy,
                cancels,
                wall_ns: lyra_shm::clock::wall_now_ns(),
            });
        }
        cancels
    }

    fn finish(&mut self) {
        // The cancels' events first, so the audit ends with the statement.
        self.poll();
        if let Err(e) = self.write_statement() {
            tracing::warn!(error = %e, "daily statement not written");
        }
    }
}

/// `v / 10^scale` as exact decimal text.
fn decimal(v: i128, scale: u8) -> String {
    let d = 10i128.pow(u32::from(scale));
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let d = d.unsigned_abs();
    format!("{sign}{}.{:0w$}", a / d, a % d, w = scale as usize)
}

/// The order stage.
pub struct OrderStage {
    input: Consumer<Approved>,
    reports: Producer<ExecReport>,
    sink: Box<dyn OrderSink>,
    seg: Arc<ControlSegment>,
    clock: Arc<dyn Clock>,
    stats: Arc<EngineStats>,
    /// Reports not yet accepted by the ring, oldest first.
    pending: Vec<ExecReport>,
    /// Last state per intent (for intents-by-state).
    states: HashMap<u64, OrderState>,
    /// `oms.cancel_on_md_disconnect`.
    md_policy: MdDisconnectPolicy,
    /// The segment's market-data down sequence as last handled.
    md_seen_seq: u64,
    /// Per venue: the market-data down epoch as last handled.
    md_seen_epochs: [u32; MAX_VENUES],
}

impl OrderStage {
    /// A stage sending through `sink`.
    pub fn new(
        input: Consumer<Approved>,
        reports: Producer<ExecReport>,
        sink: Box<dyn OrderSink>,
        seg: Arc<ControlSegment>,
        clock: Arc<dyn Clock>,
        stats: Arc<EngineStats>,
    ) -> Self {
        Self {
            input,
            reports,
            sink,
            seg,
            clock,
            stats,
            pending: Vec::with_capacity(4_096),
            states: HashMap::with_capacity(16_384),
            md_policy: MdDisconnectPolicy::None,
            md_seen_seq: 0,
            md_seen_epochs: [0; MAX_VENUES],
        }
        .with_md_policy(MdDisconnectPolicy::None)
    }

    /// Cancels open orders per `policy` once per market-data disconnect of a venue (the book
    /// stage publishes it in the segment, [`super::book::BookStage::with_md_status`]). Only
    /// disconnects after this call count. Under `venue` and `all`, a new order to a venue
    /// whose market data is down is also refused here (risk already refuses it on the
    /// invalid book; this catches one approved before the drop and still in the ring).
    #[must_use]
    pub fn with_md_policy(mut self, policy: MdDisconnectPolicy) -> Self {
        self.md_policy = policy;
        self.md_seen_seq = self.seg.md_down_seq();
        for (v, e) in self.md_seen_epochs.iter_mut().enumerate() {
            *e = self.seg.md_down_epoch(VenueId(v as u8));
        }
        self
    }

    /// Applies the policy to every venue whose market data went down since the last look.
    fn on_md_down(&mut self) {
        self.md_seen_seq = self.seg.md_down_seq();
        for v in 0..MAX_VENUES {
            let venue = VenueId(v as u8);
            let e = self.seg.md_down_epoch(venue);
            if e == self.md_seen_epochs[v] {
                continue;
            }
            self.md_seen_epochs[v] = e;
            tracing::warn!(
                venue = v,
                policy = self.md_policy.name(),
                "market data down: applying cancel_on_md_disconnect"
            );
            if self.md_policy != MdDisconnectPolicy::None {
                self.sink.cancel_on_md_down(venue, self.md_policy);
            }
        }
    }

    fn note(&mut self, r: &ExecReport) {
        let prev = self.states.insert(r.intent_seq, r.state);
        if prev != Some(r.state) {
            self.stats.move_state(prev, r.state);
        }
    }

    fn flush_reports(&mut self) -> usize {
        let mut fresh = std::mem::take(&mut self.pending);
        let before = fresh.len();
        self.sink.drain_reports(&mut fresh);
        for r in &fresh[before..] {
            let r = *r;
            self.note(&r);
        }
        let mut sent = 0;
        for r in &fresh {
            if self.reports.push(*r).is_err() {
                break;
            }
            sent += 1;
        }
        if sent < fresh.len() {
            self.stats
                .report_ring_full
                .fetch_add((fresh.len() - sent) as u64, Relaxed);
        }
        fresh.drain(..sent);
        self.pending = fresh;
        sent
    }
}

impl Stage for OrderStage {
    fn name(&self) -> &'static str {
        "order"
    }

    fn poll(&mut self, _now_ns: Nanos) -> usize {
        let mut n = 0;
        // One Acquire load per poll; the venues are looked at only after a disconnect.
        if self.seg.md_down_seq() != self.md_seen_seq {
            self.on_md_down();
        }
        for _ in 0..BATCH {
            let Some(a) = self.input.pop() else {
                break;
            };
            n += 1;
            let it = *a.approved.intent();
            self.seg.add(Counter::SendsAttempted, 1);
            let before = self.sink.requests();
            let md_down = self.md_policy != MdDisconnectPolicy::None
                && it.action == IntentAction::New
                && self.seg.is_md_down(it.venue);
            let sent = if md_down {
                Err(false)
            } else {
                self.sink.submit(&a)
            };
            match sent {
                Ok(()) => {
                    self.seg.add(Counter::SendsDone, 1);
                    if self.sink.requests() > before {
                        let now = self.clock.wall_ns();
                        self.stats
                            .intent_to_request
                            .record(now.saturating_sub(a.approved_wall_ns));
                        if a.tick_wall_ns != 0 {
                            self.stats
                                .tick_to_order
                                .record(now.saturating_sub(a.tick_wall_ns));
                        }
                    }
                }
                Err(halted) => {
                    self.stats.oms_refused.fetch_add(1, Relaxed);
                    if halted {
                        self.stats.oms_refused_halted.fetch_add(1, Relaxed);
                        self.seg.add(Counter::SendsRefusedHalted, 1);
                    }
                    // Nothing reached the venue: risk and the strategies release the intent.
                    let r = ExecReport {
                        intent_seq: it.intent_seq,
                        group_id: it.group_id,
                        instrument: it.instrument,
                        venue: it.venue,
                        side: it.side,
                        state: OrderState::Rejected,
                        recv_ts: self.clock.wall_ns(),
                        ..Default::default()
                    };
                    self.pending.push(r);
                    self.note(&r);
                }
            }
        }
        self.sink.poll();
        self.stats
            .order_requests
            .store(self.sink.requests(), Relaxed);
        n + self.flush_reports()
    }

    fn stop(&mut self, _now_ns: Nanos) {
        self.sink.cancel_all();
        self.sink.finish();
        self.flush_reports();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lyra_shm::{clock::ManualClock, control::CreateOpts, ring::channel};

    use super::*;

    /// Records the market-data cancels the stage asks for.
    struct Calls(Arc<Mutex<Vec<(VenueId, MdDisconnectPolicy)>>>);

    impl OrderSink for Calls {
        fn submit(&mut self, _a: &Approved) -> Result<(), bool> {
            Ok(())
        }
        fn poll(&mut self) {}
        fn drain_reports(&mut self, _out: &mut Vec<ExecReport>) {}
        fn requests(&self) -> u64 {
            0
        }
        fn cancel_on_md_down(&mut self, venue: VenueId, policy: MdDisconnectPolicy) -> u32 {
            self.0.lock().unwrap().push((venue, policy));
            0
        }
    }

    #[test]
    fn each_disconnect_is_acted_on_once_per_policy() {
        let path = std::path::PathBuf::from(format!(
            "/dev/shm/lyra-test-order-md-{}-{}",
            std::process::id(),
            lyra_shm::clock::mono_now_ns()
        ));
        let seg = Arc::new(ControlSegment::create(&path, &CreateOpts::default()).unwrap());
        // A disconnect before the stage starts is not acted on.
        seg.set_md_down(VenueId(2)).unwrap();
        let mut stages: Vec<_> = [MdDisconnectPolicy::None, MdDisconnectPolicy::Venue]
            .into_iter()
            .map(|policy| {
                let calls = Arc::new(Mutex::new(Vec::new()));
                let (_tx, rx) = channel::<Approved>(4);
                let (rep_tx, _rep_rx) = channel(4);
                let stage = OrderStage::new(
                    rx,
                    rep_tx,
                    Box::new(Calls(calls.clone())),
                    seg.clone(),
                    Arc::new(ManualClock::new(1)),
                    Arc::new(EngineStats::default()),
                )
                .with_md_policy(policy);
                (stage, calls)
            })
            .collect();
        let mut poll_all = |n: usize| {
            for _ in 0..n {
                for (s, _) in &mut stages {
                    s.poll(0);
                }
            }
        };
        poll_all(3);
        seg.set_md_down(VenueId(1)).unwrap();
        poll_all(3);
        seg.set_md_up(VenueId(1)).unwrap();
        seg.set_md_down(VenueId(1)).unwrap();
        seg.set_md_down(VenueId(4)).unwrap();
        poll_all(3);
        let _ = std::fs::remove_file(&path);
        assert!(stages[0].1.lock().unwrap().is_empty(), "none: no cancels");
        let v = MdDisconnectPolicy::Venue;
        assert_eq!(
            *stages[1].1.lock().unwrap(),
            [(VenueId(1), v), (VenueId(1), v), (VenueId(4), v)],
            "venue: once per disconnect, each for its venue"
        );
    }
}
