//! `halt`: how fast a halt reaches another process (DESIGN §4, §10).
//!
//! The parent (a thread pinned to one core) creates a control segment in `/dev/shm`; a child OS
//! process — this same binary re-executed as `lyra-bench __halt-observer <segment> <core> <mode>`
//! — maps it, pins itself to the other core, prints `ready` and watches. On seeing a new halt epoch
//! it stores `mono_now_ns()` into the segment's [`Counter::HaltObservedNs`]; the parent took
//! `mono_now_ns()` right before the trip's Release store (CLOCK_MONOTONIC is one clock for every
//! process on the host), so `observed - t0` is the trip -> observed latency.
//!
//! Rows (`suite: "halt"`):
//! - `lyra-shm`: the observer busy-polls `is_halted()`-style Acquire loads (a hot engine thread).
//!   Target p99.9 < 5 µs.
//! - `lyra-shm-park`: the observer sleeps in `wait_for_change` (the engine's `park` wait strategy,
//!   a shared futex) and the trip's `FUTEX_WAKE` wakes it.
//! - `pipe-read` (baseline): the conventional alternative to shared memory — the observer blocks in
//!   `read` on a pipe and the parent writes one byte instead of tripping.
//! - `lyra-cli`: wall time from spawning the `lyra halt` binary (found next to this executable;
//!   `cargo build --release -p lyra-tools` first) to the busy-polling observer seeing the flag.
//!   Target p99 < 50 ms.
//!
//! Between trials the parent clears the halt with `ControlSegment::bench_reset` — a bench-only
//! path (feature `bench` of `lyra-shm`) that skips the two-approval resume, which would otherwise
//! dominate the loop. `per_s` is 0: these are latencies.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    sync::Arc,
    time::Duration,
};

use anyhow::{bail, ensure, Context, Result};
use core_affinity::CoreId;
use hdrhistogram::Histogram;
use lyra_shm::{
    clock::mono_now_ns,
    control::{ControlSegment, Counter, CreateOpts, HaltReason, Note, Source, WaitOutcome},
};

use crate::{
    pin::{pin, two_cores},
    report::{new_hist, Report},
    Opts,
};

/// The hidden first argument that turns `lyra-bench` into the observer child.
pub const OBSERVER_ARG: &str = "__halt-observer";
/// Trials discarded before measuring (page faults, cache and branch warm-up).
const WARMUP: u64 = 1_000;
/// Gap before each trial with a sleeping observer, so it is really asleep when woken.
const SLEEP_GAP_NS: u64 = 50_000;
/// How long the parent waits for one observation before declaring the observer lost.
const OBSERVE_TIMEOUT_NS: u64 = 2_000_000_000;

/// How the observer waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Busy-poll the halt word.
    Poll,
    /// Sleep on the segment's futex.
    Park,
    /// Block in `read` on stdin (the pipe baseline).
    Pipe,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Poll => "poll",
            Mode::Park => "park",
            Mode::Pipe => "pipe",
        }
    }
    fn parse(s: &str) -> Option<Mode> {
        match s {
            "poll" => Some(Mode::Poll),
            "park" => Some(Mode::Park),
            "pipe" => Some(Mode::Pipe),
            _ => None,
        }
    }
}

/// Child side: runs the observer if `args` (without argv\[0]) start with [`OBSERVER_ARG`].
pub fn observer_entry(args: &[String]) -> Option<ExitCode> {
    if args.first().map(String::as_str) != Some(OBSERVER_ARG) {
        return None;
    }
    Some(match observe(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lyra-bench halt observer: {e:#}");
            ExitCode::FAILURE
        }
    })
}

/// `<segment> <core id or -> <mode>`: map, pin, say `ready`, observe until killed or orphaned.
fn observe(args: &[String]) -> Result<()> {
    let [seg, core, mode] = args else {
        bail!("usage: {OBSERVER_ARG} <segment> <core|-> <mode>")
    };
    let mode = Mode::parse(mode).with_context(|| format!("unknown mode {mode}"))?;
    let seg = ControlSegment::open(seg).with_context(|| format!("opening {seg}"))?;
    if let Ok(id) = core.parse::<usize>() {
        ensure!(
            pin(Some(CoreId { id })),
            "could not pin the observer to core {id}"
        );
    }
    let parent = std::os::unix::process::parent_id();
    // Read the epoch before saying `ready`: the parent may trip the moment it hears it.
    let mut last_epoch = seg.halt_state().epoch();
    println!("ready");
    std::io::stdout().flush()?;
    match mode {
        Mode::Poll => {
            let mut spins = 0u32;
            loop {
                let s = seg.halt_state();
                if s.halted() && s.epoch() != last_epoch {
                    seg.store_counter(Counter::HaltObservedNs, mono_now_ns());
                    last_epoch = s.epoch();
                }
                spins = spins.wrapping_add(1);
                // Orphaned (the parent died without killing us): stop spinning a core.
                if spins == 0 && std::os::unix::process::parent_id() != parent {
                    return Ok(());
                }
            }
        }
        Mode::Park => loop {
            let seq = seg.wake_seq();
            let s = seg.halt_state();
            if s.halted() && s.epoch() != last_epoch {
                seg.store_counter(Counter::HaltObservedNs, mono_now_ns());
                last_epoch = s.epoch();
                continue;
            }
            if let WaitOutcome::TimedOut = seg.wait_for_change(seq, Duration::from_millis(200)) {
                if std::os::unix::process::parent_id() != parent {
                    return Ok(());
                }
            }
        },
        Mode::Pipe => {
            let mut stdin = std::io::stdin().lock();
            let mut byte = [0u8; 1];
            // EOF (the parent closed the pipe or died) ends the observer.
            while stdin.read(&mut byte)? == 1 {
                seg.store_counter(Counter::HaltObservedNs, mono_now_ns());
            }
            Ok(())
        }
    }
}

/// The observer child; killed (by its pid, which we own) when dropped.
struct Observer {
    child: Child,
}

impl Observer {
    fn spawn(seg: &Path, core: Option<CoreId>, mode: Mode) -> Result<Observer> {
        let exe = std::env::current_exe().context("locating lyra-bench")?;
        let mut child = Command::new(exe)
            .arg(OBSERVER_ARG)
            .arg(seg)
            .arg(core.map_or_else(|| "-".to_owned(), |c| c.id.to_string()))
            .arg(mode.arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("spawning the observer process")?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().context("observer stdout")?)
            .read_line(&mut line)
            .context("waiting for the observer")?;
        let obs = Observer { child };
        ensure!(
            line.trim() == "ready",
            "observer failed to start (said {line:?})"
        );
        Ok(obs)
    }

    fn poke(&mut self) -> Result<()> {
        let stdin = self.child.stdin.as_mut().context("observer stdin")?;
        stdin
            .write_all(&[1])
            .context("writing to the observer pipe")?;
        Ok(())
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A control segment under /dev/shm plus a scratch audit path, removed on drop.
struct Scratch {
    seg_path: PathBuf,
    audit: PathBuf,
    seg: Arc<ControlSegment>,
}

impl Scratch {
    fn new() -> Result<Scratch> {
        let tag = format!("lyra-bench-halt-{}-{}", std::process::id(), mono_now_ns());
        let seg_path = PathBuf::from("/dev/shm").join(&tag);
        let seg = ControlSegment::create(&seg_path, &CreateOpts::default())
            .with_context(|| format!("creating {}", seg_path.display()))?;
        // A directory of its own: the audit store is daily JSONL files, SQLite and a lock file.
        let audit_dir = std::env::temp_dir().join(format!("{tag}.audit"));
        std::fs::create_dir_all(&audit_dir)
            .with_context(|| format!("creating {}", audit_dir.display()))?;
        let audit = audit_dir.join("audit.jsonl");
        Ok(Scratch {
            seg_path,
            audit,
            seg: Arc::new(seg),
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.seg_path);
        if let Some(dir) = self.audit.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Spins (politely yielding after a while) until the observer stored a timestamp.
fn wait_observed(seg: &ControlSegment) -> Result<u64> {
    let start = mono_now_ns();
    let mut spins = 0u32;
    loop {
        let t = seg.get(Counter::HaltObservedNs);
        if t != 0 {
            return Ok(t);
        }
        spins = spins.wrapping_add(1);
        if spins % 1024 == 0 {
            ensure!(
                mono_now_ns() - start < OBSERVE_TIMEOUT_NS,
                "the observer did not see the halt within 2 s"
            );
            if spins > 1 << 20 {
                std::thread::yield_now();
            }
        }
        std::hint::spin_loop();
    }
}

/// Clears the halt and the observation for the next trial.
fn reset(seg: &ControlSegment) {
    seg.store_counter(Counter::HaltObservedNs, 0);
    seg.bench_reset();
}

/// One in-process trial loop: `trials` measured after [`WARMUP`].
fn shm_trials(
    seg: &ControlSegment,
    mode: Mode,
    trials: u64,
    obs: &mut Observer,
) -> Result<Histogram<u64>> {
    let mut hist = new_hist();
    let note = Note {
        source: Source::Bench,
        operator: "",
        text: "bench",
        wall_ns: 0,
    };
    reset(seg);
    for i in 0..WARMUP + trials {
        if mode != Mode::Poll {
            // Sleeping observers: trip only once the observer is asleep, so both rows measure
            // a wake-up. Parked observers show in `sleepers`; a pipe reader cannot be seen, so
            // both get the same settling gap after that.
            let start = mono_now_ns();
            while mode == Mode::Park && seg.sleepers() == 0 {
                ensure!(
                    mono_now_ns() - start < OBSERVE_TIMEOUT_NS,
                    "observer never parked"
                );
                std::thread::yield_now();
            }
            let until = mono_now_ns() + SLEEP_GAP_NS;
            while mono_now_ns() < until {
                std::hint::spin_loop();
            }
        }
        let t0 = mono_now_ns();
        match mode {
            Mode::Pipe => obs.poke()?,
            Mode::Poll | Mode::Park => {
                seg.trip_with(HaltReason::Bench, &note);
            }
        }
        let t1 = wait_observed(seg)?;
        if i >= WARMUP {
            hist.record(t1.saturating_sub(t0).max(1))
                .context("recording a sample")?;
        }
        reset(seg);
    }
    Ok(hist)
}

/// Runs one shared-memory row on a pinned parent thread against a fresh observer.
fn shm_row(mode: Mode, trials: u64, cores: Option<(CoreId, CoreId)>) -> Result<Histogram<u64>> {
    let scratch = Scratch::new()?;
    let mut obs = Observer::spawn(&scratch.seg_path, cores.map(|c| c.1), mode)?;
    let seg = scratch.seg.clone();
    let hist = std::thread::scope(|s| {
        s.spawn(|| {
            pin(cores.map(|c| c.0));
            shm_trials(&seg, mode, trials, &mut obs)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("bench thread panicked"))?
    })?;
    drop(obs);
    Ok(hist)
}

/// The `lyra` binary next to this executable.
fn lyra_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating lyra-bench")?;
    let lyra = exe
        .parent()
        .context("lyra-bench has no directory")?
        .join("lyra");
    ensure!(
        lyra.is_file(),
        "{} not found: build it first with `cargo build --release -p lyra-tools`",
        lyra.display()
    );
    Ok(lyra)
}

/// Spawn `lyra halt` -> observer sees the flag, wall time per trial.
fn cli_row(trials: u64, cores: Option<(CoreId, CoreId)>) -> Result<Histogram<u64>> {
    let lyra = lyra_binary()?;
    let scratch = Scratch::new()?;
    let seg = &scratch.seg;
    let _obs = Observer::spawn(&scratch.seg_path, cores.map(|c| c.1), Mode::Poll)?;
    let mut hist = new_hist();
    reset(seg);
    for i in 0..trials + 3 {
        let t0 = mono_now_ns();
        let out = Command::new(&lyra)
            .arg("halt")
            .arg("--segment")
            .arg(&scratch.seg_path)
            .arg("--audit")
            .arg(&scratch.audit)
            .args(["--reason", "bench", "--operator", "lyra-bench"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("running lyra halt")?;
        ensure!(
            out.status.success(),
            "lyra halt failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let t1 = wait_observed(seg)?;
        // The first few runs fault the binary into the page cache.
        if i >= 3 {
            hist.record(t1.saturating_sub(t0).max(1))
                .context("recording a sample")?;
        }
        reset(seg);
    }
    Ok(hist)
}

/// The suite's entry.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let cores = two_cores();
    let poll = shm_row(Mode::Poll, opts.pick(100_000, 10_000), cores)?;
    let park = shm_row(Mode::Park, opts.pick(10_000, 2_000), cores)?;
    let pipe = shm_row(Mode::Pipe, opts.pick(10_000, 2_000), cores)?;
    let cli = cli_row(opts.pick(200, 50), cores)?;
    Ok(vec![
        Report::from_hist("halt", "lyra-shm", &poll, 0.0),
        Report::from_hist("halt", "lyra-shm-park", &park, 0.0),
        Report::from_hist("halt", "pipe-read", &pipe, 0.0),
        Report::from_hist("halt", "lyra-cli", &cli, 0.0),
    ])
}
