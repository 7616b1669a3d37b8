//! Per-venue market-data status in the control segment: one epoch bump per up->down transition,
//! visible to a second mapping (the CLI, the gate), venues beyond the mask refused.

use std::path::PathBuf;

use lyra_shm::{
    control::{ControlError, ControlSegment, CreateOpts},
    msg::VenueId,
};

/// A unique segment path under /dev/shm, removed on drop.
struct TempSeg(PathBuf);

impl Drop for TempSeg {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_disconnect_bumps_the_venue_epoch_once_and_a_reader_sees_it() {
    let p = TempSeg(PathBuf::from(format!(
        "/dev/shm/lyra-test-md-status-{}-{}",
        std::process::id(),
        lyra_shm::clock::mono_now_ns()
    )));
    let w = ControlSegment::create(&p.0, &CreateOpts::default()).unwrap();
    let r = ControlSegment::open(&p.0).unwrap();
    let (a, b) = (VenueId(0), VenueId(5));
    assert_eq!((r.md_down_seq(), r.md_down_mask()), (0, 0));
    assert!(w.set_md_down(b).unwrap(), "up -> down is a new disconnect");
    assert!(!w.set_md_down(b).unwrap(), "already down: no second bump");
    assert_eq!(r.md_down_seq(), 1);
    assert_eq!((r.md_down_epoch(a), r.md_down_epoch(b)), (0, 1));
    assert!(r.is_md_down(b) && !r.is_md_down(a));
    assert_eq!(r.md_down_mask(), 1 << 5);
    assert!(w.set_md_up(b).unwrap());
    assert!(!w.set_md_up(b).unwrap());
    assert!(!r.is_md_down(b));
    assert!(
        w.set_md_down(b).unwrap(),
        "the next disconnect counts again"
    );
    assert!(w.set_md_down(a).unwrap());
    assert_eq!(r.md_down_seq(), 3);
    assert_eq!((r.md_down_epoch(a), r.md_down_epoch(b)), (1, 2));
    assert!(matches!(
        w.set_md_down(VenueId(64)),
        Err(ControlError::VenueOutOfRange { venue: 64 })
    ));
    assert!(!r.is_md_down(VenueId(200)));
    assert_eq!(r.md_down_epoch(VenueId(200)), 0);
}
