//! The Lyra engine: books, strategies, the pinned thread runtime and its configuration.
#![forbid(unsafe_code)]

pub mod audit;
pub mod book;
pub mod config;
pub mod daemon;
pub mod monitor;
pub mod runtime;
pub mod stages;
pub mod stats;
pub mod strategy;
