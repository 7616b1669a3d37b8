//! The grants table: permissions to trade a scope within limits until a deadline.
//!
//! The gate writes grants (one writer process owns the table; each entry is still written under
//! its seqlock so the CLI can revoke safely), the engine reads them with a retried consistent
//! copy. Slot 0 of the id space is "empty", so grant ids start at 1.

use std::sync::atomic::Ordering;

use super::{layout::GRANT_SLOTS, seqlock, ControlError, ControlSegment};
use crate::msg::{InstrumentIdx, VenueId};

/// SAFE routes orders to the venues' test endpoints; LIVE sends real orders.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantMode {
    /// Test endpoints only.
    Safe = 1,
    /// Real orders.
    Live = 2,
}

impl GrantMode {
    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            GrantMode::Safe => "safe",
            GrantMode::Live => "live",
        }
    }
}

/// One grant: scope, limits, mode, expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Nonzero id (0 marks an empty slot).
    pub grant_id: u64,
    /// Strategy the grant covers.
    pub strategy_id: u16,
    /// Venues covered (bit = venue id).
    pub venue_mask: u64,
    /// One instrument, or `None` for all.
    pub instrument: Option<InstrumentIdx>,
    /// Per-order notional limit, mantissa at the quote scale.
    pub max_order_notional: i64,
    /// Total exposure limit, mantissa at the quote scale.
    pub max_exposure: i64,
    /// Orders allowed.
    pub max_orders: u64,
    /// SAFE or LIVE.
    pub mode: GrantMode,
    /// Expiry, wall ns since the Unix epoch.
    pub expiry_wall_ns: u64,
    /// Revoked grants stay visible (for status) but never permit anything.
    pub revoked: bool,
}

impl Grant {
    /// Not revoked and not expired at `now_wall_ns`.
    pub fn is_live(&self, now_wall_ns: u64) -> bool {
        !self.revoked && now_wall_ns < self.expiry_wall_ns
    }

    /// Whether the scope covers this strategy, venue and instrument.
    pub fn covers(&self, strategy_id: u16, venue: VenueId, instrument: InstrumentIdx) -> bool {
        self.strategy_id == strategy_id
            && (venue.0 as usize) < crate::msg::MAX_VENUES
            && self.venue_mask & (1 << venue.0) != 0
            && self.instrument.is_none_or(|i| i == instrument)
    }

    fn pack_scope(&self) -> u64 {
        self.strategy_id as u64
            | (self.instrument.map_or(0, |i| i.0) as u64) << 16
            | (self.instrument.is_some() as u64) << 32
            | (self.mode as u64) << 40
            | (self.revoked as u64) << 48
    }
}

impl ControlSegment {
    /// Stores `grant`: over the entry with the same id, else in an empty slot, else over a revoked
    /// or expired one (at `now_wall_ns`). Returns the slot.
    ///
    /// # Errors
    /// [`ControlError::InvalidGrant`] for id 0 or negative limits, [`ControlError::GrantsFull`],
    /// [`ControlError::Busy`].
    pub fn put_grant(&self, grant: &Grant, now_wall_ns: u64) -> Result<usize, ControlError> {
        let invalid = |reason| ControlError::InvalidGrant {
            grant_id: grant.grant_id,
            reason,
        };
        if grant.grant_id == 0 {
            return Err(invalid("grant id 0 is reserved for empty slots"));
        }
        if grant.max_order_notional < 0 || grant.max_exposure < 0 {
            return Err(invalid("negative limit"));
        }
        let slots = &self.layout().grants;
        let same =
            (0..GRANT_SLOTS).find(|&i| slots[i].grant_id.load(Ordering::Acquire) == grant.grant_id);
        let empty = || (0..GRANT_SLOTS).find(|&i| slots[i].grant_id.load(Ordering::Acquire) == 0);
        let dead = || {
            (0..GRANT_SLOTS).find(|&i| self.read_grant(i).is_some_and(|g| !g.is_live(now_wall_ns)))
        };
        let i = same
            .or_else(empty)
            .or_else(dead)
            .ok_or(ControlError::GrantsFull)?;
        let s = &slots[i];
        seqlock::write(&s.seq, || {
            s.grant_id.store(grant.grant_id, Ordering::Relaxed);
            s.scope.store(grant.pack_scope(), Ordering::Relaxed);
            s.venue_mask.store(grant.venue_mask, Ordering::Relaxed);
            s.max_order_notional
                .store(grant.max_order_notional as u64, Ordering::Relaxed);
            s.max_exposure
                .store(grant.max_exposure as u64, Ordering::Relaxed);
            s.max_orders.store(grant.max_orders, Ordering::Relaxed);
            s.expiry_wall_ns
                .store(grant.expiry_wall_ns, Ordering::Relaxed);
        })
        .map_err(|_| ControlError::Busy { what: "grant slot" })?;
        Ok(i)
    }

    /// Marks the grant with this id revoked. Returns its slot.
    ///
    /// # Errors
    /// [`ControlError::GrantNotFound`], [`ControlError::Busy`].
    pub fn revoke_grant(&self, grant_id: u64) -> Result<usize, ControlError> {
        let slots = &self.layout().grants;
        let i = (0..GRANT_SLOTS)
            .find(|&i| grant_id != 0 && slots[i].grant_id.load(Ordering::Acquire) == grant_id)
            .ok_or(ControlError::GrantNotFound { grant_id })?;
        let s = &slots[i];
        seqlock::write(&s.seq, || {
            s.scope.fetch_or(1 << 48, Ordering::Relaxed);
        })
        .map_err(|_| ControlError::Busy { what: "grant slot" })?;
        Ok(i)
    }

    /// A consistent copy of slot `i`; `None` when out of range, empty, unreadable or corrupt.
    pub fn read_grant(&self, i: usize) -> Option<Grant> {
        let s = self.layout().grants.get(i)?;
        let w = seqlock::read(&s.seq, || {
            [
                s.grant_id.load(Ordering::Relaxed),
                s.scope.load(Ordering::Relaxed),
                s.venue_mask.load(Ordering::Relaxed),
                s.max_order_notional.load(Ordering::Relaxed),
                s.max_exposure.load(Ordering::Relaxed),
                s.max_orders.load(Ordering::Relaxed),
                s.expiry_wall_ns.load(Ordering::Relaxed),
            ]
        })
        .ok()?;
        if w[0] == 0 {
            return None;
        }
        let scope = w[1];
        let mode = match (scope >> 40) as u8 {
            1 => GrantMode::Safe,
            2 => GrantMode::Live,
            _ => return None,
        };
        Some(Grant {
            grant_id: w[0],
            strategy_id: scope as u16,
            instrument: ((scope >> 32) & 1 == 1).then_some(InstrumentIdx((scope >> 16) as u16)),
            mode,
            revoked: (scope >> 48) & 1 == 1,
            venue_mask: w[2],
            max_order_notional: w[3] as i64,
            max_exposure: w[4] as i64,
            max_orders: w[5],
            expiry_wall_ns: w[6],
        })
    }

    /// Every stored grant with its slot (live, expired and revoked alike).
    pub fn grants(&self) -> impl Iterator<Item = (usize, Grant)> + '_ {
        (0..GRANT_SLOTS).filter_map(|i| self.read_grant(i).map(|g| (i, g)))
    }
}
