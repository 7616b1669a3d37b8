//! The heartbeat watchdog: a hot thread that stops beating trips the halt (DESIGN §7).

use lyra_shm::control::{ControlSegment, HaltReason, Heartbeat, Note, Source, TripOutcome};

use crate::{Amrc, AmrcError};

/// How old a beat may be before its thread counts as lost.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatWatch {
    /// Largest allowed age of a thread's last beat, monotonic ns.
    pub max_age_ns: u64,
}

impl HeartbeatWatch {
    /// The first registered thread whose last beat is older than `max_age_ns` at `now_mono_ns`.
    /// Threads that have not beaten yet are still starting and are not judged.
    pub fn stale(&self, seg: &ControlSegment, now_mono_ns: u64) -> Option<Heartbeat> {
        seg.heartbeats().find(|h| {
            h.last_beat_ns != 0 && now_mono_ns.saturating_sub(h.last_beat_ns) > self.max_age_ns
        })
    }
}

impl Amrc {
    /// One watchdog pass: trips the halt (reason `HeartbeatLost`, source `AmrcMonitor`, audited)
    /// for the first stale thread. Does nothing while already halted, so a monitor calling it
    /// periodically does not flood the audit log with re-trips.
    ///
    /// # Errors
    /// [`AmrcError::Audit`] if the trip could not be audited (the halt is in force regardless).
    pub fn check_heartbeats(
        &self,
        watch: &HeartbeatWatch,
        now_mono_ns: u64,
        now_wall_ns: u64,
    ) -> Result<Option<TripOutcome>, AmrcError> {
        if self.is_halted() {
            return Ok(None);
        }
        let Some(h) = watch.stale(self.segment(), now_mono_ns) else {
            return Ok(None);
        };
        let text = format!(
            "thread {} (pid {} tid {}) silent for {} ms",
            h.name,
            h.pid,
            h.tid,
            now_mono_ns.saturating_sub(h.last_beat_ns) / 1_000_000
        );
        let note = Note {
            source: Source::AmrcMonitor,
            operator: "",
            text: &text,
            wall_ns: now_wall_ns,
        };
        self.trip_with(HaltReason::HeartbeatLost, &note).map(Some)
    }
}
