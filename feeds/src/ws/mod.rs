//! The market-data transport: a non-blocking WebSocket client on mio + tungstenite + rustls.
//!
//! A feed thread owns a `mio::Poll` and any number of [`WsClient`]s, each with its own `Token`:
//!
//! ```text
//! loop {
//!     let timeout = earliest client.next_deadline_ns() - now (or the wait strategy's cap);
//!     poll.poll(&mut events, Some(timeout))?;
//!     for ev in &events { client_for(ev.token()).on_ready(poll.registry(), ev, &mut handle) }
//!     for c in clients { c.on_tick(poll.registry(), &mut handle) }
//! }
//! ```
//!
//! `handle` receives [`WsEvent`]s: `Data(&mut [u8])` for every market-data payload, and the
//! connection-state changes an adapter must act on (`Stale`/`Disconnected` ⇒ books invalid).
//! Venue dialects plug in through [`WsProtocol`] ([`venues`] has Binance, OKX, Kraken v2, Gate.io).

pub mod backoff;
pub mod conn;
pub mod keepalive;
pub mod protocol;
pub mod resolve;
pub mod tls;
pub mod url;
pub mod venues;
pub mod watchdog;

pub use backoff::{Backoff, BackoffConfig};
pub use conn::{ConnState, DisconnectReason, WsClient, WsConfig, WsError, WsEvent, WsStats};
pub use keepalive::KeepAliveConfig;
pub use protocol::{FrameKind, PreAckData, WsProtocol};
pub use tls::{client_config, TlsError, TlsRoots};
