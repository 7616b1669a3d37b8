//! One consistent-enough copy of everything the gate shows, taken per request: /health, /metrics
//! and the dashboard all render from this, so they never disagree about what they saw.

use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns},
    control::{
        fsutil, ControlSegment, Counter, GrantMode, HaltState, Hist, HistSnapshot, TransitionRecord,
    },
    msg::MAX_VENUES,
};

/// One registered hot thread.
#[derive(Debug, Clone)]
pub struct ThreadView {
    /// Heartbeat slot.
    pub slot: usize,
    /// Thread name.
    pub name: String,
    /// Owner pid.
    pub pid: u32,
    /// Beats so far.
    pub beats: u64,
    /// Age of the last beat, ns; `None` before the first beat (still starting, not judged,
    /// as the AMRC watchdog does).
    pub age_ns: Option<u64>,
    /// Whether the beat is fresh enough (or the thread is still starting).
    pub ok: bool,
}

/// How a segment counter is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterKind {
    /// Only ever grows (Prometheus `counter`).
    Counter,
    /// A level or a time that goes up and down (Prometheus `gauge`).
    Gauge,
}

/// Whether `c` is a monotonic count or a gauge stored in a counter slot.
pub fn counter_kind(c: Counter) -> CounterKind {
    match c {
        Counter::HaltObservedNs | Counter::BooksValid => CounterKind::Gauge,
        // Latency gauges (`*_p50_ns`, `*_p99_ns`) and any later time-valued slot: a time is a
        // level, never a count.
        c if c.name().ends_with("_ns") => CounterKind::Gauge,
        _ => CounterKind::Counter,
    }
}

/// Everything read from the segment for one response.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Segment path.
    pub path: String,
    /// Random id of this segment (changes with every engine start).
    pub segment_id: u64,
    /// The creating engine's pid.
    pub engine_pid: u32,
    /// Whether that pid is alive.
    pub engine_alive: bool,
    /// The creator's wall clock at creation, ns.
    pub boot_wall_ns: u64,
    /// The halt word.
    pub halt: HaltState,
    /// The last halt/resume transition, if any.
    pub last: Option<TransitionRecord>,
    /// Per-venue halt bits.
    pub venue_mask: u64,
    /// Registered hot threads.
    pub threads: Vec<ThreadView>,
    /// Largest healthy heartbeat age, ns.
    pub stale_ns: u64,
    /// Live (unexpired, unrevoked) grants in SAFE mode.
    pub grants_safe: u64,
    /// Live grants in LIVE mode.
    pub grants_live: u64,
    /// Every counter with its value.
    pub counters: Vec<(Counter, u64)>,
    /// Every latency histogram (all zero until the engine's stats publisher first copies it).
    pub hists: Vec<(Hist, HistSnapshot)>,
    /// Venue names by id, from the config (may be empty).
    pub venues: Vec<String>,
    /// Wall clock of the snapshot, ns.
    pub taken_wall_ns: u64,
}

impl Snapshot {
    /// Reads `seg` now; a heartbeat older than `stale_ns` is not ok.
    pub fn take(seg: &ControlSegment, stale_ns: u64, venues: &[String]) -> Self {
        let (now_mono, now_wall) = (mono_now_ns(), wall_now_ns());
        let threads = seg
            .heartbeats()
            .map(|h| {
                let age_ns = (h.last_beat_ns != 0).then(|| now_mono.saturating_sub(h.last_beat_ns));
                ThreadView {
                    slot: h.slot,
                    name: h.name.as_str().to_owned(),
                    pid: h.pid,
                    beats: h.beats,
                    age_ns,
                    ok: age_ns.is_none_or(|a| a <= stale_ns),
                }
            })
            .collect();
        let (mut grants_safe, mut grants_live) = (0, 0);
        for (_, g) in seg.grants().filter(|(_, g)| g.is_live(now_wall)) {
            match g.mode {
                GrantMode::Safe => grants_safe += 1,
                GrantMode::Live => grants_live += 1,
            }
        }
        let engine_pid = seg.creator_pid();
        Snapshot {
            path: seg.path().display().to_string(),
            segment_id: seg.segment_id(),
            engine_pid,
            engine_alive: engine_pid != 0 && fsutil::pid_alive(engine_pid),
            boot_wall_ns: seg.boot_wall_ns(),
            halt: seg.halt_state(),
            last: seg.last_transition(),
            venue_mask: seg.venue_mask(),
            threads,
            stale_ns,
            grants_safe,
            grants_live,
            counters: Counter::ALL.iter().map(|&c| (c, seg.get(c))).collect(),
            hists: Hist::ALL.iter().map(|&h| (h, seg.histogram(h))).collect(),
            venues: venues.to_vec(),
            taken_wall_ns: now_wall,
        }
    }

    /// Venue ids worth a per-venue series: every configured venue, plus any id whose halt bit is
    /// set (a venue the config does not name still shows up when halted).
    pub fn venue_ids(&self) -> Vec<u8> {
        (0..MAX_VENUES as u8)
            .filter(|&v| (v as usize) < self.venues.len() || self.venue_mask & (1 << v) != 0)
            .collect()
    }

    /// A venue's display name: its config name, else `venue<id>`.
    pub fn venue_name(&self, v: u8) -> String {
        self.venues
            .get(v as usize)
            .cloned()
            .unwrap_or_else(|| format!("venue{v}"))
    }

    /// Why the engine is not healthy, empty when it is: no hot thread registered, or a thread's
    /// heartbeat is stale. A halt is not a problem (a halted engine is doing its job).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.threads.is_empty() {
            p.push("no hot thread registered in the segment (is the engine running?)".to_owned());
        }
        for t in self.threads.iter().filter(|t| !t.ok) {
            p.push(format!(
                "thread {} (pid {}) last beat {} ms ago, limit {} ms",
                t.name,
                t.pid,
                t.age_ns.unwrap_or(0) / 1_000_000,
                self.stale_ns / 1_000_000
            ));
        }
        p
    }
}
