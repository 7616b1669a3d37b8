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
    live::{
        BinanceFeed, BinanceFeedConfig, KrakenVenue, LiveStats, OkxVenue, Recorded, Recorder,
        SocketFeed, SocketFeedConfig, SocketVenue,
    },
    sink::{CountingSink, MdSink},
    ws::{
        venues::{KrakenWs, OkxWs},
        TlsRoots, WsConfig,
    },
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
/// OKX's public WebSocket.
const OKX_WS: &str = "wss://ws.okx.com:8443/ws/v5/public";
/// Kraken's WebSocket v2.
const KRAKEN_WS: &str = "wss://ws.kraken.com/v2";
/// Kraken book depth recorded (its checksum covers the top 10).
const KRAKEN_DEPTH: u32 = 10;

/// What `lyra record` needs of a live feed, whichever the venue.
trait Feed {
    fn start(&mut self);
    fn stop(&mut self);
    fn poll_wait(&mut self, max_wait: Duration) -> usize;
    fn stats(&self) -> LiveStats;
    /// Names of the instruments whose book is synced.
    fn synced(&self) -> Vec<String>;
}

impl<S: MdSink> Feed for BinanceFeed<S> {
    fn start(&mut self) {
        BinanceFeed::start(self);
    }
    fn stop(&mut self) {
        BinanceFeed::stop(self);
    }
    fn poll_wait(&mut self, max_wait: Duration) -> usize {
        BinanceFeed::poll_wait(self, max_wait)
    }
    fn stats(&self) -> LiveStats {
        BinanceFeed::stats(self)
    }
    fn synced(&self) -> Vec<String> {
        self.instruments()
            .filter(|&i| self.is_synced(i))
            .filter_map(|i| self.table().get(i).map(|x| x.name.clone()))
            .collect()
    }
}

impl<V: SocketVenue, S: MdSink> Feed for SocketFeed<V, S> {
    fn start(&mut self) {
        SocketFeed::start(self);
    }
    fn stop(&mut self) {
        SocketFeed::stop(self);
    }
    fn poll_wait(&mut self, max_wait: Duration) -> usize {
        SocketFeed::poll_wait(self, max_wait)
    }
    fn stats(&self) -> LiveStats {
        SocketFeed::stats(self)
    }
    fn synced(&self) -> Vec<String> {
        self.instruments()
            .filter(|&i| self.is_synced(i))
            .filter_map(|i| self.table().get(i).map(|x| x.name.clone()))
            .collect()
    }
}

/// A socket-snapshot feed's settings for `lyra record`.
fn socket_config(t: &Target, args: &RecordArgs, ws: WsConfig) -> SocketFeedConfig {
    SocketFeedConfig {
        venue: VenueId(0),
        url: t.ws.clone(),
        roots: t.roots.clone(),
        symbols: args.symbols.clone(),
        // OKX and Kraken texts fit scale 8 (the replay adapters read them at the same scale).
        scale: 8,
        snapshot_wait_ms: 5_000,
        ws,
    }
}

/// `lyra record` arguments.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Venue name (`binance`, `okx`, `kraken`; with `--config`, the `name` of a `[[venues]]` entry).
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
        let (ws, rest) = match args.venue.as_str() {
            "binance" => (BINANCE_WS, BINANCE_REST),
            "okx" => (OKX_WS, ""),
            "kraken" => (KRAKEN_WS, ""),
            v => bail!(
                "lyra record: venue {v:?} has no built-in endpoints (binance, okx, kraken); give --config"
            ),
        };
        return Ok(Target {
            dialect: args.venue.clone(),
            ws: ws.into(),
            rest: rest.into(),
            roots: TlsRoots::WebPki,
        });
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
    let Some(ws) = v.ws_url else {
        bail!(
            "lyra record: venue {:?} in {} needs ws_url",
            v.name,
            path.display()
        );
    };
    // Only Binance fetches snapshots over REST; OKX and Kraken push them on the socket.
    let rest = v.rest_url.unwrap_or_default();
    if dialect == "binance" && rest.is_empty() {
        bail!(
            "lyra record: venue {:?} in {} needs rest_url",
            v.name,
            path.display()
        );
    }
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

/// The output stream: plain or gzip (the encoder boxed: its state is a few hundred bytes with
/// flate2's zlib-rs back end, and one `Sink` per recording makes the indirection free).
enum Sink {
    Plain(BufWriter<File>),
    Gz(Box<GzEncoder<BufWriter<File>>>),
}

impl Sink {
    fn create(path: &Path) -> Result<Self> {
        let f = File::create(path).with_context(|| format!("create {}", path.display()))?;
        let w = BufWriter::with_capacity(1 << 20, f);
        Ok(if path.extension().is_some_and(|e| e == "gz") {
            Sink::Gz(Box::new(GzEncoder::new(w, Compression::default())))
        } else {
            Sink::Plain(w)
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Gz(w) => w.as_mut(),
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
    let rec = out.clone();
    let recorder: Recorder = Box::new(move |ns, r| {
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
    });
    let clock = Arc::new(LiveClock);
    let venue = VenueId(0);
    let mut feed: Box<dyn Feed> = match t.dialect.as_str() {
        "binance" => {
            let cfg = BinanceFeedConfig::new(venue, &t.ws, &t.rest, t.roots, args.symbols.clone());
            let mut f =
                BinanceFeed::new(&cfg, InstrumentTable::new(), CountingSink::default(), clock)?;
            f.set_recorder(recorder);
            Box::new(f)
        }
        "okx" => {
            let mut f = SocketFeed::new(
                &socket_config(&t, args, OkxWs::transport_config()),
                OkxVenue::new(venue, "books"),
                InstrumentTable::new(),
                CountingSink::default(),
                clock,
            )?;
            f.set_recorder(recorder);
            Box::new(f)
        }
        "kraken" => {
            let mut f = SocketFeed::new(
                &socket_config(&t, args, KrakenWs::transport_config()),
                KrakenVenue::new(venue, KRAKEN_DEPTH),
                InstrumentTable::new(),
                CountingSink::default(),
                clock,
            )?;
            f.set_recorder(recorder);
            Box::new(f)
        }
        d => bail!("lyra record: dialect {d:?} is not wired to a live feed (binance, okx, kraken)"),
    };
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
    let synced = feed.synced();
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
