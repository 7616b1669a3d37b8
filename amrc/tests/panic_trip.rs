//! A panicking thread trips the halt (own test binary: the panic hook is process-global).

use std::{path::PathBuf, sync::Arc};

use lyra_shm::control::{ControlSegment, CreateOpts, HaltReason, Source};

#[test]
fn a_panic_trips_the_halt_with_its_message() {
    let path = PathBuf::from(format!(
        "/dev/shm/lyra-amrc-panic-{}-{}",
        std::process::id(),
        lyra_shm::clock::mono_now_ns()
    ));
    let seg = Arc::new(ControlSegment::create(&path, &CreateOpts::default()).unwrap());
    lyra_amrc::install_panic_trip(seg.clone());
    let r = std::thread::Builder::new()
        .name("strategy-7".into())
        .spawn(|| panic!("invariant broken: position {}", 42))
        .unwrap()
        .join();
    assert!(r.is_err());
    let _ = std::panic::take_hook();
    assert!(seg.is_halted());
    assert_eq!(seg.halt_state().reason(), HaltReason::Panic);
    let rec = seg.last_transition().unwrap();
    assert_eq!(rec.source, Source::Panic);
    assert_eq!(
        rec.text.as_str(),
        "strategy-7: invariant broken: position 42"
    );
    let _ = std::fs::remove_file(&path);
}
