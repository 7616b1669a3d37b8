//! A panic anywhere trips the halt before the process dies (DESIGN §3, STYLE 10).

use std::sync::Arc;

use lyra_shm::{
    clock::wall_now_ns,
    control::{ControlSegment, HaltReason, Note, Source},
};

/// Installs a panic hook that trips the global halt (reason `Panic`, source `Panic`, text =
/// thread name and panic message, truncated to the record's 96 bytes), then runs the previous
/// hook. The trip is the first thing the hook does: the halt is in force before anything else
/// (printing, unwinding, aborting) can fail. No audit I/O here — the AMRC monitor or the next
/// `lyra status` sees the transition record in the segment.
pub fn install_panic_trip(seg: Arc<ControlSegment>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-string panic payload");
        let text = format!("{}: {msg}", thread.name().unwrap_or("unnamed"));
        let note = Note {
            source: Source::Panic,
            operator: "",
            text: &text,
            wall_ns: wall_now_ns(),
        };
        seg.trip_with(HaltReason::Panic, &note);
        previous(info);
    }));
}
