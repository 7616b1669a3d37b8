//! `lyra halt` and `lyra resume`.

use std::path::PathBuf;

use clap::Args;
use lyra_amrc::{Approval, OperatorKeys};
use lyra_shm::{
    clock::wall_now_ns,
    control::{HaltReason, Note, Source, TripOutcome},
    msg::{VenueId, MAX_VENUES},
};

use super::common::{operator_or_user, Common};
use crate::exit::{CmdResult, Fail};

/// `lyra halt`.
#[derive(Debug, Args)]
pub struct HaltArgs {
    #[command(flatten)]
    common: Common,
    /// Why (free text, recorded in the segment (first 96 bytes) and the audit log).
    #[arg(long)]
    reason: String,
    /// Halt only this venue: its id number 0-63 (names will map to ids via the engine config).
    #[arg(long, value_parser = parse_venue, value_name = "V")]
    venue: Option<u8>,
    /// Who is halting (default: $LYRA_OPERATOR, else $USER).
    #[arg(long, env = "LYRA_OPERATOR")]
    operator: Option<String>,
}

/// A venue id; names are not known to the CLI yet (they come from the engine config later).
fn parse_venue(s: &str) -> Result<u8, String> {
    match s.parse::<u8>() {
        Ok(v) if (v as usize) < MAX_VENUES => Ok(v),
        Ok(v) => Err(format!("venue id {v} out of range 0-{}", MAX_VENUES - 1)),
        Err(_) => Err(format!(
            "venue {s:?}: give the venue id number (0-{}); venue names will map to ids via the engine config",
            MAX_VENUES - 1
        )),
    }
}

/// Trips the halt (or one venue's bit) and audits it.
pub fn halt(a: &HaltArgs) -> CmdResult {
    let amrc = a.common.amrc()?;
    let operator = operator_or_user(a.operator.as_deref());
    let note = Note {
        source: Source::Operator,
        operator: &operator,
        text: &a.reason,
        wall_ns: wall_now_ns(),
    };
    let out = match a.venue {
        Some(v) => amrc.trip_venue(VenueId(v), HaltReason::Operator, &note),
        None => amrc.trip_with(HaltReason::Operator, &note),
    };
    let what = a
        .venue
        .map_or_else(|| "engine".to_owned(), |v| format!("venue {v}"));
    match out {
        Ok(TripOutcome::Tripped(s)) => {
            println!(
                "halted {what}: epoch {} (by {operator}: {})",
                s.epoch(),
                a.reason
            );
            Ok(())
        }
        Ok(TripOutcome::AlreadyHalted(s)) => {
            println!(
                "{what} already halted (epoch {}); first cause kept, re-trip audited",
                s.epoch()
            );
            Ok(())
        }
        // The halt is in force even when its audit failed: say both.
        Err(e) => Err(e.into()),
    }
}

/// `lyra resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    common: Common,
    /// An approval file from `lyra approve` (give two, from two distinct operators).
    #[arg(long = "approval", value_name = "FILE", required = true)]
    approvals: Vec<PathBuf>,
    /// The operators file holding each operator's verification key (0600, owned by you).
    #[arg(long, env = "LYRA_OPERATORS", value_name = "FILE")]
    operators: PathBuf,
}

/// Verifies the approvals and clears the halt.
pub fn resume(a: &ResumeArgs) -> CmdResult {
    let amrc = a.common.amrc()?;
    let operators = OperatorKeys::load(&a.operators)?;
    let approvals = a
        .approvals
        .iter()
        .map(|p| Approval::load(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Fail::Other(e.into()))?;
    let after = amrc.resume(&approvals, &operators, wall_now_ns())?;
    let names: Vec<&str> = approvals.iter().map(|a| a.operator.as_str()).collect();
    println!(
        "resumed: epoch {} (approved by {})",
        after.epoch(),
        names.join(", ")
    );
    Ok(())
}
