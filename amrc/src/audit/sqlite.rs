//! The SQLite sink: one row per record (WAL mode, busy timeout), the correlation ids as columns
//! for queries, and the record's exact line in `json` so the row verifies like the JSONL line.

use std::{
    fs::OpenOptions,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::{config::DbConfig, params, Connection, OpenFlags, OptionalExtension};

use super::{record::Checked, AuditError};

/// How long a writer waits for another process's transaction before failing.
const BUSY: Duration = Duration::from_secs(10);

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    run TEXT,
    cycle INTEGER,
    decision INTEGER,
    intent INTEGER,
    json TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)";

fn err<'a>(path: &'a Path, op: &'static str) -> impl Fn(rusqlite::Error) -> AuditError + 'a {
    move |source| AuditError::Sqlite {
        path: path.to_owned(),
        op,
        source,
    }
}

/// Opens (creating 0600 if need be) the database for appending: WAL, busy timeout, schema.
pub(super) fn open_rw(path: &Path) -> Result<Connection, AuditError> {
    // Created by us first so it is private; SQLite gives its -wal/-shm files the same mode.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| AuditError::Io {
            path: path.to_owned(),
            op: "create",
            source,
        })?;
    let c = Connection::open(path).map_err(err(path, "open"))?;
    c.busy_timeout(BUSY).map_err(err(path, "busy_timeout"))?;
    c.pragma_update(None, "journal_mode", "WAL")
        .map_err(err(path, "journal_mode=WAL"))?;
    // NORMAL: a commit is not fsynced (the WAL stays consistent, a power loss may drop the last
    // commits). The JSONL line is fsynced before the commit and the next append copies rows SQLite
    // lacks from the JSONL files, so the second fsync per append would buy nothing.
    c.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err(path, "synchronous"))?;
    // A CLI process (`lyra halt`) closes its connection at once: no checkpoint (and its fsyncs) on
    // close; the WAL is checkpointed by the automatic checkpoint of a later commit instead.
    c.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(err(path, "no checkpoint on close"))?;
    c.execute_batch(SCHEMA).map_err(err(path, "create table"))?;
    Ok(c)
}

/// Highest `seq` stored (0 when empty).
pub(super) fn max_seq(c: &Connection, path: &Path) -> Result<u64, AuditError> {
    c.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n.max(0).unsigned_abs())
    .map_err(err(path, "select max(seq)"))
}

/// Inserts `lines` (checked records) in one transaction.
pub(super) fn insert(
    c: &mut Connection,
    path: &Path,
    lines: &[(String, Checked)],
) -> Result<(), AuditError> {
    let tx = c.transaction().map_err(err(path, "begin"))?;
    {
        let mut st = tx
            .prepare_cached(
                "INSERT INTO audit (seq, ts, kind, run, cycle, decision, intent, json, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(err(path, "prepare insert"))?;
        for (line, r) in lines {
            st.execute(params![
                r.seq as i64,
                r.ts as i64,
                r.kind,
                r.run,
                r.cycle.map(|v| v as i64),
                r.decision.map(|v| v as i64),
                r.intent.map(|v| v as i64),
                line,
                r.prev_hash,
                r.hash,
            ])
            .map_err(err(path, "insert"))?;
        }
    }
    tx.commit().map_err(err(path, "commit"))
}

/// One stored row, as read back for verification.
#[derive(Debug)]
pub(super) struct Row {
    pub seq: i64,
    pub ts: i64,
    pub kind: String,
    pub run: Option<String>,
    pub cycle: Option<i64>,
    pub decision: Option<i64>,
    pub intent: Option<i64>,
    pub json: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Row {
    /// Whether the columns say what the record's line says; `Err` names the first that differs.
    pub fn matches(&self, r: &Checked) -> Result<(), &'static str> {
        let id = |v: Option<u64>| v.map(|x| x as i64);
        if self.seq != r.seq as i64 {
            return Err("seq column differs from the record's seq");
        }
        if self.prev_hash != r.prev_hash {
            return Err("prev_hash column differs from the record's prev_hash");
        }
        if self.hash != r.hash {
            return Err("hash column differs from the record's hash");
        }
        if self.ts != r.ts as i64 || self.kind != r.kind {
            return Err("ts or kind column differs from the record");
        }
        if self.run != r.run
            || self.cycle != id(r.cycle)
            || self.decision != id(r.decision)
            || self.intent != id(r.intent)
        {
            return Err("a correlation id column differs from the record");
        }
        Ok(())
    }
}

/// Every row in `seq` order, read-only; `None` when the database does not exist.
pub(super) fn read_all(path: &PathBuf) -> Result<Option<Vec<Row>>, AuditError> {
    if !path.exists() {
        return Ok(None);
    }
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(err(path, "open"))?;
    c.busy_timeout(BUSY).map_err(err(path, "busy_timeout"))?;
    let has_table: Option<i64> = c
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(err(path, "read schema"))?;
    if has_table.is_none() {
        return Ok(Some(Vec::new()));
    }
    let mut st = c
        .prepare(
            "SELECT seq, ts, kind, run, cycle, decision, intent, json, prev_hash, hash
             FROM audit ORDER BY seq",
        )
        .map_err(err(path, "prepare select"))?;
    let rows = st
        .query_map([], |r| {
            Ok(Row {
                seq: r.get(0)?,
                ts: r.get(1)?,
                kind: r.get(2)?,
                run: r.get(3)?,
                cycle: r.get(4)?,
                decision: r.get(5)?,
                intent: r.get(6)?,
                json: r.get(7)?,
                prev_hash: r.get(8)?,
                hash: r.get(9)?,
            })
        })
        .map_err(err(path, "select"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err(path, "read row"))?;
    Ok(Some(rows))
}
