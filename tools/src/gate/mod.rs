//! `lyra-gate`'s observability half (DESIGN §1, §8, §9): `/health`, Prometheus `/metrics` and a
//! read-only dashboard, all read from the engine's control segment. The gate never writes the
//! segment here: no trip, no clear, no grant (the approval ladder is later work).
//!
//! It is the only part of Lyra that runs tokio; the engine and the `lyra` CLI never start a
//! runtime (`lyra demo` runs the gate as a child process, the `lyra-gate` binary).

pub mod args;
pub mod child;
pub mod dashboard;
pub mod health;
pub mod metrics;
pub mod reader;
pub mod server;
pub mod snapshot;

use std::{io::Write as _, sync::Arc};

use anyhow::{Context, Result};

pub use args::{GateArgs, Settings};
pub use server::GateState;

/// The first line `lyra-gate` prints on stdout once it listens; the URL follows it.
pub const LISTENING: &str = "lyra-gate: listening on ";

/// Runs the gate until SIGINT/SIGTERM (or end of stdin with `--exit-on-stdin-eof`).
///
/// # Errors
/// A bad config, an address that cannot be bound, or a runtime that cannot start.
pub fn run(args: &GateArgs) -> Result<()> {
    let settings = args.settings()?;
    if args.exit_on_stdin_eof {
        // A plain thread: blocking stdin reads have no place on the runtime, and the gate holds
        // nothing that needs flushing, so exiting from here is clean.
        std::thread::Builder::new()
            .name("gate-stdin".into())
            .spawn(|| {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
                std::process::exit(0);
            })
            .context("lyra-gate: spawning the stdin watcher")?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("lyra-gate: starting the tokio runtime")?;
    rt.block_on(async {
        let listener = server::bind(&settings).await?;
        let addr = listener.local_addr().context("lyra-gate: local address")?;
        let state = Arc::new(GateState::new(&settings));
        // Handlers first: a SIGTERM sent as soon as the address is printed must still be a
        // clean stop, not the default disposition's kill.
        let shutdown = shutdown_signal()?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{LISTENING}{} (segment {})",
            server::url(addr),
            settings.segment.display()
        )?;
        out.flush()?;
        drop(out);
        server::serve(listener, state, shutdown).await
    })
}

/// Installs SIGINT/SIGTERM handlers (systemd stops with SIGTERM) and returns a future that
/// completes on either.
///
/// # Errors
/// The handlers cannot be installed.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("lyra-gate: SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("lyra-gate: SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
