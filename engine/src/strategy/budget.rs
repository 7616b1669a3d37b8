//! A per-second action budget (token bucket, one second of burst) for strategies that must stay
//! inside risk's `max_orders_per_s`: a strategy that fires past its budget only collects risk
//! refusals, filling the audit and, for arbitrage, re-firing the same opportunity on every top.
//! Time is passed in (strategies read no clock), so the same inputs give the same decisions.

use lyra_shm::clock::Nanos;

/// One token in token-nanoseconds: refilling `per_s` tokens a second adds `per_s` per ns.
const TOKEN: u128 = 1_000_000_000;

/// Up to `per_s` actions in any second, refilled continuously; `per_s = 0` = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    per_s: u32,
    tokens: u128,
    last: Nanos,
}

impl Budget {
    /// A budget of `per_s` actions a second, starting full.
    pub fn new(per_s: u32) -> Self {
        Self {
            per_s,
            tokens: per_s as u128 * TOKEN,
            last: 0,
        }
    }

    /// Whether an action is allowed at `now` (without taking it).
    pub fn ready(&mut self, now: Nanos) -> bool {
        if self.per_s == 0 {
            return true;
        }
        let cap = self.per_s as u128 * TOKEN;
        let dt = now.saturating_sub(self.last) as u128;
        self.tokens = (self.tokens + dt * self.per_s as u128).min(cap);
        self.last = now.max(self.last);
        self.tokens >= TOKEN
    }

    /// Takes one action's token at `now`; `false` (and nothing taken) if none is left.
    pub fn take(&mut self, now: Nanos) -> bool {
        if !self.ready(now) {
            return false;
        }
        if self.per_s != 0 {
            self.tokens -= TOKEN;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    #[test]
    fn a_burst_of_one_second_then_the_rate() {
        let mut b = Budget::new(10);
        let t0 = 5_000 * MS;
        assert_eq!((0..20).filter(|_| b.take(t0)).count(), 10);
        assert!(!b.ready(t0 + 99 * MS));
        assert!(b.take(t0 + 100 * MS));
        assert!(!b.take(t0 + 100 * MS));
        // A long quiet spell refills to the burst, never past it.
        let t1 = t0 + 60_000 * MS;
        assert_eq!((0..20).filter(|_| b.take(t1)).count(), 10);
    }

    #[test]
    fn zero_means_no_limit_and_time_never_runs_backwards() {
        let mut b = Budget::new(0);
        assert!((0..1_000).all(|_| b.take(0)));
        let mut b = Budget::new(1);
        assert!(b.take(10 * MS));
        assert!(!b.take(5 * MS));
        assert!(!b.take(900 * MS));
        assert!(b.take(1_010 * MS));
    }
}
