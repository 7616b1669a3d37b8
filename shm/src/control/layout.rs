//! The control segment's byte layout: one `#[repr(C)]` struct of atomics, asserted at compile time.
//!
//! Every field is an atomic so that two processes mapping the same file never race on plain memory
//! (a data race on a non-atomic would be UB even when the value is later discarded by a seqlock).
//! Blocks that different threads write are aligned to 128 bytes (two cache lines, because of the
//! adjacent-line prefetcher on x86_64) so a heartbeat store never invalidates the halt word's line.
//!
//! [`LAYOUT_HASH`] is an FNV-1a hash over every field's name, offset and size plus the counter
//! and histogram names and the histogram bucket bounds, computed at compile time: any change to
//! the struct (or to the meaning of a counter index, a histogram index or a bucket) changes the
//! hash, and `open` refuses a segment written by a binary with a different layout.

use std::{
    mem::{offset_of, size_of},
    sync::atomic::{AtomicU32, AtomicU64},
};

use super::{
    counters::{Counter, COUNTER_SLOTS},
    histogram::{Hist, HistSlot, HIST_BUCKETS, HIST_SLOTS},
};
use crate::msg::MAX_VENUES;

/// `LYRACTL1` in ASCII, little-endian: the first eight bytes of every control segment.
pub const MAGIC: u64 = u64::from_le_bytes(*b"LYRACTL1");
/// Bumped by hand on a semantic change the hash cannot see (e.g. a new meaning for a bit).
pub const LAYOUT_VERSION: u32 = 1;
/// Entries in the grants table.
pub const GRANT_SLOTS: usize = 32;
/// Per-thread heartbeat slots.
pub const HEARTBEAT_SLOTS: usize = 32;
/// Bytes of an operator name in a transition record.
pub const OPERATOR_BYTES: usize = 32;
/// Bytes of the free-text reason in a transition record.
pub const REASON_TEXT_BYTES: usize = 96;
/// Bytes of a heartbeat slot's thread name.
pub const THREAD_NAME_BYTES: usize = 24;

/// Identity of the segment and of the binary that laid it out.
#[repr(C, align(128))]
pub(crate) struct Header {
    /// [`MAGIC`], stored last (Release) by the creator: a reader that sees it sees a full header.
    pub magic: AtomicU64,
    /// [`LAYOUT_VERSION`].
    pub layout_version: AtomicU32,
    /// Creator's pid, so a new engine can tell a stale segment from a live one.
    pub creator_pid: AtomicU32,
    /// [`LAYOUT_HASH`].
    pub layout_hash: AtomicU64,
    /// `size_of::<Layout>()` as written by the creator.
    pub layout_size: AtomicU64,
    /// Creator's wall clock at creation, ns since the Unix epoch.
    pub boot_wall_ns: AtomicU64,
    /// A random id, bound into resume approvals so an approval for one segment is void in another.
    pub segment_id: AtomicU64,
}

/// The halt word, the venue mask and the futex the sleepers wait on: one cache-line pair.
#[repr(C, align(128))]
pub(crate) struct HaltBlock {
    /// Packed [`super::HaltState`]: halted bit, reason code, epoch.
    pub word: AtomicU64,
    /// Per-venue halt bits (venue id = bit index).
    pub venue_mask: AtomicU64,
    /// Bumped on every transition; the shared futex word sleepers wait on.
    pub wake_seq: AtomicU32,
    /// Threads currently inside `FUTEX_WAIT` (lets `trip` skip the wake syscall when none sleep).
    pub sleepers: AtomicU32,
}

/// Who/when/why of the last transition, under a seqlock.
#[repr(C, align(128))]
pub(crate) struct TransitionSlot {
    /// Seqlock sequence: odd while a writer is inside.
    pub seq: AtomicU64,
    /// Packed kind, source, venue, reason code and epoch (see `halt.rs`).
    pub meta: AtomicU64,
    /// Wall clock of the transition, ns since the Unix epoch.
    pub wall_ns: AtomicU64,
    /// The venue of a venue trip (low byte); 0 otherwise.
    pub venue: AtomicU64,
    /// Operator name, UTF-8, NUL-padded.
    pub operator: [AtomicU64; OPERATOR_BYTES / 8],
    /// Free-text reason, UTF-8, NUL-padded.
    pub text: [AtomicU64; REASON_TEXT_BYTES / 8],
}

/// One grant, under its own seqlock.
#[repr(C, align(128))]
pub(crate) struct GrantSlot {
    /// Seqlock sequence: odd while a writer is inside.
    pub seq: AtomicU64,
    /// Grant id; 0 means the slot is empty.
    pub grant_id: AtomicU64,
    /// Packed strategy id, instrument, mode and revoked flag (see `grants.rs`).
    pub scope: AtomicU64,
    /// Venues the grant covers (bit = venue id).
    pub venue_mask: AtomicU64,
    /// Per-order notional limit, i64 mantissa at the quote scale.
    pub max_order_notional: AtomicU64,
    /// Total exposure limit, i64 mantissa at the quote scale.
    pub max_exposure: AtomicU64,
    /// Orders allowed under the grant.
    pub max_orders: AtomicU64,
    /// Expiry, wall ns since the Unix epoch.
    pub expiry_wall_ns: AtomicU64,
}

/// One thread's heartbeat; only its owner thread writes it after registration.
#[repr(C, align(128))]
pub(crate) struct HeartbeatSlot {
    /// 0 free, 1 being claimed, 2 live.
    pub state: AtomicU32,
    /// Owner's pid.
    pub pid: AtomicU32,
    /// Owner's kernel thread id.
    pub tid: AtomicU32,
    /// Keeps `name` 8-aligned without implicit padding.
    pub _pad: AtomicU32,
    /// Thread name, UTF-8, NUL-padded.
    pub name: [AtomicU64; THREAD_NAME_BYTES / 8],
    /// Last beat, monotonic ns.
    pub last_beat_ns: AtomicU64,
    /// Beats so far.
    pub beats: AtomicU64,
}

/// Per-venue market-data status (see `md_status.rs`); only the book stage writes it.
#[repr(C, align(128))]
pub(crate) struct MdBlock {
    /// Bit per venue (venue id = bit index): its market data is down.
    pub down_mask: AtomicU64,
    /// Up->down transitions of all venues (pollers compare it before reading the epochs).
    pub down_seq: AtomicU64,
    /// Per venue: up->down transitions so far.
    pub down_epochs: [AtomicU32; MAX_VENUES],
}

/// The whole segment.
#[repr(C)]
pub(crate) struct Layout {
    /// Identity.
    pub header: Header,
    /// The halt word and its neighbours.
    pub halt: HaltBlock,
    /// Last transition record.
    pub transition: TransitionSlot,
    /// The grants table.
    pub grants: [GrantSlot; GRANT_SLOTS],
    /// Heartbeats.
    pub heartbeats: [HeartbeatSlot; HEARTBEAT_SLOTS],
    /// Market-data status per venue (before the counters, so the histograms stay the last block).
    pub md: MdBlock,
    /// Counters, indexed by [`Counter`]; spare slots stay zero.
    pub counters: [AtomicU64; COUNTER_SLOTS],
    /// Latency histograms, indexed by [`Hist`]; spare slots stay zero.
    pub histograms: [HistSlot; HIST_SLOTS],
}

const _: () = assert!(size_of::<Header>() == 128);
const _: () = assert!(size_of::<HaltBlock>() == 128);
const _: () = assert!(size_of::<TransitionSlot>() == 256);
const _: () = assert!(size_of::<GrantSlot>() == 128);
const _: () = assert!(size_of::<HeartbeatSlot>() == 128);
const _: () = assert!(size_of::<HistSlot>() == 640);
const _: () = assert!(size_of::<MdBlock>() == 384);
const _: () = assert!(
    size_of::<Layout>() == 128 + 128 + 256 + 32 * 128 + 32 * 128 + 384 + 512 + HIST_SLOTS * 640
);
const _: () = assert!(COUNTER_SLOTS * 8 == 512);
const _: () = assert!(offset_of!(Layout, halt) == 128);

/// Bytes the segment file must hold.
pub const SEGMENT_BYTES: usize = size_of::<Layout>();

/// One described field: name, offset, size.
type Field = (&'static str, usize, usize);

/// Every field of the layout, in order; the layout hash is computed over this table.
const FIELDS: &[Field] = &[
    ("header.magic", offset_of!(Layout, header.magic), 8),
    (
        "header.layout_version",
        offset_of!(Layout, header.layout_version),
        4,
    ),
    (
        "header.creator_pid",
        offset_of!(Layout, header.creator_pid),
        4,
    ),
    (
        "header.layout_hash",
        offset_of!(Layout, header.layout_hash),
        8,
    ),
    (
        "header.layout_size",
        offset_of!(Layout, header.layout_size),
        8,
    ),
    (
        "header.boot_wall_ns",
        offset_of!(Layout, header.boot_wall_ns),
        8,
    ),
    (
        "header.segment_id",
        offset_of!(Layout, header.segment_id),
        8,
    ),
    ("halt.word", offset_of!(Layout, halt.word), 8),
    ("halt.venue_mask", offset_of!(Layout, halt.venue_mask), 8),
    ("halt.wake_seq", offset_of!(Layout, halt.wake_seq), 4),
    ("halt.sleepers", offset_of!(Layout, halt.sleepers), 4),
    ("transition.seq", offset_of!(Layout, transition.seq), 8),
    ("transition.meta", offset_of!(Layout, transition.meta), 8),
    (
        "transition.wall_ns",
        offset_of!(Layout, transition.wall_ns),
        8,
    ),
    ("transition.venue", offset_of!(Layout, transition.venue), 8),
    (
        "transition.operator",
        offset_of!(Layout, transition.operator),
        OPERATOR_BYTES,
    ),
    (
        "transition.text",
        offset_of!(Layout, transition.text),
        REASON_TEXT_BYTES,
    ),
    (
        "grants",
        offset_of!(Layout, grants),
        size_of::<[GrantSlot; GRANT_SLOTS]>(),
    ),
    ("grant.seq", offset_of!(GrantSlot, seq), 8),
    ("grant.grant_id", offset_of!(GrantSlot, grant_id), 8),
    ("grant.scope", offset_of!(GrantSlot, scope), 8),
    ("grant.venue_mask", offset_of!(GrantSlot, venue_mask), 8),
    (
        "grant.max_order_notional",
        offset_of!(GrantSlot, max_order_notional),
        8,
    ),
    ("grant.max_exposure", offset_of!(GrantSlot, max_exposure), 8),
    ("grant.max_orders", offset_of!(GrantSlot, max_orders), 8),
    (
        "grant.expiry_wall_ns",
        offset_of!(GrantSlot, expiry_wall_ns),
        8,
    ),
    (
        "heartbeats",
        offset_of!(Layout, heartbeats),
        size_of::<[HeartbeatSlot; HEARTBEAT_SLOTS]>(),
    ),
    ("heartbeat.state", offset_of!(HeartbeatSlot, state), 4),
    ("heartbeat.pid", offset_of!(HeartbeatSlot, pid), 4),
    ("heartbeat.tid", offset_of!(HeartbeatSlot, tid), 4),
    (
        "heartbeat.name",
        offset_of!(HeartbeatSlot, name),
        THREAD_NAME_BYTES,
    ),
    (
        "heartbeat.last_beat_ns",
        offset_of!(HeartbeatSlot, last_beat_ns),
        8,
    ),
    ("heartbeat.beats", offset_of!(HeartbeatSlot, beats), 8),
    ("md.down_mask", offset_of!(Layout, md.down_mask), 8),
    ("md.down_seq", offset_of!(Layout, md.down_seq), 8),
    (
        "md.down_epochs",
        offset_of!(Layout, md.down_epochs),
        MAX_VENUES * 4,
    ),
    ("counters", offset_of!(Layout, counters), COUNTER_SLOTS * 8),
    (
        "histograms",
        offset_of!(Layout, histograms),
        size_of::<[HistSlot; HIST_SLOTS]>(),
    ),
    ("hist.seq", offset_of!(HistSlot, seq), 8),
    ("hist.count", offset_of!(HistSlot, count), 8),
    ("hist.sum_ns", offset_of!(HistSlot, sum_ns), 8),
    (
        "hist.counts",
        offset_of!(HistSlot, counts),
        HIST_BUCKETS * 8,
    ),
];

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn fnv_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

const fn fnv_u64(h: u64, v: u64) -> u64 {
    fnv_bytes(h, &v.to_le_bytes())
}

const fn layout_hash() -> u64 {
    let mut h = fnv_bytes(FNV_OFFSET, b"lyra-control");
    h = fnv_u64(h, size_of::<Layout>() as u64);
    let mut i = 0;
    while i < FIELDS.len() {
        let (name, offset, size) = FIELDS[i];
        h = fnv_bytes(h, name.as_bytes());
        h = fnv_u64(h, offset as u64);
        h = fnv_u64(h, size as u64);
        i += 1;
    }
    // Counter indices are part of the contract: a reader with another numbering would misreport.
    let mut c = 0;
    while c < Counter::ALL.len() {
        h = fnv_bytes(h, Counter::ALL[c].name().as_bytes());
        h = fnv_u64(h, Counter::ALL[c] as u64);
        c += 1;
    }
    // So are histogram indices and bucket bounds.
    let mut k = 0;
    while k < Hist::ALL.len() {
        h = fnv_bytes(h, Hist::ALL[k].name().as_bytes());
        h = fnv_u64(h, Hist::ALL[k] as u64);
        k += 1;
    }
    let bounds = super::histogram::bounds();
    let mut b = 0;
    while b < HIST_BUCKETS {
        h = fnv_u64(h, bounds[b]);
        b += 1;
    }
    h
}

/// FNV-1a over the field table and counter names: changes whenever the layout does.
pub const LAYOUT_HASH: u64 = layout_hash();
