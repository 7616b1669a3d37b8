//! Issue 6, acceptance: the same input gives the same intents in the `spread`, `compact` and
//! `single` layouts. One seeded market-data stream (two venues, three instruments, random walks
//! with dislocations) is replayed through the real feed -> book -> strategy (+ risk) -> order
//! stages on the real thread runtime in each layout; the approved intents, in order, must match.
//!
//! Execution reports would feed back with layout-dependent timing, so the order stage here
//! accepts every intent and reports nothing (the input is the market data alone), and the clock
//! is a fixed manual clock (ages, rate limits and timers see the same time in every layout).

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use lyra_engine::{
    config::{Config, Layout},
    daemon::pipeline::risk_limits,
    runtime::{plan::plan, plan::StageKind, stage::Stage, thread::Runtime},
    stages::{
        book::{BookInstrument, BookStage},
        feed::{FeedStage, MdSource},
        order::{OrderSink, OrderStage},
        strategy::{Approved, Scales, StrategyStage},
    },
    stats::EngineStats,
    strategy::{Ids, Strategies},
};
use lyra_shm::{
    clock::{Clock, ManualClock, Nanos},
    control::{ControlSegment, CreateOpts, Grant, GrantMode},
    msg::{
        md_flags, ExecReport, InstrumentIdx, InvalidReason, MdEvent, MdKind, OrderIntent, Px, Qty,
        Side, VenueId,
    },
    ring::{channel, Producer},
};
use lyra_tests::TempSegment;

const T0: u64 = 1_700_000_000_000_000_000;
const VENUES: u8 = 2;
const INSTRUMENTS: u16 = 3;
const TICK: i64 = 1_000_000; // 0.01 at scale 8
const MIDS: [i64; 3] = [60_000, 3_000, 150];

fn config() -> Config {
    let mut t = String::from(
        "[engine]\nrun_id = \"lay\"\n[oms]\nmode = \"safe\"\n[threads]\npin = false\n",
    );
    for v in 0..VENUES {
        t += &format!(
            "[[venues]]\nname = \"v{v}\"\nkind = \"binance\"\nrest_url = \"https://127.0.0.1:1\"\n\
             credentials_file = \"unused.toml\"\n"
        );
    }
    for (i, m) in MIDS.iter().enumerate() {
        t += &format!(
            "[[instruments]]\nname = \"I{i}\"\nsymbol = \"I{i}USDT\"\nbase = \"I{i}\"\nquote = \"USDT\"\ntick = {TICK}\n"
        );
        t += &format!(
            "[[risk.instruments]]\ninstrument = {i}\nmax_order_qty = {}\nmax_order_notional = {}\n\
             max_position = {}\ncollar_bps = 500\nmax_book_age_ms = 60000\n",
            1_000_000_000i64,
            100_000i64 * 100_000_000,
            10_000_000_000i64 / m.max(&1)
        );
    }
    t += "[risk]\nmax_open_orders = 1000\nmax_orders_per_s = 1000\n";
    t += "[strategies]\nmax_working_orders = 512\n";
    for v in 0..VENUES {
        for i in 0..INSTRUMENTS {
            t += &format!(
                "[[strategies.markets]]\nvenue = {v}\ninstrument = {i}\ntick = {TICK}\nstep = 1000\n\
                 maker_fee_ppm = 100\ntaker_fee_ppm = 200\n"
            );
        }
    }
    t += "[strategies.arb]\nstrategy = 0\ninstruments = [0, 1, 2]\nedge_bps = 2\nmax_book_age_ms = 60000\n\
          leg_timeout_ms = 60000\nmax_group_qty = 1000000\nmax_open_groups = 64\n\
          max_groups_per_s = 0\n";
    for i in 0..INSTRUMENTS {
        t += &format!(
            "[[strategies.mm]]\nstrategy = 1\nvenue = 1\ninstrument = {i}\nqty = 100000\nhalf_spread_bps = 3\n\
             max_position = 100000000\nquote_ttl_ms = 60000\nmax_cancel_replaces_per_s = 1000\n\
             max_book_age_ms = 60000\nrefresh_ticks = 1\n"
        );
    }
    Config::parse(Path::new("layouts.toml"), &t).expect("valid config")
}

/// A seeded stream: snapshots, then per step and (venue, instrument) one message replacing the
/// touch; venue 1 sometimes jumps away from venue 0 for a while.
fn stream(steps: usize) -> (Vec<MdEvent>, u64) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    let mut messages = 0;
    let mut mids: Vec<i64> = MIDS.iter().map(|m| m * 100_000_000).collect();
    let mut jump = [[0i64; 3]; 2];
    let mut last: Vec<(i64, i64)> = vec![(0, 0); (VENUES as usize) * 3];
    let mut seq = vec![1u64; (VENUES as usize) * 3];
    let ev = |v: u8, i: u16, kind, side, px, qty, seq, flags| MdEvent {
        exch_ts: T0,
        recv_ts: T0 - 1_000_000,
        seq,
        px: Px(px),
        qty: Qty(qty),
        instrument: InstrumentIdx(i),
        venue: VenueId(v),
        kind,
        side,
        flags,
        ..Default::default()
    };
    for step in 0..=steps {
        for i in 0..INSTRUMENTS as usize {
            let m = &mut mids[i];
            let bps = *m / 10_000;
            *m += ((rnd() % 5) as i64 - 2) * bps / 2 / TICK * TICK;
            for v in 0..VENUES {
                let k = v as usize * 3 + i;
                if v == 1 {
                    if rnd() % 40 == 0 {
                        jump[1][i] = if rnd() % 2 == 0 { 40 } else { -40 } * bps;
                    } else {
                        jump[1][i] = jump[1][i] * 8 / 10;
                    }
                }
                let mid = (*m + jump[v as usize][i]) / TICK * TICK;
                let (bid, ask) = (mid - TICK * 2, mid + TICK * 2);
                seq[k] += 1;
                let s = seq[k];
                let (vi, ii) = (v, i as u16);
                if step == 0 {
                    out.push(ev(
                        vi,
                        ii,
                        MdKind::SnapshotBegin,
                        Side::Buy,
                        0,
                        0,
                        s,
                        md_flags::SNAPSHOT,
                    ));
                    for l in 0..5 {
                        out.push(ev(
                            vi,
                            ii,
                            MdKind::Level,
                            Side::Buy,
                            bid - l * TICK,
                            500_000_000,
                            s,
                            md_flags::SNAPSHOT,
                        ));
                        out.push(ev(
                            vi,
                            ii,
                            MdKind::Level,
                            Side::Sell,
                            ask + l * TICK,
                            500_000_000,
                            s,
                            md_flags::SNAPSHOT,
                        ));
                    }
                    out.push(ev(
                        vi,
                        ii,
                        MdKind::SnapshotEnd,
                        Side::Buy,
                        0,
                        0,
                        s,
                        md_flags::SNAPSHOT,
                    ));
                } else {
                    // Clear the old touch region, then lay the new one; the book is only checked
                    // at the end of the message.
                    let (ob, oa) = last[k];
                    for l in 0..5 {
                        out.push(ev(vi, ii, MdKind::Level, Side::Buy, ob - l * TICK, 0, s, 0));
                        out.push(ev(
                            vi,
                            ii,
                            MdKind::Level,
                            Side::Sell,
                            oa + l * TICK,
                            0,
                            s,
                            0,
                        ));
                    }
                    for l in 0..5 {
                        out.push(ev(
                            vi,
                            ii,
                            MdKind::Level,
                            Side::Buy,
                            bid - l * TICK,
                            500_000_000,
                            s,
                            0,
                        ));
                        out.push(ev(
                            vi,
                            ii,
                            MdKind::Level,
                            Side::Sell,
                            ask + l * TICK,
                            500_000_000,
                            s,
                            0,
                        ));
                    }
                    if let Some(e) = out.last_mut() {
                        e.flags = md_flags::END_OF_MESSAGE;
                    }
                }
                last[k] = (bid, ask);
                messages += 1;
            }
        }
    }
    (out, messages)
}

/// Replays a recorded stream into one ring, in order, never dropping (a full ring waits).
struct Replay {
    events: Vec<MdEvent>,
    pos: usize,
    out: Producer<MdEvent>,
}

impl MdSource for Replay {
    fn venue(&self) -> VenueId {
        VenueId(0)
    }
    fn poll(&mut self, _now: Nanos) -> usize {
        let end = (self.pos + 64).min(self.events.len());
        let n = self.out.push_slice(&self.events[self.pos..end]);
        self.pos += n;
        n
    }
    fn resync(&mut self, _inst: InstrumentIdx, _reason: InvalidReason) {}
}

/// Accepts every intent, reports nothing.
struct Accept(u64);

impl OrderSink for Accept {
    fn submit(&mut self, _a: &Approved) -> Result<(), bool> {
        self.0 += 1;
        Ok(())
    }
    fn poll(&mut self) {}
    fn drain_reports(&mut self, _out: &mut Vec<ExecReport>) {}
    fn requests(&self) -> u64 {
        self.0
    }
}

fn run(layout: Layout, events: &[MdEvent], tops: u64) -> Vec<OrderIntent> {
    let mut cfg = config();
    cfg.threads.layout = layout;
    let tmp = TempSegment::new("layouts");
    let seg = Arc::new(
        ControlSegment::create(
            &tmp.path,
            &CreateOpts {
                mlock: false,
                ..CreateOpts::default()
            },
        )
        .expect("segment"),
    );
    for (id, strategy) in [(1u64, 0u16), (2, 1)] {
        let g = Grant {
            grant_id: id,
            strategy_id: strategy,
            venue_mask: 0b11,
            instrument: None,
            max_order_notional: i64::MAX / 4,
            max_exposure: i64::MAX / 4,
            max_orders: 1_000_000,
            mode: GrantMode::Safe,
            expiry_wall_ns: T0 + 3_600_000_000_000,
            revoked: false,
        };
        seg.put_grant(&g, T0).expect("grant");
    }
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let stats = Arc::new(EngineStats::default());
    let (md_tx, md_rx) = channel(1 << 12);
    let (rs_tx, rs_rx) = channel(64);
    let (top_tx, top_rx) = channel(1 << 10);
    let (ord_tx, ord_rx) = channel(1 << 10);
    let (rep_tx, rep_rx) = channel(1 << 8);
    let (log_tx, mut log_rx) = channel(1 << 16);
    let feed = FeedStage::new(
        vec![Box::new(Replay {
            events: events.to_vec(),
            pos: 0,
            out: md_tx,
        })],
        rs_rx,
        stats.clone(),
    );
    let insts = (0..INSTRUMENTS)
        .map(|_| BookInstrument {
            px_scale: 8,
            qty_scale: 8,
            tick: TICK,
        })
        .collect();
    let book = BookStage::new(
        VENUES as usize,
        insts,
        1 << 12,
        vec![md_rx],
        top_tx,
        rs_tx,
        stats.clone(),
        clock.clone(),
    );
    let mut strategies = Strategies::new(
        &cfg.strategies,
        VENUES as usize,
        INSTRUMENTS as usize,
        Ids::default(),
    )
    .expect("strategies");
    for v in 0..VENUES {
        for i in 0..INSTRUMENTS {
            strategies.set_balance(
                VenueId(v),
                InstrumentIdx(i),
                Qty(10_000_000_000),
                10_000_000i128 * 10i128.pow(16),
            );
        }
    }
    let strategy = StrategyStage::new(
        top_rx,
        rep_rx,
        ord_tx,
        strategies,
        lyra_risk_engine(&cfg),
        (0..INSTRUMENTS).map(|_| Scales { px: 8, qty: 8 }).collect(),
        seg.clone(),
        clock.clone(),
        stats.clone(),
        false,
        Some(log_tx),
    );
    let order = OrderStage::new(
        ord_rx,
        rep_tx,
        Box::new(Accept(0)),
        seg.clone(),
        clock.clone(),
        stats.clone(),
    );
    let mut built: [Option<Box<dyn Stage>>; 4] = [
        Some(Box::new(feed)),
        Some(Box::new(book)),
        Some(Box::new(strategy)),
        Some(Box::new(order)),
    ];
    let threads = plan(&cfg.threads, None).expect("plan");
    let lists = threads
        .iter()
        .map(|t| {
            t.stages
                .iter()
                .filter_map(|k| {
                    built[match k {
                        StageKind::Feed => 0,
                        StageKind::Book => 1,
                        StageKind::Strategy => 2,
                        StageKind::Order => 3,
                    }]
                    .take()
                })
                .collect()
        })
        .collect();
    let mut rt =
        Runtime::spawn(&threads, lists, cfg.threads.wait, seg.clone(), clock).expect("runtime");
    let mut intents = Vec::new();
    let done = AtomicBool::new(false);
    for _ in 0..3_000 {
        while let Some(it) = log_rx.pop() {
            intents.push(it);
        }
        if stats.strategy_tops.load(Relaxed) >= tops {
            done.store(true, Relaxed);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        done.load(Relaxed),
        "{layout:?}: the strategy stage saw {} of {tops} tops",
        stats.strategy_tops.load(Relaxed)
    );
    rt.stop();
    while let Some(it) = log_rx.pop() {
        intents.push(it);
    }
    intents
}

fn lyra_risk_engine(cfg: &Config) -> lyra_risk::RiskEngine {
    lyra_risk::RiskEngine::new(risk_limits(cfg))
}

#[test]
fn same_intents_in_every_layout() {
    let (events, messages) = stream(600);
    let single = run(Layout::Single, &events, messages);
    eprintln!("{} intents over {messages} venue messages", single.len());
    assert!(
        single.len() >= 10,
        "the stream makes the strategies trade: {} intents",
        single.len()
    );
    assert!(
        single.iter().any(|i| i.group_id != 0 && i.strategy == 0),
        "arbitrage legs"
    );
    assert!(
        single.iter().any(|i| i.strategy == 1),
        "market-making quotes"
    );
    for layout in [Layout::Compact, Layout::Spread] {
        let other = run(layout, &events, messages);
        assert_eq!(other.len(), single.len(), "{layout:?}: intent count");
        for (a, b) in single.iter().zip(&other) {
            assert_eq!(a, b, "{layout:?}: same intents in the same order");
        }
    }
}
