//! Kraken WebSocket v2 `book` as a [`SocketVenue`]: the subscription (with `snapshot: true`)
//! pushes the snapshot; a broken book (checksum mismatch found by the book stage, malformed
//! frame) is unsubscribed and subscribed again.

use lyra_shm::msg::{InstrumentIdx, InvalidReason, VenueId};

use super::socket::SocketVenue;
use crate::{
    instrument::Resolved,
    kraken::{KrakenFrameInfo, KrakenMd},
    sink::MdSink,
    ws::venues::KrakenWs,
};

/// The Kraken decoder for one connection and its subscribed depth.
#[derive(Debug)]
pub struct KrakenVenue {
    md: KrakenMd,
    depth: u32,
    req_id: u64,
}

impl KrakenVenue {
    /// The `book` channel at `depth` (10, 25, 100, 500 or 1000) for `venue`.
    pub fn new(venue: VenueId, depth: u32) -> Self {
        Self {
            md: KrakenMd::new(venue, depth as usize),
            depth,
            // Resubscriptions use ids apart from the transport's initial subscribe (1, 2, ...).
            req_id: 1 << 32,
        }
    }

    /// The decoder (sync states and counters).
    pub fn md(&self) -> &KrakenMd {
        &self.md
    }
}

impl SocketVenue for KrakenVenue {
    type Proto = KrakenWs;
    const NAME: &'static str = "kraken";

    fn protocol(&self, url: &str, symbols: &[String]) -> KrakenWs {
        KrakenWs::new(url, symbols.to_vec(), self.depth)
    }

    fn prepare(&mut self, inst: InstrumentIdx) {
        self.md.prepare(inst);
    }

    fn decode(
        &mut self,
        recv_ts: u64,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        sink: &mut impl MdSink,
    ) -> Result<Option<InstrumentIdx>, String> {
        match self.md.on_frame(recv_ts, frame, resolve, sink) {
            Ok(KrakenFrameInfo::Book { inst, .. }) => Ok(Some(inst)),
            Ok(KrakenFrameInfo::Other) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn invalidate(
        &mut self,
        inst: Option<InstrumentIdx>,
        reason: InvalidReason,
        recv_ts: u64,
        sink: &mut impl MdSink,
    ) {
        self.md.invalidate(inst, reason, recv_ts, sink);
    }

    fn needs_snapshot(&self, inst: InstrumentIdx) -> bool {
        self.md.book(inst).is_some_and(|b| b.needs_snapshot())
    }

    fn is_synced(&self, inst: InstrumentIdx) -> bool {
        self.md.book(inst).is_some_and(|b| b.is_synced())
    }

    fn resubscribe(&mut self, symbol: &str, out: &mut Vec<String>) {
        for method in ["unsubscribe", "subscribe"] {
            let id = self.req_id;
            self.req_id += 1;
            let snapshot = if method == "subscribe" {
                r#","snapshot":true"#
            } else {
                ""
            };
            out.push(format!(
                r#"{{"method":"{method}","params":{{"channel":"book","symbol":["{symbol}"],"depth":{}{snapshot}}},"req_id":{id}}}"#,
                self.depth
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::{FrameKind, WsProtocol};

    fn proto() -> KrakenWs {
        KrakenVenue::new(VenueId(0), 10).protocol("wss://ws.kraken.com/v2", &["BTC/USD".into()])
    }

    #[test]
    fn subscribe_ack_is_an_ack_not_book_data() {
        // Kraken's documented ack: "channel":"book" ends at byte 48.
        let ack = br#"{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#;
        assert_eq!(proto().classify(ack), FrameKind::Ack);
        let refused = br#"{"error":"Currency pair not supported XXX/YYY","method":"subscribe","success":false,"symbol":"XXX/YYY"}"#;
        assert_eq!(proto().classify(refused), FrameKind::Error);
        let unsub = br#"{"method":"unsubscribe","result":{"channel":"book","depth":10,"symbol":"BTC/USD"},"success":true}"#;
        assert_eq!(proto().classify(unsub), FrameKind::Control);
        assert_eq!(
            proto().classify(br#"{"method":"pong","req_id":1}"#),
            FrameKind::KeepAliveReply
        );
        let data = br#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":1,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#;
        assert_eq!(proto().classify(data), FrameKind::Data);
    }

    #[test]
    fn resubscribe_unsubscribes_then_subscribes_with_a_snapshot() {
        let mut v = KrakenVenue::new(VenueId(0), 10);
        let mut out = Vec::new();
        v.resubscribe("BTC/USD", &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with(
            r#"{"method":"unsubscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10}"#
        ));
        assert!(out[1].starts_with(r#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10,"snapshot":true}"#));
        assert_ne!(out[0], out[1]);
    }
}
