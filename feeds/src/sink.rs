//! How venue adapters emit `MdEvent`s: into any [`MdSink`] (a `Vec` in tests and replays, the
//! shm SPSC ring between the feed and book threads).

use lyra_shm::msg::MdEvent;

/// A consumer of market-data events. `push` returns `false` when the event could not be taken
/// (a full ring): the adapter then treats the book as broken (`InvalidReason::Overrun`) and
/// resyncs, because a dropped level makes every later top wrong.
pub trait MdSink {
    /// Offers one event; `false` if it was not accepted.
    fn push(&mut self, ev: MdEvent) -> bool;
}

impl MdSink for Vec<MdEvent> {
    /// Always accepts; the caller reserves capacity up front and clears it after draining, so
    /// after warm-up this never allocates.
    #[inline]
    fn push(&mut self, ev: MdEvent) -> bool {
        Vec::push(self, ev);
        true
    }
}

/// A sink that drops everything and counts it (for benchmarks of the parse stage alone).
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingSink {
    /// Events offered.
    pub events: u64,
}

impl MdSink for CountingSink {
    #[inline]
    fn push(&mut self, _ev: MdEvent) -> bool {
        self.events += 1;
        true
    }
}

impl MdSink for lyra_shm::ring::Producer<MdEvent> {
    /// A full ring refuses the event (the adapter invalidates the book and resyncs).
    #[inline]
    fn push(&mut self, ev: MdEvent) -> bool {
        lyra_shm::ring::Producer::push(self, ev).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sink_refuses_when_full() {
        let (mut p, mut c) = lyra_shm::ring::channel::<MdEvent>(2);
        let ev = MdEvent::default();
        let cap = p.capacity();
        for _ in 0..cap {
            assert!(MdSink::push(&mut p, ev));
        }
        assert!(
            !MdSink::push(&mut p, ev),
            "a full ring is a value, not a panic"
        );
        assert!(c.pop().is_some());
        assert!(MdSink::push(&mut p, ev));
    }
}
