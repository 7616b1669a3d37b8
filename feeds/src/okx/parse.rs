//! OKX v5 public order-book frames -> typed header + level mantissas (PROTOCOLS §b.1).
//!
//! `{"arg":{"channel","instId"},"action":"snapshot"|"update","data":[{"asks":[[px,sz,"0",n]],
//! "bids":..,"ts","checksum","seqId","prevSeqId"}]}` for `books` / `books-l2-tbt` /
//! `books50-l2-tbt`; `books5` and `bbo-tbt` carry no `action` (every push is a full picture).
//! Subscription acks (`event`), other channels and pongs are [`Msg::Other`]. The 2022 captures
//! have no `seqId`/`prevSeqId`: those are optional.

use lyra_shm::decimal::DecimalError;
use thiserror::Error;

use crate::{
    instrument::Resolved,
    tape::{
        as_i64_lenient, as_str, for_each_element, for_each_member, parse_str_levels, LevelError,
        Nodes, TapeBuf, TextDecimals,
    },
};

/// Input reserved at construction (a 400-level snapshot is ~25 KB).
pub const OKX_RESERVE_BYTES: usize = 64 * 1024;
/// Levels per side reserved at construction.
pub const OKX_RESERVE_LEVELS: usize = 1024;

/// Why an OKX frame could not be turned into events.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OkxParseError {
    /// Not JSON.
    #[error("okx: invalid JSON: {0}")]
    Json(String),
    /// A required field is absent or of the wrong type.
    #[error("okx {inst_id}: field {field} missing or of the wrong type")]
    Field {
        /// `instId`, if read.
        inst_id: String,
        /// The JSON key.
        field: &'static str,
    },
    /// A price or size that is not a decimal at the instrument's scale.
    #[error("okx {inst_id}: field {field}: {err}")]
    Decimal {
        /// `instId`.
        inst_id: String,
        /// The JSON key.
        field: &'static str,
        /// What was wrong.
        err: DecimalError,
    },
    /// An `instId` not in the instrument table.
    #[error("okx: unknown instId {0:?}")]
    UnknownSymbol(String),
}

impl OkxParseError {
    /// The `instId` the error is about, if it got that far.
    pub fn inst_id(&self) -> Option<&str> {
        match self {
            Self::Field { inst_id, .. } | Self::Decimal { inst_id, .. } if !inst_id.is_empty() => {
                Some(inst_id)
            }
            _ => None,
        }
    }
}

/// Which book channel a push came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkxChannel {
    /// `books`, `books-l2-tbt`, `books50-l2-tbt`: snapshot then incremental updates.
    Incremental,
    /// `books5`: a full 5-level picture per push.
    Books5,
    /// `bbo-tbt`: the best level of each side per push.
    BboTbt,
}

/// `action` of an incremental push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkxAction {
    /// A full book.
    Snapshot,
    /// Changes to apply.
    Update,
}

/// A book push's header; its levels are in [`OkxParser::bids`] / [`OkxParser::asks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OkxBookHeader {
    /// The instrument.
    pub inst: Resolved,
    /// The channel.
    pub channel: OkxChannel,
    /// Snapshot or update (`books5` / `bbo-tbt` are always `Snapshot`).
    pub action: OkxAction,
    /// `ts`, ns since the epoch.
    pub exch_ts: u64,
    /// `checksum` as sent (0 or absent = not provided).
    pub checksum: Option<i32>,
    /// `seqId` (absent on pre-2023 data).
    pub seq_id: Option<i64>,
    /// `prevSeqId` (-1 on a snapshot).
    pub prev_seq_id: Option<i64>,
    /// Most decimals seen in the push's texts.
    pub decimals: TextDecimals,
}

/// A parsed OKX frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkxMsg {
    /// An order-book push.
    Book(OkxBookHeader),
    /// Valid JSON with nothing for a book (acks, trades, tickers, pongs...).
    Other,
}

/// The reusable OKX frame parser (one per feed thread).
#[derive(Debug)]
pub struct OkxParser {
    tape: TapeBuf,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

impl Default for OkxParser {
    fn default() -> Self {
        Self::new()
    }
}

impl OkxParser {
    /// A parser with its buffers reserved.
    pub fn new() -> Self {
        Self {
            tape: TapeBuf::new(OKX_RESERVE_BYTES),
            bids: Vec::with_capacity(OKX_RESERVE_LEVELS),
            asks: Vec::with_capacity(OKX_RESERVE_LEVELS),
        }
    }

    /// Bid levels `(px, qty)` of the last book push, in venue order.
    pub fn bids(&self) -> &[(i64, i64)] {
        &self.bids
    }

    /// Ask levels of the last book push.
    pub fn asks(&self) -> &[(i64, i64)] {
        &self.asks
    }

    /// Parses one frame; `resolve` maps an `instId` to its instrument and scales.
    ///
    /// # Errors
    /// [`OkxParseError`] for invalid JSON, missing fields, bad decimals, unknown instruments.
    pub fn parse(
        &mut self,
        frame: &[u8],
        resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
    ) -> Result<OkxMsg, OkxParseError> {
        let (bids, asks) = (&mut self.bids, &mut self.asks);
        self.tape
            .parse(frame, |nodes| walk(nodes, resolve, bids, asks))
            .map_err(OkxParseError::Json)?
    }
}

fn walk(
    nodes: Nodes<'_, '_>,
    resolve: &mut dyn FnMut(&[u8]) -> Option<Resolved>,
    bids: &mut Vec<(i64, i64)>,
    asks: &mut Vec<(i64, i64)>,
) -> Result<OkxMsg, OkxParseError> {
    let (mut arg, mut action, mut data, mut event) = (None, None, None, false);
    if !for_each_member(nodes, |k, v| match k {
        "arg" => arg = Some(v),
        "action" => action = as_str(v),
        "data" => data = Some(v),
        "event" => event = true,
        _ => {}
    }) {
        return Ok(OkxMsg::Other);
    }
    let (Some(arg), Some(data), false) = (arg, data, event) else {
        return Ok(OkxMsg::Other);
    };
    let (mut channel, mut inst_id) = (None, None);
    for_each_member(arg, |k, v| match k {
        "channel" => channel = as_str(v),
        "instId" => inst_id = as_str(v),
        _ => {}
    });
    let channel = match channel {
        Some("books" | "books-l2-tbt" | "books50-l2-tbt") => OkxChannel::Incremental,
        Some("books5") => OkxChannel::Books5,
        Some("bbo-tbt") => OkxChannel::BboTbt,
        _ => return Ok(OkxMsg::Other),
    };
    let Some(sym) = inst_id else {
        return Err(OkxParseError::Field {
            inst_id: String::new(),
            field: "instId",
        });
    };
    let field = |field| OkxParseError::Field {
        inst_id: sym.to_owned(),
        field,
    };
    let inst =
        resolve(sym.as_bytes()).ok_or_else(|| OkxParseError::UnknownSymbol(sym.to_owned()))?;
    let action = match (channel, action) {
        (OkxChannel::Incremental, Some("snapshot")) => OkxAction::Snapshot,
        (OkxChannel::Incremental, Some("update")) => OkxAction::Update,
        (OkxChannel::Incremental, _) => return Err(field("action")),
        _ => OkxAction::Snapshot,
    };
    // `data` holds one book per push; anything else is not a shape we can sequence.
    let mut item = None;
    let mut n = 0;
    let shaped = for_each_element::<()>(data, |v| {
        n += 1;
        item = Some(v);
        Ok(())
    });
    let (Ok(true), 1, Some(item)) = (shaped, n, item) else {
        return Err(field("data"));
    };
    let mut f: [Option<Nodes<'_, '_>>; 6] = [None; 6];
    for_each_member(item, |k, v| {
        let slot = match k {
            "bids" => 0,
            "asks" => 1,
            "ts" => 2,
            "checksum" => 3,
            "seqId" => 4,
            "prevSeqId" => 5,
            _ => return,
        };
        f[slot] = Some(v);
    });
    let mut decimals = TextDecimals::default();
    bids.clear();
    asks.clear();
    for (slot, out, name) in [(0, &mut *bids, "bids"), (1, &mut *asks, "asks")] {
        let v = f[slot].ok_or_else(|| field(name))?;
        parse_str_levels(v, inst.px_scale, inst.qty_scale, out, &mut decimals).map_err(
            |e| match e {
                LevelError::Shape => field(name),
                LevelError::Decimal(err) => OkxParseError::Decimal {
                    inst_id: sym.to_owned(),
                    field: name,
                    err,
                },
            },
        )?;
    }
    let exch_ts = match f[2] {
        Some(v) => {
            let ms = as_i64_lenient(v).ok_or_else(|| field("ts"))?;
            u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
        }
        None => 0,
    };
    let opt = |slot: usize, name| match f[slot] {
        Some(v) => as_i64_lenient(v).map(Some).ok_or_else(|| field(name)),
        None => Ok(None),
    };
    let checksum = match opt(3, "checksum")? {
        Some(c) => Some(i32::try_from(c).map_err(|_| field("checksum"))?),
        None => None,
    };
    Ok(OkxMsg::Book(OkxBookHeader {
        inst,
        channel,
        action,
        exch_ts,
        checksum,
        seq_id: opt(4, "seqId")?,
        prev_seq_id: opt(5, "prevSeqId")?,
        decimals,
    }))
}
