//! The write-ahead intents journal: every intent is appended here *before* its request is
//! written to a socket, and every state change after; on restart the journal says which intents
//! may be live at a venue and must be reconciled before any new order (DESIGN §6).
//!
//! The file is mapped (`shm::mapfile`), so an append is a memory copy — it survives the process
//! dying at any instruction (`kill -9`); [`Journal::sync`] adds durability against power loss.
//! Layout: a 4 KiB header, then fixed 128-byte records. Each record carries a CRC32 of its other
//! 124 bytes, written last; a record whose CRC does not match is a torn append (the process died
//! mid-write, so its request was never sent) and marks the end of the journal.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::atomic::{compiler_fence, Ordering},
};

use lyra_shm::{
    mapfile::{MapFileError, MappedFile},
    msg::{
        InstrumentIdx, IntentAction, OrdType, OrderIntent, OrderState, Px, Qty, Side, Tif, VenueId,
    },
};
use thiserror::Error;

use crate::venue::{IdText, ID_MAX};

/// Bytes per record.
pub const RECORD_LEN: usize = 128;
const HEADER_LEN: usize = 4096;
const MAGIC: &[u8; 8] = b"LYRAJRNL";
const VERSION: u32 = 1;

/// Why the journal refused.
#[derive(Debug, Error)]
pub enum JournalError {
    /// The file could not be opened or mapped.
    #[error("journal: {0}")]
    Map(#[from] MapFileError),
    /// The header is not a Lyra journal of this version.
    #[error("journal {path}: {reason}")]
    BadHeader {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The journal belongs to another run: reconcile or archive it before starting a new run.
    #[error("journal {path}: belongs to run {found:?}, not {expected:?}")]
    OtherRun {
        /// The file.
        path: String,
        /// Its run id.
        found: String,
        /// Ours.
        expected: String,
    },
    /// No room for another record: the OMS must stop sending (and halt).
    #[error("journal full ({capacity} records)")]
    Full {
        /// Records the file holds.
        capacity: u64,
    },
}

/// An intent as the journal last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournaledIntent {
    /// The intent as written before the send.
    pub intent: OrderIntent,
    /// Its latest state.
    pub state: OrderState,
    /// Venue order id, once known (0 before).
    pub venue_order_id: u64,
    /// Cumulative filled quantity, once known.
    pub cum_qty: Qty,
    /// The venue's order id as text (OKX `ordId`, Kraken txid), once known (empty before and
    /// on Binance, whose numeric id is `venue_order_id`).
    pub venue_id: IdText,
    /// Wall clock ns of its latest SENT record (written just before the request), 0 before:
    /// restart reconciliation waits out the request's life from here.
    pub sent_wall_ns: u64,
}

/// What opening the journal found.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Every intent in the journal, by intent sequence.
    pub intents: BTreeMap<u64, JournaledIntent>,
    /// Valid records read.
    pub records: u64,
    /// Whether a torn record (a crash mid-append) ended the journal.
    pub torn_tail: bool,
}

impl Recovery {
    /// The first unused intent sequence: ids are never reused.
    pub fn next_intent_seq(&self) -> u64 {
        self.intents.keys().next_back().map_or(1, |s| s + 1)
    }

    /// Intents that may still be live at a venue (not terminal): reconcile these first.
    pub fn non_terminal(&self) -> impl Iterator<Item = &JournaledIntent> {
        self.intents.values().filter(|j| !j.state.is_terminal())
    }
}

/// The journal, open for appending.
pub struct Journal {
    file: MappedFile,
    capacity: u64,
    next: u64,
}

const KIND_INTENT: u8 = 1;
const KIND_STATE: u8 = 2;

impl Journal {
    /// Opens (or creates) the journal of `run_id` at `path` with room for `capacity` records, and
    /// reads what it holds.
    ///
    /// # Errors
    /// [`JournalError`] naming the file and the cause.
    pub fn open(
        path: impl AsRef<Path>,
        run_id: &str,
        capacity: u64,
    ) -> Result<(Self, Recovery), JournalError> {
        let path = path.as_ref();
        let len = HEADER_LEN as u64 + capacity * RECORD_LEN as u64;
        let mut file = MappedFile::open_or_create(path, len)?;
        let p = path.display().to_string();
        let bytes = file.bytes_mut();
        if bytes[..8] == [0u8; 8] {
            write_header(&mut bytes[..HEADER_LEN], run_id, capacity);
        }
        check_header(&bytes[..HEADER_LEN], run_id, capacity, &p)?;
        let mut rec = Recovery::default();
        let mut next = 0;
        while next < capacity {
            let at = HEADER_LEN + next as usize * RECORD_LEN;
            let r = &bytes[at..at + RECORD_LEN];
            if r.iter().all(|&b| b == 0) {
                break;
            }
            if crc32fast::hash(&r[4..]) != u32::from_le_bytes(r[..4].try_into().unwrap_or_default())
                || u64_at(r, 8) != next + 1
            {
                // A torn append: clear it so the next record starts on clean bytes.
                rec.torn_tail = true;
                bytes[at..at + RECORD_LEN].fill(0);
                break;
            }
            apply(&mut rec, r);
            rec.records += 1;
            next += 1;
        }
        Ok((
            Self {
                file,
                capacity,
                next,
            },
            rec,
        ))
    }

    /// Appends an intent before its request is sent. Allocation-free.
    ///
    /// # Errors
    /// [`JournalError::Full`].
    pub fn append_intent(
        &mut self,
        intent: &OrderIntent,
        wall_ns: u64,
    ) -> Result<(), JournalError> {
        self.append(|r| {
            r[4] = KIND_INTENT;
            r[5] = OrderState::New as u8;
            put_u64(r, 16, intent.intent_seq);
            put_u64(r, 24, wall_ns);
            encode_intent(&mut r[48..112], intent);
        })
    }

    /// Appends a state change of intent `intent_seq`. Allocation-free.
    ///
    /// # Errors
    /// [`JournalError::Full`].
    pub fn append_state(
        &mut self,
        intent_seq: u64,
        state: OrderState,
        venue_order_id: u64,
        cum_qty: Qty,
        wall_ns: u64,
    ) -> Result<(), JournalError> {
        self.append(|r| {
            r[4] = KIND_STATE;
            r[5] = state as u8;
            put_u64(r, 16, intent_seq);
            put_u64(r, 24, wall_ns);
            put_u64(r, 32, venue_order_id);
            put_u64(r, 40, cum_qty.0 as u64);
        })
    }

    /// [`Journal::append_state`] that also records the venue's text order id (OKX `ordId`,
    /// Kraken txid: a Kraken order that has closed can be queried by txid only, so restart
    /// recovery needs it). The text sits in bytes 48..89 of the state record, which version-1
    /// readers never looked at, so the file format stays compatible both ways.
    ///
    /// # Errors
    /// [`JournalError::Full`].
    pub fn append_state_with_id(
        &mut self,
        intent_seq: u64,
        state: OrderState,
        venue_order_id: u64,
        venue_id: &IdText,
        cum_qty: Qty,
        wall_ns: u64,
    ) -> Result<(), JournalError> {
        self.append(|r| {
            r[4] = KIND_STATE;
            r[5] = state as u8;
            put_u64(r, 16, intent_seq);
            put_u64(r, 24, wall_ns);
            put_u64(r, 32, venue_order_id);
            put_u64(r, 40, cum_qty.0 as u64);
            let t = venue_id.as_str().as_bytes();
            r[48] = t.len() as u8;
            r[49..49 + t.len()].copy_from_slice(t);
        })
    }

    fn append(&mut self, fill: impl FnOnce(&mut [u8])) -> Result<(), JournalError> {
        if self.next >= self.capacity {
            return Err(JournalError::Full {
                capacity: self.capacity,
            });
        }
        let at = HEADER_LEN + self.next as usize * RECORD_LEN;
        let r = &mut self.file.bytes_mut()[at..at + RECORD_LEN];
        r.fill(0);
        put_u64(r, 8, self.next + 1);
        fill(r);
        let crc = crc32fast::hash(&r[4..]);
        // The CRC goes last: a crash before this store leaves a record that fails its check.
        compiler_fence(Ordering::Release);
        r[..4].copy_from_slice(&crc.to_le_bytes());
        self.next += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn len(&self) -> u64 {
        self.next
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.next == 0
    }

    /// Records the file can hold.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Flushes to disk and waits: durable against power loss (a syscall; not on the hot path).
    ///
    /// # Errors
    /// The OS error.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync()
    }
}

fn write_header(h: &mut [u8], run_id: &str, capacity: u64) {
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(RECORD_LEN as u32).to_le_bytes());
    put_u64(h, 16, capacity);
    let id = run_id.as_bytes();
    let n = id.len().min(32);
    h[24] = n as u8;
    h[25..25 + n].copy_from_slice(&id[..n]);
}

fn check_header(h: &[u8], run_id: &str, capacity: u64, path: &str) -> Result<(), JournalError> {
    let bad = |reason: String| JournalError::BadHeader {
        path: path.to_owned(),
        reason,
    };
    if &h[..8] != MAGIC {
        return Err(bad("not a Lyra journal (magic)".into()));
    }
    let version = u32::from_le_bytes(h[8..12].try_into().unwrap_or_default());
    if version != VERSION {
        return Err(bad(format!(
            "version {version}, this build reads {VERSION}"
        )));
    }
    if u32::from_le_bytes(h[12..16].try_into().unwrap_or_default()) as usize != RECORD_LEN
        || u64_at(h, 16) != capacity
    {
        return Err(bad("record size or capacity differs".into()));
    }
    let n = h[24] as usize;
    let found = String::from_utf8_lossy(&h[25..25 + n.min(32)]).into_owned();
    if found != run_id {
        return Err(JournalError::OtherRun {
            path: path.to_owned(),
            found,
            expected: run_id.to_owned(),
        });
    }
    Ok(())
}

fn apply(rec: &mut Recovery, r: &[u8]) {
    let seq = u64_at(r, 16);
    let state = state_from(r[5]);
    match r[4] {
        KIND_INTENT => {
            let intent = decode_intent(&r[48..112]);
            rec.intents.insert(
                seq,
                JournaledIntent {
                    intent,
                    state,
                    venue_order_id: 0,
                    cum_qty: Qty(0),
                    venue_id: IdText::default(),
                    sent_wall_ns: 0,
                },
            );
        }
        KIND_STATE => {
            if let Some(j) = rec.intents.get_mut(&seq) {
                j.state = state;
                if state == OrderState::Sent {
                    j.sent_wall_ns = u64_at(r, 24);
                }
                let voi = u64_at(r, 32);
                if voi != 0 {
                    j.venue_order_id = voi;
                }
                j.cum_qty = Qty(u64_at(r, 40) as i64);
                let n = (r[48] as usize).min(ID_MAX);
                if n > 0 {
                    if let Some(id) = std::str::from_utf8(&r[49..49 + n])
                        .ok()
                        .and_then(IdText::new)
                    {
                        j.venue_id = id;
                    }
                }
            }
        }
        _ => {}
    }
}

fn state_from(b: u8) -> OrderState {
    use OrderState::*;
    [
        New,
        Sent,
        Acked,
        SentUnknown,
        Partial,
        Filled,
        Canceled,
        Rejected,
        Expired,
    ]
    .get(b as usize)
    .copied()
    .unwrap_or(SentUnknown)
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

fn encode_intent(b: &mut [u8], i: &OrderIntent) {
    put_u64(b, 0, i.intent_seq);
    put_u64(b, 8, i.group_id);
    put_u64(b, 16, i.decided_ts);
    put_u64(b, 24, i.book_seq);
    put_u64(b, 32, i.px.0 as u64);
    put_u64(b, 40, i.qty.0 as u64);
    put_u64(b, 48, i.target_seq);
    b[56..58].copy_from_slice(&i.instrument.0.to_le_bytes());
    b[58] = i.venue.0;
    b[59] = i.side as u8;
    b[60] = i.ord_type as u8;
    b[61] = i.tif as u8;
    b[62] = i.action as u8;
    b[63] = i.strategy;
}

fn decode_intent(b: &[u8]) -> OrderIntent {
    OrderIntent {
        intent_seq: u64_at(b, 0),
        group_id: u64_at(b, 8),
        decided_ts: u64_at(b, 16),
        book_seq: u64_at(b, 24),
        px: Px(u64_at(b, 32) as i64),
        qty: Qty(u64_at(b, 40) as i64),
        target_seq: u64_at(b, 48),
        instrument: InstrumentIdx(u16::from_le_bytes([b[56], b[57]])),
        venue: VenueId(b[58]),
        side: if b[59] == 1 { Side::Sell } else { Side::Buy },
        ord_type: match b[60] {
            1 => OrdType::LimitMaker,
            2 => OrdType::Market,
            _ => OrdType::Limit,
        },
        tif: match b[61] {
            1 => Tif::Ioc,
            2 => Tif::Fok,
            _ => Tif::Gtc,
        },
        action: if b[62] == 1 {
            IntentAction::Cancel
        } else {
            IntentAction::New
        },
        strategy: b[63],
    }
}
