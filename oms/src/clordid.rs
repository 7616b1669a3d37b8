//! Deterministic client order ids: a pure function of (run id, intent sequence), valid on every
//! venue, never reused across runs or intents.
//!
//! Venue rules (PROTOCOLS-ORDERS A.8, B.3, C.2): Binance `[A-Za-z0-9-_]{1,36}`, OKX letters and
//! digits 1-32, Kraken `cl_ord_id` ASCII <= 18. The common ground is alphanumeric, at most 18
//! characters, so every id is exactly 18 of them:
//! `<run id length, 1 base-36 digit><run id><intent seq in base 36, zero-padded>`.
//! The length digit keeps run ids that prefix each other apart ("ab" + "0…1" vs "ab0" + "…1").

use std::fmt;

/// Length of every client order id.
pub const CLORDID_LEN: usize = 18;
/// Longest run id (leaves 9 base-36 digits: 1.0e14 intents per run).
pub const RUN_ID_MAX: usize = 8;

/// A client order id, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClOrdId([u8; CLORDID_LEN]);

/// Why an id could not be made or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClOrdIdError {
    /// The run id is empty, too long or not alphanumeric.
    #[error("run id must be 1-8 ASCII letters or digits")]
    BadRunId,
    /// The sequence does not fit the digits left by the run id.
    #[error("intent sequence too large for this run id")]
    SeqOverflow,
    /// The text is not an id of this run.
    #[error("not a client order id of this run")]
    Foreign,
}

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Checks a run id against the id rules.
///
/// # Errors
/// [`ClOrdIdError::BadRunId`].
pub fn validate_run_id(run_id: &str) -> Result<(), ClOrdIdError> {
    if run_id.is_empty()
        || run_id.len() > RUN_ID_MAX
        || !run_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(ClOrdIdError::BadRunId);
    }
    Ok(())
}

impl ClOrdId {
    /// The id of intent `seq` in run `run_id`.
    ///
    /// # Errors
    /// A bad run id, or a sequence too large for the digits left.
    pub fn new(run_id: &str, seq: u64) -> Result<Self, ClOrdIdError> {
        validate_run_id(run_id)?;
        let r = run_id.len();
        let mut out = [b'0'; CLORDID_LEN];
        out[0] = DIGITS[r];
        out[1..1 + r].copy_from_slice(run_id.as_bytes());
        let mut v = seq;
        let mut i = CLORDID_LEN;
        while v > 0 {
            if i == 1 + r {
                return Err(ClOrdIdError::SeqOverflow);
            }
            i -= 1;
            out[i] = DIGITS[(v % 36) as usize];
            v /= 36;
        }
        Ok(Self(out))
    }

    /// The intent sequence encoded in `text`, if it is an id of `run_id`.
    ///
    /// # Errors
    /// [`ClOrdIdError::Foreign`] for anything else (another run's order, a manual order).
    pub fn parse_seq(run_id: &str, text: &[u8]) -> Result<u64, ClOrdIdError> {
        let r = run_id.len();
        if text.len() != CLORDID_LEN
            || r == 0
            || r > RUN_ID_MAX
            || text[0] != DIGITS[r]
            || &text[1..1 + r] != run_id.as_bytes()
        {
            return Err(ClOrdIdError::Foreign);
        }
        let mut v: u64 = 0;
        for &b in &text[1 + r..] {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'z' => b - b'a' + 10,
                _ => return Err(ClOrdIdError::Foreign),
            } as u64;
            v = v
                .checked_mul(36)
                .and_then(|v| v.checked_add(d))
                .ok_or(ClOrdIdError::Foreign)?;
        }
        Ok(v)
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Built only from ASCII letters and digits.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for ClOrdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ClOrdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_valid_everywhere_and_round_trip() {
        for run in ["r", "demo1", "ABCDEFGH"] {
            for seq in [0u64, 1, 35, 36, 1_000_000, 36u64.pow(9) - 1] {
                let id = ClOrdId::new(run, seq).unwrap();
                let s = id.as_str();
                assert_eq!(s.len(), 18);
                assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()), "{s}");
                assert_eq!(ClOrdId::parse_seq(run, s.as_bytes()), Ok(seq));
            }
        }
        assert_eq!(
            ClOrdId::new("ABCDEFGH", 36u64.pow(9)),
            Err(ClOrdIdError::SeqOverflow)
        );
        assert!(
            ClOrdId::new("r", u64::MAX).is_ok(),
            "short run ids take any u64"
        );
        assert_eq!(ClOrdId::new("bad-id", 1), Err(ClOrdIdError::BadRunId));
        assert_eq!(ClOrdId::new("toolongrun", 1), Err(ClOrdIdError::BadRunId));
        assert_eq!(ClOrdId::new("", 1), Err(ClOrdIdError::BadRunId));
    }

    #[test]
    fn runs_that_prefix_each_other_never_collide() {
        let mut seen = HashSet::new();
        for run in ["a", "ab", "ab0", "ab00", "b"] {
            for seq in 0..2000u64 {
                assert!(
                    seen.insert(ClOrdId::new(run, seq).unwrap()),
                    "collision {run} {seq}"
                );
            }
        }
        assert_eq!(
            ClOrdId::parse_seq("ab", ClOrdId::new("ab0", 1).unwrap().as_bytes()),
            Err(ClOrdIdError::Foreign)
        );
    }
}
