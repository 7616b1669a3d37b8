//! Gate.io v4 spot order-book frames -> typed header + level mantissas (PROTOCOLS §e).
//!
//! * WS `spot.order_book_update`: `{"time","channel":"spot.order_book_update","event":"update",
//!   "result":{"t":ms,"s":"BTC_USDT","U":first,"u":last,"b":[[px,qty]],"a":[[px,qty]]}}`.
//! * REST `GET /api/v4/spot/order_book?currency_pair=..&with_id=true`:
//!   `{"id","current","update","asks":[[px,qty]],"bids":[[px,qty]]}` (no symbol: the fetcher
//!   says whose it is).
//!
//! Subscription acks, trades, candlesticks are [`GateMsg::Other`].

use lyra_shm::decimal::DecimalError;
use thiserror::Error;

use crate::{
    instrument::Resolved,
    tape::{
        as_str, as_u64, for_each_member, parse_str_levels, LevelError, Nodes, TapeBuf, TextDecimals,
    },
};

/// Input reserved at construction.
pub const GATE_RESERVE_BYTES: usize = 64 * 1024;
/// Levels per side reserved at construction.
pub const GATE_RESERVE_LEVELS: usize = 1024;

/// Why a Gate.io frame could not be turned into events.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GateParseError {
    /// Not JSON.
    #[error("gateio: invalid JSON: {0}")]
    Json(String),
    /// A required field is absent or of the wrong type.
    #[error("gateio {pair}: field {field} missing or of the wrong type")]
    Field {
        /// The currency pair, if read.
        pair: String,
        /// The JSON key.
        field: &'static str,
    },
    /// A price or amount that is not a decimal at the instrument's scale.
    #[error("gateio {pair}: field {field}: {err}")]
    Decimal {
        /// The currency pair.
        pair: String,
        /// The JSON key.
        field: &'static str,
        /// What was wrong.
        err: DecimalError,
    },
    /// A pair not in the instrument table, or a REST snapshot with no instrument given.
    #[error("gateio: unknown currency pair {0:?}")]
    UnknownSymbol(String),
}

impl GateParseError {
    /// The pair the error is about, if it got that far.
    pub fn pair(&self) -> Option<&str> {
        match self {
            Self::Field { pair, .. } | Self::Decimal { pair, .. } if !pair.is_empty() => Some(pair),
            _ => None,
        }
    }
}

/// An order-book update's header; levels in [`GateParser::bids`] / [`GateParser::asks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateUpdateHeader {
    /// The instrument.
    pub inst: Resolved,
    /// `U`: first update id.
    pub first_id: u64,
    /// `u`: last update id.
    pub last_id: u64,
    /// `t`, ns since the epoch.
    pub exch_ts: u64,
}

/// A parsed Gate.io frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateMsg {
    /// `spot.order_book_update` event.
    Update(GateUpdateHeader),
    /// REST order-book snapshot.
    Snapshot {
        /// The instrument the caller named.
        inst: Resolved,
        /// `id`: the last update id in the snapshot.
        id: u64,
        /// `update` (or `current`), ns.
        exch_ts: u64,
    },
    /// Valid JSON with nothing for a book.
    Other,
}

/// The reusable Gate.io frame parser.
#[derive(Debug)]
pub struct GateParser {
    tape: TapeBuf,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

impl Default for GateParser {
    fn default() -> Self {
        Self::new()
    }
}

impl GateParser {
    /// A parser with its buffers reserved.
    pub fn new() -> Self {
        Self {
            tape: TapeBuf::new(GATE_RESERVE_BYTES),
            bids: Vec::with_capacity(GATE_RESERVE_LEVELS),
            asks: Vec::with_capacity(GATE_RESERVE_LEVELS),
        }
    }

    /// Bid levels of the last update/snapshot, in venue order.
    pub fn bids(&self) -> &[(i64, i64)] {
        &self.bids
    }

    /// Ask levels of the last update/snapshot.
    pub fn asks(&self) -> &[(i64, i64)] {
        &self.asks
    }

    /// Parses one frame. `resolve` maps a pair (`s`) to its instrument; `snapshot_inst` names
    /// the instrument of a REST snapshot body.
    ///
    /// # Errors
    /// [`GateParseError`] for invalid JSON, missing fields, bad decimals, unknown pairs.
    pub fn parse(
        &mut self,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
        snapshot_inst: Option<Resolved>,
    ) -> Result<GateMsg, GateParseError> {
        let (bids, asks) = (&mut self.bids, &mut self.asks);
        self.tape
            .parse(frame, |n| walk(n, resolve, snapshot_inst, bids, asks))
            .map_err(GateParseError::Json)?
    }
}

fn levels(
    v: Option<Nodes<'_, '_>>,
    inst: Resolved,
    out: &mut Vec<(i64, i64)>,
    pair: &str,
    name: &'static str,
) -> Result<(), GateParseError> {
    out.clear();
    let field = || GateParseError::Field {
        pair: pair.to_owned(),
        field: name,
    };
    // Gate omits a side with no changes.
    let Some(v) = v else {
        return Ok(());
    };
    let mut dec = TextDecimals::default();
    parse_str_levels(v, inst.px_scale, inst.qty_scale, out, &mut dec).map_err(|e| match e {
        LevelError::Shape => field(),
        LevelError::Decimal(err) => GateParseError::Decimal {
            pair: pair.to_owned(),
            field: name,
            err,
        },
    })
}

fn walk(
    nodes: Nodes<'_, '_>,
    resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
    snapshot_inst: Option<Resolved>,
    bids: &mut Vec<(i64, i64)>,
    asks: &mut Vec<(i64, i64)>,
) -> Result<GateMsg, GateParseError> {
    let mut f: [Option<Nodes<'_, '_>>; 8] = [None; 8];
    const CHANNEL: usize = 0;
    const EVENT: usize = 1;
    const RESULT: usize = 2;
    const ID: usize = 3;
    const ASKS: usize = 4;
    const BIDS: usize = 5;
    const UPDATE: usize = 6;
    const CURRENT: usize = 7;
    if !for_each_member(nodes, |k, v| {
        let slot = match k {
            "channel" => CHANNEL,
            "event" => EVENT,
            "result" => RESULT,
            "id" => ID,
            "asks" => ASKS,
            "bids" => BIDS,
            "update" => UPDATE,
            "current" => CURRENT,
            _ => return,
        };
        f[slot] = Some(v);
    }) {
        return Ok(GateMsg::Other);
    }
    let ms_to_ns = |ms: u64| ms.saturating_mul(1_000_000);
    if f[CHANNEL].is_none() && f[ID].is_some() && (f[ASKS].is_some() || f[BIDS].is_some()) {
        let inst = snapshot_inst.ok_or_else(|| GateParseError::UnknownSymbol(String::new()))?;
        let field = |field| GateParseError::Field {
            pair: String::new(),
            field,
        };
        let id = f[ID].and_then(as_u64).ok_or_else(|| field("id"))?;
        levels(f[BIDS], inst, bids, "", "bids")?;
        levels(f[ASKS], inst, asks, "", "asks")?;
        let ts = f[UPDATE].or(f[CURRENT]).and_then(as_u64).unwrap_or(0);
        return Ok(GateMsg::Snapshot {
            inst,
            id,
            exch_ts: ms_to_ns(ts),
        });
    }
    if f[CHANNEL].and_then(as_str) != Some("spot.order_book_update")
        || f[EVENT].and_then(as_str) != Some("update")
    {
        return Ok(GateMsg::Other);
    }
    let no_pair = GateParseError::Field {
        pair: String::new(),
        field: "result",
    };
    let Some(result) = f[RESULT] else {
        return Err(no_pair);
    };
    let mut r: [Option<Nodes<'_, '_>>; 6] = [None; 6];
    if !for_each_member(result, |k, v| {
        let slot = match k {
            "s" => 0,
            "U" => 1,
            "u" => 2,
            "t" => 3,
            "b" => 4,
            "a" => 5,
            _ => return,
        };
        r[slot] = Some(v);
    }) {
        return Err(no_pair);
    }
    let pair = r[0].and_then(as_str).ok_or(GateParseError::Field {
        pair: String::new(),
        field: "s",
    })?;
    let inst =
        resolve(pair.as_bytes()).ok_or_else(|| GateParseError::UnknownSymbol(pair.to_owned()))?;
    let field = |field| GateParseError::Field {
        pair: pair.to_owned(),
        field,
    };
    let first_id = r[1].and_then(as_u64).ok_or_else(|| field("U"))?;
    let last_id = r[2].and_then(as_u64).ok_or_else(|| field("u"))?;
    if first_id > last_id {
        return Err(field("U"));
    }
    let exch_ts = ms_to_ns(r[3].and_then(as_u64).unwrap_or(0));
    levels(r[4], inst, bids, pair, "b")?;
    levels(r[5], inst, asks, pair, "a")?;
    Ok(GateMsg::Update(GateUpdateHeader {
        inst,
        first_id,
        last_id,
        exch_ts,
    }))
}
