//! `lyra demo`: the engine on loopback with a live terminal summary.
//!
//! Today it runs the engine's real thread runtime (pinned stages, heartbeats, the order stage's
//! halt gate fed by paced send slots) and walks the halt path an operator would use: a trip that
//! stops every send, then a resume approved by two distinct operators (HMAC approvals over the
//! segment id and epoch), all audited in a SHA-256 chain that is verified at the end. While it runs,
//! `lyra halt --reason TEXT` in another terminal (same `--segment`) visibly stops the sends.
//! The venue simulator and trading join it as issues 4-6 land.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
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
use lyra_engine::config::Config;
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns},
    control::{ControlSegment, Counter, HaltReason, Note, Source},
};
use serde::Serialize;

use crate::exit::Fail;

/// `lyra demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to run, seconds.
    #[arg(long, default_value_t = 12)]
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
    /// Send slots per second offered to the order stage.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
}

/// The final report.
#[derive(Debug, Serialize)]
struct Report {
    duration_s: f64,
    layout: String,
    wait: String,
    threads: usize,
    sends_attempted: u64,
    sends_done: u64,
    sends_refused_halted: u64,
    sends_done_while_halted: u64,
    halts: u64,
    resumes: u64,
    halted_at_end: bool,
    /// From the scripted trip to the order gate's first refused slot; slots come every
    /// 1/rate s, so this is bounded below by the slot period, not by halt propagation
    /// (`lyra-bench halt` measures that).
    first_refused_slot_after_trip_us: Option<f64>,
    audit_records: u64,
    audit_chain_ok: bool,
    run_dir: String,
}

/// Runs the demo.
///
/// # Errors
/// Start-up failures (segment in use, files), as a [`Fail`].
pub fn demo(args: &DemoArgs) -> Result<(), Fail> {
    run(args).map_err(Fail::Other)
}

fn run(args: &DemoArgs) -> Result<()> {
    let run_dir = std::env::temp_dir().join(format!("lyra-demo-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let audit_path = run_dir.join("audit.jsonl");
    let cfg_text = format!(
        "# Written by `lyra demo`.\n[engine]\nrun_id = \"demo\"\n[paths]\nsegment = \"{}\"\naudit = \"{}\"\n\
         [threads]\nlayout = \"compact\"\nwait = \"park\"\npin = true\n[order_stage]\nsend_slots_per_s = {}\n",
        args.segment.display(),
        audit_path.display(),
        args.rate
    );
    let cfg_path = run_dir.join("engine.toml");
    std::fs::write(&cfg_path, &cfg_text)?;
    let cfg = Config::load(&cfg_path)?;

    // The engine runs in this process on its own pinned threads, exactly as `lyra-engine` does.
    let stop = Arc::new(AtomicBool::new(false));
    let engine_stop = stop.clone();
    let engine_cfg = cfg.clone();
    let engine = std::thread::Builder::new()
        .name("lyra-demo-main".into())
        .spawn(move || lyra_engine::daemon::run(&engine_cfg, engine_stop))?;
    let seg = wait_for_segment(&args.segment, &engine)?;
    let amrc = Amrc::new(seg.clone(), AuditLog::new(&audit_path));

    say(
        args,
        &format!(
            "lyra demo: engine running, layout compact, wait park, segment {}",
            args.segment.display()
        ),
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
            "  run files (config, audit, demo operator keys): {}",
            run_dir.display()
        ),
    );

    let t0 = mono_now_ns();
    let since = |t: u64| Duration::from_nanos(mono_now_ns().saturating_sub(t));
    let total = Duration::from_secs(args.duration.max(3));
    let trip_at = total.mul_f64(0.4);
    let resume_at = total.mul_f64(0.7);
    let (mut tripped, mut resumed) = (false, false);
    let mut first_refusal_us = None;
    let mut done_at_trip_seen = None;
    let mut done_while_halted = 0;
    let mut last_print = 0u64;
    let mut threads = 0;
    while since(t0) < total {
        std::thread::sleep(Duration::from_millis(2));
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
            let refused = seg.get(Counter::SendsRefusedHalted);
            let trip_ns = mono_now_ns();
            let note = Note {
                source: Source::Operator,
                operator: "demo-ops",
                text: "demo: scripted halt",
                wall_ns: wall_now_ns(),
            };
            amrc.trip_with(HaltReason::Operator, &note)?;
            // Watch for the first refused slot: the gate has seen the flag.
            while seg.get(Counter::SendsRefusedHalted) == refused
                && mono_now_ns() - trip_ns < 2_000_000_000
            {
                std::hint::spin_loop();
            }
            first_refusal_us = Some((mono_now_ns() - trip_ns) as f64 / 1e3);
            done_at_trip_seen = Some(seg.get(Counter::SendsDone));
            say(
                args,
                "  >> operator demo-ops: HALT (scripted). New sends must stop now.",
            );
        }
        if let Some(done) = done_at_trip_seen {
            if seg.is_halted() {
                done_while_halted = seg.get(Counter::SendsDone) - done;
            }
        }
        if !args.no_script && tripped && !resumed && elapsed >= resume_at {
            resumed = true;
            resume_with_two_operators(&amrc, &run_dir)?;
            done_at_trip_seen = None;
            say(
                args,
                "  >> operators alice and bob approved: RESUME. Sends flow again.",
            );
        }
        if since(last_print) >= Duration::from_secs(1) {
            last_print = mono_now_ns();
            say(args, &summary_line(&seg, elapsed));
        }
    }
    stop.store(true, Ordering::Release);
    seg.notify_all();
    match engine.join() {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("the engine thread panicked (the halt was tripped)"),
    }
    let audit_records = verify_chain(&audit_path).unwrap_or(0);
    let report = Report {
        duration_s: since(t0).as_secs_f64(),
        layout: "compact".into(),
        wait: "park".into(),
        threads,
        sends_attempted: seg.get(Counter::SendsAttempted),
        sends_done: seg.get(Counter::SendsDone),
        sends_refused_halted: seg.get(Counter::SendsRefusedHalted),
        sends_done_while_halted: done_while_halted,
        halts: seg.get(Counter::HaltTrips),
        resumes: seg.get(Counter::Resumes),
        halted_at_end: seg.is_halted(),
        first_refused_slot_after_trip_us: first_refusal_us,
        audit_records,
        audit_chain_ok: verify_chain(&audit_path).is_ok(),
        run_dir: run_dir.display().to_string(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("lyra demo: final report");
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    // The segment stays for a later `lyra status`; the next engine start replaces it.
    Ok(())
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

fn summary_line(seg: &ControlSegment, elapsed: Duration) -> String {
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
        format!(
            "HALTED ({} by {who}, epoch {})",
            hs.reason().name(),
            hs.epoch()
        )
    } else {
        format!("running (epoch {})", hs.epoch())
    };
    let now = mono_now_ns();
    let beats: Vec<String> = seg
        .heartbeats()
        .map(|h| {
            format!(
                "{} {}ms",
                h.name.as_str(),
                now.saturating_sub(h.last_beat_ns) / 1_000_000
            )
        })
        .collect();
    format!(
        "  t={:>5.1}s  {:<40} sent {:>7}  refused(halted) {:>7}  threads [{}]",
        elapsed.as_secs_f64(),
        state,
        seg.get(Counter::SendsDone),
        seg.get(Counter::SendsRefusedHalted),
        beats.join(", ")
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
