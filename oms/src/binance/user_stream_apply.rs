//! The OMS side of the private order streams — Binance's user data stream and the OKX / Kraken
//! private streams ([`crate::okx::private_stream`], [`crate::kraken::private_stream`]), all
//! behind one [`UserStream`] handle and one [`ExecutionUpdate`] type: [`Oms::poll`] drains the
//! stream's ring and maps each update onto the same bookkeeping the REST paths use — fills
//! through `apply_fill` (venue trade ids dedup a fill seen in a REST answer and on the stream),
//! states through `advance` (legal transitions only, stale reports ignored), a late report on a
//! SENT_UNKNOWN intent resolves it. A child module of `manager` (declared there with `#[path]`)
//! so it shares those private helpers instead of copying them.
//!
//! Polling: while the stream is subscribed, working orders are polled every
//! `working_poll_stream_ms` instead of `working_poll_ms`; every (re)subscription and every drop
//! triggers one poll at once, because no venue replays what a dead connection missed.

use std::str::FromStr;

use lyra_shm::msg::{OrderState, Qty};
use rust_decimal::Decimal;

use super::{Balance, Entry, Oms, OmsError};
use crate::{
    binance::{
        response::mantissa,
        user_stream::UserStream,
        user_stream_event::{BalanceUpdate, ExecType, ExecutionUpdate, UserEvent},
    },
    clordid::ClOrdId,
};

/// Updates applied per [`Oms::poll`] at most (bounds the time one poll spends on the stream).
const DRAIN_MAX: usize = 256;

/// What the OMS did with stream updates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserStreamStats {
    /// Whether the stream is subscribed (as last reported by the stream thread).
    pub up: bool,
    /// Subscriptions seen (the first one and every resubscription).
    pub subscriptions: u64,
    /// Drops seen.
    pub downs: u64,
    /// Execution reports applied to a known order.
    pub executions: u64,
    /// Fills first learned from the stream (not yet seen in a REST answer).
    pub fills: u64,
    /// Stream fills already applied from REST (or a repeated frame), ignored.
    pub duplicate_fills: u64,
    /// SENT_UNKNOWN intents resolved by a stream report.
    pub resolved: u64,
    /// Reports for client ids of another run or manual orders (ignored).
    pub foreign: u64,
    /// Reports that could not be applied (unknown symbol, unreadable decimal).
    pub unusable: u64,
    /// Balance updates.
    pub balances: u64,
    /// Working-order polls triggered by a (re)subscription or a drop.
    pub catch_up_polls: u64,
}

/// The stream attached to an OMS and what the OMS knows from it.
#[derive(Debug)]
pub(super) struct UserLink {
    stream: UserStream,
    stats: UserStreamStats,
    balances: Vec<Balance>,
    /// The REST offset last handed to the stream (only changes are passed on, so a correction
    /// the stream made itself after a -1021 is not overwritten by a stale REST value).
    offset_ms: i64,
}

impl Oms {
    /// Attaches a running private stream — Binance's [`UserStream::start`], OKX's
    /// [`crate::okx::private_stream::start`] or Kraken's [`crate::kraken::private_stream::start`]:
    /// from now on [`Oms::poll`] drains it. Until its first subscription the OMS keeps polling
    /// at `working_poll_ms`.
    pub fn attach_user_stream(&mut self, stream: UserStream) {
        let offset_ms = self.entry.offset_ms();
        if self.binance_offsets() {
            stream.set_offset_ms(offset_ms);
        }
        self.user = Some(UserLink {
            stream,
            stats: UserStreamStats::default(),
            balances: Vec::with_capacity(16),
            offset_ms,
        });
    }

    /// The attached stream (its thread's counters), if any.
    pub fn user_stream(&self) -> Option<&UserStream> {
        self.user.as_ref().map(|u| &u.stream)
    }

    /// What the OMS applied from the stream (all zero without one).
    pub fn user_stream_stats(&self) -> UserStreamStats {
        self.user
            .as_ref()
            .map_or_else(UserStreamStats::default, |u| u.stats)
    }

    /// Balances as the stream last reported them (touched assets only; REST
    /// [`Oms::balances`] stays the full picture).
    pub fn stream_balances(&self) -> &[Balance] {
        self.user.as_ref().map_or(&[], |u| &u.balances)
    }

    /// How often working orders are polled now: slower while the stream is subscribed.
    pub(super) fn working_poll_every_ms(&self) -> u64 {
        match &self.user {
            Some(u) if u.stats.up => self.cfg.working_poll_stream_ms,
            _ => self.cfg.working_poll_ms,
        }
    }

    /// Applies up to [`DRAIN_MAX`] queued stream updates (called first thing in `poll`).
    pub(super) fn drain_user_stream(&mut self) -> Result<(), OmsError> {
        let offset_ms = self.entry.offset_ms();
        let binance = self.binance_offsets();
        let Some(u) = &mut self.user else {
            return Ok(());
        };
        if binance && u.offset_ms != offset_ms {
            u.offset_ms = offset_ms;
            u.stream.set_offset_ms(offset_ms);
        }
        for _ in 0..DRAIN_MAX {
            let Some(ev) = self.user.as_mut().and_then(|u| u.stream.pop()) else {
                break;
            };
            match ev {
                UserEvent::Execution(x) => self.apply_user_execution(&x)?,
                UserEvent::Balance(b) => self.apply_user_balance(&b),
                UserEvent::Subscribed { .. } | UserEvent::Down { .. } => {
                    let up = matches!(ev, UserEvent::Subscribed { .. });
                    if let Some(u) = &mut self.user {
                        u.stats.up = up;
                        if up {
                            u.stats.subscriptions += 1;
                        } else {
                            u.stats.downs += 1;
                        }
                        u.stats.catch_up_polls += 1;
                    }
                    // Whatever happened while no subscription was live is only in REST: poll
                    // the working orders now (SENT_UNKNOWN intents are queried anyway).
                    self.next_working_poll_ms = 0;
                }
            }
        }
        Ok(())
    }

    /// Whether the stream signs with the OMS's venue-time offset (Binance; the OKX stream keeps
    /// the offset it was started with, Kraken's needs none).
    fn binance_offsets(&self) -> bool {
        matches!(self.entry, Entry::Binance(_))
    }

    /// The intent a report is about: by client id (ours, this run), else — a sparse Kraken
    /// update names only the venue order — by venue order id.
    fn stream_order(&self, x: &ExecutionUpdate) -> Option<u64> {
        let cid = x.order_client_id();
        if !cid.is_empty() {
            let seq = ClOrdId::parse_seq(&self.cfg.run_id, cid.as_bytes()).ok()?;
            return self.orders.contains_key(&seq).then_some(seq);
        }
        if x.venue_id.is_empty() {
            return None;
        }
        self.orders
            .values()
            .find(|o| o.venue_id == x.venue_id)
            .map(|o| o.intent.intent_seq)
    }

    fn user_stats(&mut self) -> Option<&mut UserStreamStats> {
        self.user.as_mut().map(|u| &mut u.stats)
    }

    /// One order report: venue order id, the fill (if it is a trade), then the state.
    fn apply_user_execution(&mut self, x: &ExecutionUpdate) -> Result<(), OmsError> {
        let Some(seq) = self.stream_order(x) else {
            if let Some(s) = self.user_stats() {
                s.foreign += 1;
            }
            return Ok(());
        };
        let o = self.orders[&seq];
        if o.safe {
            // A would-be order never exists at the venue; nothing of it can be on the stream.
            return Ok(());
        }
        let i = o.intent.instrument.0 as usize;
        // Taken out and put back below: `apply_fill` needs `&mut self` beside the spec, and a
        // clone would allocate per report.
        let Some(spec) = self.symbols.get_mut(i).and_then(Option::take) else {
            if let Some(s) = self.user_stats() {
                s.unusable += 1;
            }
            return Ok(());
        };
        // A sparse update (Kraken) may leave out the symbol and the cumulative quantity: the
        // order is known by its ids, and its quantity stays what the OMS holds.
        let cum = if x.cum_qty.is_empty() {
            Some(o.cum_qty.0)
        } else {
            mantissa(x.cum_qty.as_str(), spec.qty_scale)
        };
        let usable = (x.symbol.is_empty() || spec.symbol == x.symbol.as_str()) && cum.is_some();
        if usable {
            if let Some(ord) = self.orders.get_mut(&seq) {
                if ord.venue_order_id == 0 {
                    ord.venue_order_id = x.order_id;
                }
                if ord.venue_id.is_empty() && !x.venue_id.is_empty() {
                    ord.venue_id = x.venue_id;
                }
            }
            if x.exec_type == ExecType::Trade {
                if let (Some(t), Some(px), Some(qty)) = (
                    x.trade_id,
                    mantissa(x.last_px.as_str(), spec.px_scale),
                    mantissa(x.last_qty.as_str(), spec.qty_scale),
                ) {
                    let (fills, dups) = (self.stats.fills, self.stats.duplicate_fills);
                    self.apply_fill(
                        seq,
                        &spec,
                        t,
                        px,
                        qty,
                        x.commission.as_str(),
                        x.commission_asset.as_str(),
                    );
                    let (df, dd) = (self.stats.fills - fills, self.stats.duplicate_fills - dups);
                    if let Some(s) = self.user_stats() {
                        s.fills += df;
                        s.duplicate_fills += dd;
                    }
                }
            }
        }
        self.symbols[i] = Some(spec);
        if !usable {
            if let Some(s) = self.user_stats() {
                s.unusable += 1;
            }
            return Ok(());
        }
        if let Some(s) = self.user_stats() {
            s.executions += 1;
        }
        let was_unknown = o.state == OrderState::SentUnknown;
        if let (Some(to), Some(cum)) = (x.status, cum) {
            self.advance(seq, to, Qty(cum))?;
        }
        let now = self.orders[&seq];
        if now.filled_qty.0 < now.cum_qty.0 {
            // The venue reports more filled than the fills we hold (a report missed while the
            // stream was down): `myTrades` has them all.
            self.fetch_trades(seq);
        }
        if was_unknown && now.state != OrderState::SentUnknown {
            self.pending.retain(|p| p.seq != seq);
            self.stats.resolved += 1;
            if let Some(s) = self.user_stats() {
                s.resolved += 1;
            }
        }
        Ok(())
    }

    /// One asset of `outboundAccountPosition`: kept as the latest stream-reported balance.
    fn apply_user_balance(&mut self, b: &BalanceUpdate) {
        let Some(u) = &mut self.user else { return };
        let (Ok(free), Ok(locked)) = (
            Decimal::from_str(b.free.as_str()),
            Decimal::from_str(b.locked.as_str()),
        ) else {
            u.stats.unusable += 1;
            return;
        };
        u.stats.balances += 1;
        match u.balances.iter_mut().find(|x| x.asset == b.asset.as_str()) {
            Some(x) => {
                x.free = free;
                x.locked = locked;
            }
            None => u.balances.push(Balance {
                asset: b.asset.as_str().to_owned(),
                free,
                locked,
            }),
        }
    }
}
