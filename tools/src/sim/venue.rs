//! One simulated venue at run time: its matching state and generator behind one lock, the
//! subscribers its frames fan out to, and its rate-limit counters. Publishing happens under the
//! lock, so every subscriber sees the venue's frames in update-id order.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use crossbeam::channel::{Sender, TrySendError};

use super::{
    binance,
    config::Dialect,
    config::VenueCfg,
    faults::{FaultKind, Faults},
    kraken,
    market::{Latent, VenueGen},
    matching::{Effects, Matcher},
    okx,
    oracle::Oracle,
};

/// Market streams per instrument: depth, bookTicker, trade.
pub const KINDS: usize = 3;
/// Stream kind: diff depth.
pub const DEPTH: usize = 0;
/// Stream kind: best bid/offer.
pub const BOOK_TICKER: usize = 1;
/// Stream kind: trades.
pub const TRADE: usize = 2;

/// What a connection thread receives.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A market frame's `data` for (instrument, stream kind).
    Market {
        /// Instrument index.
        inst: u16,
        /// Stream kind.
        kind: u8,
        /// The event JSON (the connection wraps it for combined streams).
        data: Arc<str>,
    },
    /// A complete user-stream frame.
    User(Arc<str>),
    /// One private order report (OKX `orders` item, Kraken `executions` report) of instrument
    /// `inst`; the connection wraps it in its channel envelope (subscription arg, sequence).
    Private {
        /// Instrument index.
        inst: u16,
        /// The report JSON object.
        data: Arc<str>,
    },
}

/// A market-data subscriber: which (instrument, kind) it wants, and its queue.
#[derive(Debug)]
pub struct MarketSub {
    /// `wants[inst * KINDS + kind]`.
    pub wants: Arc<Vec<AtomicBool>>,
    /// Its queue (bounded: a subscriber that falls behind is dropped, like a real venue does).
    pub tx: Sender<Outbound>,
}

/// A user-data-stream subscriber.
#[derive(Debug)]
pub struct UserSub {
    /// Account index.
    pub account: usize,
    /// Subscription id in the frames.
    pub sub_id: u64,
    /// Its queue.
    pub tx: Sender<Outbound>,
}

/// Rate-limit state of one venue (one IP: loopback).
#[derive(Debug, Default)]
pub struct RateState {
    /// Current minute (ms / 60000).
    pub minute: u64,
    /// Weight used in it.
    pub weight: u32,
    /// Requests refused with 429 since the last ban.
    pub strikes: u32,
    /// Ban end, ms since epoch.
    pub ban_until_ms: u64,
    /// Last ban length, s (bans escalate).
    pub ban_secs: u64,
    /// Per account: (10 s window, count, day, count).
    pub orders: HashMap<usize, (u64, u32, u64, u32)>,
}

/// The lock-protected part of a venue.
#[derive(Debug)]
pub struct VenueState {
    /// Books, accounts, orders.
    pub m: Matcher,
    /// The generator.
    pub gen: VenueGen,
    /// Update id per instrument (Binance `u`).
    pub seq: Vec<u64>,
    /// Last published top per instrument, to emit bookTicker only on change.
    pub last_top: Vec<(i64, i64, i64, i64)>,
    /// Market subscribers.
    pub subs: Vec<MarketSub>,
    /// User-stream subscribers.
    pub users: Vec<UserSub>,
    /// FNV-1a over every published market frame (determinism checks).
    pub frames_hash: u64,
    /// Tick multiplier (the filter-change fault).
    pub tick_mult: i64,
    /// Steps taken.
    pub steps: u64,
    /// Kraken: the depth window last published per instrument (bids, asks).
    pub kr_window: Vec<(Levels, Levels)>,
    /// Kraken: last nonce per account.
    pub kr_nonce: Vec<u64>,
    /// Kraken: WebSocket tokens from `GetWebSocketsToken` → (account, expiry ms).
    pub kr_tokens: HashMap<String, (usize, u64)>,
    /// Reused buffers of the per-update depth reads and checksums.
    pub scratch: PublishScratch,
}

/// Buffers the publish path reuses on every update (it reads the top of the book and formats
/// checksum strings per update; reuse keeps that free of allocation once they have grown).
#[derive(Debug, Default)]
pub struct PublishScratch {
    /// OKX: the top-25 levels and check string.
    pub okx: okx::ws::CheckScratch,
    /// Kraken: the new depth window, swapped with the instrument's published one.
    pub kr_new: (Levels, Levels),
    /// Kraken: the check string.
    pub kr_text: String,
}

/// One venue.
#[derive(Debug)]
pub struct Venue {
    /// Index in the simulator.
    pub idx: usize,
    /// Configuration.
    pub cfg: VenueCfg,
    /// State.
    pub state: Mutex<VenueState>,
    /// Rate limits.
    pub rate: Mutex<RateState>,
}

/// (price, quantity) levels of one side.
type Levels = Vec<(i64, i64)>;

/// A 64-bit hash step over `bytes` (FNV-style multiply-xor, eight bytes at a time: frame
/// hashing runs on every published frame).
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01B3);
        h ^= h >> 29;
    }
    for &b in chunks.remainder() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

impl VenueState {
    /// A venue state; update ids start at a Binance-like large number so clients see realistic
    /// magnitudes.
    pub fn new(m: Matcher, gen: VenueGen) -> Self {
        let n = m.instruments.len();
        let n_accounts = m.accounts.len();
        Self {
            m,
            gen,
            seq: (0..n).map(|i| 1_000_000 * (i as u64 + 1)).collect(),
            last_top: vec![(0, 0, 0, 0); n],
            subs: Vec::new(),
            users: Vec::new(),
            frames_hash: 0xCBF2_9CE4_8422_2325,
            tick_mult: 1,
            steps: 0,
            kr_window: vec![(Vec::new(), Vec::new()); n],
            kr_nonce: vec![0; n_accounts],
            kr_tokens: HashMap::new(),
            scratch: PublishScratch::default(),
        }
    }

    /// One generator step of this venue, published.
    pub fn step(
        &mut self,
        v: &Venue,
        latent: &Latent,
        now_ms: u64,
        faults: &Faults,
        oracle: &Oracle,
    ) {
        let mut fx = Effects::default();
        self.gen.step(latent, &mut self.m, now_ms, &mut fx);
        self.steps += 1;
        self.publish(v, fx, now_ms, faults, oracle);
    }

    /// Sends a market frame to every subscriber that wants it; drops subscribers that fell behind.
    #[allow(clippy::too_many_arguments)] // the frame, its identity for the oracle, and the venue
    pub fn fan_out(
        &mut self,
        inst: usize,
        kind: usize,
        data: String,
        stream: &str,
        seq: u64,
        v: &Venue,
        oracle: &Oracle,
    ) {
        self.frames_hash = fnv(self.frames_hash, data.as_bytes());
        oracle.frame(
            lyra_shm::clock::wall_now_ns(),
            &v.cfg.name,
            stream,
            seq,
            &data,
        );
        let data: Arc<str> = Arc::from(data);
        let i = inst * KINDS + kind;
        self.subs.retain(|s| {
            if !s.wants[i].load(Ordering::Relaxed) {
                // Dead subscribers that want nothing are dropped on their next wanted frame.
                return true;
            }
            match s.tx.try_send(Outbound::Market {
                inst: inst as u16,
                kind: kind as u8,
                data: data.clone(),
            }) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            }
        });
    }

    /// Turns effects into frames: depth updates and bookTickers per changed instrument, trades,
    /// execution reports and account positions.
    pub fn publish(
        &mut self,
        v: &Venue,
        fx: Effects,
        now_ms: u64,
        faults: &Faults,
        oracle: &Oracle,
    ) {
        let n = self.m.instruments.len();
        let mut per_inst: Vec<(Levels, Levels)> = vec![(Vec::new(), Vec::new()); n];
        for &(inst, bid, px) in &fx.levels {
            let q = self.m.level_qty(inst, bid, px);
            if bid {
                per_inst[inst].0.push((px, q));
            } else {
                per_inst[inst].1.push((px, q));
            }
        }
        for (inst, (mut bids, asks)) in per_inst.into_iter().enumerate() {
            if bids.is_empty() && asks.is_empty() {
                continue;
            }
            if faults.take(v.idx, FaultKind::WsGap) {
                self.seq[inst] += 10;
                oracle.fault(
                    lyra_shm::clock::wall_now_ns(),
                    &v.cfg.name,
                    "ws_gap",
                    "update ids skip 10",
                );
            }
            let (tb, ta) = self.m.top(inst);
            if faults.take(v.idx, FaultKind::CrossedLevel) {
                if let Some(a) = ta {
                    bids.push((
                        a + self.m.instruments[inst].tick,
                        self.m.instruments[inst].step,
                    ));
                    oracle.fault(
                        lyra_shm::clock::wall_now_ns(),
                        &v.cfg.name,
                        "crossed_level",
                        "bid above best ask",
                    );
                }
            }
            bids.sort_by_key(|l| std::cmp::Reverse(l.0));
            let first = self.seq[inst] + 1;
            let last = self.seq[inst] + (bids.len() + asks.len()) as u64;
            self.seq[inst] = last;
            let data = match v.cfg.dialect {
                Dialect::Binance => Some(binance::ws::depth_update(
                    &self.m.instruments[inst].symbol,
                    now_ms,
                    first,
                    last,
                    &bids,
                    &asks,
                )),
                Dialect::Kraken => {
                    let depth = v.cfg.kraken_depth;
                    let sc = &mut self.scratch;
                    let new = &mut sc.kr_new;
                    self.m.depth_into(inst, true, depth, &mut new.0);
                    self.m.depth_into(inst, false, depth, &mut new.1);
                    let m = &self.m;
                    let upd = kraken::ws::window_update(&self.kr_window[inst], new, |bid, p| {
                        m.level_qty(inst, bid, p) > 0
                    });
                    let ins = &self.m.instruments[inst];
                    let out = upd.map(|(b, a)| {
                        let mut ck = kraken::checksum_with(ins, &new.0, &new.1, &mut sc.kr_text);
                        if faults.take(v.idx, FaultKind::ChecksumCorruption) {
                            ck = ck.wrapping_add(1);
                            oracle.fault(
                                lyra_shm::clock::wall_now_ns(),
                                &v.cfg.name,
                                "checksum_corruption",
                                "checksum off by one",
                            );
                        }
                        kraken::ws::book_frame(ins, "update", now_ms, &b, &a, ck)
                    });
                    // The old window's vectors become the next update's buffers.
                    std::mem::swap(&mut self.kr_window[inst], new);
                    out
                }
                Dialect::Okx => {
                    let corrupt = faults.take(v.idx, FaultKind::ChecksumCorruption);
                    if corrupt {
                        oracle.fault(
                            lyra_shm::clock::wall_now_ns(),
                            &v.cfg.name,
                            "checksum_corruption",
                            "checksum off by one",
                        );
                    }
                    let (m, sc) = (&self.m, &mut self.scratch.okx);
                    let ck = v
                        .cfg
                        .okx_checksum
                        .then(|| okx::ws::checksum_with(m, inst, sc));
                    let ck = ck.map(|c| if corrupt { c.wrapping_add(1) } else { c });
                    Some(okx::ws::books_frame(
                        &self.m.instruments[inst],
                        "update",
                        now_ms,
                        first - 1,
                        last,
                        &bids,
                        &asks,
                        ck,
                    ))
                }
            };
            if let Some(data) = data {
                self.fan_out(inst, DEPTH, data, "depthUpdate", last, v, oracle);
            }
            let top = match (tb, ta) {
                (Some(b), Some(a)) => (
                    b,
                    self.m.level_qty(inst, true, b),
                    a,
                    self.m.level_qty(inst, false, a),
                ),
                _ => (0, 0, 0, 0),
            };
            if top != self.last_top[inst] && top.0 > 0 {
                self.last_top[inst] = top;
                let data = match v.cfg.dialect {
                    Dialect::Binance => Some(binance::ws::book_ticker(
                        &self.m.instruments[inst].symbol,
                        last,
                        top,
                    )),
                    Dialect::Okx => Some(okx::ws::bbo_frame(
                        &self.m.instruments[inst],
                        now_ms,
                        last,
                        top,
                    )),
                    // Kraken's `ticker` channel is not served.
                    Dialect::Kraken => None,
                };
                if let Some(data) = data {
                    self.fan_out(inst, BOOK_TICKER, data, "bookTicker", last, v, oracle);
                }
            }
        }
        for t in &fx.trades {
            let data = match v.cfg.dialect {
                Dialect::Binance => {
                    binance::ws::trade(&self.m.instruments[t.inst].symbol, now_ms, t)
                }
                Dialect::Okx => okx::ws::trade_frame(&self.m.instruments[t.inst], t),
                // Kraken's `trade` channel is not served.
                Dialect::Kraken => continue,
            };
            self.fan_out(t.inst, TRADE, data, "trade", t.id, v, oracle);
        }
        if !fx.execs.is_empty() || !fx.touched.is_empty() {
            match v.cfg.dialect {
                Dialect::Binance => self.publish_user(v, &fx, now_ms, faults, oracle),
                Dialect::Okx | Dialect::Kraken => {
                    self.publish_private(v, &fx, now_ms, faults, oracle)
                }
            }
        }
        if matches!(v.cfg.dialect, Dialect::Binance)
            && !self.users.is_empty()
            && faults.take(v.idx, FaultKind::UserStreamTerminated)
        {
            self.terminate_user_streams(v, now_ms, oracle);
        }
    }

    /// OKX `orders` / Kraken `executions`: one report per execution (Kraken adds a `filled`
    /// report after the trade that completes an order), to the owner's private subscribers.
    fn publish_private(
        &mut self,
        v: &Venue,
        fx: &Effects,
        now_ms: u64,
        faults: &Faults,
        oracle: &Oracle,
    ) {
        if self.users.is_empty() {
            return;
        }
        for e in &fx.execs {
            let reports = match v.cfg.dialect {
                Dialect::Okx => vec![okx::private_ws::order_push(&self.m, e)],
                _ => kraken::private_ws::execution_reports(&self.m, e, now_ms),
            };
            let dup = e.fill.is_some() && faults.take(v.idx, FaultKind::DuplicateFill);
            if dup {
                oracle.fault(
                    lyra_shm::clock::wall_now_ns(),
                    &v.cfg.name,
                    "duplicate_fill",
                    &e.order.client_id,
                );
            }
            let account = e.order.account;
            let inst = e.order.inst as u16;
            for (i, r) in reports.iter().enumerate() {
                let data: Arc<str> = Arc::from(r.as_str());
                // The duplicate repeats the trade report itself (the first one).
                let times = if dup && i == 0 { 2 } else { 1 };
                for _ in 0..times {
                    self.users.retain(|u| {
                        u.account != account
                            || u.tx
                                .try_send(Outbound::Private {
                                    inst,
                                    data: data.clone(),
                                })
                                .is_ok()
                    });
                }
            }
        }
    }

    /// Ends every user-stream subscription with `eventStreamTerminated` (PROTOCOLS-ORDERS A.6):
    /// no further events reach them until the client subscribes again.
    fn terminate_user_streams(&mut self, v: &Venue, now_ms: u64, oracle: &Oracle) {
        oracle.fault(
            lyra_shm::clock::wall_now_ns(),
            &v.cfg.name,
            "user_stream_terminated",
            "every user-stream subscription ended",
        );
        for u in self.users.drain(..) {
            let framed: Arc<str> = Arc::from(format!(
                r#"{{"subscriptionId":{},"event":{{"e":"eventStreamTerminated","E":{now_ms}}}}}"#,
                u.sub_id
            ));
            let _ = u.tx.try_send(Outbound::User(framed));
        }
    }

    fn publish_user(
        &mut self,
        v: &Venue,
        fx: &Effects,
        now_ms: u64,
        faults: &Faults,
        oracle: &Oracle,
    ) {
        let mut frames: Vec<(usize, String)> = Vec::new();
        for e in &fx.execs {
            let ev = binance::user_stream::execution_report(&self.m, e, now_ms);
            let dup = e.fill.is_some() && faults.take(v.idx, FaultKind::DuplicateFill);
            if dup {
                oracle.fault(
                    lyra_shm::clock::wall_now_ns(),
                    &v.cfg.name,
                    "duplicate_fill",
                    &e.order.client_id,
                );
                frames.push((e.order.account, ev.clone()));
            }
            frames.push((e.order.account, ev));
        }
        let mut accounts: Vec<usize> = fx.touched.iter().map(|(a, _)| *a).collect();
        accounts.dedup();
        for a in accounts {
            let assets: Vec<&str> = fx
                .touched
                .iter()
                .filter(|(x, _)| *x == a)
                .map(|(_, s)| s.as_str())
                .collect();
            frames.push((
                a,
                binance::user_stream::account_position(&self.m, a, &assets, now_ms),
            ));
        }
        for (account, ev) in frames {
            self.users.retain(|u| {
                if u.account != account {
                    return true;
                }
                let framed: Arc<str> =
                    Arc::from(format!(r#"{{"subscriptionId":{},"event":{ev}}}"#, u.sub_id));
                u.tx.try_send(Outbound::User(framed)).is_ok()
            });
        }
    }
}
