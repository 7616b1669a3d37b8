//! `lyra record`: runs the live feed handler ([`lyra_feeds::live`]) against a venue (real, or the
//! loopback simulator through `--config`) and writes a native recording: one
//! `<local receive ns> <raw frame>` line per WebSocket payload and per REST snapshot body it
//! fetched (bare body lines, as in the hftbacktest captures), gzip when the name ends in `.gz`.
//! `lyra replay` rebuilds the same books from that file with no network.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use anyhow::{bail, Context, Result};
use flate2::{write::GzEncoder, Compression};
use lyra_feeds::{
    instrument::InstrumentTable,
    live::{BinanceFeed, BinanceFeedConfig, Recorded},
    sink::CountingSink,
    ws::TlsRoots,
};
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns, LiveClock},
    msg::VenueId,
};
use serde::Deserialize;

/// Binance Spot's public endpoints (used without `--config`).
const BINANCE_WS: &str = "wss://stream.binance.com:9443";
/// Binance Spot's REST base.
const BINANCE_REST: &str = "https://api.binance.com";

/// `lyra record` arguments.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Venue name (`binance`; with `--config`, the `name` of a `[[venues]]` entry).
    #[arg(long)]
    pub venue: String,
    /// Symbols in venue spelling, comma-separated (`BTCUSDT,ETHUSDT`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// Lyra config with `[[venues]]` (`name`, `dialect`, `rest_url`, `ws_url`, `ca_file`), e.g.
    /// the one `lyra sim --write-config` writes; without it, the venue's public endpoints.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Output file (gzip when it ends in `.gz`); default `<venue>-<epoch s>.gz`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The part of a Lyra config `lyra record` reads.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    venues: Vec<VenueEntry>,
}

/// One `[[venues]]` entry.
#[derive(Debug, Default, Deserialize)]
struct VenueEntry {
    name: String,
    #[serde(default)]
    dialect: Option<String>,
    #[serde(default)]
    rest_url: Option<String>,
    #[serde(default)]
    ws_url: Option<String>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
}

/// Where to connect.
#[derive(Debug)]
struct Target {
    dialect: String,
    ws: String,
    rest: String,
    roots: TlsRoots,
}

fn target(args: &RecordArgs) -> Result<Target> {
    let Some(path) = &args.config else {
        return match args.venue.as_str() {
            "binance" => Ok(Target {
                dialect: "binance".into(),
                ws: BINANCE_WS.into(),
                rest: BINANCE_REST.into(),
                roots: TlsRoots::WebPki,
            }),
            v => bail!(
                "lyra record: venue {v:?} has no built-in endpoints (binance only); give --config"
            ),
        };
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let cfg: ConfigFile =
        toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let Some(v) = cfg.venues.into_iter().find(|v| v.name == args.venue) else {
        bail!(
            "lyra record: {} has no [[venues]] entry named {:?}",
            path.display(),
            args.venue
        );
    };
    let dialect = v.dialect.unwrap_or_else(|| v.name.clone());
    let (Some(ws), Some(rest)) = (v.ws_url, v.rest_url) else {
        bail!(
            "lyra record: venue {:?} in {} needs ws_url and rest_url",
            v.name,
            path.display()
        );
    };
    let roots = match v.ca_file {
        Some(ca) => TlsRoots::PemFile(ca),
        None => TlsRoots::WebPki,
    };
    Ok(Target {
        dialect,
        ws,
        rest,
        roots,
    })
}

/// The output stream: plain or gzip.
enum Sink {
    Plain(BufWriter<File>),
    Gz(GzEncoder<BufWriter<File>>),
}

impl Sink {
    fn create(path: &Path) -> Result<Self> {
        let f = File::create(path).with_context(|| format!("create {}", path.display()))?;
        let w = BufWriter::with_capacity(1 << 20, f);
        Ok(if path.extension().is_some_and(|e| e == "gz") {
            Sink::Gz(GzEncoder::new(w, Compression::default()))
        } else {
            Sink::Plain(w)
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Gz(w) => w,
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gz(w) => w.finish()?.flush(),
        }
    }
}

/// What the recorder callback shares with the command.
struct Out {
    sink: Option<Sink>,
    lines: u64,
    snapshots: u64,
    bytes: u64,
    error: Option<std::io::Error>,
}

impl Out {
    /// Writes `<ns> <text>` as one line. JSON never needs a raw line break, so any in the
    /// payload (pretty-printed REST bodies) become spaces and the line format holds.
    fn line(&mut self, ns: u64, text: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let Some(s) = self.sink.as_mut() else { return };
        let w = s.writer();
        let res = (|| {
            write!(w, "{ns} ")?;
            if text.iter().any(|&b| b == b'\n' || b == b'\r') {
                let flat: Vec<u8> = text
                    .iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                    .collect();
                w.write_all(&flat)?;
            } else {
                w.write_all(text)?;
            }
            w.write_all(b"\n")
        })();
        match res {
            Ok(()) => {
                self.lines += 1;
                self.bytes += text.len() as u64 + 1;
            }
            Err(e) => self.error = Some(e),
        }
    }
}

/// Runs `lyra record`.
///
/// # Errors
/// Bad config, unsupported venue, an output file that cannot be written.
pub fn run(args: &RecordArgs) -> Result<()> {
    let t = target(args)?;
    if t.dialect != "binance" {
        bail!(
            "lyra record: dialect {:?} is not wired to a live feed yet (binance only)",
            t.dialect
        );
    }
    let out_path = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}-{}.gz",
            args.venue,
            wall_now_ns() / 1_000_000_000
        ))
    });
    let out = Arc::new(Mutex::new(Out {
        sink: Some(Sink::create(&out_path)?),
        lines: 0,
        snapshots: 0,
        bytes: 0,
        error: None,
    }));
    let cfg = BinanceFeedConfig::new(VenueId(0), &t.ws, &t.rest, t.roots, args.symbols.clone());
    let mut feed = BinanceFeed::new(
        &cfg,
        InstrumentTable::new(),
        CountingSink::default(),
        Arc::new(LiveClock),
    )?;
    let rec = out.clone();
    feed.set_recorder(Box::new(move |ns, r| {
        let mut o = rec
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match r {
            Recorded::Frame(f) => o.line(ns, f),
            Recorded::Snapshot { body, .. } => {
                o.snapshots += 1;
                o.line(ns, body);
            }
        }
    }));
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("install signal handler")?;
    }
    let deadline = args
        .duration
        .map(|s| mono_now_ns().saturating_add((s.max(0.0) * 1e9) as u64));
    eprintln!(
        "lyra record: {} {} -> {}",
        args.venue,
        args.symbols.join(","),
        out_path.display()
    );
    feed.start();
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| mono_now_ns() < d) {
        feed.poll_wait(Duration::from_millis(50));
        if out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .error
            .is_some()
        {
            break;
        }
    }
    feed.stop();
    let stats = feed.stats();
    let synced: Vec<String> = feed
        .instruments()
        .filter(|&i| feed.is_synced(i))
        .filter_map(|i| feed.table().get(i).map(|x| x.name.clone()))
        .collect();
    drop(feed);
    let mut o = out
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = o.error.take() {
        return Err(e).with_context(|| format!("write {}", out_path.display()));
    }
    if let Some(s) = o.sink.take() {
        s.finish()
            .with_context(|| format!("finish {}", out_path.display()))?;
    }
    println!(
        "{}",
        serde_json::json!({
            "venue": args.venue,
            "out": out_path.display().to_string(),
            "lines": o.lines,
            "bytes": o.bytes,
            "frames": stats.frames,
            "snapshots": o.snapshots,
            "malformed": stats.malformed,
            "connection_breaks": stats.connection_breaks,
            "synced_at_end": synced,
        })
    );
    Ok(())
}
