//! Application/WebSocket keep-alive timing: ping after an idle period, give up if nothing comes back.

use lyra_shm::clock::Nanos;

/// Keep-alive settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAliveConfig {
    /// Send a keep-alive when nothing was received for this long, ms (`None`: never; rely on the
    /// venue's pings). OKX closes a link silent for 30 s, so it needs well under that.
    pub idle_ms: Option<u64>,
    /// After a keep-alive, reconnect if nothing at all arrives within this long, ms.
    pub reply_timeout_ms: u64,
}

impl Default for KeepAliveConfig {
    fn default() -> Self {
        Self {
            idle_ms: Some(15_000),
            reply_timeout_ms: 10_000,
        }
    }
}

/// What the keep-alive timer wants now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveAction {
    /// Nothing to do.
    Idle,
    /// Send a keep-alive, then call [`KeepAlive::on_sent`].
    SendPing,
    /// A keep-alive went unanswered: the link is dead.
    TimedOut,
}

/// The keep-alive timer of one connection. Any received frame counts as a reply.
#[derive(Debug, Clone)]
pub struct KeepAlive {
    cfg: KeepAliveConfig,
    last_rx_ns: Nanos,
    ping_sent_ns: Option<Nanos>,
}

impl KeepAlive {
    /// A timer that considers `now_ns` the last reception.
    pub fn new(cfg: KeepAliveConfig, now_ns: Nanos) -> Self {
        Self {
            cfg,
            last_rx_ns: now_ns,
            ping_sent_ns: None,
        }
    }

    /// Restarts the timer for a fresh connection.
    pub fn reset(&mut self, now_ns: Nanos) {
        self.last_rx_ns = now_ns;
        self.ping_sent_ns = None;
    }

    /// Something arrived.
    #[inline]
    pub fn on_rx(&mut self, now_ns: Nanos) {
        self.last_rx_ns = now_ns;
        self.ping_sent_ns = None;
    }

    /// A keep-alive was sent.
    pub fn on_sent(&mut self, now_ns: Nanos) {
        self.ping_sent_ns = Some(now_ns);
    }

    /// What to do at `now_ns`.
    pub fn poll(&self, now_ns: Nanos) -> KeepAliveAction {
        match (self.ping_sent_ns, self.cfg.idle_ms) {
            (Some(sent), _) if now_ns.saturating_sub(sent) >= ms(self.cfg.reply_timeout_ms) => {
                KeepAliveAction::TimedOut
            }
            (Some(_), _) | (None, None) => KeepAliveAction::Idle,
            (None, Some(idle)) if now_ns.saturating_sub(self.last_rx_ns) >= ms(idle) => {
                KeepAliveAction::SendPing
            }
            (None, Some(_)) => KeepAliveAction::Idle,
        }
    }

    /// When [`KeepAlive::poll`] next changes its answer, if ever.
    pub fn deadline_ns(&self) -> Option<Nanos> {
        match (self.ping_sent_ns, self.cfg.idle_ms) {
            (Some(sent), _) => Some(sent + ms(self.cfg.reply_timeout_ms)),
            (None, Some(idle)) => Some(self.last_rx_ns + ms(idle)),
            (None, None) => None,
        }
    }
}

fn ms(v: u64) -> Nanos {
    v.saturating_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_when_idle_and_times_out_without_reply() {
        let mut k = KeepAlive::new(
            KeepAliveConfig {
                idle_ms: Some(10),
                reply_timeout_ms: 5,
            },
            0,
        );
        assert_eq!(k.poll(9_000_000), KeepAliveAction::Idle);
        assert_eq!(k.deadline_ns(), Some(10_000_000));
        assert_eq!(k.poll(10_000_000), KeepAliveAction::SendPing);
        k.on_sent(10_000_000);
        assert_eq!(k.poll(14_000_000), KeepAliveAction::Idle);
        assert_eq!(k.poll(15_000_000), KeepAliveAction::TimedOut);
        k.on_rx(15_000_000);
        assert_eq!(
            k.poll(16_000_000),
            KeepAliveAction::Idle,
            "any frame answers the ping"
        );
        assert_eq!(k.deadline_ns(), Some(25_000_000));
    }

    #[test]
    fn disabled_never_pings() {
        let k = KeepAlive::new(
            KeepAliveConfig {
                idle_ms: None,
                reply_timeout_ms: 5,
            },
            0,
        );
        assert_eq!(k.poll(u64::MAX), KeepAliveAction::Idle);
        assert_eq!(k.deadline_ns(), None);
    }
}
