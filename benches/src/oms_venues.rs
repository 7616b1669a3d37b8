//! `oms-venues`: approved intent -> signed OKX and Kraken order request bytes (no network).
//!
//! - `okx-lyra` / `kraken-lyra`: `OkxRest::prepare_order` / `KrakenRest::prepare_order` — the
//!   body built into a reused buffer, the ISO timestamp (OKX) or nonce (Kraken) written in
//!   place, HMAC-SHA256 (OKX) or SHA-256 + HMAC-SHA512 (Kraken) from `ring` streamed over the
//!   parts, Base64 into a stack array, the HTTP/1.1 head around it;
//! - `okx-format-string` / `kraken-format-string`: the common way — the same parameters with
//!   `format!`, the signed text concatenated into a fresh `String`, the signature Base64-encoded
//!   into a fresh `String`, a fresh request `String` per order (same crypto, same bytes out);
//! - `harness-clock`: back-to-back clock reads, the measurement's own cost.
//!
//! Rounds alternate between implementations so machine noise lands on both.

use std::{hint::black_box, sync::Arc, time::Duration};

use anyhow::Result;
use base64::Engine;
use lyra_oms::{
    binance::{Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    kraken::{KrakenConfig, KrakenCredentials, KrakenRest},
    okx::{sign::iso_ms, OkxConfig, OkxCredentials, OkxRest},
};
use lyra_shm::{
    clock::{mono_now_ns, ManualClock},
    decimal::format_canonical,
    msg::{InstrumentIdx, OrderIntent, Side},
};
use ring::{digest, hmac};

use crate::{
    report::{new_hist, Report},
    Opts,
};

const OKX_SECRET: &str = "22582BD0CFF14C41EDBF1AB98506286D";
const KRAKEN_SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const PASSPHRASE: &str = "bench-passphrase";
/// Wall time of the fixed clock: every Kraken nonce is then `T0_US + n`, reproducible.
const T0_MS: u64 = 1_700_000_000_000;

fn spec(symbol: &str) -> SymbolSpec {
    SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: symbol.into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: 2,
        qty_scale: 5,
        filters: Filters::default(),
        trading: true,
    }
}

fn intent(seq: u64) -> OrderIntent {
    OrderIntent {
        intent_seq: seq,
        side: if seq % 2 == 0 { Side::Buy } else { Side::Sell },
        ..Default::default()
    }
}

fn px(seq: u64) -> i64 {
    6_000_000 + (seq % 100) as i64
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The OKX request the common way (a GTC limit order), byte-identical to `prepare_order`.
fn okx_baseline(key: &hmac::Key, spec: &SymbolSpec, seq: u64, ts_ms: u64) -> String {
    let it = intent(seq);
    let ts = String::from_utf8_lossy(&iso_ms(ts_ms)).into_owned();
    let side = if it.side == Side::Buy { "buy" } else { "sell" };
    let id = ClOrdId::new("bench1", seq)
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    let body = format!(
        r#"{{"instId":"{}","tdMode":"cash","side":"{side}","ordType":"limit","px":"{}","sz":"{}","clOrdId":"{id}"}}"#,
        spec.symbol,
        format_canonical(px(seq), spec.px_scale).as_str(),
        format_canonical(123, spec.qty_scale).as_str(),
    );
    let prehash = format!("{ts}POST/api/v5/trade/order{body}");
    let sig = b64(hmac::sign(key, prehash.as_bytes()).as_ref());
    format!(
        "POST /api/v5/trade/order HTTP/1.1\r\nHost: www.okx.com\r\nOK-ACCESS-KEY: {API_KEY}\r\nOK-ACCESS-SIGN: {sig}\r\nOK-ACCESS-TIMESTAMP: {ts}\r\nOK-ACCESS-PASSPHRASE: {PASSPHRASE}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The Kraken request the common way, byte-identical to `prepare_order` at nonce `nonce`.
fn kraken_baseline(key: &hmac::Key, spec: &SymbolSpec, seq: u64, nonce: u64) -> String {
    let it = intent(seq);
    let side = if it.side == Side::Buy { "buy" } else { "sell" };
    let id = ClOrdId::new("bench1", seq)
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    let body = format!(
        "nonce={nonce}&ordertype=limit&type={side}&volume={}&pair={}&price={}&cl_ord_id={id}",
        format_canonical(123, spec.qty_scale).as_str(),
        spec.symbol.replace('/', "%2F"),
        format_canonical(px(seq), spec.px_scale).as_str(),
    );
    let sha = digest::digest(&digest::SHA256, format!("{nonce}{body}").as_bytes());
    let mut msg = b"/0/private/AddOrder".to_vec();
    msg.extend_from_slice(sha.as_ref());
    let sig = b64(hmac::sign(key, &msg).as_ref());
    format!(
        "POST /0/private/AddOrder HTTP/1.1\r\nHost: api.kraken.com\r\nAPI-Key: {API_KEY}\r\nAPI-Sign: {sig}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Runs the suite.
///
/// # Errors
/// Set-up failures, or the two ways disagreeing on the bytes.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let per_round = opts.pick(100_000, 10_000);
    let rounds = 5;
    let tls = tls_config(None)?;
    let timeout = Duration::from_secs(1);
    let clock = Arc::new(ManualClock::new(T0_MS * 1_000_000));
    let mut okx = OkxRest::new(
        &OkxConfig {
            rest_url: "https://www.okx.com".into(),
            timeout,
            simulated_trading: false,
        },
        tls.clone(),
        OkxCredentials::new(API_KEY, OKX_SECRET, PASSPHRASE),
        clock.clone(),
    )?;
    let mut kraken = KrakenRest::new(
        &KrakenConfig {
            rest_url: "https://api.kraken.com".into(),
            timeout,
        },
        tls,
        KrakenCredentials::new(API_KEY, KRAKEN_SECRET)?,
        clock,
    )?;
    let okx_key = hmac::Key::new(hmac::HMAC_SHA256, OKX_SECRET.as_bytes());
    let kraken_key = hmac::Key::new(
        hmac::HMAC_SHA512,
        &base64::engine::general_purpose::STANDARD.decode(KRAKEN_SECRET)?,
    );
    let (okx_spec, kraken_spec) = (spec("BTC-USDT"), spec("BTC/USDT"));
    // Both ways produce the same bytes (checked once, so the rows compare equals).
    {
        let id = ClOrdId::new("bench1", 1)?;
        let ours = okx
            .prepare_order(&okx_spec, &intent(1), px(1), 123, &id, T0_MS)
            .to_vec();
        anyhow::ensure!(
            ours == okx_baseline(&okx_key, &okx_spec, 1, T0_MS).as_bytes(),
            "okx: lyra and baseline requests differ"
        );
        let ours = kraken
            .prepare_order(&kraken_spec, &intent(1), px(1), 123, &id)?
            .to_vec();
        let nonce = kraken.last_nonce();
        anyhow::ensure!(
            ours == kraken_baseline(&kraken_key, &kraken_spec, 1, nonce).as_bytes(),
            "kraken: lyra and baseline requests differ"
        );
    }
    let mut h = [new_hist(), new_hist(), new_hist(), new_hist()];
    let mut t = [0u64; 4];
    let mut h_clock = new_hist();
    let mut seq = 1u64;
    for round in 0..=rounds {
        let record = round > 0; // round 0 warms every way
        for (way, hist) in h.iter_mut().enumerate() {
            let t0 = mono_now_ns();
            for _ in 0..per_round {
                seq += 1;
                let s = mono_now_ns();
                let len = match way {
                    0 => match ClOrdId::new("bench1", seq) {
                        Ok(id) => okx
                            .prepare_order(&okx_spec, &intent(seq), px(seq), 123, &id, T0_MS + seq)
                            .len(),
                        Err(_) => 0,
                    },
                    1 => okx_baseline(&okx_key, &okx_spec, seq, T0_MS + seq).len(),
                    2 => match ClOrdId::new("bench1", seq) {
                        Ok(id) => kraken
                            .prepare_order(&kraken_spec, &intent(seq), px(seq), 123, &id)
                            .map_or(0, <[u8]>::len),
                        Err(_) => 0,
                    },
                    _ => kraken_baseline(&kraken_key, &kraken_spec, seq, T0_MS * 1000 + seq).len(),
                };
                black_box(len);
                let e = mono_now_ns();
                if record {
                    hist.saturating_record(e - s);
                }
            }
            if record {
                t[way] += mono_now_ns() - t0;
            }
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
    let names = [
        "okx-lyra",
        "okx-format-string",
        "kraken-lyra",
        "kraken-format-string",
    ];
    let mut out: Vec<Report> = names
        .iter()
        .zip(h.iter().zip(t))
        .map(|(name, (hist, ns))| {
            Report::from_hist("oms-venues", name, hist, n / (ns as f64 / 1e9))
        })
        .collect();
    out.push(Report::from_hist(
        "oms-venues",
        "harness-clock",
        &h_clock,
        0.0,
    ));
    Ok(out)
}
