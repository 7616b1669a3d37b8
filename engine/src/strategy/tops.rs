//! The latest [`BookTop`] of every (venue, instrument), dense and preallocated, with the usability
//! rule every strategy applies: valid, and received no longer ago than the strategy's max age.

use lyra_shm::{
    clock::Nanos,
    msg::{BookTop, InstrumentIdx, Px, VenueId},
};

/// Latest tops by (venue, instrument).
#[derive(Debug, Clone)]
pub struct Tops {
    venues: usize,
    instruments: usize,
    tops: Vec<BookTop>,
    seen: Vec<bool>,
}

impl Tops {
    /// Room for `venues` x `instruments` tops.
    pub fn new(venues: usize, instruments: usize) -> Self {
        Self {
            venues,
            instruments,
            tops: vec![BookTop::default(); venues * instruments],
            seen: vec![false; venues * instruments],
        }
    }

    fn idx(&self, v: VenueId, i: InstrumentIdx) -> Option<usize> {
        ((v.0 as usize) < self.venues && (i.0 as usize) < self.instruments)
            .then(|| v.0 as usize * self.instruments + i.0 as usize)
    }

    /// Stores `top`; `false` if its (venue, instrument) is outside the table.
    pub fn update(&mut self, top: &BookTop) -> bool {
        let Some(k) = self.idx(top.venue, top.instrument) else {
            return false;
        };
        self.tops[k] = *top;
        self.seen[k] = true;
        true
    }

    /// The latest top of (v, i), if one arrived.
    pub fn get(&self, v: VenueId, i: InstrumentIdx) -> Option<&BookTop> {
        let k = self.idx(v, i)?;
        self.seen[k].then(|| &self.tops[k])
    }

    /// The latest top of (v, i) if valid and no older than `max_age_ns` at `now`.
    pub fn usable(
        &self,
        v: VenueId,
        i: InstrumentIdx,
        now: Nanos,
        max_age_ns: u64,
    ) -> Option<&BookTop> {
        self.get(v, i).filter(|t| usable(t, now, max_age_ns))
    }

    /// Venues in the table.
    pub fn venues(&self) -> usize {
        self.venues
    }
}

/// Whether a strategy may decide on `t` at `now`: valid, with both sides present and uncrossed,
/// and received no more than `max_age_ns` ago (a top stamped in the future counts as fresh).
pub fn usable(t: &BookTop, now: Nanos, max_age_ns: u64) -> bool {
    t.is_valid()
        && now.saturating_sub(t.recv_ts) <= max_age_ns
        && t.bid_qty[0].0 > 0
        && t.ask_qty[0].0 > 0
        && t.bid_px[0] < t.ask_px[0]
}

/// The mid of a top, rounded down (`None` without both sides).
pub fn mid(t: &BookTop) -> Option<Px> {
    (t.bid_qty[0].0 > 0 && t.ask_qty[0].0 > 0).then(|| Px((t.bid_px[0].0 + t.ask_px[0].0) / 2))
}
