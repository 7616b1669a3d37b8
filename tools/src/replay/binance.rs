//! Binance Spot replay adapter: the live decoder ([`BinanceMd`]: parser + depth sync) fed from a
//! recording. REST snapshots come from the recording too: a frame with `lastUpdateId` is the
//! snapshot of the symbol named by its URL (cryptofeed captures), by `--symbol`, or else by the
//! streams seen so far in the file (the hftbacktest captures hold one symbol).

use lyra_feeds::{
    binance::{BinanceMd, FrameInfo, ParseError, SyncConfig},
    instrument::InstrumentTable,
};
use lyra_shm::msg::{InstrumentIdx, InvalidReason, MdEvent, VenueId};

use super::{
    adapter::{FeedCounters, FrameError, VenueReplay},
    source::{Record, RecordKind},
};

/// Binance sends prices and quantities with 8 decimals; scale 8 holds every text exactly.
const SCALE: u8 = 8;

/// The Binance Spot replay adapter.
pub struct BinanceReplay {
    md: BinanceMd,
    /// `--symbol`: whose REST snapshots unnamed snapshot frames are.
    fixed_symbol: Option<String>,
    /// The instrument of the last stream frame (for unnamed snapshots).
    last_inst: Option<InstrumentIdx>,
    /// Frames per instrument.
    frames: Vec<u64>,
}

impl BinanceReplay {
    /// An adapter for `venue`; `symbol` names the instrument of unnamed snapshots.
    pub fn new(venue: VenueId, symbol: Option<String>) -> Self {
        Self {
            md: BinanceMd::new(venue, SyncConfig::default()),
            fixed_symbol: symbol.map(|s| s.to_ascii_uppercase()),
            last_inst: None,
            frames: Vec::new(),
        }
    }

    fn count_frame(&mut self, inst: InstrumentIdx) {
        let i = usize::from(inst.0);
        if self.frames.len() <= i {
            self.frames.resize(i + 1, 0);
        }
        self.frames[i] += 1;
    }

    /// The instrument an unnamed snapshot belongs to.
    fn snapshot_symbol(&self, rec: &Record, table: &mut InstrumentTable) -> Option<InstrumentIdx> {
        let venue = self.md.venue();
        if let RecordKind::Rest { url } = &rec.kind {
            if let Some(sym) = url
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("symbol="))
            {
                return table
                    .lookup_or_add(venue, &sym.to_ascii_uppercase(), SCALE, SCALE)
                    .ok();
            }
        }
        if let Some(sym) = &self.fixed_symbol {
            return table.lookup_or_add(venue, sym, SCALE, SCALE).ok();
        }
        self.last_inst
    }
}

impl VenueReplay for BinanceReplay {
    fn name(&self) -> &'static str {
        "binance"
    }

    fn venue(&self) -> VenueId {
        self.md.venue()
    }

    fn on_record(
        &mut self,
        rec: &Record,
        table: &mut InstrumentTable,
        out: &mut Vec<MdEvent>,
    ) -> Result<(), FrameError> {
        match &rec.kind {
            RecordKind::Connect => {
                self.md
                    .invalidate(None, InvalidReason::Disconnected, rec.recv_ns, out);
                return Ok(());
            }
            RecordKind::Malformed(why) => {
                return Err(FrameError {
                    inst: None,
                    reason: why.clone(),
                });
            }
            RecordKind::Frame | RecordKind::Rest { .. } => {}
        }
        let venue = self.md.venue();
        let snap_inst = self.snapshot_symbol(rec, table);
        let snap = snap_inst.and_then(|i| table.resolved(i));
        let mut seen = None;
        let res = {
            let mut resolve = |s: &[u8]| {
                let sym = std::str::from_utf8(s).ok()?;
                let idx = table.lookup_or_add(venue, sym, SCALE, SCALE).ok()?;
                seen = Some(idx);
                table.resolved(idx)
            };
            self.md
                .on_frame(rec.recv_ns, rec.frame.as_bytes(), &mut resolve, snap, out)
        };
        if let Some(i) = seen {
            self.last_inst = Some(i);
        }
        match res {
            Ok(FrameInfo::Depth { inst, .. })
            | Ok(FrameInfo::Snapshot { inst, .. })
            | Ok(FrameInfo::BookTicker { inst })
            | Ok(FrameInfo::Trade { inst }) => {
                self.count_frame(inst);
                Ok(())
            }
            Ok(FrameInfo::Other) => Ok(()),
            Err(e) => {
                let inst = match &e {
                    ParseError::Field { symbol, .. } | ParseError::Decimal { symbol, .. }
                        if !symbol.is_empty() =>
                    {
                        table.lookup(venue, symbol.as_bytes())
                    }
                    ParseError::Json(_) => None,
                    _ if rec.frame.contains("lastUpdateId") => snap_inst,
                    _ => None,
                };
                if let Some(i) = inst {
                    self.count_frame(i);
                }
                let sym = inst
                    .and_then(|i| table.get(i))
                    .map(|i| i.name.as_str())
                    .unwrap_or("?");
                Err(FrameError {
                    inst,
                    reason: format!("symbol {sym}: {e}"),
                })
            }
        }
    }

    fn on_malformed(&mut self, inst: Option<InstrumentIdx>, recv_ns: u64, out: &mut Vec<MdEvent>) {
        self.md.on_malformed(inst, recv_ns, out);
    }

    fn counters(&self, inst: InstrumentIdx) -> FeedCounters {
        let frames = self.frames.get(usize::from(inst.0)).copied().unwrap_or(0);
        let c = self.md.sync(inst).map(|s| s.counters()).unwrap_or_default();
        FeedCounters {
            frames,
            applied: c.applied,
            stale_dropped: c.stale_dropped,
            gaps: c.gaps,
            resyncs: c.resyncs,
        }
    }
}
