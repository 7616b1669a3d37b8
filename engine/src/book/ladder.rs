//! One side of an L2 book: an array-indexed window around the touch plus a sorted fallback for
//! far levels (DESIGN §5).
//!
//! The side works in *key* space where a smaller key is a better price: asks use `key = px`,
//! bids use `key = -px`, so one implementation serves both sides. A level lives in exactly one
//! place: in the window when its key is on the tick grid and within
//! `[base, base + slots * tick)`, otherwise in `far` (kept sorted, best key LAST so the far best
//! is `far.back()`). `far` is a ring (`VecDeque`): an insert or delete moves only the shorter
//! side, so both ends are cheap — near the touch (the back) and a snapshot's levels, which come
//! best-first and so each land at the front (a `Vec` made a 5,000-level snapshot quadratic). The best key is tracked
//! explicitly (`win_best` plus `far.back()`), so best bid/ask is O(1). When the touch leaves the
//! window, or drifts into its last quarter, the window is recentred so the touch sits a quarter
//! of the way in; recentring is O(levels + slots / 64) and rare.
//!
//! Occupancy: one bit per window slot (`occ`, `u64` words) plus one summary bit per non-empty
//! word (`summary`). Finding the next level after a deleted best, and every step of
//! [`LadderIter`] (top-K export, venue checksums over the top 10/25), jump to the next occupied
//! slot with `trailing_zeros` instead of stepping through empty slots: at most one word, a few
//! summary words (64 Ki slots = 16 summary words) and one more word, whatever the gap. Both
//! levels are kept exact on every set, delete, clear and recentre (`slots[i] != 0` <=> bit `i`
//! of `occ` <=> bit `i / 64` of `summary` has a set word under it).
//!
//! Tick: prices are placed by `(key - base) / tick`. The tick may be given (instrument config)
//! or unknown (0): then every level lives in `far` until [`Ladder::set_tick`] installs one
//! (the book derives it as the gcd of the snapshot prices). A price off the grid is still exact:
//! it simply lives in `far`.

use std::collections::VecDeque;

/// One side of a book in key space (smaller key = better). Quantities are mantissas; 0 = empty.
#[derive(Debug, Clone)]
pub struct Ladder {
    /// Quantity per window slot; 0 marks an empty slot.
    slots: Vec<i64>,
    /// Occupancy: bit `i % 64` of word `i / 64` is set iff `slots[i] != 0`.
    occ: Vec<u64>,
    /// Bit `w % 64` of word `w / 64` is set iff `occ[w] != 0`.
    summary: Vec<u64>,
    /// Key of slot 0 (a multiple of `tick`).
    base: i64,
    /// Key units per slot; 0 = unknown (window unused).
    tick: i64,
    /// `slots * tick` (saturating): keys at or past `base + span` are outside the window.
    span: u64,
    /// `ceil(2^64 / tick)` when `(key - base) / tick` can be taken as a multiply-high exactly for
    /// every offset inside the window (`span * tick < 2^64`); 0 = divide.
    magic: u64,
    /// Slot of the best window level, or `slots.len()` when the window is empty.
    win_best: usize,
    /// Levels in the window.
    win_len: usize,
    /// Levels outside the window, sorted by key DESCENDING (best last).
    far: VecDeque<(i64, i64)>,
}

impl Ladder {
    /// A side with `slots` window slots (> 0) and room for `far_cap` far levels reserved.
    ///
    /// # Panics
    /// If `slots` is 0 (a shape error at start-up, never at run time).
    pub fn new(slots: usize, far_cap: usize, tick: i64) -> Self {
        assert!(slots > 0, "a ladder needs at least one slot");
        let words = slots.div_ceil(64);
        let mut l = Self {
            slots: prefaulted(slots),
            occ: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
            base: 0,
            tick: 0,
            span: 0,
            magic: 0,
            win_best: slots,
            win_len: 0,
            far: VecDeque::with_capacity(far_cap),
        };
        // Write the reserved far room once too (see [`prefaulted`]).
        l.far.resize(far_cap, (0, 0));
        l.far.clear();
        l.set_geometry(tick.max(0));
        l
    }

    /// Sets `tick` and the derived window span and reciprocal.
    fn set_geometry(&mut self, tick: i64) {
        self.tick = tick;
        let t = tick.unsigned_abs();
        self.span = (self.slots.len() as u64).saturating_mul(t);
        // Multiply-high by ceil(2^64/t) is exact for n < 2^64 / t; offsets inside the window are
        // < span, so it is safe when span * t < 2^64. The caller re-checks idx * tick == off.
        self.magic = if t > 1 && u128::from(self.span) * u128::from(t) < 1u128 << 64 {
            u64::try_from((1u128 << 64).div_ceil(u128::from(t))).unwrap_or(0)
        } else {
            0
        };
    }

    /// Key units per window slot (0 = unknown, window unused).
    pub fn tick(&self) -> i64 {
        self.tick
    }

    /// Number of levels on this side.
    pub fn len(&self) -> usize {
        self.win_len + self.far.len()
    }

    /// Whether the side has no level.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every level (capacity is kept).
    pub fn clear(&mut self) {
        if self.win_len > 0 {
            // Zero only the occupied slots (found through the bitmap), then the bitmap itself.
            let mut i = self.win_best;
            while i < self.slots.len() {
                self.slots[i] = 0;
                i = self.next_from(i + 1);
            }
            self.occ.iter_mut().for_each(|w| *w = 0);
            self.summary.iter_mut().for_each(|w| *w = 0);
        }
        self.win_len = 0;
        self.win_best = self.slots.len();
        self.far.clear();
    }

    /// Window slot of `key`, if it is on the grid and inside the window.
    #[inline]
    fn slot_of(&self, key: i64) -> Option<usize> {
        if self.tick == 0 {
            return None;
        }
        let off = key.checked_sub(self.base)?;
        if off < 0 || off as u64 >= self.span {
            return None;
        }
        let off = off as u64;
        let t = self.tick as u64;
        let idx = if self.magic != 0 {
            ((u128::from(off) * u128::from(self.magic)) >> 64) as u64
        } else {
            off / t
        };
        if idx.wrapping_mul(t) != off || idx >= self.slots.len() as u64 {
            return None;
        }
        Some(idx as usize)
    }

    /// The best (smallest) key and its quantity.
    #[inline]
    pub fn best(&self) -> Option<(i64, i64)> {
        let win = (self.win_best < self.slots.len()).then(|| {
            (
                self.base + self.win_best as i64 * self.tick,
                self.slots[self.win_best],
            )
        });
        match (win, self.far.back().copied()) {
            (Some(w), Some(f)) => Some(if f.0 < w.0 { f } else { w }),
            (w, f) => w.or(f),
        }
    }

    /// Quantity at `key` (0 if absent).
    pub fn get(&self, key: i64) -> i64 {
        match self.slot_of(key) {
            Some(i) => self.slots[i],
            None => self.far_pos(key).map_or(0, |p| self.far[p].1),
        }
    }

    /// Index of `key` in `far`, if present.
    fn far_pos(&self, key: i64) -> Option<usize> {
        // `far` is sorted descending: compare reversed.
        self.far.binary_search_by(|probe| key.cmp(&probe.0)).ok()
    }

    /// Sets the level at `key` to `qty` (> 0), or deletes it when `qty` is 0.
    ///
    /// Always inlined: it is the per-level step of every book update, and a call costs about as
    /// much as the window path itself (six register saves and restores around a dozen ALU ops).
    #[inline(always)]
    pub fn set(&mut self, key: i64, qty: i64) {
        match self.slot_of(key) {
            // The recentre conditions read only `win_best` and `far.back()`: a window update
            // that leaves the window best where it was cannot change them (most updates).
            Some(i) => {
                if self.set_slot(i, qty) {
                    self.maybe_recentre();
                }
            }
            None => self.set_outside(key, qty),
        }
    }

    /// [`Ladder::set`] for a key outside the window (a few percent of updates): kept out of
    /// line so the window path inlines small, without the far path's register pressure.
    #[inline(never)]
    fn set_outside(&mut self, key: i64, qty: i64) {
        self.set_far(key, qty);
        self.maybe_recentre();
    }

    /// Sets window slot `i`; returns whether the window best moved.
    ///
    /// Whether the slot was occupied comes from the bitmap (8 KiB per side, stays in L1/L2), not
    /// from `slots[i]` (512 KiB, often an L3 miss for levels far from the touch): the slot itself
    /// is only stored to, so a miss sits in the store buffer instead of stalling a branch on it.
    /// Branch-light: insert, update and delete (an unpredictable mix in a depth diff) update the
    /// bitmap and count with the same straight-line code; only the summary (a word turning empty
    /// or non-empty) and the rare moves of the best branch.
    #[inline(always)]
    fn set_slot(&mut self, i: usize, qty: i64) -> bool {
        let w = i >> 6;
        let word = self.occ[w];
        let was = word >> (i & 63) & 1 != 0;
        let now = qty != 0;
        self.slots[i] = qty;
        let old = word;
        let word = (word & !(1u64 << (i & 63))) | (u64::from(now) << (i & 63));
        self.occ[w] = word;
        // The summary bit changes only when the word turns empty or non-empty (rare: a word is
        // 64 ticks around the touch); a predictable branch is cheaper than rewriting it always.
        if (old == 0) != (word == 0) {
            self.summary[w >> 6] ^= 1u64 << (w & 63);
        }
        // `was` implies win_len >= 1: no underflow.
        self.win_len = self.win_len + usize::from(now) - usize::from(was);
        if now & (i < self.win_best) {
            self.win_best = i;
            return true;
        }
        // The best slot is occupied, so this is a delete of the best.
        if !now & (i == self.win_best) {
            self.win_best = self.next_from(i + 1);
            return true;
        }
        false
    }

    /// The first occupied slot at or after `from` (or `slots.len()`), via the bitmap.
    #[inline]
    fn next_from(&self, from: usize) -> usize {
        let n = self.slots.len();
        if from >= n || self.win_len == 0 {
            return n;
        }
        let w = from >> 6;
        let bits = self.occ[w] & (!0u64 << (from & 63));
        if bits != 0 {
            return (w << 6) + bits.trailing_zeros() as usize;
        }
        self.next_word_from(w + 1)
    }

    /// The first occupied slot in words `w..` (or `slots.len()`): the summary finds the word.
    #[inline]
    fn next_word_from(&self, w: usize) -> usize {
        let n = self.slots.len();
        if w >= self.occ.len() {
            return n;
        }
        let mut sw = w >> 6;
        let mut s = self.summary[sw] & (!0u64 << (w & 63));
        loop {
            if s != 0 {
                let word = (sw << 6) + s.trailing_zeros() as usize;
                return (word << 6) + self.occ[word].trailing_zeros() as usize;
            }
            sw += 1;
            if sw >= self.summary.len() {
                return n;
            }
            s = self.summary[sw];
        }
    }

    fn set_far(&mut self, key: i64, qty: i64) {
        match self.far.binary_search_by(|probe| key.cmp(&probe.0)) {
            Ok(p) if qty == 0 => {
                self.far.remove(p);
            }
            Ok(p) => self.far[p].1 = qty,
            Err(_) if qty == 0 => {}
            Err(p) => self.far.insert(p, (key, qty)),
        }
    }

    /// Recentres when the touch left the window or sits in its last quarter.
    #[inline]
    fn maybe_recentre(&mut self) {
        if self.tick == 0 {
            return;
        }
        let n = self.slots.len();
        let far_better = match (self.far.back(), self.win_best < n) {
            (Some(&(fk, _)), true) => fk < self.base + self.win_best as i64 * self.tick,
            (Some(_), false) => true,
            (None, _) => false,
        };
        // A better far level that is off the grid cannot be helped by recentring; only recentre
        // when it would land in the window.
        let drifted = self.win_best < n && self.win_best >= n - n / 4 && n >= 4;
        if far_better {
            let (fk, _) = self.far[self.far.len() - 1];
            if fk % self.tick == 0 {
                self.recentre(fk);
            }
        } else if drifted {
            let k = self.base + self.win_best as i64 * self.tick;
            self.recentre(k);
        }
    }

    /// Moves the window so `touch` (a grid key) sits a quarter of the way in, and redistributes
    /// levels between window and far. No allocation: `far` has reserved room (it may grow past
    /// it only if the side holds more levels than configured). Rare: kept out of line.
    #[inline(never)]
    fn recentre(&mut self, touch: i64) {
        let n = self.slots.len();
        // Move every window level to far, then sort far once (unstable sort does not allocate).
        if self.win_len > 0 {
            self.flush_window(self.tick);
        }
        let room = (n / 4) as i64;
        self.base = touch.saturating_sub(room.saturating_mul(self.tick));
        // Keep base on the grid so on-grid keys map to whole slots.
        self.base = self.base.saturating_sub(self.base.rem_euclid(self.tick));
        let (base, tick) = (self.base, self.tick);
        let (slots, occ, summary) = (&mut self.slots, &mut self.occ, &mut self.summary);
        let mut win_len = 0;
        let mut win_best = n;
        self.far.retain(|&(k, q)| {
            let off = k.checked_sub(base).unwrap_or(-1);
            if off >= 0 && off % tick == 0 && ((off / tick) as u64) < n as u64 {
                let i = (off / tick) as usize;
                slots[i] = q;
                occ[i >> 6] |= 1u64 << (i & 63);
                summary[i >> 12] |= 1u64 << ((i >> 6) & 63);
                win_len += 1;
                win_best = win_best.min(i);
                false
            } else {
                true
            }
        });
        self.win_len = win_len;
        self.win_best = win_best;
    }

    /// Moves every window level (keys at `tick` per slot) to `far`, re-sorts `far` (unstable sort:
    /// no allocation) and leaves the window and its bitmap empty. Visits occupied slots only.
    fn flush_window(&mut self, tick: i64) {
        let n = self.slots.len();
        let mut i = self.win_best;
        while i < n {
            self.far
                .push_back((self.base + i as i64 * tick, self.slots[i]));
            self.slots[i] = 0;
            i = self.next_from(i + 1);
        }
        self.occ.iter_mut().for_each(|w| *w = 0);
        self.summary.iter_mut().for_each(|w| *w = 0);
        self.far
            .make_contiguous()
            .sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        self.win_len = 0;
        self.win_best = n;
    }

    /// Installs a tick (> 0) and re-places every level; a no-op for `tick <= 0` or an equal tick.
    pub fn set_tick(&mut self, tick: i64) {
        if tick <= 0 || tick == self.tick {
            return;
        }
        let touch = self.best().map(|(k, _)| k);
        // Flush the window with the old geometry into far before switching the tick.
        if self.win_len > 0 {
            self.flush_window(self.tick);
        }
        self.set_geometry(tick);
        if let Some(t) = touch {
            self.recentre(t - t.rem_euclid(tick));
        }
    }

    /// The gcd of every key on this side folded into `g` (0 = none yet).
    pub fn gcd_keys(&self, mut g: i64) -> i64 {
        for (k, _) in self.iter() {
            g = gcd(g, k);
            if g == 1 {
                break;
            }
        }
        g
    }

    /// Levels best-first as `(key, qty)`: the merge of the window and `far`.
    pub fn iter(&self) -> LadderIter<'_> {
        LadderIter {
            ladder: self,
            slot: self.win_best,
            far_end: self.far.len(),
        }
    }
}

/// `n` zeroed quantities, every page written once now. A large `vec![0; n]` comes from fresh
/// zero pages that the kernel maps on first write: without this, the first update that lands on
/// each 4 KiB of the window takes a page fault (about a microsecond) on the hot path.
fn prefaulted(n: usize) -> Vec<i64> {
    let mut v = vec![0i64; n];
    // `black_box` keeps the compiler from proving the stores redundant (the memory is zero).
    for page in v.chunks_mut(512) {
        page[0] = std::hint::black_box(0);
    }
    v
}

/// Greatest common divisor of |a| and |b| (gcd(0, b) = |b|).
pub fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i64::try_from(a).unwrap_or(i64::MAX)
}

/// Best-first iterator over one side's levels in key space.
#[derive(Debug, Clone)]
pub struct LadderIter<'a> {
    ladder: &'a Ladder,
    /// Next window slot to look at.
    slot: usize,
    /// `far[..far_end]` is not yet yielded; its best is `far[far_end - 1]`.
    far_end: usize,
}

impl Iterator for LadderIter<'_> {
    type Item = (i64, i64);

    #[inline]
    fn next(&mut self) -> Option<(i64, i64)> {
        let l = self.ladder;
        let n = l.slots.len();
        // Jump over empty slots with the bitmap (`slot` is always occupied or `n` after this).
        self.slot = l.next_from(self.slot);
        let win = (self.slot < n).then(|| (l.base + self.slot as i64 * l.tick, l.slots[self.slot]));
        let far = self.far_end.checked_sub(1).map(|i| l.far[i]);
        match (win, far) {
            (Some(w), Some(f)) if f.0 < w.0 => {
                self.far_end -= 1;
                Some(f)
            }
            (Some(w), _) => {
                self.slot += 1;
                Some(w)
            }
            (None, Some(f)) => {
                self.far_end -= 1;
                Some(f)
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitmap invariant: bit set <=> slot non-zero, summary bit <=> word non-zero, and the
    /// counters agree.
    fn check_bitmap(l: &Ladder) {
        let mut len = 0;
        for (i, &q) in l.slots.iter().enumerate() {
            assert_eq!(q != 0, l.occ[i >> 6] >> (i & 63) & 1 == 1, "slot {i}");
            len += usize::from(q != 0);
        }
        for (w, &word) in l.occ.iter().enumerate() {
            assert_eq!(
                word != 0,
                l.summary[w >> 6] >> (w & 63) & 1 == 1,
                "word {w}"
            );
        }
        assert_eq!(len, l.win_len);
        let first = l
            .slots
            .iter()
            .position(|&q| q != 0)
            .unwrap_or(l.slots.len());
        assert_eq!(first, l.win_best);
    }

    #[test]
    fn next_best_found_across_empty_words_and_summary_words() {
        // 3 summary words (8192 + 1 slots); levels in slot 10 and near the far end only.
        let mut l = Ladder::new(8193, 4, 1);
        l.recentre(0);
        let base = l.base;
        for k in [10, 8000, 8192] {
            l.set(base + k, 1);
            check_bitmap(&l);
        }
        // The window may have recentred; keys are what matter.
        let keys: Vec<i64> = l.iter().map(|(k, _)| k - base).collect();
        assert_eq!(keys, vec![10, 8000, 8192]);
        l.set(base + 10, 0);
        check_bitmap(&l);
        assert_eq!(l.best().map(|(k, _)| k - base), Some(8000));
        l.set(base + 8000, 0);
        check_bitmap(&l);
        assert_eq!(l.best().map(|(k, _)| k - base), Some(8192));
        l.set(base + 8192, 0);
        check_bitmap(&l);
        assert_eq!(l.best(), None);
        assert!(l.iter().next().is_none());
    }

    #[test]
    fn bitmap_stays_exact_through_recentre_clear_and_set_tick() {
        let mut l = Ladder::new(200, 8, 0);
        // Unknown tick: everything in far until the tick is installed.
        for k in (1000..3000).step_by(30) {
            l.set(k, k);
        }
        l.set_tick(10);
        check_bitmap(&l);
        assert_eq!(l.len(), (1000..3000).step_by(30).count());
        // Walk the touch upward by deleting the best repeatedly: drifts force recentres.
        while let Some((k, _)) = l.best() {
            l.set(k, 0);
            check_bitmap(&l);
            let mut prev = i64::MIN;
            for (k, q) in l.iter() {
                assert!(k > prev && q == k);
                prev = k;
            }
        }
        for k in (0..4000).step_by(70) {
            l.set(k, 1);
        }
        check_bitmap(&l);
        l.clear();
        check_bitmap(&l);
        assert!(l.is_empty() && l.iter().next().is_none());
    }
}
