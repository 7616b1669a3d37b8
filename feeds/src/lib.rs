//! Venue market-data clients: subscribe, parse, sequence, checksum and resync, emitting
//! fixed-layout `shm::msg::MdEvent`s.
#![forbid(unsafe_code)]
pub mod rest;
pub mod ws;
pub mod binance;
pub mod instrument;
pub mod sink;
pub mod checksum;
pub mod emit;
pub mod okx;
pub mod tape;
pub mod gateio;
pub mod kraken;
pub mod live;
