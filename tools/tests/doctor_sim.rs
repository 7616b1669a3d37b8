//! `lyra doctor` and the OMS against the real venue simulator (`lyra sim`'s library, in this
//! process; `lyra doctor` as a separate process): preflight passes with a LIVE grant; in SAFE mode
//! the simulator's oracle counts zero `/api/v3/order` and one `/order/test` per would-be order;
//! LIVE orders reach `/api/v3/order`, and positions equal the simulator's account balances.

#[allow(unused_imports)]
use lyra_tools::sim;

use std::{path::PathBuf, process::Command, sync::Arc, time::Duration};

use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, SymbolSpec},
    http::tls_config,
    sign::Credentials,
    Mode, Oms, OmsConfig,
};
use lyra_risk::{BookCheck, CheckInput, InstrumentLimits, RiskEngine, RiskLimits};
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns, Clock, LiveClock},
    control::{ControlSegment, CreateOpts, Grant, GrantMode},
    msg::{InstrumentIdx, OrderIntent, OrderState, Px, Qty, Side, VenueId},
};
use sim::{config::SimConfig, faults::FaultKind, Sim};

struct Setup {
    dir: PathBuf,
    rest_url: String,
    ca: PathBuf,
    creds: PathBuf,
}

fn setup(sim: &sim::SimHandle, tag: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("lyra-doctor-sim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let frag = dir.join("sim.toml");
    sim.write_config(&frag).expect("write config");
    let t: toml::Table = std::fs::read_to_string(&frag).unwrap().parse().unwrap();
    let v = t["venues"].as_array().unwrap()[0]
        .as_table()
        .unwrap()
        .clone();
    assert_eq!(v["dialect"].as_str(), Some("binance"));
    Setup {
        rest_url: v["rest_url"].as_str().unwrap().to_owned(),
        ca: PathBuf::from(v["ca_file"].as_str().unwrap()),
        creds: PathBuf::from(v["credentials_file"].as_str().unwrap()),
        dir,
    }
}

fn spec() -> SymbolSpec {
    SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: "BTCUSDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: 2,
        qty_scale: 5,
        filters: Default::default(),
        trading: false,
    }
}

fn oms(s: &Setup, seg: Arc<ControlSegment>, mode: Mode) -> Oms {
    oms_window(s, seg, mode, 2_000)
}

fn oms_window(s: &Setup, seg: Arc<ControlSegment>, mode: Mode, window_ms: u64) -> Oms {
    let cfg = BinanceConfig {
        rest_url: s.rest_url.clone(),
        recv_window_ms: 5000,
        timeout: Duration::from_secs(2),
    };
    let clock: Arc<dyn Clock> = Arc::new(LiveClock);
    let mut rest = BinanceRest::new(
        &cfg,
        tls_config(Some(&s.ca)).unwrap(),
        Credentials::load(&s.creds).unwrap(),
        clock.clone(),
    )
    .unwrap();
    rest.warm().expect("warm");
    let ocfg = OmsConfig {
        run_id: "sim1".into(),
        mode,
        unknown_window_ms: window_ms,
        backoff_initial_ms: 10,
        backoff_max_ms: 50,
        // The test venue reads every request before it answers and no process dies mid-request
        // here, so nothing is in flight once an answer is lost (oms_kill9 covers the rest).
        request_life_ms: Some(0),
        ..OmsConfig::default()
    };
    let mut oms = Oms::open(
        ocfg,
        &s.dir.join("journal"),
        1024,
        rest,
        vec![spec()],
        seg,
        clock,
    )
    .expect("oms");
    // Filters, TRADING status and rate limits come from the simulator's exchangeInfo.
    oms.refresh_exchange_info().expect("exchangeInfo");
    oms
}

fn approve(
    risk: &mut RiskEngine,
    seg: &ControlSegment,
    it: OrderIntent,
    live: bool,
) -> lyra_risk::RiskApproved<OrderIntent> {
    let grant = seg.grants().map(|(_, g)| g).find(|g| g.grant_id == 1);
    let books = [BookCheck {
        valid: true,
        updated_ns: mono_now_ns(),
    }];
    let inp = CheckInput {
        now_mono_ns: mono_now_ns(),
        now_wall_ns: wall_now_ns(),
        halted: seg.is_halted(),
        venue_halt_mask: seg.venue_mask(),
        grant: grant.as_ref(),
        live,
        ref_mid: Some(it.px),
        books: &books,
        edge_after_fees: None,
    };
    risk.check(it, &inp).expect("approved")
}

fn risk() -> RiskEngine {
    RiskEngine::new(RiskLimits {
        instruments: vec![Some(InstrumentLimits {
            px_scale: 2,
            qty_scale: 5,
            max_order_qty: Qty(i64::MAX / 4),
            max_order_notional: i64::MAX / 4,
            max_position: Qty(i64::MAX / 4),
            collar_bps: 10_000,
            max_book_age_ms: 1_000_000,
        })],
        max_open_orders: 10_000,
        max_orders_per_s: 10_000,
        daily_loss_stop: i64::MAX / 4,
        cooldown_after_losses: 0,
        cooldown_ms: 0,
    })
}

fn segment(s: &Setup, mode: GrantMode) -> Arc<ControlSegment> {
    let opts = CreateOpts {
        mlock: false,
        ..CreateOpts::default()
    };
    let seg = ControlSegment::create(s.dir.join("control"), &opts).unwrap();
    let g = Grant {
        grant_id: 1,
        strategy_id: 0,
        venue_mask: 1,
        instrument: None,
        max_order_notional: i64::MAX,
        max_exposure: i64::MAX,
        max_orders: 1_000,
        mode,
        expiry_wall_ns: wall_now_ns() + 3_600_000_000_000,
        revoked: false,
    };
    seg.put_grant(&g, wall_now_ns()).unwrap();
    Arc::new(seg)
}

fn buy(seq: u64, px: i64, qty: i64) -> OrderIntent {
    OrderIntent {
        intent_seq: seq,
        px: Px(px),
        qty: Qty(qty),
        instrument: InstrumentIdx(0),
        venue: VenueId(0),
        side: Side::Buy,
        ..Default::default()
    }
}

#[test]
fn doctor_passes_against_the_simulator_and_safe_mode_sends_nothing_live() {
    let sim = Sim::start(SimConfig::default(), None).expect("simulator");
    let s = setup(&sim, "safe");
    let seg = segment(&s, GrantMode::Live);
    let cfg = s.dir.join("lyra.toml");
    std::fs::write(
        &cfg,
        format!(
            "[engine]\nrun_id = \"sim1\"\n[paths]\nsegment = {:?}\n[[venues]]\nname = \"binance\"\nkind = \"binance\"\nrest_url = {:?}\nca_file = {:?}\ncredentials_file = {:?}\nsymbols = [\"BTCUSDT\"]\n",
            s.dir.join("control"),
            s.rest_url,
            s.ca,
            s.creds
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(["doctor", "--config"])
        .arg(&cfg)
        .args(["--venue", "binance"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["passed"], true, "{json}");

    let mut oms = oms(&s, seg.clone(), Mode::Safe);
    oms.reconcile().unwrap();
    let mut risk = risk();
    for seq in 1..=12 {
        let a = approve(&mut risk, &seg, buy(seq, 5_000_000, 1_000), false);
        let r = oms.submit(a).unwrap();
        assert!(r.safe);
        assert_eq!(r.state, OrderState::Expired);
    }
    let c = sim.oracle().counts();
    assert_eq!(c.orders, 0, "SAFE: nothing reaches /api/v3/order");
    assert_eq!(c.test_orders, 12, "every would-be order hits /order/test");
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn live_orders_against_the_simulator_fill_and_match_its_balances() {
    let sim = Sim::start(SimConfig::default(), None).expect("simulator");
    let s = setup(&sim, "live");
    let seg = segment(&s, GrantMode::Live);
    let mut oms = oms(&s, seg.clone(), Mode::Live);
    oms.reconcile().unwrap();
    oms.set_preflight(true);
    let before = oms.balances().unwrap();
    let mut risk = risk();
    // One buy far through the market (fills), one far below it (rests, then is cancelled).
    let a = approve(&mut risk, &seg, buy(1, 9_000_000, 2_000), true);
    let r = oms.submit(a).unwrap();
    assert!(!r.safe);
    let a = approve(&mut risk, &seg, buy(2, 3_000_000, 2_000), true);
    oms.submit(a).unwrap();
    oms.settle(Duration::from_secs(5)).unwrap();
    oms.cancel_all().unwrap();
    for seq in [1, 2] {
        assert!(
            oms.order(seq).unwrap().state.is_terminal(),
            "{:?}",
            oms.order(seq)
        );
    }
    assert_eq!(sim.oracle().counts().orders, 2);
    let after = oms.balances().unwrap();
    let delta = |asset: &str| {
        let f = |v: &[lyra_oms::manager::Balance]| {
            v.iter()
                .find(|b| b.asset == asset)
                .map_or(rust_decimal::Decimal::ZERO, |b| b.free + b.locked)
        };
        f(&after) - f(&before)
    };
    let pos = oms.positions().get(VenueId(0), InstrumentIdx(0));
    assert!(pos.base > 0, "the marketable buy filled");
    assert_eq!(delta("BTC"), rust_decimal::Decimal::new(pos.base, 5));
    assert_eq!(
        delta("USDT"),
        rust_decimal::Decimal::from_i128_with_scale(pos.quote, 7)
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn simulator_faults_resolve_to_one_order_per_intent_and_matching_balances() {
    let sim = Sim::start(SimConfig::default(), None).expect("simulator");
    let s = setup(&sim, "faults");
    let seg = segment(&s, GrantMode::Live);
    let mut oms = oms_window(&s, seg.clone(), Mode::Live, 300);
    oms.reconcile().unwrap();
    oms.set_preflight(true);
    let before = oms.balances().unwrap();
    let mut risk = risk();
    let cases = [
        (FaultKind::RestDropResponse, OrderState::Filled),
        (FaultKind::Rest5xxPlaced, OrderState::Filled),
        (FaultKind::Rest5xxNotPlaced, OrderState::Rejected),
        (FaultKind::Rest1007Placed, OrderState::Filled),
        (FaultKind::Rest1007NotPlaced, OrderState::Rejected),
    ];
    for (i, (fault, want)) in cases.iter().enumerate() {
        let seq = i as u64 + 1;
        sim.inject("binance", *fault, 1, 0, 0).unwrap();
        if i == 0 {
            // Queries also answer "not found" for a while: one -2013 proves nothing.
            sim.inject("binance", FaultKind::False2013, 0, 150, 0)
                .unwrap();
        }
        let a = approve(&mut risk, &seg, buy(seq, 9_000_000, 1_000), true);
        let r = oms.submit(a).unwrap();
        assert_eq!(r.state, OrderState::SentUnknown, "{fault:?}");
        oms.settle(Duration::from_secs(5)).unwrap();
        assert_eq!(oms.order(seq).unwrap().state, *want, "{fault:?}");
    }
    assert_eq!(oms.stats().unresolved, 0);
    assert_eq!(
        sim.oracle().counts().orders,
        cases.len() as u64,
        "never resent"
    );
    let after = oms.balances().unwrap();
    let delta = |asset: &str| {
        let f = |v: &[lyra_oms::manager::Balance]| {
            v.iter()
                .find(|b| b.asset == asset)
                .map_or(rust_decimal::Decimal::ZERO, |b| b.free + b.locked)
        };
        f(&after) - f(&before)
    };
    let pos = oms.positions().get(VenueId(0), InstrumentIdx(0));
    let filled: i64 = oms.orders().map(|o| o.filled_qty.0).sum();
    assert_eq!(
        filled, 3_000,
        "three placed orders filled, two never existed"
    );
    assert!(pos.base <= 3_000, "base commissions come off the position");
    assert_eq!(delta("BTC"), rust_decimal::Decimal::new(pos.base, 5));
    assert_eq!(
        delta("USDT"),
        rust_decimal::Decimal::from_i128_with_scale(pos.quote, 7)
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}
