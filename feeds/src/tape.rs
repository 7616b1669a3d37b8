//! A reusable simd-json tape and the small helpers the OKX, Kraken and Gate.io parsers walk it
//! with (the same approach as the Binance parser: typed fields straight off the tape, no value
//! tree, no serde, no allocation per frame once the buffers have grown).

use lyra_shm::decimal::{parse_mantissa, DecimalError};
use simd_json::{Buffers, Node, StaticNode, Tape};

/// Nodes of one JSON value and everything after it on the tape.
pub type Nodes<'t, 'i> = &'t [Node<'i>];

/// Owns the padded input copy, simd-json's scratch buffers and the tape, all reused per frame.
pub struct TapeBuf {
    input: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
}

impl std::fmt::Debug for TapeBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapeBuf")
            .field("input_cap", &self.input.capacity())
            .finish_non_exhaustive()
    }
}

impl TapeBuf {
    /// Buffers reserved for frames up to `reserve_bytes`.
    pub fn new(reserve_bytes: usize) -> Self {
        Self {
            input: Vec::with_capacity(reserve_bytes + simd_json::INPUT_PADDING),
            buffers: Buffers::new(reserve_bytes),
            tape: Some(Tape(Vec::with_capacity(reserve_bytes / 4))),
        }
    }

    /// The input buffer, for callers that rewrite the frame while copying it (Kraken v2 quotes
    /// its numeric prices so their text survives). Cleared; fill it, then call [`TapeBuf::parse_input`].
    pub fn input_mut(&mut self) -> &mut Vec<u8> {
        self.input.clear();
        &mut self.input
    }

    /// Parses `frame` and hands the tape to `f`; `Err` carries simd-json's message.
    ///
    /// # Errors
    /// The frame is not valid JSON.
    pub fn parse<R>(
        &mut self,
        frame: &[u8],
        f: impl FnOnce(Nodes<'_, '_>) -> R,
    ) -> Result<R, String> {
        self.input.clear();
        self.input.extend_from_slice(frame);
        self.parse_input(f)
    }

    /// Parses what [`TapeBuf::input_mut`] was filled with.
    ///
    /// # Errors
    /// The input is not valid JSON.
    pub fn parse_input<R>(&mut self, f: impl FnOnce(Nodes<'_, '_>) -> R) -> Result<R, String> {
        let len = self.input.len();
        self.input.resize(len + simd_json::INPUT_PADDING, 0);
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let res =
            match simd_json::fill_tape_padded(&mut self.input, len, &mut self.buffers, &mut tape) {
                Ok(()) => Ok(f(&tape.0)),
                Err(e) => Err(e.to_string()),
            };
        self.tape = Some(tape.reset());
        res
    }
}

/// Nodes a value spans on the tape (containers include their header).
#[inline]
pub fn span(n: &Node<'_>) -> usize {
    match n {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// The string at `v[0]`.
#[inline]
pub fn as_str<'i>(v: Nodes<'_, 'i>) -> Option<&'i str> {
    match v.first() {
        Some(Node::String(s)) => Some(s),
        _ => None,
    }
}

/// The non-negative integer at `v[0]`.
#[inline]
pub fn as_u64(v: Nodes<'_, '_>) -> Option<u64> {
    match v.first() {
        Some(Node::Static(StaticNode::U64(x))) => Some(*x),
        Some(Node::Static(StaticNode::I64(x))) => u64::try_from(*x).ok(),
        _ => None,
    }
}

/// The integer at `v[0]`, or an integer written as a string (OKX sends ids both ways).
#[inline]
pub fn as_i64_lenient(v: Nodes<'_, '_>) -> Option<i64> {
    match v.first() {
        Some(Node::Static(StaticNode::I64(x))) => Some(*x),
        Some(Node::Static(StaticNode::U64(x))) => i64::try_from(*x).ok(),
        Some(Node::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// Calls `f(key, value)` for each member of the object at `v[0]`; `false` if not an object.
#[inline]
pub fn for_each_member<'t, 'i>(
    v: Nodes<'t, 'i>,
    mut f: impl FnMut(&'i str, Nodes<'t, 'i>),
) -> bool {
    let Some(&Node::Object { len, .. }) = v.first() else {
        return false;
    };
    let mut i = 1;
    for _ in 0..len {
        let Some(Node::String(k)) = v.get(i) else {
            return false;
        };
        i += 1;
        let Some(n) = v.get(i) else {
            return false;
        };
        let end = i + span(n);
        if end > v.len() {
            return false;
        }
        f(k, &v[i..end]);
        i = end;
    }
    true
}

/// Calls `f(element)` for each element of the array at `v[0]`, stopping at the first `Err`;
/// `Ok(false)` if `v[0]` is not a (well-formed) array.
#[inline]
pub fn for_each_element<'t, 'i, E>(
    v: Nodes<'t, 'i>,
    mut f: impl FnMut(Nodes<'t, 'i>) -> Result<(), E>,
) -> Result<bool, E> {
    let Some(&Node::Array { len, .. }) = v.first() else {
        return Ok(false);
    };
    let mut i = 1;
    for _ in 0..len {
        let Some(n) = v.get(i) else {
            return Ok(false);
        };
        let end = i + span(n);
        if end > v.len() {
            return Ok(false);
        }
        f(&v[i..end])?;
        i = end;
    }
    Ok(true)
}

/// Digits after the decimal point in a plain decimal text (`"58724.80000"` → 5, `"3366"` → 0).
#[inline]
pub fn decimals_of(text: &[u8]) -> u8 {
    match text.iter().position(|&b| b == b'.') {
        Some(dot) => u8::try_from(text.len() - dot - 1).unwrap_or(u8::MAX),
        None => 0,
    }
}

/// Why a level array could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelError {
    /// Not an array of `[price, size, ...]` string arrays.
    Shape,
    /// A price or size that is not a decimal at the instrument's scale.
    Decimal(DecimalError),
}

/// The most decimals seen in a message's price and size texts (for checksum text precision).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextDecimals {
    /// Most price decimals seen.
    pub px: u8,
    /// Most size decimals seen.
    pub qty: u8,
}

/// Appends `[[px, qty, ...], ...]` (prices and sizes as strings; extra elements ignored) to
/// `out` as mantissas at the given scales, widening `dec` to the decimals seen.
///
/// # Errors
/// [`LevelError`] on a wrong shape or a bad decimal.
pub fn parse_str_levels(
    v: Nodes<'_, '_>,
    px_scale: u8,
    qty_scale: u8,
    out: &mut Vec<(i64, i64)>,
    dec: &mut TextDecimals,
) -> Result<(), LevelError> {
    let ok = for_each_element(v, |lv| {
        let (Some(Node::Array { len, .. }), Some(Node::String(p)), Some(Node::String(q))) =
            (lv.first(), lv.get(1), lv.get(2))
        else {
            return Err(LevelError::Shape);
        };
        if *len < 2 {
            return Err(LevelError::Shape);
        }
        let px = parse_mantissa(p.as_bytes(), px_scale).map_err(LevelError::Decimal)?;
        let qty = parse_mantissa(q.as_bytes(), qty_scale).map_err(LevelError::Decimal)?;
        dec.px = dec.px.max(decimals_of(p.as_bytes()));
        dec.qty = dec.qty.max(decimals_of(q.as_bytes()));
        out.push((px, qty));
        Ok(())
    })?;
    if ok {
        Ok(())
    } else {
        Err(LevelError::Shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_objects_and_arrays() {
        let mut t = TapeBuf::new(1024);
        let n = t
            .parse(br#"{"a":[1,[2,3],{"x":"y"}],"b":"s","c":"-7"}"#, |v| {
                let mut seen = 0;
                let ok = for_each_member(v, |k, v| match k {
                    "a" => {
                        let r: Result<bool, ()> = for_each_element(v, |_| {
                            seen += 1;
                            Ok(())
                        });
                        assert_eq!(r, Ok(true));
                    }
                    "b" => assert_eq!(as_str(v), Some("s")),
                    "c" => assert_eq!(as_i64_lenient(v), Some(-7)),
                    _ => unreachable!(),
                });
                assert!(ok);
                seen
            })
            .unwrap();
        assert_eq!(n, 3);
        assert!(t.parse(b"{", |_| ()).is_err());
        assert_eq!(decimals_of(b"58724.80000"), 5);
        assert_eq!(decimals_of(b"3366"), 0);
    }
}
