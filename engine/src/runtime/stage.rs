//! A pipeline stage: something a hot thread polls. Layouts differ only in which stages share a
//! thread, so fusing stages cannot change what they compute (DESIGN §3).

use lyra_shm::clock::Nanos;

/// A unit of hot-path work, polled in a loop by the thread that owns it.
pub trait Stage: Send {
    /// Short name for logs and heartbeats.
    fn name(&self) -> &'static str;
    /// Does whatever work is ready, without blocking; returns how many items it handled
    /// (0 tells the thread's wait strategy that this pass was idle).
    fn poll(&mut self, now_ns: Nanos) -> usize;
    /// Called once on the owning thread when the runtime stops: drain, flush, cancel.
    fn stop(&mut self, _now_ns: Nanos) {}
}
