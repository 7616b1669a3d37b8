//! OKX v5 public `books` (or `books5`/`bbo-tbt`) as a [`SocketVenue`]: the subscription pushes
//! the snapshot; a broken book (gap, checksum mismatch found by the book stage) is resubscribed.

use lyra_shm::msg::{InstrumentIdx, InvalidReason, VenueId};

use super::socket::SocketVenue;
use crate::{
    instrument::Resolved,
    okx::{OkxFrameInfo, OkxMd},
    sink::MdSink,
    ws::venues::OkxWs,
};

/// The OKX decoder for one connection and the channel it subscribes.
#[derive(Debug)]
pub struct OkxVenue {
    md: OkxMd,
    channel: String,
}

impl OkxVenue {
    /// `channel` (`books`, `books5`, `bbo-tbt`) for `venue`.
    pub fn new(venue: VenueId, channel: &str) -> Self {
        Self {
            md: OkxMd::new(venue),
            channel: channel.to_owned(),
        }
    }

    /// The decoder (sync states and counters).
    pub fn md(&self) -> &OkxMd {
        &self.md
    }
}

impl SocketVenue for OkxVenue {
    type Proto = OkxWs;
    const NAME: &'static str = "okx";

    fn protocol(&self, url: &str, symbols: &[String]) -> OkxWs {
        OkxWs::new(url, &self.channel, symbols.to_vec())
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
            Ok(OkxFrameInfo::Book { inst, .. }) => Ok(Some(inst)),
            Ok(OkxFrameInfo::Other) => Ok(None),
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
        // OKX answers a subscribe of an already subscribed arg without a new snapshot: drop the
        // subscription first; requests on one connection are handled in order.
        for op in ["unsubscribe", "subscribe"] {
            out.push(format!(
                r#"{{"op":"{op}","args":[{{"channel":"{}","instId":"{symbol}"}}]}}"#,
                self.channel
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resubscribe_unsubscribes_then_subscribes_the_one_instrument() {
        let mut v = OkxVenue::new(VenueId(0), "books");
        let mut out = Vec::new();
        v.resubscribe("BTC-USDT", &mut out);
        assert_eq!(
            out,
            [
                r#"{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
                r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
            ]
        );
    }
}
