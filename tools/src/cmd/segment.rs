//! `lyra segment create`: a control segment without an engine (tests, drills).

use clap::{Args, Subcommand};
use lyra_shm::control::{ControlSegment, CreateOpts, DEFAULT_PATH};

use super::common::lock_warning;
use crate::exit::{CmdResult, Fail};

/// `lyra segment ...`.
#[derive(Debug, Subcommand)]
pub enum SegmentCommand {
    /// Create (or replace a stale) control segment, mode 0600.
    Create(CreateArgs),
}

/// `lyra segment create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Control segment file.
    #[arg(long, env = "LYRA_SEGMENT", default_value = DEFAULT_PATH, value_name = "PATH")]
    segment: std::path::PathBuf,
    /// Accepted for symmetry with the other commands; creating a segment writes no audit.
    #[arg(long, env = "LYRA_AUDIT", value_name = "PATH")]
    audit: Option<std::path::PathBuf>,
}

/// Runs a segment subcommand.
pub fn run(c: &SegmentCommand) -> CmdResult {
    match c {
        SegmentCommand::Create(a) => {
            let seg = ControlSegment::create(&a.segment, &CreateOpts::default())
                .map_err(|e| Fail::Segment(e.into()))?;
            if let Some(w) = lock_warning(seg.lock_status()) {
                eprintln!("lyra: {w}");
            }
            println!(
                "created control segment {} (id {:#018x}, mode 0600)",
                seg.path().display(),
                seg.segment_id()
            );
            Ok(())
        }
    }
}
