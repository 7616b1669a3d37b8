//! `lyra-bench sim`: book updates per second one simulated venue publishes to a WebSocket client
//! on loopback (TLS), per dialect (Binance `depthUpdate`, OKX `books`, Kraken v2 `book` window
//! updates with their CRC32), and the publish→receive latency of each update, against a baseline
//! in the same run: a bare rustls + tungstenite server writing pre-rendered depth frames of the
//! same shape (the transport ceiling, no generator, no matching, no fan-out).
//!
//! Both sides use the same blocking client and the same flow control (the producer keeps at most
//! `WINDOW` frames in flight), so the difference is what the simulator adds per update.

#[allow(unused_imports, clippy::all)]
#[path = "../../tools/src/sim/mod.rs"]
mod sim_impl;

use std::{
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use lyra_shm::clock::mono_now_ns;
use rustls::{
    crypto::ring::default_provider, pki_types::CertificateDer, ClientConfig, ClientConnection,
    RootCertStore, ServerConnection, StreamOwned,
};
use tungstenite::{Message, WebSocket};

use crate::{
    report::{new_hist, Report},
    Opts,
};

/// Frames allowed in flight between producer and client.
const WINDOW: u64 = 20_000;
/// Stamp slots (publish times by event index).
const SLOTS: usize = 1 << 20;

type Client = WebSocket<StreamOwned<ClientConnection, TcpStream>>;

fn client(addr: std::net::SocketAddr, ca_der: &[u8], path: &str) -> anyhow::Result<Client> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    let cfg = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    let conn = ClientConnection::new(Arc::new(cfg), "127.0.0.1".try_into()?)?;
    let url = format!("wss://127.0.0.1:{}{path}", addr.port());
    let (ws, _) = tungstenite::client::client(url.as_str(), StreamOwned::new(conn, sock))
        .map_err(|e| anyhow::anyhow!("ws handshake: {e}"))?;
    Ok(ws)
}

/// The event index of a frame: Binance `"E":N`, OKX `"ts":"N"`, Kraken `"timestamp":"RFC 3339
/// with µs"` (our producers put the step number there: epoch 0, one ms per step).
fn event_index(f: &str) -> Option<u64> {
    if let Some(i) = f.find("\"timestamp\":\"") {
        // `1970-01-01T00:00:12.345000Z` → `1970-01-01T00:00:12.345Z` → 12345 ms.
        let t = f.get(i + 13..i + 13 + 23)?;
        return sim_impl::okx::sign::parse_iso_ms(&format!("{t}Z"));
    }
    let i = f
        .find("\"E\":")
        .map(|i| i + 4)
        .or_else(|| f.find("\"ts\":\"").map(|i| i + 6))?;
    let rest = &f[i..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

/// Whether a frame is a depth update (not an ack, snapshot or other stream).
fn is_update(t: &str) -> bool {
    t.contains("depthUpdate")
        || t.contains("\"action\":\"update\"")
        || (t.starts_with("{\"channel\":\"book\"") && t.contains("\"type\":\"update\""))
}

/// Reads `n` depth frames, recording publish→receive latency from `stamps`; returns
/// (histogram, first receive ns, last receive ns).
fn consume(
    ws: &mut Client,
    n: u64,
    stamps: &[AtomicU64],
    received: &AtomicU64,
) -> anyhow::Result<(hdrhistogram::Histogram<u64>, u64, u64)> {
    let mut hist = new_hist();
    let (mut first, mut last) = (0, 0);
    let mut got = 0;
    while got < n {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let t_str = t.as_str();
                if !is_update(t_str) {
                    continue;
                }
                let now = mono_now_ns();
                if first == 0 {
                    first = now;
                }
                last = now;
                if let Some(k) = event_index(t.as_str()) {
                    let sent = stamps[k as usize % SLOTS].load(Ordering::Acquire);
                    if sent != 0 && now > sent {
                        let _ = hist.record(now - sent);
                    }
                }
                got += 1;
                received.store(got, Ordering::Release);
            }
            Ok(_) => {}
            Err(e) => anyhow::bail!("client read: {e}"),
        }
    }
    Ok((hist, first, last))
}

/// Lyra's simulator, one venue of `dialect`: generator + matching + rendering + fan-out, three
/// instruments, one depth update per instrument per step (Kraken: per step whose change reaches
/// the subscribed depth window, so the producer steps until the client has its count).
fn run_sim(steps: u64, dialect: sim_impl::config::Dialect) -> anyhow::Result<Report> {
    use sim_impl::config::Dialect;
    let mut cfg = sim_impl::config::SimConfig {
        seed: 3,
        step_ms: 0,
        epoch_ms: Some(0),
        event_ms_per_step: 1,
        oracle_frames: false,
        ..Default::default()
    };
    cfg.venues.retain(|v| v.dialect == dialect);
    for v in &mut cfg.venues {
        v.lag_prob = 0.0; // every step moves every instrument: one depth update each
    }
    let n_inst = cfg.instruments.len() as u64;
    let depth = cfg.venues.first().map_or(10, |v| v.kraken_depth);
    let sim = sim_impl::Sim::start(cfg, None)?;
    let ep = sim.endpoints()[0].clone();
    let mut ws = match dialect {
        Dialect::Okx => {
            let mut ws = client(ep.addr, sim.ca_der(), "/ws/v5/public")?;
            ws.send(Message::text(
                r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"books","instId":"ETH-USDT"},{"channel":"books","instId":"SOL-USDT"}]}"#,
            ))?;
            // Three acks and three snapshots.
            for _ in 0..6 {
                let _ = ws.read()?;
            }
            ws
        }
        Dialect::Kraken => {
            let mut ws = client(ep.addr, sim.ca_der(), "/v2")?;
            ws.send(Message::text(format!(
                r#"{{"method":"subscribe","params":{{"channel":"book","symbol":["BTC/USDT","ETH/USDT","SOL/USDT"],"depth":{depth}}}}}"#
            )))?;
            // Three acks and three snapshots.
            for _ in 0..6 {
                let _ = ws.read()?;
            }
            ws
        }
        _ => {
            let mut ws = client(
                ep.addr,
                sim.ca_der(),
                "/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms/solusdt@depth@100ms",
            )?;
            ws.send(Message::text(r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#))?;
            let _ack = ws.read()?;
            ws
        }
    };
    let stamps: Arc<Vec<AtomicU64>> = Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    let received = Arc::new(AtomicU64::new(0));
    let shared = sim.shared().clone();
    let (st, rc) = (stamps.clone(), received.clone());
    let target = steps * n_inst;
    let max_steps = if dialect == Dialect::Kraken {
        u64::MAX
    } else {
        steps
    };
    let producer = thread::spawn(move || {
        let base = shared.steps.load(Ordering::Acquire);
        let mut k = 0;
        // Steps until the client has `target` updates (exactly `steps` steps for Binance and
        // OKX, a few more for Kraken, whose window does not move on every step).
        'steps: while k < max_steps && rc.load(Ordering::Acquire) < target {
            while (k * n_inst).saturating_sub(rc.load(Ordering::Acquire)) > WINDOW {
                if rc.load(Ordering::Acquire) >= target {
                    break 'steps;
                }
                thread::yield_now();
            }
            st[((base + k + 1) as usize) % SLOTS].store(mono_now_ns(), Ordering::Release);
            shared.step_all();
            k += 1;
        }
    });
    let (hist, first, last) = consume(&mut ws, target, &stamps, &received)?;
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))?;
    sim.stop();
    let per_s = (steps * n_inst) as f64 / ((last - first).max(1) as f64 / 1e9);
    let name = match dialect {
        Dialect::Okx => "lyra-sim-okx",
        Dialect::Kraken => "lyra-sim-kraken",
        Dialect::Binance => "lyra-sim-binance",
    };
    Ok(Report::from_hist("sim", name, &hist, per_s))
}

/// The baseline: a bare TLS WebSocket server writing pre-rendered depth frames.
fn run_baseline(frames: u64) -> anyhow::Result<Report> {
    let tls = sim_impl::tls::SimTls::generate()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stamps: Arc<Vec<AtomicU64>> = Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    let received = Arc::new(AtomicU64::new(0));
    let (st, rc, server_cfg) = (stamps.clone(), received.clone(), tls.server.clone());
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let server = thread::spawn(move || -> anyhow::Result<()> {
        let (sock, _) = listener.accept()?;
        sock.set_nodelay(true)?;
        let conn = ServerConnection::new(server_cfg)?;
        let stream = StreamOwned::new(conn, sock);
        let mut ws = tungstenite::accept(stream).map_err(|e| anyhow::anyhow!("accept: {e}"))?;
        let levels: Vec<(i64, i64)> = (0..3)
            .map(|i| (6_000_000_000_000 - i, 50_000_000))
            .collect();
        for k in 0..frames {
            while k.saturating_sub(rc.load(Ordering::Acquire)) > WINDOW {
                thread::yield_now();
            }
            st[(k as usize + 1) % SLOTS].store(mono_now_ns(), Ordering::Release);
            let data = sim_impl::binance::ws::depth_update(
                "BTCUSDT",
                k + 1,
                2 * k + 1,
                2 * k + 2,
                &levels[..2],
                &levels[2..],
            );
            ws.write(Message::text(format!(
                r#"{{"stream":"btcusdt@depth@100ms","data":{data}}}"#
            )))?;
            ws.flush()?;
        }
        while !d2.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    });
    let mut ws = client(addr, &tls.ca_der, "/stream")?;
    let (hist, first, last) = consume(&mut ws, frames, &stamps, &received)?;
    done.store(true, Ordering::Release);
    match server.join() {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("baseline server panicked"),
    }
    let per_s = frames as f64 / ((last - first).max(1) as f64 / 1e9);
    Ok(Report::from_hist("sim", "baseline-bare-wss", &hist, per_s))
}

/// Runs the suite.
///
/// # Errors
/// Start-up or connection failures.
pub fn run(opts: &Opts) -> anyhow::Result<Vec<Report>> {
    let steps = opts.pick(200_000, 20_000);
    use sim_impl::config::Dialect;
    Ok(vec![
        run_sim(steps, Dialect::Binance)?,
        run_sim(steps, Dialect::Okx)?,
        run_sim(steps, Dialect::Kraken)?,
        run_baseline(steps * 3)?,
    ])
}
