//! `lyra approve` and `lyra keygen`: an operator's half of a resume, and the key it needs.

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::PathBuf};

use clap::Args;
use lyra_amrc::{Approval, AuditEvent, AuditLog, OperatorKey};
use lyra_shm::{clock::wall_now_ns, control::Source};

use super::common::Common;
use crate::exit::{CmdResult, Fail};

/// `lyra approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    common: Common,
    /// Your operator name (must match the key file).
    #[arg(long)]
    operator: String,
    /// Your key file (from `lyra keygen`; 0600, owned by you).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Write the approval here (0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Signs an approval for the segment's current epoch.
pub fn approve(a: &ApproveArgs) -> CmdResult {
    let amrc = a.common.amrc()?;
    let key = OperatorKey::load(&a.key)?;
    if key.operator() != a.operator {
        return Err(Fail::refused(format!(
            "key file {} belongs to operator {}, not {}",
            a.key.display(),
            key.operator(),
            a.operator
        )));
    }
    let seg = amrc.segment();
    let state = seg.halt_state();
    if !state.halted() && seg.venue_mask() == 0 {
        return Err(Fail::refused("nothing to approve: not halted"));
    }
    let challenge = amrc.challenge();
    let approval = Approval::sign(&key, challenge);
    let json = approval.to_json() + "\n";
    match &a.out {
        Some(path) => {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut f| f.write_all(json.as_bytes()))
                .map_err(|e| anyhow::anyhow!("approval file {}: {e}", path.display()))?;
            println!(
                "approval by {} for epoch {} written to {}",
                a.operator,
                challenge.epoch,
                path.display()
            );
        }
        None => print!("{json}"),
    }
    let event = AuditEvent {
        event: "approval_made".into(),
        wall_ns: wall_now_ns(),
        source: Source::Operator.name().into(),
        operator: Some(a.operator.clone()),
        epoch_before: challenge.epoch,
        epoch_after: challenge.epoch,
        segment_id: challenge.segment_id,
        pid: std::process::id(),
        ..AuditEvent::default()
    };
    amrc.audit_log()
        .append(&event)
        .map_err(|e| Fail::Other(e.into()))?;
    Ok(())
}

/// `lyra keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    #[command(flatten)]
    common: Common,
    /// The operator the key is for.
    #[arg(long)]
    operator: String,
    /// The key file to create (must not exist; created 0600).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also append the key to this operators file (created 0600 if missing).
    #[arg(long, env = "LYRA_OPERATORS", value_name = "FILE")]
    operators: Option<PathBuf>,
}

/// Creates a key file; never prints the key.
pub fn keygen(a: &KeygenArgs) -> CmdResult {
    lyra_amrc::keygen(&a.operator, &a.out, a.operators.as_deref())?;
    // Audited by name only (no segment is needed to make a key; its id is recorded as 0).
    let event = AuditEvent {
        event: "key_generated".into(),
        wall_ns: wall_now_ns(),
        source: Source::Operator.name().into(),
        operator: Some(a.operator.clone()),
        text: a
            .operators
            .as_ref()
            .map(|p| format!("added to {}", p.display())),
        pid: std::process::id(),
        ..AuditEvent::default()
    };
    AuditLog::new(&a.common.audit)
        .append(&event)
        .map_err(|e| Fail::Other(e.into()))?;
    println!(
        "wrote key for {} to {} (mode 0600)",
        a.operator,
        a.out.display()
    );
    if let Some(ops) = &a.operators {
        println!("added {} to operators file {}", a.operator, ops.display());
    }
    Ok(())
}
