//! The hash-chained audit log: one JSON object per line, each carrying `prev_hash` (SHA-256 hex of
//! the previous line's bytes; 64 zeros for the first) and `hash` (SHA-256 hex of its own line
//! with the `hash` field left out, i.e. of the bytes before `,"hash":` followed by `}`).
//!
//! Hashing the exact bytes written (rather than a re-serialisation) makes verification
//! independent of JSON key order or number formatting. Appenders take an exclusive `flock` on the
//! file so two processes (engine, CLI) never fork the chain. Records never carry key material.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Seek, SeekFrom, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use lyra_shm::control::fsutil;
use ring::digest;
use serde::Serialize;

use crate::hex;

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The most bytes of the file's tail read to find the last record.
const TAIL_BYTES: u64 = 64 * 1024;
const HASH_FIELD: &str = ",\"hash\":\"";

/// Why the audit log could not be written or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An I/O call failed.
    #[error("audit log {path}: {op} failed")]
    Io {
        /// The log.
        path: PathBuf,
        /// What failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A record breaks the chain (or the last record cannot be read to extend it).
    #[error("audit log {path}: record at line {line} is broken: {reason}")]
    Broken {
        /// The log.
        path: PathBuf,
        /// 1-based line of the first broken record.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// One audited event. Optional fields are left out when empty.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditEvent {
    /// `trip`, `retrip`, `venue_trip`, `resume`, `resume_refused`, ...
    pub event: String,
    /// Wall clock, ns since the Unix epoch.
    pub wall_ns: u64,
    /// Who (a `Source` name).
    pub source: String,
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

/// The full record as written: the event plus its chain link.
#[derive(Serialize)]
struct Linked<'a> {
    seq: u64,
    #[serde(flatten)]
    event: &'a AuditEvent,
    prev_hash: &'a str,
}

/// SHA-256 hex of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// An append-only, hash-chained JSONL audit file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// A log at `path` (created 0600 on first append).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event`, linking it to the last record. Returns the new record's hash.
    ///
    /// # Errors
    /// [`AuditError::Io`], or [`AuditError::Broken`] when the last line is not a record.
    pub fn append(&self, event: &AuditEvent) -> Result<String, AuditError> {
        let io = |op| {
            move |source| AuditError::Io {
                path: self.path.clone(),
                op,
                source,
            }
        };
        let f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(io("open"))?;
        let _lock = fsutil::lock_exclusive(&f).map_err(io("flock"))?;
        let (prev_hash, seq) = match self.last_line(&f)? {
            None => (GENESIS.to_owned(), 1),
            Some(line) => {
                let prev_seq = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("seq").and_then(|s| s.as_u64()))
                    .ok_or_else(|| AuditError::Broken {
                        path: self.path.clone(),
                        line: 0,
                        reason: "last line is not an audit record".into(),
                    })?;
                (sha256_hex(line.as_bytes()), prev_seq + 1)
            }
        };
        let body = serde_json::to_string(&Linked {
            seq,
            event,
            prev_hash: &prev_hash,
        })
        .unwrap_or_default();
        let hash = sha256_hex(body.as_bytes());
        let mut line = body;
        line.pop(); // the closing brace
        line.push_str(HASH_FIELD);
        line.push_str(&hash);
        line.push_str("\"}\n");
        (&f).write_all(line.as_bytes()).map_err(io("write"))?;
        f.sync_data().map_err(io("fsync"))?;
        Ok(hash)
    }

    /// The last line (without its newline), or `None` for an empty file.
    fn last_line(&self, mut f: &File) -> Result<Option<String>, AuditError> {
        let io = |op| {
            move |source| AuditError::Io {
                path: self.path.clone(),
                op,
                source,
            }
        };
        let len = f.metadata().map_err(io("fstat"))?.len();
        let start = len.saturating_sub(TAIL_BYTES);
        f.seek(SeekFrom::Start(start)).map_err(io("seek"))?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail).map_err(io("read"))?;
        while tail.last() == Some(&b'\n') {
            tail.pop();
        }
        if tail.is_empty() {
            return Ok(None);
        }
        let from = match tail.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if start == 0 => 0,
            None => {
                return Err(AuditError::Broken {
                    path: self.path.clone(),
                    line: 0,
                    reason: "last record longer than 64 KiB".into(),
                })
            }
        };
        String::from_utf8(tail[from..].to_vec())
            .map(Some)
            .map_err(|_| AuditError::Broken {
                path: self.path.clone(),
                line: 0,
                reason: "last record is not UTF-8".into(),
            })
    }
}

/// Walks the log and checks every link; returns the number of records.
///
/// # Errors
/// [`AuditError::Broken`] with the 1-based line of the first broken record, or
/// [`AuditError::Io`].
pub fn verify_chain(path: &Path) -> Result<u64, AuditError> {
    let io = |op| {
        move |source| AuditError::Io {
            path: path.to_owned(),
            op,
            source,
        }
    };
    let f = File::open(path).map_err(io("open"))?;
    let mut prev = GENESIS.to_owned();
    let mut count = 0;
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let broken = |reason: &str| AuditError::Broken {
            path: path.to_owned(),
            line: i + 1,
            reason: reason.into(),
        };
        let line = line.map_err(|_| broken("not UTF-8 or unreadable"))?;
        let cut = line
            .rfind(HASH_FIELD)
            .ok_or_else(|| broken("no hash field"))?;
        let hash = line[cut + HASH_FIELD.len()..]
            .strip_suffix("\"}")
            .ok_or_else(|| broken("hash is not the last field"))?;
        let body = format!("{}}}", &line[..cut]);
        if sha256_hex(body.as_bytes()) != hash {
            return Err(broken("hash does not match the record's content"));
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|_| broken("not a JSON object"))?;
        let prev_hash = v
            .get("prev_hash")
            .and_then(|p| p.as_str())
            .ok_or_else(|| broken("no prev_hash"))?;
        if prev_hash != prev {
            return Err(broken("prev_hash does not match the previous record"));
        }
        if v.get("seq").and_then(|s| s.as_u64()) != Some(count + 1) {
            return Err(broken("seq out of order"));
        }
        prev = sha256_hex(line.as_bytes());
        count += 1;
    }
    Ok(count)
}
