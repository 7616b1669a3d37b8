//! Fixed-layout messages: every value that crosses a thread or process boundary.
//!
//! All are `#[repr(C)]`, `Copy`, free of pointers, with their size and alignment asserted at
//! compile time, so the same bytes mean the same thing in a heap ring, a mapped ring or a journal.
//! Prices and quantities are `i64` mantissas at the canonical instrument's scale (the same on every
//! venue); every market event carries the venue's time (`exch_ts`) and ours (`recv_ts`).

use std::mem::{align_of, size_of};

use crate::clock::Nanos;

/// A price as an integer mantissa at the instrument's price scale.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Px(pub i64);

/// A quantity as an integer mantissa at the instrument's quantity scale.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

impl Qty {
    /// The zero quantity (a level delete in a book update).
    pub const ZERO: Qty = Qty(0);
}

/// Dense index of a canonical instrument in the instrument table built at start.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstrumentIdx(pub u16);

/// Dense index of a configured venue (at most [`MAX_VENUES`]), also its bit in the venue-halt mask.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VenueId(pub u8);

/// The most venues one engine runs; per-venue halt bits fit one u64.
pub const MAX_VENUES: usize = 64;

/// Book or order side.
#[repr(u8)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bid / buy.
    #[default]
    Buy = 0,
    /// Ask / sell.
    Sell = 1,
}

impl Side {
    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// What an [`MdEvent`] says.
#[repr(u8)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MdKind {
    /// Set the level at `px` on `side` to `qty` (zero deletes it).
    #[default]
    Level = 0,
    /// A full snapshot follows: clear the book. `seq` is the snapshot's sequence.
    SnapshotBegin = 1,
    /// The snapshot is complete.
    SnapshotEnd = 2,
    /// Best bid (`side` Buy) or best offer (`side` Sell) from a top-of-book stream.
    Bbo = 3,
    /// A public trade: `side` is the aggressor, `aux` the venue trade id.
    Trade = 4,
    /// The book is no longer the venue's book; `reason` says why. Strategies must stop using it.
    BookInvalid = 5,
    /// A checksum the venue sent with the update that ends at `seq`: `aux` holds it (as u32).
    Checksum = 6,
}

/// Why a book was marked invalid (a `Copy` reason code; the feed logs the detail off the hot path).
#[repr(u8)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum InvalidReason {
    /// Not invalid.
    #[default]
    None = 0,
    /// A sequence gap (missed update).
    Gap = 1,
    /// The venue checksum did not match the rebuilt book.
    ChecksumMismatch = 2,
    /// Best bid >= best ask after an update.
    Crossed = 3,
    /// No data for longer than the staleness limit while connected.
    Stale = 4,
    /// The connection dropped.
    Disconnected = 5,
    /// A frame could not be parsed.
    Malformed = 6,
    /// A ring between stages was full and an update was dropped.
    Overrun = 7,
    /// The snapshot could not be bridged to the buffered updates.
    NoBridge = 8,
    /// The venue announced maintenance or closed the market.
    Maintenance = 9,
    /// A frame was larger than the configured limit.
    Oversized = 10,
}

/// Bit flags in [`MdEvent::flags`].
pub mod md_flags {
    /// The last event decoded from one venue message: the book is consistent after it.
    pub const END_OF_MESSAGE: u8 = 1;
    /// The event belongs to a snapshot.
    pub const SNAPSHOT: u8 = 2;
}

/// One market-data event from a feed adapter to the book builder (64 bytes, one cache line).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MdEvent {
    /// Venue event time, ns since the Unix epoch (0 if the venue sends none).
    pub exch_ts: Nanos,
    /// Our receive time of the frame, ns (the feed thread's clock).
    pub recv_ts: Nanos,
    /// The venue sequence after this message (Binance `u`, OKX `seqId`, Gate `u`); 0 if none.
    pub seq: u64,
    /// Kind-specific: first update id, trade id, checksum.
    pub aux: u64,
    /// Price mantissa.
    pub px: Px,
    /// Quantity mantissa.
    pub qty: Qty,
    /// Which instrument.
    pub instrument: InstrumentIdx,
    /// Which venue.
    pub venue: VenueId,
    /// What the event says.
    pub kind: MdKind,
    /// Bid/ask, or the trade aggressor.
    pub side: Side,
    /// [`md_flags`] bits.
    pub flags: u8,
    /// With `BookInvalid`: why.
    pub reason: InvalidReason,
    /// Reserved; zero.
    pub _pad: [u8; 9],
}

/// Levels per side carried in a [`BookTop`].
pub const TOP_LEVELS: usize = 5;

/// The top of one venue's book for one instrument, from the book builder to strategies.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookTop {
    /// Venue time of the last applied update.
    pub exch_ts: Nanos,
    /// Our receive time of the frame that produced this top.
    pub recv_ts: Nanos,
    /// The venue sequence of the last applied update.
    pub seq: u64,
    /// Bid prices, best first; `bid_qty[i] == 0` marks an absent level.
    pub bid_px: [Px; TOP_LEVELS],
    /// Bid sizes.
    pub bid_qty: [Qty; TOP_LEVELS],
    /// Ask prices, best first.
    pub ask_px: [Px; TOP_LEVELS],
    /// Ask sizes.
    pub ask_qty: [Qty; TOP_LEVELS],
    /// Which instrument.
    pub instrument: InstrumentIdx,
    /// Which venue.
    pub venue: VenueId,
    /// 1 if the book is the venue's book (synced, unbroken, fresh); 0 otherwise.
    pub valid: u8,
    /// Why invalid, when `valid == 0`.
    pub reason: InvalidReason,
    /// Reserved; zero.
    pub _pad: [u8; 3],
}

impl BookTop {
    /// Whether strategies may use this top.
    pub const fn is_valid(&self) -> bool {
        self.valid == 1
    }
}

/// Order type.
#[repr(u8)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OrdType {
    /// Limit order.
    #[default]
    Limit = 0,
    /// Post-only limit (Binance LIMIT_MAKER).
    LimitMaker = 1,
    /// Market order.
    Market = 2,
}

/// Time in force.
#[repr(u8)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Tif {
    /// Good till cancelled.
    #[default]
    Gtc = 0,
    /// Immediate or cancel.
    Ioc = 1,
    /// Fill or kill.
    Fok = 2,
}

/// What an intent asks the OMS to do.
#[repr(u8)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IntentAction {
    /// Place a new order.
    #[default]
    New = 0,
    /// Cancel the order of intent `target_seq`.
    Cancel = 1,
}

/// A strategy's wish to trade, before risk (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderIntent {
    /// Run-local intent sequence; with the run id it fixes the client order id.
    pub intent_seq: u64,
    /// Groups the legs of one arbitrage or one quote pair.
    pub group_id: u64,
    /// When the strategy decided (monotonic ns).
    pub decided_ts: Nanos,
    /// The book sequence the decision was made against (the oracle checks it).
    pub book_seq: u64,
    /// Limit price (ignored for market orders).
    pub px: Px,
    /// Quantity.
    pub qty: Qty,
    /// For `Cancel`: the intent whose order to cancel.
    pub target_seq: u64,
    /// Which instrument.
    pub instrument: InstrumentIdx,
    /// Which venue.
    pub venue: VenueId,
    /// Buy or sell.
    pub side: Side,
    /// Order type.
    pub ord_type: OrdType,
    /// Time in force.
    pub tif: Tif,
    /// New or cancel.
    pub action: IntentAction,
    /// Which strategy (index in config).
    pub strategy: u8,
}

/// Order life-cycle states (DESIGN §6).
#[repr(u8)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderState {
    /// Journaled, not yet sent.
    #[default]
    New = 0,
    /// Request written to the socket.
    Sent = 1,
    /// The venue accepted it.
    Acked = 2,
    /// The response was lost: the order may or may not exist.
    SentUnknown = 3,
    /// Partly filled, still working.
    Partial = 4,
    /// Completely filled (terminal).
    Filled = 5,
    /// Cancelled (terminal).
    Canceled = 6,
    /// Refused by the venue (terminal).
    Rejected = 7,
    /// Expired, e.g. an IOC remainder (terminal).
    Expired = 8,
}

impl OrderState {
    /// Whether no further transition can happen.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Rejected | Self::Expired
        )
    }
}

/// An execution report from the OMS back to the strategy (96 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecReport {
    /// The intent this report is about.
    pub intent_seq: u64,
    /// The arbitrage/quote group.
    pub group_id: u64,
    /// Venue order id (0 until acked).
    pub venue_order_id: u64,
    /// Venue trade id of this fill (0 if not a fill).
    pub trade_id: u64,
    /// Venue time of the event.
    pub exch_ts: Nanos,
    /// Our receive time.
    pub recv_ts: Nanos,
    /// Price of this fill.
    pub last_px: Px,
    /// Quantity of this fill.
    pub last_qty: Qty,
    /// Cumulative filled quantity.
    pub cum_qty: Qty,
    /// Fee of this fill in quote-currency mantissa at the price scale (negative = rebate).
    pub fee: i64,
    /// Which instrument.
    pub instrument: InstrumentIdx,
    /// Which venue.
    pub venue: VenueId,
    /// New state.
    pub state: OrderState,
    /// Order side.
    pub side: Side,
    /// Venue reject/reason code class (0 = none).
    pub reason: u8,
    /// Reserved; zero.
    pub _pad: [u8; 10],
}

const _: () = assert!(size_of::<MdEvent>() == 64);
const _: () = assert!(align_of::<MdEvent>() == 8);
const _: () = assert!(size_of::<BookTop>() == 24 + 4 * 8 * TOP_LEVELS + 8);
const _: () = assert!(size_of::<BookTop>() == 192);
const _: () = assert!(size_of::<OrderIntent>() == 64);
const _: () = assert!(size_of::<ExecReport>() == 96);
const _: () = assert!(align_of::<ExecReport>() == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states() {
        assert!(OrderState::Filled.is_terminal());
        assert!(!OrderState::SentUnknown.is_terminal());
        assert_eq!(Side::Buy.opposite(), Side::Sell);
    }
}
