//! The WebSocket transport against a loopback TLS server: subscribe/ack, streaming, pings and
//! pongs, app keep-alives, staleness, oversized frames, abrupt closes with backoff, missing acks,
//! maximum connection age, several clients on one Poll. All behaviour, no timing assertions.

mod support;

use std::{sync::Arc, time::Duration};

use lyra_feeds::ws::{
    client_config,
    venues::{BinanceWs, GateWs, KrakenWs, OkxWs},
    BackoffConfig, DisconnectReason, KeepAliveConfig, TlsRoots, WsClient, WsConfig, WsProtocol,
};
use lyra_shm::clock::LiveClock;
use mio::{Poll, Token};
use support::{count, run_until, Behaviour, Seen, TestCa, WsServer};

const LIMIT: Duration = Duration::from_secs(10);

/// Small timeouts so the suite stays fast; individual tests override what they exercise.
fn quick_config() -> WsConfig {
    WsConfig {
        max_frame_bytes: 1 << 20,
        max_message_bytes: 1 << 20,
        connect_timeout_ms: 2_000,
        ack_timeout_ms: 2_000,
        stale_after_ms: None,
        keepalive: KeepAliveConfig {
            idle_ms: None,
            reply_timeout_ms: 1_000,
        },
        max_age_ms: None,
        backoff: BackoffConfig {
            base_ms: 10,
            cap_ms: 1_000,
            jitter: 0.25,
            healthy_reset_ms: 60_000,
            seed: 7,
        },
        scratch_bytes: 4096,
    }
}

fn binance_ack(text: &str) -> Vec<String> {
    if text.contains(r#""method":"SUBSCRIBE""#) {
        vec![r#"{"result":null,"id":1}"#.to_string()]
    } else {
        Vec::new()
    }
}

fn depth_frame(i: usize) -> Option<String> {
    Some(format!(
        r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","u":{i}}}}}"#
    ))
}

fn binance_client(
    ca: &TestCa,
    server: &WsServer,
    cfg: WsConfig,
    token: usize,
) -> WsClient<BinanceWs> {
    let tls = client_config(&TlsRoots::Der(ca.ders())).expect("tls config");
    let proto = BinanceWs::new(&server.url(true), vec!["btcusdt@depth@100ms".into()]);
    WsClient::new(proto, cfg, Some(tls), Arc::new(LiveClock), Token(token)).expect("client")
}

fn data_count(seen: &[Seen]) -> usize {
    count(seen, |s| matches!(s, Seen::Data(_)))
}

#[test]
fn subscribes_streams_in_order_and_answers_server_pings() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: binance_ack,
        data: depth_frame,
        ping_every: Some(Duration::from_millis(5)),
        ..Behaviour::default()
    });
    // Trust the CA through a PEM file, the way the simulator's CA is configured.
    let dir = std::env::temp_dir().join(format!("lyra-ws-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, &ca.ca_pem).expect("write pem");
    let tls = client_config(&TlsRoots::PemFile(pem)).expect("tls from pem");
    let proto = BinanceWs::new(&server.url(true), vec!["btcusdt@depth@100ms".into()]);
    let mut clients = [WsClient::new(
        proto,
        quick_config(),
        Some(tls),
        Arc::new(LiveClock),
        Token(1),
    )
    .expect("client")];
    let mut poll = Poll::new().expect("poll");

    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        data_count(&s[0]) >= 30 && clients_pongs(&server) >= 3
    });
    let seen = &seen[0];
    assert_eq!(seen[0], Seen::Connected);
    assert_eq!(
        seen[1],
        Seen::Subscribed,
        "the ack must come before any data is delivered"
    );
    let us: Vec<usize> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Data(d) => d
                .split("\"u\":")
                .nth(1)
                .and_then(|t| t.trim_end_matches('}').parse().ok()),
            _ => None,
        })
        .collect();
    assert_eq!(
        us,
        (0..us.len()).collect::<Vec<_>>(),
        "every frame, in order, none lost or repeated"
    );
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::Disconnected(_))),
        "{seen:?}"
    );
    let log = server.log();
    assert_eq!(log.texts.len(), 1);
    assert_eq!(
        log.texts[0].1,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}"#
    );
    assert!(clients[0].stats().pings_received >= 3);
    assert_eq!(clients[0].stats().connects, 1);
    let _ = std::fs::remove_dir_all(dir);
}

fn clients_pongs(server: &WsServer) -> usize {
    server.log().pongs.len()
}

#[test]
fn okx_app_keepalive_sends_ping_and_accepts_pong() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: |t| {
            match t {
            "ping" => vec!["pong".to_string()],
            t if t.contains(r#""op":"subscribe""#) => vec![
                r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"1"}"#.into(),
                r#"{"event":"subscribe","arg":{"channel":"books","instId":"ETH-USDT"},"connId":"1"}"#.into(),
            ],
            _ => Vec::new(),
        }
        },
        ..Behaviour::default()
    });
    let tls = client_config(&TlsRoots::Der(ca.ders())).expect("tls");
    let proto = OkxWs::new(
        &format!("{}/ws/v5/public", server.url(true)),
        "books",
        vec!["BTC-USDT".into(), "ETH-USDT".into()],
    );
    let cfg = WsConfig {
        keepalive: KeepAliveConfig {
            idle_ms: Some(20),
            reply_timeout_ms: 2_000,
        },
        ..quick_config()
    };
    let mut clients =
        [WsClient::new(proto, cfg, Some(tls), Arc::new(LiveClock), Token(3)).expect("client")];
    let mut poll = Poll::new().expect("poll");
    let pings = |server: &WsServer| {
        server
            .log()
            .texts
            .iter()
            .filter(|(_, t)| t == "ping")
            .count()
    };

    let seen = run_until(&mut poll, &mut clients, LIMIT, |_| pings(&server) >= 3);
    let seen = &seen[0];
    assert_eq!(
        &seen[..2],
        &[Seen::Connected, Seen::Subscribed],
        "two args, two acks"
    );
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::Disconnected(_))),
        "answered keep-alives keep the link: {seen:?}"
    );
    assert!(clients[0].stats().keepalives_sent >= 3);
    assert_eq!(server.log().connections, 1);
}

#[test]
fn unanswered_keepalive_recycles_the_connection() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: binance_ack,
        ..Behaviour::default()
    });
    let cfg = WsConfig {
        keepalive: KeepAliveConfig {
            idle_ms: Some(20),
            reply_timeout_ms: 40,
        },
        ..quick_config()
    };
    // The server answers WebSocket pings automatically, so use an app keep-alive it ignores.
    struct Silent(BinanceWs);
    impl WsProtocol for Silent {
        fn venue(&self) -> &'static str {
            "silent"
        }
        fn url(&self) -> &str {
            self.0.url()
        }
        fn subscribe_frames(&mut self, wall_ms: u64, out: &mut Vec<String>) -> usize {
            self.0.subscribe_frames(wall_ms, out)
        }
        fn classify(&self, frame: &[u8]) -> lyra_feeds::ws::FrameKind {
            self.0.classify(frame)
        }
        fn keepalive_frame(&mut self, _wall_ms: u64, out: &mut String) -> bool {
            out.clear();
            out.push_str("are you there");
            true
        }
    }
    let tls = client_config(&TlsRoots::Der(ca.ders())).expect("tls");
    let proto = Silent(BinanceWs::new(
        &server.url(true),
        vec!["btcusdt@depth".into()],
    ));
    let mut clients =
        [WsClient::new(proto, cfg, Some(tls), Arc::new(LiveClock), Token(4)).expect("client")];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        count(&s[0], |e| *e == Seen::Subscribed) >= 2
    });
    assert!(
        seen[0].contains(&Seen::Disconnected(DisconnectReason::KeepAliveTimeout)),
        "{:?}",
        seen[0]
    );
    assert!(server.log().texts.iter().any(|(_, t)| t == "are you there"));
}

#[test]
fn stale_feed_is_reported_and_reconnected_while_pings_still_flow() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: binance_ack,
        data: |i| if i < 5 { depth_frame(i) } else { None },
        ping_every: Some(Duration::from_millis(10)),
        ..Behaviour::default()
    });
    let cfg = WsConfig {
        stale_after_ms: Some(80),
        ..quick_config()
    };
    let mut clients = [binance_client(&ca, &server, cfg, 5)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        count(&s[0], |e| *e == Seen::Subscribed) >= 2
    });
    let seen = &seen[0];
    let stale_at = seen
        .iter()
        .position(|e| *e == Seen::Stale)
        .expect("Stale reported");
    assert_eq!(
        seen[stale_at + 1],
        Seen::Disconnected(DisconnectReason::Stale)
    );
    assert!(
        matches!(seen[stale_at + 2], Seen::Reconnecting { attempt: 1, .. }),
        "{seen:?}"
    );
    assert_eq!(
        data_count(&seen[..stale_at]),
        5,
        "all data before the stall was delivered"
    );
    assert!(
        !server.log().pongs.is_empty(),
        "the link stayed alive (pongs flowed) while data stalled"
    );
    assert!(server.log().connections >= 2);
}

#[test]
fn oversized_frame_is_reported_not_a_crash_and_the_client_reconnects() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |i| Behaviour {
        reply: binance_ack,
        data: depth_frame,
        oversized: (i == 0).then_some(64 << 10),
        ..Behaviour::default()
    });
    let cfg = WsConfig {
        max_frame_bytes: 16 << 10,
        max_message_bytes: 16 << 10,
        ..quick_config()
    };
    let mut clients = [binance_client(&ca, &server, cfg, 6)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        count(&s[0], |e| *e == Seen::Subscribed) >= 2 && data_count(&s[0]) >= 3
    });
    let seen = &seen[0];
    let at = seen
        .iter()
        .position(|e| *e == Seen::Oversized)
        .expect("Oversized reported");
    assert_eq!(
        seen[at + 1],
        Seen::Disconnected(DisconnectReason::Oversized)
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Seen::Data(d) if d.len() > 16 << 10)),
        "the big frame is never delivered"
    );
}

#[test]
fn abrupt_and_clean_closes_reconnect_with_growing_backoff() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |i| Behaviour {
        drop_after_handshake: i < 4,
        close_after_handshake: (i == 4).then_some(1001),
        reply: binance_ack,
        data: depth_frame,
        ..Behaviour::default()
    });
    let mut clients = [binance_client(&ca, &server, quick_config(), 7)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| data_count(&s[0]) >= 3);
    let seen = &seen[0];
    let reasons: Vec<DisconnectReason> = seen
        .iter()
        .filter_map(|e| match e {
            Seen::Disconnected(r) => Some(*r),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            DisconnectReason::Reset,
            DisconnectReason::Reset,
            DisconnectReason::Reset,
            DisconnectReason::Reset,
            DisconnectReason::ClosedByPeer { code: 1001 },
        ],
        "{seen:?}"
    );
    let delays: Vec<(u32, u64)> = seen
        .iter()
        .filter_map(|e| match e {
            Seen::Reconnecting { attempt, delay_ms } => Some((*attempt, *delay_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays.iter().map(|d| d.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let backoff = clients[0].backoff();
    for (i, &(_, d)) in delays.iter().enumerate() {
        let ceiling = backoff.ceiling_ms(i as u32);
        assert!(
            d <= ceiling && d * 4 >= ceiling * 3,
            "delay {d} outside [0.75, 1] x {ceiling}"
        );
    }
    assert!(
        delays.windows(2).all(|w| w[1].1 > w[0].1),
        "computed delays grow: {delays:?}"
    );
    assert_eq!(server.log().connections, 6);
    assert_eq!(clients[0].stats().connects, 6);
}

#[test]
fn missing_ack_times_out_and_reconnects() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        data: depth_frame,
        data_after_reply: false,
        ..Behaviour::default()
    });
    let cfg = WsConfig {
        ack_timeout_ms: 50,
        ..quick_config()
    };
    let mut clients = [binance_client(&ca, &server, cfg, 8)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        count(&s[0], |e| {
            *e == Seen::Disconnected(DisconnectReason::SubscribeTimeout)
        }) >= 2
    });
    let seen = &seen[0];
    assert!(!seen.contains(&Seen::Subscribed));
    assert_eq!(
        data_count(seen),
        0,
        "data before the ack is dropped by the Binance hook"
    );
    assert!(clients[0].stats().dropped_pre_ack > 0);
    let subs = server
        .log()
        .texts
        .iter()
        .filter(|(_, t)| t.contains("SUBSCRIBE"))
        .count();
    assert!(subs >= 2, "each new connection subscribes again");
}

#[test]
fn rejected_subscription_is_reported_and_recycled() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |i| Behaviour {
        reply: if i == 0 {
            |_| vec![r#"{"error":{"code":2,"msg":"Invalid request"},"id":1}"#.to_string()]
        } else {
            binance_ack
        },
        data: depth_frame,
        ..Behaviour::default()
    });
    let mut clients = [binance_client(&ca, &server, quick_config(), 9)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| data_count(&s[0]) >= 1);
    let seen = &seen[0];
    assert!(
        matches!(&seen[1], Seen::VenueError(e) if e.contains("Invalid request")),
        "{seen:?}"
    );
    assert_eq!(
        seen[2],
        Seen::Disconnected(DisconnectReason::SubscribeRejected)
    );
}

#[test]
fn max_age_forces_a_proactive_reconnect_without_backoff() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: binance_ack,
        data: depth_frame,
        ..Behaviour::default()
    });
    let cfg = WsConfig {
        max_age_ms: Some(100),
        ..quick_config()
    };
    let mut clients = [binance_client(&ca, &server, cfg, 10)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        count(&s[0], |e| *e == Seen::Subscribed) >= 3
    });
    let seen = &seen[0];
    let at = seen
        .iter()
        .position(|e| *e == Seen::Disconnected(DisconnectReason::MaxAge))
        .expect("MaxAge");
    assert_eq!(
        seen[at + 1],
        Seen::Reconnecting {
            attempt: 0,
            delay_ms: 0
        }
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Seen::Disconnected(r) if *r != DisconnectReason::MaxAge)),
        "{seen:?}"
    );
}

#[test]
fn several_clients_share_one_poll_and_plain_ws_works() {
    let ca = TestCa::new();
    let behaviour = |_| Behaviour {
        reply: binance_ack,
        data: depth_frame,
        ..Behaviour::default()
    };
    let tls_server = WsServer::start(Some(&ca), behaviour);
    let plain_server = WsServer::start(None, behaviour);
    let plain = BinanceWs::new(&plain_server.url(false), vec!["btcusdt@depth@100ms".into()]);
    let mut clients = [
        binance_client(&ca, &tls_server, quick_config(), 11),
        WsClient::new(plain, quick_config(), None, Arc::new(LiveClock), Token(12))
            .expect("plain client"),
    ];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        s.iter().all(|c| data_count(c) >= 20)
    });
    for c in &seen {
        assert_eq!(&c[..2], &[Seen::Connected, Seen::Subscribed]);
        assert!(!c.iter().any(|e| matches!(e, Seen::Disconnected(_))));
    }
}

#[test]
fn untrusted_certificate_fails_the_handshake() {
    let ca = TestCa::new();
    let other = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: binance_ack,
        ..Behaviour::default()
    });
    let mut clients = [binance_client(&other, &server, quick_config(), 13)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        count(&s[0], |e| matches!(e, Seen::Disconnected(_))) >= 2
    });
    assert_eq!(
        seen[0][0],
        Seen::Disconnected(DisconnectReason::Handshake),
        "{:?}",
        seen[0]
    );
    assert!(!seen[0].contains(&Seen::Connected));
    assert_eq!(server.log().connections, 0);
}

#[test]
fn wss_without_tls_config_is_refused() {
    let proto = BinanceWs::new("wss://127.0.0.1:1", vec![]);
    let err = WsClient::new(proto, quick_config(), None, Arc::new(LiveClock), Token(0))
        .err()
        .expect("error");
    assert!(err.to_string().contains("binance"), "{err}");
}

#[test]
fn a_healthy_period_resets_the_backoff() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |i| Behaviour {
        drop_after_handshake: i < 2,
        reply: binance_ack,
        data: if i == 2 {
            |n| if n < 40 { depth_frame(n) } else { None }
        } else {
            depth_frame
        },
        drop_when_data_ends: i == 2,
        ..Behaviour::default()
    });
    let cfg = WsConfig {
        backoff: BackoffConfig {
            healthy_reset_ms: 30,
            ..quick_config().backoff
        },
        ..quick_config()
    };
    let mut clients = [binance_client(&ca, &server, cfg, 14)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        count(&s[0], |e| *e == Seen::Subscribed) >= 2
    });
    let attempts: Vec<u32> = seen[0]
        .iter()
        .filter_map(|e| match e {
            Seen::Reconnecting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(
        attempts,
        [1, 2, 1],
        "two quick failures, then a healthy connection: {:?}",
        seen[0]
    );
    assert!(data_count(&seen[0]) >= 40);
}

#[test]
fn large_messages_spanning_many_records_arrive_intact() {
    let ca = TestCa::new();
    // A 600 KB snapshot-sized message (many TLS records, many partial reads), then small frames.
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: binance_ack,
        data: |i| match i {
            0 => Some(format!(
                r#"{{"stream":"btcusdt@depth","data":{{"bids":[{}]}}}}"#,
                vec![r#"["61828.01000000","0.12755000"]"#; 20_000].join(",")
            )),
            _ => depth_frame(i),
        },
        ..Behaviour::default()
    });
    let mut clients = [binance_client(&ca, &server, quick_config(), 15)];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| data_count(&s[0]) >= 5);
    let frames: Vec<&String> = seen[0]
        .iter()
        .filter_map(|e| match e {
            Seen::Data(d) => Some(d),
            _ => None,
        })
        .collect();
    assert!(frames[0].len() > 600_000);
    assert_eq!(frames[0].matches("61828.01000000").count(), 20_000);
    assert!(frames[0].ends_with("]}}"));
    assert!(
        frames[1].contains(r#""u":1}"#),
        "the frame after the big one is intact"
    );
}

#[test]
fn data_pushed_before_the_ack_is_held_and_delivered_after_subscribed() {
    let ca = TestCa::new();
    // The server pushes the snapshot ahead of the acks (OKX may do so with several args).
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: |t| {
            if !t.contains(r#""op":"subscribe""#) {
                return Vec::new();
            }
            vec![
                r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[]}"#.into(),
                r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"1"}"#.into(),
                r#"{"arg":{"channel":"books","instId":"ETH-USDT"},"action":"snapshot","data":[]}"#.into(),
                r#"{"event":"subscribe","arg":{"channel":"books","instId":"ETH-USDT"},"connId":"1"}"#.into(),
                r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[]}"#.into(),
            ]
        },
        ..Behaviour::default()
    });
    let tls = client_config(&TlsRoots::Der(ca.ders())).expect("tls");
    let proto = OkxWs::new(
        &format!("{}/ws/v5/public", server.url(true)),
        "books",
        vec!["BTC-USDT".into(), "ETH-USDT".into()],
    );
    let mut clients = [WsClient::new(
        proto,
        quick_config(),
        Some(tls),
        Arc::new(LiveClock),
        Token(16),
    )
    .expect("client")];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| data_count(&s[0]) >= 3);
    let s = &seen[0];
    assert_eq!(&s[..2], &[Seen::Connected, Seen::Subscribed]);
    let order: Vec<bool> = s[2..5]
        .iter()
        .map(|e| matches!(e, Seen::Data(d) if d.contains("snapshot")))
        .collect();
    assert_eq!(
        order,
        [true, true, false],
        "held snapshots first, in order, then live data: {s:?}"
    );
    assert_eq!(clients[0].stats().dropped_pre_ack, 0);
}

#[test]
fn kraken_heartbeats_keep_the_link_but_not_the_book_fresh() {
    let ca = TestCa::new();
    // Acks per symbol, then only heartbeats: the link is alive, the book data is not.
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: |t| {
            if !t.contains(r#""method":"subscribe""#) {
                return Vec::new();
            }
            ["BTC/USD", "ETH/USD"]
                .iter()
                .map(|s| format!(r#"{{"method":"subscribe","req_id":1,"result":{{"channel":"book","depth":10,"snapshot":true,"symbol":"{s}"}},"success":true}}"#))
                .collect()
        },
        data: |_| Some(r#"{"channel":"heartbeat"}"#.to_string()),
        ..Behaviour::default()
    });
    let tls = client_config(&TlsRoots::Der(ca.ders())).expect("tls");
    let proto = KrakenWs::new(
        &format!("{}/v2", server.url(true)),
        vec!["BTC/USD".into(), "ETH/USD".into()],
        10,
    );
    let cfg = WsConfig {
        stale_after_ms: Some(60),
        ..quick_config()
    };
    let mut clients =
        [WsClient::new(proto, cfg, Some(tls), Arc::new(LiveClock), Token(17)).expect("client")];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| {
        s[0].contains(&Seen::Stale)
    });
    let s = &seen[0];
    assert_eq!(
        &s[..2],
        &[Seen::Connected, Seen::Subscribed],
        "two symbols, two acks: {s:?}"
    );
    assert_eq!(data_count(s), 0, "heartbeats are not data");
    assert!(server.log().data_sent > 0);
}

#[test]
fn gate_app_keepalive_round_trip() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: |t| {
            if t.contains(r#""channel":"spot.ping""#) {
                vec![
                    r#"{"time":1,"time_ms":1,"channel":"spot.pong","event":"","result":null}"#
                        .into(),
                ]
            } else if t.contains(r#""event":"subscribe""#) {
                vec![r#"{"time":1,"time_ms":1,"channel":"spot.order_book_update","event":"subscribe","result":{"status":"success"}}"#.into()]
            } else {
                Vec::new()
            }
        },
        ..Behaviour::default()
    });
    let tls = client_config(&TlsRoots::Der(ca.ders())).expect("tls");
    let proto = GateWs::new(
        &format!("{}/ws/v4/", server.url(true)),
        vec!["BTC_USDT".into()],
        "100ms",
    );
    let cfg = WsConfig {
        keepalive: KeepAliveConfig {
            idle_ms: Some(20),
            reply_timeout_ms: 2_000,
        },
        ..quick_config()
    };
    let mut clients =
        [WsClient::new(proto, cfg, Some(tls), Arc::new(LiveClock), Token(18)).expect("client")];
    let mut poll = Poll::new().expect("poll");
    let pings = |server: &WsServer| {
        server
            .log()
            .texts
            .iter()
            .filter(|(_, t)| t.contains("spot.ping"))
            .count()
    };
    let seen = run_until(&mut poll, &mut clients, LIMIT, |_| pings(&server) >= 3);
    assert_eq!(&seen[0][..2], &[Seen::Connected, Seen::Subscribed]);
    assert!(
        !seen[0].iter().any(|e| matches!(e, Seen::Disconnected(_))),
        "{:?}",
        seen[0]
    );
}

#[test]
fn host_names_resolve_off_thread_and_connect() {
    let ca = TestCa::new();
    let server = WsServer::start(Some(&ca), |_| Behaviour {
        reply: binance_ack,
        data: depth_frame,
        ..Behaviour::default()
    });
    // `localhost` (in the leaf certificate) goes through the background resolver; if it yields
    // an address the server does not listen on (::1), the next attempt rotates to the next one.
    let url = format!("wss://localhost:{}", server.addr.port());
    let tls = client_config(&TlsRoots::Der(ca.ders())).expect("tls");
    let proto = BinanceWs::new(&url, vec!["btcusdt@depth@100ms".into()]);
    let mut clients = [WsClient::new(
        proto,
        quick_config(),
        Some(tls),
        Arc::new(LiveClock),
        Token(19),
    )
    .expect("client")];
    let mut poll = Poll::new().expect("poll");
    let seen = run_until(&mut poll, &mut clients, LIMIT, |s| data_count(&s[0]) >= 3);
    assert!(seen[0].contains(&Seen::Subscribed));
    assert!(
        !seen[0].contains(&Seen::Disconnected(DisconnectReason::Resolve)),
        "{:?}",
        seen[0]
    );
}
