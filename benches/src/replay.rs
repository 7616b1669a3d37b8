//! `replay`: whole-file replay throughput over the real BTCUSDT capture (see `parse`): every frame
//! (depth diffs, bookTickers, trades, the snapshot) through decode, depth sync and book, as
//! `lyra replay` does, from memory (decompression and file reading excluded for both).
//!
//! - `lyra`: `book::LyraPipe` (simd-json -> mantissas -> `DepthSync` -> `L2Book` + top export);
//! - `serde-decimal-btreemap`: `parse::base_parse` + `book::BaseBook`.
//!
//! Throughput rows only (`per_s` = frames per second, percentiles 0); each implementation keeps
//! its best pass, passes alternate between them; each side's pipeline is built before its clock
//! starts.

use std::hint::black_box;

use anyhow::{anyhow, Result};
use lyra_shm::clock::mono_now_ns;

use crate::{
    book::{same_book, BaseBook, LyraPipe},
    parse::{base_parse, load_capture},
    report::Report,
    Opts,
};

/// The suite's entry.
///
/// # Errors
/// Missing data, undecodable frames, or books that disagree.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let frames = load_capture()?;
    let passes = opts.pick(10, 3);
    let (mut best_lyra, mut best_base) = (u64::MAX, u64::MAX);
    for _ in 0..passes {
        // Both sides are built before their clock starts: the suite measures frames, not
        // start-up (the Lyra book writes its whole window at construction).
        let mut pipe = LyraPipe::new();
        let t0 = mono_now_ns();
        for (recv, f) in &frames {
            pipe.frame(*recv, f.as_bytes())?;
        }
        black_box(&pipe.top);
        best_lyra = best_lyra.min(mono_now_ns() - t0);

        let mut base = BaseBook::default();
        let t0 = mono_now_ns();
        for (_, f) in &frames {
            base.on_msg(base_parse(f).map_err(|e| anyhow!("baseline: {e}"))?);
        }
        black_box(base.top());
        best_base = best_base.min(mono_now_ns() - t0);
        same_book(&pipe.book, &base)?;
    }
    let n = frames.len() as u64;
    let per_s = |ns: u64| n as f64 * 1e9 / ns.max(1) as f64;
    Ok(vec![
        Report::throughput("replay", "lyra", n, per_s(best_lyra)),
        Report::throughput("replay", "serde-decimal-btreemap", n, per_s(best_base)),
    ])
}
