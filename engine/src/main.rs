//! `lyra-engine`: the engine daemon.
#![forbid(unsafe_code)]

fn main() {}
