//! `lyra-gate`: serves `/health`, Prometheus `/metrics` and a read-only dashboard over the
//! engine's control segment. Exit codes: 0 stopped by a signal, 2 usage, 4 start-up failure.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use lyra_tools::gate::{self, GateArgs};

fn main() -> ExitCode {
    let args = GateArgs::parse();
    match gate::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(4)
        }
    }
}
