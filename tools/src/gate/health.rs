//! `GET /health`: 200 when the segment maps with our layout and every hot thread beats; 503 with
//! the reasons otherwise. A halt is reported, not failed: a halted engine is healthy.

use serde_json::{json, Value};

use super::snapshot::Snapshot;

/// The HTTP status and JSON body of `/health` for a snapshot, or for the reason there is none.
pub fn health(snap: Result<&Snapshot, &str>, segment: &str) -> (u16, Value) {
    let s = match snap {
        Ok(s) => s,
        Err(why) => {
            return (
                503,
                json!({
                    "status": "unhealthy",
                    "problems": [why],
                    "segment": segment,
                    "mapped": false,
                }),
            )
        }
    };
    let problems = s.problems();
    let code = if problems.is_empty() { 200 } else { 503 };
    let last = s.last.as_ref().map(|r| {
        json!({
            "kind": r.kind.name(),
            "source": r.source.name(),
            "operator": r.operator.as_str(),
            "text": r.text.as_str(),
            "reason": r.reason.name(),
            "venue": r.venue.map(|v| v.0),
            "epoch": r.epoch,
            "wall_ns": r.wall_ns,
        })
    });
    let body = json!({
        "status": if code == 200 { "ok" } else { "unhealthy" },
        "problems": problems,
        "mapped": true,
        "halted": s.halt.halted(),
        "reason": s.halt.reason().name(),
        "reason_code": s.halt.reason_code(),
        "epoch": s.halt.epoch(),
        "last_transition": last,
        "venues_halted": s
            .venue_ids()
            .into_iter()
            .filter(|&v| s.venue_mask & (1 << v) != 0)
            .map(|v| s.venue_name(v))
            .collect::<Vec<_>>(),
        "segment": s.path,
        "segment_id": format!("{:#018x}", s.segment_id),
        "engine_pid": s.engine_pid,
        "engine_alive": s.engine_alive,
        "stale_ms": s.stale_ns / 1_000_000,
        "heartbeats": s.threads.iter().map(|t| json!({
            "thread": t.name,
            "slot": t.slot,
            "pid": t.pid,
            "beats": t.beats,
            "age_ms": t.age_ns.map(|a| a / 1_000_000),
            "ok": t.ok,
        })).collect::<Vec<_>>(),
        "grants_live": s.grants_safe + s.grants_live,
    });
    (code, body)
}
