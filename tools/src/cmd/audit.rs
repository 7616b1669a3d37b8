//! `lyra audit verify`: walk the audit store (daily JSONL files and SQLite) and report the first
//! broken record. `lyra doctor --audit` prints the same verification as JSON.

use clap::{Args, Subcommand};
use lyra_amrc::audit::{verify_store, VerifyReport};

use super::common::DEFAULT_AUDIT;
use crate::exit::{CmdResult, Fail};

/// `lyra audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every record's hash and link in both sinks; exit 1 naming the first broken record.
    Verify(VerifyArgs),
}

/// `lyra audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The configured audit path (`dir/<stem>.jsonl` names `dir/<stem>-YYYY-MM-DD.jsonl` and
    /// `dir/<stem>.sqlite`).
    #[arg(long, env = "LYRA_AUDIT", default_value = DEFAULT_AUDIT, value_name = "PATH")]
    audit: std::path::PathBuf,
    /// Accepted for symmetry with the other commands; verifying needs no segment.
    #[arg(long, env = "LYRA_SEGMENT", value_name = "PATH")]
    segment: Option<std::path::PathBuf>,
}

/// Verifies the store named by `path`.
///
/// # Errors
/// [`Fail::Other`] when the store cannot be read (or does not exist); a broken record is in the
/// report, see [`outcome`].
pub fn verify(path: &std::path::Path) -> Result<VerifyReport, Fail> {
    verify_store(path).map_err(|e| Fail::Other(e.into()))
}

/// [`Fail::Refused`] naming the first broken record, if any.
///
/// # Errors
/// The report holds a break.
pub fn outcome(r: &VerifyReport) -> CmdResult {
    match r.error() {
        Some(e) => Err(Fail::Refused(e.into())),
        None => Ok(()),
    }
}

/// Runs an audit subcommand.
pub fn run(c: &AuditCommand) -> CmdResult {
    match c {
        AuditCommand::Verify(a) => {
            let r = verify(&a.audit)?;
            outcome(&r)?;
            println!(
                "audit log {}: {} records, chain intact ({} daily file(s) and SQLite agree)",
                a.audit.display(),
                r.jsonl_records,
                r.jsonl_files.len()
            );
            Ok(())
        }
    }
}
