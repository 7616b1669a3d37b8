//! Which stage runs on which thread and core: the layout is configuration, not code (DESIGN §3).

use core_affinity::CoreId;

use crate::config::{Layout, ThreadsSection};

/// The pipeline stages, in data-flow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// Socket -> frames -> `MdEvent`s.
    Feed,
    /// `MdEvent`s -> books -> `BookTop`s.
    Book,
    /// Tops -> strategy decisions -> risk -> intents.
    Strategy,
    /// Intents -> halt re-check -> journal -> venue.
    Order,
}

/// One hot thread of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPlan {
    /// Thread name (also its heartbeat name), e.g. `lyra-feed+book+strategy`.
    pub name: String,
    /// The stages it polls, in order.
    pub stages: Vec<StageKind>,
    /// The core it pins to, if pinning.
    pub core: Option<CoreId>,
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// A configured core does not exist on this machine (or is outside our cpuset).
    #[error("threads.cores: core {core} is not available (available: {available:?})")]
    NoSuchCore {
        /// The configured core.
        core: usize,
        /// What the OS offers this process.
        available: Vec<usize>,
    },
    /// The OS would not tell which cores this process may use.
    #[error("threads.pin: cannot read the cores available to this process")]
    NoCoreList,
}

/// Groups the stages into threads for `layout`.
pub fn stage_groups(layout: Layout) -> Vec<Vec<StageKind>> {
    use StageKind::*;
    match layout {
        Layout::Spread => vec![vec![Feed], vec![Book], vec![Strategy], vec![Order]],
        Layout::Compact => vec![vec![Feed, Book, Strategy], vec![Order]],
        Layout::Single => vec![vec![Feed, Book, Strategy, Order]],
    }
}

/// Builds the plan. `available` is `core_affinity::get_core_ids()` read once at start-up, before
/// any thread pins itself (a pinned thread afterwards only sees its own core; DESIGN §4).
///
/// # Errors
/// A configured core that is not available, or no core list when pinning is on.
pub fn plan(
    threads: &ThreadsSection,
    available: Option<&[CoreId]>,
) -> Result<Vec<ThreadPlan>, PlanError> {
    let groups = stage_groups(threads.layout);
    let cores: Vec<Option<CoreId>> = if !threads.pin {
        vec![None; groups.len()]
    } else {
        let available = available.ok_or(PlanError::NoCoreList)?;
        let ids: Vec<usize> = available.iter().map(|c| c.id).collect();
        if threads.cores.is_empty() {
            // Use the highest-numbered cores: core 0 takes most interrupts and housekeeping.
            // With fewer cores than threads, threads share cores round-robin (a 2-core machine
            // running `spread` still works, just not as intended; `compact` is its layout).
            (0..groups.len())
                .map(|i| {
                    let k = available.len() - 1 - (i % available.len());
                    Some(available[k])
                })
                .collect()
        } else {
            threads
                .cores
                .iter()
                .map(|&core| {
                    available
                        .iter()
                        .find(|c| c.id == core)
                        .copied()
                        .map(Some)
                        .ok_or(PlanError::NoSuchCore {
                            core,
                            available: ids.clone(),
                        })
                })
                .collect::<Result<_, _>>()?
        }
    };
    Ok(groups
        .into_iter()
        .zip(cores)
        .map(|(stages, core)| ThreadPlan {
            name: thread_name(&stages),
            stages,
            core,
        })
        .collect())
}

/// `lyra-feed+book+strategy` style names (Linux thread names keep 15 bytes; the heartbeat keeps more).
pub fn thread_name(stages: &[StageKind]) -> String {
    let parts: Vec<&str> = stages
        .iter()
        .map(|s| match s {
            StageKind::Feed => "feed",
            StageKind::Book => "book",
            StageKind::Strategy => "strategy",
            StageKind::Order => "order",
        })
        .collect();
    format!("lyra-{}", parts.join("+"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WaitKind;

    fn threads(layout: Layout, cores: Vec<usize>) -> ThreadsSection {
        ThreadsSection {
            layout,
            wait: WaitKind::Park,
            cores,
            pin: true,
            stuck_ms: 1000,
        }
    }

    #[test]
    fn layouts_group_every_stage_once() {
        for layout in [Layout::Spread, Layout::Compact, Layout::Single] {
            let mut all: Vec<StageKind> = stage_groups(layout).into_iter().flatten().collect();
            assert_eq!(all.len(), 4);
            all.dedup();
            assert_eq!(all.len(), 4);
            assert_eq!(
                stage_groups(layout).len(),
                crate::config::threads_for(layout)
            );
        }
    }

    #[test]
    fn explicit_cores_must_exist() {
        let avail = [CoreId { id: 0 }, CoreId { id: 1 }];
        let p = plan(&threads(Layout::Compact, vec![1, 0]), Some(&avail)).unwrap();
        assert_eq!(p[0].core, Some(CoreId { id: 1 }));
        assert_eq!(p[0].name, "lyra-feed+book+strategy");
        assert_eq!(p[1].name, "lyra-order");
        let e = plan(&threads(Layout::Compact, vec![0, 7]), Some(&avail)).unwrap_err();
        assert_eq!(
            e,
            PlanError::NoSuchCore {
                core: 7,
                available: vec![0, 1]
            }
        );
    }

    #[test]
    fn default_cores_prefer_high_numbers_and_wrap() {
        let avail = [CoreId { id: 0 }, CoreId { id: 1 }];
        let p = plan(&threads(Layout::Spread, vec![]), Some(&avail)).unwrap();
        let ids: Vec<usize> = p.iter().map(|t| t.core.unwrap().id).collect();
        assert_eq!(ids, vec![1, 0, 1, 0]);
    }
}
