//! Small OS helpers the safe crates need around private files: effective uid, owner/mode checks,
//! process liveness, advisory file locks, random ids. They live here because only `shm` may use
//! `unsafe` (each wraps one libc call).

use std::{
    fs::{File, Metadata},
    io,
    os::unix::{fs::MetadataExt, io::AsRawFd},
};

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Why a file that must be private (the segment, a key file) is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateFileProblem {
    /// Owned by another user.
    ForeignOwner {
        /// The file's owner.
        owner: u32,
        /// Our effective uid.
        euid: u32,
    },
    /// Group or other have some access (mode is not 0600 or stricter).
    OpenMode {
        /// The permission bits.
        mode: u32,
    },
}

/// `None` when `meta` is owned by our euid and has no group/other permission bits.
pub fn private_file_problem(meta: &Metadata) -> Option<PrivateFileProblem> {
    let euid = euid();
    if meta.uid() != euid {
        return Some(PrivateFileProblem::ForeignOwner {
            owner: meta.uid(),
            euid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Some(PrivateFileProblem::OpenMode { mode });
    }
    None
}

/// Whether a process with this pid exists (it may belong to another user).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid, touching no memory.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// Eight random bytes from the kernel (`getrandom`), never zero.
///
/// # Errors
/// The OS error if the kernel's generator is unavailable.
pub fn random_u64() -> io::Result<u64> {
    let mut buf = [0u8; 8];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`, which is writable
        // for that many bytes; getrandom writes at most that many.
        let r =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += r as usize;
    }
    Ok(u64::from_le_bytes(buf).max(1))
}

/// An exclusive `flock` on a file, released on drop (or when the file is closed).
#[derive(Debug)]
pub struct FileLock<'a> {
    file: &'a File,
}

/// Takes an exclusive advisory lock on `file`, waiting for it (writers of the audit chain
/// serialise on it so two processes never fork the chain).
///
/// # Errors
/// The OS error from `flock`.
pub fn lock_exclusive(file: &File) -> io::Result<FileLock<'_>> {
    loop {
        // SAFETY: the fd is owned by `file`, which outlives this call; flock touches no memory.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(FileLock { file });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `lock_exclusive`; unlocking a held lock on a live fd.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}
