//! The REST snapshot fetcher against a loopback HTTPS server: bodies, keep-alive, 5xx, timeouts,
//! chunked transfer, body limits, and errors that never echo a query string.

mod support;

use std::time::Duration;

use lyra_feeds::{
    rest::{RestClient, RestConfig, RestError, RestFetcher},
    ws::TlsRoots,
};
use support::{HttpServer, TestCa, DEPTH_BODY};

fn config(ca: &TestCa) -> RestConfig {
    RestConfig {
        timeout_ms: 300,
        connect_timeout_ms: 1_000,
        max_body_bytes: 16 << 10,
        ..RestConfig::new("binance", TlsRoots::Der(ca.ders()))
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn fetches_bodies_over_one_kept_alive_connection() {
    let ca = TestCa::new();
    let server = HttpServer::start(&ca);
    let fetcher = RestFetcher::spawn(&config(&ca)).expect("fetcher");
    for id in 0..3 {
        fetcher
            .submit(
                id,
                format!("{}/api/v3/depth?symbol=BTCUSDT&limit=5000", server.base()),
            )
            .expect("submit");
    }
    for id in 0..3 {
        let r = fetcher.recv_timeout(WAIT).expect("response");
        assert_eq!(r.id, id, "answers come back in request order");
        assert_eq!(r.result.expect("body"), DEPTH_BODY.as_bytes());
    }
    assert_eq!(
        server.accepts.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "keep-alive reuses the connection"
    );
}

#[test]
fn reads_chunked_bodies() {
    let ca = TestCa::new();
    let server = HttpServer::start(&ca);
    let client = RestClient::new(&config(&ca)).expect("client");
    let body = client
        .get(&format!("{}/chunked", server.base()))
        .expect("body");
    assert_eq!(body, br#"{"lastUpdateId":7,"bids":[],"asks":[]}"#);
}

#[test]
fn server_errors_name_venue_path_and_status_but_not_the_query() {
    let ca = TestCa::new();
    let server = HttpServer::start(&ca);
    let fetcher = RestFetcher::spawn(&config(&ca)).expect("fetcher");
    fetcher
        .submit(
            9,
            format!("{}/fail?symbol=BTCUSDT&signature=deadbeef", server.base()),
        )
        .expect("submit");
    let r = fetcher.recv_timeout(WAIT).expect("response");
    let err = r.result.expect_err("503 is an error");
    match &err {
        RestError::Status {
            venue,
            path,
            status,
            detail,
        } => {
            assert_eq!((*venue, path.as_str(), *status), ("binance", "/fail", 503));
            assert!(detail.contains("-1008"), "venue error code kept: {detail}");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert!(!err.to_string().contains("deadbeef"), "{err}");
    let missing = RestClient::new(&config(&ca))
        .expect("client")
        .get(&format!("{}/nope", server.base()));
    assert!(
        matches!(missing, Err(RestError::Status { status: 404, .. })),
        "{missing:?}"
    );
}

#[test]
fn slow_answers_time_out() {
    let ca = TestCa::new();
    let server = HttpServer::start(&ca);
    let client = RestClient::new(&config(&ca)).expect("client");
    let err = client
        .get(&format!("{}/slow?signature=deadbeef", server.base()))
        .expect_err("timeout");
    assert!(
        matches!(&err, RestError::Timeout { path, .. } if path == "/slow"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("deadbeef"));
}

#[test]
fn oversized_bodies_and_bad_peers_are_errors() {
    let ca = TestCa::new();
    let server = HttpServer::start(&ca);
    let client = RestClient::new(&config(&ca)).expect("client");
    let err = client
        .get(&format!("{}/big", server.base()))
        .expect_err("too large");
    assert!(
        matches!(err, RestError::TooLarge { limit: 16384, .. }),
        "{err:?}"
    );

    // A client that trusts another CA refuses the server.
    let other = TestCa::new();
    let stranger = RestClient::new(&config(&other)).expect("client");
    let err = stranger
        .get(&format!(
            "{}/api/v3/depth?signature=deadbeef",
            server.base()
        ))
        .expect_err("untrusted");
    assert!(
        matches!(&err, RestError::Transport { path, .. } if path == "/api/v3/depth"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("deadbeef"), "{err}");
}

#[test]
fn unreadable_ca_file_is_a_tls_error() {
    let cfg = RestConfig::new("okx", TlsRoots::PemFile("/nonexistent/ca.pem".into()));
    let err = RestFetcher::spawn(&cfg).err().expect("error");
    assert!(
        matches!(&err, RestError::Tls { venue: "okx", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
