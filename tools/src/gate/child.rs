//! Running `lyra-gate` as a child process (what `lyra demo` does), so the `lyra` binary itself
//! never starts a tokio runtime and the gate maps the segment exactly as it does in production.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use super::LISTENING;

/// How long the child may take to print its address (a failure guard, not a timing).
const START_GUARD: Duration = Duration::from_secs(15);

/// A `lyra-gate` child; stopped when dropped. It also exits by itself when this process dies,
/// because it watches its stdin pipe (`--exit-on-stdin-eof`).
#[derive(Debug)]
pub struct GateChild {
    child: Child,
    /// Held open: its end-of-file tells the gate to exit.
    _stdin: ChildStdin,
    url: String,
}

/// The `lyra-gate` binary installed beside the running executable (cargo and `install` put
/// both binaries of this package in the same directory).
///
/// # Errors
/// The running executable's path is unknown.
pub fn sibling_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    Ok(exe.with_file_name("lyra-gate"))
}

impl GateChild {
    /// Starts `exe --segment <segment> [--config <config>] --listen <listen> --exit-on-stdin-eof`
    /// and waits for the URL it listens on. With the engine's config the gate also knows the
    /// venue names and the engine's heartbeat limit (`[threads] stuck_ms`).
    ///
    /// # Errors
    /// The binary is missing or exits before listening (the error carries its last stderr
    /// line, e.g. the address in use), or it prints nothing within the guard time.
    pub fn spawn(
        exe: &Path,
        segment: &Path,
        config: Option<&Path>,
        listen: &str,
    ) -> Result<GateChild> {
        let mut cmd = Command::new(exe);
        cmd.arg("--segment").arg(segment);
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd
            .args(["--listen", listen, "--exit-on-stdin-eof"])
            .env_remove("LYRA_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(i), Some(o), Some(e)) => (i, o, e),
                _ => bail!("{}: pipes not set up", exe.display()),
            };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            let mut line = String::new();
            let _ = out.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        // Keeps only the last stderr line (the reason, when it fails), draining the rest.
        let err_reader = std::thread::spawn(move || {
            let mut last = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !line.trim().is_empty() {
                    last = line;
                }
            }
            last
        });
        let line = rx.recv_timeout(START_GUARD).unwrap_or_default();
        let url = line
            .strip_prefix(LISTENING)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned);
        match url {
            Some(url) => Ok(GateChild {
                child,
                _stdin: stdin,
                url,
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let why = err_reader.join().unwrap_or_default();
                let why = if why.is_empty() {
                    "no output"
                } else {
                    why.as_str()
                };
                bail!("{} did not start: {why}", exe.display())
            }
        }
    }

    /// The gate's base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for GateChild {
    fn drop(&mut self) {
        // Our own child, by handle; closing stdin alone would also end it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
