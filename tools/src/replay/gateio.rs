//! Gate.io v4 replay adapter: the live decoder ([`GateMd`]: parser + REST-snapshot bridge) fed
//! from a recording. REST order-book snapshots come from the recording too (cryptofeed
//! `GATEIO.http.0.0`): the pair is named by the URL's `currency_pair`, else by `--symbol`.
//! Gate.io sends no checksum.

use lyra_feeds::{
    gateio::{GateFrameInfo, GateMd, GateSyncConfig},
    instrument::InstrumentTable,
};
use lyra_shm::msg::{InstrumentIdx, InvalidReason, MdEvent, VenueId};

use super::{
    adapter::{FeedCounters, FrameError, VenueReplay},
    source::{Record, RecordKind},
};

/// The captures carry no pair metadata; Gate prints up to 10 decimals (amounts such as
/// "0.0012345678"), and 10 still leaves room for 9e8 units in an i64.
const SCALE: u8 = 10;

/// Per-instrument replay bookkeeping.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    frames: u64,
    file: usize,
}

/// The Gate.io replay adapter.
pub struct GateReplay {
    md: GateMd,
    fixed_symbol: Option<String>,
    seen: Vec<Seen>,
    handled: bool,
}

impl GateReplay {
    /// An adapter for `venue`; `symbol` names the pair of snapshots whose URL does not.
    pub fn new(venue: VenueId, symbol: Option<String>) -> Self {
        Self {
            md: GateMd::new(venue, GateSyncConfig::default()),
            fixed_symbol: symbol.map(|s| s.to_ascii_uppercase()),
            seen: Vec::new(),
            handled: false,
        }
    }

    fn seen_mut(&mut self, inst: InstrumentIdx) -> &mut Seen {
        let i = usize::from(inst.0);
        if self.seen.len() <= i {
            self.seen.resize(i + 1, Seen::default());
        }
        &mut self.seen[i]
    }
}

impl VenueReplay for GateReplay {
    fn name(&self) -> &'static str {
        "gateio"
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
        let venue = self.md.venue();
        let snap_inst = match &rec.kind {
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
                let pair = url
                    .split(['?', '&'])
                    .find_map(|kv| kv.strip_prefix("currency_pair="))
                    .map(str::to_ascii_uppercase)
                    .or_else(|| self.fixed_symbol.clone());
                let Some(pair) = pair else {
                    return Err(FrameError {
                        inst: None,
                        reason: format!("REST snapshot {url}: no currency_pair (use --symbol)"),
                    });
                };
                match table.lookup_or_add(venue, &pair, SCALE, SCALE) {
                    Ok(i) => Some(i),
                    Err(e) => {
                        return Err(FrameError {
                            inst: None,
                            reason: e.to_string(),
                        })
                    }
                }
            }
            RecordKind::Frame => None,
        };
        let snap = snap_inst.and_then(|i| table.resolved(i));
        let mut seen = snap_inst;
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
        match res {
            Ok(GateFrameInfo::Book { inst, .. }) => {
                let s = self.seen_mut(inst);
                s.frames += 1;
                if snap_inst.is_none() {
                    s.file = rec.file;
                }
                Ok(())
            }
            Ok(GateFrameInfo::Other) => Ok(()),
            Err(e) => {
                if let Some(i) = seen {
                    self.seen_mut(i).frames += 1;
                }
                // A bad WS frame was handled by the decoder; a bad snapshot breaks nothing.
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
            applied: c.applied,
            stale_dropped: c.stale_dropped,
            gaps: c.gaps,
            resyncs: c.resyncs,
        }
    }
}
