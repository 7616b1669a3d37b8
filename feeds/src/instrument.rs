//! The instrument table: canonical instruments with a dense [`InstrumentIdx`], their price and
//! quantity scales (decimals of the i64 mantissas, the same on every venue), and each venue's
//! symbol for them (`BTCUSDT`, `BTC-USDT`, `BTC/USD`...).
//!
//! Built once at start (or grown by a replay when it meets a new symbol); lookups from venue
//! symbol bytes are a linear scan over a small table of fixed-size keys, with no allocation and
//! no hashing. A few hundred entries scan in well under the cost of one JSON parse.

use lyra_shm::{
    decimal::MAX_SCALE,
    msg::{InstrumentIdx, VenueId},
};
use thiserror::Error;

/// The longest venue symbol stored (longer ones are refused at registration).
pub const MAX_SYMBOL_LEN: usize = 32;

/// Why the table refused a change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InstrumentError {
    /// A scale above [`MAX_SCALE`].
    #[error("instrument {name}: scale {scale} larger than {MAX_SCALE}")]
    BadScale {
        /// Canonical name.
        name: String,
        /// The scale asked for.
        scale: u8,
    },
    /// The table already holds `u16::MAX` instruments.
    #[error("instrument table full ({0} instruments)")]
    Full(usize),
    /// The instrument index is not in the table.
    #[error("unknown instrument index {0}")]
    UnknownIdx(u16),
    /// The symbol is empty or longer than [`MAX_SYMBOL_LEN`].
    #[error("venue {venue}: symbol {symbol:?} is empty or longer than {MAX_SYMBOL_LEN} bytes")]
    BadSymbol {
        /// Venue id.
        venue: u8,
        /// The symbol.
        symbol: String,
    },
    /// The venue symbol is already mapped to another instrument.
    #[error("venue {venue}: symbol {symbol} already maps to instrument {existing}")]
    Duplicate {
        /// Venue id.
        venue: u8,
        /// The symbol.
        symbol: String,
        /// The instrument it maps to.
        existing: u16,
    },
}

/// One canonical instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    /// Its dense index.
    pub idx: InstrumentIdx,
    /// Canonical name (`BTC-USDT`).
    pub name: String,
    /// Decimals of price mantissas.
    pub px_scale: u8,
    /// Decimals of quantity mantissas.
    pub qty_scale: u8,
    /// Price tick as a mantissa at `px_scale` (0 = unknown: the book derives one).
    pub tick: i64,
}

/// What a symbol lookup yields: everything a parser needs to build `MdEvent`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The instrument.
    pub idx: InstrumentIdx,
    /// Decimals of price mantissas.
    pub px_scale: u8,
    /// Decimals of quantity mantissas.
    pub qty_scale: u8,
}

#[derive(Debug, Clone, Copy)]
struct SymbolKey {
    venue: VenueId,
    len: u8,
    bytes: [u8; MAX_SYMBOL_LEN],
    idx: InstrumentIdx,
}

impl SymbolKey {
    #[inline]
    fn matches(&self, venue: VenueId, symbol: &[u8]) -> bool {
        self.venue == venue && &self.bytes[..self.len as usize] == symbol
    }
}

/// Canonical instruments and venue symbols.
#[derive(Debug, Clone, Default)]
pub struct InstrumentTable {
    instruments: Vec<Instrument>,
    symbols: Vec<SymbolKey>,
}

impl InstrumentTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a canonical instrument and returns its index.
    ///
    /// # Errors
    /// [`InstrumentError::BadScale`] or [`InstrumentError::Full`].
    pub fn add(
        &mut self,
        name: &str,
        px_scale: u8,
        qty_scale: u8,
        tick: i64,
    ) -> Result<InstrumentIdx, InstrumentError> {
        for scale in [px_scale, qty_scale] {
            if scale > MAX_SCALE {
                return Err(InstrumentError::BadScale {
                    name: name.to_owned(),
                    scale,
                });
            }
        }
        let n = self.instruments.len();
        let idx = InstrumentIdx(u16::try_from(n).map_err(|_| InstrumentError::Full(n))?);
        self.instruments.push(Instrument {
            idx,
            name: name.to_owned(),
            px_scale,
            qty_scale,
            tick: tick.max(0),
        });
        Ok(idx)
    }

    /// Maps `venue`'s `symbol` (exact bytes, as the venue sends it) to `idx`.
    ///
    /// # Errors
    /// Unknown index, bad symbol length, or a symbol already mapped elsewhere.
    pub fn map_symbol(
        &mut self,
        venue: VenueId,
        symbol: &str,
        idx: InstrumentIdx,
    ) -> Result<(), InstrumentError> {
        if usize::from(idx.0) >= self.instruments.len() {
            return Err(InstrumentError::UnknownIdx(idx.0));
        }
        let b = symbol.as_bytes();
        if b.is_empty() || b.len() > MAX_SYMBOL_LEN {
            return Err(InstrumentError::BadSymbol {
                venue: venue.0,
                symbol: symbol.to_owned(),
            });
        }
        if let Some(k) = self.symbols.iter().find(|k| k.matches(venue, b)) {
            if k.idx == idx {
                return Ok(());
            }
            return Err(InstrumentError::Duplicate {
                venue: venue.0,
                symbol: symbol.to_owned(),
                existing: k.idx.0,
            });
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        bytes[..b.len()].copy_from_slice(b);
        self.symbols.push(SymbolKey {
            venue,
            len: b.len() as u8,
            bytes,
            idx,
        });
        Ok(())
    }

    /// The instrument of `venue`'s `symbol`, without allocating.
    #[inline]
    pub fn lookup(&self, venue: VenueId, symbol: &[u8]) -> Option<InstrumentIdx> {
        self.symbols
            .iter()
            .find(|k| k.matches(venue, symbol))
            .map(|k| k.idx)
    }

    /// The instrument and its scales for `venue`'s `symbol`, without allocating.
    #[inline]
    pub fn resolve(&self, venue: VenueId, symbol: &[u8]) -> Option<Resolved> {
        self.lookup(venue, symbol)
            .and_then(|idx| self.resolved(idx))
    }

    /// The scales of `idx`.
    #[inline]
    pub fn resolved(&self, idx: InstrumentIdx) -> Option<Resolved> {
        self.get(idx).map(|i| Resolved {
            idx,
            px_scale: i.px_scale,
            qty_scale: i.qty_scale,
        })
    }

    /// The instrument at `idx`.
    pub fn get(&self, idx: InstrumentIdx) -> Option<&Instrument> {
        self.instruments.get(usize::from(idx.0))
    }

    /// `venue`'s symbol for `idx` (the first mapped), if any.
    pub fn venue_symbol(&self, venue: VenueId, idx: InstrumentIdx) -> Option<&str> {
        self.symbols
            .iter()
            .find(|k| k.venue == venue && k.idx == idx)
            .and_then(|k| std::str::from_utf8(&k.bytes[..k.len as usize]).ok())
    }

    /// The instrument of `venue`'s `symbol`, adding it (canonical name = the symbol) with the
    /// given scales when it is new. For replays and recorders that meet symbols as they come.
    ///
    /// # Errors
    /// As [`InstrumentTable::add`] and [`InstrumentTable::map_symbol`].
    pub fn lookup_or_add(
        &mut self,
        venue: VenueId,
        symbol: &str,
        px_scale: u8,
        qty_scale: u8,
    ) -> Result<InstrumentIdx, InstrumentError> {
        if let Some(idx) = self.lookup(venue, symbol.as_bytes()) {
            return Ok(idx);
        }
        if symbol.is_empty() || symbol.len() > MAX_SYMBOL_LEN {
            return Err(InstrumentError::BadSymbol {
                venue: venue.0,
                symbol: symbol.to_owned(),
            });
        }
        let idx = self.add(symbol, px_scale, qty_scale, 0)?;
        self.map_symbol(venue, symbol, idx)?;
        Ok(idx)
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// Every instrument, by index.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.instruments.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_venue_symbols_to_one_instrument() {
        let mut t = InstrumentTable::new();
        let btc = t.add("BTC-USDT", 8, 8, 1_000_000).unwrap();
        let eth = t.add("ETH-USDT", 8, 8, 0).unwrap();
        t.map_symbol(VenueId(0), "BTCUSDT", btc).unwrap();
        t.map_symbol(VenueId(1), "BTC-USDT", btc).unwrap();
        t.map_symbol(VenueId(0), "ETHUSDT", eth).unwrap();
        assert_eq!(t.lookup(VenueId(0), b"BTCUSDT"), Some(btc));
        assert_eq!(t.lookup(VenueId(1), b"BTC-USDT"), Some(btc));
        assert_eq!(t.lookup(VenueId(1), b"BTCUSDT"), None);
        assert_eq!(
            t.resolve(VenueId(0), b"ETHUSDT").map(|r| r.px_scale),
            Some(8)
        );
        assert!(t.map_symbol(VenueId(0), "BTCUSDT", eth).is_err());
        assert!(t.map_symbol(VenueId(0), "", eth).is_err());
        assert!(t.add("X", 19, 8, 0).is_err());
        assert_eq!(t.venue_symbol(VenueId(1), btc), Some("BTC-USDT"));
        let n = t.lookup_or_add(VenueId(0), "NKNUSDT", 8, 8).unwrap();
        assert_eq!(t.lookup_or_add(VenueId(0), "NKNUSDT", 8, 8).unwrap(), n);
        assert_eq!(t.len(), 3);
    }
}
