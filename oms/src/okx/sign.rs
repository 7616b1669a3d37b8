//! OKX credentials and signing (PROTOCOLS-ORDERS B.1): `OK-ACCESS-SIGN` =
//! Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)), the timestamp ISO-8601
//! UTC with milliseconds. Key, secret and passphrase are never shown by `Debug`.

use std::fmt;

use crate::sign::Signer;

/// An OKX API key, its secret (as a signer) and its passphrase.
pub struct OkxCredentials {
    api_key: String,
    passphrase: String,
    signer: Signer,
}

impl fmt::Debug for OkxCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "OkxCredentials { api_key: <redacted>, secret: <redacted>, passphrase: <redacted> }",
        )
    }
}

impl OkxCredentials {
    /// Credentials from memory (the vault, tests).
    pub fn new(api_key: &str, secret: &str, passphrase: &str) -> Self {
        Self {
            api_key: api_key.to_owned(),
            passphrase: passphrase.to_owned(),
            signer: Signer::new(secret.as_bytes()),
        }
    }

    /// `OK-ACCESS-KEY`; callers must not log it.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// `OK-ACCESS-PASSPHRASE`; callers must not log it.
    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// The signature of one request (`path` includes any query string; `body` is `""` for GET).
    pub fn sign(&self, ts: &[u8], method: &[u8], path: &[u8], body: &[u8]) -> [u8; 44] {
        self.signer.sign_b64(&[ts, method, path, body])
    }
}

/// `ms` since the epoch as `2020-12-08T09:08:57.715Z` (24 bytes, no allocation).
pub fn iso_ms(ms: u64) -> [u8; 24] {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u64);
    put(5, 2, m as u64);
    put(8, 2, d as u64);
    put(11, 2, rem / 3600);
    put(14, 2, rem % 3600 / 60);
    put(17, 2, rem % 60);
    put(20, 3, ms % 1000);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "22582BD0CFF14C41EDBF1AB98506286D";
    const TS: &[u8] = b"2020-12-08T09:08:57.715Z";

    /// PROTOCOLS-ORDERS D.4: the computed consistency vectors (OKX publishes none).
    #[test]
    fn okx_vectors() {
        let c = OkxCredentials::new("k", SECRET, "p");
        assert_eq!(
            &c.sign(TS, b"GET", b"/api/v5/account/balance?ccy=BTC", b""),
            b"HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
        );
        let body = br#"{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15","side":"buy","ordType":"limit","px":"2.15","sz":"2"}"#;
        assert_eq!(
            &c.sign(TS, b"POST", b"/api/v5/trade/order", body),
            b"dI6rrL9rXW/HdaPKJ/6LC1OgvH4/PYju6R3CqixMTNQ="
        );
        assert_eq!(
            &c.sign(b"1538054050", b"GET", b"/users/self/verify", b""),
            b"+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="
        );
    }

    #[test]
    fn iso_timestamps() {
        assert_eq!(&iso_ms(1_607_418_537_715), TS);
        assert_eq!(&iso_ms(0), b"1970-01-01T00:00:00.000Z");
        assert_eq!(&iso_ms(951_782_400_001), b"2000-02-29T00:00:00.001Z");
        assert_eq!(&iso_ms(1_700_000_000_000), b"2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn debug_hides_everything() {
        let c = OkxCredentials::new("KEY123", "SECRET456", "PASS789");
        let d = format!("{c:?}");
        for s in ["KEY123", "SECRET456", "PASS789"] {
            assert!(!d.contains(s), "{d}");
        }
    }
}
