//! Verifying a store: the JSONL chain across all daily files in order, the SQLite chain row by
//! row, and that both hold the same records. The report names the first broken record (file and
//! line, or row seq) and why.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{layout::Layout, record, sha256_hex, sqlite, AuditError, GENESIS};

/// Which part of the store a break was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sink {
    /// A daily JSONL file.
    Jsonl,
    /// The SQLite table.
    Sqlite,
    /// Both chains verify but hold different records.
    CrossCheck,
}

/// The first broken record of one sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// Where.
    pub sink: Sink,
    /// The daily file or the SQLite file.
    pub file: PathBuf,
    /// 1-based line in `file` (JSONL breaks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The record's seq (the row's, or the one expected there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// What `lyra doctor --audit` prints.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The configured path (the store's name).
    pub audit: PathBuf,
    /// Daily files, oldest first.
    pub jsonl_files: Vec<PathBuf>,
    /// Records in the JSONL chain up to its first break.
    pub jsonl_records: u64,
    /// The SQLite file.
    pub sqlite: PathBuf,
    /// Whether it exists.
    pub sqlite_present: bool,
    /// Rows in the SQLite chain up to its first break.
    pub sqlite_records: u64,
    /// True when both chains verify and hold the same records.
    pub ok: bool,
    /// The first break found: JSONL first, then SQLite, then the cross-check.
    pub first_broken: Option<Break>,
    /// Every sink's first break.
    pub breaks: Vec<Break>,
}

impl VerifyReport {
    /// The first break as an error ([`AuditError::Broken`] for a JSONL line, otherwise
    /// [`AuditError::BrokenRow`]).
    pub fn error(&self) -> Option<AuditError> {
        let b = self.first_broken.as_ref()?;
        Some(match (b.sink, b.line) {
            (Sink::Jsonl, Some(line)) => AuditError::Broken {
                path: b.file.clone(),
                line,
                reason: b.reason.clone(),
            },
            _ => AuditError::BrokenRow {
                path: b.file.clone(),
                seq: b.seq.unwrap_or(0),
                reason: b.reason.clone(),
            },
        })
    }
}

/// Verifies the store named by `path` (see [`Layout`]).
///
/// # Errors
/// Only when a file cannot be read ([`AuditError::Io`] / [`AuditError::Sqlite`]), including when
/// there is no store at all; a broken record is reported in the [`VerifyReport`].
pub fn verify_store(path: &Path) -> Result<VerifyReport, AuditError> {
    let layout = Layout::new(path);
    let files = layout.daily_files().map_err(|source| AuditError::Io {
        path: layout.dir().to_owned(),
        op: "read_dir",
        source,
    })?;
    let db = layout.sqlite();
    let rows = sqlite::read_all(&db)?;
    if files.is_empty() && rows.is_none() {
        return Err(AuditError::Io {
            path: path.to_owned(),
            op: "find the audit store",
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no {} daily files and no {}",
                    layout.daily_pattern().display(),
                    db.display()
                ),
            ),
        });
    }
    let mut breaks = Vec::new();
    let (jsonl, b) = verify_jsonl(&files)?;
    breaks.extend(b);
    let sqlite_present = rows.is_some();
    let (rows_ok, b) = verify_rows(&db, rows.unwrap_or_default());
    breaks.extend(b);
    if !sqlite_present && !jsonl.is_empty() {
        breaks.push(Break {
            sink: Sink::CrossCheck,
            file: db.clone(),
            line: None,
            seq: Some(1),
            reason: "the SQLite store is missing".into(),
        });
    } else if let Some(b) = cross_check(&db, &jsonl, &rows_ok) {
        breaks.push(b);
    }
    Ok(VerifyReport {
        audit: path.to_owned(),
        jsonl_files: files,
        jsonl_records: jsonl.len() as u64,
        sqlite: db,
        sqlite_present,
        sqlite_records: rows_ok.len() as u64,
        ok: breaks.is_empty(),
        first_broken: breaks.first().cloned(),
        breaks,
    })
}

/// Verifies the store and returns its record count.
///
/// # Errors
/// The first broken record ([`AuditError::Broken`] naming the daily file and line, or
/// [`AuditError::BrokenRow`] naming the SQLite row), or why the store could not be read.
pub fn verify_chain(path: &Path) -> Result<u64, AuditError> {
    let r = verify_store(path)?;
    match r.error() {
        Some(e) => Err(e),
        None => Ok(r.jsonl_records),
    }
}

/// Walks the daily files in order; returns the hashes of the records up to the first break.
fn verify_jsonl(files: &[PathBuf]) -> Result<(Vec<String>, Option<Break>), AuditError> {
    let mut prev = GENESIS.to_owned();
    let mut hashes = Vec::new();
    for path in files {
        let f = File::open(path).map_err(|source| AuditError::Io {
            path: path.clone(),
            op: "open",
            source,
        })?;
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let seq = hashes.len() as u64 + 1;
            let broken = |reason: &str| Break {
                sink: Sink::Jsonl,
                file: path.clone(),
                line: Some(i + 1),
                seq: Some(seq),
                reason: reason.into(),
            };
            let Ok(line) = line else {
                return Ok((hashes, Some(broken("not UTF-8 or unreadable"))));
            };
            let c = match record::check(&line) {
                Ok(c) => c,
                Err(reason) => return Ok((hashes, Some(broken(reason)))),
            };
            if c.prev_hash != prev {
                return Ok((
                    hashes,
                    Some(broken("prev_hash does not match the previous record")),
                ));
            }
            if c.seq != seq {
                return Ok((hashes, Some(broken("seq out of order"))));
            }
            prev = sha256_hex(line.as_bytes());
            hashes.push(c.hash);
        }
    }
    Ok((hashes, None))
}

/// Walks the rows in seq order; returns the hashes of the rows up to the first break.
fn verify_rows(db: &Path, rows: Vec<sqlite::Row>) -> (Vec<String>, Option<Break>) {
    let mut prev = GENESIS.to_owned();
    let mut hashes = Vec::with_capacity(rows.len());
    for row in rows {
        let seq = hashes.len() as u64 + 1;
        let broken = |reason: String| Break {
            sink: Sink::Sqlite,
            file: db.to_owned(),
            line: None,
            seq: Some(seq),
            reason,
        };
        if row.seq != seq as i64 {
            let reason = if row.seq > seq as i64 {
                format!("row seq {seq} is missing (next row is seq {})", row.seq)
            } else {
                format!("row seq {} out of order", row.seq)
            };
            return (hashes, Some(broken(reason)));
        }
        let c = match record::check(&row.json) {
            Ok(c) => c,
            Err(reason) => return (hashes, Some(broken(reason.into()))),
        };
        if let Err(reason) = row.matches(&c) {
            return (hashes, Some(broken(reason.into())));
        }
        if c.prev_hash != prev {
            return (
                hashes,
                Some(broken(
                    "prev_hash does not match the previous record".into(),
                )),
            );
        }
        prev = sha256_hex(row.json.as_bytes());
        hashes.push(c.hash);
    }
    (hashes, None)
}

/// The first record where the two intact prefixes differ, or where one holds more than the other.
fn cross_check(db: &Path, jsonl: &[String], rows: &[String]) -> Option<Break> {
    let differ = |seq: usize, reason: String| Break {
        sink: Sink::CrossCheck,
        file: db.to_owned(),
        line: None,
        seq: Some(seq as u64),
        reason,
    };
    if let Some(i) = jsonl.iter().zip(rows).position(|(a, b)| a != b) {
        return Some(differ(
            i + 1,
            "the JSONL record and the SQLite row differ".into(),
        ));
    }
    match jsonl.len().cmp(&rows.len()) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(differ(
            rows.len() + 1,
            format!(
                "SQLite lacks records {}..={} that the JSONL files hold",
                rows.len() + 1,
                jsonl.len()
            ),
        )),
        std::cmp::Ordering::Less => Some(differ(
            jsonl.len() + 1,
            format!(
                "the JSONL files lack records {}..={} that SQLite holds",
                jsonl.len() + 1,
                rows.len()
            ),
        )),
    }
}
