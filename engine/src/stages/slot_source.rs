//! A paced source of send slots: one `OrderIntent` every `1/rate` seconds into the order ring.
//! It stands in the strategy position so the halt gate can be exercised end to end.

use lyra_shm::{
    clock::Nanos,
    control::{ControlSegment, Counter},
    msg::OrderIntent,
    ring::Producer,
};
use std::sync::Arc;

use crate::runtime::stage::Stage;

/// Emits paced send slots.
pub struct SlotSource {
    out: Producer<OrderIntent>,
    period_ns: u64,
    next_due_ns: Nanos,
    next_seq: u64,
    seg: Arc<ControlSegment>,
}

impl SlotSource {
    /// `rate_per_s` slots per second into `out` (0 = none).
    pub fn new(out: Producer<OrderIntent>, rate_per_s: u64, seg: Arc<ControlSegment>) -> Self {
        let period_ns = 1_000_000_000u64.checked_div(rate_per_s).unwrap_or(u64::MAX);
        Self {
            out,
            period_ns,
            next_due_ns: 0,
            next_seq: 1,
            seg,
        }
    }
}

impl Stage for SlotSource {
    fn name(&self) -> &'static str {
        "slot-source"
    }

    fn poll(&mut self, now_ns: Nanos) -> usize {
        if self.period_ns == u64::MAX || now_ns < self.next_due_ns {
            return 0;
        }
        // Pace from the schedule, not from now, but never build a backlog after a stall: at
        // most one slot per poll.
        self.next_due_ns = if self.next_due_ns == 0 || now_ns - self.next_due_ns > self.period_ns {
            now_ns + self.period_ns
        } else {
            self.next_due_ns + self.period_ns
        };
        let intent = OrderIntent {
            intent_seq: self.next_seq,
            decided_ts: now_ns,
            ..Default::default()
        };
        match self.out.push(intent) {
            Ok(()) => self.next_seq += 1,
            // A full order ring means the order stage is not keeping up: the slot is dropped and
            // counted (a real strategy would also stop deciding on stale state).
            Err(_) => self.seg.add(Counter::FeedDrops, 1),
        }
        1
    }
}
