//! Per-venue market-data status: whether a venue's market data is down (its connection dropped or
//! its watchdog declared it stale) and how many times it went down.
//!
//! The book stage, which sees every venue's book invalidations, is the one writer; the order
//! stage reads it to cancel open orders once per disconnect (`oms.cancel_on_md_disconnect`), and
//! `lyra status` / the gate can show it. A poller first loads [`ControlSegment::md_down_seq`]
//! (one Acquire load per poll, bumped on every venue's up->down transition) and looks at the
//! per-venue epochs only when it moved, so the hot path pays one load and no lock.

use std::sync::atomic::Ordering;

use super::{ControlError, ControlSegment};
use crate::msg::VenueId;

impl ControlSegment {
    /// Marks `venue`'s market data down; `Ok(true)` when it was up (a new disconnect: its epoch
    /// and the down sequence were bumped), `Ok(false)` when it was already down.
    ///
    /// # Errors
    /// [`ControlError::VenueOutOfRange`] for a venue id beyond the mask.
    pub fn set_md_down(&self, venue: VenueId) -> Result<bool, ControlError> {
        let bit = Self::venue_bit(venue)?;
        let md = &self.layout().md;
        if md.down_mask.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Ok(false);
        }
        // Epoch before sequence (both Release): a reader that sees the new sequence with an
        // Acquire load sees the new epoch too.
        md.down_epochs[venue.0 as usize].fetch_add(1, Ordering::Release);
        md.down_seq.fetch_add(1, Ordering::Release);
        Ok(true)
    }

    /// Marks `venue`'s market data up again; `Ok(true)` when it was down.
    ///
    /// # Errors
    /// [`ControlError::VenueOutOfRange`] for a venue id beyond the mask.
    pub fn set_md_up(&self, venue: VenueId) -> Result<bool, ControlError> {
        let bit = Self::venue_bit(venue)?;
        Ok(self.layout().md.down_mask.fetch_and(!bit, Ordering::AcqRel) & bit != 0)
    }

    /// Whether `venue`'s market data is down (ids beyond the mask: false, they have no feed).
    #[inline]
    pub fn is_md_down(&self, venue: VenueId) -> bool {
        Self::venue_bit(venue).is_ok_and(|bit| self.md_down_mask() & bit != 0)
    }

    /// The venues whose market data is down (bit = venue id).
    #[inline]
    pub fn md_down_mask(&self) -> u64 {
        self.layout().md.down_mask.load(Ordering::Acquire)
    }

    /// Up->down transitions of every venue so far: a poller compares it with the value it saw
    /// last and reads the epochs only when it moved.
    #[inline]
    pub fn md_down_seq(&self) -> u64 {
        self.layout().md.down_seq.load(Ordering::Acquire)
    }

    /// Up->down transitions of `venue` so far (0 for ids beyond the mask).
    #[inline]
    pub fn md_down_epoch(&self, venue: VenueId) -> u32 {
        self.layout()
            .md
            .down_epochs
            .get(venue.0 as usize)
            .map_or(0, |e| e.load(Ordering::Acquire))
    }
}
