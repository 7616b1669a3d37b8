//! Fixed-capacity UTF-8 text, as stored in the segment (operator names, reasons, thread names).

use std::fmt;

/// Up to `N` bytes of UTF-8 text, NUL-padded, `Copy`, no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedStr<const N: usize> {
    bytes: [u8; N],
}

impl<const N: usize> FixedStr<N> {
    /// Empty text.
    pub const EMPTY: Self = Self { bytes: [0; N] };

    /// `s` truncated to at most `N` bytes on a character boundary (never splits a code point).
    pub fn new(s: &str) -> Self {
        let t = truncate_utf8(s, N);
        let mut bytes = [0u8; N];
        bytes[..t.len()].copy_from_slice(t.as_bytes());
        Self { bytes }
    }

    /// From raw bytes read out of the segment.
    pub(crate) fn from_raw(bytes: [u8; N]) -> Self {
        Self { bytes }
    }

    /// The text up to the first NUL; bytes that are not UTF-8 (a corrupt segment) end it early.
    pub fn as_str(&self) -> &str {
        let end = self.bytes.iter().position(|&b| b == 0).unwrap_or(N);
        match std::str::from_utf8(&self.bytes[..end]) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&self.bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// The raw, NUL-padded bytes.
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.bytes
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.bytes[0] == 0
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
/// NUL bytes end stored text, so the prefix also stops before the first NUL.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    let s = match s.find('\0') {
        Some(i) => &s[..i],
        None => s,
    };
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
