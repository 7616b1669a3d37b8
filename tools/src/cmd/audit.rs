//! `lyra audit verify`: walk the hash-chained audit log and report the first broken record.

use clap::{Args, Subcommand};

use super::common::DEFAULT_AUDIT;
use crate::exit::{CmdResult, Fail};

/// `lyra audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every record's hash and link; exit 1 naming the first broken line.
    Verify(VerifyArgs),
}

/// `lyra audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Audit log to verify.
    #[arg(long, env = "LYRA_AUDIT", default_value = DEFAULT_AUDIT, value_name = "PATH")]
    audit: std::path::PathBuf,
    /// Accepted for symmetry with the other commands; verifying needs no segment.
    #[arg(long, env = "LYRA_SEGMENT", value_name = "PATH")]
    segment: Option<std::path::PathBuf>,
}

/// Runs an audit subcommand.
pub fn run(c: &AuditCommand) -> CmdResult {
    match c {
        AuditCommand::Verify(a) => match lyra_amrc::verify_chain(&a.audit) {
            Ok(n) => {
                println!("audit log {}: {n} records, chain intact", a.audit.display());
                Ok(())
            }
            Err(e @ lyra_amrc::AuditError::Broken { .. }) => Err(Fail::Refused(e.into())),
            Err(e) => Err(Fail::Other(e.into())),
        },
    }
}
