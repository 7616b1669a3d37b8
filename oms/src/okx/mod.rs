//! OKX v5 spot order entry (PROTOCOLS-ORDERS B): signed REST (`OK-ACCESS-KEY/SIGN/TIMESTAMP/
//! PASSPHRASE`) over a keep-alive connection, place / query / cancel by client id, pending
//! orders, fills and balances, with OKX codes mapped to the OMS classes ([`crate::venue`]).
//!
//! Lyra's [`crate::clordid::ClOrdId`] (18 letters and digits) is a valid `clOrdId` as is (letters
//! and digits, 1-32; [`client::valid_cl_ord_id`]). Spot orders use `tdMode: cash` (an account in
//! Spot mode); market buys are sized in base currency (`tgtCcy: base_ccy`).

pub mod client;
pub mod entry;
pub mod preflight;
pub mod private_stream;
pub mod response;
pub mod sign;

pub use client::{OkxConfig, OkxRest};
pub use sign::OkxCredentials;
