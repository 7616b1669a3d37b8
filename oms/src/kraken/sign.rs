//! Kraken credentials, nonces and `API-Sign` (PROTOCOLS-ORDERS C.1): Base64(HMAC-SHA512(
//! Base64-decode(secret), path ‖ SHA256(nonce ‖ body))). Nothing secret appears in `Debug`.

use std::fmt;

use base64::Engine;
use ring::{digest, hmac};

use crate::sign::CredentialsError;

/// A Kraken API key and its (decoded) private key.
pub struct KrakenCredentials {
    api_key: String,
    key: hmac::Key,
}

impl fmt::Debug for KrakenCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KrakenCredentials { api_key: <redacted>, secret: <redacted> }")
    }
}

impl KrakenCredentials {
    /// Credentials from memory; `secret_b64` is the private key as Kraken shows it (Base64).
    ///
    /// # Errors
    /// [`CredentialsError::Format`] if the secret is not Base64 (the value is never shown).
    pub fn new(api_key: &str, secret_b64: &str) -> Result<Self, CredentialsError> {
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_b64.trim())
            .map_err(|_| CredentialsError::Format {
                path: "(kraken credentials)".into(),
                reason: "the secret is not Base64".into(),
            })?;
        Ok(Self {
            api_key: api_key.to_owned(),
            key: hmac::Key::new(hmac::HMAC_SHA512, &secret),
        })
    }

    /// `API-Key`; callers must not log it.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// `API-Sign` of a private request: `path` like `/0/private/AddOrder`, `nonce` the decimal
    /// text inside `body`, `body` the exact bytes sent. Allocation-free.
    pub fn sign(&self, path: &[u8], nonce: &[u8], body: &[u8]) -> [u8; 88] {
        let mut sha = digest::Context::new(&digest::SHA256);
        sha.update(nonce);
        sha.update(body);
        let sha = sha.finish();
        let mut mac = hmac::Context::with_key(&self.key);
        mac.update(path);
        mac.update(sha.as_ref());
        let tag = mac.sign();
        let mut out = [0u8; 88];
        // 64 bytes always encode to exactly 88 characters, so the slice is large enough.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(tag.as_ref(), &mut out);
        out
    }
}

/// Strictly increasing nonces derived from the wall clock in microseconds: a restart continues
/// above every nonce of the previous process (those were at most one per µs ahead of its own
/// clock), so nothing has to be persisted; a clock step backwards only slows the count to +1.
#[derive(Debug, Default, Clone, Copy)]
pub struct NonceGen {
    last: u64,
}

impl NonceGen {
    /// The next nonce at wall time `wall_ns`: `max(wall µs, last + 1)`.
    pub fn next(&mut self, wall_ns: u64) -> u64 {
        self.last = (wall_ns / 1000).max(self.last + 1);
        self.last
    }

    /// The last nonce handed out.
    pub fn last(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PROTOCOLS-ORDERS D.3: Kraken's documented example.
    #[test]
    fn kraken_doc_vector() {
        let c = KrakenCredentials::new(
            "k",
            "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
        )
        .unwrap();
        let body =
            b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
        let sha = digest::digest(&digest::SHA256, &[&b"1616492376594"[..], body].concat());
        let hex: String = sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "23a1c1b34c6a11d641af0f24684896cb90f66fb991125c83dc357bdc3dc146f1"
        );
        assert_eq!(
            &c.sign(b"/0/private/AddOrder", b"1616492376594", body),
            b"4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
        );
    }

    #[test]
    fn nonces_never_go_backwards() {
        let mut n = NonceGen::default();
        assert_eq!(n.next(5_000_000), 5_000);
        assert_eq!(n.next(5_000_000), 5_001, "same µs: +1");
        assert_eq!(n.next(1_000_000), 5_002, "clock stepped back: still +1");
        assert_eq!(n.next(9_000_000), 9_000);
        // A restarted process (fresh generator) starts at the wall clock, above all of these.
        assert!(NonceGen::default().next(9_001_000) > n.last());
    }

    #[test]
    fn bad_secret_and_debug() {
        let e = KrakenCredentials::new("k", "not base64 !!")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("not base64 !!"), "{e}");
        let c = KrakenCredentials::new("MYKEY", "U0VDUkVU").unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("MYKEY") && !d.contains("U0VDUkVU"), "{d}");
    }
}
