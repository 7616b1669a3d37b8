//! The pinned thread runtime: stages grouped into hot threads per the configured layout, each
//! thread polling its stages with a wait strategy and publishing a heartbeat.

pub mod plan;
pub mod stage;
pub mod thread;
pub mod wait;
