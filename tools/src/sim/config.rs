//! Simulator configuration (TOML): seed, instruments, venues with their market profile, test
//! accounts. Every field has a default so `lyra sim` runs with no file at all.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lyra_shm::decimal::parse_mantissa;
use serde::Deserialize;

/// Every price and quantity inside the simulator is an `i64` mantissa at this scale (Binance
/// prints 8 decimals everywhere, so one scale serves all instruments).
pub const SCALE: u8 = 8;
/// 10^SCALE.
pub const ONE: i64 = 100_000_000;

/// The whole simulator configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random choice (market, dislocations, random faults).
    pub seed: u64,
    /// Generator step, ms; 0 = no generator thread (tests call `SimHandle::step`).
    pub step_ms: u64,
    /// Steps per generator tick when running (throughput knob; each step is one depth event per
    /// instrument and venue).
    pub steps_per_tick: u32,
    /// Origin of event times (`E`), ms since the epoch; `None` = wall clock at start. Fixing it
    /// makes published frames byte-identical across runs.
    pub epoch_ms: Option<u64>,
    /// Nominal ms per step used for event times.
    pub event_ms_per_step: u64,
    /// Listen on 127.0.0.1 without TLS instead (debugging only).
    pub plain_tcp: bool,
    /// Where the CA PEM, credentials file and oracle go (default: a fresh temp directory).
    pub state_dir: Option<PathBuf>,
    /// Oracle JSONL file (default `<state_dir>/oracle.jsonl`).
    pub oracle_path: Option<PathBuf>,
    /// Log every published frame in the oracle (off for throughput runs).
    pub oracle_frames: bool,
    /// Canonical instruments quoted by every venue.
    pub instruments: Vec<InstrumentCfg>,
    /// Venues.
    pub venues: Vec<VenueCfg>,
    /// Test accounts (every venue knows every account; balances are per venue).
    pub accounts: Vec<AccountCfg>,
}

/// One canonical instrument.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstrumentCfg {
    /// Base asset (`BTC`).
    pub base: String,
    /// Quote asset (`USDT`).
    pub quote: String,
    /// Starting latent mid, decimal.
    pub mid: String,
    /// Price tick, decimal.
    pub tick: String,
    /// Quantity step, decimal.
    pub step: String,
    /// Minimum order quantity, decimal.
    pub min_qty: String,
    /// Minimum notional, decimal (quote).
    pub min_notional: String,
    /// Typical resting size of one generated level, decimal (base).
    pub level_qty: String,
    /// Random-walk volatility per step, basis points.
    pub vol_bps: f64,
}

impl Default for InstrumentCfg {
    fn default() -> Self {
        Self {
            base: "BTC".into(),
            quote: "USDT".into(),
            mid: "60000".into(),
            tick: "0.01".into(),
            step: "0.00001".into(),
            min_qty: "0.00001".into(),
            min_notional: "5".into(),
            level_qty: "0.5".into(),
            vol_bps: 0.5,
        }
    }
}

/// The wire dialect a venue speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Binance Spot (REST `/api/v3`, WS combined streams, WS API user data stream).
    Binance,
    /// OKX v5 (public WS `books`/`bbo-tbt`/`trades` with seqId/prevSeqId and checksum; REST
    /// `/api/v5/trade/*` with OK-ACCESS-* signatures).
    Okx,
    /// Kraken Spot (WebSocket v2 `book` with checksums; REST `AddOrder`/`CancelOrder`/`QueryOrders`).
    Kraken,
}

/// One venue and its market profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VenueCfg {
    /// Venue name (`binance`).
    pub name: String,
    /// Its dialect.
    pub dialect: Dialect,
    /// TCP port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Quoted spread around the venue's mid, basis points.
    pub spread_bps: f64,
    /// Generated levels per side.
    pub levels: usize,
    /// Maker fee, basis points.
    pub maker_fee_bps: i64,
    /// Taker fee, basis points.
    pub taker_fee_bps: i64,
    /// Publication latency: the venue quotes the latent mid of this many steps ago.
    pub latency_steps: usize,
    /// Probability per step and instrument that the venue's quote jumps off the latent mid.
    pub jump_prob: f64,
    /// Size of a jump, basis points (decays 10% per step).
    pub jump_bps: f64,
    /// Probability per step and instrument that the venue stops updating (lags).
    pub lag_prob: f64,
    /// Steps a lag lasts.
    pub lag_steps: u32,
    /// Probability per step and instrument of a public trade from other participants.
    pub trade_prob: f64,
    /// REQUEST_WEIGHT per minute (exchangeInfo rateLimits and enforcement).
    pub weight_per_minute: u32,
    /// ORDERS per 10 s per account.
    pub orders_per_10s: u32,
    /// ORDERS per day per account.
    pub orders_per_day: u32,
    /// OKX: send real CRC32 book checksums (OKX itself fixed them to 0 from 2026-06-23; set false
    /// to mimic that, sequence numbers then carry integrity alone).
    pub okx_checksum: bool,
    /// Kraken: the one `book` depth served (10, 25, 100, 500 or 1000).
    pub kraken_depth: usize,
}

impl Default for VenueCfg {
    fn default() -> Self {
        Self {
            name: "binance".into(),
            dialect: Dialect::Binance,
            port: 0,
            spread_bps: 1.0,
            levels: 20,
            maker_fee_bps: 10,
            taker_fee_bps: 10,
            latency_steps: 0,
            jump_prob: 0.001,
            jump_bps: 30.0,
            lag_prob: 0.0005,
            lag_steps: 20,
            trade_prob: 0.05,
            weight_per_minute: 6000,
            orders_per_10s: 100,
            orders_per_day: 200_000,
            okx_checksum: true,
            kraken_depth: 10,
        }
    }
}

/// A test account; missing keys are generated at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountCfg {
    /// API key (generated if absent).
    pub api_key: Option<String>,
    /// HMAC secret (generated if absent).
    pub secret: Option<String>,
    /// OKX passphrase (generated if absent).
    pub passphrase: Option<String>,
    /// Starting balances: asset -> decimal amount.
    pub balances: Vec<(String, String)>,
    /// The key may withdraw funds (OKX `perm` `withdraw`, Kraken `withdraw-funds`): what a
    /// LIVE preflight must refuse. Default false.
    pub withdraw: bool,
}

impl Default for AccountCfg {
    fn default() -> Self {
        Self {
            api_key: None,
            secret: None,
            passphrase: None,
            balances: vec![
                ("USDT".into(), "100000".into()),
                ("BTC".into(), "1".into()),
                ("ETH".into(), "10".into()),
                ("SOL".into(), "100".into()),
            ],
            withdraw: false,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        let inst = |base: &str, mid: &str, step: &str, level: &str, vol: f64| InstrumentCfg {
            base: base.into(),
            mid: mid.into(),
            step: step.into(),
            min_qty: step.into(),
            level_qty: level.into(),
            vol_bps: vol,
            ..InstrumentCfg::default()
        };
        Self {
            seed: 1,
            step_ms: 10,
            steps_per_tick: 1,
            epoch_ms: None,
            event_ms_per_step: 10,
            plain_tcp: false,
            state_dir: None,
            oracle_path: None,
            oracle_frames: true,
            instruments: vec![
                inst("BTC", "60000", "0.00001", "0.5", 0.5),
                inst("ETH", "3000", "0.0001", "5", 0.7),
                inst("SOL", "150", "0.001", "50", 1.0),
            ],
            // Three venues with different spreads, fees and publication latencies, so that
            // fee-inclusive cross-venue arbitrage opens now and then (mostly on dislocations).
            venues: vec![
                VenueCfg::default(),
                VenueCfg {
                    name: "okx".into(),
                    dialect: Dialect::Okx,
                    spread_bps: 1.5,
                    maker_fee_bps: 8,
                    taker_fee_bps: 10,
                    latency_steps: 2,
                    ..VenueCfg::default()
                },
                VenueCfg {
                    name: "kraken".into(),
                    dialect: Dialect::Kraken,
                    spread_bps: 2.0,
                    maker_fee_bps: 16,
                    taker_fee_bps: 26,
                    latency_steps: 5,
                    jump_prob: 0.002,
                    ..VenueCfg::default()
                },
            ],
            accounts: vec![AccountCfg::default()],
        }
    }
}

/// One instrument with its decimals parsed (mantissas at [`SCALE`]).
#[derive(Debug, Clone)]
pub struct Instrument {
    /// Base asset.
    pub base: String,
    /// Quote asset.
    pub quote: String,
    /// Binance-style symbol (`BTCUSDT`).
    pub symbol: String,
    /// Starting mid.
    pub mid: i64,
    /// Tick.
    pub tick: i64,
    /// Step.
    pub step: i64,
    /// Minimum quantity.
    pub min_qty: i64,
    /// Minimum notional.
    pub min_notional: i64,
    /// Typical level size.
    pub level_qty: i64,
    /// Volatility per step, bps.
    pub vol_bps: f64,
}

/// Parses a positive decimal field at [`SCALE`], naming the field on error.
pub fn dec(field: &str, text: &str) -> Result<i64> {
    let v = parse_mantissa(text.as_bytes(), SCALE)
        .map_err(|e| anyhow::anyhow!("{field} = {text:?}: {e:?}"))?;
    if v <= 0 {
        bail!("{field} = {text:?} must be positive");
    }
    Ok(v)
}

impl SimConfig {
    /// Reads a TOML file.
    ///
    /// # Errors
    /// Unreadable file or invalid TOML/fields.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }

    /// The instruments with parsed decimals.
    ///
    /// # Errors
    /// A decimal field is malformed or not positive.
    pub fn parsed_instruments(&self) -> Result<Vec<Instrument>> {
        if self.instruments.is_empty() || self.venues.is_empty() {
            bail!("the simulator needs at least one instrument and one venue");
        }
        self.instruments
            .iter()
            .map(|i| {
                let ctx = |f: &str| format!("instrument {}/{} {f}", i.base, i.quote);
                Ok(Instrument {
                    base: i.base.clone(),
                    quote: i.quote.clone(),
                    symbol: format!("{}{}", i.base, i.quote),
                    mid: dec(&ctx("mid"), &i.mid)?,
                    tick: dec(&ctx("tick"), &i.tick)?,
                    step: dec(&ctx("step"), &i.step)?,
                    min_qty: dec(&ctx("min_qty"), &i.min_qty)?,
                    min_notional: dec(&ctx("min_notional"), &i.min_notional)?,
                    level_qty: dec(&ctx("level_qty"), &i.level_qty)?,
                    vol_bps: i.vol_bps,
                })
            })
            .collect()
    }
}

/// Formats a mantissa at [`SCALE`] with all 8 decimals, as Binance prints (`"61828.01000000"`).
pub fn fmt8(v: i64) -> String {
    let mut s = String::with_capacity(24);
    push8(&mut s, v);
    s
}

/// Appends [`fmt8`]'s text to `out` without the `fmt` machinery (frame rendering is the
/// simulator's hottest loop).
pub fn push8(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    let a = v.unsigned_abs();
    let (mut int, frac) = (a / ONE as u64, a % ONE as u64);
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (int % 10) as u8;
        int /= 10;
        if int == 0 {
            break;
        }
    }
    out.reserve(30 - i);
    for &b in &buf[i..] {
        out.push(b as char);
    }
    out.push('.');
    let mut f = [0u8; 8];
    let mut x = frac;
    for d in f.iter_mut().rev() {
        *d = b'0' + (x % 10) as u8;
        x /= 10;
    }
    for b in f {
        out.push(b as char);
    }
}

/// Writes a mantissa at [`SCALE`] into `buf` with exactly `decimals` digits after the point
/// (fewer than [`SCALE`] truncates, more pads with zeros; no point when 0), as
/// `lyra_shm::decimal::format_fixed` prints it, and returns the length. Stack-only: the OKX and
/// Kraken checksums format dozens of levels per published update.
pub fn fixed_bytes(v: i64, decimals: u8, buf: &mut [u8; 48]) -> usize {
    let a = v.unsigned_abs();
    let (mut int, frac) = (a / ONE as u64, (a % ONE as u64) as u32);
    // Integer digits backwards, two at a time from the pair table.
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while int >= 100 {
        let pair = (int % 100) as usize * 2;
        int /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if int >= 10 {
        let pair = int as usize * 2;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + int as u8;
    }
    let mut w = 0;
    if v < 0 {
        buf[0] = b'-';
        w = 1;
    }
    let n = digits.len() - i;
    buf[w..w + n].copy_from_slice(&digits[i..]);
    w += n;
    if decimals > 0 {
        buf[w] = b'.';
        w += 1;
        // The eight decimals of the scale, as four pairs.
        let mut f = [b'0'; 8];
        let (hi, lo) = ((frac / 10_000) as usize, (frac % 10_000) as usize);
        for (k, part) in [hi / 100, hi % 100, lo / 100, lo % 100]
            .into_iter()
            .enumerate()
        {
            f[2 * k..2 * k + 2].copy_from_slice(&PAIRS[part * 2..part * 2 + 2]);
        }
        // At most 27 bytes of decimals fit after a sign and 20 integer digits.
        let d = (decimals as usize).min(buf.len() - w);
        let from_scale = d.min(f.len());
        buf[w..w + from_scale].copy_from_slice(&f[..from_scale]);
        buf[w + from_scale..w + d].fill(b'0');
        w += d;
    }
    w
}

/// `"00"` … `"99"`: two decimal digits per table lookup.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Decimals of `v`'s canonical text: [`SCALE`] minus its trailing zeros (`"3366.1"` → 1).
pub fn canon_decimals(v: i64) -> u8 {
    let mut frac = (v.unsigned_abs() % ONE as u64) as u32;
    if frac == 0 {
        return 0;
    }
    let mut d = SCALE;
    while frac % 10 == 0 {
        frac /= 10;
        d -= 1;
    }
    d
}

/// Appends `v` at [`SCALE`] with `decimals` decimals ([`fixed_bytes`]) to `out`.
pub fn push_fixed(out: &mut String, v: i64, decimals: u8) {
    let mut buf = [0u8; 48];
    let n = fixed_bytes(v, decimals, &mut buf);
    out.reserve(n);
    for &b in &buf[..n] {
        out.push(b as char);
    }
}

/// Appends `v`'s canonical text (no trailing zeros, no trailing point: `"0.001"`, `"5"`), as
/// `lyra_shm::decimal::format_canonical` prints it, without allocating.
pub fn push_canon(out: &mut String, v: i64) {
    push_fixed(out, v, canon_decimals(v));
}

/// `a * b / ONE` without overflow (price × quantity = notional), rounded down.
pub fn mul(a: i64, b: i64) -> i64 {
    ((a as i128 * b as i128) / ONE as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_eight_decimals() {
        assert_eq!(fmt8(6_182_801_000_000), "61828.01000000");
        assert_eq!(fmt8(0), "0.00000000");
        assert_eq!(fmt8(1), "0.00000001");
        assert_eq!(fmt8(-150_000_000), "-1.50000000");
    }

    /// The stack formatters print what `lyra_shm::decimal` prints, over edge values and a
    /// seeded spread of magnitudes.
    #[test]
    fn push_fixed_and_canon_match_shm_decimal() {
        use lyra_shm::decimal::{format_canonical, format_fixed};
        let mut vals = vec![
            0,
            1,
            -1,
            10,
            100_000_000,
            -100_000_000,
            12_345,
            i64::MAX,
            i64::MIN + 1,
        ];
        let mut r = super::super::market::Rng::new(7, 0);
        for _ in 0..20_000 {
            // 1..=18 digits, the last 0..=9 of them zero (canonical trimming).
            let v = (r.next_u64() % 10u64.pow(1 + r.below(18) as u32)) as i64;
            let zeros = 10i64.pow(r.below(10) as u32);
            let v = v / zeros * zeros;
            vals.push(if r.unit() < 0.2 { -v } else { v });
        }
        for v in vals {
            let mut s = String::new();
            push_canon(&mut s, v);
            assert_eq!(s, format_canonical(v, SCALE).as_str(), "canon {v}");
            for d in [0u8, 1, 2, 5, 8, 10] {
                let mut s = String::new();
                push_fixed(&mut s, v, d);
                assert_eq!(s, format_fixed(v, SCALE, d).as_str(), "fixed {v} {d}");
            }
        }
    }
}
