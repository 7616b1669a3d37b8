//! Core pinning for benchmark threads: pinned when the machine has at least two cores.

use core_affinity::CoreId;

/// The cores to pin a producer and a consumer to, if there are two; `None` on one core.
///
/// `get_core_ids` is read once, before any thread pins itself (a pinned thread only sees its
/// own core afterwards; DESIGN §4).
pub fn two_cores() -> Option<(CoreId, CoreId)> {
    let ids = core_affinity::get_core_ids()?;
    if ids.len() >= 2 {
        Some((ids[0], ids[1]))
    } else {
        None
    }
}

/// Pins the calling thread to `core` if given; returns whether it is pinned.
pub fn pin(core: Option<CoreId>) -> bool {
    core.map(core_affinity::set_for_current).unwrap_or(false)
}
