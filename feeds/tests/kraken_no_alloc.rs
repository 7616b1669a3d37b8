//! The Kraken decoder (v1 parse + upkeep with truncation + checksum forwarding) allocates
//! nothing per frame after warm-up, on the real capture (`2021-04-17_kraken/KRAKEN.ws.50.0`,
//! 10 pairs at depth 1000). One test per binary: the allocation counter is process-wide.

use lyra_feeds::{instrument::InstrumentTable, kraken::KrakenMd};
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

/// The received frames (`<ts>: <json>` lines) of a cryptofeed capture, with their URL for REST
/// bodies (`<url> -> <ts>: <json>`); sent messages and connection lines are skipped.
fn frames(path: &std::path::Path) -> Vec<(Option<String>, String)> {
    let text = std::fs::read_to_string(path).expect("read capture");
    text.lines()
        .filter_map(|l| {
            if let Some((url, rest)) = l.split_once(" -> ") {
                let (_, body) = rest.split_once(": ")?;
                return Some((Some(url.to_owned()), body.to_owned()));
            }
            let (ts, body) = l.split_once(": ")?;
            ts.parse::<f64>().ok()?;
            Some((None, body.to_owned()))
        })
        .collect()
}

/// A sink reserved up front and cleared after every frame, as the feed thread's ring would be.
fn sink() -> Vec<MdEvent> {
    Vec::with_capacity(1 << 14)
}

#[test]
fn kraken_decoder_allocates_nothing_after_warm_up() {
    let Some(dir) = data_dir() else { return };
    let frames = frames(&dir.join("cryptofeed/2021-04-17_kraken/KRAKEN.ws.50.0"));
    let venue = lyra_shm::msg::VenueId(2);
    let mut table = InstrumentTable::new();
    let mut md = KrakenMd::new(venue, 10);
    let mut out = sink();
    for (_, f) in &frames {
        let mut resolve = |s: &[u8]| {
            let sym = std::str::from_utf8(s).ok()?;
            let i = table.lookup_or_add(venue, sym, 8, 8).ok()?;
            table.resolved(i)
        };
        let _ = md.on_frame(1, f.as_bytes(), &mut resolve, &mut out);
        out.clear();
    }
    md.invalidate(
        None,
        lyra_shm::msg::InvalidReason::Disconnected,
        2,
        &mut out,
    );
    out.clear();
    let before = ALLOC.allocations();
    let mut events = 0;
    for (_, f) in &frames {
        let mut resolve = |s: &[u8]| table.resolve(venue, s);
        md.on_frame(3, f.as_bytes(), &mut resolve, &mut out)
            .expect("decodes");
        events += out.len();
        out.clear();
    }
    let allocs = ALLOC.allocations() - before;
    assert!(events > 10_000, "the pass did real work: {events} events");
    assert_eq!(allocs, 0, "allocations over {} frames", frames.len());
}
