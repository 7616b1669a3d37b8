//! Jittered exponential reconnect backoff with a seeded generator (reproducible in replays/tests).

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// Ceiling of the first retry delay, ms.
    pub base_ms: u64,
    /// Largest ceiling, ms.
    pub cap_ms: u64,
    /// Fraction of the ceiling that jitter may remove, in `[0, 1]`: a delay lies in
    /// `[ceiling * (1 - jitter), ceiling]`. Below 0.5 successive delays strictly grow until the cap.
    pub jitter: f64,
    /// A connection that stays subscribed this long resets the attempt count, ms.
    pub healthy_reset_ms: u64,
    /// Seed of the jitter generator (any value).
    pub seed: u64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base_ms: 250,
            cap_ms: 30_000,
            jitter: 0.25,
            healthy_reset_ms: 60_000,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

/// The reconnect schedule: each failure without a healthy period in between doubles the ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    cfg: BackoffConfig,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A schedule at attempt 0.
    ///
    /// # Panics
    /// If `jitter` is outside `[0, 1]` or `base_ms` is 0 or above `cap_ms` (a configuration bug).
    pub fn new(cfg: BackoffConfig) -> Self {
        assert!(
            (0.0..=1.0).contains(&cfg.jitter),
            "backoff jitter must be in [0, 1]"
        );
        assert!(
            cfg.base_ms > 0 && cfg.base_ms <= cfg.cap_ms,
            "backoff needs 0 < base <= cap"
        );
        // splitmix64 of the seed: distinct seeds give distinct streams, and the state is never 0
        // (xorshift's fixed point).
        let mut z = cfg.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let rng = if z == 0 { 0x2545_F491_4F6C_DD1D } else { z };
        Self {
            cfg,
            attempt: 0,
            rng,
        }
    }

    /// The settings.
    pub fn config(&self) -> &BackoffConfig {
        &self.cfg
    }

    /// How many delays have been handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The un-jittered delay of retry number `attempt` (0-based): `min(cap, base * 2^attempt)`.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let factor = 1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX);
        self.cfg.base_ms.saturating_mul(factor).min(self.cfg.cap_ms)
    }

    /// The next delay, ms, and advances the attempt count.
    pub fn next_delay_ms(&mut self) -> u64 {
        let ceiling = self.ceiling_ms(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        // Uniform in [0, 1) from the top 53 bits; f64 is fine here, this is not a price.
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let cut = (ceiling as f64 * self.cfg.jitter * unit) as u64;
        ceiling - cut.min(ceiling)
    }

    /// Back to attempt 0 (after a healthy period).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// xorshift64*: tiny, seeded, good enough to spread reconnect storms.
    fn next_u64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(jitter: f64, seed: u64) -> BackoffConfig {
        BackoffConfig {
            base_ms: 100,
            cap_ms: 3_000,
            jitter,
            healthy_reset_ms: 1_000,
            seed,
        }
    }

    #[test]
    fn ceilings_double_then_cap() {
        let b = Backoff::new(cfg(0.0, 1));
        let c: Vec<u64> = (0..8).map(|a| b.ceiling_ms(a)).collect();
        assert_eq!(c, [100, 200, 400, 800, 1600, 3000, 3000, 3000]);
        assert_eq!(
            b.ceiling_ms(200),
            3000,
            "huge attempt numbers saturate, never overflow"
        );
    }

    #[test]
    fn without_jitter_delays_are_the_ceilings() {
        let mut b = Backoff::new(cfg(0.0, 7));
        let d: Vec<u64> = (0..6).map(|_| b.next_delay_ms()).collect();
        assert_eq!(d, [100, 200, 400, 800, 1600, 3000]);
        assert_eq!(b.attempt(), 6);
    }

    #[test]
    fn jitter_stays_in_bounds_and_delays_grow_below_half() {
        for seed in 1..200u64 {
            let mut b = Backoff::new(cfg(0.4, seed));
            let mut prev = 0;
            for attempt in 0..10 {
                let ceiling = b.ceiling_ms(attempt);
                let d = b.next_delay_ms();
                assert!(
                    d <= ceiling && d as f64 >= ceiling as f64 * 0.6 - 1.0,
                    "seed {seed}: {d} vs {ceiling}"
                );
                if ceiling < 3_000 {
                    assert!(d > prev, "seed {seed}: delays must grow before the cap");
                }
                prev = d;
            }
        }
    }

    #[test]
    fn jitter_actually_varies_and_is_reproducible() {
        let run = |seed| {
            let mut b = Backoff::new(cfg(1.0, seed));
            (0..16).map(|_| b.next_delay_ms()).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        let mut b = Backoff::new(cfg(1.0, 5));
        let capped: Vec<u64> = (0..64).map(|_| b.next_delay_ms()).skip(8).collect();
        assert!(
            capped.iter().any(|&d| d != capped[0]),
            "full jitter spreads delays at the cap"
        );
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(cfg(0.0, 3));
        for _ in 0..4 {
            b.next_delay_ms();
        }
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.next_delay_ms(), 100);
    }

    #[test]
    #[should_panic(expected = "jitter")]
    fn bad_jitter_is_a_config_bug() {
        let _ = Backoff::new(cfg(1.5, 1));
    }
}
