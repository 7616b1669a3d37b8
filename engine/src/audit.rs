//! The decision audit writer, off the hot path: the strategy and order stages push fixed-size
//! [`Record`]s into SPSC rings (no allocation, no lock, no syscall on their threads); one
//! background thread drains the rings every few milliseconds and appends the records, in batches
//! (one lock, fsync and SQLite transaction each), to the AMRC's audit store: daily JSONL files and
//! SQLite, one SHA-256 chain, so `lyra doctor --audit PATH` verifies it and names the first broken
//! record. Correlation ids on every record, as fields and SQLite columns: run, cycle (the strategy
//! stage's poll that decided), decision (the group id), intent (the sequence).
//!
//! A full ring drops the record and counts it (`Counter::RecordWritesSkipped`): the audit never
//! slows trading down.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use lyra_amrc::audit::{AuditEvent, AuditLog};
use lyra_shm::{
    control::{ControlSegment, Counter},
    msg::{OrderIntent, OrderState, Px, Qty, VenueId},
    ring::{channel, Producer},
};

/// Capacity of each stage's audit ring.
pub const RING: usize = 1 << 14;

/// One audited fact, `Copy` so it travels through a ring.
#[derive(Debug, Clone, Copy)]
pub enum Record {
    /// The strategies decided an intent and risk approved it.
    Approved {
        /// Strategy stage poll count.
        cycle: u64,
        /// The intent.
        intent: OrderIntent,
        /// Wall ns.
        wall_ns: u64,
    },
    /// An intent dropped before the venue (risk refusal code, or 255 = edge gone at send).
    Refused {
        /// Strategy stage poll count.
        cycle: u64,
        /// The intent.
        intent: OrderIntent,
        /// `lyra_risk::Refusal` code, 254 = ring full, 255 = edge gone at send time.
        code: u8,
        /// Wall ns.
        wall_ns: u64,
    },
    /// The OMS moved an order (request, response, fill, cancel...).
    Order {
        /// The OMS's event.
        event: lyra_oms::order::AuditEvent,
    },
    /// A venue's market data dropped (or went stale) and the order stage applied
    /// `oms.cancel_on_md_disconnect`: the cancels it asked the OMS for (their requests and
    /// answers follow as `Order` records).
    MdDisconnect {
        /// The venue whose market data dropped.
        venue: VenueId,
        /// The policy applied (`none`, `venue` or `all`).
        policy: crate::config::MdDisconnectPolicy,
        /// Open orders the OMS was asked to cancel.
        cancels: u32,
        /// Wall ns.
        wall_ns: u64,
    },
    /// A daily statement was written: its day (days since the epoch) and SHA-256.
    Statement {
        /// Days since the Unix epoch (UTC).
        day: u64,
        /// SHA-256 of the statement file.
        sha256: [u8; 32],
        /// Wall ns.
        wall_ns: u64,
    },
}

/// What a stage holds to audit: its end of a ring and the segment for the skip counter.
pub struct AuditTx {
    tx: Producer<Record>,
    seg: Arc<ControlSegment>,
}

impl AuditTx {
    /// Queues `r`; a full ring counts a skipped write instead of waiting.
    #[inline]
    pub fn push(&mut self, r: Record) {
        if self.tx.push(r).is_err() {
            self.seg.add(Counter::RecordWritesSkipped, 1);
        }
    }
}

/// The writer thread.
pub struct AuditWriter {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
    path: PathBuf,
}

fn side(s: lyra_shm::msg::Side) -> &'static str {
    match s {
        lyra_shm::msg::Side::Buy => "buy",
        lyra_shm::msg::Side::Sell => "sell",
    }
}

fn state(s: OrderState) -> &'static str {
    crate::stats::state_name(s)
}

fn intent_text(run: &str, cycle: u64, i: &OrderIntent) -> String {
    format!(
        "{{\"run\":\"{run}\",\"cycle\":{cycle},\"decision\":{},\"intent\":{},\"strategy\":{},\"venue\":{},\
         \"instrument\":{},\"side\":\"{}\",\"action\":\"{:?}\",\"px\":{},\"qty\":{},\"book_seq\":{},\"decided_ts\":{}}}",
        i.group_id,
        i.intent_seq,
        i.strategy,
        i.venue.0,
        i.instrument.0,
        side(i.side),
        i.action,
        i.px.0,
        i.qty.0,
        i.book_seq,
        i.decided_ts
    )
}

/// The kind, wall time, body and intent of an OMS event.
fn order_text(run: &str, e: &lyra_oms::order::AuditEvent) -> (String, u64, String, u64) {
    use lyra_oms::order::AuditEvent as E;
    let v = |v: VenueId| v.0;
    let (px, qty) = (|p: Px| p.0, |q: Qty| q.0);
    match *e {
        E::Transition {
            intent_seq,
            venue,
            from,
            to,
            venue_order_id,
            cum_qty,
            venue_code,
            wall_ns,
        } => (
            "order_state".into(),
            wall_ns,
            format!(
                "{{\"run\":\"{run}\",\"intent\":{intent_seq},\"venue\":{},\"from\":\"{}\",\"to\":\"{}\",\
                 \"venue_order_id\":{venue_order_id},\"cum_qty\":{},\"venue_code\":{venue_code}}}",
                v(venue),
                state(from),
                state(to),
                qty(cum_qty)
            ),
            intent_seq
        ),
        E::Fill {
            intent_seq,
            venue,
            trade_id,
            px: p,
            qty: q,
            wall_ns,
        } => (
            "fill".into(),
            wall_ns,
            format!(
                "{{\"run\":\"{run}\",\"intent\":{intent_seq},\"venue\":{},\"trade_id\":{trade_id},\"px\":{},\"qty\":{}}}",
                v(venue),
                px(p),
                qty(q)
            ),
            intent_seq
        ),
        E::SafeOrder {
            intent_seq,
            venue,
            accepted,
            venue_code,
            wall_ns,
        } => (
            "safe_order".into(),
            wall_ns,
            format!(
                "{{\"run\":\"{run}\",\"intent\":{intent_seq},\"venue\":{},\"accepted\":{accepted},\"venue_code\":{venue_code}}}",
                v(venue)
            ),
            intent_seq
        ),
        E::Alert {
            kind,
            venue,
            intent_seq,
            wall_ns,
        } => (
            "alert".into(),
            wall_ns,
            format!(
                "{{\"run\":\"{run}\",\"intent\":{intent_seq},\"venue\":{},\"alert\":\"{kind:?}\"}}",
                v(venue)
            ),
            intent_seq
        ),
    }
}

/// Records appended per lock, fsync and SQLite transaction.
const BATCH: usize = 256;

/// The audit event of one ring record, with its correlation ids as fields.
fn event_of(base: &AuditEvent, run: &str, r: &Record) -> AuditEvent {
    let with = |event: &str, wall_ns: u64, text: String| AuditEvent {
        event: event.to_owned(),
        wall_ns,
        text: Some(text),
        ..base.clone()
    };
    match *r {
        Record::Approved {
            cycle,
            intent,
            wall_ns,
        } => AuditEvent {
            cycle: Some(cycle),
            decision: Some(intent.group_id),
            intent: Some(intent.intent_seq),
            ..with("intent", wall_ns, intent_text(run, cycle, &intent))
        },
        Record::Refused {
            cycle,
            intent,
            code,
            wall_ns,
        } => {
            let mut t = intent_text(run, cycle, &intent);
            t.pop();
            t.push_str(&format!(",\"refusal\":{code}}}"));
            AuditEvent {
                cycle: Some(cycle),
                decision: Some(intent.group_id),
                intent: Some(intent.intent_seq),
                ..with("refused", wall_ns, t)
            }
        }
        Record::Order { event } => {
            let (kind, wall, t, intent_seq) = order_text(run, &event);
            AuditEvent {
                intent: Some(intent_seq),
                ..with(&kind, wall, t)
            }
        }
        Record::MdDisconnect {
            venue,
            policy,
            cancels,
            wall_ns,
        } => with(
            "md_disconnect",
            wall_ns,
            format!(
                "{{\"run\":\"{run}\",\"venue\":{},\"policy\":\"{}\",\"cancels\":{cancels}}}",
                venue.0,
                policy.name()
            ),
        ),
        Record::Statement {
            day,
            sha256,
            wall_ns,
        } => {
            let hex: String = sha256.iter().map(|b| format!("{b:02x}")).collect();
            with(
                "statement",
                wall_ns,
                format!("{{\"run\":\"{run}\",\"day\":{day},\"sha256\":\"{hex}\"}}"),
            )
        }
    }
}

/// Appends `batch` (one lock, fsync and transaction) and empties it; a failure counts every
/// record as a skipped write.
fn flush(log: &AuditLog, batch: &mut Vec<AuditEvent>, written: &AtomicU64, seg: &ControlSegment) {
    if batch.is_empty() {
        return;
    }
    match log.append_all(batch) {
        Ok(_) => {
            written.fetch_add(batch.len() as u64, Relaxed);
        }
        Err(err) => {
            seg.add(Counter::RecordWritesSkipped, batch.len() as u64);
            tracing::warn!(error = %err, "decision audit write failed");
        }
    }
    batch.clear();
}

impl AuditWriter {
    /// Starts the writer on `path` for run `run`; returns it with one [`AuditTx`] per stage
    /// (strategy, order).
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn start(
        path: PathBuf,
        run: String,
        seg: Arc<ControlSegment>,
    ) -> std::io::Result<(Self, AuditTx, AuditTx)> {
        let (stx, mut srx) = channel::<Record>(RING);
        let (otx, mut orx) = channel::<Record>(RING);
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let (stop2, written2, path2, seg2) =
            (stop.clone(), written.clone(), path.clone(), seg.clone());
        let handle = std::thread::Builder::new()
            .name("lyra-audit".into())
            .spawn(move || {
                let log = AuditLog::new(&path2);
                let base = AuditEvent {
                    source: "engine".into(),
                    run: Some(run.clone()),
                    segment_id: seg2.segment_id(),
                    pid: std::process::id(),
                    ..AuditEvent::default()
                };
                let mut batch: Vec<AuditEvent> = Vec::with_capacity(BATCH);
                loop {
                    let stopping = stop2.load(Relaxed);
                    let mut n = 0;
                    for rx in [&mut srx, &mut orx] {
                        while batch.len() < BATCH {
                            let Some(r) = rx.pop() else { break };
                            batch.push(event_of(&base, &run, &r));
                        }
                        n += batch.len();
                        flush(&log, &mut batch, &written2, &seg2);
                    }
                    if stopping && n == 0 {
                        break;
                    }
                    if n == 0 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            })?;
        Ok((
            Self {
                stop,
                written,
                handle: Some(handle),
                path,
            },
            AuditTx {
                tx: stx,
                seg: seg.clone(),
            },
            AuditTx { tx: otx, seg },
        ))
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Relaxed)
    }

    /// The store's configured path (its name; see `lyra_amrc::audit::Layout`).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Drains what is queued, then ends the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use lyra_amrc::audit::{verify_store, Layout};
    use lyra_shm::control::CreateOpts;

    use super::*;

    #[test]
    fn the_writer_fills_both_sinks_with_correlation_ids() {
        let tag = format!(
            "lyra-engine-audit-{}-{}",
            std::process::id(),
            lyra_shm::clock::mono_now_ns()
        );
        let dir = std::env::temp_dir().join(&tag);
        std::fs::create_dir_all(&dir).unwrap();
        let seg_path = PathBuf::from("/dev/shm").join(&tag);
        let seg = Arc::new(ControlSegment::create(&seg_path, &CreateOpts::default()).unwrap());
        let path = dir.join("decisions.jsonl");
        let (mut w, mut strategy, mut order) =
            AuditWriter::start(path.clone(), "run7".into(), seg).unwrap();
        let intent = OrderIntent {
            intent_seq: 42,
            group_id: 5,
            ..OrderIntent::default()
        };
        strategy.push(Record::Approved {
            cycle: 9,
            intent,
            wall_ns: 1_000,
        });
        order.push(Record::Order {
            event: lyra_oms::order::AuditEvent::Fill {
                intent_seq: 42,
                venue: VenueId(1),
                trade_id: 77,
                px: Px(100),
                qty: Qty(2),
                wall_ns: 2_000,
            },
        });
        w.stop();
        assert_eq!(w.written(), 2);

        let r = verify_store(&path).unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!((r.jsonl_records, r.sqlite_records), (2, 2));
        let db = rusqlite::Connection::open(Layout::new(&path).sqlite()).unwrap();
        /// kind, run, cycle, decision, intent.
        type Row = (String, String, Option<i64>, Option<i64>, i64);
        let rows: Vec<Row> = db
            // The writer drains the two rings in turn, so sort by kind, not seq.
            .prepare("SELECT kind, run, cycle, decision, intent FROM audit ORDER BY kind")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                ("fill".into(), "run7".into(), None, None, 42),
                ("intent".into(), "run7".into(), Some(9), Some(5), 42),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&seg_path);
    }
}
