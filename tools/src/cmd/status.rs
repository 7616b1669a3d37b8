//! `lyra status`: the halt state, which venues' market data is down (and how often it went
//! down), heartbeats, live grants, counters and latency percentiles, as text or JSON.
//!
//! Latency percentiles are computed from the control segment's fixed-bucket histograms
//! ([`HistSnapshot::quantile`]): each is the upper bound of the bucket holding that rank, so it
//! over-states the true value by at most √2 (buckets are √2 apart from 64 ns).

use std::collections::BTreeMap;

use clap::Args;
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns},
    control::{ControlSegment, Counter, Hist, HistSnapshot},
    msg::{VenueId, MAX_VENUES},
};
use serde::Serialize;

use super::common::Common;
use crate::exit::CmdResult;

/// `lyra status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    common: Common,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Everything `status` reports.
#[derive(Debug, Serialize)]
struct Status {
    segment: String,
    segment_id: String,
    creator_pid: u32,
    boot_wall_ns: u64,
    halted: bool,
    epoch: u32,
    reason_code: u16,
    reason: &'static str,
    /// Who made the last transition (a `Source` name), copied from `last` for convenience.
    source: Option<&'static str>,
    /// The operator of the last transition, if a human made it.
    operator: Option<String>,
    /// When the last transition happened (UTC), i.e. halted or running since then.
    since: Option<String>,
    /// The last transition (who/when/why); absent before the first one.
    last: Option<Last>,
    venue_mask: u64,
    venues_halted: Vec<u8>,
    /// Venues whose market data is down now (bit = venue id, the daemon's `[[venues]]` order).
    md_down_mask: u64,
    /// The same, as venue ids.
    venues_md_down: Vec<u8>,
    /// Per venue whose market data ever went down: its up->down transitions so far.
    md_disconnects: BTreeMap<u8, u32>,
    heartbeats: Vec<Beat>,
    grants: Vec<GrantView>,
    counters: BTreeMap<&'static str, u64>,
    /// Per measured path (`tick_to_order`, ...): samples and percentiles from its histogram.
    latency: BTreeMap<&'static str, Latency>,
}

/// One latency histogram, summarised.
#[derive(Debug, Serialize)]
struct Latency {
    count: u64,
    sum_ns: u64,
    mean_ns: Option<u64>,
    p50_ns: Option<u64>,
    p99_ns: Option<u64>,
    p999_ns: Option<u64>,
}

impl Latency {
    fn of(h: &HistSnapshot) -> Self {
        Self {
            count: h.count,
            sum_ns: h.sum_ns,
            mean_ns: h.mean_ns(),
            p50_ns: h.quantile(0.50),
            p99_ns: h.quantile(0.99),
            p999_ns: h.quantile(0.999),
        }
    }
}

#[derive(Debug, Serialize)]
struct Last {
    kind: &'static str,
    source: &'static str,
    operator: String,
    text: String,
    reason: &'static str,
    venue: Option<u8>,
    epoch: u32,
    since_wall_ns: u64,
    since: String,
}

#[derive(Debug, Serialize)]
struct Beat {
    slot: usize,
    name: String,
    pid: u32,
    tid: u32,
    beats: u64,
    age_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
struct GrantView {
    slot: usize,
    grant_id: u64,
    strategy_id: u16,
    venue_mask: u64,
    instrument: Option<u16>,
    mode: &'static str,
    max_order_notional: i64,
    max_exposure: i64,
    max_orders: u64,
    expiry_wall_ns: u64,
    expires: String,
}

/// Prints the status.
pub fn status(a: &StatusArgs) -> CmdResult {
    let seg = a.common.open()?;
    let s = collect(&seg);
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&s).map_err(anyhow::Error::from)?
        );
    } else {
        print!("{}", text(&s));
    }
    Ok(())
}

fn collect(seg: &ControlSegment) -> Status {
    let state = seg.halt_state();
    let mask = seg.venue_mask();
    let md_mask = seg.md_down_mask();
    let (now_mono, now_wall) = (mono_now_ns(), wall_now_ns());
    let last = seg.last_transition().map(|r| Last {
        kind: r.kind.name(),
        source: r.source.name(),
        operator: r.operator.as_str().to_owned(),
        text: r.text.as_str().to_owned(),
        reason: r.reason.name(),
        venue: r.venue.map(|v| v.0),
        epoch: r.epoch,
        since_wall_ns: r.wall_ns,
        since: utc(r.wall_ns),
    });
    Status {
        segment: seg.path().display().to_string(),
        segment_id: format!("{:#018x}", seg.segment_id()),
        creator_pid: seg.creator_pid(),
        boot_wall_ns: seg.boot_wall_ns(),
        halted: state.halted(),
        epoch: state.epoch(),
        reason_code: state.reason_code(),
        reason: state.reason().name(),
        source: last.as_ref().map(|l| l.source),
        operator: last
            .as_ref()
            .map(|l| l.operator.clone())
            .filter(|o| !o.is_empty()),
        since: last.as_ref().map(|l| l.since.clone()),
        last,
        venue_mask: mask,
        venues_halted: (0..64u8).filter(|v| mask & (1 << v) != 0).collect(),
        md_down_mask: md_mask,
        venues_md_down: (0..MAX_VENUES as u8)
            .filter(|&v| seg.is_md_down(VenueId(v)))
            .collect(),
        md_disconnects: (0..MAX_VENUES as u8)
            .map(|v| (v, seg.md_down_epoch(VenueId(v))))
            .filter(|&(_, n)| n > 0)
            .collect(),
        heartbeats: seg
            .heartbeats()
            .map(|h| Beat {
                slot: h.slot,
                name: h.name.as_str().to_owned(),
                pid: h.pid,
                tid: h.tid,
                beats: h.beats,
                age_ms: (h.last_beat_ns != 0)
                    .then(|| now_mono.saturating_sub(h.last_beat_ns) / 1_000_000),
            })
            .collect(),
        grants: seg
            .grants()
            .filter(|(_, g)| g.is_live(now_wall))
            .map(|(slot, g)| GrantView {
                slot,
                grant_id: g.grant_id,
                strategy_id: g.strategy_id,
                venue_mask: g.venue_mask,
                instrument: g.instrument.map(|i| i.0),
                mode: g.mode.name(),
                max_order_notional: g.max_order_notional,
                max_exposure: g.max_exposure,
                max_orders: g.max_orders,
                expiry_wall_ns: g.expiry_wall_ns,
                expires: utc(g.expiry_wall_ns),
            })
            .collect(),
        counters: Counter::ALL
            .iter()
            .map(|&c| (c.name(), seg.get(c)))
            .collect(),
        latency: Hist::ALL
            .iter()
            .map(|&h| (h.name(), Latency::of(&seg.histogram(h))))
            .collect(),
    }
}

fn text(s: &Status) -> String {
    let mut o = String::new();
    let state = if s.halted { "HALTED" } else { "running" };
    o += &format!(
        "segment   {} (id {}, creator pid {})\n",
        s.segment, s.segment_id, s.creator_pid
    );
    o += &format!(
        "state     {state} (epoch {}, reason {})\n",
        s.epoch, s.reason
    );
    if let Some(l) = &s.last {
        o += &format!(
            "last      {} by {}{} at {}: {}\n",
            l.kind,
            l.source,
            if l.operator.is_empty() {
                String::new()
            } else {
                format!(" ({})", l.operator)
            },
            l.since,
            if l.text.is_empty() { "-" } else { &l.text }
        );
    }
    if !s.venues_halted.is_empty() {
        o += &format!("venues    halted: {:?}\n", s.venues_halted);
    }
    if !s.venues_md_down.is_empty() {
        o += &format!("market    data DOWN: venues {:?}\n", s.venues_md_down);
    }
    if !s.md_disconnects.is_empty() {
        let each: Vec<String> = s
            .md_disconnects
            .iter()
            .map(|(v, n)| format!("venue {v}: {n}"))
            .collect();
        o += &format!("market    data disconnects: {}\n", each.join(", "));
    }
    for h in &s.heartbeats {
        let age = h
            .age_ms
            .map_or_else(|| "never".to_owned(), |a| format!("{a} ms ago"));
        o += &format!(
            "thread    {:<24} pid {} tid {} beats {} last {age}\n",
            h.name, h.pid, h.tid, h.beats
        );
    }
    for g in &s.grants {
        o += &format!(
            "grant     #{} strategy {} venues {:#x} {} max/order {} exposure {} orders {} until {}\n",
            g.grant_id,
            g.strategy_id,
            g.venue_mask,
            g.mode,
            g.max_order_notional,
            g.max_exposure,
            g.max_orders,
            g.expires
        );
    }
    for (name, v) in &s.counters {
        if *v != 0 {
            o += &format!("counter   {name:<24} {v}\n");
        }
    }
    // In pipeline order, not by name; paths with no samples yet are left out.
    for h in Hist::ALL {
        let Some(l) = s.latency.get(h.name()).filter(|l| l.count > 0) else {
            continue;
        };
        o += &format!(
            "latency   {:<24} n {} p50 {} p99 {} p99.9 {}\n",
            h.name(),
            l.count,
            dur(l.p50_ns),
            dur(l.p99_ns),
            dur(l.p999_ns)
        );
    }
    o
}

/// `ns` for people: `850 ns`, `12.3 us`, `4.56 ms`, `1.23 s`; `-` when absent.
fn dur(ns: Option<u64>) -> String {
    match ns {
        None => "-".to_owned(),
        Some(n) if n < 1_000 => format!("{n} ns"),
        Some(n) if n < 1_000_000 => format!("{:.1} us", n as f64 / 1e3),
        Some(n) if n < 1_000_000_000 => format!("{:.2} ms", n as f64 / 1e6),
        Some(n) => format!("{:.2} s", n as f64 / 1e9),
    }
}

/// `ns` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let ms = (ns / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(super::dur(None), "-");
        assert_eq!(super::dur(Some(850)), "850 ns");
        assert_eq!(super::dur(Some(12_345)), "12.3 us");
        assert_eq!(super::dur(Some(4_560_000)), "4.56 ms");
        assert_eq!(super::dur(Some(1_230_000_000)), "1.23 s");
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::utc(951_782_400_123_000_000),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            super::utc(1_763_728_059_000_000_000),
            "2025-11-21T12:27:39.000Z"
        );
    }
}
