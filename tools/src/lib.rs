//! The parts of the `lyra` tools that other targets of this package reuse: the venue simulator is
//! shared by the `lyra` binary (`lyra sim`, `lyra demo`) and the integration tests, so it is
//! compiled once here instead of into every test binary; the gate is the `lyra-gate` binary's.
#![forbid(unsafe_code)]

pub mod gate;
pub mod sim;
