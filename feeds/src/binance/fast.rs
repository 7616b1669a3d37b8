//! A strict scanner for Binance's canonical frame layouts, tried before simd-json.
//!
//! Why: on these 0.1–1.5 KB frames the generic simd-json tape costs about half of what
//! `serde_json` does, far from the 5x the book path needs (DESIGN §5: the win comes from parsing
//! into typed fields). Binance emits each stream with a fixed key order and no whitespace, so a
//! scanner that expects exactly that layout reads the fields in one forward pass.
//!
//! Exactness: the scanner accepts a frame only if the WHOLE frame is exactly one of the layouts
//! below — every key in order, plain unsigned integers, printable-ASCII strings without escapes,
//! prices and sizes as `digits.digits` — and returns `None` otherwise (other key order, spaces,
//! escapes, `aggTrade`, new fields, any decimal it would not parse exactly), so the simd-json
//! path decodes (or rejects with a proper error) everything else. A differential test checks
//! that both paths give identical results on every frame of the real capture.
//!
//! Layouts (`<env>` = `{"stream":"...","data":` ... `}` or absent for raw streams):
//! * `<env>{"e":"depthUpdate","E":n,"s":"SYM","U":n,"u":n,"b":[["p","q"],...],"a":[...]}`
//! * `<env>{"u":n,"s":"SYM","b":"p","B":"q","a":"p","A":"q"}`
//! * `<env>{"e":"trade","E":n,"s":"SYM","t":n,"p":"p","q":"q","T":n,"m":bool[,"M":bool]}`
//! * `{"lastUpdateId":n,"bids":[...],"asks":[...]}`

use lyra_shm::{
    decimal::pow10,
    prefetch::{prefetch_range, prefetch_read, CACHE_LINE},
};

use super::parse::{DepthHeader, Msg};
use crate::instrument::Resolved;

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline]
    fn lit(&mut self, s: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + s.len())? == s {
            self.i += s.len();
            Some(())
        } else {
            None
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A plain unsigned JSON integer (no sign, fraction or exponent; no leading zero).
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        // Binance's ids and millisecond times have 10-13 digits: two words cover them.
        match self.uint_words() {
            Some(v) => Some(v),
            None => self.uint_bytes(),
        }
    }

    /// [`Cur::uint`] for 1-15 digits read as two 8-byte words; `None` (the caller takes the
    /// byte loop, which decides) for anything else, including a bad number.
    #[inline(always)]
    fn uint_words(&mut self) -> Option<u64> {
        let i = self.i;
        let w0 = u64::from_le_bytes(self.b.get(i..i + 8)?.try_into().ok()?);
        let n0 = leading_digits(w0);
        let (v, n) = if n0 < 8 {
            (parse8(digits_to_top(w0, n0)?), n0)
        } else {
            let w1 = u64::from_le_bytes(self.b.get(i + 8..i + 16)?.try_into().ok()?);
            let n1 = leading_digits(w1);
            if n1 >= 8 {
                return None;
            }
            let hi = parse8(w0);
            let lo = if n1 == 0 {
                0
            } else {
                parse8(digits_to_top(w1, n1)?)
            };
            (hi * pow10(n1 as u8) as u64 + lo, 8 + n1)
        };
        // A leading zero is only allowed for "0" itself; the number must end at a delimiter.
        if n == 0 || (n > 1 && w0 & 0xFF == u64::from(b'0')) {
            return None;
        }
        match self.b.get(i + n) {
            Some(b',' | b'}' | b']') => {
                self.i = i + n;
                Some(v)
            }
            _ => None,
        }
    }

    /// [`Cur::uint`] byte by byte (any length, checked).
    #[cold]
    #[inline(never)]
    fn uint_bytes(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0 || (n > 1 && self.b[start] == b'0') {
            return None;
        }
        // A number must end here; a fraction or exponent means it is not a plain integer.
        match self.peek() {
            Some(b',' | b'}' | b']') => Some(v),
            _ => None,
        }
    }

    /// A string of printable ASCII without escapes; returns its contents.
    ///
    /// Eight bytes at a time ([`special_bytes`] finds the first byte that ends or refuses the
    /// string); the last few bytes of a frame byte by byte.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        self.lit(b"\"")?;
        let start = self.i;
        while let Some(w) = self.b.get(self.i..self.i + 8) {
            let m = special_bytes(u64::from_le_bytes(w.try_into().ok()?));
            if m != 0 {
                let end = self.i + (m.trailing_zeros() / 8) as usize;
                if self.b[end] != b'"' {
                    return None;
                }
                self.i = end + 1;
                return Some(&self.b[start..end]);
            }
            self.i += 8;
        }
        loop {
            let c = *self.b.get(self.i)?;
            if c == b'"' {
                break;
            }
            if !(0x20..0x7f).contains(&c) || c == b'\\' {
                return None;
            }
            self.i += 1;
        }
        let s = &self.b[start..self.i];
        self.i += 1;
        Some(s)
    }

    #[inline]
    fn boolean(&mut self) -> Option<bool> {
        if self.lit(b"true").is_some() {
            Some(true)
        } else {
            self.lit(b"false").map(|()| false)
        }
    }

    /// `"digits[.digits]"` straight to a mantissa in one pass (no separate string scan).
    #[inline(always)]
    fn quoted_dec(&mut self, scale: u8) -> Option<i64> {
        match self.word_dec(scale) {
            Some(v) => Some(v),
            None => self.quoted_dec_bytes(scale),
        }
    }

    /// [`Cur::quoted_dec`] byte by byte: every shape the word path does not take.
    #[cold]
    #[inline(never)]
    fn quoted_dec_bytes(&mut self, scale: u8) -> Option<i64> {
        let b = self.b;
        let mut i = self.i;
        if b.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        let start = i;
        let mut iv: u64 = 0;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            iv = iv * 10 + u64::from(d);
            i += 1;
            if i - start > 18 {
                return None;
            }
        }
        if i == start {
            return None;
        }
        let (mut fv, mut nf) = (0u64, 0usize);
        if b.get(i) == Some(&b'.') {
            i += 1;
            let fs = i;
            while let Some(&c) = b.get(i) {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                fv = fv * 10 + u64::from(d);
                i += 1;
                if i - fs > 18 {
                    return None;
                }
            }
            nf = i - fs;
            if nf == 0 {
                return None;
            }
        }
        if b.get(i) != Some(&b'"') || nf > usize::from(scale) {
            return None;
        }
        self.i = i + 1;
        let iv = i64::try_from(iv).ok()?;
        let fv = i64::try_from(fv).ok()?;
        iv.checked_mul(pow10(scale))?
            .checked_add(fv.checked_mul(pow10(scale - nf as u8))?)
    }

    /// Binance's usual text, `"` + 1-7 integer digits + '.' + exactly 8 fraction digits + `"`,
    /// parsed as two 8-byte words with one validity branch; `None` (the caller takes the byte
    /// loop) for any other shape or a scale below 8.
    #[inline(always)]
    fn word_dec(&mut self, scale: u8) -> Option<i64> {
        let i = self.i;
        let b = self.b;
        if scale < 8 || b.get(i) != Some(&b'"') {
            return None;
        }
        let w0 = u64::from_le_bytes(b.get(i + 1..i + 9)?.try_into().ok()?);
        // k integer digits, then (checked below) the point.
        let k = leading_digits(w0);
        let int_word = digits_to_top(w0, k)?;
        let frac_at = i + k + 2;
        let w1 = u64::from_le_bytes(b.get(frac_at..frac_at + 8)?.try_into().ok()?);
        if (w0 >> (8 * k)) & 0xFF != u64::from(b'.')
            || !all_digits(w1)
            || b.get(frac_at + 8) != Some(&b'"')
        {
            return None;
        }
        let iv = parse8(int_word) as i64;
        let fv = parse8(w1) as i64;
        // iv < 10^7 and fv < 10^8, so iv * 10^s + fv * 10^(s-8) < 10^18 for s <= 11: no
        // overflow possible there; larger scales are checked.
        let m = if scale == 8 {
            iv * 100_000_000 + fv
        } else if scale <= 11 {
            iv * pow10(scale) + fv * pow10(scale - 8)
        } else {
            iv.checked_mul(pow10(scale))?
                .checked_add(fv.checked_mul(pow10(scale - 8))?)?
        };
        self.i = frac_at + 9;
        Some(m)
    }

    /// `[["p","q"],...]` into `out`.
    #[inline]
    fn levels(&mut self, inst: Resolved, out: &mut Vec<(i64, i64)>) -> Option<()> {
        out.clear();
        self.lit(b"[")?;
        if self.lit(b"]").is_some() {
            return Some(());
        }
        // Binance's usual scales (8/8) take the fused one-window pair parser.
        let fused = inst.px_scale == 8 && inst.qty_scale == 8;
        loop {
            let (p, q) = match if fused { self.pair8() } else { None } {
                Some(pq) => pq,
                None => self.pair(inst)?,
            };
            out.push((p, q));
            prefetch_read(self.b, self.i + PREFETCH_AHEAD);
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// One `["p","q"]` level, each value parsed by [`Cur::quoted_dec`] (any shape, checked).
    #[cold]
    #[inline(never)]
    fn pair(&mut self, inst: Resolved) -> Option<(i64, i64)> {
        self.lit(b"[")?;
        let p = self.quoted_dec(inst.px_scale)?;
        self.lit(b",")?;
        let q = self.quoted_dec(inst.qty_scale)?;
        self.lit(b"]")?;
        Some((p, q))
    }

    /// One `["p","q"]` level at scales 8/8 in Binance's usual shape (each value `"` + 1-7
    /// integer digits + `.` + exactly 8 fraction digits + `"`), from one fixed window of the
    /// frame: one bounds check for the pair, every check of both values in one branch, and the
    /// quantity's position known before the price is parsed, so the four 8-digit parses run
    /// side by side instead of one after the other. `None` (cursor unmoved: the caller takes
    /// [`Cur::pair`], which decides) for any other shape, or when the frame has fewer than
    /// [`PAIR_WINDOW`] bytes left (its last level or two).
    #[inline(always)]
    fn pair8(&mut self) -> Option<(i64, i64)> {
        let i = self.i;
        let s: &[u8; PAIR_WINDOW] = self.b.get(i..i + PAIR_WINDOW)?.try_into().ok()?;
        // Every offset below stays inside the window for any k, k2 in 0..=8 (leading_digits'
        // range), so no read can fail before the checks reject a shape: the largest is
        // s[q + k2 + 10] with q = k + 14, at most 40 (the 4-byte read at k + 11 ends at k + 14,
        // at most 22).
        let w0 = word_at(s, 2);
        let k = leading_digits(w0);
        let w1 = word_at(s, k + 3);
        let q = k + 14;
        let w2 = word_at(s, q);
        let k2 = leading_digits(w2);
        let w3 = word_at(s, q + k2 + 1);
        // The punctuation as a few whole-word compares folded into one value (0 = all in
        // place): `["`, the `","` between the values and the closing `"]`, and both points.
        let punct = (u16_at(s, 0) ^ u16::from_le_bytes(*b"[\""))
            | (u16_at(s, q + k2 + 9) ^ u16::from_le_bytes(*b"\"]"))
            | u16::from(s[2 + k] ^ b'.')
            | u16::from(s[q + k2] ^ b'.');
        let sep = (u32_at(s, k + 11) ^ u32::from_le_bytes(*b"\",\"\0")) & 0x00FF_FFFF;
        let ok = (u32::from(punct) | sep == 0)
            & (k.wrapping_sub(1) < 7)
            & (k2.wrapping_sub(1) < 7)
            & all_digits(w1)
            & all_digits(w3);
        if !ok {
            return None;
        }
        // k, k2 in 1..=7 here; integer parts < 10^7, fractions < 10^8: no overflow at scale 8.
        let p = parse8(top_digits(w0, k)) * 100_000_000 + parse8(w1);
        let qt = parse8(top_digits(w2, k2)) * 100_000_000 + parse8(w3);
        self.i = i + q + k2 + 11;
        Some((p as i64, qt as i64))
    }

    #[inline]
    fn at_end(&self) -> bool {
        self.i == self.b.len()
    }
}

/// The bytes of `w` that end or refuse a [`Cur::string`]: `"`, `\\`, and anything outside
/// printable ASCII (below 0x20, 0x7f and up). The LOWEST flagged byte is exact (the bit `0x80` of
/// its byte is set); bytes above it may be flagged falsely (a borrow from a flagged byte
/// propagates upward), so callers use only the lowest.
#[inline(always)]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Zero bytes of `x`, exact at the lowest (the classic has-zero-byte test).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    // Bytes below 0x20: `byte - 0x20` borrows; exact at the lowest like `zero`.
    let low = w.wrapping_sub(0x20 * ONES) & !w & HIGH;
    zero(w ^ (u64::from(b'"') * ONES))
        | zero(w ^ (u64::from(b'\\') * ONES))
        | zero(w ^ (0x7f * ONES))
        | low
        | (w & HIGH)
}

/// How many of `w`'s bytes, from the first (lowest), are ASCII digits before the first
/// non-digit: 0..=8.
#[inline(always)]
fn leading_digits(w: u64) -> usize {
    // x = byte - '0' (as xor: digits map to 0..=9). A byte is a non-digit iff x >= 10: then
    // x + 0x76 or x itself has the high bit. A byte >= 0x8A carries into its neighbour, but it
    // is itself flagged first, so the lowest flagged byte is exact.
    let x = w ^ 0x3030_3030_3030_3030;
    let non_digit = (x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080;
    (non_digit.trailing_zeros() / 8) as usize
}

/// The first `n` (1..=7) bytes of `w` (digits) moved to the top with '0' below: an 8-digit
/// word of the same value for [`parse8`]. `None` for `n` = 0 or 8.
#[inline(always)]
fn digits_to_top(w: u64, n: usize) -> Option<u64> {
    if n == 0 || n >= 8 {
        return None;
    }
    Some((w << (8 * (8 - n))) | (0x3030_3030_3030_3030u64 >> (8 * n)))
}

/// Bytes [`Cur::pair8`] reads at once: the longest pair it takes (`["` + 7 + `.` + 8 + `","` +
/// 7 + `.` + 8 + `"]`) is 39 bytes; the window is 41 so that the reads for any digit count the
/// checks may see before they reject (0..=8 on each side) stay inside it.
const PAIR_WINDOW: usize = 41;

/// How far ahead of the cursor the scanner asks for the frame's bytes: about 25 levels, far
/// enough to cover a memory access at the rate the level loop reads.
const PREFETCH_AHEAD: usize = 1024;

/// Frames up to this size (a bookTicker or trade is about 150-250 bytes) are not prefetched.
const PREFETCH_MIN_FRAME: usize = 256;

/// The 8 bytes of `s` at `o` as a little-endian word (`o + 8 <= PAIR_WINDOW` by the callers'
/// arithmetic).
#[inline(always)]
fn word_at(s: &[u8; PAIR_WINDOW], o: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[o..o + 8]);
    u64::from_le_bytes(w)
}

/// The 2 bytes of `s` at `o` as a little-endian `u16` (`o + 2 <= PAIR_WINDOW` by the callers'
/// arithmetic).
#[inline(always)]
fn u16_at(s: &[u8; PAIR_WINDOW], o: usize) -> u16 {
    u16::from_le_bytes([s[o], s[o + 1]])
}

/// The 4 bytes of `s` at `o` as a little-endian `u32` (`o + 4 <= PAIR_WINDOW` by the callers'
/// arithmetic).
#[inline(always)]
fn u32_at(s: &[u8; PAIR_WINDOW], o: usize) -> u32 {
    u32::from_le_bytes([s[o], s[o + 1], s[o + 2], s[o + 3]])
}

/// [`digits_to_top`] without the range check (the caller checked `n` in 1..=7; for other `n`
/// the result is unused, and the shifts are masked so they cannot overflow).
#[inline(always)]
fn top_digits(w: u64, n: usize) -> u64 {
    let n = (n & 7) as u32;
    w.wrapping_shl(8 * (8 - n)) | 0x3030_3030_3030_3030u64.wrapping_shr(8 * n)
}

/// Whether all 8 bytes of `w` are ASCII digits.
#[inline(always)]
fn all_digits(w: u64) -> bool {
    // High nibble 3 and (byte + 6) still high nibble 3 <=> '0'..='9'. A byte >= 0xFA that
    // carries into its neighbour fails its own high-nibble test first.
    (w & 0xF0F0_F0F0_F0F0_F0F0)
        | ((w.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4)
        == 0x3333_3333_3333_3333
}

/// The value of 8 ASCII digits (first digit in the lowest byte) in three multiply-shift steps:
/// each step multiplies by `scale * 2^k + 1`, so every lane adds `scale` times its lower
/// neighbour to itself, pairing digits into 2-, then 4-, then 8-digit groups (no lane can carry:
/// 99 < 2^8, 9999 < 2^16, 99999999 < 2^32).
#[inline(always)]
fn parse8(w: u64) -> u64 {
    let w = (w & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul((10 << 8) | 1) >> 8;
    let w = (w & 0x00FF_00FF_00FF_00FF).wrapping_mul((100 << 16) | 1) >> 16;
    (w & 0x0000_FFFF_0000_FFFF).wrapping_mul((10_000 << 32) | 1) >> 32
}

/// `digits[.digits]` (unquoted) -> mantissa via the scanner; `None` where it would not answer.
#[cfg(test)]
fn dec(t: &[u8], scale: u8) -> Option<i64> {
    let mut q = Vec::with_capacity(t.len() + 2);
    q.push(b'"');
    q.extend_from_slice(t);
    q.push(b'"');
    let mut c = Cur { b: &q, i: 0 };
    let v = c.quoted_dec(scale)?;
    c.at_end().then_some(v)
}

/// The envelope's head, if present: `{"stream":"...","data":`. Returns whether it was there.
#[inline]
fn envelope(c: &mut Cur<'_>) -> Option<bool> {
    if c.lit(b"{\"stream\":").is_none() {
        return Some(false);
    }
    c.string()?;
    c.lit(b",\"data\":")?;
    Some(true)
}

/// Tries the canonical layouts. `None` = not one of them exactly: use the general path.
pub(crate) fn scan(
    frame: &[u8],
    resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
    snapshot_inst: Option<Resolved>,
    bids: &mut Vec<(i64, i64)>,
    asks: &mut Vec<(i64, i64)>,
) -> Option<Msg> {
    // A frame with levels is read front to back once: start its next lines on their way now,
    // before the header, and keep [`PREFETCH_AHEAD`] bytes ahead of the level loop (see
    // [`Cur::levels`]). A frame fresh from the socket is already in cache and these are no-ops;
    // one that is not (a replay, a large frame, a busy core's evicted buffer) no longer waits
    // for each line in turn. Tickers and trades (one to three lines) skip it for one compare.
    if frame.len() > PREFETCH_MIN_FRAME {
        prefetch_range(frame, CACHE_LINE, PREFETCH_AHEAD);
    }
    let mut c = Cur { b: frame, i: 0 };
    if c.lit(b"{\"lastUpdateId\":").is_some() {
        let inst = snapshot_inst?;
        let last_id = c.uint()?;
        c.lit(b",\"bids\":")?;
        c.levels(inst, bids)?;
        c.lit(b",\"asks\":")?;
        c.levels(inst, asks)?;
        c.lit(b"}")?;
        return c.at_end().then_some(Msg::Snapshot { inst, last_id });
    }
    let env = envelope(&mut c)?;
    c.lit(b"{\"")?;
    let msg = match c.peek()? {
        b'u' => {
            c.lit(b"u\":")?;
            let update_id = c.uint()?;
            c.lit(b",\"s\":")?;
            let inst = resolve(c.string()?)?;
            c.lit(b",\"b\":")?;
            let bid_px = c.quoted_dec(inst.px_scale)?;
            c.lit(b",\"B\":")?;
            let bid_qty = c.quoted_dec(inst.qty_scale)?;
            c.lit(b",\"a\":")?;
            let ask_px = c.quoted_dec(inst.px_scale)?;
            c.lit(b",\"A\":")?;
            let ask_qty = c.quoted_dec(inst.qty_scale)?;
            c.lit(b"}")?;
            Msg::BookTicker {
                inst,
                update_id,
                bid_px,
                bid_qty,
                ask_px,
                ask_qty,
            }
        }
        b'e' => {
            c.lit(b"e\":")?;
            let kind = c.string()?;
            c.lit(b",\"E\":")?;
            let e_ms = c.uint()?;
            c.lit(b",\"s\":")?;
            let inst = resolve(c.string()?)?;
            let exch_ts = e_ms.saturating_mul(1_000_000);
            match kind {
                b"depthUpdate" => {
                    c.lit(b",\"U\":")?;
                    let first_id = c.uint()?;
                    c.lit(b",\"u\":")?;
                    let last_id = c.uint()?;
                    c.lit(b",\"b\":")?;
                    c.levels(inst, bids)?;
                    c.lit(b",\"a\":")?;
                    c.levels(inst, asks)?;
                    c.lit(b"}")?;
                    Msg::Depth(DepthHeader {
                        inst,
                        first_id,
                        last_id,
                        exch_ts,
                    })
                }
                b"trade" => {
                    c.lit(b",\"t\":")?;
                    let trade_id = c.uint()?;
                    c.lit(b",\"p\":")?;
                    let px = c.quoted_dec(inst.px_scale)?;
                    c.lit(b",\"q\":")?;
                    let qty = c.quoted_dec(inst.qty_scale)?;
                    c.lit(b",\"T\":")?;
                    let ts = c.uint()?.saturating_mul(1_000_000);
                    c.lit(b",\"m\":")?;
                    let buyer_maker = c.boolean()?;
                    if c.lit(b",\"M\":").is_some() {
                        c.boolean()?;
                    }
                    c.lit(b"}")?;
                    Msg::Trade {
                        inst,
                        trade_id,
                        px,
                        qty,
                        ts,
                        buyer_maker,
                    }
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    if env {
        c.lit(b"}")?;
    }
    c.at_end().then_some(msg)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use lyra_shm::decimal::parse_mantissa;
    use rust_decimal::Decimal;

    use super::*;

    /// The reference: `rust_decimal` scaled by 10^scale, exact or refused (plain
    /// `digits[.digits]` only: the scanner takes no sign or exponent).
    fn reference(text: &str, scale: u8) -> Option<i64> {
        let plain = text.bytes().filter(|&c| c == b'.').count() <= 1
            && text.bytes().all(|c| c == b'.' || c.is_ascii_digit())
            && !text.starts_with('.')
            && !text.ends_with('.');
        if !plain {
            return None;
        }
        let scaled = Decimal::from_str(text)
            .ok()?
            .checked_mul(Decimal::from(pow10(scale)))?;
        if !scaled.fract().is_zero() {
            return None;
        }
        i64::try_from(scaled.trunc()).ok()
    }

    /// The scanner's answer must be the reference's wherever the scanner answers, and it may
    /// decline (fall back to simd-json) only where the reference refuses too or the text has a
    /// shape the scanner leaves to the general path (over 18 digits in a part, or more fraction
    /// digits than the scale, even trailing zeros).
    fn check(t: &str, scale: u8) {
        let got = dec(t.as_bytes(), scale);
        let want = reference(t, scale);
        if let Some(v) = got {
            assert_eq!(Some(v), want, "{t:?} at scale {scale}");
            assert_eq!(
                Ok(v),
                parse_mantissa(t.as_bytes(), scale),
                "{t:?} at {scale}"
            );
        } else {
            let long_part = t.split('.').any(|p| p.len() > 18);
            let frac_digits = t.split_once('.').map_or(0, |(_, f)| f.len());
            assert!(
                want.is_none() || long_part || frac_digits > usize::from(scale),
                "{t:?} at {scale} refused"
            );
        }
    }

    #[test]
    fn dec_agrees_with_rust_decimal_on_edge_cases() {
        for t in [
            "61737.63000000",
            "0.00000000",
            "0.35130000",
            "5",
            "12.5",
            "0.1",
            "1.",
            ".5",
            ".",
            "",
            "1.234567891",
            "x.1",
            "1e5",
            "-1.0",
            "+1.0",
            "1.2.3",
            "999999999999999999.0",
            "9999999999999999999.0",
            "0.999999999999999999",
            "00012.50000000",
            "0000000.00000001",
            "9999999.99999999",
            "12345678.12345678",
            "1234567.12345678",
            "1.1234567x",
            "1.12345678x",
            "1 .12345678",
            "1.1234 678",
            "\u{7f}.12345678",
            "9.99999999",
            "92233720368.54775807",
            "92233720368.54775808",
        ] {
            for scale in [0u8, 2, 8, 9, 10, 11, 12, 18] {
                check(t, scale);
            }
        }
        assert_eq!(dec(b"61737.63000000", 8), Some(6_173_763_000_000));
        assert_eq!(dec(b"0.00100000", 8), Some(100_000));
        assert_eq!(dec(b"0.00000001", 8), Some(1));
        assert_eq!(dec(b"9.99999999", 10), Some(99_999_999_900));
        assert_eq!(dec(b"9999999.99999999", 11), Some(999_999_999_999_999_000));
        assert_eq!(dec(b"9999999.99999999", 12), None, "overflow is refused");
        assert_eq!(dec(b"1.", 8), None);
        assert_eq!(dec(b"-1.0", 8), None);
    }

    #[test]
    fn dec_word_path_every_shape_and_every_bad_byte() {
        // Every integer width the word path takes (and the ones it hands on), with fractions of
        // 7, 8 and 9 digits, at the scales around its limits.
        let ints = [
            "0", "1", "12", "100", "61737", "1234567", "9999999", "12345678", "00",
        ];
        for int in ints {
            for frac in [
                "00000000",
                "12345678",
                "99999999",
                "1234567",
                "123456789",
                "1",
            ] {
                for scale in [7u8, 8, 9, 11, 12, 18] {
                    check(&format!("{int}.{frac}"), scale);
                }
            }
        }
        // One bad byte at each position of the canonical text: refused or exact, never a panic.
        let base = b"61737.63000000".to_vec();
        for pos in 0..base.len() {
            for bad in (0u8..=255)
                .step_by(3)
                .chain([b'.', b'"', b'/', b':', b'0', b'9'])
            {
                let mut t = base.clone();
                t[pos] = bad;
                if let Ok(s) = std::str::from_utf8(&t) {
                    check(s, 8);
                } else {
                    assert_eq!(dec(&t, 8), None);
                }
            }
        }
    }

    /// `[["p","q"],...]` + `tail` through [`Cur::levels`] at scales 8/8 (the fused pair path)
    /// and, value by value, through [`Cur::quoted_dec`] (the reference path, via scale 8/8
    /// spelled as a non-fused instrument would take it).
    /// Each answer carries where the cursor stopped.
    #[allow(clippy::type_complexity)]
    fn levels_both(
        text: &[u8],
    ) -> (
        Option<(Vec<(i64, i64)>, usize)>,
        Option<(Vec<(i64, i64)>, usize)>,
    ) {
        let run = |fused: bool| {
            let inst = Resolved {
                idx: lyra_shm::msg::InstrumentIdx(0),
                px_scale: 8,
                qty_scale: 8,
            };
            let mut c = Cur { b: text, i: 0 };
            let mut out = Vec::new();
            let got = if fused {
                c.levels(inst, &mut out)
            } else {
                // The same loop, every pair through the checked per-value path.
                (|| {
                    c.lit(b"[")?;
                    if c.lit(b"]").is_some() {
                        return Some(());
                    }
                    loop {
                        out.push(c.pair(inst)?);
                        match c.peek()? {
                            b',' => c.i += 1,
                            b']' => {
                                c.i += 1;
                                return Some(());
                            }
                            _ => return None,
                        }
                    }
                })()
            };
            got.map(|()| (out, c.i))
        };
        (run(true), run(false))
    }

    #[test]
    fn fused_pairs_agree_with_the_per_value_path_on_every_bad_byte() {
        let good = br#"[["61737.63000000","0.00000000"],["1.00000001","9999999.99999999"],["9999999.99999999","1.00000000"]]"#;
        let mut base = good.to_vec();
        base.extend_from_slice(b"}}}}}}}}}}}}}}}}");
        let (f, r) = levels_both(&base);
        assert_eq!(
            f,
            Some((
                vec![
                    (6_173_763_000_000, 0),
                    (100_000_001, 999_999_999_999_999),
                    (999_999_999_999_999, 100_000_000)
                ],
                good.len()
            ))
        );
        assert_eq!(f, r);
        for pos in 0..good.len() {
            for bad in (0u8..=255)
                .step_by(5)
                .chain([b'.', b'"', b',', b'[', b']', b'0', b'9'])
            {
                let mut t = base.clone();
                t[pos] = bad;
                let (f, r) = levels_both(&t);
                assert_eq!(f, r, "byte {bad} at {pos}");
            }
        }
        // Other widths: 0-9 integer digits, 7-9 fraction digits, on either value.
        for int in ["", "0", "12", "1234567", "12345678", "123456789"] {
            for frac in ["1234567", "12345678", "123456789"] {
                for (p, q) in [(int, "1"), ("1", int)] {
                    let mut t =
                        format!(r#"[["{p}.{frac}","{q}.12345678"],["5.00000000","6.00000000"]]"#);
                    t.push_str(&"}".repeat(40));
                    let (f, r) = levels_both(t.as_bytes());
                    assert_eq!(f, r, "{t}");
                }
            }
        }
    }

    /// The byte-by-byte definition [`Cur::string`] must match: printable ASCII without `\\` up to
    /// the closing `"`; the contents and where the cursor stops.
    fn string_reference(t: &[u8]) -> Option<(Vec<u8>, usize)> {
        if t.first() != Some(&b'"') {
            return None;
        }
        for (j, &c) in t.iter().enumerate().skip(1) {
            if c == b'"' {
                return Some((t[1..j].to_vec(), j + 1));
            }
            if !(0x20..0x7f).contains(&c) || c == b'\\' {
                return None;
            }
        }
        None
    }

    #[test]
    fn string_word_scan_agrees_with_the_byte_definition_on_every_byte() {
        // Lengths across the 8-byte steps and the byte-loop tail; one byte of each replaced by
        // every value (the special ones included), with and without room after the string.
        for len in 0..20usize {
            let body: Vec<u8> = (0..len).map(|j| b'A' + (j % 26) as u8).collect();
            for tail in [&b""[..], b",\"E\":1}", b"}}}}}}}}}}}}"] {
                let mut base = vec![b'"'];
                base.extend_from_slice(&body);
                base.push(b'"');
                base.extend_from_slice(tail);
                for pos in 1..base.len() {
                    for bad in 0..=255u8 {
                        let mut t = base.clone();
                        t[pos] = bad;
                        let mut c = Cur { b: &t, i: 0 };
                        let got = c.string().map(|s| (s.to_vec(), c.i));
                        assert_eq!(got, string_reference(&t), "{t:?}");
                    }
                }
            }
        }
    }

    /// `digits` (unquoted, followed by `end`) through the scanner's integer reader.
    fn uint(digits: &[u8], end: u8) -> Option<u64> {
        let mut t = digits.to_vec();
        t.push(end);
        let mut c = Cur { b: &t, i: 0 };
        let v = c.uint()?;
        assert_eq!(c.i, digits.len(), "stops at the delimiter");
        Some(v)
    }

    #[test]
    fn uint_agrees_with_the_standard_parser() {
        let mut cases: Vec<String> = [
            "0",
            "00",
            "01",
            "7",
            "1723161253000",
            "49588211117",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "123456789012345",
            "1234567890123456",
            "12345678",
            "123456789",
            "1.5",
            "1e3",
            "-1",
            "",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for n in 1..=20u32 {
            cases.push("9".repeat(n as usize));
            cases.push(format!("1{}", "0".repeat(n as usize - 1)));
        }
        for t in &cases {
            for end in [b',', b'}', b']', b' ', b'x'] {
                // A frame that ends right after the number exercises the short-input path.
                let want = (!t.is_empty()
                    && t.bytes().all(|c| c.is_ascii_digit())
                    && !(t.len() > 1 && t.starts_with('0'))
                    && matches!(end, b',' | b'}' | b']'))
                .then(|| t.parse::<u64>().ok())
                .flatten();
                assert_eq!(
                    uint(t.as_bytes(), end),
                    want,
                    "{t:?} then {:?}",
                    end as char
                );
            }
        }
    }

    /// `v` (< 10^8) as the 8-digit little-endian word the scanner reads.
    fn word8(v: u64) -> u64 {
        u64::from_le_bytes(format!("{v:08}").as_bytes().try_into().unwrap())
    }

    #[test]
    fn parse8_every_digit_in_every_place() {
        for place in 0..8 {
            for d in 0..10u64 {
                let v = d * 10u64.pow(place);
                assert_eq!(parse8(word8(v)), v);
                let v = 99_999_999 - (9 - d) * 10u64.pow(place);
                assert_eq!(parse8(word8(v)), v);
            }
        }
        assert_eq!(leading_digits(word8(12_345_678)), 8);
        assert_eq!(leading_digits(u64::from_le_bytes(*b"123.4567")), 3);
        assert_eq!(leading_digits(u64::from_le_bytes(*b"\xff2345678")), 0);
    }

    proptest::proptest! {
        #[test]
        fn parse8_agrees_with_std(v in 0u64..100_000_000) {
            proptest::prop_assert_eq!(parse8(word8(v)), v);
        }

        #[test]
        fn dec_agrees_with_rust_decimal(int in 0u64..100_000_000_000, frac in 0u64..1_000_000_000, fd in 0usize..=9, zeros in 0usize..3, scale in 0u8..=18) {
            let frac = frac % 10u64.pow(fd as u32);
            let t = if fd == 0 {
                format!("{}{int}", "0".repeat(zeros))
            } else {
                format!("{}{int}.{frac:0fd$}", "0".repeat(zeros))
            };
            check(&t, scale);
        }

        #[test]
        fn uint_agrees_with_std(v in proptest::num::u64::ANY, shift in 0u32..20) {
            let v = v >> (shift * 3);
            proptest::prop_assert_eq!(uint(v.to_string().as_bytes(), b','), Some(v));
        }
    }
}
