//! Issue 2, acceptance: while halted, the engine's order stage refuses every send slot — the halt
//! set from another process (this test, and the `lyra halt` CLI) stops all sends.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
};

use lyra_shm::control::{ControlSegment, Counter, HaltReason, Note, Source};
use lyra_tests::{bin_path, wait_for, TempSegment};

struct Engine {
    child: Child,
    _dir: tempdir::Dir,
}

mod tempdir {
    /// A temp directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Engine {
    fn start(seg: &TempSegment, layout: &str) -> Engine {
        let dir = std::env::temp_dir().join(format!(
            "lyra-engine-test-{}-{}",
            std::process::id(),
            seg.path.file_name().unwrap().to_string_lossy()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("engine.toml");
        std::fs::write(
            &cfg,
            format!(
                "[engine]\nrun_id = \"halttest\"\n[paths]\nsegment = \"{}\"\naudit = \"{}\"\n\
                 [threads]\nlayout = \"{layout}\"\nwait = \"park\"\npin = false\n\
                 [order_stage]\nsend_slots_per_s = 20000\n",
                seg.path.display(),
                dir.join("audit.jsonl").display()
            ),
        )
        .unwrap();
        let child = Command::new(bin_path("lyra-engine"))
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn lyra-engine");
        Engine {
            child,
            _dir: tempdir::Dir(dir),
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait engine")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn open_when_running(seg: &TempSegment) -> Arc<ControlSegment> {
    let s =
        wait_for(20, || ControlSegment::open(&seg.path).ok()).expect("engine creates its segment");
    let s = Arc::new(s);
    // Running = its threads beat and slots flow.
    wait_for(20, || (s.get(Counter::SendsDone) > 100).then_some(())).expect("send slots flow");
    s
}

/// Trips through `trip`, then checks that after the order stage has seen the flag no slot is sent.
fn assert_halt_stops_sends(seg: &ControlSegment, trip: impl FnOnce()) {
    let refused_before = seg.get(Counter::SendsRefusedHalted);
    trip();
    assert!(seg.is_halted());
    // The gate has seen the flag once it refuses a slot; from then on nothing may pass.
    wait_for(20, || {
        (seg.get(Counter::SendsRefusedHalted) > refused_before).then_some(())
    })
    .expect("the gate refuses slots once halted");
    let sent_at_halt = seg.get(Counter::SendsDone);
    let refused_at_halt = seg.get(Counter::SendsRefusedHalted);
    // Let a few hundred more slots arrive at the gate.
    wait_for(20, || {
        (seg.get(Counter::SendsRefusedHalted) > refused_at_halt + 500).then_some(())
    })
    .expect("slots keep arriving and are refused");
    assert_eq!(
        seg.get(Counter::SendsDone),
        sent_at_halt,
        "no send slot passes while halted"
    );
}

#[test]
fn halt_from_another_process_refuses_every_send_slot() {
    for layout in ["compact", "single", "spread"] {
        let seg_path = TempSegment::new(&format!("gate-{layout}"));
        let engine = Engine::start(&seg_path, layout);
        let seg = open_when_running(&seg_path);
        assert_halt_stops_sends(&seg, || {
            seg.trip_with(HaltReason::Operator, &Note::auto(Source::Operator));
        });
        let status = engine.terminate();
        assert!(
            status.success(),
            "{layout}: engine exits cleanly on SIGTERM: {status:?}"
        );
    }
}
