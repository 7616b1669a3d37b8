//! Order management: the order life cycle, the write-ahead intents journal, venue order entry
//! and reconciliation. Accepts only `risk::RiskApproved<OrderIntent>`.
//!
//! How the engine uses it (one OMS per venue account, driven from the OMS thread):
//! 1. [`binance::BinanceRest::new`] + [`binance::BinanceRest::warm`] (TLS handshake and
//!    server-time sync off the order path), then [`Oms::open`] (opens the journal).
//! 2. [`Oms::refresh_exchange_info`] (filters, TRADING status, rate limits), then
//!    [`Oms::reconcile`] — no order is accepted before it — and, for LIVE,
//!    [`preflight::run`] + [`Oms::set_preflight`].
//! 3. [`Oms::submit`] per approved intent (cancels are intents too), [`Oms::poll`] often
//!    (SENT_UNKNOWN resolution, working-order fills, the kill path on a halt), and drain
//!    [`Oms::drain_events`] (audit) and [`Oms::drain_reports`] (risk + strategies).
//!
//! OKX and Kraken: build [`okx::OkxRest`] / [`kraken::KrakenRest`], `warm()` it, then
//! [`Oms::open_entry`] (the same life cycle through [`venue::OrderEntry`]),
//! [`Oms::refresh_symbol_rules`] (OKX instruments, Kraken AssetPairs) and [`Oms::reconcile`];
//! their fills come from the private stream (OKX `orders`, Kraken `executions`:
//! [`okx::private_stream`], [`kraken::private_stream`], attached like Binance's) and from REST
//! (trades by venue order id) when a query or the working-order poll shows executed quantity
//! not yet applied.
//!
//! Decisions: fills come from the venue's private stream ([`Oms::attach_user_stream`], on its
//! own side thread; Binance: the WebSocket API user stream), FULL responses and `myTrades`,
//! deduplicated by venue trade id (see [`binance`]); SAFE would-be orders end EXPIRED after `/order/test` accepts them;
//! a SENT_UNKNOWN attempt is declared absent only after the window ended *and* three "not
//! found" answers (the last one after the window), and is resent only if `resend_absent`.
#![forbid(unsafe_code)]

pub mod binance;
pub mod clordid;
pub mod config;
pub mod http;
pub mod journal;
pub mod kraken;
pub mod manager;
pub mod okx;
pub mod order;
pub mod position;
pub mod preflight;
// The OKX / Kraken private order streams' shared side thread (the dialects are in `okx`, `kraken`).
mod private_stream;
pub mod sign;
pub mod venue;

pub use config::{CancelOnHalt, Mode, OmsConfig, UnknownOrders};
pub use manager::{Oms, OmsError, OmsStats, ReconcileReport, Submitted};
