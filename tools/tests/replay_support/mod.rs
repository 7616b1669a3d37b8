//! Shared by the `lyra replay` acceptance tests: where the recorded data is, running the real
//! binary, picking a summary line, and making edited copies of a capture.
#![allow(dead_code)] // each test binary uses its own subset

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// `$LYRA_DATA_DIR`, else `../shared/data` beside the workspace; `None` (printed) if absent.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LYRA_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
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

/// Runs `lyra replay ARGS FILES` and returns (stdout JSON lines, stderr).
pub fn replay(args: &[&str], files: &[PathBuf]) -> (Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .arg("replay")
        .args(args)
        .args(files)
        .output()
        .expect("run lyra");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "lyra replay failed: {stderr}");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    (lines, stderr)
}

/// The summary line of `symbol`.
pub fn line<'a>(lines: &'a [Value], symbol: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["symbol"] == symbol)
        .unwrap_or_else(|| panic!("no line for {symbol}: {lines:?}"))
}

/// A copy of `src` under the temp dir with `edit` applied to each line (None drops it).
pub fn edited_copy(
    src: &Path,
    tag: &str,
    mut edit: impl FnMut(usize, &str) -> Option<String>,
) -> PathBuf {
    let text = std::fs::read_to_string(src).expect("read capture");
    let out: Vec<String> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| edit(i + 1, l))
        .collect();
    let tmp = std::env::temp_dir().join(format!("lyra_replay_{tag}_{}.txt", std::process::id()));
    std::fs::write(&tmp, out.join("\n") + "\n").expect("write temp capture");
    tmp
}
