//! Arguments and helpers every command shares: the segment and audit paths.

use std::{path::PathBuf, sync::Arc};

use clap::Args;
use lyra_amrc::{Amrc, AuditLog};
use lyra_shm::control::{ControlSegment, LockStatus, DEFAULT_PATH};

use crate::exit::Fail;

/// Where the audit log goes unless `--audit`/`LYRA_AUDIT` says otherwise (survives reboots,
/// unlike /tmp on tmpfs hosts; created 0600).
pub const DEFAULT_AUDIT: &str = "/var/tmp/lyra-audit.jsonl";

/// `--segment` and `--audit`, flattened into every command.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Control segment file.
    #[arg(long, env = "LYRA_SEGMENT", default_value = DEFAULT_PATH, value_name = "PATH")]
    pub segment: PathBuf,
    /// Audit log (JSONL, SHA-256 chained) that transitions are appended to.
    #[arg(long, env = "LYRA_AUDIT", default_value = DEFAULT_AUDIT, value_name = "PATH")]
    pub audit: PathBuf,
}

impl Common {
    /// Opens the segment (exit 3 on failure), warning when it cannot be locked in RAM.
    pub fn open(&self) -> Result<Arc<ControlSegment>, Fail> {
        // The CLI lives for milliseconds: locking its mapping buys nothing.
        let seg = ControlSegment::open_with(&self.segment, false)
            .map_err(|e| Fail::Segment(anyhow::Error::new(e)))?;
        Ok(Arc::new(seg))
    }

    /// The AMRC over the opened segment, auditing to `--audit`.
    pub fn amrc(&self) -> Result<Amrc, Fail> {
        Ok(Amrc::new(self.open()?, AuditLog::new(&self.audit)))
    }
}

/// A warning line for an unlocked mapping, if any.
pub fn lock_warning(status: LockStatus) -> Option<String> {
    match status {
        LockStatus::Failed { errno } => Some(format!(
            "warning: could not mlock the segment (errno {errno}; raise RLIMIT_MEMLOCK): the first halt may take a page fault"
        )),
        _ => None,
    }
}

/// The operator name: `--operator`, else `$LYRA_OPERATOR`, else `$USER`, else `unknown`.
pub fn operator_or_user(given: Option<&str>) -> String {
    given
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
