//! The gate's view of the control segment: mapped on demand, re-mapped when the engine replaces
//! the file, never written to.
//!
//! The engine creates a fresh segment on every start (a new file renamed over the path), so a
//! mapping taken once would keep showing the dead engine's page. Each read compares the path's
//! inode with the mapped one and re-opens when they differ; the `stat` costs a syscall, which the
//! gate (never on the hot path) can afford.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use lyra_shm::control::ControlSegment;

/// Maps the segment at a path and hands out the current mapping.
#[derive(Debug)]
pub struct SegmentReader {
    path: PathBuf,
    mapped: Mutex<Option<Mapped>>,
}

#[derive(Debug)]
struct Mapped {
    seg: Arc<ControlSegment>,
    /// (device, inode) of the path when it was opened.
    file: (u64, u64),
}

impl SegmentReader {
    /// A reader for `path`; nothing is opened until the first [`SegmentReader::current`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            mapped: Mutex::new(None),
        }
    }

    /// The segment path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment as the path holds it now.
    ///
    /// # Errors
    /// Why it cannot be mapped (missing, foreign owner, wrong mode, layout mismatch...), as the
    /// segment's own message, which names the path and the cause.
    pub fn current(&self) -> Result<Arc<ControlSegment>, String> {
        // Stat before opening: if the file is replaced in between we map the newer one while
        // remembering the older inode, so the next read re-opens (converges), never the reverse.
        let file = std::fs::symlink_metadata(&self.path)
            .map(|m| (m.dev(), m.ino()))
            .ok();
        // A poisoned lock only means a reader panicked mid-swap; the Option is still whole.
        let mut slot = self.mapped.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(m), Some(f)) = (slot.as_ref(), file) {
            if m.file == f {
                return Ok(m.seg.clone());
            }
        }
        *slot = None;
        // No mlock: the gate only reads, and a page fault on its side delays nobody's halt.
        let seg =
            Arc::new(ControlSegment::open_with(&self.path, false).map_err(|e| e.to_string())?);
        if let Some(file) = file {
            *slot = Some(Mapped {
                seg: seg.clone(),
                file,
            });
        }
        Ok(seg)
    }
}
