//! Credentials and request signing (PROTOCOLS a.3, PROTOCOLS-ORDERS D): HMAC-SHA256 with `ring`,
//! lower-case hex. Secrets live in memory only: never logged, never in `Debug`, never in errors.

use std::{fmt, os::unix::fs::MetadataExt, path::Path};

use ring::hmac;
use thiserror::Error;

/// Why credentials could not be loaded (the path is named; the contents never are).
#[derive(Debug, Error)]
pub enum CredentialsError {
    /// The file could not be read.
    #[error("credentials {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// Group or others may read the file: refuse it (it should be 0600).
    #[error("credentials {path}: mode {mode:o} lets others read it; chmod 600")]
    NotPrivate {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A required key is missing or empty, or the file is not `key = "value"` TOML.
    #[error("credentials {path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong (never the value).
        reason: String,
    },
}

/// The text of a credentials file, for venues whose clients take the secret as text (OKX's
/// secret and passphrase, Kraken's Base64 secret). `Debug` redacts every field.
pub struct CredentialText {
    /// API key.
    pub api_key: String,
    /// API secret as written in the file.
    pub api_secret: String,
    /// OKX passphrase (`passphrase`), if the file has one.
    pub passphrase: Option<String>,
}

impl fmt::Debug for CredentialText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialText { api_key: <redacted>, api_secret: <redacted>, passphrase: <redacted> }")
    }
}

impl CredentialText {
    /// Loads `api_key`, `api_secret` and optional `passphrase` from a TOML file only its owner
    /// may read (mode 0600 or stricter): top-level keys, or the first `[[accounts]]` entry with
    /// `api_key`/`secret`/`passphrase` (the file `lyra sim --write-config` writes).
    ///
    /// # Errors
    /// [`CredentialsError`] naming the path and the cause, never the contents.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let p = path.display().to_string();
        let io = |e: std::io::Error| CredentialsError::Io {
            path: p.clone(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CredentialsError::NotPrivate { path: p, mode });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let table: toml::Table = text.parse().map_err(|_| CredentialsError::Format {
            path: p.clone(),
            reason: "not valid TOML".into(),
        })?;
        let account = table
            .get("accounts")
            .and_then(|a| a.as_array())
            .and_then(|a| a.first())
            .and_then(|a| a.as_table());
        let find = |k: &str| {
            let alt = if k == "api_secret" { "secret" } else { k };
            table
                .get(k)
                .or_else(|| account.and_then(|a| a.get(alt)))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let get = |k: &str| {
            find(k).ok_or_else(|| CredentialsError::Format {
                path: p.clone(),
                reason: format!("missing or empty string key `{k}`"),
            })
        };
        Ok(Self {
            api_key: get("api_key")?.to_owned(),
            api_secret: get("api_secret")?.to_owned(),
            passphrase: find("passphrase").map(str::to_owned),
        })
    }
}

/// An API key and its HMAC secret. `Debug` redacts both.
pub struct Credentials {
    api_key: String,
    signer: Signer,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { api_key: <redacted>, secret: <redacted> }")
    }
}

impl Credentials {
    /// Credentials from memory (tests, the vault).
    pub fn new(api_key: &str, secret: &[u8]) -> Self {
        Self {
            api_key: api_key.to_owned(),
            signer: Signer::new(secret),
        }
    }

    /// Loads `api_key = "..."` and `api_secret = "..."` from a TOML file that only its owner may
    /// read (mode 0600 or stricter).
    ///
    /// # Errors
    /// [`CredentialsError`] naming the path and the cause, never the contents.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let t = CredentialText::load(path)?;
        Ok(Self::new(&t.api_key, t.api_secret.as_bytes()))
    }

    /// The API key (header `X-MBX-APIKEY`); callers must not log it.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
}

/// HMAC-SHA256 signer over a secret key.
pub struct Signer {
    key: hmac::Key,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer { key: <redacted> }")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Signer {
    /// A signer for `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// HMAC-SHA256 of `payload` as 64 lower-case hex digits. Allocation-free.
    pub fn sign_hex(&self, payload: &[u8]) -> [u8; 64] {
        let tag = hmac::sign(&self.key, payload);
        let mut out = [0u8; 64];
        for (i, b) in tag.as_ref().iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 15) as usize];
        }
        out
    }

    /// HMAC-SHA256 of the concatenation of `parts` as 44 Base64 characters (OKX's
    /// `OK-ACCESS-SIGN`: timestamp, method, path, body). Allocation-free.
    pub fn sign_b64(&self, parts: &[&[u8]]) -> [u8; 44] {
        use base64::Engine;
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(p);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 44];
        // 32 bytes always encode to exactly 44 characters, so the slice is large enough.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(tag.as_ref(), &mut out);
        out
    }

    /// Whether `sig_hex` (either letter case) is the signature of `payload`, in constant time.
    pub fn verify_hex(&self, payload: &[u8], sig_hex: &[u8]) -> bool {
        let mut raw = [0u8; 32];
        if sig_hex.len() != 64 {
            return false;
        }
        for (i, pair) in sig_hex.chunks(2).enumerate() {
            let d = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            };
            match (d(pair[0]), d(pair[1])) {
                (Some(h), Some(l)) => raw[i] = h << 4 | l,
                _ => return false,
            }
        }
        hmac::verify(&self.key, payload, &raw).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn hex(s: &Signer, p: &str) -> String {
        String::from_utf8(s.sign_hex(p.as_bytes()).to_vec()).unwrap()
    }

    /// PROTOCOLS a.3 / PROTOCOLS-ORDERS D.1: the official REST vectors.
    #[test]
    fn binance_rest_vectors() {
        let s = Signer::new(SECRET);
        assert_eq!(
            hex(&s, "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert_eq!(
            hex(&s, "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
    }

    /// PROTOCOLS-ORDERS D.2: the official WS API vectors (sorted params, raw UTF-8).
    #[test]
    fn binance_ws_api_vectors() {
        let s = Signer::new(SECRET);
        assert_eq!(
            hex(&s, "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"),
            "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
        );
        assert_eq!(
            hex(&s, "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=0.10000000&quantity=1.00000000&recvWindow=5000&side=BUY&symbol=１２３４５６&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"),
            "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"
        );
    }

    #[test]
    fn verify_accepts_either_case_and_refuses_others() {
        let s = Signer::new(SECRET);
        let sig = s.sign_hex(b"a=1");
        assert!(s.verify_hex(b"a=1", &sig));
        assert!(s.verify_hex(b"a=1", sig.to_ascii_uppercase().as_slice()));
        assert!(!s.verify_hex(b"a=2", &sig));
        assert!(!s.verify_hex(b"a=1", &sig[..63]));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::new("MYKEY123", b"MYSECRET456");
        let d = format!("{c:?} {:?}", c.signer());
        assert!(!d.contains("MYKEY123") && !d.contains("MYSECRET456"), "{d}");
    }

    #[test]
    fn load_checks_mode_and_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lyra-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(&f, "api_key = \"K1\"\napi_secret = \"S1\"\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Credentials::load(&f).unwrap_err();
        assert!(matches!(
            e,
            CredentialsError::NotPrivate { mode: 0o644, .. }
        ));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Credentials::load(&f).unwrap();
        assert_eq!(c.api_key(), "K1");
        std::fs::write(&f, "api_key = \"K1\"\n").unwrap();
        let e = Credentials::load(&f).unwrap_err().to_string();
        assert!(e.contains("api_secret") && !e.contains("K1"), "{e}");
        std::fs::write(
            &f,
            "[[accounts]]\nindex = 0\napi_key = \"K2\"\nsecret = \"S2\"\n",
        )
        .unwrap();
        assert_eq!(
            Credentials::load(&f).unwrap().api_key(),
            "K2",
            "lyra sim's file"
        );
        let t = CredentialText::load(&f).unwrap();
        assert_eq!(
            (t.api_secret.as_str(), t.passphrase.as_deref()),
            ("S2", None)
        );
        std::fs::write(
            &f,
            "[[accounts]]\nindex = 0\napi_key = \"K3\"\nsecret = \"S3\"\npassphrase = \"P3\"\n",
        )
        .unwrap();
        let t = CredentialText::load(&f).unwrap();
        assert_eq!(
            (
                t.api_key.as_str(),
                t.api_secret.as_str(),
                t.passphrase.as_deref()
            ),
            ("K3", "S3", Some("P3"))
        );
        let d = format!("{t:?}");
        assert!(
            !d.contains("K3") && !d.contains("S3") && !d.contains("P3"),
            "{d}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
