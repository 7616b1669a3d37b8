//! Venue book checksums recomputed from a rebuilt book (PROTOCOLS §b.3 OKX, §c Kraken).
//!
//! The book keeps `i64` mantissas, not the venue's text, so the check string is regenerated:
//! * OKX hashes the EXACT strings it sent. On the real captures those are canonical decimals
//!   (no trailing zeros: "30244", "30243.4", "0.0012029"; 16,528 of 16,528 price/size strings in
//!   `2022-05-13_okx/OKX.ws.1.0` are canonical), so [`format_canonical`] reproduces them.
//! * Kraken hashes the price and quantity text with the `.` removed and leading zeros stripped,
//!   at the precision the venue prints (v1: "58724.80000" for XBT/USD, more decimals than the
//!   REST `pair_decimals`; v2: the instrument's precision). That precision is constant per pair
//!   on every capture, so it is carried per instrument ([`KrakenPrecision`]) rather than per
//!   level, which keeps `MdEvent` and the book untouched; [`format_fixed`] renders it.
//!
//! Every function streams the check string into a CRC32 hasher piece by piece (no allocation);
//! the `*_check_string` variants build the string for diagnostics and tests.

use lyra_shm::{
    decimal::{format_canonical, format_fixed},
    msg::{MdEvent, MdKind, Px, Qty},
};

/// OKX hashes the top 25 levels of each side.
pub const OKX_DEPTH: usize = 25;
/// Kraken hashes the top 10 levels of each side.
pub const KRAKEN_DEPTH: usize = 10;

/// Feeds OKX's check string (`bid:qty:ask:qty:...`, bids and asks interleaved best first, a
/// missing side's items skipped) to `out`, piece by piece. Levels are `(px, qty)` mantissas.
pub fn okx_feed(
    bids: impl Iterator<Item = (i64, i64)>,
    asks: impl Iterator<Item = (i64, i64)>,
    px_scale: u8,
    qty_scale: u8,
    out: &mut impl FnMut(&[u8]),
) {
    let mut bids = bids.take(OKX_DEPTH);
    let mut asks = asks.take(OKX_DEPTH);
    let mut first = true;
    let mut item = |(px, qty): (i64, i64), out: &mut dyn FnMut(&[u8])| {
        if !first {
            out(b":");
        }
        first = false;
        out(format_canonical(px, px_scale).as_str().as_bytes());
        out(b":");
        out(format_canonical(qty, qty_scale).as_str().as_bytes());
    };
    loop {
        let (b, a) = (bids.next(), asks.next());
        if b.is_none() && a.is_none() {
            break;
        }
        if let Some(l) = b {
            item(l, out);
        }
        if let Some(l) = a {
            item(l, out);
        }
    }
}

/// OKX's checksum of a book: CRC32 of the check string as a SIGNED 32-bit integer.
pub fn okx_checksum(
    bids: impl Iterator<Item = (i64, i64)>,
    asks: impl Iterator<Item = (i64, i64)>,
    px_scale: u8,
    qty_scale: u8,
) -> i32 {
    let mut h = crc32fast::Hasher::new();
    okx_feed(bids, asks, px_scale, qty_scale, &mut |b| h.update(b));
    // The venue compares the CRC as a signed int: same 32 bits, reinterpreted.
    h.finalize() as i32
}

/// OKX's check string (allocates; for diagnostics and tests).
pub fn okx_check_string(
    bids: impl Iterator<Item = (i64, i64)>,
    asks: impl Iterator<Item = (i64, i64)>,
    px_scale: u8,
    qty_scale: u8,
) -> String {
    let mut s = Vec::new();
    okx_feed(bids, asks, px_scale, qty_scale, &mut |b| {
        s.extend_from_slice(b)
    });
    String::from_utf8(s).unwrap_or_default()
}

/// The number of decimals Kraken prints for one pair's prices and quantities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KrakenPrecision {
    /// Price decimals as sent.
    pub px_dec: u8,
    /// Quantity decimals as sent.
    pub qty_dec: u8,
}

/// Feeds `text` without its `.` and without leading zeros (Kraken's item rule).
fn kraken_item(text: &str, out: &mut impl FnMut(&[u8])) {
    let b = text.as_bytes();
    let mut leading = true;
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' {
            if i > start {
                out(&b[start..i]);
            }
            start = i + 1;
            continue;
        }
        if leading {
            if c == b'0' {
                start = i + 1;
                continue;
            }
            leading = false;
        }
    }
    if start < b.len() {
        out(&b[start..]);
    }
}

/// Feeds Kraken's check string (top 10 asks best first, then top 10 bids best first; each
/// price then qty, `.` removed, leading zeros stripped) to `out`.
pub fn kraken_feed(
    asks: impl Iterator<Item = (i64, i64)>,
    bids: impl Iterator<Item = (i64, i64)>,
    px_scale: u8,
    qty_scale: u8,
    prec: KrakenPrecision,
    out: &mut impl FnMut(&[u8]),
) {
    for (px, qty) in asks.take(KRAKEN_DEPTH).chain(bids.take(KRAKEN_DEPTH)) {
        kraken_item(format_fixed(px, px_scale, prec.px_dec).as_str(), out);
        kraken_item(format_fixed(qty, qty_scale, prec.qty_dec).as_str(), out);
    }
}

/// Kraken's checksum of a book (v1 and v2): CRC32 of the check string, unsigned.
pub fn kraken_checksum(
    asks: impl Iterator<Item = (i64, i64)>,
    bids: impl Iterator<Item = (i64, i64)>,
    px_scale: u8,
    qty_scale: u8,
    prec: KrakenPrecision,
) -> u32 {
    let mut h = crc32fast::Hasher::new();
    kraken_feed(asks, bids, px_scale, qty_scale, prec, &mut |b| h.update(b));
    h.finalize()
}

/// Kraken's check string (allocates; for diagnostics and tests).
pub fn kraken_check_string(
    asks: impl Iterator<Item = (i64, i64)>,
    bids: impl Iterator<Item = (i64, i64)>,
    px_scale: u8,
    qty_scale: u8,
    prec: KrakenPrecision,
) -> String {
    let mut s = Vec::new();
    kraken_feed(asks, bids, px_scale, qty_scale, prec, &mut |b| {
        s.extend_from_slice(b)
    });
    String::from_utf8(s).unwrap_or_default()
}

/// Which venue checksum a book carries, with what the recipe needs beyond the levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumRecipe {
    /// OKX: canonical text, top 25 interleaved, signed CRC32.
    Okx,
    /// Kraken v1/v2: fixed-precision text, top 10 asks then bids, unsigned CRC32.
    Kraken(KrakenPrecision),
}

/// `px` of a `Checksum` event: which recipe (0 = none given).
const RECIPE_OKX: i64 = 1;
/// `px` of a Kraken `Checksum` event.
const RECIPE_KRAKEN: i64 = 2;

impl ChecksumRecipe {
    /// Stores the recipe in a `Checksum` event's otherwise unused `px`/`qty` (`px` = 1 OKX,
    /// 2 Kraken; for Kraken `qty` = `px_dec * 256 + qty_dec`), so the book stage can verify
    /// the checksum without asking the feed thread.
    pub fn write_event(self, ev: &mut MdEvent) {
        match self {
            Self::Okx => {
                ev.px = Px(RECIPE_OKX);
                ev.qty = Qty(0);
            }
            Self::Kraken(p) => {
                ev.px = Px(RECIPE_KRAKEN);
                ev.qty = Qty((i64::from(p.px_dec) << 8) | i64::from(p.qty_dec));
            }
        }
    }

    /// The recipe a `Checksum` event carries (None for other events or an unknown recipe).
    pub fn from_event(ev: &MdEvent) -> Option<Self> {
        if ev.kind != MdKind::Checksum {
            return None;
        }
        match ev.px.0 {
            RECIPE_OKX => Some(Self::Okx),
            RECIPE_KRAKEN => {
                let px_dec = u8::try_from((ev.qty.0 >> 8) & 0xff).ok()?;
                let qty_dec = u8::try_from(ev.qty.0 & 0xff).ok()?;
                Some(Self::Kraken(KrakenPrecision { px_dec, qty_dec }))
            }
            _ => None,
        }
    }

    /// Verifies a `Checksum` event against a book whose levels are given best first:
    /// `Some(matches)`, or `None` if the event carries no recipe.
    pub fn verify_event(
        ev: &MdEvent,
        bids: impl Iterator<Item = (i64, i64)>,
        asks: impl Iterator<Item = (i64, i64)>,
        px_scale: u8,
        qty_scale: u8,
    ) -> Option<bool> {
        let recipe = Self::from_event(ev)?;
        Some(recipe.compute(bids, asks, px_scale, qty_scale) == ev.aux as u32)
    }

    /// The checksum of a book whose levels are given best first, as the u32 the venue's value
    /// is carried in (`MdEvent::aux` of a `Checksum` event holds the same 32 bits).
    pub fn compute(
        self,
        bids: impl Iterator<Item = (i64, i64)>,
        asks: impl Iterator<Item = (i64, i64)>,
        px_scale: u8,
        qty_scale: u8,
    ) -> u32 {
        match self {
            Self::Okx => okx_checksum(bids, asks, px_scale, qty_scale) as u32,
            Self::Kraken(p) => kraken_checksum(asks, bids, px_scale, qty_scale, p),
        }
    }
}

#[cfg(test)]
mod tests {
    use lyra_shm::decimal::parse_mantissa;

    use super::*;

    fn lv(v: &[(&str, &str)], scale: u8) -> Vec<(i64, i64)> {
        v.iter()
            .map(|(p, q)| {
                (
                    parse_mantissa(p.as_bytes(), scale).unwrap(),
                    parse_mantissa(q.as_bytes(), scale).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn okx_doc_strings() {
        let b = lv(&[("3366.1", "7"), ("3366", "6")], 8);
        let a = lv(&[("3366.8", "9"), ("3368", "8")], 8);
        let s = okx_check_string(b.iter().copied(), a.iter().copied(), 8, 8);
        assert_eq!(s, "3366.1:7:3366.8:9:3366:6:3368:8");
        assert_eq!(
            okx_checksum(b.iter().copied(), a.iter().copied(), 8, 8),
            -1_881_014_294
        );
        let b = lv(&[("3366.1", "7")], 8);
        let a = lv(&[("3366.8", "9"), ("3368", "8"), ("3372", "8")], 8);
        let s = okx_check_string(b.iter().copied(), a.iter().copied(), 8, 8);
        assert_eq!(s, "3366.1:7:3366.8:9:3368:8:3372:8");
        assert_eq!(
            okx_checksum(b.iter().copied(), a.iter().copied(), 8, 8),
            831_078_360
        );
    }

    #[test]
    fn recipe_round_trips_through_an_event() {
        let mut ev = MdEvent {
            kind: MdKind::Checksum,
            ..MdEvent::default()
        };
        for r in [
            ChecksumRecipe::Okx,
            ChecksumRecipe::Kraken(KrakenPrecision {
                px_dec: 5,
                qty_dec: 8,
            }),
        ] {
            r.write_event(&mut ev);
            assert_eq!(ChecksumRecipe::from_event(&ev), Some(r));
        }
        ev.kind = MdKind::Level;
        assert_eq!(ChecksumRecipe::from_event(&ev), None);
    }

    #[test]
    fn kraken_item_strips_point_and_leading_zeros() {
        let mut s = Vec::new();
        kraken_item("0.00000500", &mut |b| s.extend_from_slice(b));
        assert_eq!(s, b"500");
        s.clear();
        kraken_item("45285.2", &mut |b| s.extend_from_slice(b));
        assert_eq!(s, b"452852");
        s.clear();
        kraken_item("100.0", &mut |b| s.extend_from_slice(b));
        assert_eq!(s, b"1000");
    }
}
