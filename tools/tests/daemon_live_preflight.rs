//! The engine daemon refuses LIVE on an OKX or Kraken venue whose preflight fails, naming the
//! failed check: here a key that may withdraw funds (`lyra sim`'s `set_withdraw`). The daemon is
//! the real one (`lyra_engine::daemon::run_with`); it fails at start-up, before any thread or
//! order. The passing case is every LIVE run of `daemon_venues`.

#[allow(unused_imports)]
use lyra_tools::sim;

#[path = "sim_support/mod.rs"]
mod sim_support;

use std::{
    fmt::Write as _,
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
};

use lyra_engine::{config::Config, stats::EngineStats};
use lyra_shm::clock::mono_now_ns;
use sim::config::Dialect;

/// Files of one run, removed on drop.
struct Dirs {
    dir: PathBuf,
    seg: PathBuf,
}

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.seg);
    }
}

fn live_start_is_refused_when_the_key_may_withdraw(name: &str, dialect: Dialect) {
    let sim = sim_support::single_venue_sim(name, dialect, 11, 0);
    let tag = format!("{name}-{}-{}", std::process::id(), mono_now_ns());
    let d = Dirs {
        dir: std::env::temp_dir().join(format!("lyra-live-preflight-{tag}")),
        seg: PathBuf::from(format!("/dev/shm/lyra-live-preflight-{tag}")),
    };
    std::fs::create_dir_all(&d.dir).unwrap();
    let creds = sim
        .write_config(&d.dir.join("sim.toml"))
        .expect("sim config");
    let ep = sim.endpoint(name).expect("endpoint").clone();
    let mut t = String::new();
    let _ = writeln!(t, "[engine]\nrun_id = \"lp\"");
    let _ = writeln!(
        t,
        "[paths]\nsegment = {:?}\naudit = {:?}\ndecisions = {:?}\nstatements = {:?}",
        d.seg,
        d.dir.join("audit.jsonl"),
        d.dir.join("decisions.jsonl"),
        d.dir.join("statements")
    );
    let _ = writeln!(
        t,
        "[threads]\nlayout = \"single\"\nwait = \"park\"\npin = false\nstuck_ms = 5000"
    );
    let _ = writeln!(
        t,
        "[oms]\nmode = \"live\"\njournal_dir = {:?}",
        d.dir.join("journal")
    );
    let _ = writeln!(
        t,
        "[grant]\nlabel = \"test grant: simulator only\"\nmode = \"live\"\nmax_order_notional = 1\nmax_exposure = 1"
    );
    let _ = writeln!(
        t,
        "[[venues]]\nname = {name:?}\nkind = \"{}\"\nrest_url = {:?}\nca_file = {:?}\ncredentials_file = {creds:?}",
        format!("{dialect:?}").to_lowercase(),
        ep.rest,
        sim.ca_path()
    );
    let _ = writeln!(
        t,
        "[[instruments]]\nname = \"BTC-USDT\"\nsymbol = \"BTCUSDT\"\nbase = \"BTC\"\nquote = \"USDT\"\ntick = 1000000"
    );
    let _ = writeln!(t, "[strategies]\nmax_working_orders = 64");
    let _ = writeln!(t, "[risk]\nmax_open_orders = 64\nmax_orders_per_s = 100");
    let _ = writeln!(
        t,
        "[[risk.instruments]]\ninstrument = 0\nmax_order_qty = 10000000\nmax_order_notional = 1\n\
         max_position = 50000000\ncollar_bps = 500\nmax_book_age_ms = 1500"
    );
    let cfg_path = d.dir.join("engine.toml");
    std::fs::write(&cfg_path, &t).unwrap();
    let cfg = Config::load(&cfg_path).expect("config");

    sim.set_withdraw(name, true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let err = lyra_engine::daemon::run_with(&cfg, stop, Arc::new(EngineStats::default()), None)
        .expect_err("LIVE with a key that may withdraw must be refused");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("venue {name}: LIVE preflight failed"))
            && text.contains("withdrawals_disabled"),
        "{text}"
    );
    assert!(
        !text.contains("clock_skew") && !text.contains("system_status"),
        "only the failed check is named: {text}"
    );
    assert_eq!(sim.oracle().counts().orders, 0, "nothing was sent");
}

#[test]
fn okx_live_start_is_refused_when_the_key_may_withdraw() {
    live_start_is_refused_when_the_key_may_withdraw("okx", Dialect::Okx);
}

#[test]
fn kraken_live_start_is_refused_when_the_key_may_withdraw() {
    live_start_is_refused_when_the_key_may_withdraw("kraken", Dialect::Kraken);
}
