//! `lyra-bench <suite>|all [--quick] [--json]`: runs latency/throughput suites and prints one
//! result per implementation (JSON lines with `--json`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use lyra_benches::{suites, Opts};

fn usage() -> String {
    let mut s = String::from("usage: lyra-bench <suite>|all [--quick] [--json]\nsuites:\n");
    for suite in suites() {
        s.push_str(&format!("  {:<14} {}\n", suite.name, suite.about));
    }
    s
}

fn main() -> ExitCode {
    // The `halt` suite re-executes this binary as its observer process
    // (`lyra-bench __halt-observer <segment> <core> <mode>`); that child never parses suites.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = lyra_benches::halt::observer_entry(&args) {
        return code;
    }
    let mut which: Option<String> = None;
    let mut opts = Opts { quick: false };
    let mut json = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--json" => json = true,
            "-h" | "--help" => {
                print!("{}", usage());
                return ExitCode::SUCCESS;
            }
            a if a.starts_with('-') => {
                eprintln!("lyra-bench: unknown option {a}\n{}", usage());
                return ExitCode::from(2);
            }
            a => which = Some(a.to_owned()),
        }
    }
    let Some(which) = which else {
        eprint!("{}", usage());
        return ExitCode::from(2);
    };
    let all = suites();
    let chosen: Vec<_> = all
        .iter()
        .filter(|s| which == "all" || s.name == which)
        .collect();
    if chosen.is_empty() {
        eprintln!("lyra-bench: no suite named {which}\n{}", usage());
        return ExitCode::from(2);
    }
    let mut failed = false;
    for suite in chosen {
        match (suite.run)(&opts) {
            Ok(reports) => {
                for r in reports {
                    println!("{}", if json { r.to_json() } else { r.to_text() });
                }
            }
            Err(e) => {
                eprintln!("lyra-bench: suite {} failed: {e:#}", suite.name);
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
