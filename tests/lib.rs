//! Helpers shared by Lyra's integration tests: where the recorded data lives, where the workspace is.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The recorded exchange data: `$LYRA_DATA_DIR`, else `../shared/data` beside the workspace.
/// `None` (after printing why) when it is absent, so a test can skip.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LYRA_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"));
    if dir.join("SOURCES.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: recorded data not found at {} (set LYRA_DATA_DIR to the shared data folder)",
            dir.display()
        );
        None
    }
}
