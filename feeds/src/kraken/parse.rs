//! Kraken spot book frames, WebSocket v2 and v1, -> typed header + ordered level mantissas
//! (PROTOCOLS §c).
//!
//! * v2: `{"channel":"book","type":"snapshot"|"update","data":[{"symbol","bids":[{"price",
//!   "qty"}],"asks":..,"checksum","timestamp"}]}`. Prices and quantities are JSON NUMBERS whose
//!   text carries the pair's precision; simd-json would turn them into f64 and lose it, so the
//!   frame is copied into the parse buffer with those numbers quoted (one pass, no allocation)
//!   and read as decimal text.
//! * v1: arrays `[channelID, {..}, ({..}), "book-<depth>", "<pair>"]`; snapshot keys `as`/`bs`,
//!   update keys `a`/`b` (one or two dicts), levels `[price, volume, timestamp(, "r")]`, checksum
//!   `c` as a decimal string. Levels are kept strictly in frame order (never sorted by their
//!   timestamps): the same price can change twice in one message.
//!
//! Levels of both sides go into one ordered list ([`KrakenParser::levels`]).

use lyra_shm::{
    decimal::{parse_mantissa, DecimalError},
    msg::Side,
};
use simd_json::Node;
use thiserror::Error;

use crate::{
    instrument::Resolved,
    tape::{
        as_str, as_u64, decimals_of, for_each_element, for_each_member, Nodes, TapeBuf,
        TextDecimals,
    },
};

/// Input reserved at construction (a 1000-level v1 snapshot is ~100 KB).
pub const KRAKEN_RESERVE_BYTES: usize = 192 * 1024;
/// Levels reserved at construction.
pub const KRAKEN_RESERVE_LEVELS: usize = 4096;

/// Why a Kraken frame could not be turned into events.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KrakenParseError {
    /// Not JSON.
    #[error("kraken: invalid JSON: {0}")]
    Json(String),
    /// A required field is absent or of the wrong type.
    #[error("kraken {pair}: field {field} missing or of the wrong type")]
    Field {
        /// The pair, if read.
        pair: String,
        /// The JSON key.
        field: &'static str,
    },
    /// A price, quantity or timestamp that is not a valid decimal.
    #[error("kraken {pair}: field {field}: {err}")]
    Decimal {
        /// The pair.
        pair: String,
        /// The JSON key.
        field: &'static str,
        /// What was wrong.
        err: DecimalError,
    },
    /// A pair not in the instrument table.
    #[error("kraken: unknown pair {0:?}")]
    UnknownSymbol(String),
}

impl KrakenParseError {
    /// The pair the error is about, if it got that far.
    pub fn pair(&self) -> Option<&str> {
        match self {
            Self::Field { pair, .. } | Self::Decimal { pair, .. } if !pair.is_empty() => Some(pair),
            _ => None,
        }
    }
}

/// Which protocol a frame used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KrakenProtocol {
    /// WebSocket v1 (array frames).
    V1,
    /// WebSocket v2 (`channel`/`type` objects).
    V2,
}

/// A book message's header; its levels are in [`KrakenParser::levels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KrakenBookHeader {
    /// The instrument.
    pub inst: Resolved,
    /// v1 or v2.
    pub protocol: KrakenProtocol,
    /// A full book (v1 `as`/`bs`, v2 `type: snapshot`).
    pub snapshot: bool,
    /// The venue checksum, if the message carries one.
    pub checksum: Option<u32>,
    /// Venue time, ns (v2 `timestamp`; v1 the latest level timestamp); 0 if none.
    pub exch_ts: u64,
    /// Depth from the v1 channel name (`book-1000`); v2 frames do not say.
    pub depth: Option<u16>,
    /// Most decimals seen in the message's price and quantity texts.
    pub decimals: TextDecimals,
    /// v1 levels marked `"r"` (republished).
    pub republished: u32,
}

/// A parsed Kraken frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KrakenMsg {
    /// A book snapshot or update.
    Book(KrakenBookHeader),
    /// Valid JSON with nothing for a book (status, heartbeats, acks, other channels).
    Other,
}

/// One level in frame order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KrakenLevel {
    /// Bid or ask.
    pub side: Side,
    /// Price mantissa.
    pub px: i64,
    /// Quantity mantissa (0 deletes).
    pub qty: i64,
}

/// The reusable Kraken frame parser (v1 and v2).
#[derive(Debug)]
pub struct KrakenParser {
    tape: TapeBuf,
    levels: Vec<KrakenLevel>,
}

impl Default for KrakenParser {
    fn default() -> Self {
        Self::new()
    }
}

/// Copies `frame` into `out`, quoting the numeric values of `"price"` and `"qty"` keys so their
/// exact text survives JSON parsing.
fn quote_v2_numbers(frame: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < frame.len() {
        let b = frame[i];
        out.push(b);
        i += 1;
        if b != b'"' {
            continue;
        }
        let rest = &frame[i..];
        let key_len = if rest.starts_with(b"price\"") {
            6
        } else if rest.starts_with(b"qty\"") {
            4
        } else {
            // Skip this string whole so a key inside a value is never misread.
            let mut j = i;
            while j < frame.len() && frame[j] != b'"' {
                j += if frame[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(frame.len());
            out.extend_from_slice(&frame[i..end]);
            i = end;
            continue;
        };
        out.extend_from_slice(&rest[..key_len]);
        i += key_len;
        while i < frame.len() && matches!(frame[i], b' ' | b'\t' | b'\n' | b'\r' | b':') {
            out.push(frame[i]);
            i += 1;
        }
        let start = i;
        while i < frame.len() && matches!(frame[i], b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E')
        {
            i += 1;
        }
        if i > start {
            out.push(b'"');
            out.extend_from_slice(&frame[start..i]);
            out.push(b'"');
        }
    }
}

/// `2023-10-06T17:35:55.440295Z` -> ns since the epoch (UTC only, as Kraken sends).
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = b.get(r)?;
        t.iter().try_fold(0i64, |a, &c| {
            c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut digits = 0;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 9 {
                frac_ns = frac_ns * 10 + i64::from(c - b'0');
                digits += 1;
            }
            i += 1;
        }
        for _ in digits..9 {
            frac_ns *= 10;
        }
    }
    if b.get(i) != Some(&b'Z') || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)?).ok()
}

impl KrakenParser {
    /// A parser with its buffers reserved.
    pub fn new() -> Self {
        Self {
            tape: TapeBuf::new(KRAKEN_RESERVE_BYTES),
            levels: Vec::with_capacity(KRAKEN_RESERVE_LEVELS),
        }
    }

    /// The levels of the last book message, both sides, in frame order.
    pub fn levels(&self) -> &[KrakenLevel] {
        &self.levels
    }

    /// Parses one v1 or v2 frame; `resolve` maps a pair (`XBT/USD`, `BTC/USD`) to its instrument.
    ///
    /// # Errors
    /// [`KrakenParseError`] for invalid JSON, missing fields, bad decimals, unknown pairs.
    pub fn parse(
        &mut self,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
    ) -> Result<KrakenMsg, KrakenParseError> {
        let levels = &mut self.levels;
        levels.clear();
        let first = frame.iter().copied().find(|b| !b.is_ascii_whitespace());
        if first == Some(b'[') {
            return self
                .tape
                .parse(frame, |n| walk_v1(n, resolve, levels))
                .map_err(KrakenParseError::Json)?;
        }
        quote_v2_numbers(frame, self.tape.input_mut());
        self.tape
            .parse_input(|n| walk_v2(n, resolve, levels))
            .map_err(KrakenParseError::Json)?
    }
}

fn dec_err<'a>(
    pair: &'a str,
    field: &'static str,
) -> impl Fn(DecimalError) -> KrakenParseError + 'a {
    move |err| KrakenParseError::Decimal {
        pair: pair.to_owned(),
        field,
        err,
    }
}

fn walk_v1(
    nodes: Nodes<'_, '_>,
    resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
    levels: &mut Vec<KrakenLevel>,
) -> Result<KrakenMsg, KrakenParseError> {
    // Collect the element slices: [chanId, dict.., channelName, pair].
    let mut parts: [Option<Nodes<'_, '_>>; 5] = [None; 5];
    let mut n = 0usize;
    let shaped = for_each_element::<()>(nodes, |v| {
        if n < parts.len() {
            parts[n] = Some(v);
        }
        n += 1;
        Ok(())
    });
    if shaped != Ok(true) || !(4..=5).contains(&n) {
        return Ok(KrakenMsg::Other);
    }
    let (Some(name), Some(pair)) = (parts[n - 2].and_then(as_str), parts[n - 1].and_then(as_str))
    else {
        return Ok(KrakenMsg::Other);
    };
    let Some(depth_txt) = name.strip_prefix("book") else {
        return Ok(KrakenMsg::Other);
    };
    let depth = depth_txt.strip_prefix('-').and_then(|d| d.parse().ok());
    let inst =
        resolve(pair.as_bytes()).ok_or_else(|| KrakenParseError::UnknownSymbol(pair.to_owned()))?;
    let field = |field| KrakenParseError::Field {
        pair: pair.to_owned(),
        field,
    };
    let mut h = KrakenBookHeader {
        inst,
        protocol: KrakenProtocol::V1,
        snapshot: false,
        checksum: None,
        exch_ts: 0,
        depth,
        decimals: TextDecimals::default(),
        republished: 0,
    };
    let (mut saw_snap, mut saw_upd) = (false, false);
    for part in parts.iter().take(n - 2).skip(1) {
        let Some(dict) = *part else {
            return Err(field("book"));
        };
        let mut err = None;
        let is_obj = for_each_member(dict, |k, v| {
            if err.is_some() {
                return;
            }
            let (side, snap, name) = match k {
                "as" => (Side::Sell, true, "as"),
                "bs" => (Side::Buy, true, "bs"),
                "a" => (Side::Sell, false, "a"),
                "b" => (Side::Buy, false, "b"),
                "c" => {
                    h.checksum = as_str(v).and_then(|c| c.parse().ok());
                    if h.checksum.is_none() {
                        err = Some(field("c"));
                    }
                    return;
                }
                _ => return,
            };
            if snap {
                saw_snap = true;
            } else {
                saw_upd = true;
            }
            if let Err(e) = v1_levels(v, side, inst, pair, name, levels, &mut h) {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        if !is_obj {
            return Err(field("book"));
        }
    }
    if saw_snap == saw_upd {
        // Neither (an empty dict) or both kinds in one frame: not a book message we can apply.
        return Err(field("as/bs/a/b"));
    }
    h.snapshot = saw_snap;
    Ok(KrakenMsg::Book(h))
}

fn v1_levels(
    v: Nodes<'_, '_>,
    side: Side,
    inst: Resolved,
    pair: &str,
    name: &'static str,
    out: &mut Vec<KrakenLevel>,
    h: &mut KrakenBookHeader,
) -> Result<(), KrakenParseError> {
    let bad = || KrakenParseError::Field {
        pair: pair.to_owned(),
        field: name,
    };
    let ok = for_each_element(v, |lv| {
        let (Some(Node::Array { len, .. }), Some(Node::String(p)), Some(Node::String(q))) =
            (lv.first(), lv.get(1), lv.get(2))
        else {
            return Err(bad());
        };
        let px = parse_mantissa(p.as_bytes(), inst.px_scale).map_err(dec_err(pair, name))?;
        let qty = parse_mantissa(q.as_bytes(), inst.qty_scale).map_err(dec_err(pair, name))?;
        if *len >= 3 {
            if let Some(Node::String(ts)) = lv.get(3) {
                // "1617666423.690142" seconds -> ns, exactly.
                let ns = parse_mantissa(ts.as_bytes(), 9).map_err(dec_err(pair, name))?;
                h.exch_ts = h.exch_ts.max(u64::try_from(ns).unwrap_or(0));
            }
        }
        if *len >= 4 && matches!(lv.get(4), Some(Node::String("r"))) {
            h.republished += 1;
        }
        h.decimals.px = h.decimals.px.max(decimals_of(p.as_bytes()));
        h.decimals.qty = h.decimals.qty.max(decimals_of(q.as_bytes()));
        out.push(KrakenLevel { side, px, qty });
        Ok(())
    })?;
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

fn walk_v2(
    nodes: Nodes<'_, '_>,
    resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
    levels: &mut Vec<KrakenLevel>,
) -> Result<KrakenMsg, KrakenParseError> {
    let (mut channel, mut typ, mut data) = (None, None, None);
    if !for_each_member(nodes, |k, v| match k {
        "channel" => channel = as_str(v),
        "type" => typ = as_str(v),
        "data" => data = Some(v),
        _ => {}
    }) {
        return Ok(KrakenMsg::Other);
    }
    let snapshot = match (channel, typ) {
        (Some("book"), Some("snapshot")) => true,
        (Some("book"), Some("update")) => false,
        _ => return Ok(KrakenMsg::Other),
    };
    let no_pair = |field| KrakenParseError::Field {
        pair: String::new(),
        field,
    };
    let data = data.ok_or_else(|| no_pair("data"))?;
    let mut item = None;
    let mut n = 0;
    let shaped = for_each_element::<()>(data, |v| {
        n += 1;
        item = Some(v);
        Ok(())
    });
    let (Ok(true), 1, Some(item)) = (shaped, n, item) else {
        return Err(no_pair("data"));
    };
    let mut f: [Option<Nodes<'_, '_>>; 5] = [None; 5];
    for_each_member(item, |k, v| {
        let slot = match k {
            "symbol" => 0,
            "bids" => 1,
            "asks" => 2,
            "checksum" => 3,
            "timestamp" => 4,
            _ => return,
        };
        f[slot] = Some(v);
    });
    let pair = f[0].and_then(as_str).ok_or_else(|| no_pair("symbol"))?;
    let inst =
        resolve(pair.as_bytes()).ok_or_else(|| KrakenParseError::UnknownSymbol(pair.to_owned()))?;
    let field = |field| KrakenParseError::Field {
        pair: pair.to_owned(),
        field,
    };
    let mut h = KrakenBookHeader {
        inst,
        protocol: KrakenProtocol::V2,
        snapshot,
        checksum: match f[3] {
            Some(v) => Some(
                as_u64(v)
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| field("checksum"))?,
            ),
            None => None,
        },
        exch_ts: f[4]
            .and_then(as_str)
            .and_then(parse_rfc3339_ns)
            .unwrap_or(0),
        depth: None,
        decimals: TextDecimals::default(),
        republished: 0,
    };
    for (slot, side, name) in [(1, Side::Buy, "bids"), (2, Side::Sell, "asks")] {
        let Some(v) = f[slot] else {
            return Err(field(name));
        };
        let ok = for_each_element(v, |lv| {
            let (mut p, mut q) = (None, None);
            for_each_member(lv, |k, v| match k {
                "price" => p = as_str(v),
                "qty" => q = as_str(v),
                _ => {}
            });
            let (Some(p), Some(q)) = (p, q) else {
                return Err(field(name));
            };
            let px = parse_mantissa(p.as_bytes(), inst.px_scale).map_err(dec_err(pair, name))?;
            let qty = parse_mantissa(q.as_bytes(), inst.qty_scale).map_err(dec_err(pair, name))?;
            h.decimals.px = h.decimals.px.max(decimals_of(p.as_bytes()));
            h.decimals.qty = h.decimals.qty.max(decimals_of(q.as_bytes()));
            levels.push(KrakenLevel { side, px, qty });
            Ok(())
        })?;
        if !ok {
            return Err(field(name));
        }
    }
    Ok(KrakenMsg::Book(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_v2_numbers_only() {
        let mut out = Vec::new();
        quote_v2_numbers(
            br#"{"x":"price","bids":[{"price": 45283.5,"qty":0.10000000}],"checksum":1}"#,
            &mut out,
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"x":"price","bids":[{"price": "45283.5","qty":"0.10000000"}],"checksum":1}"#
        );
    }

    #[test]
    fn rfc3339() {
        assert_eq!(
            parse_rfc3339_ns("1970-01-01T00:00:01.5Z"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2023-10-06T17:35:55.440295Z"),
            Some(1_696_613_755_440_295_000)
        );
        assert_eq!(parse_rfc3339_ns("2023-10-06 17:35:55Z"), None);
    }
}
