//! `tick-to-order`: one raw Binance depth frame entering the feed parser -> the signed order
//! request bytes ready for the socket, through the engine's real stages, rings and thread runtime
//! (feed: `BinanceMd` parse + depth sync; book: `L2Book` + top; strategy: arbitrage + send-time
//! recheck + risk; order: quantize + client order id + query + HMAC-SHA256 + HTTP head, as
//! `Oms::submit` builds it, without the socket write). Layouts `spread` (4 threads) and
//! `compact` (2 threads); hot threads wait with `spin-yield` (this box has 2 cores).
//!
//! Each sample: the driver writes a frame that dislocates one venue's book against the other
//! (an arbitrage opportunity) and timestamps it; the order stage timestamps the first leg's
//! signed bytes. A following frame restores the book, and the legs are reported filled, so every
//! cycle starts from the same state. Both timestamps are wall-clock reads on the same machine
//! (~20-30 ns each, included). No baseline row: the per-stage baselines are the `parse`, `book`,
//! `strategy` and `oms` suites; this suite measures what the stages add together.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use lyra_engine::{
    config::{Config, Layout, WaitKind},
    daemon::pipeline::risk_engine,
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
use lyra_feeds::{
    binance::{BinanceMd, SyncConfig},
    instrument::InstrumentTable,
};
use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    manager::quantize,
    sign::Credentials,
};
use lyra_shm::{
    clock::{Clock, LiveClock, Nanos},
    control::{ControlSegment, CreateOpts, Grant, GrantMode},
    msg::{ExecReport, InstrumentIdx, InvalidReason, MdEvent, OrderState, Qty, VenueId},
    ring::{channel, Consumer, Producer},
};

use crate::{
    report::{new_hist, Report},
    Opts,
};

const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SYMBOL: &str = "BTCUSDT";
const T0: u64 = 1_700_000_000_000;

/// One frame for the feed stage: venue, index into the frame table, whether it is a snapshot,
/// and the wall time it was handed over (the tick's receive time).
#[derive(Debug, Clone, Copy)]
struct Tick {
    venue: u8,
    frame: u32,
    snapshot: bool,
    wall_ns: u64,
}

/// The feed stage's source: raw frames from the driver into `BinanceMd`, events into one ring.
struct FrameSource {
    md: Vec<BinanceMd>,
    table: InstrumentTable,
    frames: Arc<Vec<Vec<u8>>>,
    input: Consumer<Tick>,
    out: Producer<MdEvent>,
}

impl MdSource for FrameSource {
    fn venue(&self) -> VenueId {
        VenueId(0)
    }

    fn poll(&mut self, _now: Nanos) -> usize {
        let mut n = 0;
        while let Some(t) = self.input.pop() {
            let venue = VenueId(t.venue);
            let table = &self.table;
            let snap = t
                .snapshot
                .then(|| table.resolve(venue, SYMBOL.as_bytes()))
                .flatten();
            let mut resolve = |sym: &[u8]| table.resolve(venue, sym);
            let md = &mut self.md[t.venue as usize];
            let _ = md.on_frame(
                t.wall_ns,
                &self.frames[t.frame as usize],
                &mut resolve,
                snap,
                &mut self.out,
            );
            n += 1;
        }
        n
    }

    fn resync(&mut self, _inst: InstrumentIdx, _reason: InvalidReason) {}
}

/// The order stage's sink: builds the signed request bytes exactly as `Oms::submit` does before
/// its socket write, timestamps the first leg of each group, and reports every order filled.
struct SignSink {
    rest: BinanceRest,
    spec: SymbolSpec,
    clock: Arc<dyn Clock>,
    lat: Producer<u64>,
    last_group: u64,
    reports: Vec<ExecReport>,
    signed: Arc<AtomicU64>,
    bytes: u64,
}

impl OrderSink for SignSink {
    fn submit(&mut self, a: &Approved) -> Result<(), bool> {
        let it = *a.approved.intent();
        let (px, qty) = quantize(&self.spec, &it).map_err(|_| false)?;
        let id = ClOrdId::new("bench1", it.intent_seq).map_err(|_| false)?;
        let len = self
            .rest
            .prepare_order(&self.spec, &it, px, qty, &id, false, T0 + it.intent_seq)
            .len();
        let now = self.clock.wall_ns();
        self.bytes += len as u64;
        if it.group_id != self.last_group && a.tick_wall_ns != 0 {
            self.last_group = it.group_id;
            let _ = self.lat.push(now.saturating_sub(a.tick_wall_ns));
        }
        self.reports.push(ExecReport {
            intent_seq: it.intent_seq,
            group_id: it.group_id,
            last_px: it.px,
            last_qty: it.qty,
            cum_qty: it.qty,
            instrument: it.instrument,
            venue: it.venue,
            side: it.side,
            state: OrderState::Filled,
            trade_id: it.intent_seq,
            ..Default::default()
        });
        self.signed.fetch_add(1, Relaxed);
        Ok(())
    }
    fn poll(&mut self) {}
    fn drain_reports(&mut self, out: &mut Vec<ExecReport>) {
        out.append(&mut self.reports);
    }
    fn requests(&self) -> u64 {
        self.signed.load(Relaxed)
    }
}

fn config(layout: Layout) -> Result<Config> {
    let mut t = String::from(
        "[engine]\nrun_id = \"bench1\"\n[oms]\nmode = \"safe\"\n[threads]\npin = false\nwait = \"spin-yield\"\n",
    );
    for v in 0..2 {
        t += &format!(
            "[[venues]]\nname = \"v{v}\"\nkind = \"binance\"\nrest_url = \"https://127.0.0.1:1\"\ncredentials_file = \"x\"\n\
             [[strategies.markets]]\nvenue = {v}\ninstrument = 0\ntick = 1000000\nstep = 1000\nmaker_fee_ppm = 100\ntaker_fee_ppm = 100\n"
        );
    }
    t += "[[instruments]]\nname = \"BTC-USDT\"\nsymbol = \"BTCUSDT\"\nbase = \"BTC\"\nquote = \"USDT\"\ntick = 1000000\n\
          [[risk.instruments]]\ninstrument = 0\nmax_order_qty = 100000000\nmax_order_notional = 1000000000000000\n\
          max_position = 1000000000\ncollar_bps = 1000\nmax_book_age_ms = 60000\n\
          [risk]\nmax_open_orders = 1000\nmax_orders_per_s = 4000000000\ndaily_loss_stop = 1000000000000000\n\
          [strategies.arb]\ninstruments = [0]\nedge_bps = 1\nmax_book_age_ms = 60000\nleg_timeout_ms = 60000\nmax_group_qty = 1000000\n\
          max_groups_per_s = 0\n";
    let mut c = Config::parse(std::path::Path::new("tick-to-order.toml"), &t)?;
    c.threads.layout = layout;
    c.threads.wait = WaitKind::SpinYield;
    Ok(c)
}

fn snapshot(last_id: u64) -> Vec<u8> {
    format!(
        r#"{{"lastUpdateId":{last_id},"bids":[["59999.99000000","1.00000000"]],"asks":[["60000.01000000","1.00000000"]]}}"#
    )
    .into_bytes()
}

/// Dislocated: the venue's book moves 3 bps down (its ask below the other venue's bid).
fn depth(id: u64, dislocate: bool) -> Vec<u8> {
    let (gone, come) = if dislocate {
        (("59999.99", "60000.01"), ("59980.00", "59980.02"))
    } else {
        (("59980.00", "59980.02"), ("59999.99", "60000.01"))
    };
    format!(
        r#"{{"e":"depthUpdate","E":{T0},"s":"BTCUSDT","U":{id},"u":{id},"b":[["{}000000","0.00000000"],["{}000000","1.00000000"]],"a":[["{}000000","0.00000000"],["{}000000","1.00000000"]]}}"#,
        gone.0, come.0, gone.1, come.1
    )
    .into_bytes()
}

fn spec() -> SymbolSpec {
    SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: SYMBOL.into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: 8,
        qty_scale: 8,
        filters: Filters {
            tick_size: "0.01".parse().unwrap_or_default(),
            step_size: "0.00001".parse().unwrap_or_default(),
            min_qty: "0.00001".parse().unwrap_or_default(),
            min_notional: "5".parse().unwrap_or_default(),
            ..Default::default()
        },
        trading: true,
    }
}

/// One layout: `cycles` dislocations (each followed by a restore); returns the first-leg
/// latency histogram and the cycles that produced no order in time.
fn run_layout(layout: Layout, cycles: u64) -> Result<(Histogram<u64>, u64)> {
    let cfg = config(layout)?;
    let seg_path =
        std::env::temp_dir().join(format!("lyra-bench-t2o-{}-{layout:?}", std::process::id()));
    let seg = Arc::new(ControlSegment::create(
        &seg_path,
        &CreateOpts {
            mlock: false,
            ..CreateOpts::default()
        },
    )?);
    let clock: Arc<dyn Clock> = Arc::new(LiveClock);
    let now = clock.wall_ns();
    seg.put_grant(
        &Grant {
            grant_id: 1,
            strategy_id: 0,
            venue_mask: 0b11,
            instrument: None,
            max_order_notional: i64::MAX / 4,
            max_exposure: i64::MAX / 4,
            max_orders: u64::MAX / 2,
            mode: GrantMode::Safe,
            expiry_wall_ns: now + 3_600_000_000_000,
            revoked: false,
        },
        now,
    )?;
    let mut table = InstrumentTable::new();
    let idx = table.add("BTC-USDT", 8, 8, 1_000_000)?;
    for v in 0..2u8 {
        table.map_symbol(VenueId(v), SYMBOL, idx)?;
    }
    // Frames: 0/1 snapshots; then per venue a dislocate/restore pair per cycle.
    let mut frames = vec![snapshot(100), snapshot(100)];
    let mut ids = [100u64, 100];
    let mut script = Vec::new(); // (venue, frame, dislocates)
    for k in 0..cycles {
        let v = (k % 2) as usize;
        for dis in [true, false] {
            ids[v] += 1;
            script.push((v as u8, frames.len() as u32, dis));
            frames.push(depth(ids[v], dis));
        }
    }
    let frames = Arc::new(frames);
    let stats = Arc::new(EngineStats::default());
    let (tick_tx, tick_rx) = channel::<Tick>(64);
    let mut tick_tx = tick_tx;
    let (md_tx, md_rx) = channel(1 << 12);
    let (rs_tx, rs_rx) = channel(64);
    let (top_tx, top_rx) = channel(1 << 10);
    let (ord_tx, ord_rx) = channel(1 << 10);
    let (rep_tx, rep_rx) = channel(1 << 10);
    let (lat_tx, mut lat_rx) = channel::<u64>(1 << 16);
    let signed = Arc::new(AtomicU64::new(0));
    let mut md = Vec::new();
    for v in 0..2u8 {
        let mut m = BinanceMd::new(VenueId(v), SyncConfig::default());
        m.prepare(idx);
        md.push(m);
    }
    let feed = FeedStage::new(
        vec![Box::new(FrameSource {
            md,
            table,
            frames: frames.clone(),
            input: tick_rx,
            out: md_tx,
        })],
        rs_rx,
        stats.clone(),
    );
    let book = BookStage::new(
        2,
        vec![BookInstrument {
            px_scale: 8,
            qty_scale: 8,
            tick: 1_000_000,
        }],
        1 << 14,
        vec![md_rx],
        top_tx,
        rs_tx,
        stats.clone(),
        clock.clone(),
    );
    let mut strategies = Strategies::new(&cfg.strategies, 2, 1, Ids::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for v in 0..2u8 {
        strategies.set_balance(
            VenueId(v),
            idx,
            Qty(1_000_000_000),
            1_000_000i128 * 10i128.pow(16),
        );
    }
    let strategy = StrategyStage::new(
        top_rx,
        rep_rx,
        ord_tx,
        strategies,
        risk_engine(&cfg),
        vec![Scales { px: 8, qty: 8 }],
        seg.clone(),
        clock.clone(),
        stats.clone(),
        false,
        None,
    );
    let rest = BinanceRest::new(
        &BinanceConfig {
            rest_url: "https://api.binance.com".into(),
            recv_window_ms: 5000,
            timeout: Duration::from_secs(1),
        },
        tls_config(None)?,
        Credentials::new(API_KEY, SECRET),
        clock.clone(),
    )?;
    let order = OrderStage::new(
        ord_rx,
        rep_tx,
        Box::new(SignSink {
            rest,
            spec: spec(),
            clock: clock.clone(),
            lat: lat_tx,
            last_group: 0,
            reports: Vec::with_capacity(64),
            signed: signed.clone(),
            bytes: 0,
        }),
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
    let threads = plan(&cfg.threads, None)?;
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
    let mut rt = Runtime::spawn(
        &threads,
        lists,
        cfg.threads.wait,
        seg.clone(),
        clock.clone(),
    )
    .context("runtime")?;
    let wait_until = |cond: &dyn Fn() -> bool| -> bool {
        let start = clock.mono_ns();
        while !cond() {
            if clock.mono_ns().saturating_sub(start) > 200_000_000 {
                return false;
            }
            std::thread::yield_now();
        }
        true
    };
    let send = |tx: &mut Producer<Tick>, v: u8, frame: u32, snapshot: bool| {
        let mut t = Tick {
            venue: v,
            frame,
            snapshot,
            wall_ns: clock.wall_ns(),
        };
        loop {
            match tx.push(t) {
                Ok(()) => break,
                Err(e) => {
                    t = e.into_inner();
                    std::thread::yield_now();
                }
            }
        }
    };
    send(&mut tick_tx, 0, 0, true);
    send(&mut tick_tx, 1, 1, true);
    if !wait_until(&|| stats.books_valid[0].load(Relaxed) + stats.books_valid[1].load(Relaxed) == 2)
    {
        rt.stop();
        let _ = std::fs::remove_file(&seg_path);
        bail!("{layout:?}: books did not become valid");
    }
    let mut hist = new_hist();
    let mut missed = 0;
    let warm = cycles / 10;
    for (k, (v, frame, dis)) in script.iter().enumerate() {
        let tops = stats.strategy_tops.load(Relaxed);
        let before = signed.load(Relaxed);
        send(&mut tick_tx, *v, *frame, false);
        let ok = if *dis {
            wait_until(&|| signed.load(Relaxed) >= before + 2)
        } else {
            wait_until(&|| stats.strategy_tops.load(Relaxed) > tops)
        };
        if *dis && !ok {
            missed += 1;
            if missed > 20 {
                rt.stop();
                let _ = std::fs::remove_file(&seg_path);
                let refused: Vec<(usize, u64)> = stats
                    .risk_refused_by
                    .iter()
                    .enumerate()
                    .map(|(k, c)| (k, c.load(Relaxed)))
                    .filter(|(_, c)| *c > 0)
                    .collect();
                bail!(
                    "{layout:?}: no orders: tops {} seen {} intents {} refused {refused:?} edge_gone {} signed {} oms_refused {}",
                    stats.tops.load(Relaxed),
                    stats.strategy_tops.load(Relaxed),
                    stats.intents.load(Relaxed),
                    stats.edge_gone.load(Relaxed),
                    signed.load(Relaxed),
                    stats.oms_refused.load(Relaxed)
                );
            }
        }
        // Let the fill reports reach the strategy before the next cycle.
        let _ = wait_until(&|| stats.strategy_tops.load(Relaxed) > tops);
        while let Some(ns) = lat_rx.pop() {
            if k as u64 / 2 >= warm {
                hist.record(ns.max(1))?;
            }
        }
    }
    rt.stop();
    while let Some(ns) = lat_rx.pop() {
        hist.record(ns.max(1))?;
    }
    let _ = std::fs::remove_file(&seg_path);
    Ok((hist, missed))
}

/// The suite.
pub fn run(opts: &Opts) -> Result<Vec<Report>> {
    let cycles = opts.pick(20_000, 2_000);
    let mut out = Vec::new();
    for layout in [Layout::Compact, Layout::Spread] {
        let (h, missed) = run_layout(layout, cycles)?;
        if missed > cycles / 100 {
            bail!("{layout:?}: {missed} of {cycles} dislocations produced no order in time");
        }
        let name = format!("{layout:?}").to_lowercase();
        out.push(Report::from_hist("tick-to-order", &name, &h, 0.0));
    }
    Ok(out)
}
