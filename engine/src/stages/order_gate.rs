//! The order stage's halt gate: every send slot checks the halt word (one Acquire load) and the
//! venue's halt bit immediately before the send, and counts what it refused.

use std::sync::Arc;

use lyra_shm::{
    clock::Nanos,
    control::{ControlSegment, Counter},
    msg::OrderIntent,
    ring::Consumer,
};

use crate::runtime::stage::Stage;

/// Most intents handled per poll, so one stage cannot starve its thread's other stages.
const BATCH: usize = 64;

/// Pops intents and lets them through only while the halt word is clear.
pub struct OrderGate {
    input: Consumer<OrderIntent>,
    seg: Arc<ControlSegment>,
    sent: u64,
    refused: u64,
}

impl OrderGate {
    /// A gate reading `input`, checking `seg`'s halt word.
    pub fn new(input: Consumer<OrderIntent>, seg: Arc<ControlSegment>) -> Self {
        Self {
            input,
            seg,
            sent: 0,
            refused: 0,
        }
    }

    /// Slots let through and refused so far on this gate.
    pub fn totals(&self) -> (u64, u64) {
        (self.sent, self.refused)
    }
}

impl Stage for OrderGate {
    fn name(&self) -> &'static str {
        "order-gate"
    }

    fn poll(&mut self, _now_ns: Nanos) -> usize {
        let mut n = 0;
        while n < BATCH {
            let Some(intent) = self.input.pop() else {
                break;
            };
            n += 1;
            self.seg.add(Counter::SendsAttempted, 1);
            // The check sits right before the send with nothing in between that could block.
            if self.seg.is_halted() || self.seg.is_venue_halted(intent.venue) {
                self.refused += 1;
                self.seg.add(Counter::SendsRefusedHalted, 1);
                continue;
            }
            // The OMS (issue 5) journals and writes the request here; the skeleton counts the
            // slot as sent.
            self.sent += 1;
            self.seg.add(Counter::SendsDone, 1);
        }
        n
    }
}
