//! The staleness watchdog: a subscribed connection that delivers no data for N ms is stale, even if
//! the venue still answers pings (a silently dropped subscription looks exactly like that).

use lyra_shm::clock::Nanos;

/// Data-silence detector for one connection.
#[derive(Debug, Clone)]
pub struct Watchdog {
    stale_after_ns: Option<Nanos>,
    last_data_ns: Nanos,
}

impl Watchdog {
    /// A watchdog firing after `stale_after_ms` of silence (`None`: disabled).
    pub fn new(stale_after_ms: Option<u64>, now_ns: Nanos) -> Self {
        Self {
            stale_after_ns: stale_after_ms.map(|v| v.saturating_mul(1_000_000)),
            last_data_ns: now_ns,
        }
    }

    /// Starts (or restarts) the silence clock, e.g. on `Subscribed`.
    pub fn arm(&mut self, now_ns: Nanos) {
        self.last_data_ns = now_ns;
    }

    /// A data frame arrived.
    #[inline]
    pub fn on_data(&mut self, now_ns: Nanos) {
        self.last_data_ns = now_ns;
    }

    /// Milliseconds since the last data frame.
    pub fn silent_ms(&self, now_ns: Nanos) -> u64 {
        now_ns.saturating_sub(self.last_data_ns) / 1_000_000
    }

    /// `true` once the silence reached the limit.
    #[inline]
    pub fn is_stale(&self, now_ns: Nanos) -> bool {
        self.stale_after_ns
            .is_some_and(|limit| now_ns.saturating_sub(self.last_data_ns) >= limit)
    }

    /// When the watchdog fires if no data arrives, if enabled.
    pub fn deadline_ns(&self) -> Option<Nanos> {
        self.stale_after_ns
            .map(|limit| self.last_data_ns.saturating_add(limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_after_silence_and_rearms_on_data() {
        let mut w = Watchdog::new(Some(50), 1_000);
        assert!(!w.is_stale(1_000 + 49_999_999));
        assert!(w.is_stale(1_000 + 50_000_000));
        w.on_data(60_000_000);
        assert!(!w.is_stale(100_000_000));
        assert_eq!(w.silent_ms(100_000_000), 40);
        assert_eq!(w.deadline_ns(), Some(110_000_000));
        assert!(!Watchdog::new(None, 0).is_stale(u64::MAX));
    }
}
