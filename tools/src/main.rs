//! `lyra`: the ops command line.
//!
//! A thin dispatcher: each command group lives in `cmd/<group>.rs` and returns a [`exit::Fail`]
//! that maps to the documented exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok |
//! | 1 | refused (resume refused, key file not private, nothing to approve, audit chain broken) |
//! | 2 | usage (bad arguments; clap's own exit code) |
//! | 3 | the control segment cannot be opened (the message names the path and the cause) |
//! | 4 | I/O or other failure |
#![forbid(unsafe_code)]

mod cmd;
mod exit;
mod record;
mod replay;

use std::process::ExitCode;

use lyra_tools::sim;

use clap::{Parser, Subcommand};

/// Exit codes, shown at the end of `lyra --help`.
const EXIT_CODES: &str = "Exit codes:\n  0  ok\n  1  refused (e.g. resume refused, key file not private, audit chain broken)\n  2  usage error\n  3  control segment cannot be opened (message names the path and cause)\n  4  I/O or other failure";

/// Lyra ops command line.
#[derive(Debug, Parser)]
#[command(name = "lyra", version, about = "Lyra ops: halt, resume, approve, status", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every `lyra` command.
#[derive(Debug, Subcommand)]
enum Command {
    /// Trip the halt (global, or one venue with --venue): no new orders from now on.
    Halt(cmd::halt::HaltArgs),
    /// Clear the halt with approvals from two distinct operators for the current epoch.
    Resume(cmd::halt::ResumeArgs),
    /// Sign an approval to resume the current halt (one operator's half of a resume).
    Approve(cmd::approve::ApproveArgs),
    /// Generate an operator's HMAC key file (0600), optionally adding it to the operators file.
    Keygen(cmd::approve::KeygenArgs),
    /// Show the halt state, heartbeats, grants and counters.
    Status(cmd::status::StatusArgs),
    /// Manage the control segment itself (normally the engine creates it).
    #[command(subcommand)]
    Segment(cmd::segment::SegmentCommand),
    /// Audit log tools (verify the hash chain).
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Run the engine on loopback with a live summary and a scripted halt / two-operator resume.
    Demo(cmd::demo::DemoArgs),
    /// Preflight one venue account before LIVE (JSON; exit 1 if a check fails).
    Doctor(cmd::doctor::DoctorArgs),
    /// Record a venue's live market data (frames and REST snapshots) to a native file.
    Record(record::RecordArgs),
    /// Replay recorded market data through the real parsers, depth sync and books (no network).
    Replay(replay::ReplayArgs),
    /// Run the loopback venue simulator (Binance Spot dialect over TLS, matching, faults, oracle).
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Halt(a) => cmd::halt::halt(&a),
        Command::Resume(a) => cmd::halt::resume(&a),
        Command::Approve(a) => cmd::approve::approve(&a),
        Command::Keygen(a) => cmd::approve::keygen(&a),
        Command::Status(a) => cmd::status::status(&a),
        Command::Segment(c) => cmd::segment::run(&c),
        Command::Audit(c) => cmd::audit::run(&c),
        Command::Demo(a) => cmd::demo::demo(&a),
        Command::Doctor(a) => cmd::doctor::doctor(&a),
        Command::Record(a) => record::run(&a).map_err(exit::Fail::from),
        Command::Replay(a) => replay::run(&a).map_err(exit::Fail::from),
        Command::Sim(a) => sim::run(&a, &load_capture).map_err(exit::Fail::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            eprintln!("lyra: {:#}", fail.error());
            ExitCode::from(fail.code())
        }
    }
}

/// Reads a native capture for `lyra sim --replay` with the replay readers (the simulator lives
/// in the library, which cannot see this binary's modules).
fn load_capture(path: &std::path::Path) -> anyhow::Result<Vec<(u64, String)>> {
    use replay::source::{NativeReader, RecordKind};
    let mut r = NativeReader::new(vec![path.to_path_buf()]);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        match rec.kind {
            RecordKind::Frame | RecordKind::Rest { .. } => out.push((rec.recv_ns, rec.frame)),
            RecordKind::Connect => {}
            RecordKind::Malformed(why) => anyhow::bail!("line {}: {why}", rec.line),
        }
    }
    Ok(out)
}
