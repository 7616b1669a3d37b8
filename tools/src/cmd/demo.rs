//! `lyra demo`: the venue simulator and the engine trading against it, on loopback, with a live
//! terminal summary and a final report.
//!
//! It starts `lyra sim`'s simulator in this process with three venues, one per dialect by default
//! (`alpha` Binance, `beta` OKX, `gamma` Kraken; `--dialects` picks others), with different fees,
//! publication latency and dislocations, writes an engine config from the simulator's endpoints
//! and test accounts (a demo grant labelled as such; nothing leaves 127.0.0.1), and runs the real
//! engine pipeline on its pinned
//! threads: feeds -> books -> arbitrage + market making -> risk -> OMS. It walks the halt path an
//! operator would use: a scripted trip, during which the simulator's oracle must see no order
//! request, then a resume approved by two distinct operators (HMAC approvals over the segment id
//! and epoch), all audited in a SHA-256 chain verified at the end. While it runs,
//! `lyra halt --reason TEXT` in another terminal (same `--segment`) visibly stops new orders.
//! `--safe` sends no real order anywhere: Binance orders go to `/order/test`, Kraken's carry
//! `validate=true`, OKX's are built and checked but not sent (the OMS's SAFE path).

use std::{
    fmt::Write as _,
    io::Write as _,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use anyhow::{Context, Result};
use clap::Args;
use lyra_amrc::{
    approval::Approval,
    audit::{verify_chain, AuditLog},
    keys::{keygen, OperatorKey, OperatorKeys},
    Amrc,
};
use lyra_engine::{config::Config, stats::EngineStats};
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns},
    control::{ControlSegment, Counter, HaltReason, Note, Source},
    msg::OrderIntent,
};
use lyra_tools::gate;
use serde::Serialize;

use crate::{
    exit::Fail,
    sim::{
        config::{Dialect, SimConfig, VenueCfg},
        Sim, SimHandle,
    },
};

/// `lyra demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to run, seconds.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Control segment for the demo engine (`lyra halt --segment` the same path to halt it).
    #[arg(long, env = "LYRA_SEGMENT", default_value = "/dev/shm/lyra-control")]
    pub segment: PathBuf,
    /// Only run and watch: no scripted halt and resume.
    #[arg(long)]
    pub no_script: bool,
    /// End with one JSON report on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// SAFE mode: no real order (Binance `/api/v3/order/test`, Kraken `validate=true`, OKX built
    /// and checked but not sent).
    #[arg(long)]
    pub safe: bool,
    /// The dialect of each venue, in the order alpha,beta,gamma (binance, okx or kraken).
    #[arg(long, default_value = "binance,okx,kraken", value_parser = parse_dialects)]
    pub dialects: Dialects,
    /// Also write every approved intent, in order, to `<run dir>/intents.jsonl` (tests check them
    /// against the simulator's oracle).
    #[arg(long)]
    pub intent_log: bool,
    /// Thread layout: spread, compact or single.
    #[arg(long, default_value = "compact")]
    pub layout: String,
    /// Where the demo's gate (`lyra-gate`: /health, /metrics, dashboard) listens; port 0 picks a
    /// free port. The demo goes on without the gate if it cannot start.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub gate_listen: String,
}

/// The dialects of the demo's three venues (alpha, beta, gamma).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialects(pub [Dialect; 3]);

/// `binance,okx,kraken` -> one dialect per venue.
fn parse_dialects(text: &str) -> Result<Dialects, String> {
    let parsed: Vec<Dialect> = text
        .split(',')
        .map(|d| match d.trim().to_ascii_lowercase().as_str() {
            "binance" => Ok(Dialect::Binance),
            "okx" => Ok(Dialect::Okx),
            "kraken" => Ok(Dialect::Kraken),
            other => Err(format!("{other:?} is not a dialect (binance, okx, kraken)")),
        })
        .collect::<Result<_, _>>()?;
    let n = parsed.len();
    parsed
        .try_into()
        .map(Dialects)
        .map_err(|_| format!("{n} dialects given; one per venue (alpha,beta,gamma) is 3"))
}

/// A dialect's name as the engine config spells it (`kind`).
fn kind(d: Dialect) -> &'static str {
    match d {
        Dialect::Binance => "binance",
        Dialect::Okx => "okx",
        Dialect::Kraken => "kraken",
    }
}

/// Order requests as the simulator's oracle counted them.
#[derive(Debug, Clone, Copy, Serialize)]
struct OrderRequests {
    order: u64,
    test: u64,
    cancel: u64,
}

/// The final report.
#[derive(Debug, Serialize)]
struct Report {
    mode: &'static str,
    duration_s: f64,
    layout: String,
    venues: Vec<String>,
    /// Each venue's dialect, in `venues` order.
    dialects: Vec<&'static str>,
    instruments: Vec<String>,
    threads: usize,
    books_valid: serde_json::Map<String, serde_json::Value>,
    md_events: u64,
    tops: u64,
    arb_opportunities: u64,
    arb_groups: u64,
    arb_groups_emitted: u64,
    arb_groups_balanced: u64,
    arb_groups_one_legged: u64,
    arb_edge_net_bps: f64,
    arb_pnl_usdt: f64,
    mm_quotes: u64,
    mm_fills: u64,
    intents: u64,
    risk_refused: u64,
    risk_refused_by: serde_json::Map<String, serde_json::Value>,
    edge_gone_at_send: u64,
    intents_by_state: serde_json::Map<String, serde_json::Value>,
    order_requests: OrderRequests,
    /// The same per venue (the oracle's count of each venue's order entry requests).
    order_requests_by_venue: serde_json::Map<String, serde_json::Value>,
    order_requests_during_halt: Option<u64>,
    refused_halted: u64,
    tick_to_order_p50_ns: Option<u64>,
    tick_to_order_p99_ns: Option<u64>,
    frame_to_book_p50_ns: Option<u64>,
    book_to_intent_p50_ns: Option<u64>,
    intent_to_request_p50_ns: Option<u64>,
    halts: u64,
    resumes: u64,
    halted_at_end: bool,
    audit_records: u64,
    audit_chain_ok: bool,
    decision_audit: String,
    decision_audit_records: u64,
    decision_audit_chain_ok: bool,
    statements: String,
    run_dir: String,
    oracle: String,
    /// The gate's URL while the demo ran (`None`: it could not start).
    gate_url: Option<String>,
}

/// Venue names, fees (maker, taker bps), publication latency (steps) of the demo's venues.
const VENUES: [(&str, i64, i64, usize); 3] =
    [("alpha", 1, 2, 0), ("beta", 1, 3, 4), ("gamma", 2, 4, 8)];

/// Runs the demo.
///
/// # Errors
/// Start-up failures (segment in use, files, simulator), as a [`Fail`].
pub fn demo(args: &DemoArgs) -> Result<(), Fail> {
    run(args).map_err(Fail::Other)
}

/// The simulator of the demo: three venues (of `dialects`) whose quotes lag and jump differently,
/// so cross-venue dislocations appear every few seconds. `log_frames` puts every published frame in
/// the oracle too (with `--intent-log`, so tests can time each decision's book against the venue's).
fn sim_config(state_dir: &Path, log_frames: bool, dialects: Dialects) -> SimConfig {
    let mut c = SimConfig {
        seed: 7,
        state_dir: Some(state_dir.to_owned()),
        oracle_frames: log_frames,
        ..SimConfig::default()
    };
    c.venues = VENUES
        .iter()
        .zip(dialects.0)
        .map(|((name, maker, taker, lat), dialect)| VenueCfg {
            name: (*name).into(),
            dialect,
            maker_fee_bps: *maker,
            taker_fee_bps: *taker,
            latency_steps: *lat,
            jump_prob: 0.004,
            jump_bps: 30.0,
            lag_prob: 0.0,
            trade_prob: 0.1,
            orders_per_10s: 5_000,
            weight_per_minute: 60_000,
            ..VenueCfg::default()
        })
        .collect();
    c
}

/// Decimal text -> mantissa at 8 decimals (the demo's scale for every instrument).
fn e8(text: &str) -> Result<i64> {
    lyra_shm::decimal::parse_mantissa(text.as_bytes(), 8)
        .map_err(|e| anyhow::anyhow!("decimal {text:?}: {e:?}"))
}

/// The engine config for the simulator's endpoints and test accounts.
fn engine_config(
    args: &DemoArgs,
    sim: &SimHandle,
    sc: &SimConfig,
    creds: &Path,
    run_dir: &Path,
) -> Result<String> {
    let mode = if args.safe { "safe" } else { "live" };
    let mut t = String::new();
    writeln!(
        t,
        "# Written by `lyra demo`: the engine against the in-process simulator."
    )?;
    writeln!(t, "[engine]\nrun_id = \"demo\"")?;
    writeln!(
        t,
        "[paths]\nsegment = {:?}\naudit = {:?}\ndecisions = {:?}\nstatements = {:?}",
        args.segment,
        run_dir.join("audit.jsonl"),
        run_dir.join("decisions.jsonl"),
        run_dir.join("statements")
    )?;
    writeln!(
        t,
        "[threads]\nlayout = {:?}\nwait = \"park\"\npin = true\nstuck_ms = 2000",
        args.layout
    )?;
    writeln!(
        t,
        "[oms]\nmode = \"{mode}\"\njournal_dir = {:?}\nworking_poll_ms = 100",
        run_dir.join("journal")
    )?;
    writeln!(
        t,
        "[grant]\nlabel = \"DEMO GRANT: simulator test accounts on 127.0.0.1 only\"\nmode = \"{mode}\"\n\
         ttl_s = 3600\nmax_order_notional = {}\nmax_exposure = {}",
        20_000i64 * 100_000_000,
        1_000_000i64 * 100_000_000
    )?;
    // Market data: Binance takes the base URL, OKX and Kraken the full path (the simulator's
    // endpoint has it). Instruments are spelled per venue by the engine (`venue_symbol`); the
    // OKX passphrase is in the credentials file. Every venue's OMS takes its private order
    // stream (`user_stream` defaults on) at the simulator's private URL: Binance's WebSocket API,
    // OKX `/ws/v5/private`, Kraken `/v2` `executions`.
    for e in sim.endpoints() {
        writeln!(
            t,
            "[[venues]]\nname = {:?}\nkind = \"{}\"\nrest_url = {:?}\nmd_ws_url = {:?}\nca_file = {:?}\ncredentials_file = {:?}",
            e.venue, kind(e.dialect), e.rest, e.ws, sim.ca_path(), creds
        )?;
        writeln!(t, "ws_api_url = {:?}", e.ws_api)?;
    }
    for i in &sc.instruments {
        writeln!(
            t,
            "[[instruments]]\nname = \"{}-{}\"\nsymbol = \"{}{}\"\nbase = {:?}\nquote = {:?}\npx_scale = 8\nqty_scale = 8\ntick = {}",
            i.base, i.quote, i.base, i.quote, i.base, i.quote, e8(&i.tick)?
        )?;
    }
    writeln!(t, "[strategies]\nmax_working_orders = 256")?;
    for (v, (_, maker, taker, _)) in VENUES.iter().enumerate() {
        for (k, i) in sc.instruments.iter().enumerate() {
            writeln!(
                t,
                "[[strategies.markets]]\nvenue = {v}\ninstrument = {k}\ntick = {}\nstep = {}\nmin_qty = {}\n\
                 min_notional_raw = {}\nmaker_fee_ppm = {}\ntaker_fee_ppm = {}",
                e8(&i.tick)?,
                e8(&i.step)?,
                e8(&i.min_qty)?,
                // px x qty at 16 decimals.
                i128::from(e8(&i.min_notional)?) * 100_000_000,
                maker * 100,
                taker * 100
            )?;
        }
    }
    writeln!(
        t,
        "[strategies.arb]\nstrategy = 0\ninstruments = [{}]\nedge_bps = 2\nslippage_bps = 1\nmax_book_age_ms = 1500\n\
         leg_timeout_ms = 3000\nmax_group_qty = 2000000\nmax_open_groups = 8\n\
         max_groups_per_s = 30",
        (0..sc.instruments.len())
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    // One market maker per instrument on the cheapest venue, quoting just outside the touch.
    for k in 0..sc.instruments.len() {
        writeln!(
            t,
            "[[strategies.mm]]\nstrategy = 1\nvenue = 0\ninstrument = {k}\nqty = {}\nhalf_spread_bps = 2\n\
             max_position = {}\nskew_bps_at_max = 2\nquote_ttl_ms = 2000\nmax_cancel_replaces_per_s = 5\n\
             max_book_age_ms = 1500",
            [20_000, 200_000, 5_000_000][k % 3],
            [20_000_000, 200_000_000, 5_000_000_000i64][k % 3]
        )?;
    }
    writeln!(t, "[risk]\nmax_open_orders = 64\nmax_orders_per_s = 100")?;
    for (k, _) in sc.instruments.iter().enumerate() {
        writeln!(
            t,
            "[[risk.instruments]]\ninstrument = {k}\nmax_order_qty = {}\nmax_order_notional = {}\n\
             max_position = {}\ncollar_bps = 200\nmax_book_age_ms = 1500",
            [10_000_000, 100_000_000, 2_000_000_000i64][k % 3],
            10_000i64 * 100_000_000,
            [50_000_000, 500_000_000, 10_000_000_000i64][k % 3]
        )?;
    }
    Ok(t)
}

fn run(args: &DemoArgs) -> Result<()> {
    let run_dir = std::env::temp_dir().join(format!("lyra-demo-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let audit_path = run_dir.join("audit.jsonl");
    let sc = sim_config(&run_dir.join("sim"), args.intent_log, args.dialects);
    let sim = Sim::start(sc.clone(), None).context("starting the venue simulator")?;
    let creds = sim
        .write_config(&run_dir.join("sim.toml"))
        .context("writing the simulator's config fragment")?;
    let cfg_text = engine_config(args, &sim, &sc, &creds, &run_dir)?;
    let cfg_path = run_dir.join("engine.toml");
    std::fs::write(&cfg_path, &cfg_text)?;
    let cfg = Config::load(&cfg_path)?;
    let venues: Vec<String> = cfg.venues.iter().map(|v| v.name.clone()).collect();
    let dialects: Vec<&'static str> = sim.endpoints().iter().map(|e| kind(e.dialect)).collect();
    let venue_list = venues
        .iter()
        .zip(&dialects)
        .map(|(v, d)| format!("{v} ({d})"))
        .collect::<Vec<_>>()
        .join(", ");
    let instruments: Vec<String> = cfg.instruments.iter().map(|i| i.name.clone()).collect();
    let mode = if args.safe {
        "SAFE"
    } else {
        "LIVE-on-simulator"
    };

    // The engine runs in this process on its own pinned threads, exactly as `lyra-engine` does.
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(EngineStats::default());
    let engine_stop = stop.clone();
    let engine_cfg = cfg.clone();
    let engine_stats = stats.clone();
    let (log_tx, mut log_rx) = lyra_shm::ring::channel::<OrderIntent>(1 << 16);
    let log_tx = args.intent_log.then_some(log_tx);
    let mut log_file = if args.intent_log {
        Some(std::io::BufWriter::new(std::fs::File::create(
            run_dir.join("intents.jsonl"),
        )?))
    } else {
        None
    };
    let mut drain_log = |rx: &mut lyra_shm::ring::Consumer<OrderIntent>| -> Result<()> {
        if let Some(f) = &mut log_file {
            while let Some(i) = rx.pop() {
                serde_json::to_writer(
                    &mut *f,
                    &serde_json::json!({
                        "intent_seq": i.intent_seq, "group_id": i.group_id, "venue": i.venue.0,
                        "instrument": i.instrument.0, "side": format!("{:?}", i.side),
                        "px": i.px.0, "qty": i.qty.0, "book_seq": i.book_seq,
                        "strategy": i.strategy, "action": format!("{:?}", i.action),
                        "decided_ts": i.decided_ts,
                    }),
                )?;
                f.write_all(b"\n")?;
            }
            f.flush()?;
        }
        Ok(())
    };
    let engine = std::thread::Builder::new()
        .name("lyra-demo-main".into())
        .spawn(move || {
            lyra_engine::daemon::run_with(&engine_cfg, engine_stop, engine_stats, log_tx)
        })?;
    let seg = wait_for_segment(&args.segment, &engine)?;
    let amrc = Amrc::new(seg.clone(), AuditLog::new(&audit_path));
    // The gate runs as its own process, as in production (and the `lyra` binary stays free of
    // tokio); it stops when `gate` drops at the end of the run.
    let gate = gate::child::sibling_binary().and_then(|exe| {
        gate::child::GateChild::spawn(&exe, &args.segment, Some(&cfg_path), &args.gate_listen)
    });

    say(
        args,
        &format!(
            "lyra demo: {mode}, simulator venues {venue_list} (fees/latency differ), instruments {}, layout {}",
            instruments.join(", "),
            args.layout
        ),
    );
    say(
        args,
        "  grant: DEMO GRANT issued by the demo config (simulator test accounts, 127.0.0.1 only)",
    );
    say(
        args,
        &format!(
            "  halt it from another terminal:  lyra halt --reason \"my test\" --segment {}",
            args.segment.display()
        ),
    );
    say(
        args,
        &format!(
            "  run files (config, journals, audit, oracle, demo operator keys): {}",
            run_dir.display()
        ),
    );
    match &gate {
        Ok(g) => say(
            args,
            &format!(
                "  gate: dashboard {0}/  health {0}/health  metrics {0}/metrics",
                g.url()
            ),
        ),
        Err(e) => say(
            args,
            &format!("  gate: not started ({e:#}); the demo goes on without it"),
        ),
    }

    let t0 = mono_now_ns();
    let since = |t: u64| Duration::from_nanos(mono_now_ns().saturating_sub(t));
    let total = Duration::from_secs(args.duration.max(3));
    let trip_at = total.mul_f64(0.55);
    let resume_at = total.mul_f64(0.75);
    let (mut tripped, mut resumed) = (false, false);
    let mut halt_base: Option<u64> = None;
    let mut during_halt: Option<u64> = None;
    let mut last_print = 0u64;
    let mut threads = 0;
    let orders_now = |sim: &SimHandle| {
        let c = sim.oracle().counts();
        c.orders + c.test_orders
    };
    while since(t0) < total {
        std::thread::sleep(Duration::from_millis(5));
        drain_log(&mut log_rx)?;
        if engine.is_finished() {
            break;
        }
        let elapsed = since(t0);
        threads = threads.max(
            seg.heartbeats()
                .filter(|h| h.pid == std::process::id())
                .count(),
        );
        if !args.no_script && !tripped && elapsed >= trip_at {
            tripped = true;
            let note = Note {
                source: Source::Operator,
                operator: "demo-ops",
                text: "demo: scripted halt",
                wall_ns: wall_now_ns(),
            };
            amrc.trip_with(HaltReason::Operator, &note)?;
            // A request already on the wire when the flag flipped may still land; give it a
            // round trip, then nothing more may reach the simulator until the resume.
            std::thread::sleep(Duration::from_millis(300));
            halt_base = Some(orders_now(&sim));
            say(
                args,
                "  >> operator demo-ops: HALT (scripted). New orders must stop now.",
            );
        }
        if let Some(b) = halt_base {
            if seg.is_halted() {
                during_halt = Some(orders_now(&sim) - b);
            }
        }
        if !args.no_script && tripped && !resumed && elapsed >= resume_at {
            resumed = true;
            if let Some(b) = halt_base.take() {
                during_halt = Some(orders_now(&sim) - b);
            }
            resume_with_two_operators(&amrc, &run_dir)?;
            say(
                args,
                "  >> operators alice and bob approved: RESUME. Trading goes on.",
            );
        }
        if since(last_print) >= Duration::from_secs(1) {
            last_print = mono_now_ns();
            say(args, &summary_line(&seg, &stats, &venues, elapsed));
        }
    }
    stop.store(true, Ordering::Release);
    seg.notify_all();
    match engine.join() {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("the engine thread panicked (the halt was tripped)"),
    }
    drain_log(&mut log_rx)?;
    let c = sim.oracle().counts();
    let mut by_venue = serde_json::Map::new();
    for name in &venues {
        let [order, test, cancel] = sim
            .oracle()
            .orders_by_venue()
            .get(name)
            .copied()
            .unwrap_or_default();
        by_venue.insert(
            name.clone(),
            serde_json::to_value(OrderRequests {
                order,
                test,
                cancel,
            })?,
        );
    }
    sim.stop();
    let mut books_valid = serde_json::Map::new();
    for (v, name) in venues.iter().enumerate() {
        books_valid.insert(
            name.clone(),
            serde_json::json!(format!(
                "{}/{}",
                stats.books_valid[v].load(Relaxed),
                stats.books_total[v].load(Relaxed)
            )),
        );
    }
    let mut by_state = serde_json::Map::new();
    for (k, n) in stats.states() {
        by_state.insert(k.to_owned(), serde_json::json!(n));
    }
    let report = Report {
        mode: if args.safe {
            "safe"
        } else {
            "live-on-simulator"
        },
        duration_s: since(t0).as_secs_f64(),
        layout: args.layout.clone(),
        venues,
        dialects,
        instruments,
        threads,
        books_valid,
        md_events: stats.md_events.load(Relaxed),
        tops: stats.tops.load(Relaxed),
        arb_opportunities: stats.arb_opportunities.load(Relaxed),
        arb_groups: stats.arb_groups_sent.load(Relaxed),
        arb_groups_emitted: stats.arb_groups.load(Relaxed),
        arb_groups_balanced: stats.arb_groups_balanced.load(Relaxed),
        arb_groups_one_legged: stats.arb_groups_one_legged.load(Relaxed),
        arb_edge_net_bps: stats.arb_edge_ppm.load(Relaxed) as f64 / 100.0,
        arb_pnl_usdt: stats.arb_pnl_e8.load(Relaxed) as f64 / 1e8,
        mm_quotes: stats.mm_quotes.load(Relaxed),
        mm_fills: stats.mm_fills.load(Relaxed),
        intents: stats.intents.load(Relaxed),
        risk_refused: stats.risk_refused.load(Relaxed),
        risk_refused_by: refusals(&stats),
        edge_gone_at_send: stats.edge_gone.load(Relaxed),
        intents_by_state: by_state,
        order_requests: OrderRequests {
            order: c.orders,
            test: c.test_orders,
            cancel: c.cancels,
        },
        order_requests_by_venue: by_venue,
        order_requests_during_halt: during_halt,
        refused_halted: stats.oms_refused_halted.load(Relaxed),
        tick_to_order_p50_ns: stats.tick_to_order.quantile(0.5),
        tick_to_order_p99_ns: stats.tick_to_order.quantile(0.99),
        frame_to_book_p50_ns: stats.frame_to_book.quantile(0.5),
        book_to_intent_p50_ns: stats.book_to_intent.quantile(0.5),
        intent_to_request_p50_ns: stats.intent_to_request.quantile(0.5),
        halts: seg.get(Counter::HaltTrips),
        resumes: seg.get(Counter::Resumes),
        halted_at_end: seg.is_halted(),
        audit_records: verify_chain(&audit_path).unwrap_or(0),
        audit_chain_ok: verify_chain(&audit_path).is_ok(),
        decision_audit: run_dir.join("decisions.jsonl").display().to_string(),
        decision_audit_records: verify_chain(&run_dir.join("decisions.jsonl")).unwrap_or(0),
        decision_audit_chain_ok: verify_chain(&run_dir.join("decisions.jsonl")).is_ok(),
        statements: run_dir.join("statements").display().to_string(),
        run_dir: run_dir.display().to_string(),
        oracle: run_dir
            .join("sim")
            .join("oracle.jsonl")
            .display()
            .to_string(),
        gate_url: gate.as_ref().ok().map(|g| g.url().to_owned()),
    };
    drop(gate);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("lyra demo: final report");
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    // The segment stays for a later `lyra status`; the next engine start replaces it.
    Ok(())
}

fn refusals(stats: &EngineStats) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    use lyra_risk::Refusal as R;
    let all = [
        R::Halted,
        R::VenueHalted,
        R::NoGrant,
        R::GrantMode,
        R::GrantOrderNotional,
        R::GrantExposure,
        R::GrantOrderCount,
        R::InstrumentNotConfigured,
        R::PriceCollar,
        R::MaxOrderQty,
        R::MaxOrderNotional,
        R::PositionLimit,
        R::MaxOpenOrders,
        R::MessageRate,
        R::DailyLossStop,
        R::LossCooldown,
        R::BookInvalid,
        R::BookStale,
        R::NoEdge,
        R::Malformed,
        R::NoReference,
    ];
    for r in all {
        let n = stats.risk_refused_by[r as usize & 31].load(Relaxed);
        if n > 0 {
            m.insert(r.name().to_owned(), serde_json::json!(n));
        }
    }
    m
}

fn say(args: &DemoArgs, line: &str) {
    if args.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

fn wait_for_segment(
    path: &std::path::Path,
    engine: &std::thread::JoinHandle<Result<()>>,
) -> Result<Arc<ControlSegment>> {
    for _ in 0..500 {
        if engine.is_finished() {
            anyhow::bail!(
                "the engine stopped during start-up (is another engine using {}?)",
                path.display()
            );
        }
        if let Ok(s) = ControlSegment::open(path) {
            if s.creator_pid() == std::process::id() && s.heartbeats().count() > 0 {
                return Ok(Arc::new(s));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    anyhow::bail!(
        "the engine did not come up within 5 s on {}",
        path.display()
    )
}

fn summary_line(
    seg: &ControlSegment,
    stats: &EngineStats,
    venues: &[String],
    elapsed: Duration,
) -> String {
    let hs = seg.halt_state();
    let state = if hs.halted() {
        let who = seg
            .last_transition()
            .map(|t| {
                if t.operator.is_empty() {
                    t.source.name().to_owned()
                } else {
                    t.operator.as_str().to_owned()
                }
            })
            .unwrap_or_default();
        format!("HALTED ({} by {who})", hs.reason().name())
    } else {
        "running".to_owned()
    };
    let books: Vec<String> = venues
        .iter()
        .enumerate()
        .map(|(v, n)| {
            format!(
                "{n} {}/{}",
                stats.books_valid[v].load(Relaxed),
                stats.books_total[v].load(Relaxed)
            )
        })
        .collect();
    let states: Vec<String> = stats
        .states()
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let us = |v: Option<u64>| v.map_or("-".to_owned(), |n| format!("{:.0}us", n as f64 / 1e3));
    format!(
        "  t={:>5.1}s {:<28} books[{}] arb opp {} taken {} edge {:.2}bps | mm quotes {} fills {} |          intents[{}] | t2o p50 {} p99 {}",
        elapsed.as_secs_f64(),
        state,
        books.join(" "),
        stats.arb_opportunities.load(Relaxed),
        stats.arb_groups_sent.load(Relaxed),
        stats.arb_edge_ppm.load(Relaxed) as f64 / 100.0,
        stats.mm_quotes.load(Relaxed),
        stats.mm_fills.load(Relaxed),
        states.join(", "),
        us(stats.tick_to_order.quantile(0.5)),
        us(stats.tick_to_order.quantile(0.99)),
    )
}

/// Two demo operators each generate a key and sign the current epoch; the AMRC verifies both.
fn resume_with_two_operators(amrc: &Amrc, run_dir: &std::path::Path) -> Result<()> {
    let operators = run_dir.join("operators.keys");
    let mut approvals = Vec::new();
    for name in ["alice", "bob"] {
        let key_path = run_dir.join(format!("{name}.key"));
        if !key_path.exists() {
            keygen(name, &key_path, Some(&operators))?;
        }
        let key = OperatorKey::load(&key_path)?;
        approvals.push(Approval::sign(&key, amrc.challenge()));
    }
    let keys = OperatorKeys::load(&operators)?;
    amrc.resume(&approvals, &keys, wall_now_ns())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_are_one_per_venue_in_order() {
        assert_eq!(
            parse_dialects("binance,OKX, kraken"),
            Ok(Dialects([Dialect::Binance, Dialect::Okx, Dialect::Kraken]))
        );
        let two = parse_dialects("okx,okx").unwrap_err();
        assert!(two.contains("2 dialects"), "{two}");
        let bad = parse_dialects("okx,gateio,kraken").unwrap_err();
        assert!(bad.contains("\"gateio\" is not a dialect"), "{bad}");
    }
}
