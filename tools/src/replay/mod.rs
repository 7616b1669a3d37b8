//! `lyra replay`: runs the real venue decoders, depth syncs and L2 books over recordings, with
//! no network (snapshots come from the recording), and prints one JSON line per (venue, symbol).
//!
//! The driver is venue-generic: a [`adapter::VenueReplay`] turns records into `MdEvent`s; the
//! driver applies them to one [`L2Book`] per instrument and keeps the checks: crossed books,
//! venue checksums (`MdKind::Checksum`, verified by the adapter), and top-of-book cross-checks
//! (`MdKind::Bbo` events whose `seq` is in the book's update-id space, e.g. Binance bookTicker
//! `u`: whenever a BBO's `seq` equals the sequence of an applied book message, the rebuilt top
//! right after that message must equal it).

pub mod adapter;
pub mod binance;
pub mod gateio;
pub mod kraken;
pub mod okx;
pub mod source;

use std::path::PathBuf;

use anyhow::{bail, Result};
use lyra_engine::book::{Applied, L2Book};
use lyra_feeds::instrument::InstrumentTable;
use lyra_shm::{
    decimal::format_canonical,
    msg::{md_flags, InstrumentIdx, MdEvent, MdKind, Side},
};
use serde::Serialize;

use self::{
    adapter::VenueReplay,
    source::{NativeReader, Record},
};

/// Recording formats `lyra replay` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `<recv ns> <raw frame>` per line (what `lyra record` writes; the hftbacktest captures).
    Native,
    /// cryptofeed raw captures; all files are merged by timestamp.
    Cryptofeed,
}

/// `lyra replay` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Venue whose decoder to run (binance, okx, kraken, gateio).
    #[arg(long)]
    pub venue: String,
    /// Recording format.
    #[arg(long, value_enum, default_value = "native")]
    pub format: Format,
    /// Only this symbol (venue spelling); also names unnamed REST snapshots.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Also print the top N levels after every applied book message.
    #[arg(long)]
    pub top: Option<usize>,
    /// Recordings (native: concatenated in this order; `.gz` is decompressed).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// The adapter for a venue name; a new venue adds one line here and one file beside this one.
pub fn adapter_for(venue: &str, symbol: Option<String>) -> Option<Box<dyn VenueReplay>> {
    match venue.to_ascii_lowercase().as_str() {
        "binance" => Some(Box::new(binance::BinanceReplay::new(
            lyra_shm::msg::VenueId(0),
            symbol,
        ))),
        "okx" => Some(Box::new(okx::OkxReplay::new(lyra_shm::msg::VenueId(0)))),
        "kraken" => Some(Box::new(kraken::KrakenReplay::new(lyra_shm::msg::VenueId(
            0,
        )))),
        "gateio" | "gate" => Some(Box::new(gateio::GateReplay::new(
            lyra_shm::msg::VenueId(0),
            symbol,
        ))),
        _ => None,
    }
}

/// BBOs remembered per book while waiting for the depth message with the same sequence.
const BBO_MEMORY: usize = 64;

/// One remembered top-of-book: `(seq, bid px, bid qty, ask px, ask qty)`.
type Bbo = (u64, i64, i64, i64, i64);

/// Driver-side state and checks of one book.
struct BookState {
    book: L2Book,
    book_msgs: u64,
    crossed: u64,
    checksum_ok: u64,
    checksum_fail: u64,
    bbo_checked: u64,
    bbo_mismatch: u64,
    malformed: u64,
    /// Ring of recent BBOs, newest at `bbo_next - 1`.
    bbos: [Bbo; BBO_MEMORY],
    bbo_next: usize,
    /// The bid half of a BBO whose ask half has not arrived yet.
    pending_bid: Option<(u64, i64, i64)>,
}

impl BookState {
    fn new(book: L2Book) -> Self {
        Self {
            book,
            book_msgs: 0,
            crossed: 0,
            checksum_ok: 0,
            checksum_fail: 0,
            bbo_checked: 0,
            bbo_mismatch: 0,
            malformed: 0,
            bbos: [(u64::MAX, 0, 0, 0, 0); BBO_MEMORY],
            bbo_next: 0,
            pending_bid: None,
        }
    }

    fn check_bbo(&mut self, b: &Bbo) {
        if !self.book.is_valid() {
            return;
        }
        self.bbo_checked += 1;
        let top = (self.book.best_bid(), self.book.best_ask());
        let ok = matches!(top, (Some((bp, bq)), Some((ap, aq)))
            if (bp.0, bq.0, ap.0, aq.0) == (b.1, b.2, b.3, b.4));
        if !ok {
            self.bbo_mismatch += 1;
        }
    }
}

/// One output line.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    venue: &'a str,
    symbol: &'a str,
    frames: u64,
    book_msgs: u64,
    applied: u64,
    stale_dropped: u64,
    gaps: u64,
    resyncs: u64,
    checksum_ok: u64,
    checksum_fail: u64,
    crossed: u64,
    bbo_checked: u64,
    bbo_mismatch: u64,
    malformed: u64,
    valid_at_end: bool,
    best_bid: Option<String>,
    best_bid_qty: Option<String>,
    best_ask: Option<String>,
    best_ask_qty: Option<String>,
    bid_levels: usize,
    ask_levels: usize,
}

/// The replay run: adapter, instrument table, books.
struct Driver {
    adapter: Box<dyn VenueReplay>,
    table: InstrumentTable,
    books: Vec<Option<BookState>>,
    events: Vec<MdEvent>,
    top: Option<usize>,
    only: Option<String>,
}

impl Driver {
    fn state(&mut self, inst: InstrumentIdx) -> &mut BookState {
        let i = usize::from(inst.0);
        if self.books.len() <= i {
            self.books.resize_with(i + 1, || None);
        }
        let (venue, cfg) = (self.adapter.venue(), self.adapter.book_config(inst));
        self.books[i].get_or_insert_with(|| BookState::new(L2Book::new(venue, inst, cfg)))
    }

    fn symbol(&self, inst: InstrumentIdx) -> String {
        self.table
            .get(inst)
            .map_or_else(|| format!("#{}", inst.0), |i| i.name.clone())
    }

    fn wanted(&self, inst: InstrumentIdx) -> bool {
        match &self.only {
            Some(s) => self.symbol(inst).eq_ignore_ascii_case(s),
            None => true,
        }
    }

    fn record(&mut self, rec: &Record, path: &str) {
        self.events.clear();
        let mut events = std::mem::take(&mut self.events);
        if let Err(e) = self.adapter.on_record(rec, &mut self.table, &mut events) {
            eprintln!(
                "lyra replay: {} {}:{}: malformed record: {}",
                self.adapter.name(),
                path,
                rec.line,
                e.reason
            );
            match e.inst {
                Some(i) => self.state(i).malformed += 1,
                None => self
                    .books
                    .iter_mut()
                    .flatten()
                    .for_each(|b| b.malformed += 1),
            }
            self.adapter.on_malformed(e.inst, rec.recv_ns, &mut events);
        }
        for ev in &events {
            self.apply(ev);
        }
        self.events = events;
    }

    fn apply(&mut self, ev: &MdEvent) {
        let top_n = self.top;
        let print_top = top_n.is_some() && self.wanted(ev.instrument);
        let st = self.state(ev.instrument);
        match ev.kind {
            MdKind::Bbo => {
                match ev.side {
                    Side::Buy => st.pending_bid = Some((ev.seq, ev.px.0, ev.qty.0)),
                    Side::Sell => {
                        if let Some((seq, bp, bq)) = st.pending_bid.take() {
                            if seq == ev.seq {
                                let b = (seq, bp, bq, ev.px.0, ev.qty.0);
                                if st.book.seq() == seq {
                                    // The book message with this sequence was applied already.
                                    st.check_bbo(&b);
                                } else {
                                    st.bbos[st.bbo_next] = b;
                                    st.bbo_next = (st.bbo_next + 1) % BBO_MEMORY;
                                }
                            }
                        }
                    }
                }
                return;
            }
            MdKind::Checksum => {
                let Some(Some(st)) = self.books.get_mut(usize::from(ev.instrument.0)) else {
                    return;
                };
                match self.adapter.verify_checksum(&st.book, ev) {
                    Some(true) => st.checksum_ok += 1,
                    Some(false) => {
                        // The rebuilt book is not the venue's: invalid until a new snapshot.
                        st.checksum_fail += 1;
                        st.book
                            .invalidate(lyra_shm::msg::InvalidReason::ChecksumMismatch);
                    }
                    None => {}
                }
                return;
            }
            _ => {}
        }
        let outcome = st.book.apply(ev);
        let book_msg_end = ev.flags & md_flags::END_OF_MESSAGE != 0
            && matches!(ev.kind, MdKind::Level | MdKind::SnapshotEnd);
        if !book_msg_end {
            return;
        }
        st.book_msgs += 1;
        if outcome == Applied::Invalidated(lyra_shm::msg::InvalidReason::Crossed) {
            st.crossed += 1;
        }
        if ev.kind == MdKind::Level {
            if let Some(b) = st.bbos.iter().find(|b| b.0 == ev.seq).copied() {
                st.check_bbo(&b);
            }
        }
        if print_top {
            let n = top_n.unwrap_or(0);
            let st = &self.books[usize::from(ev.instrument.0)];
            if let Some(st) = st {
                self.print_top(st, n);
            }
        }
    }

    fn print_top(&self, st: &BookState, n: usize) {
        let inst = st.book.instrument();
        let (ps, qs) = self
            .table
            .get(inst)
            .map_or((8, 8), |i| (i.px_scale, i.qty_scale));
        let fmt = |it: &mut dyn Iterator<Item = (lyra_shm::msg::Px, lyra_shm::msg::Qty)>| {
            it.take(n)
                .map(|(p, q)| {
                    [
                        format_canonical(p.0, ps).to_string(),
                        format_canonical(q.0, qs).to_string(),
                    ]
                })
                .collect::<Vec<_>>()
        };
        let line = serde_json::json!({
            "venue": self.adapter.name(),
            "symbol": self.symbol(inst),
            "seq": st.book.seq(),
            "valid": st.book.is_valid(),
            "bids": fmt(&mut st.book.bids()),
            "asks": fmt(&mut st.book.asks()),
        });
        println!("{line}");
    }

    fn summaries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for st in self.books.iter().flatten() {
            let inst = st.book.instrument();
            if !self.wanted(inst) {
                continue;
            }
            let (ps, qs) = self
                .table
                .get(inst)
                .map_or((8, 8), |i| (i.px_scale, i.qty_scale));
            let c = self.adapter.counters(inst);
            let bid = st.book.best_bid();
            let ask = st.book.best_ask();
            let symbol = self.symbol(inst);
            if !st.book.is_valid() {
                eprintln!(
                    "lyra replay: {} {}: no valid book at end ({}): a book is only published after a snapshot bridges the stream",
                    self.adapter.name(),
                    symbol,
                    if c.applied == 0 && st.book_msgs == 0 {
                        "never synced".to_owned()
                    } else {
                        format!("invalid: {:?}", st.book.invalid_reason())
                    }
                );
            }
            let s = Summary {
                venue: self.adapter.name(),
                symbol: &symbol,
                frames: c.frames,
                book_msgs: st.book_msgs,
                applied: c.applied,
                stale_dropped: c.stale_dropped,
                gaps: c.gaps,
                resyncs: c.resyncs,
                checksum_ok: st.checksum_ok,
                checksum_fail: st.checksum_fail,
                crossed: st.crossed,
                bbo_checked: st.bbo_checked,
                bbo_mismatch: st.bbo_mismatch,
                malformed: st.malformed,
                valid_at_end: st.book.is_valid(),
                best_bid: bid.map(|(p, _)| format_canonical(p.0, ps).to_string()),
                best_bid_qty: bid.map(|(_, q)| format_canonical(q.0, qs).to_string()),
                best_ask: ask.map(|(p, _)| format_canonical(p.0, ps).to_string()),
                best_ask_qty: ask.map(|(_, q)| format_canonical(q.0, qs).to_string()),
                bid_levels: st.book.bid_levels(),
                ask_levels: st.book.ask_levels(),
            };
            out.push(serde_json::to_string(&s).unwrap_or_default());
        }
        out
    }
}

/// Runs `lyra replay`.
///
/// # Errors
/// Unknown venue, unreadable files.
pub fn run(args: &ReplayArgs) -> Result<()> {
    let Some(adapter) = adapter_for(&args.venue, args.symbol.clone()) else {
        bail!(
            "lyra replay: no replay adapter for venue {:?} (known: binance, okx, kraken, gateio)",
            args.venue
        );
    };
    let mut d = Driver {
        adapter,
        table: InstrumentTable::new(),
        books: Vec::new(),
        events: Vec::with_capacity(1 << 14),
        top: args.top,
        only: args.symbol.clone(),
    };
    let names: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
    match args.format {
        Format::Native => {
            let mut r = NativeReader::new(args.files.clone());
            while let Some(rec) = r.next_record()? {
                d.record(&rec, &names[rec.file]);
            }
        }
        Format::Cryptofeed => {
            for rec in source::read_cryptofeed(&args.files)? {
                d.record(&rec, &names[rec.file]);
            }
        }
    }
    for line in d.summaries() {
        println!("{line}");
    }
    Ok(())
}
