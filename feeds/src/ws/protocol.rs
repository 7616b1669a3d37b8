//! The venue hook: what a venue adapter tells the transport about its WebSocket dialect.

/// What an incoming text/binary frame is, as far as the transport cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Market data: handed to the caller, and it feeds the staleness watchdog.
    Data,
    /// Acknowledges one subscription request (see [`WsProtocol::subscribe_frames`]).
    Ack,
    /// The venue reports an error (a refused subscription before the ack, anything after it).
    Error,
    /// The reply to an application keep-alive (OKX `pong`, Kraken `{"method":"pong"}` ...).
    KeepAliveReply,
    /// Anything else the venue sends (heartbeats, status, notices): proves the link, not the data.
    Control,
}

/// What to do with data frames that arrive before every subscription is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreAckData {
    /// Discard them (counted in the stats).
    Drop,
    /// Keep up to this many and deliver them, in order, right after `Subscribed`.
    Buffer {
        /// Frames kept at most; later ones are dropped (and counted).
        max_frames: usize,
    },
    /// Deliver them at once.
    Deliver,
}

/// A venue's WebSocket dialect. Implemented by each venue adapter (see [`super::venues`]).
///
/// `classify` runs on every frame on the feed thread: keep it to a few byte comparisons.
pub trait WsProtocol: Send {
    /// Venue name for logs and errors (`"binance"`, `"okx"` ...).
    fn venue(&self) -> &'static str;
    /// The `ws://` / `wss://` URL to connect to (path and query included).
    fn url(&self) -> &str;
    /// Pushes the text frames to send right after the handshake and returns how many
    /// [`FrameKind::Ack`]s must arrive before the connection counts as subscribed (0: at once).
    /// `wall_ms` is wall-clock time for venues that stamp requests. Called on every (re)connect.
    fn subscribe_frames(&mut self, wall_ms: u64, out: &mut Vec<String>) -> usize;
    /// Classifies one incoming text or binary payload.
    fn classify(&self, frame: &[u8]) -> FrameKind;
    /// Writes the venue's application keep-alive into `out` and returns `true`; the default
    /// returns `false`, and the transport sends a WebSocket ping frame instead.
    fn keepalive_frame(&mut self, wall_ms: u64, out: &mut String) -> bool {
        let _ = (wall_ms, out);
        false
    }
    /// Policy for data frames seen before the subscription is acknowledged.
    fn pre_ack_data(&self) -> PreAckData {
        PreAckData::Drop
    }
}

/// `true` when `needle` occurs in the first `window` bytes of `hay` (control frames are small,
/// and data frames carry their discriminating keys near the start).
pub fn find_in(hay: &[u8], needle: &[u8], window: usize) -> bool {
    let hay = &hay[..hay.len().min(window)];
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}
