//! One module per command group.

pub mod approve;
pub mod audit;
pub mod common;
pub mod demo;
pub mod doctor;
pub mod halt;
pub mod segment;
pub mod status;
