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

/// A binary built by `cargo build --workspace --bins` in the same profile as this test
/// (`target/<profile>/<name>`), found from the test executable's own path.
///
/// # Panics
/// When the binary is missing: the README's test command builds the binaries first.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target/<profile>");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} not built: run `cargo build --workspace --bins` first (the README test command does)",
        path.display()
    );
    path
}

/// A unique path under /dev/shm for a test's control segment, removed on drop.
pub struct TempSegment {
    /// The segment path.
    pub path: PathBuf,
}

impl TempSegment {
    /// A fresh name for `tag`.
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::UNIX_EPOCH
            .elapsed()
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = PathBuf::from(format!(
            "/dev/shm/lyra-test-{tag}-{}-{nanos}",
            std::process::id()
        ));
        Self { path }
    }
}

impl Drop for TempSegment {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Waits (sleeping 10 ms between tries) until `f` returns `Some`, for at most `secs` seconds.
pub fn wait_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..secs * 100 {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}
