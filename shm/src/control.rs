//! The control segment: the halt word, grants, heartbeats, per-venue market-data status,
//! counters and latency histograms shared by every Lyra process.
//!
//! A file (default [`DEFAULT_PATH`], under `/dev/shm` so it lives in RAM) created with mode 0600 by
//! the engine ([`ControlSegment::create`]) and mapped by the ops CLI and the gate
//! ([`ControlSegment::open`]). The layout is one `#[repr(C)]` struct of atomics (`layout.rs`) whose
//! header carries a magic, a layout version, a compile-time layout hash, the creator's pid, its
//! boot time and a random segment id; `open` refuses anything it would misread.
//!
//! Mapping is done with `memmap2`, not the `shared_memory` crate the design card names: that
//! crate has had no release since 2022 and pins an old `nix`, and it adds nothing here — a named
//! segment is just a file under `/dev/shm` mapped `MAP_SHARED`, which memmap2 does (with
//! `MAP_POPULATE` and `mlock`) and which lets us check owner and mode with plain `fstat`.
//!
//! The mapping is pre-faulted (`populate`) and locked (`mlock`) so the first halt takes no page
//! fault. When `RLIMIT_MEMLOCK` forbids the lock, the segment still works and
//! [`ControlSegment::lock_status`] says so; the caller logs it (this crate has no logger).
//!
//! Ordering contract: every writer of the halt word stores with Release, every poller loads with
//! Acquire ([`ControlSegment::is_halted`] is exactly one Acquire load).

mod counters;
mod fixed_str;
pub mod fsutil;
mod futex;
mod grants;
mod halt;
mod heartbeat;
mod histogram;
mod layout;
mod md_status;
mod seqlock;

use std::{
    fs::{File, OpenOptions},
    io::{self, Read},
    os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::atomic::Ordering,
};

pub use counters::{Counter, COUNTER_SLOTS};
pub use fixed_str::{truncate_utf8, FixedStr};
pub use futex::WaitOutcome;
pub use grants::{Grant, GrantMode};
pub use halt::{
    HaltReason, HaltState, Note, Source, TransitionKind, TransitionRecord, TripOutcome,
};
pub use heartbeat::{Heartbeat, ThreadSlot};
pub use histogram::{bucket_index, Hist, HistSnapshot, HIST_BOUNDS_NS, HIST_BUCKETS, HIST_SLOTS};
pub use layout::{
    GRANT_SLOTS, HEARTBEAT_SLOTS, LAYOUT_HASH, LAYOUT_VERSION, MAGIC, OPERATOR_BYTES,
    REASON_TEXT_BYTES, SEGMENT_BYTES, THREAD_NAME_BYTES,
};
use memmap2::{MmapOptions, MmapRaw};

use crate::{clock::wall_now_ns, msg::VenueId};
use layout::Layout;

/// Where the engine creates the segment unless configured otherwise.
pub const DEFAULT_PATH: &str = "/dev/shm/lyra-control";

/// Why a segment could not be created, opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No file at the path: the engine is not running, or the path is wrong.
    #[error("control segment {path}: no such file (is the engine running? create it with `lyra segment create`)")]
    Missing {
        /// The segment path.
        path: PathBuf,
    },
    /// An I/O call failed.
    #[error("control segment {path}: {op} failed")]
    Io {
        /// The segment path.
        path: PathBuf,
        /// The failing operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is shorter than the layout.
    #[error("control segment {path}: file is {len} bytes, the layout needs {need}")]
    TooSmall {
        /// The segment path.
        path: PathBuf,
        /// The file's length.
        len: u64,
        /// Bytes the layout needs.
        need: u64,
    },
    /// The first eight bytes are not the control magic.
    #[error("control segment {path}: wrong magic {found:#018x} (not a Lyra control segment, or not initialised)")]
    BadMagic {
        /// The segment path.
        path: PathBuf,
        /// The magic found.
        found: u64,
    },
    /// Written by a binary with another layout version.
    #[error("control segment {path}: layout version {found}, this binary speaks {expected} (restart the engine or use a matching lyra)")]
    LayoutVersion {
        /// The segment path.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version this binary was built with.
        expected: u32,
    },
    /// Written by a binary with another layout (fields, sizes or counters differ).
    #[error("control segment {path}: layout hash {found:#018x}, this binary has {expected:#018x} (built from different code; use a matching lyra)")]
    LayoutHash {
        /// The segment path.
        path: PathBuf,
        /// Hash found.
        found: u64,
        /// Hash this binary was built with.
        expected: u64,
    },
    /// The file belongs to another user.
    #[error("control segment {path}: foreign owner uid {owner}, expected our euid {euid}")]
    ForeignOwner {
        /// The segment path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// Our effective uid.
        euid: u32,
    },
    /// Group or other may access the file.
    #[error("control segment {path}: mode {mode:04o} gives group/other access, must be 0600")]
    BadMode {
        /// The segment path.
        path: PathBuf,
        /// The file's permission bits.
        mode: u32,
    },
    /// `create` found a segment whose creator is still alive.
    #[error("control segment {path}: in use by live creator pid {pid}")]
    InUse {
        /// The segment path.
        path: PathBuf,
        /// The live creator.
        pid: u32,
    },
    /// `create` found a file and was told not to replace it.
    #[error("control segment {path}: exists and replace_stale is off")]
    Exists {
        /// The segment path.
        path: PathBuf,
    },
    /// A resume found nothing to clear.
    #[error("not halted: nothing to resume")]
    NotHalted,
    /// The halt word changed between reading it and the resume's compare-and-swap.
    #[error("halt epoch moved from {expected} to {found} during the resume")]
    EpochMoved {
        /// The epoch the resume was for.
        expected: u32,
        /// The epoch found.
        found: u32,
    },
    /// A venue id outside the mask.
    #[error("venue {venue} out of range (max {max})", max = crate::msg::MAX_VENUES - 1)]
    VenueOutOfRange {
        /// The venue id given.
        venue: u8,
    },
    /// Every grant slot holds a live grant.
    #[error("grants table full ({GRANT_SLOTS} live grants)")]
    GrantsFull,
    /// No grant with that id.
    #[error("no grant with id {grant_id}")]
    GrantNotFound {
        /// The id looked for.
        grant_id: u64,
    },
    /// A grant that cannot be stored.
    #[error("invalid grant {grant_id}: {reason}")]
    InvalidGrant {
        /// The grant's id.
        grant_id: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// Every heartbeat slot is taken by a live thread.
    #[error("heartbeat table full ({HEARTBEAT_SLOTS} threads)")]
    HeartbeatsFull,
    /// A seqlocked record stayed locked for the whole bounded wait (a writer died inside?).
    #[error("{what} is locked by another writer")]
    Busy {
        /// Which record.
        what: &'static str,
    },
}

/// Whether the mapping is locked in RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStatus {
    /// `mlock` succeeded: no page fault on the halt path.
    Locked,
    /// Locking was not asked for.
    NotRequested,
    /// `mlock` failed (typically `RLIMIT_MEMLOCK`); the segment works, but log this.
    Failed {
        /// The errno of the failure.
        errno: i32,
    },
}

/// How [`ControlSegment::create`] behaves.
#[derive(Debug, Clone, Copy)]
pub struct CreateOpts {
    /// Replace an existing file whose creator is dead (or which is not a valid segment).
    pub replace_stale: bool,
    /// `mlock` the mapping.
    pub mlock: bool,
    /// A fixed segment id (tests); `None` draws a random one.
    pub segment_id: Option<u64>,
}

impl Default for CreateOpts {
    fn default() -> Self {
        Self {
            replace_stale: true,
            mlock: true,
            segment_id: None,
        }
    }
}

/// A mapped control segment. Cheap to share across threads (`&self` everywhere; wrap in `Arc`).
pub struct ControlSegment {
    map: MmapRaw,
    path: PathBuf,
    lock: LockStatus,
}

impl std::fmt::Debug for ControlSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlSegment")
            .field("path", &self.path)
            .field("segment_id", &self.segment_id())
            .field("halt", &self.halt_state())
            .finish()
    }
}

fn io_err<'p>(path: &'p Path, op: &'static str) -> impl FnOnce(io::Error) -> ControlError + 'p {
    move |source| ControlError::Io {
        path: path.to_owned(),
        op,
        source,
    }
}

/// File length for the layout, rounded up to whole pages.
fn file_len() -> u64 {
    const PAGE: usize = 4096;
    SEGMENT_BYTES.div_ceil(PAGE) as u64 * PAGE as u64
}

/// Maps `file` shared, pre-faulted, and locks it if asked.
fn map(file: &File, path: &Path, mlock: bool) -> Result<(MmapRaw, LockStatus), ControlError> {
    let map = MmapOptions::new()
        .len(SEGMENT_BYTES)
        .populate()
        .map_raw(file)
        .map_err(io_err(path, "mmap"))?;
    let lock = if !mlock {
        LockStatus::NotRequested
    } else {
        match map.lock() {
            Ok(()) => LockStatus::Locked,
            Err(e) => LockStatus::Failed {
                errno: e.raw_os_error().unwrap_or(0),
            },
        }
    };
    Ok((map, lock))
}

/// The magic and creator pid of an existing file, if it has a full header.
fn peek_header(path: &Path) -> Option<(u64, u32)> {
    let mut head = [0u8; 16];
    File::open(path).ok()?.read_exact(&mut head).ok()?;
    let magic = u64::from_le_bytes(head[0..8].try_into().ok()?);
    let pid = u32::from_le_bytes(head[12..16].try_into().ok()?);
    Some((magic, pid))
}

impl ControlSegment {
    /// Creates (or replaces a stale) segment at `path`, mode 0600, initialised and ready.
    ///
    /// The segment is built in a temporary file beside `path` and renamed over it, so an opener
    /// never sees a half-initialised header.
    ///
    /// # Errors
    /// [`ControlError::InUse`] when a valid segment's creator is alive, [`ControlError::Exists`]
    /// when a file exists and `replace_stale` is off, [`ControlError::Io`] on any OS failure.
    pub fn create(path: impl AsRef<Path>, opts: &CreateOpts) -> Result<Self, ControlError> {
        let path = path.as_ref();
        if path.exists() {
            if let Some((magic, pid)) = peek_header(path) {
                if magic == MAGIC && pid != 0 && fsutil::pid_alive(pid) {
                    return Err(ControlError::InUse {
                        path: path.to_owned(),
                        pid,
                    });
                }
            }
            if !opts.replace_stale {
                return Err(ControlError::Exists {
                    path: path.to_owned(),
                });
            }
        }
        let tmp = tmp_path(path);
        let result = Self::build(path, &tmp, opts);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn build(path: &Path, tmp: &Path, opts: &CreateOpts) -> Result<Self, ControlError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .map_err(io_err(path, "create"))?;
        // The umask can only remove bits from 0600, but set it explicitly all the same.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path, "chmod"))?;
        file.set_len(file_len())
            .map_err(io_err(path, "ftruncate"))?;
        let (map, lock) = map(&file, path, opts.mlock)?;
        let seg = Self {
            map,
            path: path.to_owned(),
            lock,
        };
        let h = &seg.layout().header;
        h.layout_version.store(LAYOUT_VERSION, Ordering::Relaxed);
        h.creator_pid.store(std::process::id(), Ordering::Relaxed);
        h.layout_hash.store(LAYOUT_HASH, Ordering::Relaxed);
        h.layout_size.store(SEGMENT_BYTES as u64, Ordering::Relaxed);
        h.boot_wall_ns.store(wall_now_ns(), Ordering::Relaxed);
        let id = match opts.segment_id {
            Some(id) => id,
            None => fsutil::random_u64().map_err(io_err(path, "getrandom"))?,
        };
        h.segment_id.store(id, Ordering::Relaxed);
        // Magic last, with Release: whoever sees it sees the whole header.
        h.magic.store(MAGIC, Ordering::Release);
        std::fs::rename(tmp, path).map_err(io_err(path, "rename"))?;
        Ok(seg)
    }

    /// Opens an existing segment for reading and writing, refusing anything it would misread.
    ///
    /// # Errors
    /// [`ControlError::Missing`], [`ControlError::ForeignOwner`], [`ControlError::BadMode`],
    /// [`ControlError::TooSmall`], [`ControlError::BadMagic`], [`ControlError::LayoutVersion`],
    /// [`ControlError::LayoutHash`], or [`ControlError::Io`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ControlError> {
        Self::open_with(path, true)
    }

    /// [`ControlSegment::open`], choosing whether to `mlock` the mapping.
    ///
    /// # Errors
    /// As [`ControlSegment::open`].
    pub fn open_with(path: impl AsRef<Path>, mlock: bool) -> Result<Self, ControlError> {
        let path = path.as_ref();
        // O_NOFOLLOW: /dev/shm is world-writable; never follow a planted symlink.
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ControlError::Missing {
                    path: path.to_owned(),
                })
            }
            Err(e) => return Err(io_err(path, "open")(e)),
        };
        let meta = file.metadata().map_err(io_err(path, "fstat"))?;
        match fsutil::private_file_problem(&meta) {
            Some(fsutil::PrivateFileProblem::ForeignOwner { owner, euid }) => {
                return Err(ControlError::ForeignOwner {
                    path: path.to_owned(),
                    owner,
                    euid,
                })
            }
            Some(fsutil::PrivateFileProblem::OpenMode { mode }) => {
                return Err(ControlError::BadMode {
                    path: path.to_owned(),
                    mode,
                })
            }
            None => {}
        }
        if meta.size() < SEGMENT_BYTES as u64 {
            return Err(ControlError::TooSmall {
                path: path.to_owned(),
                len: meta.size(),
                need: SEGMENT_BYTES as u64,
            });
        }
        let (map, lock) = map(&file, path, mlock)?;
        let seg = Self {
            map,
            path: path.to_owned(),
            lock,
        };
        let h = &seg.layout().header;
        let magic = h.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(ControlError::BadMagic {
                path: path.to_owned(),
                found: magic,
            });
        }
        let version = h.layout_version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(ControlError::LayoutVersion {
                path: path.to_owned(),
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let hash = h.layout_hash.load(Ordering::Relaxed);
        if hash != LAYOUT_HASH || h.layout_size.load(Ordering::Relaxed) != SEGMENT_BYTES as u64 {
            return Err(ControlError::LayoutHash {
                path: path.to_owned(),
                found: hash,
                expected: LAYOUT_HASH,
            });
        }
        Ok(seg)
    }

    #[inline(always)]
    pub(crate) fn layout(&self) -> &Layout {
        // SAFETY: the mapping is SEGMENT_BYTES long (`map` maps exactly that and both `create`
        // and `open` ensure the file holds it), page-aligned (>= Layout's 128-byte alignment) and
        // lives as long as `self`. `Layout` is made only of atomics, for which every bit pattern
        // (including the zeroes of a fresh file) is valid, and all mutation goes through them, so
        // a shared reference may alias other processes' writes to the same pages.
        unsafe { &*self.map.as_ptr().cast::<Layout>() }
    }

    /// The path this segment was created at or opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the mapping is locked in RAM; `Failed` is a warning the caller should log.
    pub fn lock_status(&self) -> LockStatus {
        self.lock
    }

    /// The random id bound into resume approvals.
    pub fn segment_id(&self) -> u64 {
        self.layout().header.segment_id.load(Ordering::Relaxed)
    }

    /// The creator's pid.
    pub fn creator_pid(&self) -> u32 {
        self.layout().header.creator_pid.load(Ordering::Relaxed)
    }

    /// The creator's wall clock at creation, ns since the Unix epoch.
    pub fn boot_wall_ns(&self) -> u64 {
        self.layout().header.boot_wall_ns.load(Ordering::Relaxed)
    }

    /// Adds `n` to a counter (Relaxed: counters are statistics, not synchronisation).
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        self.layout().counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// A counter's value (Acquire, pairing with [`ControlSegment::store_counter`]).
    #[inline]
    pub fn get(&self, c: Counter) -> u64 {
        self.layout().counters[c as usize].load(Ordering::Acquire)
    }

    /// Sets a gauge-like counter (e.g. [`Counter::HaltObservedNs`]) with Release.
    #[inline]
    pub fn store_counter(&self, c: Counter, v: u64) {
        self.layout().counters[c as usize].store(v, Ordering::Release);
    }

    /// Whether `venue` can be represented in the mask.
    fn venue_bit(venue: VenueId) -> Result<u64, ControlError> {
        if (venue.0 as usize) < crate::msg::MAX_VENUES {
            Ok(1u64 << venue.0)
        } else {
            Err(ControlError::VenueOutOfRange { venue: venue.0 })
        }
    }
}

/// A unique temporary name beside `path` (same directory, so `rename` is atomic).
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        crate::clock::mono_now_ns()
    ));
    path.with_file_name(name)
}
