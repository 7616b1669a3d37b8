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
    /// `[[instruments]]`: canonical instruments the pipeline trades (none = the skeleton
    /// slot-source -> halt-gate pipeline runs instead).
    #[serde(default)]
    pub instruments: Vec<InstrumentSection>,
    /// `[strategies]`: arbitrage and market making.
    #[serde(default)]
    pub strategies: crate::strategy::StrategiesConfig,
    /// `[risk]`: pre-trade limits.
    #[serde(default)]
    pub risk: RiskSection,
    /// `[oms]`: order entry policy.
    #[serde(default)]
    pub oms: OmsSection,
    /// `[grant]`: a grant the engine issues into the segment at start (demo and tests only).
    #[serde(default)]
    pub grant: Option<GrantSection>,
}

/// `[[instruments]]`: one canonical instrument, index = position in the list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSection {
    /// Canonical name (`BTC-USDT`).
    pub name: String,
    /// Venue symbol, the same on every venue that lists it (`BTCUSDT`).
    pub symbol: String,
    /// Base asset (`BTC`).
    pub base: String,
    /// Quote asset (`USDT`).
    pub quote: String,
    /// Decimals of price mantissas.
    #[serde(default = "default_scale")]
    pub px_scale: u8,
    /// Decimals of quantity mantissas.
    #[serde(default = "default_scale")]
    pub qty_scale: u8,
    /// Price tick (mantissa at `px_scale`; 0 = derived from the first snapshot).
    #[serde(default)]
    pub tick: i64,
}

fn default_scale() -> u8 {
    8
}

impl InstrumentSection {
    /// The instrument's symbol as `kind` spells it: Binance uses `symbol`; the others are
    /// derived from `base` and `quote` (`BTC-USDT` OKX, `BTC/USDT` Kraken v2, `BTC_USDT` Gate.io).
    pub fn venue_symbol(&self, kind: VenueKind) -> String {
        match kind {
            VenueKind::Binance => self.symbol.clone(),
            VenueKind::Okx => format!("{}-{}", self.base, self.quote),
            VenueKind::Kraken => format!("{}/{}", self.base, self.quote),
            VenueKind::Gateio => format!("{}_{}", self.base, self.quote),
        }
    }
}

/// `[risk]`: the limits of `lyra_risk::RiskLimits`, with one entry per instrument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSection {
    /// Most orders working at once (all venues).
    #[serde(default = "default_open_orders")]
    pub max_open_orders: u32,
    /// Most new orders per second.
    #[serde(default = "default_orders_per_s")]
    pub max_orders_per_s: u32,
    /// Daily loss stop, quote mantissa at `lyra_risk::NOTIONAL_SCALE`.
    #[serde(default = "default_loss_stop")]
    pub daily_loss_stop: i64,
    /// `[[risk.instruments]]`, one per instrument index (missing = that instrument never trades).
    #[serde(default)]
    pub instruments: Vec<RiskInstrumentSection>,
}

fn default_open_orders() -> u32 {
    64
}
fn default_orders_per_s() -> u32 {
    50
}
fn default_loss_stop() -> i64 {
    1_000 * 100_000_000
}

impl Default for RiskSection {
    fn default() -> Self {
        Self {
            max_open_orders: default_open_orders(),
            max_orders_per_s: default_orders_per_s(),
            daily_loss_stop: default_loss_stop(),
            instruments: Vec::new(),
        }
    }
}

/// `[[risk.instruments]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskInstrumentSection {
    /// Instrument index.
    pub instrument: u16,
    /// Largest quantity of one order (mantissa).
    pub max_order_qty: i64,
    /// Largest notional of one order (quote mantissa at NOTIONAL_SCALE).
    pub max_order_notional: i64,
    /// Largest absolute net position (mantissa).
    pub max_position: i64,
    /// Price collar around the reference mid, bps.
    #[serde(default = "default_collar")]
    pub collar_bps: u32,
    /// Oldest book a decision may use, ms.
    #[serde(default = "default_book_age")]
    pub max_book_age_ms: u64,
}

fn default_collar() -> u32 {
    100
}
fn default_book_age() -> u64 {
    1_000
}

/// `[oms]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmsSection {
    /// `safe` (every order to the test endpoint) or `live`.
    #[serde(default = "default_mode")]
    pub mode: String,
    /// Directory of the per-venue intent journals.
    #[serde(default = "default_journal_dir")]
    pub journal_dir: PathBuf,
    /// Records per journal.
    #[serde(default = "default_journal_capacity")]
    pub journal_capacity: u64,
    /// How often working orders are polled for fills, ms.
    #[serde(default = "default_working_poll")]
    pub working_poll_ms: u64,
    /// What the OMS cancels when a venue's market data drops or goes stale (default `venue`).
    #[serde(default)]
    pub cancel_on_md_disconnect: MdDisconnectPolicy,
}

/// `oms.cancel_on_md_disconnect`: which open orders are cancelled, once, when a venue's
/// market-data connection drops or its watchdog declares it stale.
///
/// The default is `venue`: a small team's quotes on a venue whose book it can no longer see are
/// priced blind (a maker order left resting while the market moves is the classic way to be
/// picked off), while the other venues' books are still live and their orders still priced
/// right; `all` suits strategies whose legs on one venue only make sense with the other's
/// (hedged arbitrage), `none` an operator who manages resting orders by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MdDisconnectPolicy {
    /// Leave every order working.
    None,
    /// Cancel the open orders of the venue whose market data dropped.
    #[default]
    Venue,
    /// Cancel the open orders of every venue.
    All,
}

impl MdDisconnectPolicy {
    /// The config spelling.
    pub const fn name(self) -> &'static str {
        match self {
            MdDisconnectPolicy::None => "none",
            MdDisconnectPolicy::Venue => "venue",
            MdDisconnectPolicy::All => "all",
        }
    }
}

fn default_mode() -> String {
    "safe".into()
}
fn default_journal_dir() -> PathBuf {
    PathBuf::from("lyra-run/journal")
}
fn default_journal_capacity() -> u64 {
    65_536
}
fn default_working_poll() -> u64 {
    200
}

impl Default for OmsSection {
    fn default() -> Self {
        Self {
            mode: default_mode(),
            journal_dir: default_journal_dir(),
            journal_capacity: default_journal_capacity(),
            working_poll_ms: default_working_poll(),
            cancel_on_md_disconnect: MdDisconnectPolicy::default(),
        }
    }
}

/// `[grant]`: a grant issued at start. Only for the demo and tests: production grants come from
/// the operators (`lyra approve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSection {
    /// What it is, logged and audited (`demo grant: simulator only`).
    pub label: String,
    /// `safe` or `live`.
    pub mode: String,
    /// Lifetime, s.
    #[serde(default = "default_grant_ttl")]
    pub ttl_s: u64,
    /// Most orders under it.
    #[serde(default = "default_grant_orders")]
    pub max_orders: u32,
    /// Largest notional of one order (NOTIONAL_SCALE).
    pub max_order_notional: i64,
    /// Largest exposure (NOTIONAL_SCALE).
    pub max_exposure: i64,
}

fn default_grant_ttl() -> u64 {
    3_600
}
fn default_grant_orders() -> u32 {
    100_000
}

/// Which venue dialect a `[[venues]]` entry speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VenueKind {
    /// Binance Spot: market data and order entry.
    Binance,
    /// OKX v5: market data (`books`) and order entry (REST; `passphrase` in the credentials).
    Okx,
    /// Kraken: market data (WebSocket v2 `book`) and order entry (REST).
    Kraken,
    /// Gate.io v4 spot: market data only.
    Gateio,
}

impl VenueKind {
    /// The lower-case name used in the config.
    pub const fn name(self) -> &'static str {
        match self {
            VenueKind::Binance => "binance",
            VenueKind::Okx => "okx",
            VenueKind::Kraken => "kraken",
            VenueKind::Gateio => "gateio",
        }
    }

    /// Whether the daemon can build this venue's order entry.
    pub const fn has_order_entry(self) -> bool {
        !matches!(self, VenueKind::Gateio)
    }

    /// Whether its market-data feed fetches book snapshots over REST (so needs `rest_url`);
    /// OKX and Kraken push them on the socket.
    pub const fn md_needs_rest(self) -> bool {
        matches!(self, VenueKind::Binance | VenueKind::Gateio)
    }
}

/// `[[venues]]`: one venue connection. With `credentials_file` it is an order-entry account
/// (and trades market data too when `md_ws_url` is set); without, it is market data only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSection {
    /// Name used on the command line (`lyra doctor --venue NAME`).
    pub name: String,
    /// Dialect: `binance`, `okx`, `kraken` or `gateio`.
    pub kind: VenueKind,
    /// REST base, `https://host[:port]`: order entry and (Binance, Gate.io) book snapshots;
    /// empty = none (a market-data-only OKX or Kraken venue needs none).
    #[serde(default)]
    pub rest_url: String,
    /// Accepted for configs written by older tools and not used: market data comes from
    /// `md_ws_url`, the user data stream from `ws_api_url`.
    #[serde(default)]
    pub ws_url: Option<String>,
    /// PEM file of CAs to trust instead of the WebPKI roots (the simulator's CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TOML file with `api_key` and `api_secret`, mode 0600; absent = market data only (no
    /// order entry, no user stream, no orders routed to this venue).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Symbols that preflight requires TRADING.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Market-data WebSocket URL (Binance: the base `wss://host:port`; OKX, Kraken, Gate.io: the
    /// full URL with path, e.g. `wss://ws.okx.com:8443/ws/v5/public`); absent = this venue
    /// trades no market data.
    #[serde(default)]
    pub md_ws_url: Option<String>,
    /// The private order stream on its own thread; default on. Binance: the WebSocket API user
    /// data stream (PROTOCOLS-ORDERS A.5); OKX: `/ws/v5/private` `orders` (B.5); Kraken:
    /// WebSocket v2 `executions` with a `GetWebSocketsToken` token (C.5). Off, the OMS learns
    /// fills from REST polling only (working orders every `oms.working_poll_ms`).
    #[serde(default = "default_user_stream")]
    pub user_stream: bool,
    /// The private stream's URL; absent = derived from `rest_url`. Binance
    /// `wss://host[:port]/ws-api/v3` (`wss://ws-api.binance.com:443/ws-api/v3` for
    /// `https://api.binance.com`); OKX `wss://host[:port]/ws/v5/private`
    /// (`wss://ws.okx.com:8443/ws/v5/private` for OKX's hosts); Kraken `wss://host[:port]/v2`
    /// (`wss://ws-auth.kraken.com/v2` for `https://api.kraken.com`); any other host: the same
    /// host and port as `rest_url`, as the simulator serves it.
    #[serde(default)]
    pub ws_api_url: Option<String>,
    /// Largest tolerated clock skew against the venue, ms.
    #[serde(default = "default_max_skew_ms")]
    pub max_skew_ms: u64,
    /// `recvWindow`, ms (Binance allows up to 60,000).
    #[serde(default = "default_recv_window_ms")]
    pub recv_window_ms: u32,
    /// A valid book of this venue with no update for this long is marked invalid by the book
    /// stage at once (and resynced), ms; 100..=600,000.
    #[serde(default = "default_book_stale_ms")]
    pub book_stale_ms: u64,
}

/// Shortest and longest `venues.book_stale_ms`: below 100 ms a quiet but healthy book (Binance
/// depth streams push every 100 ms at best) would flap; above 10 min the check means nothing.
pub const BOOK_STALE_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=600_000;

/// 5 s: well past the 100 ms-1 s update cadence of the venues' depth streams on a traded
/// instrument, and well short of the feeds' 30-75 s connection silence watchdogs, which catch a
/// dead socket but not one subscription that went quiet.
fn default_book_stale_ms() -> u64 {
    5_000
}

fn default_max_skew_ms() -> u64 {
    1_000
}
fn default_user_stream() -> bool {
    true
}

impl VenueSection {
    /// Whether this venue enters orders (it has credentials); otherwise market data only.
    pub fn has_order_entry(&self) -> bool {
        self.credentials_file.is_some()
    }

    /// The private stream's URL for this venue's kind: `ws_api_url` if set (checked), else
    /// derived from `rest_url`.
    ///
    /// # Errors
    /// What is wrong with the URL, or a kind without a private stream (Gate.io).
    pub fn user_stream_url(&self) -> Result<String, String> {
        use lyra_oms::{
            binance::user_stream as bn, kraken::private_stream as kr, okx::private_stream as ok,
        };
        type Check = fn(&str) -> Result<(), lyra_oms::binance::UserStreamError>;
        type Derive = fn(&str) -> Result<String, lyra_oms::binance::UserStreamError>;
        let (check, derive): (Check, Derive) = match self.kind {
            VenueKind::Binance => (bn::check_ws_api_url, bn::ws_api_url_for),
            VenueKind::Okx => (ok::check_private_ws_url, ok::private_ws_url_for),
            VenueKind::Kraken => (kr::check_private_ws_url, kr::private_ws_url_for),
            VenueKind::Gateio => return Err("gateio has no private stream".into()),
        };
        match &self.ws_api_url {
            Some(u) => check(u).map(|()| u.clone()),
            None => derive(&self.rest_url),
        }
        .map_err(|e| e.to_string())
    }
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
    /// The halt/resume audit store: `dir/<stem>.jsonl` names `dir/<stem>-YYYY-MM-DD.jsonl` (UTC
    /// days) and `dir/<stem>.sqlite`, one SHA-256 chain (`lyra doctor --audit` verifies it).
    #[serde(default = "default_audit")]
    pub audit: PathBuf,
    /// The decision audit store: intents, refusals, requests, responses, fills (daily JSONL +
    /// SQLite, SHA-256 chained, named like `audit`).
    #[serde(default = "default_decisions")]
    pub decisions: PathBuf,
    /// Directory of the daily statements (PnL net of fees per venue and instrument, hashed).
    #[serde(default = "default_statements")]
    pub statements: PathBuf,
}

fn default_statements() -> PathBuf {
    PathBuf::from("lyra-run/statements")
}

fn default_decisions() -> PathBuf {
    PathBuf::from("lyra-run/decisions.jsonl")
}

impl Default for PathsSection {
    fn default() -> Self {
        Self {
            segment: default_segment(),
            audit: default_audit(),
            decisions: default_decisions(),
            statements: default_statements(),
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
            self.validate_venue_roles(v, &bad)?;
            // Every order-entry venue takes its private stream (Gate.io has no order entry).
            if v.has_order_entry() && v.kind != VenueKind::Gateio && v.user_stream {
                if let Err(e) = v.user_stream_url() {
                    return Err(bad("venues.ws_api_url", format!("{}: {e}", v.name)));
                }
            }
            if !BOOK_STALE_MS_RANGE.contains(&v.book_stale_ms) {
                return Err(bad(
                    "venues.book_stale_ms",
                    format!(
                        "{}: {} is outside {}..={}",
                        v.name,
                        v.book_stale_ms,
                        BOOK_STALE_MS_RANGE.start(),
                        BOOK_STALE_MS_RANGE.end()
                    ),
                ));
            }
            if v.recv_window_ms == 0 || v.recv_window_ms > 60_000 {
                return Err(bad(
                    "venues.recv_window_ms",
                    format!("{}: {} is outside 1..=60000", v.name, v.recv_window_ms),
                ));
            }
        }
        self.validate_pipeline(path)
    }

    /// Order entry vs market data only: the keys each role needs, and the kinds that have it.
    fn validate_venue_roles(
        &self,
        v: &VenueSection,
        bad: &dyn Fn(&'static str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let (name, kind) = (&v.name, v.kind.name());
        if v.has_order_entry() && !v.kind.has_order_entry() {
            return Err(bad(
                "venues.credentials_file",
                format!(
                    "{name}: {kind} has no order entry; drop credentials_file to use this \
                     venue for market data only"
                ),
            ));
        }
        if !v.has_order_entry() && v.md_ws_url.is_none() {
            return Err(bad(
                "venues.md_ws_url",
                format!("{name}: a venue without credentials_file is market data only and needs md_ws_url"),
            ));
        }
        let needs_rest = v.has_order_entry() || (v.md_ws_url.is_some() && v.kind.md_needs_rest());
        if needs_rest && v.rest_url.is_empty() {
            let why = if v.has_order_entry() {
                "order entry"
            } else {
                "book snapshots"
            };
            return Err(bad(
                "venues.rest_url",
                format!("{name}: {kind} needs rest_url for {why}"),
            ));
        }
        if !v.rest_url.is_empty() && !v.rest_url.starts_with("https://") {
            return Err(bad(
                "venues.rest_url",
                format!("{name}: {:?} must start with https://", v.rest_url),
            ));
        }
        if let Some(u) = &v.md_ws_url {
            if !(u.starts_with("wss://") || u.starts_with("ws://")) {
                return Err(bad(
                    "venues.md_ws_url",
                    format!("{name}: {u:?} must start with wss:// (or ws:// for debugging)"),
                ));
            }
        }
        Ok(())
    }

    /// Whether the trading pipeline runs (instruments configured) or the halt-gate skeleton.
    pub fn has_pipeline(&self) -> bool {
        !self.instruments.is_empty()
    }

    fn validate_pipeline(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &'static str, reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            reason,
        };
        if !self.has_pipeline() {
            return Ok(());
        }
        if self.venues.is_empty() {
            return Err(bad("venues", "instruments need at least one venue".into()));
        }
        for i in &self.instruments {
            if i.symbol.is_empty() || i.px_scale > 18 || i.qty_scale > 18 || i.tick < 0 {
                return Err(bad(
                    "instruments",
                    format!("{}: empty symbol, scale above 18 or negative tick", i.name),
                ));
            }
        }
        if !matches!(self.oms.mode.as_str(), "safe" | "live") {
            return Err(bad(
                "oms.mode",
                format!("{:?} must be \"safe\" or \"live\"", self.oms.mode),
            ));
        }
        if let Some(g) = &self.grant {
            if !matches!(g.mode.as_str(), "safe" | "live") {
                return Err(bad(
                    "grant.mode",
                    format!("{:?} must be \"safe\" or \"live\"", g.mode),
                ));
            }
            if g.label.is_empty() {
                return Err(bad("grant.label", "must say what the grant is".into()));
            }
        }
        for r in &self.risk.instruments {
            if r.instrument as usize >= self.instruments.len() {
                return Err(bad(
                    "risk.instruments.instrument",
                    format!("{} is not an instrument index", r.instrument),
                ));
            }
        }
        crate::strategy::Strategies::new(
            &self.strategies,
            self.venues.len(),
            self.instruments.len(),
            crate::strategy::Ids::default(),
        )
        .map_err(|e| bad("strategies", e.to_string()))?;
        // A strategy's orders on a market-data-only venue would all be refused at run time;
        // refuse the configuration instead (venue indices were checked just above).
        let md_only = |venue: u8| {
            let v = &self.venues[usize::from(venue)];
            (!v.has_order_entry()).then(|| {
                format!(
                    "venue {venue} ({}) is market data only (no credentials_file): no strategy \
                     can trade there",
                    v.name
                )
            })
        };
        for m in &self.strategies.markets {
            if let Some(why) = md_only(m.venue) {
                return Err(bad("strategies.markets.venue", why));
            }
        }
        for m in &self.strategies.mm {
            if let Some(why) = md_only(m.venue) {
                return Err(bad("strategies.mm.venue", why));
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

    #[test]
    fn user_stream_is_on_by_default_and_its_url_derived_or_checked() {
        let venue = "[engine]\nrun_id = \"r\"\n[[venues]]\nname = \"bn\"\nkind = \"binance\"\ncredentials_file = \"c.toml\"\nrest_url = \"https://api.binance.com\"\n";
        let c = parse(venue).unwrap();
        assert!(c.venues[0].user_stream);
        assert_eq!(
            c.venues[0].user_stream_url().unwrap(),
            "wss://ws-api.binance.com:443/ws-api/v3"
        );
        let c = parse(&format!(
            "{venue}ws_api_url = \"wss://127.0.0.1:9443/ws-api/v3\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.venues[0].user_stream_url().unwrap(),
            "wss://127.0.0.1:9443/ws-api/v3"
        );
        for bad in [
            "https://x/ws-api/v3",
            "wss://x/stream",
            "wss://x:y/ws-api/v3",
        ] {
            let e = parse(&format!("{venue}ws_api_url = {bad:?}\n")).unwrap_err();
            assert!(e.to_string().contains("venues.ws_api_url"), "{e}");
        }
        let c = parse(&format!(
            "{venue}user_stream = false\nws_api_url = \"nonsense\"\n"
        ))
        .unwrap();
        assert!(!c.venues[0].user_stream, "off: the URL is not used");
    }

    #[test]
    fn okx_and_kraken_private_stream_urls_are_derived_or_checked() {
        let head =
            "[engine]\nrun_id = \"r\"\n[[venues]]\nname = \"v\"\ncredentials_file = \"c.toml\"\n";
        for (kind, rest, derived, good, bad) in [
            (
                "okx",
                "https://openapi.okx.com",
                "wss://ws.okx.com:8443/ws/v5/private",
                "wss://127.0.0.1:9443/ws/v5/private",
                "wss://127.0.0.1:9443/ws/v5/public",
            ),
            (
                "kraken",
                "https://api.kraken.com",
                "wss://ws-auth.kraken.com/v2",
                "wss://127.0.0.1:9443/v2",
                "wss://127.0.0.1:9443/ws-api/v3",
            ),
        ] {
            let v = format!("{head}kind = \"{kind}\"\nrest_url = \"{rest}\"\n");
            let c = parse(&v).unwrap();
            assert_eq!(c.venues[0].user_stream_url().unwrap(), derived);
            let c = parse(&format!("{v}ws_api_url = \"{good}\"\n")).unwrap();
            assert_eq!(c.venues[0].user_stream_url().unwrap(), good);
            let e = parse(&format!("{v}ws_api_url = \"{bad}\"\n")).unwrap_err();
            assert!(e.to_string().contains("venues.ws_api_url"), "{kind}: {e}");
        }
    }

    #[test]
    fn market_data_only_venues_and_their_bad_combinations() {
        let head = "[engine]\nrun_id = \"r\"\n[[venues]]\nname = \"v\"\n";
        // OKX and Kraken push snapshots on the socket: md_ws_url alone is a venue.
        for kind in ["okx", "kraken"] {
            let c = parse(&format!(
                "{head}kind = \"{kind}\"\nmd_ws_url = \"wss://ws.example.com/v2\"\n"
            ))
            .unwrap();
            assert!(!c.venues[0].has_order_entry());
            assert_eq!(c.venues[0].kind.name(), kind);
        }
        // Binance and Gate.io fetch snapshots over REST.
        for kind in ["binance", "gateio"] {
            let md = format!("{head}kind = \"{kind}\"\nmd_ws_url = \"wss://x/ws/v4/\"\n");
            let e = parse(&md).unwrap_err().to_string();
            assert!(
                e.contains("venues.rest_url") && e.contains("book snapshots"),
                "{e}"
            );
            let c = parse(&format!("{md}rest_url = \"https://api.x.com\"\n")).unwrap();
            assert!(!c.venues[0].has_order_entry());
        }
        // Neither order entry nor market data.
        let e = parse(&format!("{head}kind = \"okx\"\n")).unwrap_err();
        assert!(e.to_string().contains("venues.md_ws_url"), "{e}");
        // OKX and Kraken order entry: rest_url and credentials; the private stream's URL is
        // checked like Binance's (not when the stream is off).
        for kind in ["okx", "kraken"] {
            let oe = format!(
                "{head}kind = \"{kind}\"\nrest_url = \"https://x\"\ncredentials_file = \"c.toml\"\n"
            );
            let c = parse(&oe).unwrap();
            assert!(c.venues[0].has_order_entry());
            assert!(c.venues[0].user_stream, "{kind}: on by default");
            let e = parse(&format!("{oe}ws_api_url = \"unused\"\n")).unwrap_err();
            assert!(e.to_string().contains("venues.ws_api_url"), "{e}");
            parse(&format!(
                "{oe}user_stream = false\nws_api_url = \"unused\"\n"
            ))
            .unwrap();
        }
        // Gate.io has no order entry.
        let e = parse(&format!(
            "{head}kind = \"gateio\"\nrest_url = \"https://x\"\ncredentials_file = \"c.toml\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("venues.credentials_file"), "{e}");
        // Order entry needs rest_url; unknown kinds name the key.
        let e = parse(&format!(
            "{head}kind = \"binance\"\ncredentials_file = \"c.toml\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("venues.rest_url"), "{e}");
        let e = parse(&format!(
            "{head}kind = \"bitmex\"\nmd_ws_url = \"wss://x\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("kind"), "{e}");
    }

    #[test]
    fn venue_symbols_follow_each_venues_spelling() {
        let i = InstrumentSection {
            name: "BTC-USDT".into(),
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            px_scale: 8,
            qty_scale: 8,
            tick: 0,
        };
        let got: Vec<String> = [
            VenueKind::Binance,
            VenueKind::Okx,
            VenueKind::Kraken,
            VenueKind::Gateio,
        ]
        .into_iter()
        .map(|k| i.venue_symbol(k))
        .collect();
        assert_eq!(got, ["BTCUSDT", "BTC-USDT", "BTC/USDT", "BTC_USDT"]);
    }

    #[test]
    fn cancel_on_md_disconnect_defaults_to_venue() {
        let c = parse("[engine]\nrun_id = \"r\"\n").unwrap();
        assert_eq!(c.oms.cancel_on_md_disconnect, MdDisconnectPolicy::Venue);
        for (text, want) in [
            ("none", MdDisconnectPolicy::None),
            ("venue", MdDisconnectPolicy::Venue),
            ("all", MdDisconnectPolicy::All),
        ] {
            let c = parse(&format!(
                "[engine]\nrun_id = \"r\"\n[oms]\ncancel_on_md_disconnect = \"{text}\"\n"
            ))
            .unwrap();
            assert_eq!(c.oms.cancel_on_md_disconnect, want);
            assert_eq!(want.name(), text);
        }
        let e = parse("[engine]\nrun_id = \"r\"\n[oms]\ncancel_on_md_disconnect = \"some\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("cancel_on_md_disconnect"), "{e}");
    }

    #[test]
    fn strategies_may_not_trade_a_market_data_only_venue() {
        let head = "[engine]\nrun_id = \"r\"\n\
            [[venues]]\nname = \"bn\"\nkind = \"binance\"\ncredentials_file = \"c.toml\"\nrest_url = \"https://x\"\n\
            [[venues]]\nname = \"gt\"\nkind = \"gateio\"\nmd_ws_url = \"wss://x/ws/v4/\"\nrest_url = \"https://y\"\n\
            [[instruments]]\nname = \"BTC-USDT\"\nsymbol = \"BTCUSDT\"\nbase = \"BTC\"\nquote = \"USDT\"\n";
        let market = |v: u8| {
            format!("[[strategies.markets]]\nvenue = {v}\ninstrument = 0\ntick = 1000000\nstep = 1000\nmaker_fee_ppm = 0\ntaker_fee_ppm = 0\n")
        };
        // Gate.io as a market-data-only venue next to a traded one is fine.
        parse(&format!("{head}{}", market(0))).unwrap();
        let e = parse(&format!("{head}{}{}", market(0), market(1)))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("strategies.markets.venue")
                && e.contains("gt")
                && e.contains("market data only"),
            "{e}"
        );
    }

    #[test]
    fn book_stale_ms_defaults_and_is_range_checked() {
        let venue = "[engine]\nrun_id = \"r\"\n[[venues]]\nname = \"bn\"\nkind = \"binance\"\ncredentials_file = \"c.toml\"\nrest_url = \"https://api.binance.com\"\n";
        assert_eq!(parse(venue).unwrap().venues[0].book_stale_ms, 5_000);
        let c = parse(&format!("{venue}book_stale_ms = 250\n")).unwrap();
        assert_eq!(c.venues[0].book_stale_ms, 250);
        for bad in [0, 99, 600_001] {
            let e = parse(&format!("{venue}book_stale_ms = {bad}\n")).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("venues.book_stale_ms") && msg.contains("bn"),
                "{msg}"
            );
        }
    }
}
