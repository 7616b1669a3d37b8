//! Helpers shared by Lyra's integration tests: where the recorded data lives, where the built
//! binaries are.
#![forbid(unsafe_code)]
