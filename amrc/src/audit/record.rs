//! One record's line: writing it (event + chain link + own hash) and checking it back.

use serde::Serialize;

use super::{sha256_hex, AuditEvent};

const HASH_FIELD: &str = ",\"hash\":\"";

/// The full record as written: the event plus its chain link.
#[derive(Serialize)]
struct Linked<'a> {
    seq: u64,
    #[serde(flatten)]
    event: &'a AuditEvent,
    prev_hash: &'a str,
}

/// The record's line (no newline) and its hash.
pub(super) fn encode(seq: u64, event: &AuditEvent, prev_hash: &str) -> (String, String) {
    let body = serde_json::to_string(&Linked {
        seq,
        event,
        prev_hash,
    })
    .unwrap_or_default();
    let hash = sha256_hex(body.as_bytes());
    let mut line = body;
    line.pop(); // the closing brace
    line.push_str(HASH_FIELD);
    line.push_str(&hash);
    line.push_str("\"}");
    (line, hash)
}

/// A line whose own hash checks out, with the fields the chain and the SQLite columns need.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Checked {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub ts: u64,
    pub kind: String,
    pub run: Option<String>,
    pub cycle: Option<u64>,
    pub decision: Option<u64>,
    pub intent: Option<u64>,
}

/// Checks `line`'s own hash and reads its fields; `Err` says what is wrong.
pub(super) fn check(line: &str) -> Result<Checked, &'static str> {
    let cut = line.rfind(HASH_FIELD).ok_or("no hash field")?;
    let hash = line[cut + HASH_FIELD.len()..]
        .strip_suffix("\"}")
        .ok_or("hash is not the last field")?;
    let body = format!("{}}}", &line[..cut]);
    if sha256_hex(body.as_bytes()) != hash {
        return Err("hash does not match the record's content");
    }
    let v: serde_json::Value = serde_json::from_str(line).map_err(|_| "not a JSON object")?;
    let u = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Ok(Checked {
        seq: u("seq").ok_or("no seq")?,
        prev_hash: s("prev_hash").ok_or("no prev_hash")?,
        hash: hash.to_owned(),
        ts: u("wall_ns").unwrap_or(0),
        kind: s("event").unwrap_or_default(),
        run: s("run"),
        cycle: u("cycle"),
        decision: u("decision"),
        intent: u("intent"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_lines_check_and_edits_do_not() {
        let e = AuditEvent {
            event: "fill".into(),
            wall_ns: 7,
            run: Some("r1".into()),
            intent: Some(9),
            ..AuditEvent::default()
        };
        let (line, hash) = encode(3, &e, super::super::GENESIS);
        let c = check(&line).unwrap();
        assert_eq!((c.seq, c.ts, c.intent, c.cycle), (3, 7, Some(9), None));
        assert_eq!(c.hash, hash);
        assert_eq!(c.run.as_deref(), Some("r1"));
        assert!(check(&line.replace("fill", "fils")).is_err());
        assert!(check("{}").is_err());
        assert!(check("not json at all").is_err());
    }
}
