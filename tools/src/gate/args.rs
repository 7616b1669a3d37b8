//! `lyra-gate` arguments and the settings resolved from them (and from the engine config).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use clap::Parser;
use lyra_engine::config::{default_segment, Config};

/// Where the gate listens unless told otherwise (DESIGN §9; loopback only by default).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

/// Heartbeat age that fails `/health` when neither `--stale-ms` nor a config gives one: the
/// engine's own default `[threads] stuck_ms`, so the gate and the AMRC watchdog agree.
pub const DEFAULT_STALE_MS: u64 = 1_000;

/// `lyra-gate` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "lyra-gate",
    version,
    about = "Lyra gate: /health, Prometheus /metrics and a read-only dashboard over the control segment"
)]
pub struct GateArgs {
    /// Control segment file (default: the config's `[paths] segment`, else /dev/shm/lyra-control).
    #[arg(long, env = "LYRA_SEGMENT", value_name = "PATH")]
    pub segment: Option<PathBuf>,
    /// The engine's config file (TOML), checked by the engine's own loader; the gate uses its
    /// `[paths] segment`, `[threads] stuck_ms` and venue names.
    #[arg(long, env = "LYRA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to serve HTTP on (port 0 picks a free port; the first stdout line names it).
    #[arg(long, env = "LYRA_GATE_LISTEN", default_value = DEFAULT_LISTEN, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// A heartbeat older than this fails /health (default: the config's `[threads] stuck_ms`,
    /// else 1000).
    #[arg(long, value_name = "MS")]
    pub stale_ms: Option<u64>,
    /// Exit when standard input reaches end of file (a parent such as `lyra demo` holds the
    /// pipe, so the gate never outlives it).
    #[arg(long)]
    pub exit_on_stdin_eof: bool,
}

/// What the gate runs with, after defaults and the config are applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The control segment path.
    pub segment: PathBuf,
    /// The listen address.
    pub listen: SocketAddr,
    /// Largest healthy heartbeat age, ns.
    pub stale_ns: u64,
    /// Venue names by venue id (from the config; empty without one).
    pub venues: Vec<String>,
}

impl GateArgs {
    /// Resolves the settings: flags and environment first, then the config, then defaults.
    ///
    /// # Errors
    /// The config cannot be read or the engine's loader refuses it (the message names the key).
    pub fn settings(&self) -> Result<Settings> {
        let cfg = self.config.as_deref().map(load_config).transpose()?;
        let segment = self
            .segment
            .clone()
            .or_else(|| cfg.as_ref().map(|c| c.paths.segment.clone()))
            .unwrap_or_else(default_segment);
        let stale_ms = self
            .stale_ms
            .or_else(|| cfg.as_ref().map(|c| c.threads.stuck_ms))
            .unwrap_or(DEFAULT_STALE_MS);
        Ok(Settings {
            segment,
            listen: self.listen,
            stale_ns: stale_ms.saturating_mul(1_000_000),
            venues: cfg
                .map(|c| c.venues.into_iter().map(|v| v.name).collect())
                .unwrap_or_default(),
        })
    }
}

/// The engine's config through the engine's loader: the gate reads the very file the engine
/// runs with, so a key the engine would refuse is refused here too. (No `[gate]` section: the
/// engine's loader denies unknown sections, and one file serves both units.)
fn load_config(path: &Path) -> Result<Config> {
    Config::load(path).with_context(|| format!("lyra-gate: config {}", path.display()))
}
