//! Fixed-bucket latency histograms in the control segment, exported by the gate as Prometheus
//! histograms and summarised by `lyra status`.
//!
//! Buckets are log-spaced by a factor of √2, so a quantile read from them is at most ~41 % above
//! the true value over the whole range, with 64 buckets:
//!
//! - bucket 0 holds samples `0 ..= 64` ns;
//! - bucket `k` (1..=62) holds `HIST_BOUNDS_NS[k-1] < ns <= HIST_BOUNDS_NS[k]`, where
//!   `HIST_BOUNDS_NS[k] = ⌊64 · 2^(k/2)⌋` ns (64, 90, 128, 181, 256, …, 2^37 ns ≈ 137 s);
//! - bucket 63 holds everything above 2^37 ns; its bound is `u64::MAX` (Prometheus `+Inf`).
//!
//! Upper bounds are inclusive, as Prometheus `le` labels are, so the gate can export the counts
//! cumulatively without conversion.
//!
//! One writer (the engine's stats publisher, a side thread) copies each histogram from the hot
//! stages' in-process histograms every publish period, under a per-histogram seqlock, so a
//! reader's [`HistSnapshot`] is always self-consistent (`count` is the sum of `counts`, `sum_ns`
//! belongs to the same copy). The hot threads never touch the segment for this.
//!
//! To add a histogram, append a [`Hist`] variant (never renumber one) and its name: the names are
//! part of the layout hash, so a reader built before the change refuses the segment.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{seqlock, ControlError, ControlSegment};

/// Buckets per histogram.
pub const HIST_BUCKETS: usize = 64;
/// Histogram slots reserved in the segment; [`Hist::ALL`] uses the first few.
pub const HIST_SLOTS: usize = 8;
/// Upper bound (inclusive) of the first bucket, ns.
const FIRST_BOUND_NS: u64 = 64;
/// log2 of [`FIRST_BOUND_NS`].
const FIRST_BOUND_LOG2: usize = 6;

/// One measured path of the pipeline.
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hist {
    /// Feed frame received -> book top published.
    FrameToBook = 0,
    /// Top received by the strategy stage -> intent approved by risk.
    BookToIntent = 1,
    /// Intent approved -> order request bytes written.
    IntentToRequest = 2,
    /// Feed frame received -> order request bytes written (tick-to-order).
    TickToOrder = 3,
}

impl Hist {
    /// Every histogram, in index order.
    pub const ALL: [Hist; 4] = [
        Hist::FrameToBook,
        Hist::BookToIntent,
        Hist::IntentToRequest,
        Hist::TickToOrder,
    ];

    /// The snake_case name used in `lyra status` and metrics (e.g. `tick_to_order`).
    pub const fn name(self) -> &'static str {
        match self {
            Hist::FrameToBook => "frame_to_book",
            Hist::BookToIntent => "book_to_intent",
            Hist::IntentToRequest => "intent_to_request",
            Hist::TickToOrder => "tick_to_order",
        }
    }
}

const _: () = assert!(Hist::ALL.len() <= HIST_SLOTS);
const _: () = {
    // Indices must equal positions in ALL, so `ALL[i] as usize == i`.
    let mut i = 0;
    while i < Hist::ALL.len() {
        assert!(Hist::ALL[i] as usize == i);
        i += 1;
    }
};

/// `⌊2^e · √2⌋` for `e < 64`, exactly, in integers (√2 to 18 digits; the error stays below one
/// ns for every bound used here).
const fn times_sqrt2(e: usize) -> u64 {
    const SQRT2_E18: u128 = 1_414_213_562_373_095_048;
    (((1u128 << e) * SQRT2_E18) / 1_000_000_000_000_000_000) as u64
}

/// Builds the bound table (also hashed into the layout hash by `layout.rs`).
pub(crate) const fn bounds() -> [u64; HIST_BUCKETS] {
    let mut b = [0u64; HIST_BUCKETS];
    let mut k = 0;
    while k < HIST_BUCKETS - 1 {
        let e = FIRST_BOUND_LOG2 + k / 2;
        b[k] = if k % 2 == 0 {
            1u64 << e
        } else {
            times_sqrt2(e)
        };
        k += 1;
    }
    b[HIST_BUCKETS - 1] = u64::MAX;
    b
}

/// Inclusive upper bound of every bucket, ns; the last is `u64::MAX` (`+Inf`).
pub static HIST_BOUNDS_NS: [u64; HIST_BUCKETS] = bounds();
/// The same table, usable in constant expressions.
const BOUNDS: [u64; HIST_BUCKETS] = bounds();

const _: () = {
    assert!(BOUNDS[0] == FIRST_BOUND_NS);
    assert!(BOUNDS[1] == 90);
    assert!(BOUNDS[2] == 128);
    assert!(BOUNDS[HIST_BUCKETS - 2] == 1u64 << 37);
    let mut k = 1;
    while k < HIST_BUCKETS {
        assert!(BOUNDS[k] > BOUNDS[k - 1]);
        k += 1;
    }
};

/// The bucket a sample of `ns` falls in: one leading-zero count, one table load, one compare.
#[inline]
pub const fn bucket_index(ns: u64) -> usize {
    if ns <= FIRST_BOUND_NS {
        return 0;
    }
    // ns in (2^e, 2^(e+1)], e >= 6; bound 2^e is bucket 2(e-6), its √2 midpoint the next one.
    let e = 63 - (ns - 1).leading_zeros() as usize;
    let lo = 2 * (e - FIRST_BOUND_LOG2);
    if lo + 2 >= HIST_BUCKETS - 1 {
        return HIST_BUCKETS - 1;
    }
    if ns <= BOUNDS[lo + 1] {
        lo + 1
    } else {
        lo + 2
    }
}

/// A consistent copy of one histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistSnapshot {
    /// Inclusive upper bound of each bucket, ns ([`HIST_BOUNDS_NS`]; the last is `u64::MAX`).
    pub bounds_ns: &'static [u64],
    /// Samples per bucket (not cumulative).
    pub counts: [u64; HIST_BUCKETS],
    /// Samples in all buckets (the sum of `counts`).
    pub count: u64,
    /// Sum of all samples, ns (wrapping; at 1 ms per sample it wraps after 1.8e10 samples).
    pub sum_ns: u64,
}

impl Default for HistSnapshot {
    fn default() -> Self {
        Self {
            bounds_ns: &HIST_BOUNDS_NS,
            counts: [0; HIST_BUCKETS],
            count: 0,
            sum_ns: 0,
        }
    }
}

impl HistSnapshot {
    /// A snapshot of `counts` with their `sum_ns`; `count` is their total.
    pub fn from_counts(counts: [u64; HIST_BUCKETS], sum_ns: u64) -> Self {
        Self {
            bounds_ns: &HIST_BOUNDS_NS,
            counts,
            count: counts.iter().fold(0u64, |a, c| a.wrapping_add(*c)),
            sum_ns,
        }
    }

    /// Adds one sample (for building snapshots off the hot path, e.g. in tests and tools).
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_index(ns)] += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.wrapping_add(ns);
    }

    /// The quantile `q` (0..=1): the upper bound of the bucket holding the sample of that rank
    /// (an over-estimate by at most √2), capped by `sum_ns` since no sample exceeds the sum (this
    /// also gives the overflow bucket a finite value). `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let want = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (k, c) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(*c);
            if seen >= want {
                return Some(self.bounds_ns[k].min(self.sum_ns));
            }
        }
        // `count` larger than the buckets hold (a torn fallback copy): the top is all we know.
        Some(self.sum_ns)
    }

    /// Mean sample, ns; `None` without samples.
    pub fn mean_ns(&self) -> Option<u64> {
        (self.count != 0).then(|| self.sum_ns / self.count)
    }
}

impl ControlSegment {
    /// Replaces histogram `h` with `counts` and `sum_ns` (its `count` becomes their total), under
    /// the histogram's seqlock. For the single stats publisher; off the hot path (64 stores).
    ///
    /// # Errors
    /// [`ControlError::Busy`] when another writer held the seqlock for the whole bounded wait.
    pub fn publish_histogram(
        &self,
        h: Hist,
        counts: &[u64; HIST_BUCKETS],
        sum_ns: u64,
    ) -> Result<(), ControlError> {
        let slot = &self.layout().histograms[h as usize];
        let count = counts.iter().fold(0u64, |a, c| a.wrapping_add(*c));
        seqlock::write(&slot.seq, || {
            for (dst, src) in slot.counts.iter().zip(counts) {
                dst.store(*src, Ordering::Relaxed);
            }
            slot.count.store(count, Ordering::Relaxed);
            slot.sum_ns.store(sum_ns, Ordering::Relaxed);
        })
        .map_err(|_| ControlError::Busy {
            what: "latency histogram",
        })
    }

    /// A consistent copy of histogram `h` (all zero before the first publish).
    ///
    /// If a writer held the seqlock for the whole bounded read wait (it died mid-copy), the
    /// buckets are copied as they are and `count` recomputed from them, so the snapshot is still
    /// self-consistent, though `sum_ns` may belong to another publish.
    pub fn histogram(&self, h: Hist) -> HistSnapshot {
        let slot = &self.layout().histograms[h as usize];
        let copy = || {
            let counts: [u64; HIST_BUCKETS] =
                std::array::from_fn(|k| slot.counts[k].load(Ordering::Relaxed));
            (
                counts,
                slot.count.load(Ordering::Relaxed),
                slot.sum_ns.load(Ordering::Relaxed),
            )
        };
        match seqlock::read(&slot.seq, copy) {
            Ok((counts, count, sum_ns)) => HistSnapshot {
                bounds_ns: &HIST_BOUNDS_NS,
                counts,
                count,
                sum_ns,
            },
            Err(_) => {
                let (counts, _, sum_ns) = copy();
                HistSnapshot::from_counts(counts, sum_ns)
            }
        }
    }
}

/// One histogram's words in the segment (see `layout.rs`).
#[repr(C, align(128))]
pub(crate) struct HistSlot {
    /// Seqlock sequence: odd while the publisher copies.
    pub seq: AtomicU64,
    /// Samples in all buckets.
    pub count: AtomicU64,
    /// Sum of all samples, ns.
    pub sum_ns: AtomicU64,
    /// Samples per bucket.
    pub counts: [AtomicU64; HIST_BUCKETS],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_sqrt2_spaced_from_64_ns() {
        assert_eq!(&HIST_BOUNDS_NS[..6], &[64, 90, 128, 181, 256, 362]);
        assert_eq!(HIST_BOUNDS_NS[20], 64 << 10);
        assert_eq!(HIST_BOUNDS_NS[21], 92_681); // ⌊65536 · √2⌋
        assert_eq!(HIST_BOUNDS_NS[62], 137_438_953_472);
        assert_eq!(HIST_BOUNDS_NS[63], u64::MAX);
        for k in 1..HIST_BUCKETS - 1 {
            let r = HIST_BOUNDS_NS[k] as f64 / HIST_BOUNDS_NS[k - 1] as f64;
            assert!(
                (r - std::f64::consts::SQRT_2).abs() < 0.01,
                "k {k} ratio {r}"
            );
        }
    }

    #[test]
    fn samples_land_in_the_bucket_whose_bounds_hold_them() {
        // Every edge, one either side, and the extremes.
        let mut probes = vec![0, 1, u64::MAX, u64::MAX - 1];
        for &b in &HIST_BOUNDS_NS[..HIST_BUCKETS - 1] {
            probes.extend([b - 1, b, b + 1]);
        }
        for ns in probes {
            let k = bucket_index(ns);
            assert!(ns <= HIST_BOUNDS_NS[k], "{ns} above bucket {k}");
            if k > 0 {
                assert!(
                    ns > HIST_BOUNDS_NS[k - 1],
                    "{ns} not above bucket {}",
                    k - 1
                );
            }
        }
        assert_eq!(bucket_index(64), 0);
        assert_eq!(bucket_index(65), 1);
        assert_eq!(bucket_index(90), 1);
        assert_eq!(bucket_index(91), 2);
        assert_eq!(bucket_index(1u64 << 37), 62);
        assert_eq!(bucket_index((1u64 << 37) + 1), 63);
    }

    #[test]
    fn quantiles_come_from_bucket_bounds() {
        let mut s = HistSnapshot::default();
        assert_eq!(s.quantile(0.5), None);
        for _ in 0..98 {
            s.record(1_000); // bucket (724, 1024]
        }
        s.record(100_000); // (92_681, 131_072]
        s.record(10_000_000_000_000); // overflow bucket
        assert_eq!(s.count, 100);
        assert_eq!(s.quantile(0.5), Some(1_024));
        assert_eq!(s.quantile(0.98), Some(1_024));
        assert_eq!(s.quantile(0.99), Some(131_072));
        // The overflow bucket reports the sum, the only finite bound known for it.
        assert_eq!(s.quantile(0.999), Some(s.sum_ns));
        assert_eq!(s.quantile(f64::NAN), Some(s.sum_ns));
        assert_eq!(s.quantile(-1.0), Some(1_024));
    }

    #[test]
    fn a_single_sample_is_reported_exactly() {
        let mut s = HistSnapshot::default();
        s.record(100);
        assert_eq!(s.quantile(0.5), Some(100));
        assert_eq!(s.mean_ns(), Some(100));
    }
}
