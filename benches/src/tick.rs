//! `feed` suite: one market-data frame written by a loopback WebSocket server → the `MdEvent` the
//! client emits for it, per frame. Lyra: the live feed handler (`feeds::live::BinanceFeed`: mio +
//! tungstenite client, simd-json parse straight into mantissas, `MdSink`). Baseline: the same frames
//! on a tungstenite client read through `serde_json` into owned strings and `rust_decimal`.
//!
//! Both clients busy-poll a non-blocking socket (what a pinned feed thread does), so neither pays
//! a scheduler wake-up the other avoids. The server sends one Binance `bookTicker` frame at a time
//! and waits until the client has emitted its event (ping-pong), so each sample is one frame's
//! latency, not a queue's; the send time is kept in a table indexed by the frame's update id.

use std::{
    io::ErrorKind,
    net::{TcpListener, TcpStream},
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use anyhow::{anyhow, Context, Result};
use hdrhistogram::Histogram;
use lyra_feeds::{
    instrument::InstrumentTable,
    live::{BinanceFeed, BinanceFeedConfig},
    sink::MdSink,
    ws::TlsRoots,
};
use lyra_shm::{
    clock::{mono_now_ns, LiveClock},
    msg::{MdEvent, MdKind, Side, VenueId},
};
use rust_decimal::Decimal;
use serde::Deserialize;
use tungstenite::Message;

use crate::{
    report::{new_hist, Report},
    Opts,
};

const SUITE: &str = "feed";

/// Frames sent before samples are kept (connection warm-up, caches, allocator).
const WARMUP: u64 = 1_000;

/// Send times by update id, and how far the client got.
struct Shared {
    sent_ns: Vec<AtomicU64>,
    done: AtomicU64,
}

/// The frame with update id `u` (real Binance layout, prices moving with `u`).
fn frame(u: u64) -> String {
    let bid = 6_000_000 + (u % 100);
    format!(
        r#"{{"stream":"btcusdt@bookTicker","data":{{"u":{u},"s":"BTCUSDT","b":"{}.{:02}000000","B":"1.25000000","a":"{}.{:02}000000","A":"0.40000000"}}}}"#,
        bid / 100,
        bid % 100,
        (bid + 1) / 100,
        (bid + 1) % 100
    )
}

/// Serves one client on `listener`: answers its subscribe, then sends ids `1..=n`, each after the
/// client has finished the previous one.
fn serve(listener: TcpListener, sh: Arc<Shared>, n: u64, frames: Vec<String>) -> Result<()> {
    let (sock, _) = listener.accept().context("accept")?;
    sock.set_nodelay(true)?;
    let mut ws = tungstenite::accept(sock).map_err(|e| anyhow!("handshake: {e}"))?;
    // The subscribe request; the ack is what the Binance hook waits for.
    let _ = ws.read().map_err(|e| anyhow!("read subscribe: {e}"))?;
    ws.send(Message::text(r#"{"result":null,"id":1}"#))
        .map_err(|e| anyhow!("ack: {e}"))?;
    for u in 1..=n {
        while sh.done.load(Ordering::Acquire) < u - 1 {
            std::hint::spin_loop();
            thread::yield_now();
        }
        let text = frames[(u - 1) as usize].clone();
        sh.sent_ns[u as usize].store(mono_now_ns(), Ordering::Release);
        ws.send(Message::text(text))
            .map_err(|e| anyhow!("send: {e}"))?;
    }
    // Let the client read the last frame before the socket closes.
    while sh.done.load(Ordering::Acquire) < n {
        thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn start_server(n: u64) -> Result<(String, Arc<Shared>, thread::JoinHandle<Result<()>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind")?;
    let addr = listener.local_addr()?;
    let sh = Arc::new(Shared {
        sent_ns: (0..=n).map(|_| AtomicU64::new(0)).collect(),
        done: AtomicU64::new(0),
    });
    let frames: Vec<String> = (1..=n).map(frame).collect();
    let s2 = sh.clone();
    let h = thread::Builder::new()
        .name("feed-bench-server".into())
        .spawn(move || serve(listener, s2, n, frames))?;
    Ok((format!("ws://{addr}"), sh, h))
}

/// Lyra's sink: the ask half of a bookTicker ends the frame; its latency is recorded there.
struct LatencySink {
    sh: Arc<Shared>,
    hist: Histogram<u64>,
}

impl MdSink for LatencySink {
    fn push(&mut self, ev: MdEvent) -> bool {
        if ev.kind == MdKind::Bbo && ev.side == Side::Sell {
            let now = mono_now_ns();
            let sent = self.sh.sent_ns[ev.seq as usize].load(Ordering::Acquire);
            if ev.seq > WARMUP {
                let _ = self.hist.record(now.saturating_sub(sent).max(1));
            }
            self.sh.done.store(ev.seq, Ordering::Release);
        }
        true
    }
}

fn run_lyra(n: u64) -> Result<Report> {
    let (url, sh, server) = start_server(n)?;
    let mut cfg = BinanceFeedConfig::new(
        VenueId(0),
        &url,
        "http://127.0.0.1:1",
        TlsRoots::WebPki,
        vec!["BTCUSDT".into()],
    );
    cfg.trades = false;
    cfg.ws.stale_after_ms = None;
    let sink = LatencySink {
        sh: sh.clone(),
        hist: new_hist(),
    };
    let mut feed = BinanceFeed::new(&cfg, InstrumentTable::new(), sink, Arc::new(LiveClock))?;
    feed.start();
    let t0 = mono_now_ns();
    while sh.done.load(Ordering::Acquire) < n {
        feed.poll(mono_now_ns());
        if mono_now_ns() - t0 > 120_000_000_000 {
            return Err(anyhow!(
                "lyra client stalled at {}",
                sh.done.load(Ordering::Acquire)
            ));
        }
    }
    let secs = (mono_now_ns() - t0) as f64 / 1e9;
    server.join().map_err(|_| anyhow!("server panicked"))??;
    let hist = feed.sink().hist.clone();
    Ok(Report::from_hist(SUITE, "lyra", &hist, n as f64 / secs))
}

#[derive(Deserialize)]
struct BaselineFrame {
    #[allow(dead_code)]
    stream: String,
    data: BaselineTicker,
}

#[derive(Deserialize)]
struct BaselineTicker {
    u: u64,
    #[allow(dead_code)]
    s: String,
    b: String,
    #[serde(rename = "B")]
    bq: String,
    a: String,
    #[serde(rename = "A")]
    aq: String,
}

fn run_baseline(n: u64) -> Result<Report> {
    let (url, sh, server) = start_server(n)?;
    let sock = TcpStream::connect(url.trim_start_matches("ws://")).context("connect")?;
    sock.set_nodelay(true)?;
    let (mut ws, _) = tungstenite::client(format!("{url}/stream"), sock)
        .map_err(|e| anyhow!("handshake: {e}"))?;
    ws.send(Message::text(
        r#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":1}"#,
    ))
    .map_err(|e| anyhow!("subscribe: {e}"))?;
    ws.get_mut().set_nonblocking(true)?;
    let mut hist = new_hist();
    let mut sum = Decimal::ZERO;
    let t0 = mono_now_ns();
    while sh.done.load(Ordering::Acquire) < n {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                if mono_now_ns() - t0 > 120_000_000_000 {
                    return Err(anyhow!("baseline client stalled"));
                }
                continue;
            }
            Err(e) => return Err(anyhow!("read: {e}")),
        };
        let Message::Text(text) = msg else { continue };
        let Ok(f) = serde_json::from_str::<BaselineFrame>(text.as_str()) else {
            continue; // the subscribe ack
        };
        let t = f.data;
        let px = |s: &str| Decimal::from_str(s).map_err(|e| anyhow!("decimal {s:?}: {e}"));
        let (b, bq, a, aq) = (px(&t.b)?, px(&t.bq)?, px(&t.a)?, px(&t.aq)?);
        // The event the baseline emits: used, so the work is not optimised away.
        sum += b + bq + a + aq;
        let now = mono_now_ns();
        let sent = sh.sent_ns[t.u as usize].load(Ordering::Acquire);
        if t.u > WARMUP {
            let _ = hist.record(now.saturating_sub(sent).max(1));
        }
        sh.done.store(t.u, Ordering::Release);
    }
    let secs = (mono_now_ns() - t0) as f64 / 1e9;
    std::hint::black_box(sum);
    server.join().map_err(|_| anyhow!("server panicked"))??;
    Ok(Report::from_hist(
        SUITE,
        "tungstenite+serde_json+rust_decimal",
        &hist,
        n as f64 / secs,
    ))
}

/// Runs the suite: Lyra then the baseline, the same frames over the same loopback.
///
/// # Errors
/// Socket or handshake failures.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let n = opts.pick(50_000, 5_000);
    Ok(vec![run_lyra(n)?, run_baseline(n)?])
}
