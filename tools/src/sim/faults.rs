//! Fault injection, scripted (a TOML file of timed actions) or seeded random, per venue. Each
//! fault is armed as a count of one-shot occurrences or a time window; the code paths that
//! produce the fault (`take`) consume it. Every injection is written to the oracle.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
};

use lyra_shm::clock::mono_now_ns;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::market::Rng;

/// Every fault the simulator can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Market WS: TCP closed without a close frame (the client sees 1006).
    WsDrop,
    /// Market WS: the next data frame is sent twice.
    WsDuplicate,
    /// Market WS: the next two data frames are swapped.
    WsReorder,
    /// Market WS: data frames held back for the window, then sent.
    WsDelay,
    /// Market WS: no data for the window; pings are still answered.
    WsStall,
    /// Market data: update ids skip ahead (a sequence gap every client sees).
    WsGap,
    /// Market data (OKX): one book update carries a wrong checksum.
    ChecksumCorruption,
    /// Market data: one depth update carries a bid above the best ask.
    CrossedLevel,
    /// Market WS: one 2 MiB frame.
    OversizedFrame,
    /// Market WS: one truncated JSON frame.
    MalformedJson,
    /// Market WS: close frame 1001 (going away), as during maintenance.
    MaintenanceClose,
    /// Market WS: the next SUBSCRIBE is never acknowledged (nor served).
    NeverAck,
    /// REST: the next order is placed but the connection drops before the response.
    RestDropResponse,
    /// REST: the next order gets HTTP 503 and IS placed (Binance -1008, OKX `50001`, Kraken
    /// `EService:Unavailable`).
    Rest5xxPlaced,
    /// REST: the next order gets HTTP 503 and is NOT placed.
    Rest5xxNotPlaced,
    /// REST: the next order gets a timeout, status unknown, and IS placed (Binance -1007, OKX
    /// `50004`, Kraken `EGeneral:Internal error`).
    Rest1007Placed,
    /// REST: the next order gets the timeout and is NOT placed.
    Rest1007NotPlaced,
    /// REST: Binance: the weight budget is exhausted now (429s, then a 418 ban if the client
    /// insists); OKX (HTTP 429 `50011`) and Kraken (`EAPI:Rate limit exceeded`): one request
    /// refused per occurrence, every request during a window.
    RateLimit,
    /// REST: server time is skewed by `skew_ms` for the window.
    ClockSkew,
    /// REST: tick sizes become 10x larger (exchangeInfo and enforcement), for good.
    FilterChange,
    /// REST: order queries answer -2013 for the window even for existing orders.
    False2013,
    /// REST: the next cancel answers -2011 and leaves the order working.
    Cancel2011,
    /// REST: the next cancel finds the order just filled (fill on the user stream, -2011).
    FillRacingCancel,
    /// User stream: the next TRADE execution report is sent twice.
    DuplicateFill,
    /// User stream (Binance WS API): every subscription ends with an `eventStreamTerminated`
    /// event, as when its session or key expires: the WebSocket API successor of the retired
    /// listenKey expiry. The connection stays open; a client must subscribe again.
    UserStreamTerminated,
    /// REST: new orders refused with "Market is closed." for the window; symbols in BREAK.
    Maintenance,
}

/// One scripted action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultAction {
    /// When, ms after start.
    pub at_ms: u64,
    /// Venue name (default `binance`).
    #[serde(default = "default_venue")]
    pub venue: String,
    /// The fault.
    pub fault: FaultKind,
    /// One-shot occurrences (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Window length for window faults, ms.
    #[serde(default)]
    pub duration_ms: u64,
    /// Clock skew, ms (ClockSkew only).
    #[serde(default)]
    pub skew_ms: i64,
}

fn default_venue() -> String {
    "binance".into()
}
fn one() -> u32 {
    1
}

/// Seeded random faults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    /// Seed of the fault schedule.
    pub seed: u64,
    /// Mean faults per minute per venue.
    pub per_minute: f64,
    /// Which faults to draw from.
    pub kinds: Vec<FaultKind>,
    /// Window length for window faults, ms.
    #[serde(default = "default_window")]
    pub duration_ms: u64,
    /// Horizon of the generated schedule, ms.
    #[serde(default = "default_horizon")]
    pub horizon_ms: u64,
}

fn default_window() -> u64 {
    2_000
}
fn default_horizon() -> u64 {
    3_600_000
}

/// A fault file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    /// Timed actions.
    #[serde(default)]
    pub actions: Vec<FaultAction>,
    /// A seeded random schedule on top.
    pub random: Option<RandomFaults>,
}

impl FaultFile {
    /// Reads a TOML fault file.
    ///
    /// # Errors
    /// Unreadable or invalid file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }

    /// Every action, scripted and random, sorted by time (random ones for each of `venues`).
    pub fn schedule(&self, venues: &[String]) -> Vec<FaultAction> {
        let mut out = self.actions.clone();
        if let Some(r) = &self.random {
            if r.per_minute > 0.0 && !r.kinds.is_empty() {
                for (vi, v) in venues.iter().enumerate() {
                    let mut rng = Rng::new(r.seed, 1000 + vi as u64);
                    let mean_gap = 60_000.0 / r.per_minute;
                    let mut t = 0.0;
                    loop {
                        // Exponential gaps by inversion would need ln; a uniform gap in
                        // [0, 2·mean) has the same mean and keeps the schedule libm-free.
                        t += 2.0 * mean_gap * rng.unit();
                        if t as u64 > r.horizon_ms {
                            break;
                        }
                        let kind = r.kinds[rng.below(r.kinds.len() as u64) as usize];
                        out.push(FaultAction {
                            at_ms: t as u64,
                            venue: v.clone(),
                            fault: kind,
                            count: 1,
                            duration_ms: r.duration_ms,
                            skew_ms: 2_000,
                        });
                    }
                }
            }
        }
        out.sort_by_key(|a| a.at_ms);
        out
    }
}

/// Armed faults of one venue.
#[derive(Debug, Default)]
struct Armed {
    counts: HashMap<FaultKind, u32>,
    until: HashMap<FaultKind, u64>,
    skew_ms: i64,
}

/// The armed faults of every venue.
#[derive(Debug)]
pub struct Faults {
    any: AtomicBool,
    venues: Vec<Mutex<Armed>>,
}

impl Faults {
    /// Nothing armed, for `n` venues.
    pub fn new(n: usize) -> Self {
        Self {
            any: AtomicBool::new(false),
            venues: (0..n).map(|_| Mutex::new(Armed::default())).collect(),
        }
    }

    /// Arms `kind` on venue `v`: `count` one-shots, and a window of `duration_ms` if non-zero.
    pub fn arm(&self, v: usize, kind: FaultKind, count: u32, duration_ms: u64, skew_ms: i64) {
        let Some(m) = self.venues.get(v) else { return };
        let mut a = m.lock().expect("faults lock");
        if duration_ms > 0 {
            a.until
                .insert(kind, mono_now_ns() + duration_ms * 1_000_000);
        } else {
            *a.counts.entry(kind).or_default() += count.max(1);
        }
        if kind == FaultKind::ClockSkew {
            a.skew_ms = skew_ms;
        }
        self.any.store(true, Ordering::Release);
    }

    /// Consumes one occurrence of `kind` on venue `v` (or reports an open window).
    pub fn take(&self, v: usize, kind: FaultKind) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let Some(m) = self.venues.get(v) else {
            return false;
        };
        let mut a = m.lock().expect("faults lock");
        if let Some(until) = a.until.get(&kind) {
            if mono_now_ns() < *until {
                return true;
            }
            a.until.remove(&kind);
        }
        match a.counts.get_mut(&kind) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether a window of `kind` is open (does not consume one-shots).
    pub fn window(&self, v: usize, kind: FaultKind) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let a = self.venues[v].lock().expect("faults lock");
        a.until.get(&kind).is_some_and(|u| mono_now_ns() < *u)
    }

    /// Current server clock skew of venue `v`, ms.
    pub fn skew_ms(&self, v: usize) -> i64 {
        if self.window(v, FaultKind::ClockSkew) {
            self.venues[v].lock().expect("faults lock").skew_ms
        } else {
            0
        }
    }
}
