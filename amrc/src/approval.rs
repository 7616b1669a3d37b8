//! Resume approvals: an operator's HMAC-SHA256 over (segment id, epoch, operator name).
//!
//! Binding the segment id voids an approval in any other segment; binding the epoch voids it as
//! soon as any transition happens (a new trip, a venue trip, a resume), which also defeats the
//! replay of an old approval. The MAC is verified in constant time (`ring::hmac::verify`).

use std::path::Path;

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::{hex, keys::OperatorKey, AmrcError};

/// Domain separation: these MACs mean "resume" and nothing else.
const DOMAIN: &[u8] = b"lyra-resume-approval-v1\0";

/// What an approval is for: this segment at this epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// The segment's random id.
    pub segment_id: u64,
    /// The halt word's epoch.
    pub epoch: u32,
}

/// One operator's signed approval, as stored in an approval file (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Always `lyra-resume-approval`.
    pub kind: String,
    /// The segment's id.
    pub segment_id: u64,
    /// The epoch approved.
    pub epoch: u32,
    /// The approving operator.
    pub operator: String,
    /// HMAC-SHA256 over the challenge and operator, hex.
    pub mac: String,
}

/// The bytes the MAC covers.
fn message(c: Challenge, operator: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 13 + operator.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&c.segment_id.to_le_bytes());
    m.extend_from_slice(&c.epoch.to_le_bytes());
    m.push(operator.len() as u8);
    m.extend_from_slice(operator.as_bytes());
    m
}

impl Approval {
    /// The kind tag of approval files.
    pub const KIND: &'static str = "lyra-resume-approval";

    /// `key`'s approval for `challenge`.
    pub fn sign(key: &OperatorKey, challenge: Challenge) -> Approval {
        let tag = hmac::sign(key.hmac(), &message(challenge, key.operator()));
        Approval {
            kind: Self::KIND.to_owned(),
            segment_id: challenge.segment_id,
            epoch: challenge.epoch,
            operator: key.operator().to_owned(),
            mac: hex::encode(tag.as_ref()),
        }
    }

    /// Whether the MAC is `key`'s over this approval's own fields (constant-time compare).
    pub fn mac_valid(&self, key: &hmac::Key) -> bool {
        let Some(tag) = hex::decode::<32>(&self.mac) else {
            return false;
        };
        let c = Challenge {
            segment_id: self.segment_id,
            epoch: self.epoch,
        };
        hmac::verify(key, &message(c, &self.operator), &tag).is_ok()
    }

    /// The approval as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an approval file.
    ///
    /// # Errors
    /// [`AmrcError::ApprovalFile`] naming the path when unreadable or not an approval.
    pub fn load(path: &Path) -> Result<Approval, AmrcError> {
        let bad = |reason: String| AmrcError::ApprovalFile {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let a: Approval = serde_json::from_str(text.trim()).map_err(|e| bad(e.to_string()))?;
        if a.kind != Self::KIND {
            return Err(bad(format!("kind {:?} is not {:?}", a.kind, Self::KIND)));
        }
        Ok(a)
    }
}
