//! The engine's TOML configuration, validated at start: a bad config refuses to start and says which
//! key is wrong.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// Why a configuration was refused. Every variant names the file and the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: cannot read: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type (the message names the key and line).
    #[error("config {path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// What toml said, with the key and position.
        message: String,
    },
    /// A value is out of its allowed range or inconsistent with another.
    #[error("config {path}: key `{key}`: {reason}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The dotted key, e.g. `threads.cores`.
        key: &'static str,
        /// Why it is wrong.
        reason: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity of this run.
    pub engine: EngineSection,
    /// Where files live.
    #[serde(default)]
    pub paths: PathsSection,
    /// Thread layout and wait strategy.
    #[serde(default)]
    pub threads: ThreadsSection,
    /// The order stage's send-slot source (used until strategies drive the order stage).
    #[serde(default)]
    pub order_stage: OrderStageSection,
    /// `[[venues]]`: order-entry connections (`lyra doctor` and the OMS read them).
    #[serde(default)]
    pub venues: Vec<VenueSection>,
}

/// `[[venues]]`: one venue account for order entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSection {
    /// Name used on the command line (`lyra doctor --venue NAME`).
    pub name: String,
    /// Dialect: `binance` (OKX and Kraken order entry come later).
    pub kind: String,
    /// REST base, `https://host[:port]`.
    pub rest_url: String,
    /// WebSocket API URL (user data stream), if used.
    #[serde(default)]
    pub ws_url: Option<String>,
    /// PEM file of CAs to trust instead of the WebPKI roots (the simulator's CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TOML file with `api_key` and `api_secret`, mode 0600.
    pub credentials_file: PathBuf,
    /// Symbols that preflight requires TRADING.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Largest tolerated clock skew against the venue, ms.
    #[serde(default = "default_max_skew_ms")]
    pub max_skew_ms: u64,
    /// `recvWindow`, ms (Binance allows up to 60,000).
    #[serde(default = "default_recv_window_ms")]
    pub recv_window_ms: u32,
}

fn default_max_skew_ms() -> u64 {
    1_000
}
fn default_recv_window_ms() -> u32 {
    5_000
}

/// `[engine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Run id: part of every client order id, so it must be unique per run of one account
    /// (1-8 letters or digits).
    pub run_id: String,
}

/// `[paths]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsSection {
    /// The control segment (halt word, grants, heartbeats, stats).
    #[serde(default = "default_segment")]
    pub segment: PathBuf,
    /// The halt/resume audit trail (JSONL, SHA-256 chained).
    #[serde(default = "default_audit")]
    pub audit: PathBuf,
}

impl Default for PathsSection {
    fn default() -> Self {
        Self {
            segment: default_segment(),
            audit: default_audit(),
        }
    }
}

/// The default control segment path.
pub fn default_segment() -> PathBuf {
    PathBuf::from("/dev/shm/lyra-control")
}

fn default_audit() -> PathBuf {
    PathBuf::from("lyra-run/audit.jsonl")
}

/// How stages map onto threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Every stage on its own thread and core.
    Spread,
    /// feed+book+strategy on one thread, orders on another: for 2-core machines.
    Compact,
    /// Everything on one thread: tests and replays.
    Single,
}

/// How an idle hot thread waits for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitKind {
    /// Busy-poll: lowest latency, owns its core (bare metal with isolated cores).
    Spin,
    /// Spin briefly, then yield the core to the scheduler.
    SpinYield,
    /// Spin briefly, then sleep on the control segment's wake word (shared machines, CI);
    /// a halt wakes it.
    Park,
}

/// `[threads]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadsSection {
    /// `spread`, `compact` or `single`.
    #[serde(default = "default_layout")]
    pub layout: Layout,
    /// `spin`, `spin-yield` or `park`.
    #[serde(default = "default_wait")]
    pub wait: WaitKind,
    /// Explicit cores for the layout's threads, in order; empty = pick from the cores available.
    #[serde(default)]
    pub cores: Vec<usize>,
    /// Whether to pin at all (a failed pin is an error when true).
    #[serde(default = "yes")]
    pub pin: bool,
    /// A thread whose heartbeat is older than this is stuck (AMRC trips the halt).
    #[serde(default = "default_stuck_ms")]
    pub stuck_ms: u64,
}

fn default_layout() -> Layout {
    Layout::Compact
}
fn default_wait() -> WaitKind {
    WaitKind::Park
}
fn yes() -> bool {
    true
}
fn default_stuck_ms() -> u64 {
    1_000
}

impl Default for ThreadsSection {
    fn default() -> Self {
        Self {
            layout: default_layout(),
            wait: default_wait(),
            cores: Vec::new(),
            pin: true,
            stuck_ms: default_stuck_ms(),
        }
    }
}

/// `[order_stage]`: the paced send-slot source that exercises the halt gate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderStageSection {
    /// Send slots offered per second (0 = none).
    #[serde(default = "default_rate")]
    pub send_slots_per_s: u64,
    /// Capacity of the strategy -> order ring (a power of two).
    #[serde(default = "default_ring")]
    pub ring_capacity: usize,
}

fn default_rate() -> u64 {
    1_000
}
fn default_ring() -> usize {
    1_024
}

impl Default for OrderStageSection {
    fn default() -> Self {
        Self {
            send_slots_per_s: default_rate(),
            ring_capacity: default_ring(),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the offending key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates config text (`path` is only used in messages).
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the offending key.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &'static str, reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            reason,
        };
        let id = &self.engine.run_id;
        // Every client order id embeds the run id, and the ids must be valid on every venue
        // (oms::clordid says why that means 1-8 letters or digits).
        if lyra_oms::clordid::validate_run_id(id).is_err() {
            return Err(bad(
                "engine.run_id",
                format!("{id:?} must be 1-8 ASCII letters or digits"),
            ));
        }
        if self.paths.segment.as_os_str().is_empty() {
            return Err(bad("paths.segment", "must not be empty".into()));
        }
        let t = &self.threads;
        let needed = threads_for(t.layout);
        if !t.cores.is_empty() && t.cores.len() != needed {
            return Err(bad(
                "threads.cores",
                format!(
                    "layout {:?} runs {needed} threads but {} cores are listed",
                    t.layout,
                    t.cores.len()
                ),
            ));
        }
        let mut seen = t.cores.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != t.cores.len() {
            return Err(bad(
                "threads.cores",
                format!("{:?} lists a core twice", t.cores),
            ));
        }
        if t.stuck_ms == 0 {
            return Err(bad("threads.stuck_ms", "must be > 0".into()));
        }
        let o = &self.order_stage;
        if !o.ring_capacity.is_power_of_two() || o.ring_capacity < 2 {
            return Err(bad(
                "order_stage.ring_capacity",
                format!("{} is not a power of two >= 2", o.ring_capacity),
            ));
        }
        if o.send_slots_per_s > 1_000_000 {
            return Err(bad(
                "order_stage.send_slots_per_s",
                format!("{} is above 1,000,000", o.send_slots_per_s),
            ));
        }
        for (i, v) in self.venues.iter().enumerate() {
            if v.name.is_empty() || self.venues[..i].iter().any(|w| w.name == v.name) {
                return Err(bad(
                    "venues.name",
                    format!("{:?} is empty or used twice", v.name),
                ));
            }
            if v.kind != "binance" {
                return Err(bad(
                    "venues.kind",
                    format!("{:?}: only \"binance\" order entry exists so far", v.kind),
                ));
            }
            if !v.rest_url.starts_with("https://") {
                return Err(bad(
                    "venues.rest_url",
                    format!("{}: {:?} must start with https://", v.name, v.rest_url),
                ));
            }
            if v.recv_window_ms == 0 || v.recv_window_ms > 60_000 {
                return Err(bad(
                    "venues.recv_window_ms",
                    format!("{}: {} is outside 1..=60000", v.name, v.recv_window_ms),
                ));
            }
        }
        Ok(())
    }
}

/// How many hot threads a layout runs.
pub fn threads_for(layout: Layout) -> usize {
    match layout {
        Layout::Spread => 4,
        Layout::Compact => 2,
        Layout::Single => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("test.toml"), text)
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse("[engine]\nrun_id = \"r1\"\n").unwrap();
        assert_eq!(c.threads.layout, Layout::Compact);
        assert_eq!(c.threads.wait, WaitKind::Park);
        assert_eq!(c.paths.segment, default_segment());
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[engine]\nrun_id = \"r1\"\n[threads]\nlayout = \"diagonal\"\n").unwrap_err();
        assert!(e.to_string().contains("layout"), "{e}");
        let e = parse("[engine]\nrun_id = \"r1\"\n[threads]\nwiat = \"park\"\n").unwrap_err();
        assert!(e.to_string().contains("wiat"), "{e}");
        let e = parse("[engine]\nrun_id = \"bad id!\"\n").unwrap_err();
        assert!(e.to_string().contains("engine.run_id"), "{e}");
        let e = parse("[engine]\nrun_id = \"r\"\n[threads]\nlayout = \"spread\"\ncores = [0, 1]\n")
            .unwrap_err();
        assert!(e.to_string().contains("threads.cores"), "{e}");
        let e =
            parse("[engine]\nrun_id = \"r\"\n[order_stage]\nring_capacity = 1000\n").unwrap_err();
        assert!(e.to_string().contains("order_stage.ring_capacity"), "{e}");
        let e = parse("[engine]\n").unwrap_err();
        assert!(e.to_string().contains("run_id"), "{e}");
        let venue = "[engine]\nrun_id = \"r\"\n[[venues]]\nname = \"bn\"\nkind = \"binance\"\ncredentials_file = \"c.toml\"\n";
        let c = parse(&format!("{venue}rest_url = \"https://api.binance.com\"\n")).unwrap();
        assert_eq!(
            (c.venues[0].recv_window_ms, c.venues[0].max_skew_ms),
            (5_000, 1_000)
        );
        let e = parse(&format!("{venue}rest_url = \"http://x\"\n")).unwrap_err();
        assert!(e.to_string().contains("venues.rest_url"), "{e}");
    }
}
