//! `GET /`: a small read-only HTML dashboard. One self-contained page (inline CSS, no scripts, no
//! external assets) that reloads itself every two seconds, so it works on an air-gapped host.

use std::fmt::Write as _;

use super::{metrics::seconds, snapshot::Snapshot};

/// Seconds between reloads.
const REFRESH_S: u32 = 2;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em}h2{font-size:1.05em;margin-top:1.4em}\
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.state{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:bold;color:#fff}\
.run{background:#2a7d2a}.halt{background:#b32020}.bad{color:#b32020;font-weight:bold}\
.ok{color:#2a7d2a}small{color:#666}";

/// The page for a snapshot, or for the reason there is none (`segment` is the path tried).
pub fn render(snap: Result<&Snapshot, &str>, segment: &str) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
         <title>Lyra gate</title><style>{STYLE}</style></head><body><h1>Lyra gate</h1>"
    );
    match snap {
        Err(why) => {
            let _ = write!(
                o,
                "<p><span class=\"state halt\">NO SEGMENT</span></p><p class=\"bad\">{}</p><p>segment {}</p>",
                esc(why),
                esc(segment)
            );
        }
        Ok(s) => body(&mut o, s),
    }
    let _ = write!(
        o,
        "<p><small>read-only; reloads every {REFRESH_S} s &middot; <a href=\"/health\">/health</a> \
         &middot; <a href=\"/metrics\">/metrics</a></small></p></body></html>"
    );
    o
}

fn body(o: &mut String, s: &Snapshot) {
    let h = s.halt;
    if h.halted() {
        let _ = write!(
            o,
            "<p><span class=\"state halt\">HALTED</span> reason <b>{}</b>, epoch {}</p>",
            h.reason().name(),
            h.epoch()
        );
    } else {
        let _ = write!(
            o,
            "<p><span class=\"state run\">RUNNING</span> epoch {}</p>",
            h.epoch()
        );
    }
    if let Some(r) = &s.last {
        let who = if r.operator.is_empty() {
            r.source.name().to_owned()
        } else {
            format!("{} ({})", r.source.name(), r.operator.as_str())
        };
        let _ = write!(
            o,
            "<p>last transition: {} by {} {} ago: {}</p>",
            r.kind.name(),
            esc(&who),
            ago(s.taken_wall_ns, r.wall_ns),
            esc(if r.text.is_empty() {
                "-"
            } else {
                r.text.as_str()
            })
        );
    }
    let problems = s.problems();
    if problems.is_empty() {
        o.push_str("<p class=\"ok\">health: ok</p>");
    } else {
        o.push_str("<p class=\"bad\">health: unhealthy</p><ul>");
        for p in &problems {
            let _ = write!(o, "<li class=\"bad\">{}</li>", esc(p));
        }
        o.push_str("</ul>");
    }
    let _ = write!(
        o,
        "<p><small>segment {} (id {:#018x}) &middot; engine pid {} {} &middot; started {} ago</small></p>",
        esc(&s.path),
        s.segment_id,
        s.engine_pid,
        if s.engine_alive { "alive" } else { "<span class=\"bad\">not running</span>" },
        ago(s.taken_wall_ns, s.boot_wall_ns)
    );

    let venues = s.venue_ids();
    if !venues.is_empty() {
        o.push_str("<h2>Venues</h2><table><tr><th>venue</th><th>state</th></tr>");
        for v in venues {
            let halted = s.venue_mask & (1 << v) != 0;
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&s.venue_name(v)),
                if halted {
                    "<span class=\"bad\">halted</span>"
                } else {
                    "trading"
                }
            );
        }
        o.push_str("</table>");
    }

    let _ = write!(
        o,
        "<h2>Heartbeats</h2><table><tr><th>thread</th><th>pid</th><th>beats</th><th>age</th><th></th></tr>"
    );
    for t in &s.threads {
        let age = t.age_ns.map_or_else(
            || "starting".to_owned(),
            |a| format!("{} ms", a / 1_000_000),
        );
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{age}</td><td>{}</td></tr>",
            esc(&t.name),
            t.pid,
            t.beats,
            if t.ok { "<span class=\"ok\">ok</span>" } else { "<span class=\"bad\">STALE</span>" }
        );
    }
    o.push_str("</table>");

    o.push_str(
        "<h2>Latency</h2><p><small>bucket upper edges (&radic;2 apart), as the engine last published them</small></p><table><tr><th>path</th><th>samples</th><th>p50</th><th>p99</th>\
         <th>p99.9</th><th>mean</th></tr>",
    );
    for (h, snap) in &s.hists {
        let q = |q: f64| snap.quantile(q).map_or_else(|| "-".to_owned(), us);
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            h.name(),
            snap.count,
            q(0.5),
            q(0.99),
            q(0.999),
            snap.mean_ns().map_or_else(|| "-".to_owned(), us)
        );
    }
    o.push_str("</table>");

    let _ = write!(
        o,
        "<h2>Grants</h2><p>live: {} SAFE, {} LIVE</p><h2>Counters</h2><table>",
        s.grants_safe, s.grants_live
    );
    for (c, v) in &s.counters {
        let _ = write!(o, "<tr><td>{}</td><td class=\"n\">{v}</td></tr>", c.name());
    }
    o.push_str("</table>");
}

/// `ns` as microseconds with one decimal.
fn us(ns: u64) -> String {
    format!("{:.1} &micro;s", ns as f64 / 1e3)
}

/// How long before `now` the wall time `then` was, in seconds.
fn ago(now_wall_ns: u64, then_wall_ns: u64) -> String {
    let s = seconds(now_wall_ns.saturating_sub(then_wall_ns) / 1_000_000 * 1_000_000);
    format!("{s} s")
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        assert_eq!(
            super::esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn without_a_segment_the_page_says_why() {
        let page = super::render(Err("control segment /x: no such file"), "/x");
        assert!(page.contains("NO SEGMENT"));
        assert!(page.contains("no such file"));
        assert!(page.contains("http-equiv=\"refresh\""));
    }
}
