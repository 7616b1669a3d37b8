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

use lyra_amrc::{Amrc, HeartbeatWatch};
use lyra_shm::clock::Clock;

/// Runs the AMRC heartbeat watchdog on a side thread.
pub struct Monitor {
    handle: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Monitor {
    /// Starts the monitor: a heartbeat older than `stuck_ms` trips the halt (audited by the AMRC).
    pub fn start(amrc: Arc<Amrc>, clock: Arc<dyn Clock>, stuck_ms: u64) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("lyra-amrc-mon".into())
            .spawn(move || {
                let period = Duration::from_millis((stuck_ms / 4).max(1));
                let watch = HeartbeatWatch {
                    max_age_ns: stuck_ms * 1_000_000,
                };
                while !flag.load(Ordering::Acquire) {
                    std::thread::sleep(period);
                    if let Err(e) = amrc.check_heartbeats(&watch, clock.mono_ns(), clock.wall_ns())
                    {
                        // The halt is in force even when its audit record could not be written.
                        tracing::error!(error = %e, "heartbeat trip could not be audited");
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
