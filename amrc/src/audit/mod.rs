//! The hash-chained audit store: every record goes to a daily JSONL file and to an SQLite table
//! (WAL), both carrying the same `seq`, `prev_hash` and `hash`.
//!
//! A record is one JSON object per line carrying `seq`, `prev_hash` (SHA-256 hex of the previous
//! record's line bytes; 64 zeros for the first) and `hash` (SHA-256 hex of its own line with the
//! `hash` field left out, i.e. of the bytes before `,"hash":` followed by `}`). Hashing the exact
//! bytes written (rather than a re-serialisation) makes verification independent of JSON key
//! order or number formatting; the SQLite row stores those same bytes in its `json` column.
//!
//! Layout ([`Layout`]): a configured path `dir/audit.jsonl` is the store's name; records go to
//! `dir/audit-YYYY-MM-DD.jsonl` (UTC day of the record's wall time) and `dir/audit.sqlite`. The
//! chain runs across days. Appenders take an exclusive `flock` on `dir/audit.lock` so two
//! processes (engine, CLI) never fork the chain. Records never carry key material.

mod layout;
mod log;
mod record;
mod sqlite;
mod verify;

use std::path::PathBuf;

use ring::digest;
use serde::Serialize;

use crate::hex;

pub use layout::{civil_date, Layout};
pub use log::AuditLog;
pub use verify::{verify_chain, verify_store, Break, Sink, VerifyReport};

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Why the audit store could not be written or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An I/O call failed.
    #[error("audit log {path}: {op} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A JSONL record breaks the chain (or the last record cannot be read to extend it).
    #[error("audit log {path}: record at line {line} is broken: {reason}")]
    Broken {
        /// The daily file.
        path: PathBuf,
        /// 1-based line of the first broken record in that file (0: the file's tail).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An SQLite row breaks the chain, or the two sinks disagree at that record.
    #[error("audit store {path}: row seq {seq} is broken: {reason}")]
    BrokenRow {
        /// The SQLite file.
        path: PathBuf,
        /// `seq` of the first broken row.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// An SQLite call failed.
    #[error("audit store {path}: {op} failed")]
    Sqlite {
        /// The SQLite file.
        path: PathBuf,
        /// What failed.
        op: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

/// One audited event. Optional fields are left out when empty.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditEvent {
    /// `trip`, `retrip`, `venue_trip`, `resume`, `resume_refused`, `intent`, `fill`, ...
    pub event: String,
    /// Wall clock, ns since the Unix epoch; also picks the record's daily file.
    pub wall_ns: u64,
    /// Who (a `Source` name).
    pub source: String,
    /// Correlation id: the engine run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Correlation id: the strategy stage poll that decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle: Option<u64>,
    /// Correlation id: the decision (intent group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<u64>,
    /// Correlation id: the intent sequence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<u64>,
    /// Operator name(s), if a human acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Halt reason code name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Venue of a venue trip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue: Option<u8>,
    /// Epoch before the event.
    pub epoch_before: u32,
    /// Epoch after the event.
    pub epoch_after: u32,
    /// The segment's id.
    pub segment_id: u64,
    /// Operators whose approvals were presented (names only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<String>,
    /// Why a resume was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The writing process.
    pub pid: u32,
}

/// SHA-256 hex of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes).as_ref())
}
