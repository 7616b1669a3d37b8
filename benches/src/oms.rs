//! `oms`: approved intent -> signed Binance order request bytes ready to write (DESIGN §10).
//!
//! - `lyra`: what `Oms::submit` does before the socket write — tick/step quantization and the
//!   local filter checks (rust_decimal), the client order id, the query built into a reused
//!   buffer, HMAC-SHA256 (`ring`) hex-encoded in place, the HTTP/1.1 head around it
//!   (`BinanceRest::prepare_order`);
//! - `format-hex-string`: the common way — the same parameters with `format!`, the signature
//!   hex-encoded with `format!("{:02x}")` per byte into a fresh `String`, and a fresh request
//!   `String` per order (same HMAC, same filters, same id), i.e. allocation per order;
//! - `harness-clock`: back-to-back clock reads, the measurement's own cost (in every sample).
//!
//! Rounds alternate between implementations so machine noise lands on both. No network: the
//! request bytes are built, not sent.

use std::{fmt::Write as _, hint::black_box, sync::Arc, time::Duration};

use anyhow::Result;
use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    manager::quantize,
    sign::Credentials,
};
use lyra_shm::{
    clock::{mono_now_ns, LiveClock},
    decimal::format_canonical,
    msg::{InstrumentIdx, OrderIntent, Px, Qty, Side},
};

use crate::{
    report::{new_hist, Report},
    Opts,
};

const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";

fn spec() -> SymbolSpec {
    SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: "BTCUSDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: 2,
        qty_scale: 5,
        filters: Filters {
            tick_size: "0.01".parse().unwrap_or_default(),
            step_size: "0.00001".parse().unwrap_or_default(),
            min_qty: "0.00001".parse().unwrap_or_default(),
            min_notional: "5".parse().unwrap_or_default(),
            ..Default::default()
        },
        trading: true,
    }
}

fn intent(seq: u64) -> OrderIntent {
    OrderIntent {
        intent_seq: seq,
        px: Px(6_000_001 + (seq % 100) as i64),
        qty: Qty(12_345 + (seq % 7) as i64),
        side: if seq % 2 == 0 { Side::Buy } else { Side::Sell },
        ..Default::default()
    }
}

/// The baseline: the same request with `format!`, per-byte hex and fresh Strings.
fn baseline(key: &ring::hmac::Key, spec: &SymbolSpec, it: &OrderIntent, ts: u64) -> String {
    let (px, qty) = quantize(spec, it).unwrap_or((0, 0));
    let id = ClOrdId::new("bench1", it.intent_seq)
        .map(|c| c.to_string())
        .unwrap_or_default();
    let side = if it.side == Side::Buy { "BUY" } else { "SELL" };
    let query = format!(
        "symbol={}&side={}&type=LIMIT&timeInForce=GTC&quantity={}&price={}&newClientOrderId={}&newOrderRespType=FULL&recvWindow=5000&timestamp={}",
        spec.symbol,
        side,
        format_canonical(qty, spec.qty_scale),
        format_canonical(px, spec.px_scale),
        id,
        ts
    );
    let tag = ring::hmac::sign(key, query.as_bytes());
    let mut sig = String::new();
    for b in tag.as_ref() {
        let _ = write!(sig, "{b:02x}");
    }
    format!(
        "POST /api/v3/order?{query}&signature={sig} HTTP/1.1\r\nHost: api.binance.com\r\nX-MBX-APIKEY: {API_KEY}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The suite.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let per_round = opts.pick(200_000, 20_000);
    let rounds = 5;
    let cfg = BinanceConfig {
        rest_url: "https://api.binance.com".into(),
        recv_window_ms: 5000,
        timeout: Duration::from_secs(1),
    };
    let spec = spec();
    let mut rest = BinanceRest::new(
        &cfg,
        tls_config(None)?,
        Credentials::new(API_KEY, SECRET),
        Arc::new(LiveClock),
    )?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    let (mut h_lyra, mut h_base, mut h_clock) = (new_hist(), new_hist(), new_hist());
    let (mut t_lyra, mut t_base) = (0u64, 0u64);
    // Both produce the same bytes for the same intent (checked once, so the rows compare equals).
    {
        let it = intent(1);
        let (px, qty) = quantize(&spec, &it)?;
        let id = ClOrdId::new("bench1", 1)?;
        let ours = rest
            .prepare_order(&spec, &it, px, qty, &id, false, 1_700_000_000_000)
            .to_vec();
        let theirs = baseline(&key, &spec, &it, 1_700_000_000_000);
        anyhow::ensure!(
            ours == theirs.as_bytes(),
            "lyra and baseline requests differ"
        );
    }
    let mut seq = 0u64;
    for round in 0..=rounds {
        let record = round > 0; // round 0 warms both
        let t0 = mono_now_ns();
        for _ in 0..per_round {
            seq += 1;
            let s = mono_now_ns();
            let it = intent(seq);
            let len = match (quantize(&spec, &it), ClOrdId::new("bench1", seq)) {
                (Ok((px, qty)), Ok(id)) => rest
                    .prepare_order(&spec, &it, px, qty, &id, false, 1_700_000_000_000 + seq)
                    .len(),
                _ => 0,
            };
            black_box(len);
            let e = mono_now_ns();
            if record {
                h_lyra.saturating_record(e - s);
            }
        }
        if record {
            t_lyra += mono_now_ns() - t0;
        }
        let t0 = mono_now_ns();
        for _ in 0..per_round {
            seq += 1;
            let s = mono_now_ns();
            let r = baseline(&key, &spec, &intent(seq), 1_700_000_000_000 + seq);
            black_box(r.len());
            drop(r);
            let e = mono_now_ns();
            if record {
                h_base.saturating_record(e - s);
            }
        }
        if record {
            t_base += mono_now_ns() - t0;
        }
        for _ in 0..per_round / 10 {
            let s = mono_now_ns();
            let e = mono_now_ns();
            if record {
                h_clock.saturating_record(e - s);
            }
        }
    }
    let n = (per_round * rounds) as f64;
    Ok(vec![
        Report::from_hist("oms", "lyra", &h_lyra, n / (t_lyra as f64 / 1e9)),
        Report::from_hist(
            "oms",
            "format-hex-string",
            &h_base,
            n / (t_base as f64 / 1e9),
        ),
        Report::from_hist("oms", "harness-clock", &h_clock, 0.0),
    ])
}
