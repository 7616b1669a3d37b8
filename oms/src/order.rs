//! The order life cycle (DESIGN §6): NEW -> SENT -> (ACKED | SENT_UNKNOWN) -> PARTIAL ->
//! (FILLED | CANCELED | REJECTED | EXPIRED). Every transition is validated — an illegal one is an
//! error, never a silent overwrite — and yields an [`AuditEvent`] value for the audit writer.

use lyra_shm::msg::{OrderIntent, OrderState, Px, Qty, VenueId};
use thiserror::Error;

use crate::clordid::ClOrdId;

/// A transition the life cycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("intent {intent_seq}: illegal transition {from:?} -> {to:?}")]
pub struct IllegalTransition {
    /// The intent.
    pub intent_seq: u64,
    /// Its state.
    pub from: OrderState,
    /// The state asked for.
    pub to: OrderState,
}

/// Whether `from -> to` is a legal step. Staying in PARTIAL (more fills) and SENT_UNKNOWN -> SENT
/// (a resend after the first attempt was proven absent) are legal; terminal states never move.
pub const fn legal(from: OrderState, to: OrderState) -> bool {
    use OrderState::*;
    match from {
        New => matches!(to, Sent | Rejected),
        // A RESULT/FULL response may already report a fill or an expiry (IOC).
        Sent => matches!(
            to,
            Acked | SentUnknown | Partial | Filled | Canceled | Rejected | Expired
        ),
        SentUnknown => matches!(
            to,
            Sent | Acked | Partial | Filled | Canceled | Rejected | Expired
        ),
        Acked => matches!(to, Partial | Filled | Canceled | Expired | Rejected),
        Partial => matches!(to, Partial | Filled | Canceled | Expired),
        Filled | Canceled | Rejected | Expired => false,
    }
}

/// What happened, for the audit writer: `Copy`, no heap, built on the hot path and persisted
/// off it (SQLite + JSONL by the engine's audit thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    /// An intent changed state.
    Transition {
        /// The intent.
        intent_seq: u64,
        /// The venue.
        venue: VenueId,
        /// Before.
        from: OrderState,
        /// After.
        to: OrderState,
        /// Venue order id (0 if unknown).
        venue_order_id: u64,
        /// Cumulative filled quantity.
        cum_qty: Qty,
        /// Venue error code behind a rejection (0 = none).
        venue_code: i32,
        /// Wall ns.
        wall_ns: u64,
    },
    /// A fill was applied to positions.
    Fill {
        /// The intent.
        intent_seq: u64,
        /// The venue.
        venue: VenueId,
        /// Venue trade id.
        trade_id: u64,
        /// Fill price.
        px: Px,
        /// Fill quantity.
        qty: Qty,
        /// Wall ns.
        wall_ns: u64,
    },
    /// A would-be order in SAFE mode, accepted by the venue's test endpoint.
    SafeOrder {
        /// The intent.
        intent_seq: u64,
        /// The venue.
        venue: VenueId,
        /// Whether the test endpoint accepted it (false: refused with `venue_code`).
        accepted: bool,
        /// Venue error code (0 = none).
        venue_code: i32,
        /// Wall ns.
        wall_ns: u64,
    },
    /// Something an operator must look at.
    Alert {
        /// What.
        kind: AlertKind,
        /// The venue.
        venue: VenueId,
        /// The intent concerned (0 = none).
        intent_seq: u64,
        /// Wall ns.
        wall_ns: u64,
    },
}

/// Alerts the OMS raises (each also counted).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A SENT_UNKNOWN intent stayed unresolved past the window: the venue was halted.
    UnresolvedSentUnknown = 1,
    /// The venue holds an open order the journal does not know.
    UnknownOpenOrder = 2,
    /// A venue balance differs from the positions built from fills.
    BalanceMismatch = 3,
    /// 418: the venue banned this IP; the venue is halted until the ban ends.
    IpBanned = 4,
    /// Clock skew past the threshold after -1021: the venue was halted.
    ClockSkew = 5,
    /// The journal is full: no more orders.
    JournalFull = 6,
    /// A fill's trade id set overflowed (more distinct fills than tracked).
    TradeSetFull = 7,
}

/// Distinct venue trade ids one order remembers for deduplication.
pub const TRADES_PER_ORDER: usize = 64;

/// A bounded set of trade ids (linear scan: orders have few fills, and it never allocates).
#[derive(Debug, Clone, Copy)]
pub struct TradeSet {
    ids: [u64; TRADES_PER_ORDER],
    len: u8,
}

impl Default for TradeSet {
    fn default() -> Self {
        Self {
            ids: [0; TRADES_PER_ORDER],
            len: 0,
        }
    }
}

/// Outcome of offering a trade id to a [`TradeSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeInsert {
    /// First time seen: apply the fill.
    New,
    /// Already applied: ignore.
    Duplicate,
    /// No room: the fill must not be applied blindly (alert and reconcile).
    Full,
}

impl TradeSet {
    /// Records `id` if it is new.
    pub fn insert(&mut self, id: u64) -> TradeInsert {
        let n = self.len as usize;
        if self.ids[..n].contains(&id) {
            return TradeInsert::Duplicate;
        }
        if n == TRADES_PER_ORDER {
            return TradeInsert::Full;
        }
        self.ids[n] = id;
        self.len += 1;
        TradeInsert::New
    }

    /// Ids recorded.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether none yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One order the OMS tracks.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    /// The approved intent.
    pub intent: OrderIntent,
    /// Its client order id.
    pub clordid: ClOrdId,
    /// Life-cycle state.
    pub state: OrderState,
    /// Venue order id (0 until known).
    pub venue_order_id: u64,
    /// The venue's order id as text where it is not a Binance number (OKX `ordId`, Kraken
    /// txid; empty until known).
    pub venue_id: crate::venue::IdText,
    /// Cumulative quantity the venue reports filled.
    pub cum_qty: Qty,
    /// Quantity applied to positions from individual fills (trade ids).
    pub filled_qty: Qty,
    /// Fills applied, by trade id.
    pub trades: TradeSet,
    /// Whether it went to the test endpoint (SAFE): never live at the venue.
    pub safe: bool,
    /// Wall clock ns of its latest SENT (just before the request was written), 0 if unknown:
    /// a SENT_UNKNOWN attempt is not declared absent before the request's life has passed.
    pub sent_wall_ns: u64,
}

impl Order {
    /// A NEW order.
    pub fn new(intent: OrderIntent, clordid: ClOrdId, safe: bool) -> Self {
        Self {
            intent,
            clordid,
            state: OrderState::New,
            venue_order_id: 0,
            venue_id: crate::venue::IdText::default(),
            cum_qty: Qty(0),
            filled_qty: Qty(0),
            trades: TradeSet::default(),
            safe,
            sent_wall_ns: 0,
        }
    }

    /// Moves to `to`, returning the audit event; an illegal step changes nothing.
    ///
    /// # Errors
    /// [`IllegalTransition`].
    pub fn transition(
        &mut self,
        to: OrderState,
        venue_code: i32,
        wall_ns: u64,
    ) -> Result<AuditEvent, IllegalTransition> {
        if !legal(self.state, to) {
            return Err(IllegalTransition {
                intent_seq: self.intent.intent_seq,
                from: self.state,
                to,
            });
        }
        let from = self.state;
        self.state = to;
        Ok(AuditEvent::Transition {
            intent_seq: self.intent.intent_seq,
            venue: self.intent.venue,
            from,
            to,
            venue_order_id: self.venue_order_id,
            cum_qty: self.cum_qty,
            venue_code,
            wall_ns,
        })
    }

    /// Whether a report of `to` with `cum_qty` is news (not a repeat of what we know).
    pub fn is_news(&self, to: OrderState, cum_qty: Qty) -> bool {
        to != self.state || cum_qty != self.cum_qty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        let intent = OrderIntent {
            intent_seq: 5,
            ..Default::default()
        };
        Order::new(intent, ClOrdId::new("t", 5).unwrap(), false)
    }

    #[test]
    fn legal_paths_pass_and_illegal_ones_change_nothing() {
        use OrderState::*;
        let mut o = order();
        for to in [Sent, SentUnknown, Acked, Partial, Partial, Filled] {
            o.transition(to, 0, 1).unwrap();
        }
        let e = o.transition(Canceled, 0, 2).unwrap_err();
        assert_eq!((e.from, e.to), (Filled, Canceled));
        assert_eq!(o.state, Filled);
        let mut o = order();
        assert!(o.transition(Acked, 0, 1).is_err(), "NEW cannot be acked");
        assert_eq!(o.state, New);
        o.transition(Sent, 0, 1).unwrap();
        o.transition(Acked, 0, 1).unwrap();
        assert!(
            o.transition(Sent, 0, 1).is_err(),
            "no resend of an acked order"
        );
        assert!(o.transition(SentUnknown, 0, 1).is_err());
    }

    #[test]
    fn every_terminal_state_is_final() {
        use OrderState::*;
        let all = [
            New,
            Sent,
            Acked,
            SentUnknown,
            Partial,
            Filled,
            Canceled,
            Rejected,
            Expired,
        ];
        for from in all {
            for to in all {
                if from.is_terminal() {
                    assert!(!legal(from, to), "{from:?} -> {to:?}");
                }
            }
            assert!(!legal(from, New), "nothing goes back to NEW");
        }
    }

    #[test]
    fn trade_ids_deduplicate_within_a_bound() {
        let mut s = TradeSet::default();
        assert_eq!(s.insert(7), TradeInsert::New);
        assert_eq!(s.insert(7), TradeInsert::Duplicate);
        for i in 0..(TRADES_PER_ORDER as u64 - 1) {
            assert_eq!(s.insert(100 + i), TradeInsert::New);
        }
        assert_eq!(s.insert(7), TradeInsert::Duplicate);
        assert_eq!(s.insert(99_999), TradeInsert::Full);
        assert_eq!(s.len(), TRADES_PER_ORDER);
    }
}
