//! OMS policies: SAFE/LIVE, the SENT_UNKNOWN window, what to do with unknown orders and on halt.

use std::str::FromStr;

use lyra_shm::msg::VenueId;

/// Where orders go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Binance `/api/v3/order/test`: validated, never matched (the default).
    #[default]
    Safe,
    /// Real orders, when the grant is LIVE, preflight passed and the halt word is clear.
    Live,
}

/// Which open orders to cancel when a halt is observed (`cancel_on_halt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CancelOnHalt {
    /// On any halt (global or any venue), cancel every open order of this OMS.
    #[default]
    All,
    /// Cancel nothing (orders stay working; the operator decides).
    None,
    /// Cancel only on a global halt or a halt of this OMS's venue.
    Venue,
}

/// What reconciliation does with open orders the journal does not know (`unknown_orders`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownOrders {
    /// Report them (alert) and leave them.
    #[default]
    Report,
    /// Report and cancel them.
    Cancel,
}

impl FromStr for CancelOnHalt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "none" => Ok(Self::None),
            "venue" => Ok(Self::Venue),
            _ => Err(format!("cancel_on_halt must be all|none|venue, not {s:?}")),
        }
    }
}

impl FromStr for UnknownOrders {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "report" => Ok(Self::Report),
            "cancel" => Ok(Self::Cancel),
            _ => Err(format!("unknown_orders must be report|cancel, not {s:?}")),
        }
    }
}

/// Settings of one OMS (one venue connection).
#[derive(Debug, Clone)]
pub struct OmsConfig {
    /// Run id: with the intent sequence it makes the client order id (1-8 alphanumerics).
    pub run_id: String,
    /// The venue this OMS trades.
    pub venue: VenueId,
    /// SAFE or LIVE.
    pub mode: Mode,
    /// How long a SENT_UNKNOWN intent is queried before it is declared absent or unresolved, ms.
    pub unknown_window_ms: u64,
    /// First query backoff, ms (doubles up to `backoff_max_ms`).
    pub backoff_initial_ms: u64,
    /// Largest query backoff, ms.
    pub backoff_max_ms: u64,
    /// Resend (same client order id) once an attempt is proven absent; off by default, because a
    /// venue that answers -2013 for an order it holds past the whole window would get a second
    /// one if the first had already finished.
    pub resend_absent: bool,
    /// How often working orders are queried for fills without a subscribed user stream, ms.
    pub working_poll_ms: u64,
    /// How often while the user stream is subscribed (it brings fills; the poll is the
    /// safety net), ms.
    pub working_poll_stream_ms: u64,
    /// Kill policy.
    pub cancel_on_halt: CancelOnHalt,
    /// Reconciliation policy for foreign open orders.
    pub unknown_orders: UnknownOrders,
    /// Halt the venue when |server - local| passes this after a -1021, ms.
    pub max_skew_ms: u64,
    /// How long after its send a request may still be executed by the venue, ms: no
    /// SENT_UNKNOWN attempt is declared absent before this has passed since it was sent (for a
    /// journaled intent after a restart, since its SENT record). `None` (the default) takes the
    /// venue's own bound plus `max_skew_ms` for clock uncertainty: Binance the request's
    /// `recvWindow`, OKX 30 s, Kraken 0 (nonce order; see `OrderEntry::request_life_ms`).
    /// Without it, a request the venue had not yet read — queued in its gateway, or written by a
    /// process killed right after — could place its order after "not found" answers had already
    /// declared it absent: an order the OMS does not know. `Some(0)` only for a venue that reads
    /// every request before answering and a process that does not die mid-request (tests).
    pub request_life_ms: Option<u64>,
}

impl Default for OmsConfig {
    fn default() -> Self {
        Self {
            run_id: "run1".into(),
            venue: VenueId(0),
            mode: Mode::Safe,
            unknown_window_ms: 10_000,
            backoff_initial_ms: 100,
            backoff_max_ms: 2_000,
            resend_absent: false,
            working_poll_ms: 1_000,
            working_poll_stream_ms: 10_000,
            cancel_on_halt: CancelOnHalt::All,
            unknown_orders: UnknownOrders::Report,
            max_skew_ms: 1_000,
            request_life_ms: None,
        }
    }
}
