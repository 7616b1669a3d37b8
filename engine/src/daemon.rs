//! Start-up and shutdown of the engine daemon: config -> segment -> plan -> threads -> wait for a
//! signal -> stop cleanly.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{Context, Result};
use lyra_amrc::{Amrc, AuditLog};
use lyra_shm::{
    clock::{Clock, LiveClock},
    control::{ControlSegment, Counter, CreateOpts, LockStatus},
    msg::OrderIntent,
};

use crate::{
    config::Config,
    monitor::Monitor,
    runtime::{
        plan::{plan, StageKind},
        stage::Stage,
        thread::Runtime,
    },
    stages::{order_gate::OrderGate, slot_source::SlotSource},
    stats::EngineStats,
};

pub mod order_entry;
pub mod pipeline;

/// Runs the engine until SIGTERM/SIGINT (or `stop` is set), then stops cleanly.
///
/// # Errors
/// Start-up failures (segment, pinning, threads), each naming what failed.
pub fn run(cfg: &Config, stop: Arc<AtomicBool>) -> Result<()> {
    run_with_stats(cfg, stop, Arc::new(EngineStats::default()))
}

/// [`run`], updating `stats` (the in-process demo and tests read them while it runs).
///
/// # Errors
/// As [`run`].
pub fn run_with_stats(cfg: &Config, stop: Arc<AtomicBool>, stats: Arc<EngineStats>) -> Result<()> {
    run_with(cfg, stop, stats, None)
}

/// [`run_with_stats`], also copying every approved intent, in order, into `intent_log` (the demo's
/// `--intent-log` and integration tests check what was sent against the simulator's oracle).
///
/// # Errors
/// As [`run`].
pub fn run_with(
    cfg: &Config,
    stop: Arc<AtomicBool>,
    stats: Arc<EngineStats>,
    intent_log: Option<lyra_shm::ring::Producer<OrderIntent>>,
) -> Result<()> {
    // Read the core list once, before any thread pins itself (DESIGN §4).
    let cores = core_affinity::get_core_ids();
    let plan = plan(&cfg.threads, cores.as_deref()).context("planning threads")?;

    let seg = Arc::new(
        ControlSegment::create(&cfg.paths.segment, &CreateOpts::default())
            .with_context(|| format!("creating control segment {}", cfg.paths.segment.display()))?,
    );
    if let LockStatus::Failed { errno } = seg.lock_status() {
        tracing::warn!(
            errno,
            "control segment not mlocked (RLIMIT_MEMLOCK?): the first halt may take a page fault"
        );
    }
    // A panic anywhere trips the halt before the process dies (DESIGN §3).
    lyra_amrc::install_panic_trip(seg.clone());
    let amrc = Arc::new(Amrc::new(seg.clone(), AuditLog::new(&cfg.paths.audit)));
    let clock: Arc<dyn Clock> = Arc::new(LiveClock);

    // Build the stages and hand each to the thread the layout puts it on.
    let mut built = if cfg.has_pipeline() {
        pipeline::build(cfg, &seg, &clock, &stats, intent_log)
            .context("building the trading pipeline")?
    } else {
        let (tx, rx) = lyra_shm::ring::channel::<OrderIntent>(cfg.order_stage.ring_capacity);
        pipeline::Built {
            feed: None,
            book: None,
            strategy: Some(Box::new(SlotSource::new(
                tx,
                cfg.order_stage.send_slots_per_s,
                seg.clone(),
            ))),
            order: Some(Box::new(OrderGate::new(rx, seg.clone()))),
            audit: None,
        }
    };
    let mut threads = Vec::new();
    let mut stage_lists = Vec::new();
    for tp in &plan {
        let mut list: Vec<Box<dyn Stage>> = Vec::new();
        for kind in &tp.stages {
            match kind {
                StageKind::Feed => list.extend(built.feed.take()),
                StageKind::Book => list.extend(built.book.take()),
                StageKind::Strategy => list.extend(built.strategy.take()),
                StageKind::Order => list.extend(built.order.take()),
            }
        }
        if list.is_empty() {
            tracing::info!(thread = %tp.name, "no stages configured for this thread; not started");
            continue;
        }
        threads.push(tp.clone());
        stage_lists.push(list);
    }
    let mut rt = Runtime::spawn(
        &threads,
        stage_lists,
        cfg.threads.wait,
        seg.clone(),
        clock.clone(),
    )
    .context("starting hot threads")?;
    let mut monitor =
        Monitor::start(amrc, clock, cfg.threads.stuck_ms).context("starting monitor")?;
    for t in &threads {
        tracing::info!(thread = %t.name, core = ?t.core.map(|c| c.id), "hot thread running");
    }
    tracing::info!(segment = %cfg.paths.segment.display(), layout = ?cfg.threads.layout, wait = ?cfg.threads.wait, "engine running");

    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(20));
        publish_stats(&seg, &stats);
        if !rt.all_alive() {
            // A hot thread ended on its own: the panic hook has tripped the halt already.
            tracing::error!("a hot thread died; halting and stopping");
            break;
        }
    }
    tracing::info!("stopping: no new orders, draining");
    rt.stop();
    publish_stats(&seg, &stats);
    if let Some(mut a) = built.audit.take() {
        a.stop();
        tracing::info!(records = a.written(), path = %a.path().display(), "decision audit closed");
    }
    monitor.stop();
    tracing::info!(
        attempted = seg.get(Counter::SendsAttempted),
        sent = seg.get(Counter::SendsDone),
        refused_halted = seg.get(Counter::SendsRefusedHalted),
        "engine stopped"
    );
    Ok(())
}

/// Copies the pipeline's stats into the control segment's counters and latency histograms (read
/// by `lyra status` and the gate), from the supervising thread, never from a hot one.
fn publish_stats(seg: &ControlSegment, stats: &EngineStats) {
    use std::sync::atomic::Ordering::Relaxed;
    let valid: u64 = stats.books_valid.iter().map(|c| c.load(Relaxed)).sum();
    let pairs = [
        (Counter::MdEvents, stats.md_events.load(Relaxed)),
        (Counter::Tops, stats.tops.load(Relaxed)),
        (Counter::Intents, stats.intents.load(Relaxed)),
        (Counter::ArbGroups, stats.arb_groups_sent.load(Relaxed)),
        (Counter::MmFills, stats.mm_fills.load(Relaxed)),
        (Counter::OrderRequests, stats.order_requests.load(Relaxed)),
        (Counter::BooksValid, valid),
        (Counter::BooksStale, stats.books_stale.load(Relaxed)),
        (
            Counter::TickToOrderP50Ns,
            stats.tick_to_order.quantile(0.5).unwrap_or(0),
        ),
        (
            Counter::TickToOrderP99Ns,
            stats.tick_to_order.quantile(0.99).unwrap_or(0),
        ),
        (
            Counter::FrameToBookP50Ns,
            stats.frame_to_book.quantile(0.5).unwrap_or(0),
        ),
        (
            Counter::BookToIntentP50Ns,
            stats.book_to_intent.quantile(0.5).unwrap_or(0),
        ),
        (
            Counter::IntentToRequestP50Ns,
            stats.intent_to_request.quantile(0.5).unwrap_or(0),
        ),
    ];
    for (c, v) in pairs {
        seg.store_counter(c, v);
    }
    if let Err(e) = stats.publish_histograms(seg) {
        tracing::warn!(error = %e, "latency histograms not published this period");
    }
}
