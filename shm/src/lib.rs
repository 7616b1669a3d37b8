//! Lyra's shared vocabulary and shared memory.
//!
//! Everything that crosses a thread or a process boundary is defined here as a fixed-layout value
//! (`msg`), and moves through the SPSC rings (`ring`) or lives in the control segment (`control`).
//! This is the only crate allowed to contain `unsafe`; every block carries a `// SAFETY:` proof.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alloc_count;
pub mod clock;
pub mod control;
pub mod decimal;
pub mod mapfile;
pub mod msg;
pub mod prefetch;
pub mod ring;
