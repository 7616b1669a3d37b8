//! Allocation audit of the receive path with shm's counting global allocator (counts are
//! process-wide, so this binary holds one test, and the loopback server sends the measured burst
//! *before* the client starts reading it: during the measured window only the client runs).

mod support;

use std::{cell::Cell, sync::Arc, thread, time::Duration};

use lyra_feeds::ws::{
    client_config, venues::BinanceWs, KeepAliveConfig, TlsRoots, WsClient, WsConfig, WsEvent,
};
use lyra_shm::{
    alloc_count::CountingAlloc,
    clock::{mono_now_ns, LiveClock},
};
use mio::{Events, Poll, Token};
use support::{Behaviour, TestCa, WsServer};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const WARM: usize = 300;
const MEASURED: usize = 500;

fn frame(i: usize) -> Option<String> {
    (i < WARM + MEASURED).then(|| format!(r#"{{"stream":"btcusdt@depth","data":{{"u":{i}}}}}"#))
}

/// Warms a client up on `WARM` frames, lets the server queue `MEASURED` more in the socket, then
/// returns the allocations made while the client drains them.
fn measure(tls: bool) -> u64 {
    let ca = TestCa::new();
    let server = WsServer::start(tls.then_some(&ca), |_| Behaviour {
        reply: |t| {
            if t.contains("SUBSCRIBE") {
                vec![r#"{"result":null,"id":1}"#.to_string()]
            } else {
                Vec::new()
            }
        },
        data: frame,
        data_every: Duration::ZERO,
        hold_data: Some((WARM, "go")),
        ..Behaviour::default()
    });
    let cfg = WsConfig {
        stale_after_ms: None,
        keepalive: KeepAliveConfig {
            idle_ms: None,
            reply_timeout_ms: 1_000,
        },
        ..WsConfig::default()
    };
    let tls_cfg = tls.then(|| client_config(&TlsRoots::Der(ca.ders())).expect("tls"));
    let proto = BinanceWs::new(&server.url(tls), vec!["btcusdt@depth".into()]);
    let mut client =
        WsClient::new(proto, cfg, tls_cfg, Arc::new(LiveClock), Token(1)).expect("client");
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(64);
    let frames = Cell::new(0usize);
    let disconnected = Cell::new(false);
    let mut handle = |e: WsEvent<'_>| match e {
        WsEvent::Data(d) => {
            assert!(d.starts_with(br#"{"stream""#));
            frames.set(frames.get() + 1);
        }
        WsEvent::Disconnected(_) => disconnected.set(true),
        _ => {}
    };
    client.start(poll.registry(), &mut handle);
    let deadline = mono_now_ns() + 20_000_000_000;
    let mut turn = |client: &mut WsClient<BinanceWs>, handle: &mut dyn FnMut(WsEvent<'_>)| {
        assert!(mono_now_ns() < deadline, "timed out");
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .expect("poll");
        for ev in events.iter() {
            client.on_ready(poll.registry(), ev, &mut |e| handle(e));
        }
        client.on_tick(poll.registry(), &mut |e| handle(e));
    };
    // Warm-up: connect, subscribe, read WARM frames.
    while frames.get() < WARM && !disconnected.get() {
        turn(&mut client, &mut handle);
    }
    client.send_text("go").expect("release the burst");
    // Let the server put the whole burst into the socket before reading any of it.
    while server.log().data_sent < WARM + MEASURED {
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(20));
    let before = ALLOC.allocations();
    while frames.get() < WARM + MEASURED && !disconnected.get() {
        turn(&mut client, &mut handle);
    }
    let after = ALLOC.allocations();
    assert!(!disconnected.get(), "the connection must stay up");
    assert_eq!(frames.get(), WARM + MEASURED);
    after - before
}

#[test]
fn receive_path_allocations_per_frame() {
    let plain = measure(false);
    let tls = measure(true);
    println!("allocations over {MEASURED} frames: ws {plain}, wss {tls}");
    assert_eq!(
        plain, 0,
        "plain ws: {plain} allocations over {MEASURED} frames"
    );
    // rustls' buffered API copies each decrypted record into a fresh Vec (`into_vec` in
    // `take_received_plaintext`): one allocation per record, here one record per frame, plus a
    // few buffer growths under a burst. rustls 0.23's unbuffered API copies the same way.
    assert!(
        tls <= MEASURED as u64 * 11 / 10,
        "wss: {tls} allocations over {MEASURED} frames"
    );
}
