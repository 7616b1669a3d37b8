//! `GET /metrics`: the segment in the Prometheus text exposition format 0.0.4.
//!
//! Every family has `# HELP` and `# TYPE` lines and the `lyra_` prefix. Monotonic segment
//! counters become `lyra_<name>_total` counters, gauge-like slots (`books_valid`, `*_ns`) stay
//! gauges under their own names, and the latency histograms become Prometheus histograms in
//! seconds (the convention; the `le` bounds are the segment's ns bounds written as exact
//! decimals, so nothing is rounded). `lyra_segment_mapped` is always present, so an alert can
//! tell "engine down" from "gate down".

use std::fmt::Write as _;

use lyra_shm::control::Counter;

use super::snapshot::{counter_kind, CounterKind, Snapshot};

/// The `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the metrics for a snapshot, or only `lyra_segment_mapped 0` when there is none.
pub fn render(snap: Option<&Snapshot>) -> String {
    let mut m = Out(String::with_capacity(16 * 1024));
    m.family(
        "lyra_segment_mapped",
        "gauge",
        "1 if the gate maps the control segment with a matching layout.",
    );
    m.sample("lyra_segment_mapped", NO_LABELS, snap.is_some() as u64);
    let Some(s) = snap else {
        return m.0;
    };
    m.family(
        "lyra_segment_info",
        "gauge",
        "Constant 1; labels identify the segment (its id changes with every engine start).",
    );
    m.sample(
        "lyra_segment_info",
        &[
            ("path", &s.path),
            ("segment_id", &format!("{:#018x}", s.segment_id)),
        ],
        1,
    );
    m.gauge(
        "lyra_engine_pid",
        "Pid of the engine that created the segment.",
        s.engine_pid,
    );
    m.gauge(
        "lyra_engine_alive",
        "1 if the engine that created the segment is alive.",
        s.engine_alive as u64,
    );
    m.family(
        "lyra_engine_boot_time_seconds",
        "gauge",
        "Wall clock when the engine created the segment, seconds since the Unix epoch.",
    );
    m.sample_str(
        "lyra_engine_boot_time_seconds",
        NO_LABELS,
        &seconds(s.boot_wall_ns),
    );
    m.gauge(
        "lyra_halted",
        "1 while the global halt is set (no new orders).",
        s.halt.halted() as u64,
    );
    m.gauge(
        "lyra_halt_epoch",
        "Halt/resume transitions so far (the epoch approvals are bound to).",
        s.halt.epoch(),
    );
    m.gauge(
        "lyra_halt_reason_code",
        "Reason code of the current halt (0 when running).",
        s.halt.reason_code(),
    );
    m.family(
        "lyra_halt_reason",
        "gauge",
        "Constant 1; the reason label names the current halt reason (none when running).",
    );
    m.sample("lyra_halt_reason", &[("reason", s.halt.reason().name())], 1);
    m.gauge(
        "lyra_venue_halt_mask",
        "Per-venue halt bits (bit = venue id).",
        s.venue_mask,
    );
    m.family(
        "lyra_venue_halted",
        "gauge",
        "1 while the venue's halt bit is set.",
    );
    for v in s.venue_ids() {
        let halted = s.venue_mask & (1 << v) != 0;
        m.sample(
            "lyra_venue_halted",
            &[("venue", &s.venue_name(v)), ("venue_id", &v.to_string())],
            halted as u64,
        );
    }

    m.gauge(
        "lyra_threads_registered",
        "Hot threads holding a heartbeat slot.",
        s.threads.len(),
    );
    m.family(
        "lyra_heartbeat_stale_limit_seconds",
        "gauge",
        "Heartbeat age beyond which /health fails.",
    );
    m.sample_str(
        "lyra_heartbeat_stale_limit_seconds",
        NO_LABELS,
        &seconds(s.stale_ns),
    );
    m.family(
        "lyra_heartbeat_age_seconds",
        "gauge",
        "Age of each hot thread's last heartbeat (absent before its first beat).",
    );
    for t in &s.threads {
        if let Some(age) = t.age_ns {
            m.sample_str(
                "lyra_heartbeat_age_seconds",
                &thread_labels(t),
                &seconds(age),
            );
        }
    }
    m.family(
        "lyra_heartbeat_ok",
        "gauge",
        "1 if the thread's heartbeat is fresh (or it is still starting).",
    );
    for t in &s.threads {
        m.sample("lyra_heartbeat_ok", &thread_labels(t), t.ok as u64);
    }
    m.family(
        "lyra_heartbeat_beats_total",
        "counter",
        "Heartbeats each hot thread has stored.",
    );
    for t in &s.threads {
        m.sample("lyra_heartbeat_beats_total", &thread_labels(t), t.beats);
    }

    m.family(
        "lyra_grants_live",
        "gauge",
        "Unexpired, unrevoked grants by mode.",
    );
    m.sample("lyra_grants_live", &[("mode", "safe")], s.grants_safe);
    m.sample("lyra_grants_live", &[("mode", "live")], s.grants_live);

    for &(c, v) in &s.counters {
        let help = counter_help(c);
        match counter_kind(c) {
            CounterKind::Counter => {
                let name = format!("lyra_{}_total", c.name());
                m.family(&name, "counter", &help);
                m.sample(&name, NO_LABELS, v);
            }
            CounterKind::Gauge => {
                let name = format!("lyra_{}", c.name());
                m.family(&name, "gauge", &help);
                m.sample(&name, NO_LABELS, v);
            }
        }
    }

    for (h, snap) in &s.hists {
        let name = format!("lyra_{}_seconds", h.name());
        m.family(
            &name,
            "histogram",
            &format!(
                "Latency `{}` as the engine's stats publisher last copied it.",
                h.name()
            ),
        );
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (&bound, &n) in snap.bounds_ns.iter().zip(snap.counts.iter()) {
            cumulative = cumulative.wrapping_add(n);
            let le = if bound == u64::MAX {
                "+Inf".to_owned()
            } else {
                seconds(bound)
            };
            m.sample(&bucket, &[("le", &le)], cumulative);
        }
        m.sample_str(&format!("{name}_sum"), NO_LABELS, &seconds(snap.sum_ns));
        // The +Inf bucket and _count must agree; the snapshot's own count does by construction,
        // but take the cumulative total so the output is consistent even if it ever did not.
        m.sample(&format!("{name}_count"), NO_LABELS, cumulative);
    }
    m.0
}

/// HELP text of a segment counter (the variant's doc, for people reading the scrape).
fn counter_help(c: Counter) -> String {
    let text = match c {
        Counter::SendsAttempted => "Orders the OMS tried to send.",
        Counter::SendsRefusedHalted => {
            "Sends refused because the halt word or the venue's bit was set."
        }
        Counter::SendsDone => "Orders written to a venue socket.",
        Counter::RiskRefused => "Intents refused by pre-trade risk.",
        Counter::HaltTrips => "Halt trips that changed the word (global or venue).",
        Counter::HaltRetrips => "Trips on an already-halted segment.",
        Counter::Resumes => "Resumes that cleared the halt.",
        Counter::ResumesRefused => "Resume attempts refused (bad or missing approvals).",
        Counter::RecordWritesSkipped => "Transition records not written (seqlock held too long).",
        Counter::HaltObservedNs => "Monotonic ns at which a watching process last observed a halt.",
        Counter::FeedDrops => "Feed frames dropped because a ring was full.",
        Counter::VenueRejects => "Venue rejects seen by the OMS.",
        Counter::VenueRateLimited => "HTTP 429 responses seen by the OMS.",
        Counter::MdEvents => "Market-data events the feeds produced.",
        Counter::Tops => "Book tops published by the book stage.",
        Counter::Intents => "Intents the strategies emitted.",
        Counter::ArbGroups => "Arbitrage groups whose two legs passed the recheck and risk.",
        Counter::MmFills => "Market-making fills.",
        Counter::OrderRequests => "Order requests the OMS wrote (live and test).",
        Counter::BooksValid => "Books valid right now, all venues.",
        Counter::TickToOrderP50Ns => "Frame receive to order request, p50 ns (bucket upper edge).",
        Counter::TickToOrderP99Ns => "Frame receive to order request, p99 ns (bucket upper edge).",
        Counter::FrameToBookP50Ns => "Frame receive to top published, p50 ns (bucket upper edge).",
        Counter::BookToIntentP50Ns => "Top to intent approved, p50 ns (bucket upper edge).",
        Counter::IntentToRequestP50Ns => {
            "Intent approved to request written, p50 ns (bucket upper edge)."
        }
        Counter::BooksStale => "Books the book stage found stale (no update within its limit).",
        // A counter added after this list: still exported, with its name as the help.
        #[allow(unreachable_patterns)]
        _ => "",
    };
    if text.is_empty() {
        format!("Control segment counter `{}`.", c.name())
    } else {
        format!("{text} (segment counter `{}`)", c.name())
    }
}

fn thread_labels(t: &super::snapshot::ThreadView) -> [(&'static str, String); 3] {
    [
        ("thread", t.name.clone()),
        ("slot", t.slot.to_string()),
        ("pid", t.pid.to_string()),
    ]
}

/// `ns` as exact decimal seconds (`1500` -> `0.0000015`), no float rounding.
pub fn seconds(ns: u64) -> String {
    let (s, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if frac == 0 {
        return s.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{s}.{}", digits.trim_end_matches('0'))
}

/// Escapes a label value: backslash, double quote and newline (exposition format 0.0.4).
fn escape_label(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample without labels.
const NO_LABELS: &[(&str, &str)] = &[];

/// The output being built.
struct Out(String);

/// Writes `{k="v",...}` (nothing for no labels).
fn write_labels<V: AsRef<str>>(out: &mut String, labels: &[(&str, V)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape_label(v.as_ref()));
    }
    out.push('}');
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample<V: AsRef<str>>(
        &mut self,
        name: &str,
        labels: &[(&str, V)],
        v: impl std::fmt::Display,
    ) {
        self.0.push_str(name);
        write_labels(&mut self.0, labels);
        let _ = writeln!(self.0, " {v}");
    }

    fn sample_str<V: AsRef<str>>(&mut self, name: &str, labels: &[(&str, V)], v: &str) {
        self.sample(name, labels, v);
    }

    fn gauge(&mut self, name: &str, help: &str, v: impl std::fmt::Display) {
        self.family(name, "gauge", help);
        self.sample(name, NO_LABELS, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(64), "0.000000064");
        assert_eq!(seconds(1_500), "0.0000015");
        assert_eq!(seconds(2_000_000_000), "2");
        assert_eq!(seconds(137_438_953_472), "137.438953472");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
    }

    #[test]
    fn without_a_segment_only_mapped_zero_is_exported() {
        let text = render(None);
        assert!(text.contains("# TYPE lyra_segment_mapped gauge\n"));
        assert!(text.ends_with("lyra_segment_mapped 0\n"));
    }
}
