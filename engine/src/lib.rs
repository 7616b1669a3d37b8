//! The Lyra engine: books, strategies, the pinned thread runtime and its configuration.
#![forbid(unsafe_code)]

pub mod config;
pub mod runtime;

pub mod book;
