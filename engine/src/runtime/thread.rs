//! Spawning the hot threads: named, pinned, polling their stages, beating their heartbeat.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
};

use lyra_shm::{clock::Clock, control::ControlSegment};

use super::{
    plan::ThreadPlan,
    stage::Stage,
    wait::{Sleeper, Waiter},
};
use crate::config::WaitKind;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The OS refused to create the thread.
    #[error("thread {name}: cannot spawn: {source}")]
    Spawn {
        /// Thread name.
        name: String,
        /// OS error.
        source: std::io::Error,
    },
    /// Pinning failed: loud at start, never silently unpinned (STYLE §10).
    #[error("thread {name}: cannot pin to core {core} (threads.cores / threads.pin)")]
    Pin {
        /// Thread name.
        name: String,
        /// The core asked for.
        core: usize,
    },
    /// No heartbeat slot left in the control segment.
    #[error("thread {name}: no free heartbeat slot in the control segment")]
    NoHeartbeatSlot {
        /// Thread name.
        name: String,
    },
}

/// Sleeps on the control segment's wake word: a halt trip (from any process) wakes the sleeper.
pub struct SegmentSleeper {
    seg: Arc<ControlSegment>,
}

impl SegmentSleeper {
    /// A sleeper on `seg`'s wake word.
    pub fn new(seg: Arc<ControlSegment>) -> Self {
        Self { seg }
    }
}

impl Sleeper for SegmentSleeper {
    fn sleep(&self, timeout_ns: u64) {
        let seen = self.seg.wake_seq();
        // Returns at once if the word moved since `seen` (a trip in between), else sleeps until a
        // trip or the timeout.
        let _ = self
            .seg
            .wait_for_change(seen, std::time::Duration::from_nanos(timeout_ns));
    }
}

/// The running hot threads.
pub struct Runtime {
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    seg: Arc<ControlSegment>,
}

impl Runtime {
    /// Starts one thread per plan entry with the given stages (index-aligned with `plan`).
    /// Returns once every thread has pinned itself and registered its heartbeat.
    ///
    /// # Errors
    /// A thread that cannot spawn, pin or register; the threads already started are stopped.
    pub fn spawn(
        plan: &[ThreadPlan],
        stages: Vec<Vec<Box<dyn Stage>>>,
        wait: WaitKind,
        seg: Arc<ControlSegment>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SpawnError> {
        assert_eq!(
            plan.len(),
            stages.len(),
            "one stage list per planned thread"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let mut rt = Runtime {
            handles: Vec::new(),
            stop: stop.clone(),
            seg: seg.clone(),
        };
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), SpawnError>>();
        for (tp, thread_stages) in plan.iter().zip(stages) {
            let (name, core) = (tp.name.clone(), tp.core);
            let (stop, seg, clock, ready) =
                (stop.clone(), seg.clone(), clock.clone(), ready_tx.clone());
            let builder = std::thread::Builder::new().name(truncate_name(&name));
            let thread_name = name.clone();
            let handle = builder
                .spawn(move || {
                    hot_loop(
                        &thread_name,
                        core,
                        thread_stages,
                        wait,
                        &seg,
                        &*clock,
                        &stop,
                        ready,
                    )
                })
                .map_err(|source| SpawnError::Spawn {
                    name: name.clone(),
                    source,
                })?;
            rt.handles.push(handle);
            if let Ok(Err(e)) = ready_rx.recv() {
                rt.stop();
                return Err(e);
            }
        }
        Ok(rt)
    }

    /// Asks every thread to stop after its current pass, runs each stage's `stop`, and joins.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.seg.notify_all();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }

    /// Whether every thread is still running (a dead thread means the halt was tripped).
    pub fn all_alive(&self) -> bool {
        self.handles.iter().all(|h| !h.is_finished())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Linux keeps 15 bytes of a thread name.
fn truncate_name(name: &str) -> String {
    lyra_shm::control::truncate_utf8(name, 15).to_owned()
}

#[allow(clippy::too_many_arguments)]
fn hot_loop(
    name: &str,
    core: Option<core_affinity::CoreId>,
    mut stages: Vec<Box<dyn Stage>>,
    wait: WaitKind,
    seg: &Arc<ControlSegment>,
    clock: &dyn Clock,
    stop: &AtomicBool,
    ready: mpsc::Sender<Result<(), SpawnError>>,
) {
    if let Some(core) = core {
        if !core_affinity::set_for_current(core) {
            let _ = ready.send(Err(SpawnError::Pin {
                name: name.to_owned(),
                core: core.id,
            }));
            return;
        }
    }
    let Ok(slot) = seg.register_thread(name) else {
        let _ = ready.send(Err(SpawnError::NoHeartbeatSlot {
            name: name.to_owned(),
        }));
        return;
    };
    let _ = ready.send(Ok(()));
    drop(ready);
    let sleeper = SegmentSleeper::new(seg.clone());
    let mut waiter = Waiter::new(wait, &sleeper);
    while !stop.load(Ordering::Acquire) {
        let now = clock.mono_ns();
        let mut work = 0;
        for stage in stages.iter_mut() {
            work += stage.poll(now);
        }
        seg.beat(slot, now);
        if work == 0 {
            waiter.idle();
        } else {
            waiter.reset();
        }
    }
    let now = clock.mono_ns();
    for stage in stages.iter_mut() {
        stage.stop(now);
    }
    seg.unregister_thread(slot);
}
