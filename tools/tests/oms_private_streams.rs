//! The OKX and Kraken OMSs with their private order streams (OKX `/ws/v5/private` `orders`,
//! Kraken WebSocket v2 `executions` with a `GetWebSocketsToken` token) against `lyra sim`, the
//! stream applied by the same code as Binance's user stream (`Oms::attach_user_stream`). For
//! each venue: a resting order filled by the moving book is learned from the stream with REST
//! polling effectively off (Kraken: with the fee in the asset the report names); a fill seen
//! on REST and on the stream, or twice on the stream, counts once (trade id); a SENT_UNKNOWN
//! intent whose REST queries all fail is resolved by a stream report; a cut private connection
//! is seen, reconnected and resubscribed, and the catch-up poll finds the fill made meanwhile;
//! no key, secret, passphrase or token reaches the logs or any `Debug` output.

mod log_capture;
// The seeded runs' re-export is for the life-cycle binaries, not this one.
#[allow(unused_imports)]
mod oms_life;
mod relay;

use log_capture::captured;
use relay::Relay;
use std::{
    sync::{atomic::Ordering, Arc},
    thread,
    time::Duration,
};

use lyra_oms::{
    binance::{UserStream, UserStreamConfig},
    clordid::ClOrdId,
    http::tls_config,
    kraken::{self, KrakenConfig, KrakenCredentials},
    okx::{self, OkxCredentials},
    Oms, OmsConfig,
};
use lyra_shm::{
    clock::{mono_now_ns, LiveClock},
    control::GrantMode,
    msg::{InstrumentIdx, OrderState, Side, VenueId},
};
use lyra_tools::sim::{
    config::{AccountCfg, Dialect, SimConfig, VenueCfg, SCALE},
    faults::FaultKind,
    Sim,
};
use oms_life::{cfg, intent, segment, Harness, Kind, Risk, TempDir, LOT, QTY_SCALE};
use rust_decimal::Decimal;

/// 0.01 BTC.
const LOTS: i64 = 1_000;
/// Sim prices (scale 8) per test price unit (scale 2).
const PX_DIV: i64 = 10i64.pow(SCALE as u32 - 2);

/// A manually stepped simulator with one venue of `kind` charging `fee_bps` (maker and taker).
fn start(kind: Kind, seed: u64, fee_bps: i64) -> Harness {
    let (name, dialect) = match kind {
        Kind::Okx => ("okx", Dialect::Okx),
        Kind::Kraken => ("kraken", Dialect::Kraken),
    };
    let cfg = SimConfig {
        seed,
        step_ms: 0,
        oracle_frames: false,
        venues: vec![VenueCfg {
            name: name.into(),
            dialect,
            maker_fee_bps: fee_bps,
            taker_fee_bps: fee_bps,
            ..VenueCfg::default()
        }],
        accounts: vec![AccountCfg {
            balances: vec![
                ("USDT".into(), "10000000".into()),
                ("BTC".into(), "100".into()),
            ],
            ..AccountCfg::default()
        }],
        ..SimConfig::default()
    };
    Harness {
        sim: Sim::start(cfg, None).expect("simulator"),
        kind,
    }
}

/// LIVE; working orders polled every 10 minutes with or without the stream, so only the
/// stream (or an explicit cancel / catch-up poll) brings news within a test.
fn stream_cfg_oms(run: &str, window_ms: u64) -> OmsConfig {
    OmsConfig {
        working_poll_ms: 600_000,
        working_poll_stream_ms: 600_000,
        unknown_window_ms: window_ms,
        ..cfg(run)
    }
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

/// The venue's private stream on `url` (the simulator's own, or a relay's).
fn start_stream(h: &Harness, url: &str) -> UserStream {
    let c = &h.sim.credentials()[0];
    let tls = tls_config(Some(h.sim.ca_path())).expect("tls");
    match h.kind {
        Kind::Okx => okx::private_stream::start(
            stream_cfg(url),
            tls,
            OkxCredentials::new(&c.api_key, &c.secret, &c.passphrase),
            Arc::new(LiveClock),
            0,
        )
        .expect("okx private stream"),
        Kind::Kraken => kraken::private_stream::start(
            stream_cfg(url),
            &KrakenConfig {
                rest_url: h.sim.endpoint("kraken").unwrap().rest.clone(),
                timeout: Duration::from_secs(5),
            },
            tls,
            KrakenCredentials::new(&c.api_key, &c.secret).expect("credentials"),
            Arc::new(LiveClock),
        )
        .expect("kraken private stream"),
    }
}

/// The simulator's private URL of the venue.
fn private_url(h: &Harness) -> String {
    h.sim.endpoint(h.name()).unwrap().ws_api.clone()
}

/// The same URL through `relay`.
fn relayed_url(h: &Harness, relay: &Relay) -> String {
    let path = match h.kind {
        Kind::Okx => "/ws/v5/private",
        Kind::Kraken => "/v2",
    };
    format!("wss://127.0.0.1:{}{path}", relay.addr.port())
}

/// An OMS with the stream attached and subscribed, reconciled, and risk over its segment.
fn oms_with_stream(
    h: &Harness,
    dir: &TempDir,
    run: &str,
    window_ms: u64,
    url: &str,
) -> (Oms, Risk) {
    let seg = segment(dir, GrantMode::Live);
    let mut oms = h.oms(dir, &seg, stream_cfg_oms(run, window_ms));
    oms.reconcile().expect("reconcile");
    oms.attach_user_stream(start_stream(h, url));
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| o
            .user_stream_stats()
            .up),
        "subscribed: {:?}",
        oms.user_stream()
    );
    (oms, Risk::new(seg, true))
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

/// Best ask at the venue, test price units (scale 2).
fn best_ask(h: &Harness) -> i64 {
    let st = h.sim.shared().venues[0].state.lock().unwrap();
    st.m.top(0).1.expect("an ask") / PX_DIV
}

/// Submits a buy of [`LOTS`] at `px`.
fn buy(oms: &mut Oms, risk: &mut Risk, seq: u64, px: i64) -> OrderState {
    oms.submit(risk.approve(intent(seq, Side::Buy, px, LOTS)).unwrap())
        .expect("submit")
        .state
}

/// The venue's executed quantity of the order with client id of `seq` in `run`.
fn venue_executed(h: &Harness, run: &str, seq: u64) -> i64 {
    let id = ClOrdId::new(run, seq).unwrap();
    h.venue_orders(id.as_str()).first().map_or(0, |o| o.1)
}

/// Steps the simulator until the venue has filled `seq` (bounded); the OMS is not polled.
fn step_until_filled(h: &Harness, run: &str, seq: u64) {
    for _ in 0..600 {
        h.sim.step(1);
        // The simulator's quantities have 8 decimals, as the test's (QTY_SCALE).
        if venue_executed(h, run, seq) == LOTS * LOT {
            return;
        }
    }
    panic!("order {seq} never filled in 600 steps");
}

/// The venue's balance changes equal the OMS position, fees included (so the fee asset is
/// right): `(btc0, usdt0)` are the starting totals.
fn assert_positions_match(h: &Harness, oms: &Oms, btc0: Decimal, usdt0: Decimal) {
    let pos = oms.positions().get(VenueId(0), InstrumentIdx(0));
    assert_eq!(
        h.balance("BTC") - btc0,
        Decimal::new(pos.base, u32::from(QTY_SCALE)),
        "{:?}: base",
        h.kind
    );
    assert_eq!(
        h.balance("USDT") - usdt0,
        Decimal::from_i128_with_scale(pos.quote, 2 + u32::from(QTY_SCALE)),
        "{:?}: quote",
        h.kind
    );
}

fn resting_fill_is_learned_from_the_stream(kind: Kind) {
    let _ = captured();
    // Fees on: Kraken's fee asset comes from the report's `fees[].asset` (here BTC on a buy).
    let h = start(kind, 21, 10);
    let dir = TempDir::new("ps-fill");
    let run = "psfill";
    let (btc0, usdt0) = (h.balance("BTC"), h.balance("USDT"));
    let (mut oms, mut risk) = oms_with_stream(&h, &dir, run, 2_000, &private_url(&h));
    let px = best_ask(&h) - 1;
    assert_eq!(buy(&mut oms, &mut risk, 1, px), OrderState::Acked, "rests");
    let mut filled = false;
    for _ in 0..600 {
        h.sim.step(1);
        if poll_until(&mut oms, Duration::from_millis(20), |o| {
            o.order(1).is_some_and(|x| x.state == OrderState::Filled)
        }) {
            filled = true;
            break;
        }
    }
    if !filled {
        filled = poll_until(&mut oms, Duration::from_secs(20), |o| {
            o.order(1).is_some_and(|x| x.state == OrderState::Filled)
        });
    }
    assert!(
        filled,
        "{kind:?} {:?} {:?}",
        oms.order(1),
        oms.user_stream_stats()
    );
    let o = *oms.order(1).unwrap();
    assert_eq!((o.cum_qty.0, o.filled_qty.0), (LOTS * LOT, LOTS * LOT));
    assert!(!o.venue_id.is_empty());
    let us = oms.user_stream_stats();
    assert!(us.executions >= 2, "new + trade reports: {us:?}");
    assert!(us.fills >= 1, "the fill came from the stream: {us:?}");
    assert_eq!(us.fills, oms.stats().fills, "and only from it: {us:?}");
    let st = oms.user_stream().unwrap().status();
    assert!(st.events.load(Ordering::Relaxed) >= 2);
    assert_positions_match(&h, &oms, btc0, usdt0);
}

fn a_fill_on_rest_and_on_the_stream_counts_once(kind: Kind) {
    let _ = captured();
    // Fee-free: Kraken's REST trades name no fee asset (assumed quote), the simulator charges
    // the asset received; this test is about counting, the fee test is the one above.
    let h = start(kind, 22, 0);
    let dir = TempDir::new("ps-dup");
    let run = "psdup";
    let (btc0, usdt0) = (h.balance("BTC"), h.balance("USDT"));
    let (mut oms, mut risk) = oms_with_stream(&h, &dir, run, 2_000, &private_url(&h));
    // The stream sends the next fill twice.
    h.inject(FaultKind::DuplicateFill, 1);
    let px = best_ask(&h) + 500;
    buy(&mut oms, &mut risk, 1, px);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| {
            o.order(1).is_some_and(|x| x.state == OrderState::Filled)
                && o.user_stream_stats().duplicate_fills >= 1
        }),
        "{kind:?} {:?} {:?}",
        oms.order(1),
        oms.user_stream_stats()
    );
    let us = oms.user_stream_stats();
    assert_eq!(us.fills, oms.stats().fills, "{us:?}");
    assert_eq!(oms.order(1).unwrap().filled_qty.0, LOTS * LOT);
    // REST first, stream second: a resting order fills while the OMS is not polled; the
    // cancel finds it filled and the query applies the fill from the venue's trades; the
    // stream's queued report of the same trade then arrives as a duplicate.
    let px = best_ask(&h) - 1;
    assert_eq!(buy(&mut oms, &mut risk, 2, px), OrderState::Acked);
    step_until_filled(&h, run, 2);
    let (fills, dups, stream_fills) = (
        oms.stats().fills,
        oms.user_stream_stats().duplicate_fills,
        oms.user_stream_stats().fills,
    );
    oms.cancel(2).unwrap();
    let o = *oms.order(2).unwrap();
    assert_eq!(
        (o.state, o.filled_qty.0),
        (OrderState::Filled, LOTS * LOT),
        "{kind:?}: from the REST trades"
    );
    assert!(oms.stats().fills > fills);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| {
            o.user_stream_stats().duplicate_fills > dups
        }),
        "{kind:?} {:?}",
        oms.user_stream_stats()
    );
    assert_eq!(
        oms.user_stream_stats().fills,
        stream_fills,
        "the stream brought nothing new"
    );
    assert_positions_match(&h, &oms, btc0, usdt0);
}

fn a_stream_report_resolves_a_sent_unknown_intent(kind: Kind) {
    let _ = captured();
    let h = start(kind, 23, 0);
    let dir = TempDir::new("ps-unknown");
    let run = "psunk";
    let (btc0, usdt0) = (h.balance("BTC"), h.balance("USDT"));
    // A long window: queries alone cannot settle it in this test.
    let (mut oms, mut risk) = oms_with_stream(&h, &dir, run, 120_000, &private_url(&h));
    // Placed, but the answer is lost; then every REST call is refused for a minute.
    h.inject(FaultKind::RestDropResponse, 1);
    let px = best_ask(&h) + 500;
    assert_eq!(buy(&mut oms, &mut risk, 1, px), OrderState::SentUnknown);
    h.window(FaultKind::RateLimit, 60_000);
    assert_eq!(oms.pending_unknown(), 1);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| o
            .order(1)
            .is_some_and(|x| x.state == OrderState::Filled)),
        "{kind:?} {:?} {:?}",
        oms.order(1),
        oms.user_stream_stats()
    );
    assert_eq!(oms.pending_unknown(), 0, "resolved: no more queries");
    assert_eq!(oms.user_stream_stats().resolved, 1);
    assert_eq!(oms.stats().resolved, 1);
    assert_eq!((oms.stats().absent, oms.stats().resends), (0, 0));
    let id = ClOrdId::new(run, 1).unwrap();
    assert_eq!(h.venue_orders(id.as_str()).len(), 1, "never resent");
    let o = *oms.order(1).unwrap();
    assert!(!o.venue_id.is_empty(), "venue id learned from the stream");
    assert_eq!(o.filled_qty.0, LOTS * LOT);
    assert_positions_match(&h, &oms, btc0, usdt0);
}

fn a_cut_connection_is_caught_up_and_resubscribed(kind: Kind) {
    let _ = captured();
    let h = start(kind, 24, 0);
    let dir = TempDir::new("ps-cut");
    let run = "pscut";
    let (btc0, usdt0) = (h.balance("BTC"), h.balance("USDT"));
    let relay = Relay::start(h.sim.endpoint(h.name()).unwrap().addr);
    let url = relayed_url(&h, &relay);
    let (mut oms, mut risk) = oms_with_stream(&h, &dir, run, 2_000, &url);
    let px = best_ask(&h) - 1;
    assert_eq!(buy(&mut oms, &mut risk, 1, px), OrderState::Acked);
    let polls0 = oms.user_stream_stats().catch_up_polls;
    // Cut the private connection and keep it down until the order has filled at the venue.
    relay.refuse.store(true, Ordering::Release);
    relay.cut();
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| !o
            .user_stream_stats()
            .up),
        "{kind:?}: the drop is seen: {:?}",
        oms.user_stream()
    );
    step_until_filled(&h, run, 1);
    for _ in 0..20 {
        oms.poll().unwrap();
    }
    assert_eq!(
        oms.order(1).unwrap().filled_qty.0,
        0,
        "the fill happened while no stream was live and polling is off"
    );
    // Let it back: reconnect, resubscribe, and the catch-up poll finds the fill.
    relay.refuse.store(false, Ordering::Release);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| o
            .order(1)
            .is_some_and(
                |x| x.state == OrderState::Filled && x.filled_qty.0 == LOTS * LOT
            )),
        "{kind:?} {:?} {:?}",
        oms.order(1),
        oms.user_stream_stats()
    );
    let us = oms.user_stream_stats();
    assert!(us.subscriptions >= 2 && us.downs >= 1, "{us:?}");
    assert!(us.catch_up_polls >= polls0 + 2, "{us:?}");
    let st = oms.user_stream().unwrap().status();
    assert!(st.reconnects.load(Ordering::Relaxed) >= 1);
    assert!(poll_until(&mut oms, Duration::from_secs(30), |o| o
        .user_stream()
        .is_some_and(|s| s.status().is_subscribed())));
    // And the stream works again: the next fill (a marketable order, whose place answer
    // carries no fill on either venue) comes from it.
    let before = oms.user_stream_stats().fills;
    let px = best_ask(&h) + 500;
    buy(&mut oms, &mut risk, 2, px);
    assert!(
        poll_until(&mut oms, Duration::from_secs(30), |o| o
            .order(2)
            .is_some_and(|x| x.state == OrderState::Filled)),
        "{kind:?} {:?}",
        oms.user_stream_stats()
    );
    assert!(oms.user_stream_stats().fills > before);
    assert_positions_match(&h, &oms, btc0, usdt0);
}

fn no_secret_reaches_any_output(kind: Kind) {
    let logs = captured();
    let h = start(kind, 25, 10);
    let dir = TempDir::new("ps-secret");
    let run = "pssec";
    let (mut oms, mut risk) = oms_with_stream(&h, &dir, run, 2_000, &private_url(&h));
    let px = best_ask(&h) + 500;
    buy(&mut oms, &mut risk, 1, px);
    assert!(poll_until(&mut oms, Duration::from_secs(30), |o| o
        .order(1)
        .is_some_and(|x| x.state == OrderState::Filled)));
    // A stream with a wrong secret is refused and keeps retrying, logging why.
    let c = h.sim.credentials()[0].clone();
    let tls = tls_config(Some(h.sim.ca_path())).unwrap();
    let mut bad = match kind {
        Kind::Okx => Some(
            okx::private_stream::start(
                stream_cfg(&private_url(&h)),
                tls,
                OkxCredentials::new(&c.api_key, "not-the-secret", &c.passphrase),
                Arc::new(LiveClock),
                0,
            )
            .unwrap(),
        ),
        // Kraken refuses the token request itself: no stream starts.
        Kind::Kraken => {
            let e = kraken::private_stream::start(
                stream_cfg(&private_url(&h)),
                &KrakenConfig {
                    rest_url: h.sim.endpoint("kraken").unwrap().rest.clone(),
                    timeout: Duration::from_secs(5),
                },
                tls,
                KrakenCredentials::new(&c.api_key, "bm90LXRoZS1zZWNyZXQ=").unwrap(),
                Arc::new(LiveClock),
            )
            .unwrap_err();
            assert!(e.to_string().contains("EAPI:Invalid signature"), "{e}");
            None
        }
    };
    let mut debug = format!("{oms:?} {:?} {bad:?}", oms.user_stream());
    if let Some(b) = &mut bad {
        let end = mono_now_ns() + 30_000_000_000;
        while b.status().last_error_code.load(Ordering::Relaxed) == 0 && mono_now_ns() < end {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(b.status().last_error_code.load(Ordering::Relaxed), 60009);
        assert!(!b.status().is_subscribed());
        b.stop();
        debug.push_str(&format!("{b:?}"));
    }
    let tokens: Vec<String> = h.sim.shared().venues[0]
        .state
        .lock()
        .unwrap()
        .kr_tokens
        .keys()
        .cloned()
        .collect();
    assert_eq!(tokens.is_empty(), kind == Kind::Okx);
    drop(oms);
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("private stream subscribed"),
        "the capture sees the stream's logs"
    );
    let mut secrets = vec![c.secret.clone(), c.api_key.clone()];
    if kind == Kind::Okx {
        secrets.push(c.passphrase.clone());
    }
    secrets.extend(tokens);
    for out in [&text, &debug] {
        for s in secrets.iter().filter(|s| s.len() >= 8) {
            assert!(!out.contains(s.as_str()), "{kind:?}: a secret leaked");
        }
    }
}

#[test]
fn okx_resting_fill_is_learned_from_the_stream() {
    resting_fill_is_learned_from_the_stream(Kind::Okx);
}

#[test]
fn kraken_resting_fill_is_learned_from_the_stream_with_its_fee_asset() {
    resting_fill_is_learned_from_the_stream(Kind::Kraken);
}

#[test]
fn okx_a_fill_on_rest_and_on_the_stream_counts_once() {
    a_fill_on_rest_and_on_the_stream_counts_once(Kind::Okx);
}

#[test]
fn kraken_a_fill_on_rest_and_on_the_stream_counts_once() {
    a_fill_on_rest_and_on_the_stream_counts_once(Kind::Kraken);
}

#[test]
fn okx_a_stream_report_resolves_a_sent_unknown_intent() {
    a_stream_report_resolves_a_sent_unknown_intent(Kind::Okx);
}

#[test]
fn kraken_a_stream_report_resolves_a_sent_unknown_intent() {
    a_stream_report_resolves_a_sent_unknown_intent(Kind::Kraken);
}

#[test]
fn okx_a_cut_connection_is_caught_up_and_resubscribed() {
    a_cut_connection_is_caught_up_and_resubscribed(Kind::Okx);
}

#[test]
fn kraken_a_cut_connection_is_caught_up_and_resubscribed() {
    a_cut_connection_is_caught_up_and_resubscribed(Kind::Kraken);
}

#[test]
fn okx_no_secret_reaches_any_output() {
    no_secret_reaches_any_output(Kind::Okx);
}

#[test]
fn kraken_no_secret_reaches_any_output() {
    no_secret_reaches_any_output(Kind::Kraken);
}
