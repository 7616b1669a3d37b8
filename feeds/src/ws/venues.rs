//! [`WsProtocol`] hooks for the venues' public market-data WebSockets (PROTOCOLS.md a–e).
//! Only transport concerns live here (URL, subscribe, ack, keep-alive); parsing is the adapters'.

use super::{
    conn::WsConfig,
    keepalive::KeepAliveConfig,
    protocol::{find_in, FrameKind, PreAckData, WsProtocol},
};

/// Binance closes every connection at 24 h; recycle ten minutes before.
pub const BINANCE_MAX_AGE_MS: u64 = 24 * 3_600_000 - 600_000;

/// Transport settings suited to each venue's keep-alive and quiet-book behaviour (starting points;
/// the engine config may override them).
fn venue_config(idle_ms: u64, stale_after_ms: u64, max_age_ms: Option<u64>) -> WsConfig {
    WsConfig {
        keepalive: KeepAliveConfig {
            idle_ms: Some(idle_ms),
            reply_timeout_ms: 10_000,
        },
        stale_after_ms: Some(stale_after_ms),
        max_age_ms,
        ..WsConfig::default()
    }
}

/// How far into a frame the classifiers look for their keys.
const HEAD: usize = 160;

fn json_str_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    quoted.join(",")
}

/// Binance Spot combined streams (`/stream`, events wrapped as `{"stream":..,"data":..}`).
///
/// Subscribes with `{"method":"SUBSCRIBE","params":[..],"id":N}` (ack `{"result":null,"id":N}`),
/// or, with [`BinanceWs::via_url`], through `/stream?streams=a/b` (no ack exists then). The server
/// pings every 20 s; the transport answers with pongs. A connection lives at most 24 h.
#[derive(Debug, Clone)]
pub struct BinanceWs {
    url: String,
    streams: Vec<String>,
    via_url: bool,
    next_id: u64,
}

impl BinanceWs {
    /// Streams such as `btcusdt@depth@100ms` on `base` (e.g. `wss://stream.binance.com:9443`),
    /// subscribed by request so that an ack confirms them.
    pub fn new(base: &str, streams: Vec<String>) -> Self {
        Self {
            url: format!("{}/stream", base.trim_end_matches('/')),
            streams,
            via_url: false,
            next_id: 1,
        }
    }

    /// Binance pings every 20 s (our pongs keep the link); a WebSocket ping of ours after 30 s of
    /// silence detects a dead link; recycle before the 24 h limit.
    pub fn transport_config() -> WsConfig {
        venue_config(30_000, 30_000, Some(BINANCE_MAX_AGE_MS))
    }

    /// The same streams named in the URL instead (no subscribe request, hence no ack to wait for).
    pub fn via_url(base: &str, streams: Vec<String>) -> Self {
        let url = format!(
            "{}/stream?streams={}",
            base.trim_end_matches('/'),
            streams.join("/")
        );
        Self {
            url,
            streams,
            via_url: true,
            next_id: 1,
        }
    }
}

impl WsProtocol for BinanceWs {
    fn venue(&self) -> &'static str {
        "binance"
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn subscribe_frames(&mut self, _wall_ms: u64, out: &mut Vec<String>) -> usize {
        if self.via_url || self.streams.is_empty() {
            return 0;
        }
        let id = self.next_id;
        self.next_id += 1;
        out.push(format!(
            r#"{{"method":"SUBSCRIBE","params":[{}],"id":{id}}}"#,
            json_str_list(&self.streams)
        ));
        1
    }
    fn classify(&self, f: &[u8]) -> FrameKind {
        if f.starts_with(br#"{"stream":"#) {
            FrameKind::Data
        } else if find_in(f, br#""result":null"#, HEAD) {
            FrameKind::Ack
        } else if find_in(f, br#""error""#, HEAD) || find_in(f, br#""code""#, HEAD) {
            FrameKind::Error
        } else if f.first() == Some(&b'{') && find_in(f, br#""e":"#, HEAD) {
            // A raw (unwrapped) event, e.g. on a `/ws/<stream>` URL.
            FrameKind::Data
        } else {
            FrameKind::Control
        }
    }
}

/// OKX v5 public channel (`/ws/v5/public`), e.g. `books` or `bbo-tbt`, one arg per instrument.
///
/// Ack `{"event":"subscribe","arg":{..}}` per arg, error `{"event":"error",..}`. OKX drops a link
/// silent for 30 s: the client sends text `ping` when idle and expects `pong`.
#[derive(Debug, Clone)]
pub struct OkxWs {
    url: String,
    channel: String,
    inst_ids: Vec<String>,
}

impl OkxWs {
    /// `channel` for every instrument in `inst_ids` on `url` (e.g. `wss://ws.okx.com:8443/ws/v5/public`).
    pub fn new(url: &str, channel: &str, inst_ids: Vec<String>) -> Self {
        Self {
            url: url.to_string(),
            channel: channel.to_string(),
            inst_ids,
        }
    }

    /// OKX drops links silent for 30 s: `ping` after 20 s. Quiet incremental books send an empty
    /// update only every ~60 s, so staleness waits 75 s.
    pub fn transport_config() -> WsConfig {
        venue_config(20_000, 75_000, None)
    }
}

impl WsProtocol for OkxWs {
    fn venue(&self) -> &'static str {
        "okx"
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn subscribe_frames(&mut self, _wall_ms: u64, out: &mut Vec<String>) -> usize {
        if self.inst_ids.is_empty() {
            return 0;
        }
        let args: Vec<String> = self
            .inst_ids
            .iter()
            .map(|i| format!(r#"{{"channel":"{}","instId":"{i}"}}"#, self.channel))
            .collect();
        out.push(format!(
            r#"{{"op":"subscribe","args":[{}]}}"#,
            args.join(",")
        ));
        self.inst_ids.len()
    }
    fn classify(&self, f: &[u8]) -> FrameKind {
        if f.starts_with(br#"{"arg":"#) {
            FrameKind::Data
        } else if f == b"pong" {
            FrameKind::KeepAliveReply
        } else if find_in(f, br#""event":"error""#, HEAD) {
            FrameKind::Error
        } else if find_in(f, br#""event":"subscribe""#, HEAD) {
            FrameKind::Ack
        } else if find_in(f, br#""data":"#, HEAD) {
            FrameKind::Data
        } else {
            FrameKind::Control
        }
    }
    fn keepalive_frame(&mut self, _wall_ms: u64, out: &mut String) -> bool {
        out.clear();
        out.push_str("ping");
        true
    }
    fn pre_ack_data(&self) -> PreAckData {
        // OKX may push the snapshot right behind the ack of another arg: keep it.
        PreAckData::Buffer { max_frames: 64 }
    }
}

/// Kraken WebSocket v2 `book` channel (`wss://ws.kraken.com/v2`).
///
/// One request for all symbols; Kraken acks each symbol with `"success":true` (or `false`).
/// Application keep-alive `{"method":"ping"}` → `{"method":"pong",..}`.
#[derive(Debug, Clone)]
pub struct KrakenWs {
    url: String,
    symbols: Vec<String>,
    depth: u32,
    req_id: u64,
}

impl KrakenWs {
    /// The `book` channel at `depth` (10, 25, 100, 500 or 1000) for `symbols` such as `BTC/USD`.
    pub fn new(url: &str, symbols: Vec<String>, depth: u32) -> Self {
        Self {
            url: url.to_string(),
            symbols,
            depth,
            req_id: 1,
        }
    }

    /// Kraken sends a heartbeat every second while subscribed (it proves the link, not the data);
    /// quiet books may not change for a while, so staleness waits 60 s.
    pub fn transport_config() -> WsConfig {
        venue_config(20_000, 60_000, None)
    }
}

impl WsProtocol for KrakenWs {
    fn venue(&self) -> &'static str {
        "kraken"
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn subscribe_frames(&mut self, _wall_ms: u64, out: &mut Vec<String>) -> usize {
        if self.symbols.is_empty() {
            return 0;
        }
        let id = self.req_id;
        self.req_id += 1;
        out.push(format!(
            r#"{{"method":"subscribe","params":{{"channel":"book","symbol":[{}],"depth":{},"snapshot":true}},"req_id":{id}}}"#,
            json_str_list(&self.symbols),
            self.depth
        ));
        self.symbols.len()
    }
    fn classify(&self, f: &[u8]) -> FrameKind {
        // A frame that starts with "method" answers one of our requests and is never data: the
        // documented subscribe ack `{"method":"subscribe","result":{"channel":"book",...}` carries
        // `"channel":"book"` within its first 48 bytes, so test for answers first.
        if f.starts_with(br#"{"method":"#) {
            return if find_in(f, br#""method":"subscribe""#, HEAD) {
                if find_in(f, br#""success":true"#, f.len()) {
                    FrameKind::Ack
                } else {
                    FrameKind::Error
                }
            } else if find_in(f, br#""method":"pong""#, HEAD) {
                FrameKind::KeepAliveReply
            } else if find_in(f, br#""success":false"#, f.len()) {
                FrameKind::Error
            } else {
                FrameKind::Control // e.g. the unsubscribe answer of a resubscription
            };
        }
        if f.starts_with(br#"{"channel":"book""#) || find_in(f, br#""channel":"book""#, 48) {
            FrameKind::Data
        } else if find_in(f, br#""method":"pong""#, HEAD) {
            FrameKind::KeepAliveReply
        } else if find_in(f, br#""method":"subscribe""#, HEAD) {
            if find_in(f, br#""success":true"#, f.len()) {
                FrameKind::Ack
            } else {
                FrameKind::Error
            }
        } else if find_in(f, br#""error""#, HEAD) {
            FrameKind::Error
        } else {
            // heartbeat, status
            FrameKind::Control
        }
    }
    fn keepalive_frame(&mut self, _wall_ms: u64, out: &mut String) -> bool {
        out.clear();
        out.push_str(r#"{"method":"ping"}"#);
        true
    }
    fn pre_ack_data(&self) -> PreAckData {
        // The snapshot of one symbol may precede the ack of the next.
        PreAckData::Buffer { max_frames: 64 }
    }
}

/// Gate.io v4 spot `spot.order_book_update` (`wss://api.gateio.ws/ws/v4/`), one request per pair.
///
/// Ack `"event":"subscribe"` with `"result":{"status":"success"}`; keep-alive
/// `{"time":..,"channel":"spot.ping"}` → `"channel":"spot.pong"`.
#[derive(Debug, Clone)]
pub struct GateWs {
    url: String,
    pairs: Vec<String>,
    interval: String,
}

impl GateWs {
    /// Updates every `interval` (`"20ms"` or `"100ms"`) for `pairs` such as `BTC_USDT`.
    pub fn new(url: &str, pairs: Vec<String>, interval: &str) -> Self {
        Self {
            url: url.to_string(),
            pairs,
            interval: interval.to_string(),
        }
    }

    /// `spot.ping` after 20 s of silence; staleness after 60 s.
    pub fn transport_config() -> WsConfig {
        venue_config(20_000, 60_000, None)
    }
}

impl WsProtocol for GateWs {
    fn venue(&self) -> &'static str {
        "gate"
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn subscribe_frames(&mut self, wall_ms: u64, out: &mut Vec<String>) -> usize {
        let t = wall_ms / 1000;
        for p in &self.pairs {
            out.push(format!(
                r#"{{"time":{t},"channel":"spot.order_book_update","event":"subscribe","payload":["{p}","{}"]}}"#,
                self.interval
            ));
        }
        self.pairs.len()
    }
    fn classify(&self, f: &[u8]) -> FrameKind {
        if find_in(f, br#""event":"update""#, HEAD) || find_in(f, br#""event":"all""#, HEAD) {
            FrameKind::Data
        } else if find_in(f, br#""channel":"spot.pong""#, HEAD) {
            FrameKind::KeepAliveReply
        } else if find_in(f, br#""event":"subscribe""#, HEAD) {
            if find_in(f, br#""status":"success""#, f.len()) {
                FrameKind::Ack
            } else {
                FrameKind::Error
            }
        } else if find_in(f, br#""error":{"#, f.len()) {
            FrameKind::Error
        } else {
            FrameKind::Control
        }
    }
    fn keepalive_frame(&mut self, wall_ms: u64, out: &mut String) -> bool {
        out.clear();
        out.push_str(&format!(
            r#"{{"time":{},"channel":"spot.ping"}}"#,
            wall_ms / 1000
        ));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_subscribe_and_classify() {
        let mut b = BinanceWs::new(
            "wss://stream.binance.com:9443/",
            vec!["btcusdt@depth@100ms".into(), "btcusdt@bookTicker".into()],
        );
        assert_eq!(b.url(), "wss://stream.binance.com:9443/stream");
        let mut out = Vec::new();
        assert_eq!(b.subscribe_frames(0, &mut out), 1);
        assert_eq!(
            out[0],
            r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms","btcusdt@bookTicker"],"id":1}"#
        );
        assert_eq!(b.classify(br#"{"result":null,"id":1}"#), FrameKind::Ack);
        assert_eq!(
            b.classify(br#"{"stream":"btcusdt@depth","data":{"e":"depthUpdate"}}"#),
            FrameKind::Data
        );
        assert_eq!(
            b.classify(br#"{"error":{"code":2,"msg":"Invalid request"},"id":1}"#),
            FrameKind::Error
        );
        let mut u = BinanceWs::via_url("wss://h:1", vec!["a@depth".into(), "b@depth".into()]);
        assert_eq!(u.url(), "wss://h:1/stream?streams=a@depth/b@depth");
        assert_eq!(u.subscribe_frames(0, &mut Vec::new()), 0);
    }

    #[test]
    fn okx_subscribe_ack_error_pong() {
        let mut o = OkxWs::new(
            "wss://ws.okx.com:8443/ws/v5/public",
            "books",
            vec!["BTC-USDT".into(), "ETH-USDT".into()],
        );
        let mut out = Vec::new();
        assert_eq!(o.subscribe_frames(0, &mut out), 2);
        assert_eq!(
            out[0],
            r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"books","instId":"ETH-USDT"}]}"#
        );
        assert_eq!(o.classify(br#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}"#), FrameKind::Ack);
        assert_eq!(
            o.classify(
                br#"{"event":"error","code":"60012","msg":"Invalid request","connId":"a4d3ae55"}"#
            ),
            FrameKind::Error
        );
        assert_eq!(
            o.classify(
                br#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[]}"#
            ),
            FrameKind::Data
        );
        assert_eq!(o.classify(b"pong"), FrameKind::KeepAliveReply);
        assert_eq!(
            o.classify(br#"{"event":"channel-conn-count","channel":"books","connCount":"2"}"#),
            FrameKind::Control
        );
        let mut s = String::new();
        assert!(o.keepalive_frame(0, &mut s));
        assert_eq!(s, "ping");
    }

    #[test]
    fn kraken_subscribe_ack_error_pong() {
        let mut k = KrakenWs::new("wss://ws.kraken.com/v2", vec!["BTC/USD".into()], 10);
        let mut out = Vec::new();
        assert_eq!(k.subscribe_frames(0, &mut out), 1);
        assert_eq!(
            out[0],
            r#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10,"snapshot":true},"req_id":1}"#
        );
        let ack = br#"{"method":"subscribe","req_id":1,"result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#;
        assert_eq!(k.classify(ack), FrameKind::Ack);
        assert_eq!(
            k.classify(
                br#"{"error":"Currency pair not supported","method":"subscribe","success":false}"#
            ),
            FrameKind::Error
        );
        assert_eq!(
            k.classify(br#"{"channel":"book","type":"snapshot","data":[]}"#),
            FrameKind::Data
        );
        assert_eq!(
            k.classify(br#"{"method":"pong","req_id":2,"time_in":"x","time_out":"y"}"#),
            FrameKind::KeepAliveReply
        );
        assert_eq!(
            k.classify(br#"{"channel":"heartbeat"}"#),
            FrameKind::Control
        );
    }

    #[test]
    fn gate_subscribe_ack_error_pong() {
        let mut g = GateWs::new(
            "wss://api.gateio.ws/ws/v4/",
            vec!["BTC_USDT".into()],
            "100ms",
        );
        let mut out = Vec::new();
        assert_eq!(g.subscribe_frames(1_606_292_218_000, &mut out), 1);
        assert_eq!(
            out[0],
            r#"{"time":1606292218,"channel":"spot.order_book_update","event":"subscribe","payload":["BTC_USDT","100ms"]}"#
        );
        let ack = br#"{"time":1606292218,"time_ms":1606292218231,"channel":"spot.order_book_update","event":"subscribe","result":{"status":"success"}}"#;
        assert_eq!(g.classify(ack), FrameKind::Ack);
        let err = br#"{"time":1606292218,"channel":"spot.order_book_update","event":"subscribe","error":{"code":2,"message":"unknown currency pair"},"result":{"status":"failed"}}"#;
        assert_eq!(g.classify(err), FrameKind::Error);
        let upd = br#"{"time":1606294781,"time_ms":1606294781236,"channel":"spot.order_book_update","event":"update","result":{"t":1606294781123,"s":"BTC_USDT","U":48776301,"u":48776306}}"#;
        assert_eq!(g.classify(upd), FrameKind::Data);
        assert_eq!(g.classify(br#"{"time":1545404023,"time_ms":1545404023123,"channel":"spot.pong","event":"","result":null}"#), FrameKind::KeepAliveReply);
        let mut s = String::new();
        assert!(g.keepalive_frame(1_545_404_023_000, &mut s));
        assert_eq!(s, r#"{"time":1545404023,"channel":"spot.ping"}"#);
    }

    #[test]
    fn transport_configs_respect_venue_limits() {
        let b = BinanceWs::transport_config();
        assert!(
            b.max_age_ms.is_some_and(|a| a < 24 * 3_600_000),
            "recycle before Binance's 24 h cut"
        );
        let o = OkxWs::transport_config();
        assert!(
            o.keepalive.idle_ms.is_some_and(|i| i < 30_000),
            "OKX drops links idle for 30 s"
        );
        assert!(
            o.stale_after_ms.is_some_and(|s| s > 60_000),
            "quiet OKX books beat every ~60 s"
        );
        for c in [KrakenWs::transport_config(), GateWs::transport_config()] {
            assert!(c.keepalive.idle_ms.is_some() && c.stale_after_ms.is_some());
        }
    }
}
