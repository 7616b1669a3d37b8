//! The appender: under an exclusive `flock` on the store's lock file, finds the last record (tail
//! of the newest daily file), writes the new lines to their daily files (fsync), then inserts the
//! same records into SQLite in one transaction.
//!
//! The JSONL files are the chain's source of truth for appending: if a process died between the
//! two sinks, the next append first copies the records SQLite lacks from the JSONL files.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Seek, SeekFrom, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use lyra_shm::control::fsutil;
use rusqlite::Connection;

use super::{
    layout::{day_of, Layout},
    record::{self, Checked},
    sha256_hex, sqlite, AuditError, AuditEvent, GENESIS,
};

/// The most bytes of a file's tail read to find the last record.
const TAIL_BYTES: u64 = 64 * 1024;

/// An append-only, hash-chained audit store (daily JSONL + SQLite). Cheap to clone; clones share
/// one SQLite connection.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    layout: Layout,
    db: Arc<Mutex<Option<Connection>>>,
}

/// The last record: its day, seq and line.
struct Tail {
    day: u64,
    seq: u64,
    line: String,
}

fn io<'a>(path: &'a Path, op: &'static str) -> impl Fn(std::io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        path: path.to_owned(),
        op,
        source,
    }
}

impl AuditLog {
    /// The store named by `path` (see [`Layout`]); files are created 0600 on first append.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            layout: Layout::new(&path),
            path,
            db: Arc::new(Mutex::new(None)),
        }
    }

    /// The configured path (the store's name).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store's files.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Appends `event`, linking it to the last record. Returns the new record's hash.
    ///
    /// # Errors
    /// [`AuditError::Io`] / [`AuditError::Sqlite`], or [`AuditError::Broken`] when the last line
    /// is not a record.
    pub fn append(&self, event: &AuditEvent) -> Result<String, AuditError> {
        self.append_all(std::slice::from_ref(event))
            .map(|mut h| h.pop().unwrap_or_default())
    }

    /// Appends `events` in order under one lock, one fsync per daily file touched and one SQLite
    /// transaction. Returns their hashes.
    ///
    /// # Errors
    /// As [`AuditLog::append`]. When the JSONL lines were written but SQLite failed, the error is
    /// [`AuditError::Sqlite`] and the next append copies the missing rows.
    pub fn append_all(&self, events: &[AuditEvent]) -> Result<Vec<String>, AuditError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let lock_path = self.layout.lock();
        let lock_file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path, "open"))?;
        let _lock = fsutil::lock_exclusive(&lock_file).map_err(io(&lock_path, "flock"))?;

        let tail = self.tail()?;
        let (mut prev, mut seq, mut day) = match &tail {
            None => (GENESIS.to_owned(), 0, 0),
            Some(t) => (sha256_hex(t.line.as_bytes()), t.seq, t.day),
        };
        // (day, lines) in order; a record never goes to a day before the last record's file, so
        // reading the files oldest first always reads the chain in order.
        let mut by_day: Vec<(u64, String)> = Vec::new();
        let mut rows = Vec::with_capacity(events.len());
        let mut hashes = Vec::with_capacity(events.len());
        for e in events {
            seq += 1;
            day = day.max(day_of(e.wall_ns));
            let (line, hash) = record::encode(seq, e, &prev);
            prev = sha256_hex(line.as_bytes());
            match by_day.last_mut() {
                Some((d, text)) if *d == day => {
                    text.push_str(&line);
                    text.push('\n');
                }
                _ => by_day.push((day, format!("{line}\n"))),
            }
            let checked = record::check(&line).map_err(|reason| AuditError::Broken {
                path: self.layout.daily(day),
                line: 0,
                reason: format!("a new record does not check: {reason}"),
            })?;
            rows.push((line, checked));
            hashes.push(hash);
        }
        for (d, text) in &by_day {
            let path = self.layout.daily(*d);
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)
                .map_err(io(&path, "open"))?;
            (&f).write_all(text.as_bytes())
                .map_err(io(&path, "write"))?;
            f.sync_data().map_err(io(&path, "fsync"))?;
        }
        self.insert_rows(rows)?;
        Ok(hashes)
    }

    /// Inserts `rows` into SQLite after copying any earlier records it lacks from the JSONL files.
    fn insert_rows(&self, mut rows: Vec<(String, Checked)>) -> Result<(), AuditError> {
        let db_path = self.layout.sqlite();
        let mut guard = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(sqlite::open_rw(&db_path)?);
        }
        let Some(conn) = guard.as_mut() else {
            return Ok(());
        };
        let first = rows.first().map_or(0, |r| r.1.seq);
        let result = sqlite::max_seq(conn, &db_path).and_then(|have| {
            if have + 1 < first {
                let mut missing = self.jsonl_records_after(have, first)?;
                missing.append(&mut rows);
                rows = missing;
            }
            sqlite::insert(conn, &db_path, &rows)
        });
        if result.is_err() {
            // Reopen next time: the connection may be what failed.
            *guard = None;
        }
        result
    }

    /// The JSONL records with `after < seq < before`, read from the newest files back.
    fn jsonl_records_after(
        &self,
        after: u64,
        before: u64,
    ) -> Result<Vec<(String, Checked)>, AuditError> {
        let files = self
            .layout
            .daily_files()
            .map_err(io(self.layout.dir(), "read_dir"))?;
        let mut out = Vec::new();
        for path in files.iter().rev() {
            let f = File::open(path).map_err(io(path, "open"))?;
            let mut here = Vec::new();
            let mut reached = false;
            for (i, line) in BufReader::new(f).lines().enumerate() {
                let line = line.map_err(io(path, "read"))?;
                let c = record::check(&line).map_err(|reason| AuditError::Broken {
                    path: path.clone(),
                    line: i + 1,
                    reason: reason.into(),
                })?;
                reached |= c.seq <= after + 1;
                if c.seq > after && c.seq < before {
                    here.push((line, c));
                }
            }
            here.append(&mut out);
            out = here;
            if reached {
                break;
            }
        }
        Ok(out)
    }

    /// The last record of the newest non-empty daily file, or `None` for an empty store.
    fn tail(&self) -> Result<Option<Tail>, AuditError> {
        let files = self
            .layout
            .daily_files()
            .map_err(io(self.layout.dir(), "read_dir"))?;
        for path in files.iter().rev() {
            let Some(line) = last_line(path)? else {
                continue;
            };
            let c = record::check(&line).map_err(|reason| AuditError::Broken {
                path: path.clone(),
                line: 0,
                reason: format!("last line is not an audit record: {reason}"),
            })?;
            // The file's own date, not the record's: records can land in a later day's file.
            let day = self.layout.file_day(path).unwrap_or_else(|| day_of(c.ts));
            return Ok(Some(Tail {
                day,
                seq: c.seq,
                line,
            }));
        }
        Ok(None)
    }
}

/// The last line of `path` (without its newline), or `None` for an empty file.
fn last_line(path: &Path) -> Result<Option<String>, AuditError> {
    let mut f = File::open(path).map_err(io(path, "open"))?;
    let len = f.metadata().map_err(io(path, "fstat"))?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start)).map_err(io(path, "seek"))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).map_err(io(path, "read"))?;
    while tail.last() == Some(&b'\n') {
        tail.pop();
    }
    if tail.is_empty() {
        return Ok(None);
    }
    let broken = |reason: &str| AuditError::Broken {
        path: path.to_owned(),
        line: 0,
        reason: reason.into(),
    };
    let from = match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if start == 0 => 0,
        None => return Err(broken("last record longer than 64 KiB")),
    };
    String::from_utf8(tail[from..].to_vec())
        .map(Some)
        .map_err(|_| broken("last record is not UTF-8"))
}
