//! `lyra`: the ops command line.
#![forbid(unsafe_code)]

fn main() {}
