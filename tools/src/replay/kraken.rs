//! Kraken replay adapter (WS v1 captures and v2 recordings): the live decoder ([`KrakenMd`]:
//! parser + per-pair upkeep with truncation) fed from a recording. The REST AssetPairs response
//! in the recording (cryptofeed `KRAKEN.0`) gives each pair's price/lot decimals, used as the
//! mantissa scales; `Checksum` events are verified on the driver's rebuilt book with Kraken's
//! recipe at the text precision the decoder learned from the wire.

use std::collections::HashMap;

use lyra_engine::book::L2Book;
use lyra_feeds::{
    checksum::ChecksumRecipe,
    instrument::InstrumentTable,
    kraken::{KrakenFrameInfo, KrakenMd, KRAKEN_DEFAULT_DEPTH},
};
use lyra_shm::msg::{InstrumentIdx, InvalidReason, MdEvent, VenueId};

use super::{
    adapter::{FeedCounters, FrameError, VenueReplay},
    source::{Record, RecordKind},
};

/// Price scale for a pair AssetPairs did not describe: no Kraken pair has more than 8
/// `pair_decimals` (v1's extra printed digits are zeros), and 10 would overflow on the far
/// asks some books carry (XBT/CHF).
const FALLBACK_PX_SCALE: u8 = 8;
/// Kraken volumes carry 8 decimals.
const FALLBACK_QTY_SCALE: u8 = 8;

/// Per-instrument replay bookkeeping.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    frames: u64,
    file: usize,
    px_scale: u8,
    qty_scale: u8,
}

/// The Kraken replay adapter.
pub struct KrakenReplay {
    md: KrakenMd,
    /// `wsname` (`XBT/USD`) -> (pair_decimals, lot_decimals) from AssetPairs.
    decimals: HashMap<String, (u8, u8)>,
    seen: Vec<Seen>,
    handled: bool,
    scratch: Vec<MdEvent>,
}

impl KrakenReplay {
    /// An adapter for `venue`.
    pub fn new(venue: VenueId) -> Self {
        Self {
            md: KrakenMd::new(venue, KRAKEN_DEFAULT_DEPTH),
            decimals: HashMap::new(),
            seen: Vec::new(),
            handled: false,
            scratch: Vec::new(),
        }
    }

    fn seen_mut(&mut self, inst: InstrumentIdx) -> &mut Seen {
        let i = usize::from(inst.0);
        if self.seen.len() <= i {
            self.seen.resize(i + 1, Seen::default());
        }
        &mut self.seen[i]
    }

    /// Reads AssetPairs (`{"error":[],"result":{"XXBTZUSD":{"wsname":"XBT/USD",
    /// "pair_decimals":1,"lot_decimals":8,..}}}`).
    fn on_asset_pairs(&mut self, body: &str) -> Result<(), FrameError> {
        let v: serde_json::Value = serde_json::from_str(body).map_err(|e| FrameError {
            inst: None,
            reason: format!("AssetPairs: {e}"),
        })?;
        let Some(result) = v.get("result").and_then(|r| r.as_object()) else {
            return Err(FrameError {
                inst: None,
                reason: "AssetPairs: no result object".into(),
            });
        };
        for p in result.values() {
            let (Some(ws), Some(pd), Some(ld)) = (
                p.get("wsname").and_then(|x| x.as_str()),
                p.get("pair_decimals").and_then(|x| x.as_u64()),
                p.get("lot_decimals").and_then(|x| x.as_u64()),
            ) else {
                continue;
            };
            if let (Ok(pd), Ok(ld)) = (u8::try_from(pd), u8::try_from(ld)) {
                self.decimals.insert(ws.to_owned(), (pd, ld));
            }
        }
        Ok(())
    }
}

impl VenueReplay for KrakenReplay {
    fn name(&self) -> &'static str {
        "kraken"
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
                for (i, s) in self.seen.iter().enumerate() {
                    if s.file == rec.file && s.frames > 0 {
                        let inst = Some(InstrumentIdx(i as u16));
                        self.md
                            .invalidate(inst, InvalidReason::Disconnected, rec.recv_ns, out);
                    }
                }
                return Ok(());
            }
            RecordKind::Malformed(why) => {
                return Err(FrameError {
                    inst: None,
                    reason: why.clone(),
                });
            }
            RecordKind::Rest { url } => {
                if url.contains("AssetPairs") {
                    return self.on_asset_pairs(&rec.frame);
                }
                return Ok(());
            }
            RecordKind::Frame => {}
        }
        let venue = self.md.venue();
        let decimals = &self.decimals;
        let mut seen = None;
        let res = {
            let mut resolve = |s: &[u8]| {
                let sym = std::str::from_utf8(s).ok()?;
                let (ps, qs) = decimals
                    .get(sym)
                    .copied()
                    .unwrap_or((FALLBACK_PX_SCALE, FALLBACK_QTY_SCALE));
                let idx = table.lookup_or_add(venue, sym, ps, qs).ok()?;
                seen = Some(idx);
                table.resolved(idx)
            };
            self.md
                .on_frame(rec.recv_ns, rec.frame.as_bytes(), &mut resolve, out)
        };
        let scales = seen
            .and_then(|i| table.resolved(i))
            .map(|r| (r.px_scale, r.qty_scale));
        if let (Some(i), Some((ps, qs))) = (seen, scales) {
            let s = self.seen_mut(i);
            s.px_scale = ps;
            s.qty_scale = qs;
        }
        match res {
            Ok(KrakenFrameInfo::Book { inst, .. }) => {
                let s = self.seen_mut(inst);
                s.frames += 1;
                s.file = rec.file;
                Ok(())
            }
            Ok(KrakenFrameInfo::Other) => Ok(()),
            Err(e) => {
                if let Some(i) = seen {
                    self.seen_mut(i).frames += 1;
                }
                self.handled = true;
                Err(FrameError {
                    inst: seen,
                    reason: e.to_string(),
                })
            }
        }
    }

    fn on_malformed(&mut self, inst: Option<InstrumentIdx>, recv_ns: u64, out: &mut Vec<MdEvent>) {
        if !std::mem::take(&mut self.handled) {
            self.md.on_malformed(inst, recv_ns, out);
        }
    }

    fn counters(&self, inst: InstrumentIdx) -> FeedCounters {
        let frames = self.seen.get(usize::from(inst.0)).map_or(0, |s| s.frames);
        let c = self.md.book(inst).map(|b| b.counters()).unwrap_or_default();
        FeedCounters {
            frames,
            applied: c.updates,
            stale_dropped: c.unsynced_dropped,
            gaps: 0,
            resyncs: c.resyncs,
        }
    }

    fn verify_checksum(&mut self, book: &L2Book, ev: &MdEvent) -> Option<bool> {
        if !book.is_valid() {
            return None;
        }
        let s = self
            .seen
            .get(usize::from(ev.instrument.0))
            .copied()
            .unwrap_or_default();
        // The event carries its recipe, with the text precision the decoder saw on the wire.
        let ok = ChecksumRecipe::verify_event(
            ev,
            book.bids().map(|(p, q)| (p.0, q.0)),
            book.asks().map(|(p, q)| (p.0, q.0)),
            s.px_scale,
            s.qty_scale,
        )?;
        if !ok {
            self.md.invalidate(
                Some(ev.instrument),
                InvalidReason::ChecksumMismatch,
                ev.recv_ts,
                &mut self.scratch,
            );
            self.scratch.clear();
        }
        Some(ok)
    }
}
