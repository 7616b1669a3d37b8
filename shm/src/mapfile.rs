//! A private file mapped read-write by exactly one process: the backing of append-only journals.
//!
//! `oms` keeps its write-ahead intents journal in such a file but may not hold `unsafe`, so the
//! mapping lives here. Writes to the mapping reach the page cache at once, so they survive the
//! process dying at any instruction (`kill -9`); [`MappedFile::sync`] makes them durable against
//! power loss too (an `msync`, off the hot path).

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::OpenOptionsExt,
    os::unix::io::AsRawFd,
    path::{Path, PathBuf},
};

use memmap2::{MmapMut, MmapOptions};
use thiserror::Error;

use crate::control::fsutil::{private_file_problem, PrivateFileProblem};

/// Why a mapped file could not be opened.
#[derive(Debug, Error)]
pub enum MapFileError {
    /// An I/O error on the file.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What we were doing.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not private to us (owner or mode).
    #[error("{path}: not private: {problem:?} (must be owned by us, mode 0600)")]
    NotPrivate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: PrivateFileProblem,
    },
    /// Another process holds the file (a second engine on the same journal), still after a
    /// short grace for locks inherited only until a spawned child's `exec`.
    #[error("{path}: locked by another process (is another engine using this journal?)")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The file is not the size asked for and may not be resized.
    #[error("{path}: size {found} but {expected} expected")]
    Size {
        /// The file.
        path: PathBuf,
        /// Its size.
        found: u64,
        /// The size asked for.
        expected: u64,
    },
}

/// A file of fixed length, mapped read-write, held under an exclusive `flock` for the life of
/// the mapping.
pub struct MappedFile {
    map: MmapMut,
    // Keeps the flock (released when the file closes) and the fd alive for the mapping.
    _file: File,
    path: PathBuf,
}

/// How often, and how far apart, a refused `flock` is retried before the file counts as held by
/// another process (at least 250 ms in all).
///
/// A sibling thread that spawns a child (`posix_spawn` / `fork`) copies our descriptor table;
/// until the child's `exec` closes the close-on-exec copies, it shares our open file
/// description and so our lock, even after we closed our own descriptor. That window is
/// normally microseconds but can stretch to milliseconds on a loaded machine; a live second
/// engine holds the lock for good. The grace tells the two apart without making a real refusal
/// slow. Counted in sleeps, not read from a clock: this is start-up code, not timing.
const LOCK_RETRIES: u32 = 125;
const LOCK_RETRY_SLEEP: std::time::Duration = std::time::Duration::from_millis(2);

/// Takes an exclusive, non-blocking `flock` on `file`, retrying briefly (see [`LOCK_RETRIES`]).
fn lock_exclusive(file: &File) -> bool {
    for _ in 0..=LOCK_RETRIES {
        // SAFETY: the fd is owned by `file` and valid for this call; flock touches no memory.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            return true;
        }
        let e = io::Error::last_os_error().raw_os_error();
        if e != Some(libc::EWOULDBLOCK) && e != Some(libc::EINTR) {
            return false;
        }
        std::thread::sleep(LOCK_RETRY_SLEEP);
    }
    false
}

impl MappedFile {
    /// Opens `path` (creating it 0600 with `len` zero bytes if missing) and maps it. An existing
    /// file must be private to us and exactly `len` bytes long.
    ///
    /// # Errors
    /// [`MapFileError`] naming the path and the cause.
    pub fn open_or_create(path: impl AsRef<Path>, len: u64) -> Result<Self, MapFileError> {
        let path = path.as_ref().to_owned();
        let io_err = |op| {
            let path = path.clone();
            move |source| MapFileError::Io { path, op, source }
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("open"))?;
        let meta = file.metadata().map_err(io_err("stat"))?;
        if let Some(problem) = private_file_problem(&meta) {
            return Err(MapFileError::NotPrivate { path, problem });
        }
        if !lock_exclusive(&file) {
            return Err(MapFileError::Locked { path });
        }
        match meta.len() {
            0 => file.set_len(len).map_err(io_err("set_len"))?,
            n if n == len => {}
            found => {
                return Err(MapFileError::Size {
                    path,
                    found,
                    expected: len,
                })
            }
        }
        // SAFETY: mapping a file is sound while nobody truncates or writes it behind our back.
        // We hold an exclusive flock on it for as long as the map lives (`_file` is dropped with
        // it), every Lyra process takes that lock before mapping, and the file is private (mode
        // 0600, owned by us, checked above), so no other writer can exist short of another
        // program running as us and ignoring the lock — outside what this type can defend.
        let map = unsafe { MmapOptions::new().len(len as usize).map_mut(&file) }
            .map_err(io_err("mmap"))?;
        Ok(Self {
            map,
            _file: file,
            path,
        })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The mapped bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Schedules write-back of `range` to disk without waiting (`msync(MS_ASYNC)`).
    ///
    /// # Errors
    /// The OS error.
    pub fn flush_async_range(&self, offset: usize, len: usize) -> io::Result<()> {
        self.map.flush_async_range(offset, len)
    }

    /// Writes everything back to disk and waits (`msync(MS_SYNC)`): durable against power loss.
    ///
    /// # Errors
    /// The OS error.
    pub fn sync(&self) -> io::Result<()> {
        self.map.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_maps_and_refuses_a_second_holder() {
        let dir = std::env::temp_dir().join(format!("lyra-mapfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        {
            let mut m = MappedFile::open_or_create(&path, 4096).unwrap();
            m.bytes_mut()[10] = 42;
            assert!(matches!(
                MappedFile::open_or_create(&path, 4096),
                Err(MapFileError::Locked { .. })
            ));
        }
        let m = MappedFile::open_or_create(&path, 4096).unwrap();
        assert_eq!(m.bytes()[10], 42, "data persists across mappings");
        drop(m);
        assert!(matches!(
            MappedFile::open_or_create(&path, 8192),
            Err(MapFileError::Size { .. })
        ));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            MappedFile::open_or_create(&path, 4096),
            Err(MapFileError::NotPrivate { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A lock that outlives our own descriptor only briefly — as when a sibling thread's
    /// spawned child still holds a copy of it before `exec` — does not refuse the open.
    #[test]
    fn a_briefly_inherited_lock_is_waited_out() {
        let dir = std::env::temp_dir().join(format!("lyra-mapfile-grace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        drop(MappedFile::open_or_create(&path, 4096).unwrap());
        // Another open file description holding the lock stands in for the child's copy.
        let holder = File::open(&path).unwrap();
        // SAFETY: valid fd owned by `holder`; flock touches no memory.
        assert_eq!(unsafe { libc::flock(holder.as_raw_fd(), libc::LOCK_EX) }, 0);
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            drop(holder);
        });
        MappedFile::open_or_create(&path, 4096).expect("opens once the brief holder lets go");
        release.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
