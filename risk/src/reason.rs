//! Why risk refused an intent: one small `Copy` code per check, stable numbers for audit/metrics.

/// A refusal reason. The numbers are part of the audit format: append, never renumber.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The global halt word is set.
    Halted = 1,
    /// The venue's halt bit is set.
    VenueHalted = 2,
    /// No live grant covers this strategy, venue and instrument.
    NoGrant = 3,
    /// The grant's mode does not allow this (e.g. LIVE order under a SAFE grant).
    GrantMode = 4,
    /// Over the grant's per-order notional.
    GrantOrderNotional = 5,
    /// Over the grant's total exposure.
    GrantExposure = 6,
    /// The grant's order count is used up.
    GrantOrderCount = 7,
    /// The instrument is not configured for risk (unconfigured instruments never trade).
    InstrumentNotConfigured = 8,
    /// The price is too far from the reference mid.
    PriceCollar = 9,
    /// Over the per-order quantity limit.
    MaxOrderQty = 10,
    /// Over the per-order notional limit.
    MaxOrderNotional = 11,
    /// Position plus working orders (SENT_UNKNOWN included) would pass the limit.
    PositionLimit = 12,
    /// Too many open orders.
    MaxOpenOrders = 13,
    /// Message rate limit reached.
    MessageRate = 14,
    /// Today's loss reached the stop.
    DailyLossStop = 15,
    /// Cooling down after consecutive losses.
    LossCooldown = 16,
    /// A book the decision used is invalid.
    BookInvalid = 17,
    /// A book the decision used is older than allowed.
    BookStale = 18,
    /// The edge after fees is not positive at send time.
    NoEdge = 19,
    /// Non-positive quantity or price, or an unknown venue.
    Malformed = 20,
    /// No reference price to collar against.
    NoReference = 21,
}

impl Refusal {
    /// snake_case name, for audit and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Refusal::Halted => "halted",
            Refusal::VenueHalted => "venue_halted",
            Refusal::NoGrant => "no_grant",
            Refusal::GrantMode => "grant_mode",
            Refusal::GrantOrderNotional => "grant_order_notional",
            Refusal::GrantExposure => "grant_exposure",
            Refusal::GrantOrderCount => "grant_order_count",
            Refusal::InstrumentNotConfigured => "instrument_not_configured",
            Refusal::PriceCollar => "price_collar",
            Refusal::MaxOrderQty => "max_order_qty",
            Refusal::MaxOrderNotional => "max_order_notional",
            Refusal::PositionLimit => "position_limit",
            Refusal::MaxOpenOrders => "max_open_orders",
            Refusal::MessageRate => "message_rate",
            Refusal::DailyLossStop => "daily_loss_stop",
            Refusal::LossCooldown => "loss_cooldown",
            Refusal::BookInvalid => "book_invalid",
            Refusal::BookStale => "book_stale",
            Refusal::NoEdge => "no_edge",
            Refusal::Malformed => "malformed",
            Refusal::NoReference => "no_reference",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
