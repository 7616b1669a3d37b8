//! The AMRC monitor side thread: trips the halt when a hot thread stops beating or dies
//! (DESIGN §3, §7). It is not a hot thread: it sleeps between checks.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use lyra_shm::{
    clock::Clock,
    control::{ControlSegment, HaltReason, Source},
};

/// Watches the heartbeats of the threads named in `names`.
pub struct Monitor {
    handle: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Monitor {
    /// Starts the monitor: a heartbeat older than `stuck_ms` trips the halt.
    pub fn start(
        seg: Arc<ControlSegment>,
        clock: Arc<dyn Clock>,
        stuck_ms: u64,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("lyra-amrc-mon".into())
            .spawn(move || {
                let period = Duration::from_millis((stuck_ms / 4).max(1));
                let stuck_ns = stuck_ms * 1_000_000;
                let pid = std::process::id();
                while !flag.load(Ordering::Acquire) {
                    std::thread::sleep(period);
                    let now = clock.mono_ns();
                    for hb in seg.heartbeats() {
                        // Only our own threads: the gate or a second engine has its own monitor.
                        if hb.pid != pid || hb.last_beat_ns == 0 {
                            continue;
                        }
                        if now.saturating_sub(hb.last_beat_ns) > stuck_ns && !seg.is_halted() {
                            let _ = seg.trip(HaltReason::HeartbeatLost, Source::AmrcMonitor);
                        }
                    }
                }
            })?;
        Ok(Self {
            handle: Some(handle),
            stop,
        })
    }

    /// Stops and joins the monitor.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}
