//! `lyra sim`: a loopback venue simulator speaking Binance Spot's real protocol (REST `/api/v3`,
//! market streams, the WebSocket API user data stream) over TLS, with a seeded market
//! generator, a matching engine, fault injection and an oracle log.
//!
//! Use it from code with [`Sim::start`] → [`SimHandle`] (`endpoints()`, `oracle()`, `step()`,
//! `faults()`, `stop()`), or from the command line with `lyra sim`.
//!
//! Layout: [`config`] (TOML), [`market`] (latent mids, per-venue generator), [`matching`]
//! (books, orders, balances), [`venue`] (lock, fan-out, publication), [`binance`], [`okx`] and
//! [`kraken`] (the dialects, each with its private order stream), [`server`] / [`http`] /
//! [`tls`] (plumbing), [`faults`], [`oracle`], [`replay`] (`--replay`: a capture drives one
//! venue's market).

// The handle's API serves tests (which include this module) and `lyra demo`, not only `lyra sim`.
#![allow(dead_code, clippy::duplicated_attributes)]

pub mod binance;
pub mod config;
pub mod faults;
pub mod http;
pub mod kraken;
pub mod market;
pub mod matching;
pub mod okx;
pub mod oracle;
pub mod replay;
pub mod server;
pub mod tls;
pub mod venue;

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use lyra_shm::clock::mono_now_ns;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::ServerConfig;

use self::{
    config::{dec, Dialect, SimConfig},
    faults::{FaultAction, FaultFile, FaultKind, Faults},
    market::{Latent, VenueGen},
    matching::{Account, Balance, Matcher},
    oracle::Oracle,
    venue::{RateState, Venue, VenueState},
};

/// State shared by every simulator thread.
#[derive(Debug)]
pub struct Shared {
    /// Configuration.
    pub cfg: SimConfig,
    /// Venues.
    pub venues: Vec<Venue>,
    /// Latent mids (the generator thread, or `SimHandle::step`, advances them).
    pub latent: Mutex<Latent>,
    /// Steps taken.
    pub steps: AtomicU64,
    /// The oracle log.
    pub oracle: Oracle,
    /// Armed faults.
    pub faults: Faults,
    /// Set to stop every thread.
    pub stop: AtomicBool,
    /// TLS server configuration (None = plain TCP).
    pub tls: Option<Arc<ServerConfig>>,
    /// Event-time origin, ms.
    pub epoch_ms: u64,
    /// `--replay`: the capture driving one venue's market instead of the generator.
    pub replay: Option<replay::ReplayPlan>,
}

impl Shared {
    /// Whether venue `v`'s market is replayed from a capture.
    pub fn replayed(&self, v: usize) -> bool {
        self.replay.as_ref().is_some_and(|p| p.venue == v)
    }

    /// Venue `v`'s server clock, ms (wall clock plus any injected skew).
    pub fn now_ms(&self, v: usize) -> u64 {
        let wall = lyra_shm::clock::wall_now_ns() / 1_000_000;
        wall.saturating_add_signed(self.faults.skew_ms(v))
    }

    /// One generator step of every venue, published.
    pub fn step_all(&self) {
        let mut lat = self.latent.lock().expect("latent lock");
        lat.step();
        let k = self.steps.fetch_add(1, Ordering::AcqRel) + 1;
        let now = self.epoch_ms + k * self.cfg.event_ms_per_step;
        for v in &self.venues {
            if self.replayed(v.idx) {
                continue;
            }
            let mut st = v.state.lock().expect("venue lock");
            st.step(v, &lat, now, &self.faults, &self.oracle);
        }
    }
}

/// Where one venue is served.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Venue name.
    pub venue: String,
    /// Its dialect.
    pub dialect: Dialect,
    /// Listening address.
    pub addr: SocketAddr,
    /// REST base URL (`https://127.0.0.1:PORT`).
    pub rest: String,
    /// Market-data URL: Binance `wss://127.0.0.1:PORT` (append `/stream?streams=…` or `/ws/…`),
    /// OKX `wss://127.0.0.1:PORT/ws/v5/public`.
    pub ws: String,
    /// Private WebSocket URL (Binance WebSocket API user data stream; OKX `/ws/v5/private`;
    /// Kraken `/v2`, where `executions` subscriptions carry a `GetWebSocketsToken` token).
    pub ws_api: String,
}

/// A test account's credentials (never printed; written only to the 0600 credentials file).
#[derive(Clone)]
pub struct Credentials {
    /// API key.
    pub api_key: String,
    /// HMAC secret.
    pub secret: String,
    /// OKX passphrase.
    pub passphrase: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The simulator.
#[derive(Debug)]
pub struct Sim;

/// A capture to replay on one venue (`lyra sim --replay`).
#[derive(Debug, Clone)]
pub struct ReplayInput {
    /// Venue name.
    pub venue: String,
    /// `(recv ns, frame)` lines of the capture, in order.
    pub lines: Vec<(u64, String)>,
    /// Republish as fast as possible instead of with the recorded pacing.
    pub fast: bool,
}

/// A running simulator; stops when dropped.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    endpoints: Vec<Endpoint>,
    ca_path: PathBuf,
    ca_der: Vec<u8>,
    state_dir: PathBuf,
    credentials: Vec<Credentials>,
    threads: Vec<JoinHandle<()>>,
}

/// A random alphanumeric string of `n` characters from the OS generator.
fn random_token(rng: &SystemRandom, n: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    rng.fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("OS random generator failed"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

impl Sim {
    /// Starts the simulator: TLS material, listeners, generator and fault threads.
    ///
    /// # Errors
    /// Bad configuration, a port in use, or files that cannot be written.
    pub fn start(cfg: SimConfig, fault_file: Option<FaultFile>) -> Result<SimHandle> {
        Self::start_replay(cfg, fault_file, None)
    }

    /// [`Sim::start`], with one venue's market replayed from a capture instead of generated.
    ///
    /// # Errors
    /// As [`Sim::start`]; an unknown replay venue or a capture with nothing for it.
    pub fn start_replay(
        cfg: SimConfig,
        fault_file: Option<FaultFile>,
        replay: Option<ReplayInput>,
    ) -> Result<SimHandle> {
        let instruments = cfg.parsed_instruments()?;
        let replay = match replay {
            None => None,
            Some(r) => {
                let Some(v) = cfg.venues.iter().position(|x| x.name == r.venue) else {
                    bail!(
                        "--replay-venue {}: no such venue in the configuration",
                        r.venue
                    );
                };
                Some(replay::ReplayPlan::new(
                    v,
                    cfg.venues[v].dialect,
                    &instruments,
                    r.lines,
                    r.fast,
                )?)
            }
        };
        let state_dir = match &cfg.state_dir {
            Some(d) => d.clone(),
            None => std::env::temp_dir().join(format!(
                "lyra-sim-{}-{}",
                std::process::id(),
                lyra_shm::clock::wall_now_ns()
            )),
        };
        fs::create_dir_all(&state_dir)
            .with_context(|| format!("create {}", state_dir.display()))?;
        let rng = SystemRandom::new();
        let mut credentials = Vec::new();
        let mut accounts = Vec::new();
        for a in &cfg.accounts {
            let api_key = match &a.api_key {
                Some(k) => k.clone(),
                None => random_token(&rng, 64)?,
            };
            let secret = match &a.secret {
                Some(s) => s.clone(),
                None => random_token(&rng, 64)?,
            };
            let passphrase = match &a.passphrase {
                Some(s) => s.clone(),
                None => random_token(&rng, 16)?,
            };
            let mut balances = BTreeMap::new();
            for (asset, amount) in &a.balances {
                balances.insert(
                    asset.clone(),
                    Balance {
                        free: dec(&format!("balance {asset}"), amount)?,
                        locked: 0,
                    },
                );
            }
            credentials.push(Credentials {
                api_key: api_key.clone(),
                secret: secret.clone(),
                passphrase: passphrase.clone(),
            });
            accounts.push(Account {
                api_key,
                secret,
                passphrase,
                balances,
                withdraw: a.withdraw,
            });
        }
        let mut names: Vec<&str> = cfg.venues.iter().map(|v| v.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() != cfg.venues.len() {
            bail!("venue names must be unique");
        }
        let venues: Vec<Venue> = cfg
            .venues
            .iter()
            .enumerate()
            .map(|(i, vc)| {
                let m = Matcher::new(
                    instruments.clone(),
                    accounts.clone(),
                    vc.maker_fee_bps,
                    vc.taker_fee_bps,
                );
                let gen = VenueGen::new(cfg.seed, i, vc.clone(), instruments.len());
                Venue {
                    idx: i,
                    cfg: vc.clone(),
                    state: Mutex::new(VenueState::new(m, gen)),
                    rate: Mutex::new(RateState::default()),
                }
            })
            .collect();
        let keep = cfg
            .venues
            .iter()
            .map(|v| v.latency_steps)
            .max()
            .unwrap_or(0)
            + 1;
        let (tls, ca_der, ca_path) = if cfg.plain_tcp {
            (None, Vec::new(), PathBuf::new())
        } else {
            let t = tls::SimTls::generate()?;
            let p = state_dir.join("ca.pem");
            t.write_ca(&p)?;
            (Some(t.server), t.ca_der, p)
        };
        let oracle_path = cfg
            .oracle_path
            .clone()
            .unwrap_or_else(|| state_dir.join("oracle.jsonl"));
        let epoch_ms = cfg
            .epoch_ms
            .unwrap_or_else(|| lyra_shm::clock::wall_now_ns() / 1_000_000);
        let shared = Arc::new(Shared {
            latent: Mutex::new(Latent::new(cfg.seed, &instruments, keep)),
            steps: AtomicU64::new(0),
            oracle: Oracle::create(&oracle_path, cfg.oracle_frames)?,
            faults: Faults::new(venues.len()),
            stop: AtomicBool::new(false),
            tls,
            epoch_ms,
            venues,
            cfg,
            replay,
        });
        // Warm the books so a snapshot right after start is full.
        for _ in 0..5 {
            shared.step_all();
        }
        let mut endpoints = Vec::new();
        let mut threads = Vec::new();
        for (i, v) in shared.venues.iter().enumerate() {
            let l = server::bind(v.cfg.port)
                .with_context(|| format!("bind venue {} on port {}", v.cfg.name, v.cfg.port))?;
            let addr = l.local_addr()?;
            let (http, ws) = if shared.tls.is_some() {
                ("https", "wss")
            } else {
                ("http", "ws")
            };
            let (ws_path, api_path) = match v.cfg.dialect {
                Dialect::Binance => ("", "/ws-api/v3"),
                Dialect::Okx => ("/ws/v5/public", "/ws/v5/private"),
                Dialect::Kraken => ("/v2", "/v2"),
            };
            endpoints.push(Endpoint {
                venue: v.cfg.name.clone(),
                dialect: v.cfg.dialect,
                addr,
                rest: format!("{http}://{addr}"),
                ws: format!("{ws}://{addr}{ws_path}"),
                ws_api: format!("{ws}://{addr}{api_path}"),
            });
            let sh = shared.clone();
            threads.push(
                thread::Builder::new()
                    .name(format!("sim-accept-{i}"))
                    .spawn(move || server::accept_loop(sh, i, l))?,
            );
        }
        if shared.cfg.step_ms > 0 {
            let sh = shared.clone();
            threads.push(
                thread::Builder::new()
                    .name("sim-generator".into())
                    .spawn(move || generator(&sh))?,
            );
        }
        if shared.replay.is_some() {
            let sh = shared.clone();
            threads.push(
                thread::Builder::new()
                    .name("sim-replay".into())
                    .spawn(move || replay::run(&sh))?,
            );
        }
        if let Some(ff) = fault_file {
            let names: Vec<String> = shared.venues.iter().map(|v| v.cfg.name.clone()).collect();
            let schedule = ff.schedule(&names);
            let sh = shared.clone();
            threads.push(
                thread::Builder::new()
                    .name("sim-faults".into())
                    .spawn(move || fault_script(&sh, schedule))?,
            );
        }
        Ok(SimHandle {
            shared,
            endpoints,
            ca_path,
            ca_der,
            state_dir,
            credentials,
            threads,
        })
    }
}

/// Runs generator steps on schedule until stopped (no catch-up bursts beyond one tick).
fn generator(sh: &Shared) {
    let period = sh.cfg.step_ms * 1_000_000;
    let mut next = mono_now_ns() + period;
    while !sh.stop.load(Ordering::Acquire) {
        for _ in 0..sh.cfg.steps_per_tick.max(1) {
            sh.step_all();
        }
        let now = mono_now_ns();
        if next > now {
            thread::sleep(Duration::from_nanos(next - now));
            next += period;
        } else {
            next = now + period;
        }
    }
}

/// Arms scripted faults at their times.
fn fault_script(sh: &Shared, schedule: Vec<FaultAction>) {
    let start = mono_now_ns();
    for a in schedule {
        let Some(v) = sh.venues.iter().position(|v| v.cfg.name == a.venue) else {
            continue;
        };
        loop {
            if sh.stop.load(Ordering::Acquire) {
                return;
            }
            let at = start + a.at_ms * 1_000_000;
            let now = mono_now_ns();
            if now >= at {
                break;
            }
            thread::sleep(Duration::from_nanos(at - now).min(Duration::from_millis(50)));
        }
        arm(sh, v, a.fault, a.count, a.duration_ms, a.skew_ms);
    }
}

/// Arms one fault; the filter change applies at once.
fn arm(sh: &Shared, v: usize, kind: FaultKind, count: u32, duration_ms: u64, skew_ms: i64) {
    if kind == FaultKind::FilterChange {
        sh.venues[v].state.lock().expect("venue lock").tick_mult *= 10;
        sh.oracle.fault(
            lyra_shm::clock::wall_now_ns(),
            &sh.venues[v].cfg.name,
            "filter_change",
            "tick size x10",
        );
        return;
    }
    sh.faults.arm(v, kind, count, duration_ms, skew_ms);
    if duration_ms > 0 {
        let detail = format!("window {duration_ms} ms");
        sh.oracle.fault(
            lyra_shm::clock::wall_now_ns(),
            &sh.venues[v].cfg.name,
            &format!("{kind:?}"),
            &detail,
        );
    }
}

impl SimHandle {
    /// Where each venue is served.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The endpoint of venue `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.venue == name)
    }

    /// The CA certificate file clients should trust.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The test accounts' credentials, in configuration order.
    pub fn credentials(&self) -> &[Credentials] {
        &self.credentials
    }

    /// The oracle.
    pub fn oracle(&self) -> &Oracle {
        &self.shared.oracle
    }

    /// Shared state (tests inspect books and orders through it).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Runs `n` generator steps now (the usual way to drive a simulator with `step_ms = 0`).
    pub fn step(&self, n: u64) {
        for _ in 0..n {
            self.shared.step_all();
        }
    }

    /// Arms a fault on venue `venue` (see [`faults::FaultKind`]).
    ///
    /// # Errors
    /// Unknown venue.
    pub fn inject(
        &self,
        venue: &str,
        kind: FaultKind,
        count: u32,
        duration_ms: u64,
        skew_ms: i64,
    ) -> Result<()> {
        let Some(v) = self.shared.venues.iter().position(|x| x.cfg.name == venue) else {
            bail!("unknown venue {venue}");
        };
        arm(&self.shared, v, kind, count, duration_ms, skew_ms);
        Ok(())
    }

    /// Lets (or stops) every account's key withdraw funds on venue `venue`, as the venue's
    /// key-permission calls report it (a preflight must then refuse LIVE).
    ///
    /// # Errors
    /// Unknown venue.
    pub fn set_withdraw(&self, venue: &str, allowed: bool) -> Result<()> {
        let Some(v) = self.shared.venues.iter().find(|x| x.cfg.name == venue) else {
            bail!("unknown venue {venue}");
        };
        for a in &mut v.state.lock().expect("venue lock").m.accounts {
            a.withdraw = allowed;
        }
        Ok(())
    }

    /// FNV-1a hash of every market frame venue `v` has published.
    pub fn frames_hash(&self, v: usize) -> u64 {
        self.shared.venues[v]
            .state
            .lock()
            .expect("venue lock")
            .frames_hash
    }

    /// Writes a Lyra config fragment (venues, base URLs, CA path, credentials file) to `path`,
    /// and the credentials themselves to a 0600 file beside the state; returns the credentials path.
    ///
    /// # Errors
    /// Files cannot be written.
    pub fn write_config(&self, path: &Path) -> Result<PathBuf> {
        let cred_path = self.state_dir.join("credentials.toml");
        let mut creds = String::from("# Simulator test accounts (secret: keep this file 0600).\n");
        for (i, c) in self.credentials.iter().enumerate() {
            creds.push_str(&format!(
                "[[accounts]]\nindex = {i}\napi_key = \"{}\"\nsecret = \"{}\"\npassphrase = \"{}\"\n",
                c.api_key, c.secret, c.passphrase
            ));
        }
        write_private(&cred_path, &creds)?;
        let mut out =
            String::from("# Lyra config fragment written by `lyra sim --write-config`.\n");
        out.push_str(&format!(
            "[sim]\nca_file = {:?}\ncredentials_file = {:?}\noracle = {:?}\n",
            self.ca_path,
            cred_path,
            self.shared.oracle.path()
        ));
        for e in &self.endpoints {
            out.push_str(&format!(
                "\n[[venues]]\nname = {:?}\ndialect = {:?}\nrest_url = {:?}\nws_url = {:?}\nws_api_url = {:?}\nca_file = {:?}\ncredentials_file = {:?}\n",
                e.venue,
                format!("{:?}", e.dialect).to_lowercase(),
                e.rest,
                e.ws,
                e.ws_api,
                self.ca_path,
                cred_path
            ));
        }
        write_private(path, &out)?;
        Ok(cred_path)
    }

    /// Stops every thread and flushes the oracle.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.shared.oracle.flush();
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Writes `text` to a new file readable by the owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = fs::remove_file(path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))
}

/// `lyra sim` arguments.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Simulator configuration (TOML); defaults: BTC/ETH/SOL-USDT on one Binance venue.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seed (overrides the config's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fault script (TOML: `[[actions]]` and/or `[random]`).
    #[arg(long)]
    pub faults: Option<PathBuf>,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Write a ready Lyra config fragment here (and the credentials to a 0600 file beside the state).
    #[arg(long)]
    pub write_config: Option<PathBuf>,
    /// Drive one venue's market from a native capture (`lyra record` output, `.gz` or plain)
    /// instead of the generator, starting when a client subscribes.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// The venue the capture drives (default: the first configured venue).
    #[arg(long, requires = "replay")]
    pub replay_venue: Option<String>,
    /// Republish the capture as fast as possible instead of with its recorded pacing.
    #[arg(long, requires = "replay")]
    pub replay_fast: bool,
}

/// Reads a native capture into `(recv ns, frame)` lines (the `lyra` binary's replay reader).
pub type CaptureLoader<'a> = &'a dyn Fn(&Path) -> Result<Vec<(u64, String)>>;

/// Runs `lyra sim`; `load` reads `--replay` captures.
///
/// # Errors
/// Start-up failures, an unreadable capture.
pub fn run(args: &SimArgs, load: CaptureLoader<'_>) -> Result<()> {
    let mut cfg = match &args.config {
        Some(p) => SimConfig::load(p)?,
        None => SimConfig::default(),
    };
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    let faults = args.faults.as_deref().map(FaultFile::load).transpose()?;
    let replay = match &args.replay {
        None => None,
        Some(p) => Some(ReplayInput {
            venue: match &args.replay_venue {
                Some(v) => v.clone(),
                None => cfg
                    .venues
                    .first()
                    .map(|v| v.name.clone())
                    .context("no venue configured")?,
            },
            lines: load(p).with_context(|| format!("read capture {}", p.display()))?,
            fast: args.replay_fast,
        }),
    };
    let handle = Sim::start_replay(cfg, faults, replay)?;
    if let Some(p) = &handle.shared.replay {
        println!(
            "replay {} frames on venue {} ({} lines skipped)",
            p.frames.len(),
            handle.shared.venues[p.venue].cfg.name,
            p.skipped
        );
    }
    for e in handle.endpoints() {
        println!(
            "venue {} rest {} ws {} ws-api {}",
            e.venue, e.rest, e.ws, e.ws_api
        );
    }
    println!("ca {}", handle.ca_path().display());
    println!("oracle {}", handle.oracle().path().display());
    if let Some(p) = &args.write_config {
        let creds = handle.write_config(p)?;
        println!("config {} credentials {}", p.display(), creds.display());
    }
    let _ = std::io::stdout().flush();
    let deadline = args
        .duration
        .map(|s| mono_now_ns() + (s.max(0.0) * 1e9) as u64);
    loop {
        if deadline.is_some_and(|d| mono_now_ns() >= d) {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let c = handle.oracle().counts();
    println!(
        "{{\"orders\":{},\"test_orders\":{},\"cancels\":{},\"other_requests\":{},\"frames\":{},\"faults\":{}}}",
        c.orders, c.test_orders, c.cancels, c.other_requests, c.frames, c.faults
    );
    handle.stop();
    Ok(())
}
