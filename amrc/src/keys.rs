//! Operator keys: each operator's HMAC-SHA256 key in a private key file, and the operators file
//! the resume procedure verifies against.
//!
//! Format (both files): whitespace-separated `operator=NAME` / `key=HEX` pairs, `#` starts a
//! comment. A personal key file holds one pair (written by `lyra keygen`); the operators file
//! holds one pair per operator, typically one line each: `operator=alice key=<64 hex digits>`.
//! HMAC is symmetric, so the operators file is as secret as the keys: both must be owned by the
//! caller and mode 0600 (no group/other bits), else they are refused. No function here ever puts
//! key material into an error or a `Debug` string.

use std::{
    collections::BTreeMap,
    fmt,
    fs::{File, OpenOptions},
    io::{Read, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use lyra_shm::control::fsutil::{self, PrivateFileProblem};
use ring::{hmac, rand::SecureRandom};

use crate::hex;

/// Bytes in an operator key.
pub const KEY_BYTES: usize = 32;
/// Longest operator name (the transition record's operator field).
pub const MAX_OPERATOR_LEN: usize = 32;

/// Why a key or operators file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("key file {path}: {op} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Owned by another user.
    #[error("key file {path}: foreign owner uid {owner}, expected our euid {euid}")]
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        euid: u32,
    },
    /// Group or other may read it.
    #[error("key file {path}: mode {mode:04o} gives group/other access, must be 0600")]
    BadMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The content does not parse (the message never quotes a key).
    #[error("key file {path} line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A personal key file must hold exactly one key.
    #[error("key file {path}: holds {count} keys, expected exactly one")]
    NotOneKey {
        /// The file.
        path: PathBuf,
        /// Keys found.
        count: usize,
    },
    /// An operator name outside `[A-Za-z0-9._-]{1,32}`.
    #[error("invalid operator name {name:?}: use 1-32 of A-Z a-z 0-9 . _ -")]
    BadName {
        /// The name given.
        name: String,
    },
    /// The kernel's random generator failed.
    #[error("random generator failed")]
    Random,
}

/// Whether `name` is an acceptable operator name.
pub fn valid_operator_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_OPERATOR_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// One operator's key.
pub struct OperatorKey {
    operator: String,
    key: hmac::Key,
}

impl fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorKey")
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl OperatorKey {
    /// The operator's name.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// The HMAC key (for signing and verifying approvals).
    pub(crate) fn hmac(&self) -> &hmac::Key {
        &self.key
    }

    /// Loads a personal key file (exactly one key), refusing it unless owned by us and 0600.
    ///
    /// # Errors
    /// [`KeyError`] naming the path and the cause.
    pub fn load(path: &Path) -> Result<OperatorKey, KeyError> {
        let mut keys = parse_file(path)?;
        if keys.len() != 1 {
            return Err(KeyError::NotOneKey {
                path: path.to_owned(),
                count: keys.len(),
            });
        }
        let (operator, key) = keys.pop().expect("one key checked above");
        Ok(OperatorKey { operator, key })
    }
}

/// The operators' verification keys, by name.
pub struct OperatorKeys {
    keys: BTreeMap<String, hmac::Key>,
}

impl fmt::Debug for OperatorKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorKeys")
            .field("operators", &self.keys.keys())
            .finish()
    }
}

impl OperatorKeys {
    /// Loads an operators file (one or more keys), refusing it unless owned by us and 0600.
    ///
    /// # Errors
    /// [`KeyError`] naming the path and the cause; a duplicate operator is a parse error.
    pub fn load(path: &Path) -> Result<OperatorKeys, KeyError> {
        let mut keys = BTreeMap::new();
        for (name, key) in parse_file(path)? {
            if keys.insert(name.clone(), key).is_some() {
                return Err(KeyError::Parse {
                    path: path.to_owned(),
                    line: 0,
                    reason: format!("operator {name} appears twice"),
                });
            }
        }
        Ok(OperatorKeys { keys })
    }

    /// The key of `operator`, if known.
    pub(crate) fn get(&self, operator: &str) -> Option<&hmac::Key> {
        self.keys.get(operator)
    }

    /// Known operator names.
    pub fn operators(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// Reads a private file: open, check owner and mode on the open descriptor, read.
fn read_private(path: &Path) -> Result<String, KeyError> {
    let io = |op| {
        move |source| KeyError::Io {
            path: path.to_owned(),
            op,
            source,
        }
    };
    let mut f = File::open(path).map_err(io("open"))?;
    let meta = f.metadata().map_err(io("fstat"))?;
    match fsutil::private_file_problem(&meta) {
        Some(PrivateFileProblem::ForeignOwner { owner, euid }) => {
            return Err(KeyError::ForeignOwner {
                path: path.to_owned(),
                owner,
                euid,
            })
        }
        Some(PrivateFileProblem::OpenMode { mode }) => {
            return Err(KeyError::BadMode {
                path: path.to_owned(),
                mode,
            })
        }
        None => {}
    }
    let mut s = String::new();
    f.read_to_string(&mut s).map_err(io("read"))?;
    Ok(s)
}

/// Parses `operator=NAME key=HEX` pairs.
fn parse_file(path: &Path) -> Result<Vec<(String, hmac::Key)>, KeyError> {
    let text = read_private(path)?;
    let bad = |line: usize, reason: String| KeyError::Parse {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut out = Vec::new();
    let mut pending: Option<(String, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or_default();
        for token in content.split_whitespace() {
            if let Some(name) = token.strip_prefix("operator=") {
                if let Some((prev, _)) = &pending {
                    return Err(bad(line, format!("operator {prev} has no key")));
                }
                if !valid_operator_name(name) {
                    return Err(bad(line, format!("invalid operator name {name:?}")));
                }
                pending = Some((name.to_owned(), line));
            } else if let Some(hex_key) = token.strip_prefix("key=") {
                let Some((name, _)) = pending.take() else {
                    return Err(bad(line, "key= before operator=".into()));
                };
                // Never echo the token: it is (most of) a secret.
                let bytes = hex::decode::<KEY_BYTES>(hex_key).ok_or_else(|| {
                    bad(
                        line,
                        format!("key of {name} is not {} hex digits", KEY_BYTES * 2),
                    )
                })?;
                out.push((name, hmac::Key::new(hmac::HMAC_SHA256, &bytes)));
            } else {
                let field = token.split('=').next().unwrap_or_default();
                return Err(bad(line, format!("unknown field {field:?}")));
            }
        }
    }
    if let Some((name, line)) = pending {
        return Err(bad(line, format!("operator {name} has no key")));
    }
    Ok(out)
}

/// The `operator=NAME key=HEX` line for a key.
fn key_line(operator: &str, key: &[u8; KEY_BYTES]) -> String {
    format!("operator={operator} key={}\n", hex::encode(key))
}

/// Creates a new random key for `operator` in `out` (which must not exist; created 0600) and,
/// if given, appends the same entry to the operators file (created 0600 if missing, else it must
/// already be private).
///
/// # Errors
/// [`KeyError`] for a bad name, an existing key file, an unsafe operators file or an I/O error.
pub fn keygen(operator: &str, out: &Path, operators: Option<&Path>) -> Result<(), KeyError> {
    if !valid_operator_name(operator) {
        return Err(KeyError::BadName {
            name: operator.to_owned(),
        });
    }
    let mut key = [0u8; KEY_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| KeyError::Random)?;
    let line = key_line(operator, &key);
    key.fill(0);
    let io = |path: &Path, op| {
        let path = path.to_owned();
        move |source| KeyError::Io { path, op, source }
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(io(out, "create (must not exist)"))?;
    f.write_all(b"# lyra operator key (HMAC-SHA256). Secret: keep mode 0600, never share.\n")
        .and_then(|_| f.write_all(line.as_bytes()))
        .and_then(|_| f.sync_all())
        .map_err(io(out, "write"))?;
    if let Some(ops) = operators {
        if ops.exists() {
            // Refuse to append a secret to a file others can read.
            read_private(ops)?;
        }
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(ops)
            .map_err(io(ops, "open operators file"))?;
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io(ops, "append"))?;
    }
    Ok(())
}
