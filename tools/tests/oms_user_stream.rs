//! The OMS with the Binance user data stream (WebSocket API, `userDataStream.subscribe.signature`)
//! against `lyra sim`: a resting order filled by the generated book is learned from the stream
//! with REST polling effectively off, with the venue's own trade record (qty, price, commission);
//! a fill seen in the FULL response, on the stream and twice on the stream counts once; a cut
//! stream reconnects, resubscribes and the gap is covered; a canary key and secret never reach
//! the logs or any `Debug` output.

#[allow(unused_imports)]
use lyra_tools::sim;

mod log_capture;
mod relay;

use log_capture::captured;
use relay::Relay;
use std::{
    path::PathBuf,
    sync::{atomic::Ordering, Arc},
    thread,
    time::Duration,
};

use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, Method, SymbolSpec, UserStream, UserStreamConfig},
    http::tls_config,
    sign::Credentials,
    Mode, Oms, OmsConfig,
};
use lyra_risk::{BookCheck, CheckInput, InstrumentLimits, RiskApproved, RiskEngine, RiskLimits};
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns, Clock, LiveClock},
    control::{ControlSegment, CreateOpts, Grant, GrantMode},
    decimal::parse_mantissa,
    msg::{InstrumentIdx, OrderIntent, OrderState, Px, Qty, Side, VenueId},
};
use serde_json::Value;
use sim::{
    config::{AccountCfg, SimConfig},
    faults::FaultKind,
    Sim, SimHandle,
};

const CANARY_KEY: &str = "CanaryKeyH5xq7Zt0000000000000000000000000000000000000000000000KEY";
const CANARY_SECRET: &str = "CanarySecretH5pW3rV9mN2kL8jH4gF6dS1aQ0zX7cB5vN3mK9lJ2hG4fD6sA8SEC";
/// Price scale 2 (tick 0.01), quantity scale 8 so the 10 bps maker commission of a 0.01 BTC
/// fill (0.00001 BTC) is exact.
const PX_SCALE: u8 = 2;
const QTY_SCALE: u8 = 8;
const QTY: i64 = 1_000_000; // 0.01 BTC

/// A manually stepped simulator whose first account holds the canary credentials.
fn start_sim(seed: u64) -> SimHandle {
    let cfg = SimConfig {
        seed,
        step_ms: 0,
        oracle_frames: false,
        accounts: vec![AccountCfg {
            api_key: Some(CANARY_KEY.into()),
            secret: Some(CANARY_SECRET.into()),
            ..AccountCfg::default()
        }],
        ..SimConfig::default()
    };
    Sim::start(cfg, None).expect("simulator")
}

struct Setup {
    dir: PathBuf,
    rest_url: String,
    ws_api_url: String,
    ca: PathBuf,
    creds: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The simulator's written config: REST base, WS-API URL, CA and credentials files.
fn setup(sim: &SimHandle, tag: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("lyra-user-stream-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let frag = dir.join("sim.toml");
    sim.write_config(&frag).expect("write config");
    let t: toml::Table = std::fs::read_to_string(&frag).unwrap().parse().unwrap();
    let v = t["venues"].as_array().unwrap()[0]
        .as_table()
        .unwrap()
        .clone();
    let rest_url = v["rest_url"].as_str().unwrap().to_owned();
    let ws_api_url = v["ws_api_url"].as_str().unwrap().to_owned();
    assert_eq!(
        lyra_oms::binance::ws_api_url_for(&rest_url).unwrap(),
        ws_api_url,
        "the URL derived from the REST base is the one the simulator serves"
    );
    Setup {
        rest_url,
        ws_api_url,
        ca: PathBuf::from(v["ca_file"].as_str().unwrap()),
        creds: PathBuf::from(v["credentials_file"].as_str().unwrap()),
        dir,
    }
}

fn segment(s: &Setup) -> Arc<ControlSegment> {
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
        mode: GrantMode::Live,
        expiry_wall_ns: wall_now_ns() + 3_600_000_000_000,
        revoked: false,
    };
    seg.put_grant(&g, wall_now_ns()).unwrap();
    Arc::new(seg)
}

/// A LIVE OMS on the simulator; working orders polled every `poll_ms` without the stream and
/// every `stream_poll_ms` with it.
fn oms(s: &Setup, seg: Arc<ControlSegment>, poll_ms: u64, stream_poll_ms: u64) -> Oms {
    oms_window(s, seg, poll_ms, stream_poll_ms, 2_000)
}

/// As [`oms`], with a SENT_UNKNOWN window of `window_ms`.
fn oms_window(
    s: &Setup,
    seg: Arc<ControlSegment>,
    poll_ms: u64,
    stream_poll_ms: u64,
    window_ms: u64,
) -> Oms {
    let cfg = BinanceConfig {
        rest_url: s.rest_url.clone(),
        recv_window_ms: 5000,
        timeout: Duration::from_secs(5),
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
        run_id: "us1".into(),
        mode: Mode::Live,
        unknown_window_ms: window_ms,
        backoff_initial_ms: 10,
        backoff_max_ms: 50,
        working_poll_ms: poll_ms,
        working_poll_stream_ms: stream_poll_ms,
        // The test venue reads every request before it answers and no process dies mid-request
        // here, so nothing is in flight once an answer is lost (oms_kill9 covers the rest).
        request_life_ms: Some(0),
        ..OmsConfig::default()
    };
    let spec = SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: "BTCUSDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: PX_SCALE,
        qty_scale: QTY_SCALE,
        filters: Default::default(),
        trading: false,
    };
    let mut oms = Oms::open(
        ocfg,
        &s.dir.join("journal"),
        1024,
        rest,
        vec![spec],
        seg,
        clock,
    )
    .expect("oms");
    oms.refresh_exchange_info().expect("exchangeInfo");
    oms.reconcile().expect("reconcile");
    oms.set_preflight(true);
    oms
}

/// Test timings: quick pings and backoff, a generous dead-stream limit (loaded CI machine).
fn stream_cfg(url: &str) -> UserStreamConfig {
    UserStreamConfig {
        ping_every: Duration::from_millis(500),
        dead_after: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..UserStreamConfig::new(url, 5000)
    }
}

fn attach(oms: &mut Oms, s: &Setup, url: &str) {
    let st = UserStream::start(
        stream_cfg(url),
        tls_config(Some(&s.ca)).unwrap(),
        Credentials::load(&s.creds).unwrap(),
        Arc::new(LiveClock),
        oms.binance().expect("Binance OMS").offset_ms(),
    )
    .expect("user stream");
    oms.attach_user_stream(st);
}

/// Polls the OMS until `cond` holds; false after `max` (a failure guard, never a timing claim).
fn poll_until(oms: &mut Oms, max: Duration, mut cond: impl FnMut(&Oms) -> bool) -> bool {
    let end = mono_now_ns() + max.as_nanos() as u64;
    loop {
        oms.poll().expect("poll");
        if cond(oms) {
            return true;
        }
        if mono_now_ns() > end {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn risk() -> RiskEngine {
    RiskEngine::new(RiskLimits {
        instruments: vec![Some(InstrumentLimits {
            px_scale: PX_SCALE,
            qty_scale: QTY_SCALE,
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

fn approve(
    risk: &mut RiskEngine,
    seg: &ControlSegment,
    it: OrderIntent,
) -> RiskApproved<OrderIntent> {
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
        live: true,
        ref_mid: Some(it.px),
        books: &books,
        edge_after_fees: None,
    };
    risk.check(it, &inp).expect("approved")
}

fn buy(seq: u64, px: i64) -> OrderIntent {
    OrderIntent {
        intent_seq: seq,
        px: Px(px),
        qty: Qty(QTY),
        instrument: InstrumentIdx(0),
        venue: VenueId(0),
        side: Side::Buy,
        ..Default::default()
    }
}

fn json(oms: &mut Oms, method: Method, path: &str, params: &[(&str, &str)], signed: bool) -> Value {
    let r = oms
        .binance()
        .expect("Binance OMS")
        .call(method, path, params, signed)
        .expect("REST");
    assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(r.body));
    serde_json::from_slice(r.body).expect("json")
}

fn dec(v: &Value, scale: u8) -> i64 {
    parse_mantissa(v.as_str().expect("decimal text").as_bytes(), scale).expect("decimal")
}

/// Best ask, price mantissa.
fn best_ask(oms: &mut Oms) -> i64 {
    let d = json(
        oms,
        Method::Get,
        "/api/v3/depth",
        &[("symbol", "BTCUSDT"), ("limit", "5")],
        false,
    );
    dec(&d["asks"][0][0], PX_SCALE)
}

/// The venue's trades of the account (its own record of every fill).
fn venue_trades(oms: &mut Oms) -> Vec<Value> {
    json(
        oms,
        Method::Get,
        "/api/v3/myTrades",
        &[("symbol", "BTCUSDT")],
        true,
    )
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// The venue's status of our order `seq`.
fn venue_status(oms: &mut Oms, seq: u64) -> String {
    let id = lyra_oms::clordid::ClOrdId::new("us1", seq).unwrap();
    let o = json(
        oms,
        Method::Get,
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", id.as_str())],
        true,
    );
    o["status"].as_str().unwrap_or("").to_owned()
}

/// Positions equal the venue's trades: base = bought - base commission, quote = -cost.
fn assert_positions_match(oms: &mut Oms) {
    let trades = venue_trades(oms);
    let mut base = 0i64;
    let mut quote = 0i128;
    for t in &trades {
        assert_eq!(t["isBuyer"], true);
        let q = dec(&t["qty"], QTY_SCALE);
        let p = dec(&t["price"], PX_SCALE);
        assert_eq!(t["commissionAsset"], "BTC", "a buy pays commission in BTC");
        base += q - dec(&t["commission"], QTY_SCALE);
        quote -= i128::from(p) * i128::from(q);
    }
    let pos = oms.positions().get(VenueId(0), InstrumentIdx(0));
    assert_eq!((pos.base, pos.quote), (base, quote), "{trades:?}");
    assert_eq!(
        pos.fills,
        trades.len() as u64,
        "each venue trade counted once"
    );
    assert_eq!(oms.stats().fills, trades.len() as u64);
}

/// A resting buy one tick under the ask: it rests, and the generated book fills it (passively,
/// at its price) once the ask comes down to it.
fn rest_one(oms: &mut Oms, risk: &mut RiskEngine, seg: &ControlSegment, seq: u64) -> i64 {
    let px = best_ask(oms) - 1;
    let r = oms
        .submit(approve(risk, seg, buy(seq, px)))
        .expect("submit");
    assert_eq!(r.state, OrderState::Acked, "rests: one tick under the ask");
    px
}

/// Steps the simulator until the venue says `seq` is FILLED (bounded).
fn step_until_filled(sim: &SimHandle, oms: &mut Oms, seq: u64) {
    for _ in 0..400 {
        sim.step(1);
        if venue_status(oms, seq) == "FILLED" {
            return;
        }
    }
    panic!("order {seq} never filled in 400 steps");
}

#[test]
fn a_resting_fill_is_learned_from_the_stream_with_polling_off() {
    let _ = captured();
    let sim = start_sim(11);
    let s = setup(&sim, "rest");
    let seg = segment(&s);
    // Polling every 10 minutes: only the stream can bring the fill within this test.
    let mut oms = oms(&s, seg.clone(), 600_000, 600_000);
    attach(&mut oms, &s, &s.ws_api_url);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| o
            .user_stream_stats()
            .up),
        "subscribed: {:?}",
        oms.user_stream()
    );
    let mut risk = risk();
    let px = rest_one(&mut oms, &mut risk, &seg, 1);
    // Step the book (one step at a time, the OMS polling between) until the fill arrives.
    let mut filled = false;
    for _ in 0..400 {
        sim.step(1);
        if poll_until(&mut oms, Duration::from_millis(20), |o| {
            o.order(1).is_some_and(|x| x.state == OrderState::Filled)
        }) {
            filled = true;
            break;
        }
    }
    if !filled {
        // The venue may have filled it on the last step: give the stream time to say so.
        filled = poll_until(&mut oms, Duration::from_secs(20), |o| {
            o.order(1).is_some_and(|x| x.state == OrderState::Filled)
        });
    }
    assert!(filled, "{:?}", oms.order(1));
    let o = *oms.order(1).unwrap();
    assert_eq!((o.cum_qty.0, o.filled_qty.0), (QTY, QTY));
    let us = oms.user_stream_stats();
    assert!(us.fills >= 1, "the fill came from the stream: {us:?}");
    assert_eq!(us.fills, oms.stats().fills, "and only from it: {us:?}");
    // Exact against the venue's own record: price, quantity, commission and its asset.
    let trades = venue_trades(&mut oms);
    let sum: i64 = trades.iter().map(|t| dec(&t["qty"], QTY_SCALE)).sum();
    assert_eq!(sum, QTY);
    for t in &trades {
        assert_eq!(
            dec(&t["price"], PX_SCALE),
            px,
            "a passive fill is at the order's price"
        );
        assert_eq!(t["isMaker"], true);
        // Maker 10 bps of the quantity, in the asset bought.
        assert_eq!(
            dec(&t["commission"], QTY_SCALE),
            dec(&t["qty"], QTY_SCALE) / 1_000
        );
    }
    assert_positions_match(&mut oms);
    // The account position frame follows the execution report on the stream: wait for it.
    assert!(
        poll_until(&mut oms, Duration::from_secs(20), |o| o
            .stream_balances()
            .iter()
            .any(|b| b.asset == "BTC")),
        "outboundAccountPosition applied: {:?}",
        oms.stream_balances()
    );
}

#[test]
fn a_fill_in_the_full_response_and_twice_on_the_stream_counts_once() {
    let _ = captured();
    let sim = start_sim(12);
    let s = setup(&sim, "dup");
    let seg = segment(&s);
    let mut oms = oms(&s, seg.clone(), 600_000, 600_000);
    attach(&mut oms, &s, &s.ws_api_url);
    assert!(poll_until(&mut oms, Duration::from_secs(30), |o| o
        .user_stream_stats()
        .up));
    // The stream also sends the next TRADE report twice.
    sim.inject("binance", FaultKind::DuplicateFill, 1, 0, 0)
        .unwrap();
    let mut risk = risk();
    // Marketable: the FULL response carries the fill first.
    let px = best_ask(&mut oms) + 500;
    let r = oms.submit(approve(&mut risk, &seg, buy(1, px))).unwrap();
    assert_eq!(r.state, OrderState::Filled);
    let from_rest = oms.stats().fills;
    assert!(from_rest >= 1);
    // Both stream copies of every fill arrive, and each is recognised by its trade id.
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| {
            o.user_stream_stats().duplicate_fills > from_rest
        }),
        "{:?}",
        oms.user_stream_stats()
    );
    let us = oms.user_stream_stats();
    assert_eq!(us.fills, 0, "nothing new on the stream: {us:?}");
    assert_eq!(oms.stats().fills, from_rest);
    assert_positions_match(&mut oms);
    // Then the other way round: a resting fill the venue makes while the OMS is not polling;
    // a cancel finds it filled (-2011), the query fetches `myTrades` and applies the fill from
    // REST, and the stream's report of the same trade arrives after it: still counted once.
    rest_one(&mut oms, &mut risk, &seg, 2);
    step_until_filled(&sim, &mut oms, 2);
    let dups = oms.user_stream_stats().duplicate_fills;
    let fills = oms.stats().fills;
    oms.cancel(2).unwrap();
    let o = *oms.order(2).unwrap();
    assert_eq!(
        (o.state, o.filled_qty.0),
        (OrderState::Filled, QTY),
        "from myTrades"
    );
    assert!(oms.stats().fills > fills);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| {
            o.user_stream_stats().duplicate_fills > dups
        }),
        "{:?}",
        oms.user_stream_stats()
    );
    assert_eq!(
        oms.user_stream_stats().fills,
        0,
        "the stream brought nothing new"
    );
    assert_positions_match(&mut oms);
}

/// Pops stream events until `want` matches one (bounded by a generous guard).
fn next_matching(
    st: &mut UserStream,
    mut want: impl FnMut(&lyra_oms::binance::user_stream_event::UserEvent) -> bool,
) -> bool {
    let end = mono_now_ns() + 30_000_000_000;
    while mono_now_ns() < end {
        match st.pop() {
            Some(ev) if want(&ev) => return true,
            Some(_) => {}
            None => thread::sleep(Duration::from_millis(5)),
        }
    }
    false
}

#[test]
fn a_silent_stream_is_declared_dead_and_replaced() {
    use lyra_oms::binance::user_stream_event::UserEvent;
    let _ = captured();
    let sim = start_sim(17);
    let s = setup(&sim, "dead");
    let relay = Relay::start(sim.endpoint("binance").unwrap().addr);
    let cfg = UserStreamConfig {
        ping_every: Duration::from_millis(200),
        dead_after: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(2),
        ..stream_cfg(&format!("wss://127.0.0.1:{}/ws-api/v3", relay.addr.port()))
    };
    let mut st = UserStream::start(
        cfg,
        tls_config(Some(&s.ca)).unwrap(),
        Credentials::load(&s.creds).unwrap(),
        Arc::new(LiveClock),
        0,
    )
    .unwrap();
    assert!(next_matching(&mut st, |e| matches!(
        e,
        UserEvent::Subscribed { .. }
    )));
    // The connection stays open but nothing gets through, pongs included.
    relay.freeze.store(true, Ordering::Release);
    assert!(next_matching(&mut st, |e| matches!(
        e,
        UserEvent::Down { .. }
    )));
    assert!(st.status().dead.load(Ordering::Relaxed) >= 1, "{st:?}");
    relay.freeze.store(false, Ordering::Release);
    assert!(
        next_matching(
            &mut st,
            |e| matches!(e, UserEvent::Subscribed { epoch } if *epoch >= 2)
        ),
        "{st:?}"
    );
    assert!(st.status().reconnects.load(Ordering::Relaxed) >= 1);
    st.stop();
}

#[test]
fn a_cut_stream_reconnects_resubscribes_and_loses_no_fill() {
    let _ = captured();
    let sim = start_sim(13);
    let s = setup(&sim, "cut");
    let seg = segment(&s);
    let relay = Relay::start(sim.endpoint("binance").unwrap().addr);
    let mut oms = oms(&s, seg.clone(), 600_000, 600_000);
    attach(
        &mut oms,
        &s,
        &format!("wss://127.0.0.1:{}/ws-api/v3", relay.addr.port()),
    );
    assert!(poll_until(&mut oms, Duration::from_secs(30), |o| o
        .user_stream_stats()
        .up));
    let mut risk = risk();
    rest_one(&mut oms, &mut risk, &seg, 1);
    // Cut the stream and keep it down until the order has filled at the venue.
    relay.refuse.store(true, Ordering::Release);
    relay.cut();
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| !o
            .user_stream_stats()
            .up),
        "the drop is seen: {:?}",
        oms.user_stream()
    );
    step_until_filled(&sim, &mut oms, 1);
    for _ in 0..20 {
        oms.poll().unwrap();
    }
    assert_eq!(
        oms.order(1).unwrap().filled_qty.0,
        0,
        "the fill happened while no stream was live and polling is off"
    );
    // Let it back: the stream reconnects, resubscribes, and the catch-up poll finds the fill.
    relay.refuse.store(false, Ordering::Release);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| o
            .order(1)
            .is_some_and(
                |x| x.state == OrderState::Filled && x.filled_qty.0 == QTY
            )),
        "{:?} {:?}",
        oms.order(1),
        oms.user_stream_stats()
    );
    let us = oms.user_stream_stats();
    assert!(us.subscriptions >= 2 && us.downs >= 1, "{us:?}");
    assert!(us.catch_up_polls >= 2, "{us:?}");
    let st = oms.user_stream().unwrap().status();
    assert!(st.reconnects.load(Ordering::Relaxed) >= 1);
    assert!(st.is_subscribed());
    assert_positions_match(&mut oms);
    // And the stream works again: the next resting fill comes from it.
    rest_one(&mut oms, &mut risk, &seg, 2);
    let before = oms.user_stream_stats().fills;
    step_until_filled(&sim, &mut oms, 2);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| o
            .order(2)
            .is_some_and(|x| x.state == OrderState::Filled)),
        "{:?}",
        oms.user_stream_stats()
    );
    assert!(oms.user_stream_stats().fills > before);
    assert_positions_match(&mut oms);
}

#[test]
fn a_late_report_on_the_stream_resolves_a_sent_unknown_order() {
    let _ = captured();
    let sim = start_sim(15);
    let s = setup(&sim, "unknown");
    let seg = segment(&s);
    // A long window: queries alone cannot settle it while the venue denies the order.
    let mut oms = oms_window(&s, seg.clone(), 600_000, 600_000, 120_000);
    attach(&mut oms, &s, &s.ws_api_url);
    assert!(poll_until(&mut oms, Duration::from_secs(30), |o| o
        .user_stream_stats()
        .up));
    // The order is placed but its response is lost, and queries answer "not found" for a
    // minute: only the stream can tell the OMS what happened.
    sim.inject("binance", FaultKind::RestDropResponse, 1, 0, 0)
        .unwrap();
    sim.inject("binance", FaultKind::False2013, 0, 60_000, 0)
        .unwrap();
    let mut risk = risk();
    let px = best_ask(&mut oms) + 500;
    let r = oms.submit(approve(&mut risk, &seg, buy(1, px))).unwrap();
    assert_eq!(r.state, OrderState::SentUnknown);
    assert_eq!(oms.pending_unknown(), 1);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| o
            .order(1)
            .is_some_and(|x| x.state == OrderState::Filled)),
        "{:?} {:?}",
        oms.order(1),
        oms.user_stream_stats()
    );
    assert_eq!(oms.pending_unknown(), 0, "resolved: no more queries");
    assert_eq!(oms.user_stream_stats().resolved, 1);
    assert_eq!(oms.stats().resolved, 1);
    assert_eq!((oms.stats().absent, oms.stats().resends), (0, 0));
    assert_eq!(sim.oracle().counts().orders, 1, "never resent");
    assert!(oms.order(1).unwrap().venue_order_id != 0);
    assert_positions_match(&mut oms);
}

#[test]
fn a_stale_clock_gets_minus_1021_then_the_stream_syncs_to_the_venue_time_and_subscribes() {
    let _ = captured();
    let sim = start_sim(16);
    let s = setup(&sim, "skew");
    // The venue's clock runs 30 s ahead; the stream starts believing it is in step (offset 0).
    sim.inject("binance", FaultKind::ClockSkew, 0, 120_000, 30_000)
        .unwrap();
    let mut st = UserStream::start(
        stream_cfg(&s.ws_api_url),
        tls_config(Some(&s.ca)).unwrap(),
        Credentials::load(&s.creds).unwrap(),
        Arc::new(LiveClock),
        0,
    )
    .unwrap();
    let end = mono_now_ns() + 30_000_000_000;
    let mut subscribed = false;
    while !subscribed && mono_now_ns() < end {
        match st.pop() {
            Some(lyra_oms::binance::user_stream_event::UserEvent::Subscribed { epoch }) => {
                assert_eq!(epoch, 1, "subscribed on the first connection");
                subscribed = true;
            }
            Some(_) => {}
            None => thread::sleep(Duration::from_millis(5)),
        }
    }
    assert!(subscribed, "{st:?}");
    let status = st.status();
    assert_eq!(status.reconnects.load(Ordering::Relaxed), 0);
    assert!(
        (20_000..40_000).contains(&status.offset_ms()),
        "offset from the venue's time: {}",
        status.offset_ms()
    );
    st.stop();
}

#[test]
fn a_canary_secret_never_appears_in_logs_or_debug_output() {
    let logs = captured();
    let sim = start_sim(14);
    let s = setup(&sim, "canary");
    let seg = segment(&s);
    let mut oms = oms(&s, seg.clone(), 600_000, 600_000);
    attach(&mut oms, &s, &s.ws_api_url);
    assert!(poll_until(&mut oms, Duration::from_secs(30), |o| o
        .user_stream_stats()
        .up));
    // A stream signing with a wrong secret is refused (-1022) and keeps retrying, logging why.
    let mut bad = UserStream::start(
        stream_cfg(&s.ws_api_url),
        tls_config(Some(&s.ca)).unwrap(),
        Credentials::new(CANARY_KEY, b"not-the-secret"),
        Arc::new(LiveClock),
        0,
    )
    .unwrap();
    let end = mono_now_ns() + 30_000_000_000;
    while bad.status().last_error_code.load(Ordering::Relaxed) != -1022 && mono_now_ns() < end {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(bad.status().last_error_code.load(Ordering::Relaxed), -1022);
    assert!(!bad.status().is_subscribed());
    let debug = format!("{oms:?} {:?} {bad:?}", oms.user_stream());
    bad.stop();
    let mut risk = risk();
    rest_one(&mut oms, &mut risk, &seg, 1);
    step_until_filled(&sim, &mut oms, 1);
    assert!(poll_until(&mut oms, Duration::from_secs(30), |o| o
        .order(1)
        .is_some_and(|x| x.state == OrderState::Filled)));
    drop(oms);
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("user stream subscribed") && text.contains("subscribe refused"),
        "the capture sees the stream's logs"
    );
    for out in [&text, &debug] {
        assert!(!out.contains(CANARY_SECRET), "secret leaked");
        let leak: Vec<&str> = out.lines().filter(|l| l.contains(CANARY_KEY)).collect();
        assert!(leak.is_empty(), "API key leaked: {leak:?}");
    }
}

#[test]
fn a_terminated_subscription_is_renewed_and_the_next_fill_still_comes_from_the_stream() {
    let _ = captured();
    let sim = start_sim(13);
    let s = setup(&sim, "term");
    let seg = segment(&s);
    let mut oms = oms(&s, seg.clone(), 600_000, 600_000);
    attach(&mut oms, &s, &s.ws_api_url);
    assert!(poll_until(&mut oms, Duration::from_secs(30), |o| o
        .user_stream_stats()
        .up));
    let subs = oms.user_stream_stats().subscriptions;
    // The venue ends the subscription (eventStreamTerminated, the WS-API successor of a listenKey
    // expiry); the client subscribes again on the same connection.
    sim.inject("binance", FaultKind::UserStreamTerminated, 1, 0, 0)
        .unwrap();
    sim.step(1);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| {
            let us = o.user_stream_stats();
            us.up && us.subscriptions > subs
        }),
        "{:?}",
        oms.user_stream_stats()
    );
    let mut risk = risk();
    rest_one(&mut oms, &mut risk, &seg, 1);
    step_until_filled(&sim, &mut oms, 1);
    assert!(
        poll_until(&mut oms, Duration::from_secs(20), |o| o
            .user_stream_stats()
            .fills
            >= 1),
        "the fill came from the renewed stream: {:?}",
        oms.user_stream_stats()
    );
    assert_positions_match(&mut oms);
}
