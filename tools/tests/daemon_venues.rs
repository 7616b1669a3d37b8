//! The engine daemon's venues against `lyra sim`: market data from OKX and Kraken (and Binance)
//! into the same book stage, market-data-only venues, `oms.cancel_on_md_disconnect`, and OKX and
//! Kraken order entry (a market maker's quote placed and filled through the daemon).
//!
//! Each test starts a simulator and the real daemon (`lyra_engine::daemon::run_with`, the
//! pipeline `lyra-engine` builds) on its own control segment, in the `single` layout (feed,
//! book, strategy and order stages in that order on one thread) with the `park` wait, unpinned.
//! Waits are bounded polls of observable state (books valid, the segment's market-data status,
//! the simulator's orders); the bounds are failure guards, not measurements.
//!
//! The disconnects are a market-data stall (`WsStall`: the simulator keeps the socket and
//! answers pings but sends no data), caught by the book stage's own stale check
//! (`book_stale_ms`) as a quiet-but-connected feed would be in production, and a dropped
//! connection (`WsDrop`), which the feed itself reports.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use lyra_engine::{config::Config, stats::EngineStats};
use lyra_shm::{clock::mono_now_ns, control::ControlSegment, msg::VenueId};
use sim::{
    config::{Dialect, InstrumentCfg, SimConfig, VenueCfg},
    faults::FaultKind,
    Sim, SimHandle,
};

/// Failure guard of every wait.
const WAIT_NS: u64 = 60_000_000_000;

/// How a venue is configured in the engine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Market data only (no `credentials_file`).
    Md,
    /// Market data and order entry.
    Trade,
}

/// One run: a simulator and the daemon on it.
struct Run {
    sim: SimHandle,
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    stats: Arc<EngineStats>,
    seg: Arc<ControlSegment>,
    engine: Option<JoinHandle<anyhow::Result<()>>>,
}

/// How the market makers quote and the simulated market moves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// A calm market (no jumps, lags or trades, a slow walk) and quotes 50 bps away from the mid
    /// that neither fill nor need replacing while a test watches them.
    Resting,
    /// A busy market (walk, other participants' trades) and fee-free quotes 1 bp from the mid,
    /// refreshed as usual: they fill within seconds.
    Filling,
}

fn sim_config(venues: &[(&str, Dialect)], dir: &Path, style: Style) -> SimConfig {
    let busy = style == Style::Filling;
    SimConfig {
        seed: 21,
        step_ms: 20,
        oracle_frames: false,
        state_dir: Some(dir.join("sim")),
        instruments: vec![InstrumentCfg {
            vol_bps: if busy { 0.5 } else { 0.05 },
            ..InstrumentCfg::default()
        }],
        venues: venues
            .iter()
            .map(|(name, dialect)| VenueCfg {
                name: (*name).into(),
                dialect: *dialect,
                jump_prob: 0.0,
                lag_prob: 0.0,
                trade_prob: if busy { 0.2 } else { 0.0 },
                maker_fee_bps: if busy { 0 } else { 10 },
                orders_per_10s: 5_000,
                weight_per_minute: 60_000,
                ..VenueCfg::default()
            })
            .collect(),
        ..SimConfig::default()
    }
}

/// The engine config: `roles[v]` for the simulator's venue `v`, one market maker on each venue
/// of `mm`, `policy` for `oms.cancel_on_md_disconnect`.
#[allow(clippy::too_many_arguments)]
fn engine_toml(
    sim: &SimHandle,
    creds: &Path,
    dir: &Path,
    seg: &Path,
    roles: &[Role],
    mm: &[u8],
    policy: &str,
    gateio: bool,
    style: Style,
) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "[engine]\nrun_id = \"dv\"");
    let _ = writeln!(
        t,
        "[paths]\nsegment = {seg:?}\naudit = {:?}\ndecisions = {:?}\nstatements = {:?}",
        dir.join("audit.jsonl"),
        dir.join("decisions.jsonl"),
        dir.join("statements")
    );
    let _ = writeln!(
        t,
        "[threads]\nlayout = \"single\"\nwait = \"park\"\npin = false\nstuck_ms = 5000"
    );
    let _ = writeln!(
        t,
        "[oms]\nmode = \"live\"\njournal_dir = {:?}\nworking_poll_ms = 100\ncancel_on_md_disconnect = \"{policy}\"",
        dir.join("journal")
    );
    let _ = writeln!(
        t,
        "[grant]\nlabel = \"test grant: simulator only\"\nmode = \"live\"\nmax_order_notional = {}\nmax_exposure = {}",
        20_000i64 * 100_000_000,
        1_000_000i64 * 100_000_000
    );
    for (e, role) in sim.endpoints().iter().zip(roles) {
        let _ = writeln!(
            t,
            "[[venues]]\nname = {:?}\nkind = \"{}\"\nmd_ws_url = {:?}\nca_file = {:?}\nbook_stale_ms = 1000",
            e.venue,
            format!("{:?}", e.dialect).to_lowercase(),
            e.ws,
            sim.ca_path()
        );
        if e.dialect == Dialect::Binance || *role == Role::Trade {
            let _ = writeln!(t, "rest_url = {:?}", e.rest);
        }
        if *role == Role::Trade {
            let _ = writeln!(
                t,
                "credentials_file = {creds:?}\nws_api_url = {:?}",
                e.ws_api
            );
        }
    }
    if gateio {
        // No Gate.io dialect in the simulator (its loopback server lives in the feeds crate's
        // tests): a Gate.io venue whose endpoints refuse connections still builds and runs.
        let _ = writeln!(
            t,
            "[[venues]]\nname = \"gate\"\nkind = \"gateio\"\nmd_ws_url = \"wss://127.0.0.1:1/ws/v4/\"\nrest_url = \"https://127.0.0.1:1\""
        );
    }
    let _ = writeln!(
        t,
        "[[instruments]]\nname = \"BTC-USDT\"\nsymbol = \"BTCUSDT\"\nbase = \"BTC\"\nquote = \"USDT\"\ntick = 1000000"
    );
    let _ = writeln!(t, "[strategies]\nmax_working_orders = 64");
    let (fee_ppm, half_bps, refresh, ttl_ms) = match style {
        // Never refreshed by time or moves while the test watches.
        Style::Resting => (1_000, 50, 1_000_000, 3_600_000),
        Style::Filling => (0, 1, 2, 1_000),
    };
    for v in mm {
        let _ = writeln!(
            t,
            "[[strategies.markets]]\nvenue = {v}\ninstrument = 0\ntick = 1000000\nstep = 1000\nmin_qty = 1000\n\
             min_notional_raw = {}\nmaker_fee_ppm = {fee_ppm}\ntaker_fee_ppm = {fee_ppm}",
            5i128 * 100_000_000 * 100_000_000
        );
        let _ = writeln!(
            t,
            "[[strategies.mm]]\nstrategy = 1\nvenue = {v}\ninstrument = 0\nqty = 20000\nhalf_spread_bps = {half_bps}\n\
             max_position = 20000000\nrefresh_ticks = {refresh}\nquote_ttl_ms = {ttl_ms}\n\
             max_cancel_replaces_per_s = 5\nmax_book_age_ms = 1500"
        );
    }
    let _ = writeln!(t, "[risk]\nmax_open_orders = 64\nmax_orders_per_s = 100");
    let _ = writeln!(
        t,
        "[[risk.instruments]]\ninstrument = 0\nmax_order_qty = 10000000\nmax_order_notional = {}\n\
         max_position = 50000000\ncollar_bps = 500\nmax_book_age_ms = 1500",
        10_000i64 * 100_000_000
    );
    t
}

impl Run {
    fn start(tag: &str, venues: &[(&str, Dialect, Role)], mm: &[u8], policy: &str) -> Self {
        Self::start_with(tag, venues, mm, policy, false, Style::Resting)
    }

    /// [`Run::start`], with an unreachable Gate.io market-data venue after the simulator's
    /// (`gateio`) and the market and quoting `style`.
    fn start_with(
        tag: &str,
        venues: &[(&str, Dialect, Role)],
        mm: &[u8],
        policy: &str,
        gateio: bool,
        style: Style,
    ) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "lyra-test-daemon-{tag}-{}-{}",
            std::process::id(),
            mono_now_ns()
        ));
        std::fs::create_dir_all(&dir).expect("run dir");
        let names: Vec<(&str, Dialect)> = venues.iter().map(|(n, d, _)| (*n, *d)).collect();
        let roles: Vec<Role> = venues.iter().map(|(_, _, r)| *r).collect();
        let sim = Sim::start(sim_config(&names, &dir, style), None).expect("start simulator");
        let creds = sim
            .write_config(&dir.join("sim.toml"))
            .expect("credentials");
        let seg_path = PathBuf::from(format!(
            "/dev/shm/lyra-test-daemon-{tag}-{}",
            std::process::id()
        ));
        let text = engine_toml(
            &sim, &creds, &dir, &seg_path, &roles, mm, policy, gateio, style,
        );
        let cfg_path = dir.join("engine.toml");
        std::fs::write(&cfg_path, &text).expect("write config");
        let cfg = Config::load(&cfg_path).expect("config");
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(EngineStats::default());
        let (s, st) = (stop.clone(), stats.clone());
        let engine = std::thread::Builder::new()
            .name(format!("daemon-{tag}"))
            .spawn(move || lyra_engine::daemon::run_with(&cfg, s, st, None))
            .expect("spawn engine");
        let start = mono_now_ns();
        let seg = loop {
            assert!(!engine.is_finished(), "the engine stopped during start-up");
            assert!(
                mono_now_ns() - start < WAIT_NS,
                "the engine did not come up"
            );
            if let Ok(s) = ControlSegment::open(&seg_path) {
                if s.creator_pid() == std::process::id() && s.heartbeats().count() > 0 {
                    break Arc::new(s);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Self {
            sim,
            dir,
            stop,
            stats,
            seg,
            engine: Some(engine),
        }
    }

    /// Waits (bounded) until `done`; `what` names it in the failure.
    fn wait(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let start = mono_now_ns();
        while !done(self) {
            let finished = self.engine.as_ref().is_none_or(JoinHandle::is_finished);
            assert!(!finished, "the engine stopped while waiting for {what}");
            assert!(
                mono_now_ns() - start < WAIT_NS,
                "timed out waiting for {what}: books valid {:?}, md down mask {:#x}",
                (0..4)
                    .map(|v| self.stats.books_valid[v].load(Ordering::Relaxed))
                    .collect::<Vec<_>>(),
                self.seg.md_down_mask()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn book_valid(&self, v: usize) -> bool {
        self.stats.books_valid[v].load(Ordering::Relaxed) == 1
    }

    /// Ids of the test account's open orders on simulator venue `v`.
    fn open_orders(&self, v: usize) -> BTreeSet<u64> {
        let st = self.sim.shared().venues[v].state.lock().expect("venue");
        st.m.orders
            .values()
            .filter(|o| o.status.is_open())
            .map(|o| o.id)
            .collect()
    }

    /// Stops the engine, then returns the decision audit's `md_disconnect` records.
    fn finish(mut self) -> Vec<serde_json::Value> {
        self.stop.store(true, Ordering::Release);
        self.seg.notify_all();
        if let Some(e) = self.engine.take() {
            e.join().expect("engine thread").expect("engine run");
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).expect("run dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("decisions") && name.ends_with(".jsonl")) {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).expect("audit");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("audit json");
                if v["event"] == "md_disconnect" {
                    let inner = v["text"].as_str().expect("text");
                    out.push(serde_json::from_str(inner).expect("record json"));
                }
            }
        }
        out
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.seg.notify_all();
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
        let _ = std::fs::remove_file(self.seg.path());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn okx_and_kraken_market_data_venues_get_valid_books_beside_binance() {
    let run = Run::start_with(
        "md",
        &[
            ("alpha", Dialect::Binance, Role::Md),
            ("okx", Dialect::Okx, Role::Md),
            ("kraken", Dialect::Kraken, Role::Md),
        ],
        &[],
        "venue",
        true,
        Style::Resting,
    );
    run.wait("a valid book on every simulator venue", |r| {
        (0..3).all(|v| r.book_valid(v))
    });
    assert_eq!(
        run.seg.md_down_mask() & 0b111,
        0,
        "no simulator venue's market data is down"
    );
    assert!(
        !run.book_valid(3),
        "the unreachable Gate.io venue has no book"
    );
    assert_eq!(run.stats.books_total[3].load(Ordering::Relaxed), 1);
    assert!(run.stats.tops.load(Ordering::Relaxed) >= 3);
    run.finish();
}

/// Stalls `alpha`'s market data until the engine has seen it go down and come back, and returns
/// the open orders of every venue from just before the stall.
fn stall_alpha(run: &Run, venues: usize, mm: &[usize]) -> Vec<BTreeSet<u64>> {
    run.wait("valid books and resting quotes", |r| {
        (0..venues).all(|v| r.book_valid(v)) && mm.iter().all(|v| r.open_orders(*v).len() == 2)
    });
    let before: Vec<BTreeSet<u64>> = (0..venues).map(|v| run.open_orders(v)).collect();
    run.sim
        .inject("alpha", FaultKind::WsStall, 1, 3_000, 0)
        .expect("inject");
    run.wait("alpha's market data down", |r| {
        r.seg.md_down_epoch(VenueId(0)) >= 1
    });
    run.wait("alpha's market data back", |r| {
        !r.seg.is_md_down(VenueId(0)) && r.book_valid(0)
    });
    before
}

#[test]
fn cancel_on_md_disconnect_venue_cancels_that_venues_orders_only() {
    let run = Run::start(
        "venue",
        &[
            ("alpha", Dialect::Binance, Role::Trade),
            ("beta", Dialect::Binance, Role::Trade),
        ],
        &[0, 1],
        "venue",
    );
    let before = stall_alpha(&run, 2, &[0, 1]);
    let alpha_now = run.open_orders(0);
    assert!(
        before[0].is_disjoint(&alpha_now),
        "alpha's quotes from before the drop are cancelled: {:?} vs {alpha_now:?}",
        before[0]
    );
    assert!(
        before[1].is_subset(&run.open_orders(1)),
        "beta's quotes stay working"
    );
    // Then a dropped connection (the feed reports it; no staleness involved) on the new quotes.
    run.wait("alpha quoting again", |r| r.open_orders(0).len() == 2);
    let requoted = run.open_orders(0);
    run.sim
        .inject("alpha", FaultKind::WsDrop, 1, 0, 0)
        .expect("inject");
    run.wait("alpha's market data down again", |r| {
        r.seg.md_down_epoch(VenueId(0)) >= 2
    });
    run.wait("alpha's market data back again", |r| {
        !r.seg.is_md_down(VenueId(0)) && r.book_valid(0)
    });
    assert!(requoted.is_disjoint(&run.open_orders(0)));
    assert!(before[1].is_subset(&run.open_orders(1)));
    let recs = run.finish();
    assert_eq!(recs.len(), 2, "one audited action per disconnect: {recs:?}");
    for r in &recs {
        assert_eq!(r["venue"], 0, "{recs:?}");
        assert_eq!(r["policy"], "venue", "{recs:?}");
        // The order stage looks at the market-data status before it takes any intent, so the
        // OMS's cancels go out before the market maker's own pulls of the invalid book's quotes.
        assert_eq!(r["cancels"], 2, "both resting quotes: {recs:?}");
    }
}

#[test]
fn cancel_on_md_disconnect_none_leaves_orders_and_all_cancels_every_venue() {
    for (policy, cancelled) in [("none", false), ("all", true)] {
        let run = Run::start(
            policy,
            &[
                ("alpha", Dialect::Binance, Role::Md),
                ("beta", Dialect::Binance, Role::Trade),
            ],
            &[1],
            policy,
        );
        let before = stall_alpha(&run, 2, &[1]);
        let beta_now = run.open_orders(1);
        if cancelled {
            assert!(
                before[1].is_disjoint(&beta_now),
                "{policy}: beta's quotes are cancelled when alpha's market data drops"
            );
        } else {
            assert!(
                before[1].is_subset(&beta_now),
                "{policy}: beta's quotes stay working"
            );
        }
        let recs = run.finish();
        if cancelled {
            assert_eq!(recs.len(), 1, "{recs:?}");
            assert_eq!(
                (&recs[0]["venue"], &recs[0]["policy"], &recs[0]["cancels"]),
                (
                    &serde_json::json!(0),
                    &serde_json::json!("all"),
                    &serde_json::json!(2)
                ),
                "{recs:?}"
            );
        } else {
            assert!(recs.is_empty(), "none: nothing to audit: {recs:?}");
        }
    }
}

#[test]
fn okx_and_kraken_order_entry_place_and_fill_through_the_daemon() {
    for (name, dialect) in [("okx", Dialect::Okx), ("kraken", Dialect::Kraken)] {
        let run = Run::start_with(
            name,
            &[(name, dialect, Role::Trade)],
            &[0],
            "venue",
            false,
            Style::Filling,
        );
        run.wait("a market-making fill", |r| {
            r.stats.mm_fills.load(Ordering::Relaxed) >= 1
        });
        let filled: Vec<String> = {
            let st = run.sim.shared().venues[0].state.lock().expect("venue");
            st.m.orders
                .values()
                .filter(|o| o.executed > 0)
                .map(|o| o.client_id.clone())
                .collect()
        };
        assert!(!filled.is_empty(), "{name}: the simulator filled an order");
        assert!(
            filled.iter().all(|id| id.starts_with("2dv")),
            "{name}: placed by this run (client ids start with the run id, after its length): {filled:?}"
        );
        run.finish();
    }
}
