//! The AMRC: Lyra's automatic market-risk controller.
//!
//! It owns the halt policy: who may trip the halt word in the control segment, how a resume is
//! approved (two distinct operators, HMAC approvals), and the audit trail of every transition.
//!
//! - [`Amrc`] wraps a [`lyra_shm::control::ControlSegment`]: `trip`, `trip_venue`, `is_halted`
//!   and `resume` (two approvals from distinct operators, for the current epoch).
//! - [`keys`]: operator key files and the operators file (both 0600, owned by the caller).
//! - [`approval`]: the signed approval an operator hands in.
//! - [`audit`]: the SHA-256 chained audit store (daily JSONL + SQLite) and its verifier.
//! - [`install_panic_trip`]: a panic hook that trips the halt first.
//! - [`HeartbeatWatch`] / [`Amrc::check_heartbeats`]: a silent hot thread trips the halt.
//!
//! Hot paths (risk, OMS, panic hooks) trip through `ControlSegment::trip` directly (no I/O); the
//! AMRC handle is for callers that can afford the audit write (CLI, gate, AMRC monitor).
#![forbid(unsafe_code)]

pub mod approval;
pub mod audit;
mod halt;
mod hex;
pub mod keys;
mod panic_trip;
mod watchdog;

use std::path::PathBuf;

pub use approval::{Approval, Challenge};
pub use audit::{verify_chain, verify_store, AuditError, AuditEvent, AuditLog};
pub use halt::Amrc;
pub use keys::{keygen, KeyError, OperatorKey, OperatorKeys};
use lyra_shm::control::ControlError;
pub use panic_trip::install_panic_trip;
pub use watchdog::HeartbeatWatch;

/// Approvals a resume needs, from that many distinct operators.
pub const APPROVALS_NEEDED: usize = 2;

/// Why a resume was refused. Each cause has its own variant and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeRefused {
    /// Nothing is halted.
    #[error("resume refused: not halted (no global halt, no venue halted)")]
    NotHalted,
    /// Fewer approvals than required.
    #[error("resume refused: {got} approval(s) given, {APPROVALS_NEEDED} from distinct operators needed")]
    TooFewApprovals {
        /// Approvals given.
        got: usize,
    },
    /// Two approvals from the same operator.
    #[error("resume refused: operator {operator} approved more than once; {APPROVALS_NEEDED} distinct operators needed")]
    DuplicateOperator {
        /// The repeated operator.
        operator: String,
    },
    /// An approval made for another segment.
    #[error("resume refused: approval by {operator} is for segment {approval:#018x}, this segment is {current:#018x}")]
    WrongSegment {
        /// Whose approval.
        operator: String,
        /// Its segment id.
        approval: u64,
        /// This segment's id.
        current: u64,
    },
    /// An approval made for an earlier (or later) epoch.
    #[error("resume refused: approval by {operator} is for epoch {approval}, current epoch is {current} (stale: re-approve)")]
    StaleEpoch {
        /// Whose approval.
        operator: String,
        /// Its epoch.
        approval: u32,
        /// The current epoch.
        current: u32,
    },
    /// Not in the operators file.
    #[error("resume refused: unknown operator {operator}")]
    UnknownOperator {
        /// The name given.
        operator: String,
    },
    /// The MAC does not verify under the operator's key.
    #[error("resume refused: approval by {operator} has an invalid MAC (forged or corrupted)")]
    BadMac {
        /// Whose approval.
        operator: String,
    },
    /// The halt word changed while the resume was being checked.
    #[error(
        "resume refused: epoch moved from {expected} to {found} during the resume (re-approve)"
    )]
    Raced {
        /// Epoch the approvals were for.
        expected: u32,
        /// Epoch found.
        found: u32,
    },
}

/// Everything the AMRC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AmrcError {
    /// The control segment refused an operation.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// A resume was refused (and audited).
    #[error(transparent)]
    Refused(#[from] ResumeRefused),
    /// A key or operators file was refused.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// An approval file could not be read.
    #[error("approval file {path}: {reason}")]
    ApprovalFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The transition happened but its audit record could not be written.
    #[error("transition done (epoch {epoch}) but not audited")]
    Audit {
        /// Epoch after the transition.
        epoch: u32,
        /// The audit failure.
        #[source]
        source: AuditError,
    },
}
