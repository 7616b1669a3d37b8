//! Reading recordings: the native format (`<recv ns> <raw frame>` per line, what `lyra record`
//! writes and the hftbacktest captures use) and cryptofeed's raw captures; plain or `.gz`.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use lyra_shm::decimal::parse_mantissa;

/// One recorded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Our receive time, ns since the epoch.
    pub recv_ns: u64,
    /// What the record is.
    pub kind: RecordKind,
    /// The raw frame (JSON text) for `Frame`/`Rest`, empty otherwise.
    pub frame: String,
    /// Index of the file in the order given.
    pub file: usize,
    /// 1-based line number in that file.
    pub line: usize,
}

/// Kinds of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKind {
    /// A frame received on a stream (a line of the native format, or `<ts>: <json>`).
    Frame,
    /// A REST response body, with the URL it came from (it may name the symbol).
    Rest {
        /// The request URL.
        url: String,
    },
    /// A (re)connection: books built on the previous connection are no longer maintained.
    Connect,
    /// A line that could not be read as a record; the text says why.
    Malformed(String),
}

/// Opens `path`, decompressing when it ends in `.gz`.
fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let r: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, r)))
}

/// Native recordings, files concatenated in the order given, streamed line by line.
pub struct NativeReader {
    files: Vec<PathBuf>,
    next_file: usize,
    cur: Option<(usize, Box<dyn BufRead>, usize)>,
    buf: Vec<u8>,
}

impl NativeReader {
    /// A reader over `files` (opened lazily, in order).
    pub fn new(files: Vec<PathBuf>) -> Self {
        Self {
            files,
            next_file: 0,
            cur: None,
            buf: Vec::new(),
        }
    }

    /// The next record, `None` at the end of the last file.
    ///
    /// # Errors
    /// A file that cannot be opened or read.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if self.cur.is_none() {
                if self.next_file >= self.files.len() {
                    return Ok(None);
                }
                let i = self.next_file;
                self.next_file += 1;
                self.cur = Some((i, open(&self.files[i])?, 0));
            }
            let Some((file, reader, line)) = self.cur.as_mut() else {
                continue;
            };
            self.buf.clear();
            let n = reader
                .read_until(b'\n', &mut self.buf)
                .with_context(|| format!("read {}", self.files[*file].display()))?;
            if n == 0 {
                self.cur = None;
                continue;
            }
            *line += 1;
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Ok(Some(malformed("invalid UTF-8", *file, *line)));
            };
            let text = text.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                continue;
            }
            return Ok(Some(parse_native_line(text, *file, *line)));
        }
    }
}

/// A record for a line that could not be read.
fn malformed(why: &str, file: usize, line: usize) -> Record {
    Record {
        recv_ns: 0,
        kind: RecordKind::Malformed(why.to_owned()),
        frame: String::new(),
        file,
        line,
    }
}

/// `<recv ns> <frame>`.
pub fn parse_native_line(text: &str, file: usize, line: usize) -> Record {
    let mk = |recv_ns, kind, frame: &str| Record {
        recv_ns,
        kind,
        frame: frame.to_owned(),
        file,
        line,
    };
    match text.split_once(' ') {
        Some((ts, frame)) => match ts.parse::<u64>() {
            Ok(ns) => mk(ns, RecordKind::Frame, frame),
            Err(_) => mk(
                0,
                RecordKind::Malformed(format!("bad receive time {ts:?}")),
                "",
            ),
        },
        None => mk(
            0,
            RecordKind::Malformed("no '<ns> <frame>' separator".into()),
            "",
        ),
    }
}

/// Epoch seconds with a fraction (`1633998512.0633569`) -> ns.
fn secs_to_ns(s: &str) -> Option<u64> {
    parse_mantissa(s.trim().as_bytes(), 9)
        .ok()
        .and_then(|v| u64::try_from(v).ok())
}

/// One line of a cryptofeed raw capture; `None` for lines that carry nothing to replay
/// (configuration, messages we sent).
pub fn parse_cryptofeed_line(text: &str, file: usize, line: usize) -> Option<Record> {
    let rec = |recv_ns, kind, frame: &str| Record {
        recv_ns,
        kind,
        frame: frame.to_owned(),
        file,
        line,
    };
    let bad = |why: &str| Some(rec(0, RecordKind::Malformed(why.to_owned()), ""));
    if text.starts_with("configuration:") || text.is_empty() {
        return None;
    }
    if let Some((url, rest)) = text.split_once(" <-> ") {
        let _ = url;
        return match secs_to_ns(rest) {
            Some(ns) => Some(rec(ns, RecordKind::Connect, "")),
            None => bad("bad connect time"),
        };
    }
    if text.contains(" <- ") && !text.starts_with('{') {
        // A message we sent (subscribe): nothing to replay.
        let head = text.split_once(": ").map_or(text, |(h, _)| h);
        if head.contains(" <- ") {
            return None;
        }
    }
    if let Some((url, rest)) = text.split_once(" -> ") {
        if !url.contains('{') {
            let Some((ts, body)) = rest.split_once(": ") else {
                return bad("no ': ' after REST time");
            };
            return match secs_to_ns(ts) {
                Some(ns) => Some(rec(
                    ns,
                    RecordKind::Rest {
                        url: url.to_owned(),
                    },
                    body,
                )),
                None => bad("bad REST time"),
            };
        }
    }
    let Some((ts, body)) = text.split_once(": ") else {
        return bad("no '<ts>: ' prefix");
    };
    match secs_to_ns(ts) {
        Some(ns) => Some(rec(ns, RecordKind::Frame, body)),
        None => bad("bad receive time"),
    }
}

/// Every record of the cryptofeed captures `files`, merged by timestamp (stable: equal times
/// keep file order, then line order).
///
/// # Errors
/// A file that cannot be opened or read.
pub fn read_cryptofeed(files: &[PathBuf]) -> Result<Vec<Record>> {
    let mut all = Vec::new();
    for (i, p) in files.iter().enumerate() {
        let mut r = open(p)?;
        let mut buf = Vec::new();
        let mut line = 0;
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf)
                .with_context(|| format!("read {}", p.display()))?
                == 0
            {
                break;
            }
            line += 1;
            let Ok(text) = std::str::from_utf8(&buf) else {
                all.push(malformed("invalid UTF-8", i, line));
                continue;
            };
            if let Some(rec) = parse_cryptofeed_line(text.trim_end_matches(['\n', '\r']), i, line) {
                all.push(rec);
            }
        }
    }
    // Malformed lines have no time: keep them where they were by giving them their
    // predecessor's time within the same file.
    let mut last = 0;
    let mut last_file = usize::MAX;
    for r in &mut all {
        if r.file != last_file {
            last = 0;
            last_file = r.file;
        }
        if matches!(r.kind, RecordKind::Malformed(_)) {
            r.recv_ns = last;
        } else {
            last = r.recv_ns;
        }
    }
    all.sort_by_key(|r| (r.recv_ns, r.file, r.line));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cryptofeed_lines() {
        let r = parse_cryptofeed_line("1633998512.0633569: {\"a\":1}", 0, 2).unwrap();
        assert_eq!(
            (r.recv_ns, r.kind, r.frame.as_str()),
            (1_633_998_512_063_356_900, RecordKind::Frame, "{\"a\":1}")
        );
        let r = parse_cryptofeed_line(
            "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000 -> 1633998512.320639: {\"lastUpdateId\":1}",
            0,
            1,
        )
        .unwrap();
        assert!(matches!(r.kind, RecordKind::Rest { ref url } if url.contains("NKNUSDT")));
        let r =
            parse_cryptofeed_line("wss://x/stream?streams=a <-> 1633998511.159679", 0, 1).unwrap();
        assert_eq!(r.kind, RecordKind::Connect);
        assert!(
            parse_cryptofeed_line("wss://x <- 1633998511.2: {\"method\":\"SUBSCRIBE\"}", 0, 1)
                .is_none()
        );
        assert!(parse_cryptofeed_line("configuration: {}", 0, 1).is_none());
        assert!(matches!(
            parse_cryptofeed_line("garbage", 0, 1).unwrap().kind,
            RecordKind::Malformed(_)
        ));
        assert!(matches!(
            parse_native_line("12x {}", 0, 1).kind,
            RecordKind::Malformed(_)
        ));
        assert_eq!(parse_native_line("12 {}", 0, 1).recv_ns, 12);
    }
}
