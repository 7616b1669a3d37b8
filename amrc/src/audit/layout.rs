//! Where a store's files live: the configured path `dir/<stem>.jsonl` names the store; records go
//! to `dir/<stem>-YYYY-MM-DD.jsonl` and `dir/<stem>.sqlite`, appenders lock `dir/<stem>.lock`.

use std::path::{Path, PathBuf};

const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// UTC civil date `(year, month, day)` of `days` since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_date(days: u64) -> (u64, u64, u64) {
    // Shifted to 0000-03-01 so leap days end each 4/100/400-year cycle.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a UTC civil date (the inverse of [`civil_date`]).
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// Days since the epoch of a wall time in ns.
pub(super) fn day_of(wall_ns: u64) -> u64 {
    wall_ns / NS_PER_DAY
}

/// The files of one audit store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    dir: PathBuf,
    stem: String,
}

impl Layout {
    /// The store named by the configured `path` (`dir/audit.jsonl` or `dir/audit`: stem `audit`).
    pub fn new(path: &Path) -> Self {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audit".into());
        let stem = name.strip_suffix(".jsonl").unwrap_or(&name).to_owned();
        Self { dir, stem }
    }

    /// The directory holding the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The daily JSONL file of `day` (days since the epoch, UTC).
    pub fn daily(&self, day: u64) -> PathBuf {
        let (y, m, d) = civil_date(day);
        self.dir
            .join(format!("{}-{y:04}-{m:02}-{d:02}.jsonl", self.stem))
    }

    /// The daily JSONL file a record at `wall_ns` belongs to.
    pub fn daily_for(&self, wall_ns: u64) -> PathBuf {
        self.daily(day_of(wall_ns))
    }

    /// The daily files' name pattern, for messages.
    pub fn daily_pattern(&self) -> PathBuf {
        self.dir.join(format!("{}-YYYY-MM-DD.jsonl", self.stem))
    }

    /// The SQLite database.
    pub fn sqlite(&self) -> PathBuf {
        self.dir.join(format!("{}.sqlite", self.stem))
    }

    /// The appenders' lock file.
    pub fn lock(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stem))
    }

    /// The existing daily files, oldest first (the chain's order). A missing directory has none.
    ///
    /// # Errors
    /// The directory exists but cannot be read.
    pub fn daily_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if self.date_of(name).is_some() {
                files.push(self.dir.join(name));
            }
        }
        // YYYY-MM-DD sorts by date as text.
        files.sort();
        Ok(files)
    }

    /// The day (since the epoch) of one of this store's daily files.
    pub(super) fn file_day(&self, path: &Path) -> Option<u64> {
        let date = self.date_of(path.file_name()?.to_str()?)?;
        let num = |r: std::ops::Range<usize>| date.get(r)?.parse::<u64>().ok();
        days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?)
    }

    /// `YYYY-MM-DD` if `name` is one of this store's daily files.
    fn date_of<'a>(&self, name: &'a str) -> Option<&'a str> {
        let date = name
            .strip_prefix(self.stem.as_str())?
            .strip_prefix('-')?
            .strip_suffix(".jsonl")?;
        let b = date.as_bytes();
        let shape = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
        shape.then_some(date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_413), (2025, 11, 21));
        assert_eq!(day_of(NS_PER_DAY - 1), 0);
        assert_eq!(day_of(NS_PER_DAY), 1);
        for d in [0, 59, 60, 11_016, 20_413, 2_932_896] {
            let (y, m, dd) = civil_date(d);
            assert_eq!(days_from_civil(y, m, dd), Some(d));
        }
    }

    #[test]
    fn paths_follow_the_configured_name() {
        let l = Layout::new(Path::new("/x/run/audit.jsonl"));
        assert_eq!(l.daily(0), PathBuf::from("/x/run/audit-1970-01-01.jsonl"));
        assert_eq!(l.sqlite(), PathBuf::from("/x/run/audit.sqlite"));
        assert_eq!(l, Layout::new(Path::new("/x/run/audit")));
        assert_eq!(Layout::new(Path::new("audit.jsonl")).dir(), Path::new("."));
        assert!(l.date_of("audit-2026-11-21.jsonl").is_some());
        assert!(l.date_of("audit-x.jsonl").is_none());
        assert!(l.date_of("decisions-2026-11-21.jsonl").is_none());
        assert!(l.date_of("audit.jsonl").is_none());
        assert_eq!(l.file_day(&l.daily(20_413)), Some(20_413));
    }
}
