//! Per-thread heartbeats: each hot thread claims a slot at start and stores its beat time.
//!
//! A slot has one writer (its thread) after registration, so `beat` is two plain stores, no
//! read-modify-write. Slots of dead processes are reclaimed by the next registration.

use std::sync::atomic::Ordering;

use super::{
    fsutil,
    layout::{HEARTBEAT_SLOTS, THREAD_NAME_BYTES},
    seqlock, ControlError, ControlSegment, FixedStr,
};

const FREE: u32 = 0;
const CLAIMING: u32 = 1;
const LIVE: u32 = 2;

/// A registered thread's heartbeat slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadSlot(pub usize);

/// A copy of one heartbeat slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Slot index.
    pub slot: usize,
    /// Thread name.
    pub name: FixedStr<THREAD_NAME_BYTES>,
    /// Owner pid.
    pub pid: u32,
    /// Owner kernel thread id.
    pub tid: u32,
    /// Last beat, monotonic ns (0 before the first beat).
    pub last_beat_ns: u64,
    /// Beats so far.
    pub beats: u64,
}

impl ControlSegment {
    /// Claims a heartbeat slot for the calling thread under `name` (truncated to 24 bytes).
    ///
    /// # Errors
    /// [`ControlError::HeartbeatsFull`] when every slot belongs to a live process.
    pub fn register_thread(&self, name: &str) -> Result<ThreadSlot, ControlError> {
        let slots = &self.layout().heartbeats;
        for (i, s) in slots.iter().enumerate() {
            let state = s.state.load(Ordering::Acquire);
            let claimable = state == FREE
                || (state == LIVE && !fsutil::pid_alive(s.pid.load(Ordering::Relaxed)));
            if !claimable
                || s.state
                    .compare_exchange(state, CLAIMING, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            s.pid.store(std::process::id(), Ordering::Relaxed);
            s.tid.store(fsutil::gettid(), Ordering::Relaxed);
            seqlock::store_bytes(&s.name, FixedStr::<THREAD_NAME_BYTES>::new(name).as_bytes());
            s.last_beat_ns.store(0, Ordering::Relaxed);
            s.beats.store(0, Ordering::Relaxed);
            s.state.store(LIVE, Ordering::Release);
            return Ok(ThreadSlot(i));
        }
        Err(ControlError::HeartbeatsFull)
    }

    /// Records a beat at `now_mono_ns` (the owner thread only). Out-of-range slots are ignored.
    #[inline]
    pub fn beat(&self, slot: ThreadSlot, now_mono_ns: u64) {
        if let Some(s) = self.layout().heartbeats.get(slot.0) {
            // Single writer per slot: load + store instead of a locked RMW.
            let n = s.beats.load(Ordering::Relaxed);
            s.beats.store(n + 1, Ordering::Relaxed);
            s.last_beat_ns.store(now_mono_ns, Ordering::Release);
        }
    }

    /// Frees a slot (thread exit).
    pub fn unregister_thread(&self, slot: ThreadSlot) {
        if let Some(s) = self.layout().heartbeats.get(slot.0) {
            s.state.store(FREE, Ordering::Release);
        }
    }

    /// A copy of slot `i` if a thread holds it.
    pub fn heartbeat(&self, i: usize) -> Option<Heartbeat> {
        let s = self.layout().heartbeats.get(i)?;
        if s.state.load(Ordering::Acquire) != LIVE {
            return None;
        }
        let mut name = [0u8; THREAD_NAME_BYTES];
        seqlock::load_bytes(&s.name, &mut name);
        Some(Heartbeat {
            slot: i,
            name: FixedStr::from_raw(name),
            pid: s.pid.load(Ordering::Relaxed),
            tid: s.tid.load(Ordering::Relaxed),
            last_beat_ns: s.last_beat_ns.load(Ordering::Acquire),
            beats: s.beats.load(Ordering::Relaxed),
        })
    }

    /// Every registered thread's heartbeat.
    pub fn heartbeats(&self) -> impl Iterator<Item = Heartbeat> + '_ {
        (0..HEARTBEAT_SLOTS).filter_map(|i| self.heartbeat(i))
    }
}
