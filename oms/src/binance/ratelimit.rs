//! Request and order budgets (PROTOCOLS a.4): limits read from exchangeInfo `rateLimits`, usage
//! taken from the `X-MBX-USED-WEIGHT-1M` / `X-MBX-ORDER-COUNT-*` headers and counted locally in
//! between; 429 blocks until `Retry-After`, 418 bans until `Retry-After`.

use crate::http::RespMeta;

/// Why a request may not go now (nothing was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Request weight of this minute would pass the limit.
    Weight,
    /// Orders of this 10 s window would pass the limit.
    Orders,
    /// Orders of this day would pass the limit.
    OrdersDay,
    /// A 429 asked us to wait until `until_ms`.
    RetryAfter {
        /// Server-clock ms.
        until_ms: u64,
    },
    /// A 418 IP ban until `until_ms`.
    Banned {
        /// Server-clock ms.
        until_ms: u64,
    },
}

/// The budget of one venue connection.
#[derive(Debug, Clone, Copy)]
pub struct RateBudget {
    /// REQUEST_WEIGHT per minute.
    pub weight_per_min: u32,
    /// ORDERS per 10 s.
    pub orders_per_10s: u32,
    /// ORDERS per day.
    pub orders_per_day: u32,
    /// Fraction of each limit kept in reserve (queries and cancels must still get through).
    pub headroom_pct: u32,
    weight_used: u32,
    weight_minute: u64,
    orders_used: u32,
    orders_window: u64,
    orders_day: u32,
    day: u64,
    retry_until_ms: u64,
    banned_until_ms: u64,
}

impl Default for RateBudget {
    /// Conservative defaults until exchangeInfo is read (the 2021 published values).
    fn default() -> Self {
        Self::new(1200, 50, 160_000)
    }
}

impl RateBudget {
    /// A budget with these limits and 10 % headroom.
    pub fn new(weight_per_min: u32, orders_per_10s: u32, orders_per_day: u32) -> Self {
        Self {
            weight_per_min,
            orders_per_10s,
            orders_per_day,
            headroom_pct: 10,
            weight_used: 0,
            weight_minute: 0,
            orders_used: 0,
            orders_window: 0,
            orders_day: 0,
            day: 0,
            retry_until_ms: 0,
            banned_until_ms: 0,
        }
    }

    fn roll(&mut self, now_ms: u64) {
        if now_ms / 60_000 != self.weight_minute {
            self.weight_minute = now_ms / 60_000;
            self.weight_used = 0;
        }
        if now_ms / 10_000 != self.orders_window {
            self.orders_window = now_ms / 10_000;
            self.orders_used = 0;
        }
        if now_ms / 86_400_000 != self.day {
            self.day = now_ms / 86_400_000;
            self.orders_day = 0;
        }
    }

    fn cap(&self, limit: u32) -> u32 {
        limit - limit * self.headroom_pct.min(100) / 100
    }

    /// Takes `weight` (and one order if `order`) from the budget, or says why not. Orders keep
    /// the headroom free; queries and cancels (`order = false`) may use it.
    ///
    /// # Errors
    /// [`Throttle`].
    pub fn take(&mut self, now_ms: u64, weight: u32, order: bool) -> Result<(), Throttle> {
        self.roll(now_ms);
        if now_ms < self.banned_until_ms {
            return Err(Throttle::Banned {
                until_ms: self.banned_until_ms,
            });
        }
        if now_ms < self.retry_until_ms {
            return Err(Throttle::RetryAfter {
                until_ms: self.retry_until_ms,
            });
        }
        let wcap = if order {
            self.cap(self.weight_per_min)
        } else {
            self.weight_per_min
        };
        if self.weight_used + weight > wcap {
            return Err(Throttle::Weight);
        }
        if order {
            if self.orders_used + 1 > self.cap(self.orders_per_10s) {
                return Err(Throttle::Orders);
            }
            if self.orders_day + 1 > self.cap(self.orders_per_day) {
                return Err(Throttle::OrdersDay);
            }
            self.orders_used += 1;
            self.orders_day += 1;
        }
        self.weight_used += weight;
        Ok(())
    }

    /// Takes the venue's own counts from a response's headers (they win over local counting).
    pub fn observe(&mut self, now_ms: u64, meta: &RespMeta) {
        self.roll(now_ms);
        if let Some(w) = meta.used_weight_1m {
            self.weight_used = w;
        }
        if let Some(n) = meta.order_count_10s {
            self.orders_used = n;
        }
        if let Some(n) = meta.order_count_1d {
            self.orders_day = n;
        }
    }

    /// A 429: nothing more until `Retry-After` (60 s if absent).
    pub fn on_429(&mut self, now_ms: u64, retry_after_s: Option<u32>) {
        self.retry_until_ms = now_ms + retry_after_s.unwrap_or(60) as u64 * 1000;
    }

    /// A 418: banned until `Retry-After` (120 s if absent, the shortest ban).
    pub fn on_418(&mut self, now_ms: u64, retry_after_s: Option<u32>) {
        self.banned_until_ms = now_ms + retry_after_s.unwrap_or(120) as u64 * 1000;
    }

    /// End of a ban (0 = none).
    pub fn banned_until_ms(&self) -> u64 {
        self.banned_until_ms
    }

    /// Weight used this minute, as far as we know.
    pub fn weight_used(&self) -> u32 {
        self.weight_used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_keep_headroom_and_windows_roll() {
        let mut b = RateBudget::new(100, 10, 1000);
        let t = 1_700_000_000_000u64 / 60_000 * 60_000;
        for _ in 0..9 {
            b.take(t, 1, true).unwrap();
        }
        assert_eq!(
            b.take(t, 1, true),
            Err(Throttle::Orders),
            "10 % of 10 kept back"
        );
        assert_eq!(b.take(t + 10_000, 1, true), Ok(()), "next 10 s window");
        b.observe(
            t + 10_000,
            &RespMeta {
                used_weight_1m: Some(95),
                ..Default::default()
            },
        );
        assert_eq!(b.take(t + 10_000, 1, true), Err(Throttle::Weight));
        assert_eq!(
            b.take(t + 10_000, 4, false),
            Ok(()),
            "a query may use the headroom"
        );
        assert_eq!(b.take(t + 60_000, 1, true), Ok(()), "next minute");
    }

    #[test]
    fn retry_after_and_bans_block_until_they_end() {
        let mut b = RateBudget::default();
        b.on_429(1_000, Some(3));
        assert_eq!(
            b.take(3_999, 1, false),
            Err(Throttle::RetryAfter { until_ms: 4_000 })
        );
        assert_eq!(b.take(4_000, 1, false), Ok(()));
        b.on_418(5_000, None);
        assert_eq!(
            b.take(124_999, 1, false),
            Err(Throttle::Banned { until_ms: 125_000 })
        );
        assert_eq!(b.take(125_000, 1, false), Ok(()));
    }
}
