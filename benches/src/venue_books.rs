//! `venue-books`: decode + sequence + book apply + venue checksum per book message, over the real
//! OKX (`2022-05-13_okx/OKX.ws.1.0`, 400-level `books`, 290 messages) and Kraken WS v1
//! (`2021-04-17_kraken/KRAKEN.ws.50.0`, 10 pairs at depth 1000, 4,279 messages) captures.
//!
//! - `okx-lyra` / `kraken-lyra`: `feeds::okx::OkxMd` / `feeds::kraken::KrakenMd` (simd-json ->
//!   mantissas -> sequencing/truncation -> `MdEvent`s) applied to `engine::book::L2Book`, the
//!   checksum recomputed from the mantissas (`ChecksumRecipe::verify_event`);
//! - `*-serde-decimal-btreemap`: `serde_json::Value`, `rust_decimal::Decimal` levels in
//!   `BTreeMap<Decimal, Decimal>`, the same truncation, and the checksum string built from the
//!   Decimals' own text (a Decimal keeps the scale it was parsed with, so this is the "keep the
//!   original strings" approach).
//!
//! One histogram sample per book message. Each pass counts verified checksums on both sides
//! and fails unless every checksum verifies on both (equal work, both correct).

use std::{collections::BTreeMap, hint::black_box, str::FromStr};

use anyhow::{bail, ensure, Context, Result};
use hdrhistogram::Histogram;
use lyra_engine::book::{BookConfig, L2Book};
use lyra_feeds::{
    checksum::ChecksumRecipe,
    instrument::InstrumentTable,
    kraken::{KrakenFrameInfo, KrakenMd},
    okx::{OkxFrameInfo, OkxMd},
};
use lyra_shm::{
    clock::mono_now_ns,
    msg::{MdEvent, MdKind, VenueId},
};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::{
    parse::data_dir,
    report::{new_hist, Report},
    Opts,
};

/// Received frames of a cryptofeed capture (`<ts>: <json>` lines).
fn load(rel: &str) -> Result<Vec<String>> {
    let path = data_dir()?.join(rel);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .filter_map(|l| l.split_once(": ").map(|(_, f)| f.to_owned()))
        .collect())
}

/// Which venue a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Venue {
    Okx,
    Kraken,
}

/// The Lyra side: decoder + one `L2Book` per instrument (created before timing).
struct LyraPipe {
    venue: Venue,
    okx: OkxMd,
    kraken: KrakenMd,
    table: InstrumentTable,
    books: Vec<L2Book>,
    events: Vec<MdEvent>,
    ok: u64,
    fail: u64,
}

const SCALE: u8 = 8;

impl LyraPipe {
    fn new(venue: Venue, frames: &[String]) -> Self {
        let v = VenueId(0);
        let mut p = Self {
            venue,
            okx: OkxMd::new(v),
            kraken: KrakenMd::new(v, 10),
            table: InstrumentTable::new(),
            books: Vec::new(),
            events: Vec::with_capacity(1 << 14),
            ok: 0,
            fail: 0,
        };
        // Register every instrument up front, so the timed loop never grows a table or a book.
        let (okx_re, kraken_re) = (r#""instId":""#, r#"","#);
        for f in frames {
            let sym = match venue {
                Venue::Okx => f
                    .split_once(okx_re)
                    .and_then(|(_, r)| r.split_once('"'))
                    .map(|(s, _)| s),
                Venue::Kraken if f.starts_with('[') => f
                    .trim_end_matches(']')
                    .rsplit_once(kraken_re)
                    .map(|(_, s)| s.trim_matches('"')),
                Venue::Kraken => None,
            };
            if let Some(sym) = sym {
                let _ = p.table.lookup_or_add(v, sym, SCALE, SCALE);
            }
        }
        let cfg = BookConfig::default();
        p.books = p.table.iter().map(|i| L2Book::new(v, i.idx, cfg)).collect();
        p
    }

    /// One frame; whether it was a book message.
    #[inline]
    fn frame(&mut self, f: &[u8]) -> Result<bool> {
        self.events.clear();
        let table = &self.table;
        let mut resolve = |s: &[u8]| table.resolve(VenueId(0), s);
        let book = match self.venue {
            Venue::Okx => matches!(
                self.okx.on_frame(0, f, &mut resolve, &mut self.events),
                Ok(OkxFrameInfo::Book { .. })
            ),
            Venue::Kraken => matches!(
                self.kraken.on_frame(0, f, &mut resolve, &mut self.events),
                Ok(KrakenFrameInfo::Book { .. })
            ),
        };
        for ev in &self.events {
            let Some(b) = self.books.get_mut(usize::from(ev.instrument.0)) else {
                bail!("event for an unregistered instrument");
            };
            if ev.kind == MdKind::Checksum {
                let bids = b.bids().map(|(p, q)| (p.0, q.0));
                let asks = b.asks().map(|(p, q)| (p.0, q.0));
                match ChecksumRecipe::verify_event(ev, bids, asks, SCALE, SCALE) {
                    Some(true) => self.ok += 1,
                    _ => self.fail += 1,
                }
            } else {
                b.apply(ev);
            }
        }
        Ok(book)
    }
}

/// The baseline book of one instrument.
#[derive(Default)]
struct BaseBook {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

/// The baseline: `serde_json::Value` + `Decimal` + `BTreeMap`, checksum from Decimal text.
struct BasePipe {
    venue: Venue,
    books: BTreeMap<String, BaseBook>,
    ok: u64,
    fail: u64,
    text: String,
}

fn dec(v: &Value) -> Result<Decimal> {
    Decimal::from_str(v.as_str().context("level text")?).context("decimal")
}

fn set(side: &mut BTreeMap<Decimal, Decimal>, p: Decimal, q: Decimal) {
    if q.is_zero() {
        side.remove(&p);
    } else {
        side.insert(p, q);
    }
}

impl BasePipe {
    fn new(venue: Venue) -> Self {
        Self {
            venue,
            books: BTreeMap::new(),
            ok: 0,
            fail: 0,
            text: String::new(),
        }
    }

    fn frame(&mut self, f: &str) -> Result<bool> {
        let v: Value = serde_json::from_str(f)?;
        match self.venue {
            Venue::Okx => self.okx(&v),
            Venue::Kraken => self.kraken(&v),
        }
    }

    fn okx(&mut self, v: &Value) -> Result<bool> {
        let Some(action) = v.get("action").and_then(Value::as_str) else {
            return Ok(false);
        };
        let inst = v["arg"]["instId"].as_str().context("instId")?;
        let d = &v["data"][0];
        let b = self.books.entry(inst.to_owned()).or_default();
        if action == "snapshot" {
            b.bids.clear();
            b.asks.clear();
        }
        for (k, side) in [("bids", &mut b.bids), ("asks", &mut b.asks)] {
            for l in d[k].as_array().context("levels")? {
                set(side, dec(&l[0])?, dec(&l[1])?);
            }
        }
        let want = d["checksum"].as_i64().context("checksum")?;
        self.text.clear();
        let mut bi = b.bids.iter().rev().take(25);
        let mut ai = b.asks.iter().take(25);
        loop {
            let (x, y) = (bi.next(), ai.next());
            if x.is_none() && y.is_none() {
                break;
            }
            for (p, q) in [x, y].into_iter().flatten() {
                if !self.text.is_empty() {
                    self.text.push(':');
                }
                self.text.push_str(&format!("{p}:{q}"));
            }
        }
        let got = crc32fast::hash(self.text.as_bytes()) as i32;
        if i64::from(got) == want {
            self.ok += 1;
        } else {
            self.fail += 1;
        }
        Ok(true)
    }

    fn kraken(&mut self, v: &Value) -> Result<bool> {
        let Some(a) = v.as_array() else {
            return Ok(false);
        };
        let n = a.len();
        if n < 4 || !a[n - 2].as_str().is_some_and(|c| c.starts_with("book")) {
            return Ok(false);
        }
        let pair = a[n - 1].as_str().context("pair")?;
        let b = self.books.entry(pair.to_owned()).or_default();
        let mut checksum = None;
        for d in &a[1..n - 2] {
            for (k, lv) in d.as_object().context("dict")? {
                let side = match k.as_str() {
                    "as" | "a" => &mut b.asks,
                    "bs" | "b" => &mut b.bids,
                    "c" => {
                        checksum = lv.as_str().and_then(|c| c.parse::<u32>().ok());
                        continue;
                    }
                    _ => continue,
                };
                for l in lv.as_array().context("levels")? {
                    set(side, dec(&l[0])?, dec(&l[1])?);
                }
            }
        }
        while b.bids.len() > 1000 {
            b.bids.pop_first();
        }
        while b.asks.len() > 1000 {
            b.asks.pop_last();
        }
        if let Some(want) = checksum {
            self.text.clear();
            let items = b.asks.iter().take(10).chain(b.bids.iter().rev().take(10));
            for (p, q) in items {
                for x in [p, q] {
                    let s = x.to_string().replace('.', "");
                    self.text.push_str(s.trim_start_matches('0'));
                }
            }
            if crc32fast::hash(self.text.as_bytes()) == want {
                self.ok += 1;
            } else {
                self.fail += 1;
            }
        }
        Ok(true)
    }
}

fn measure(venue: Venue, frames: &[String], passes: u64, name: &str) -> Result<Vec<Report>> {
    let (mut h_lyra, mut h_base) = (new_hist(), new_hist());
    let (mut ns_lyra, mut ns_base) = (0u64, 0u64);
    for pass in 0..=passes {
        let record = pass > 0; // pass 0 warms caches and branch predictors
        let mut pipe = LyraPipe::new(venue, frames);
        for f in frames {
            let t0 = mono_now_ns();
            let book = pipe.frame(f.as_bytes())?;
            let dt = mono_now_ns() - t0;
            if book && record {
                h_lyra.saturating_record(dt);
                ns_lyra += dt;
            }
        }
        let mut base = BasePipe::new(venue);
        for f in frames {
            let t0 = mono_now_ns();
            let book = base.frame(f)?;
            black_box(&base.books);
            let dt = mono_now_ns() - t0;
            if book && record {
                h_base.saturating_record(dt);
                ns_base += dt;
            }
        }
        ensure!(
            pipe.fail == 0 && base.fail == 0 && pipe.ok == base.ok && pipe.ok > 0,
            "{name}: checksums lyra {}/{} baseline {}/{}",
            pipe.ok,
            pipe.fail,
            base.ok,
            base.fail
        );
    }
    let per_s = |hist: &Histogram<u64>, ns: u64| hist.len() as f64 * 1e9 / ns.max(1) as f64;
    Ok(vec![
        Report::from_hist(
            "venue-books",
            &format!("{name}-lyra"),
            &h_lyra,
            per_s(&h_lyra, ns_lyra),
        ),
        Report::from_hist(
            "venue-books",
            &format!("{name}-serde-decimal-btreemap"),
            &h_base,
            per_s(&h_base, ns_base),
        ),
    ])
}

/// The suite's entry.
///
/// # Errors
/// Missing data, undecodable frames, or a checksum that does not verify on either side.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let okx = load("cryptofeed/2022-05-13_okx/OKX.ws.1.0")?;
    let kraken = load("cryptofeed/2021-04-17_kraken/KRAKEN.ws.50.0")?;
    let mut out = measure(Venue::Okx, &okx, opts.pick(20, 3), "okx")?;
    out.extend(measure(Venue::Kraken, &kraken, opts.pick(8, 2), "kraken")?);
    Ok(out)
}
