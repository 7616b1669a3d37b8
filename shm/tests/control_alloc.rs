//! The control segment's hot-path calls allocate nothing (counting global allocator).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

use lyra_shm::{
    control::{ControlSegment, Counter, CreateOpts, HaltReason, Note, Source},
    msg::VenueId,
};

/// Counts allocations made by this test binary.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator, which upholds GlobalAlloc's
// contract; the counter is a side effect only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (via `alloc` above).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn hot_path_calls_do_not_allocate() {
    let path = PathBuf::from(format!(
        "/dev/shm/lyra-test-alloc-{}-{}",
        std::process::id(),
        lyra_shm::clock::mono_now_ns()
    ));
    let seg = ControlSegment::create(&path, &CreateOpts::default()).unwrap();
    let slot = seg.register_thread("oms").unwrap();
    let note = Note {
        source: Source::Risk,
        operator: "",
        text: "loss stop",
        wall_ns: 1,
    };

    let before = ALLOCS.load(Ordering::Relaxed);
    for i in 0..1_000u64 {
        assert!(!seg.is_halted());
        assert!(!seg.is_venue_halted(VenueId(1)));
        seg.add(Counter::SendsAttempted, 1);
        seg.beat(slot, i);
        seg.trip_with(HaltReason::RiskLimit, &note);
        seg.trip(HaltReason::Panic, Source::Panic);
        seg.trip_venue(VenueId(1), HaltReason::VenueBan, &note)
            .unwrap();
        assert!(seg.last_transition().is_some());
        let _ = seg.read_grant(0);
        seg.resume_if(seg.halt_state(), &note).unwrap();
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    let _ = std::fs::remove_file(&path);
    assert_eq!(allocs, 0, "hot-path control calls allocated {allocs} times");
}
