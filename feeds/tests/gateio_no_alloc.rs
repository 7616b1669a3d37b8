//! The Gate.io decoder (parse + buffered snapshot bridge) allocates nothing per frame after
//! warm-up, on the real capture (`2021-04-22_gateio/`, WS updates and REST snapshots merged by
//! time). One test per binary: the allocation counter is process-wide.

use lyra_feeds::{
    gateio::{GateMd, GateSyncConfig},
    instrument::InstrumentTable,
};
use lyra_shm::{alloc_count::CountingAlloc, msg::MdEvent};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// `$LYRA_DATA_DIR`, else `../shared/data` beside the workspace; `None` (printed) if absent.
fn data_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("LYRA_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
        });
    if dir.join("SOURCES.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: recorded data not found at {} (set LYRA_DATA_DIR)",
            dir.display()
        );
        None
    }
}

/// A sink reserved up front and cleared after every frame, as the feed thread's ring would be.
fn sink() -> Vec<MdEvent> {
    Vec::with_capacity(1 << 14)
}

/// Both files merged by receive time (the order `lyra replay` uses).
fn merged(dir: &std::path::Path) -> Vec<(Option<String>, String)> {
    let d = dir.join("cryptofeed/2021-04-22_gateio");
    let mut all = Vec::new();
    for name in ["GATEIO.ws.1.0", "GATEIO.http.0.0"] {
        let text = std::fs::read_to_string(d.join(name)).expect("read capture");
        for l in text.lines() {
            let (url, rest) = match l.split_once(" -> ") {
                Some((u, r)) => (Some(u.to_owned()), r),
                None => (None, l),
            };
            let Some((ts, body)) = rest.split_once(": ") else {
                continue;
            };
            let Ok(t) = ts.parse::<f64>() else { continue };
            all.push((t, url, body.to_owned()));
        }
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all.into_iter().map(|(_, u, b)| (u, b)).collect()
}

#[test]
fn gateio_decoder_allocates_nothing_after_warm_up() {
    let Some(dir) = data_dir() else { return };
    let frames = merged(&dir);
    let venue = lyra_shm::msg::VenueId(4);
    let mut table = InstrumentTable::new();
    let mut md = GateMd::new(venue, GateSyncConfig::default());
    let mut out = sink();
    let pair = |url: &Option<String>| -> Option<String> {
        url.as_deref()?
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("currency_pair="))
            .map(str::to_owned)
    };
    // Pairs of the REST snapshots, resolved before the timed pass (no allocation inside it).
    let snap_pairs: Vec<Option<String>> = frames.iter().map(|(u, _)| pair(u)).collect();
    for ((_, f), p) in frames.iter().zip(&snap_pairs) {
        let snap = p.as_deref().and_then(|p| {
            let i = table.lookup_or_add(venue, p, 10, 10).ok()?;
            table.resolved(i)
        });
        let mut resolve = |s: &[u8]| {
            let sym = std::str::from_utf8(s).ok()?;
            let i = table.lookup_or_add(venue, sym, 10, 10).ok()?;
            table.resolved(i)
        };
        let _ = md.on_frame(1, f.as_bytes(), &mut resolve, snap, &mut out);
        out.clear();
    }
    md.invalidate(
        None,
        lyra_shm::msg::InvalidReason::Disconnected,
        2,
        &mut out,
    );
    out.clear();
    let snaps: Vec<_> = snap_pairs
        .iter()
        .map(|p| {
            p.as_deref()
                .and_then(|p| table.resolve(venue, p.as_bytes()))
        })
        .collect();
    let before = ALLOC.allocations();
    let mut events = 0;
    for ((_, f), snap) in frames.iter().zip(&snaps) {
        let mut resolve = |s: &[u8]| table.resolve(venue, s);
        md.on_frame(3, f.as_bytes(), &mut resolve, *snap, &mut out)
            .expect("decodes");
        events += out.len();
        out.clear();
    }
    let allocs = ALLOC.allocations() - before;
    assert!(events > 1_000, "the pass did real work: {events} events");
    assert_eq!(allocs, 0, "allocations over {} frames", frames.len());
}
