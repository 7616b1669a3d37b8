//! Venue market-data clients: subscribe, parse, sequence, checksum and resync, emitting
//! fixed-layout `shm::msg::MdEvent`s.
#![forbid(unsafe_code)]
pub mod binance;
pub mod checksum;
pub mod emit;
pub mod gateio;
pub mod instrument;
pub mod kraken;
pub mod live;
pub mod okx;
pub mod rest;
pub mod sink;
pub mod tape;
pub mod ws;
