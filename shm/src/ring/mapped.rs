//! The mapped owner: a ring in a file mapping shared between processes (engine <-> gate).
//!
//! File layout: a 128-byte `Meta` block (magic, layout version, element type name, size and
//! alignment, capacity, slot offset, creator pid, side claims), the two cache-padded indices, then
//! `capacity` slots of `T` at `slots_offset`. The creator writes everything, then stores the magic
//! with Release; an opener loads it with Acquire and checks every field against its own `T` before
//! touching a slot, so a ring of another type, size or layout is refused with a [`MappedError`].
//!
//! Each side is claimed in the header by the pid holding it (released on drop; a claim by a dead
//! pid is taken over), so a second producer or consumer is refused instead of racing.

use std::{
    fs::{self, File, OpenOptions},
    io,
    mem::{align_of, offset_of, size_of},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    ptr::{self, NonNull},
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};

use crossbeam_utils::CachePadded;
use memmap2::{MmapMut, MmapOptions};

use super::{
    raw::{Indices, RawConsumer, RawParts, RawProducer, Slot},
    Consumer, Owner, Pod, Producer,
};

/// `b"LYRARING"`, little-endian: marks an initialised ring file.
const MAGIC: u64 = u64::from_le_bytes(*b"LYRARING");
/// Bumped whenever the header or index layout changes.
const LAYOUT_VERSION: u32 = 1;
/// Bytes of the element type name kept in the header (longer names are cut, for messages only;
/// the full name is compared through its hash).
const TYPE_NAME_LEN: usize = 48;
/// Slots start on at least this boundary, so slot lines never share a line with the indices.
const SLOT_ALIGN_MIN: usize = 128;
/// The mapping starts on a page boundary; larger element alignments cannot be honoured.
const PAGE: usize = 4096;

/// Which end of a ring a process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The writing end.
    Producer,
    /// The reading end.
    Consumer,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        })
    }
}

/// Why a mapped ring could not be created or opened. Nothing here is retried internally; an
/// opener racing the creator may see [`MappedError::NotInitialised`] and retry.
#[derive(Debug, thiserror::Error)]
pub enum MappedError {
    /// A file operation failed.
    #[error("ring {path}: {op}: {source}")]
    Io {
        /// The ring file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The requested capacity is zero, not a power of two, or too large to map.
    #[error(
        "ring {path}: capacity {capacity} of {elem_size}-byte items is not a mappable power of two"
    )]
    BadCapacity {
        /// The ring file.
        path: PathBuf,
        /// The capacity asked for.
        capacity: usize,
        /// `size_of::<T>()`.
        elem_size: usize,
    },
    /// `T`'s alignment exceeds the page size, which a mapping cannot guarantee.
    #[error("ring {path}: element alignment {align} exceeds the {PAGE}-byte page")]
    Unaligned {
        /// The ring file.
        path: PathBuf,
        /// `align_of::<T>()`.
        align: usize,
    },
    /// The file is shorter than a ring header: not a ring, or still being created.
    #[error("ring {path}: file is {len} bytes, shorter than the {need}-byte ring header")]
    TooShort {
        /// The ring file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The header size.
        need: usize,
    },
    /// No magic: not a Lyra ring, or its creator has not finished initialising it (retry).
    #[error(
        "ring {path}: no ring magic (found {found:#018x}); not a Lyra ring or not yet initialised"
    )]
    NotInitialised {
        /// The ring file.
        path: PathBuf,
        /// The first eight bytes.
        found: u64,
    },
    /// The file was written by a build with another header layout.
    #[error("ring {path}: layout version {found}, this build reads version {expected}")]
    Version {
        /// The ring file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
    /// The ring carries another element type than the one asked for.
    #[error(
        "ring {path}: holds `{found_type}` ({found_size} B, align {found_align}); this process \
         expects `{want_type}` ({want_size} B, align {want_align})"
    )]
    TypeMismatch {
        /// The ring file.
        path: PathBuf,
        /// Element type name in the file (possibly cut short).
        found_type: String,
        /// Element size in the file.
        found_size: u64,
        /// Element alignment in the file.
        found_align: u64,
        /// Element type this process asked for.
        want_type: &'static str,
        /// Its size.
        want_size: usize,
        /// Its alignment.
        want_align: usize,
    },
    /// Header fields disagree with each other or with the file length: corrupt or truncated.
    #[error(
        "ring {path}: header says {capacity} slots at offset {slots_offset}, which needs {need} \
         bytes with this element type, but the file is {len} bytes"
    )]
    BadLayout {
        /// The ring file.
        path: PathBuf,
        /// Capacity in the header.
        capacity: u64,
        /// Slot offset in the header.
        slots_offset: u64,
        /// Bytes the header implies (0 if it overflows).
        need: u64,
        /// Actual file length.
        len: u64,
    },
    /// Another live process (or this one) already holds that end of the ring.
    #[error("ring {path}: the {role} end is already held by pid {pid}")]
    Claimed {
        /// The ring file.
        path: PathBuf,
        /// The end asked for.
        role: Role,
        /// The pid holding it.
        pid: u32,
    },
}

/// The first 128 bytes of a ring file. Written once by the creator before the magic is published,
/// read-only afterwards except for the claim words.
#[repr(C, align(128))]
struct Meta {
    magic: AtomicU64,
    layout_version: u32,
    creator_pid: u32,
    elem_size: u64,
    elem_align: u64,
    capacity: u64,
    slots_offset: u64,
    /// FNV-1a of the full element type name.
    type_hash: u64,
    type_name_len: u32,
    type_name: [u8; TYPE_NAME_LEN],
    /// Pid holding the producer end, 0 when free.
    producer_pid: AtomicU32,
    /// Pid holding the consumer end, 0 when free.
    consumer_pid: AtomicU32,
}

/// The whole header: metadata, then the indices the ring protocol uses.
#[repr(C)]
struct Header {
    meta: Meta,
    indices: Indices,
}

const _: () = assert!(size_of::<Meta>() == 128);
const _: () = assert!(offset_of!(Header, indices) == 128);
const _: () = assert!(size_of::<Header>() == 128 + 2 * 128);

/// Where the slots of `T` start: after the header, on a line (or `T`'s alignment) boundary.
fn slots_offset<T>() -> usize {
    let align = align_of::<T>().max(SLOT_ALIGN_MIN);
    size_of::<Header>().next_multiple_of(align)
}

/// File bytes for `capacity` slots of `T`, if that fits in memory.
fn file_len<T>(capacity: u64) -> Option<u64> {
    capacity
        .checked_mul(size_of::<T>() as u64)?
        .checked_add(slots_offset::<T>() as u64)
}

/// FNV-1a, 64-bit: a stable fingerprint of the type name (no dependency for 10 lines).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Is `pid` a live process? (`kill(pid, 0)`: ESRCH means gone; EPERM means alive, not ours.)
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 performs only the existence and permission check; no signal is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A handle's own mapping of a ring file, and its claim on one end (released on drop).
pub(crate) struct MappedOwner {
    map: MmapMut,
    role: Role,
    pid: u32,
    /// Whether `claim` succeeded: only then does drop free the claim word.
    claimed: bool,
}

impl MappedOwner {
    fn header(&self) -> &Header {
        // SAFETY: the mapping is at least `size_of::<Header>()` long and page-aligned (checked when
        // it was made), every bit pattern of the header is a valid `Header` (integers, atomics and
        // a byte array), and after initialisation only its atomics change.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    fn claim_word(&self) -> &AtomicU32 {
        match self.role {
            Role::Producer => &self.header().meta.producer_pid,
            Role::Consumer => &self.header().meta.consumer_pid,
        }
    }

    /// Claims this owner's end for this process, taking over a claim left by a dead process.
    fn claim(&mut self, path: &Path) -> Result<(), MappedError> {
        let word = self.claim_word();
        let mut seen = 0;
        loop {
            match word.compare_exchange(seen, self.pid, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    self.claimed = true;
                    return Ok(());
                }
                Err(holder) if holder != 0 && (holder == self.pid || pid_alive(holder)) => {
                    return Err(MappedError::Claimed {
                        path: path.to_owned(),
                        role: self.role,
                        pid: holder,
                    });
                }
                // Free (again) or held by a dead process: try to take it from what we saw.
                Err(holder) => seen = holder,
            }
        }
    }

    /// The ring inside this mapping, for element type `T` (validated by the caller).
    fn parts<T>(&self) -> RawParts<T> {
        let base = self.map.as_ptr().cast_mut();
        let header = base.cast::<Header>();
        RawParts {
            // SAFETY: `header` is non-null (a mapping) and the indices are inside the header.
            indices: unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*header).indices)) },
            // SAFETY: the caller checked the file holds `capacity` slots of `T` at this offset,
            // which is aligned for `T` (page-aligned base, offset a multiple of `align_of::<T>()`).
            slots: unsafe {
                NonNull::new_unchecked(base.add(slots_offset::<T>()).cast::<Slot<T>>())
            },
            capacity: self.header().meta.capacity,
        }
    }
}

impl Drop for MappedOwner {
    fn drop(&mut self) {
        if !self.claimed {
            return;
        }
        // Release: our last index store is ordered before the claim is seen free. A failed
        // exchange means a process took over our claim believing us dead; leave it to them.
        let _ =
            self.claim_word()
                .compare_exchange(self.pid, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// Maps `file` read-write, pre-faulted so the first push or pop takes no page fault.
fn map(file: &File, path: &Path) -> Result<MmapMut, MappedError> {
    // SAFETY: the ring file is shared on purpose; every access to it goes through atomics (the
    // indices, the claims, the magic) or through slots the protocol hands to one side at a time.
    // Fields the creator writes before publishing the magic are never written again.
    unsafe { MmapOptions::new().populate().map_mut(file) }.map_err(|source| MappedError::Io {
        path: path.to_owned(),
        op: "mmap",
        source,
    })
}

/// Creates a fresh ring file at `path` and claims `role`. An existing file at `path` is unlinked
/// first; processes still mapping it keep the old ring and never see the new one.
fn create<T: Pod>(path: &Path, capacity: usize, role: Role) -> Result<MappedOwner, MappedError> {
    let io_err = |op| {
        move |source| MappedError::Io {
            path: path.to_owned(),
            op,
            source,
        }
    };
    let bad_cap = || MappedError::BadCapacity {
        path: path.to_owned(),
        capacity,
        elem_size: size_of::<T>(),
    };
    if align_of::<T>() > PAGE {
        return Err(MappedError::Unaligned {
            path: path.to_owned(),
            align: align_of::<T>(),
        });
    }
    if !capacity.is_power_of_two() {
        return Err(bad_cap());
    }
    let len = file_len::<T>(capacity as u64)
        .filter(|l| usize::try_from(*l).is_ok())
        .ok_or_else(bad_cap)?;
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_err("remove old ring file")(e))
        }
        _ => {}
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("create"))?;
    file.set_len(len).map_err(io_err("set length"))?;
    let mut map = map(&file, path)?;
    let name = std::any::type_name::<T>().as_bytes();
    let cut = name.len().min(TYPE_NAME_LEN);
    let mut type_name = [0u8; TYPE_NAME_LEN];
    type_name[..cut].copy_from_slice(&name[..cut]);
    let header = map.as_mut_ptr().cast::<Header>();
    // SAFETY: the mapping is fresh (new file, zero-filled), at least `len >= size_of::<Header>()`
    // bytes and page-aligned; no opener reads these fields before the magic below is published.
    unsafe {
        let meta = ptr::addr_of_mut!((*header).meta);
        (*meta).layout_version = LAYOUT_VERSION;
        (*meta).creator_pid = std::process::id();
        (*meta).elem_size = size_of::<T>() as u64;
        (*meta).elem_align = align_of::<T>() as u64;
        (*meta).capacity = capacity as u64;
        (*meta).slots_offset = slots_offset::<T>() as u64;
        (*meta).type_hash = fnv1a(name);
        (*meta).type_name_len = cut as u32;
        (*meta).type_name = type_name;
    }
    let mut owner = MappedOwner {
        map,
        role,
        pid: std::process::id(),
        claimed: false,
    };
    owner.claim(path)?;
    // Release: every field above (and our claim) is visible to an opener that sees the magic.
    owner.header().meta.magic.store(MAGIC, Ordering::Release);
    Ok(owner)
}

/// Opens the ring at `path` as element type `T`, checks its header, and claims `role`.
fn open<T: Pod>(path: &Path, role: Role) -> Result<MappedOwner, MappedError> {
    let io_err = |op| {
        move |source| MappedError::Io {
            path: path.to_owned(),
            op,
            source,
        }
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err("open"))?;
    let len = file.metadata().map_err(io_err("stat"))?.len();
    if len < size_of::<Header>() as u64 {
        return Err(MappedError::TooShort {
            path: path.to_owned(),
            len,
            need: size_of::<Header>(),
        });
    }
    let mut owner = MappedOwner {
        map: map(&file, path)?,
        role,
        pid: std::process::id(),
        claimed: false,
    };
    let meta = &owner.header().meta;
    // Acquire: pairs with the creator's Release, making the fields below visible.
    let magic = meta.magic.load(Ordering::Acquire);
    if magic != MAGIC {
        return Err(MappedError::NotInitialised {
            path: path.to_owned(),
            found: magic,
        });
    }
    if meta.layout_version != LAYOUT_VERSION {
        return Err(MappedError::Version {
            path: path.to_owned(),
            found: meta.layout_version,
            expected: LAYOUT_VERSION,
        });
    }
    let want = std::any::type_name::<T>();
    if meta.type_hash != fnv1a(want.as_bytes())
        || meta.elem_size != size_of::<T>() as u64
        || meta.elem_align != align_of::<T>() as u64
    {
        let cut = (meta.type_name_len as usize).min(TYPE_NAME_LEN);
        return Err(MappedError::TypeMismatch {
            path: path.to_owned(),
            found_type: String::from_utf8_lossy(&meta.type_name[..cut]).into_owned(),
            found_size: meta.elem_size,
            found_align: meta.elem_align,
            want_type: want,
            want_size: size_of::<T>(),
            want_align: align_of::<T>(),
        });
    }
    let need = file_len::<T>(meta.capacity);
    if !meta.capacity.is_power_of_two()
        || meta.slots_offset != slots_offset::<T>() as u64
        || need != Some(len)
    {
        return Err(MappedError::BadLayout {
            path: path.to_owned(),
            capacity: meta.capacity,
            slots_offset: meta.slots_offset,
            need: need.unwrap_or(0),
            len,
        });
    }
    owner.claim(path)?;
    Ok(owner)
}

fn producer<T: Pod>(owner: MappedOwner) -> Producer<T> {
    // SAFETY: the header was validated for `T` (or written for `T`), so the parts describe a live
    // ring in `owner`'s mapping, which the handle keeps; our claim makes us the only producer.
    let raw = unsafe { RawProducer::new(owner.parts::<T>()) };
    Producer {
        raw: CachePadded::new(raw),
        _owner: Owner::Mapped(owner),
    }
}

fn consumer<T: Pod>(owner: MappedOwner) -> Consumer<T> {
    // SAFETY: as in `producer`; our claim makes us the only consumer. Eager release (1): another
    // process that reopens the ring after we die must not re-read items we already took.
    let raw = unsafe { RawConsumer::new(owner.parts::<T>(), 1) };
    Consumer {
        raw: CachePadded::new(raw),
        _owner: Owner::Mapped(owner),
    }
}

/// Creates a ring file of `capacity` items at `path` (replacing any file there) and returns its
/// producer end; another process opens the consumer end with [`open_consumer`].
///
/// # Errors
/// [`MappedError::BadCapacity`] unless `capacity` is a power of two that fits, or an I/O error.
pub fn create_producer<T: Pod>(
    path: impl AsRef<Path>,
    capacity: usize,
) -> Result<Producer<T>, MappedError> {
    create::<T>(path.as_ref(), capacity, Role::Producer).map(producer)
}

/// Creates a ring file of `capacity` items at `path` (replacing any file there) and returns its
/// consumer end; another process opens the producer end with [`open_producer`].
///
/// # Errors
/// As [`create_producer`].
pub fn create_consumer<T: Pod>(
    path: impl AsRef<Path>,
    capacity: usize,
) -> Result<Consumer<T>, MappedError> {
    create::<T>(path.as_ref(), capacity, Role::Consumer).map(consumer)
}

/// Opens the producer end of the ring file at `path`, created by another process for `T`.
///
/// # Errors
/// A clear [`MappedError`] if the file is not an initialised ring of `T` with a consistent layout,
/// or if a live process already holds the producer end.
pub fn open_producer<T: Pod>(path: impl AsRef<Path>) -> Result<Producer<T>, MappedError> {
    open::<T>(path.as_ref(), Role::Producer).map(producer)
}

/// Opens the consumer end of the ring file at `path`, created by another process for `T`.
///
/// # Errors
/// As [`open_producer`].
pub fn open_consumer<T: Pod>(path: impl AsRef<Path>) -> Result<Consumer<T>, MappedError> {
    open::<T>(path.as_ref(), Role::Consumer).map(consumer)
}
