//! `lyra-engine --config FILE [--check-config] [--log-json]`: the engine daemon.
//!
//! Exit codes: 0 clean stop, 2 bad arguments or config (the message names the key), 1 start-up or
//! run-time failure.
#![forbid(unsafe_code)]

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
};

use clap::Parser;
use lyra_engine::{config::Config, daemon};

/// Lyra engine daemon.
#[derive(Parser, Debug)]
#[command(name = "lyra-engine", version, about)]
struct Args {
    /// Engine configuration (TOML).
    #[arg(long, env = "LYRA_CONFIG")]
    config: PathBuf,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Capped whatever RUST_LOG says: tungstenite logs whole frames at TRACE, and the user
    // stream's signed subscribe frame carries the API key.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        .add_directive(
            lyra_oms::binance::user_stream::LOG_DIRECTIVE
                .parse()
                .expect("a valid directive"),
        );
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if args.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .init();
    }
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lyra-engine: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("config {} ok", args.config.display());
        return ExitCode::SUCCESS;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("lyra-engine: cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    match daemon::run(&cfg, stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lyra-engine: {e:#}");
            ExitCode::FAILURE
        }
    }
}
