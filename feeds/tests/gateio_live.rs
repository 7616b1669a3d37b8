//! The live Gate.io feed (`GateioFeed`) over loopback TLS: a WebSocket server that acks the
//! `spot.order_book_update` subscription, answers `spot.ping`, pings at the WebSocket level, and
//! plays the real `OMG_USDT` updates of the capture (`2021-04-22_gateio/`); an HTTPS server that
//! serves the REST snapshot. The book syncs and ends where the decoder fed the capture (what
//! `lyra replay --venue gateio` runs) ends; with one update dropped, the gap invalidates the book
//! and a new snapshot (the capture's book as of the dropped update) resyncs it.

mod support;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
    thread,
    time::Duration,
};

use lyra_feeds::{
    gateio::{GateMd, GateSyncConfig},
    instrument::InstrumentTable,
    live::{GateioFeed, GateioFeedConfig},
    ws::TlsRoots,
};
use lyra_shm::{
    clock::{mono_now_ns, LiveClock},
    msg::{InstrumentIdx, InvalidReason, MdEvent, MdKind, Side, VenueId},
};
use rustls::{ServerConnection, StreamOwned};
use support::{Behaviour, TestCa, WsServer};

const V: VenueId = VenueId(4);
const PAIR: &str = "OMG_USDT";
/// The scale `lyra replay --venue gateio` and the feed's default use.
const SCALE: u8 = 10;
/// Index (among the pair's updates) of the update the gap test drops.
const DROP: usize = 20;
/// Generous failure guard only: the tests finish in well under a second when healthy.
const LIMIT: Duration = Duration::from_secs(30);

/// `$LYRA_DATA_DIR`, else `../shared/data` beside the workspace; `None` (printed) if absent.
fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LYRA_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if dir.join("SOURCES.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: recorded data not found at {} (set LYRA_DATA_DIR)",
            dir.display()
        );
        None
    }
}

/// `PAIR`'s records of the capture in receive order: `(is_snapshot, body)`.
fn capture(dir: &Path) -> Vec<(bool, String)> {
    let d = dir.join("cryptofeed/2021-04-22_gateio");
    let mut all = Vec::new();
    for name in ["GATEIO.ws.1.0", "GATEIO.http.0.0"] {
        let text = std::fs::read_to_string(d.join(name)).expect("read capture");
        for l in text.lines() {
            let (url, rest) = match l.split_once(" -> ") {
                Some((u, r)) => (Some(u), r),
                None => (None, l),
            };
            let Some((ts, body)) = rest.split_once(": ") else {
                continue;
            };
            let Ok(t) = ts.parse::<f64>() else { continue };
            let ours = match url {
                Some(u) if u.starts_with("https://") => {
                    u.contains(&format!("currency_pair={PAIR}&"))
                }
                _ => {
                    body.contains(r#""channel":"spot.order_book_update","event":"update""#)
                        && body.contains(&format!(r#""s":"{PAIR}""#))
                }
            };
            if ours {
                let snap = url.is_some_and(|u| u.starts_with("https://"));
                all.push((t, snap, body.to_owned()));
            }
        }
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all.into_iter().map(|(_, s, b)| (s, b)).collect()
}

/// A price level book folded from events: `(side, px) -> qty`.
type Book = BTreeMap<(u8, i64), i64>;

/// Folds `events` of `inst` into `book` (a snapshot or a break starts it over).
fn fold(book: &mut Book, events: &[MdEvent], inst: InstrumentIdx) {
    for e in events.iter().filter(|e| e.instrument == inst) {
        match e.kind {
            MdKind::SnapshotBegin | MdKind::BookInvalid => book.clear(),
            MdKind::Level => {
                let key = (e.side as u8, e.px.0);
                if e.qty.0 == 0 {
                    book.remove(&key);
                } else {
                    book.insert(key, e.qty.0);
                }
            }
            _ => {}
        }
    }
}

/// What the replay decoder makes of the capture: the book after the first `upto` updates (all
/// when `None`) and the last applied update id.
fn replay(records: &[(bool, String)], upto: Option<usize>) -> (Book, u64) {
    let mut table = InstrumentTable::new();
    let idx = table.lookup_or_add(V, PAIR, SCALE, SCALE).expect("pair");
    let res = table.resolved(idx).expect("resolved");
    let mut md = GateMd::new(V, GateSyncConfig::default());
    let mut out = Vec::new();
    let mut updates = 0;
    for (snap, body) in records {
        if !snap && upto.is_some_and(|n| updates >= n) {
            break;
        }
        let mut resolve = |s: &[u8]| table.resolve(V, s);
        md.on_frame(
            1,
            body.as_bytes(),
            &mut resolve,
            snap.then_some(res),
            &mut out,
        )
        .expect("capture decodes");
        updates += usize::from(!snap);
    }
    let sync = md.book(idx).expect("sync");
    assert!(sync.is_synced(), "the replay syncs {PAIR}");
    let mut book = Book::new();
    fold(&mut book, &out, idx);
    (book, sync.book_id())
}

/// `m * 10^-SCALE` as Gate prints it.
fn dec(m: i64) -> String {
    let p = 10i64.pow(u32::from(SCALE));
    format!("{}.{:010}", m / p, m % p)
}

/// A REST snapshot body holding `book` as of update `id`.
fn snapshot_body(book: &Book, id: u64) -> String {
    let side = |s: Side| {
        let lv: Vec<String> = book
            .iter()
            .filter(|((sd, _), _)| *sd == s as u8)
            .map(|((_, px), q)| format!(r#"["{}","{}"]"#, dec(*px), dec(*q)))
            .collect();
        lv.join(",")
    };
    format!(
        r#"{{"id":{id},"current":1619093540000,"update":1619093540000,"asks":[{}],"bids":[{}]}}"#,
        side(Side::Sell),
        side(Side::Buy)
    )
}

/// The pair's WS updates and REST snapshots, prepared once per test binary.
struct Script {
    updates: Vec<String>,
    /// The capture's snapshot.
    first: String,
    /// The capture's book as of the dropped update `DROP` (what the venue would serve after
    /// it), with that update's id: it bridges to the first update after the drop.
    after_gap: String,
}

static SCRIPT: OnceLock<Script> = OnceLock::new();

fn script(records: &[(bool, String)]) -> &'static Script {
    SCRIPT.get_or_init(|| {
        let updates: Vec<String> = records
            .iter()
            .filter(|(s, _)| !s)
            .map(|(_, b)| b.clone())
            .collect();
        let first = records
            .iter()
            .find(|(s, _)| *s)
            .map(|(_, b)| b.clone())
            .expect("capture snapshot");
        let (book, id) = replay(records, Some(DROP + 1));
        Script {
            updates,
            first,
            after_gap: snapshot_body(&book, id),
        }
    })
}

/// Replies of the WebSocket server: the subscription ack, `spot.pong` for `spot.ping`.
fn reply(text: &str) -> Vec<String> {
    if text.contains(r#""event":"subscribe""#) && text.contains(PAIR) {
        vec![
            r#"{"time":1619093532,"time_ms":1619093532231,"channel":"spot.order_book_update","event":"subscribe","result":{"status":"success"}}"#
                .to_owned(),
        ]
    } else if text.contains(r#""channel":"spot.ping""#) {
        vec![r#"{"time":1619093532,"time_ms":1619093532231,"channel":"spot.pong","event":"","result":null}"#.to_owned()]
    } else {
        Vec::new()
    }
}

/// A loopback HTTPS/1.1 server answering every request with the capture's snapshot first and
/// the after-gap snapshot from then on; it logs the request targets.
struct SnapshotServer {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl SnapshotServer {
    fn start(ca: &TestCa, script: &'static Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let targets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (cfg, targets2, stop2) = (ca.server.clone(), targets.clone(), stop.clone());
        thread::spawn(move || {
            for sock in listener.incoming() {
                if stop2.load(Ordering::Acquire) {
                    break;
                }
                let Ok(sock) = sock else { continue };
                let Ok(conn) = ServerConnection::new(cfg.clone()) else {
                    continue;
                };
                let targets = targets2.clone();
                thread::spawn(move || {
                    let _ = serve(StreamOwned::new(conn, sock), script, &targets);
                });
            }
        });
        Self {
            addr,
            targets,
            stop,
        }
    }

    fn targets(&self) -> Vec<String> {
        self.targets.lock().expect("targets").clone()
    }
}

impl Drop for SnapshotServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn serve(
    stream: StreamOwned<ServerConnection, TcpStream>,
    script: &Script,
    targets: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
        }
        let target = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let n = {
            let mut t = targets.lock().expect("targets");
            t.push(target);
            t.len()
        };
        let body = if n == 1 {
            &script.first
        } else {
            &script.after_gap
        };
        let out = reader.get_mut();
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        out.flush()?;
    }
}

/// A feed on the two loopback servers, with a fast `spot.ping` so the test sees one.
fn feed(ca: &TestCa, ws: &WsServer, http: &SnapshotServer) -> GateioFeed<Vec<MdEvent>> {
    let mut cfg = GateioFeedConfig::new(
        V,
        &format!("{}/ws/v4/", ws.url(true)),
        &format!("https://{}", http.addr),
        TlsRoots::Der(ca.ders()),
        vec![PAIR.to_owned()],
    );
    cfg.ws.keepalive.idle_ms = Some(50);
    cfg.snapshot_retry_ms = 20;
    GateioFeed::new(
        &cfg,
        InstrumentTable::new(),
        Vec::new(),
        Arc::new(LiveClock),
    )
    .expect("feed")
}

/// Polls `feed` (folding its events into `book`) until `done` holds; panics after `LIMIT`.
fn run(
    feed: &mut GateioFeed<Vec<MdEvent>>,
    book: &mut Book,
    all: &mut Vec<MdEvent>,
    mut done: impl FnMut(&GateioFeed<Vec<MdEvent>>) -> bool,
) {
    let inst = feed.instrument(PAIR).expect("instrument");
    let started = mono_now_ns();
    while !done(feed) {
        assert!(
            mono_now_ns() - started < LIMIT.as_nanos() as u64,
            "not done within {LIMIT:?}: stats {:?}, sync {:?}",
            feed.stats(),
            feed.sync(inst).map(|s| s.counters())
        );
        feed.poll_wait(Duration::from_millis(20));
        let events = std::mem::take(feed.sink_mut());
        fold(book, &events, inst);
        all.extend(events);
    }
}

#[test]
fn gateio_feed_syncs_over_tls_and_matches_the_replay() {
    let Some(dir) = data_dir() else { return };
    let records = capture(&dir);
    let s = script(&records);
    let (want, want_id) = replay(&records, None);
    let ca = TestCa::new();
    let ws = WsServer::start(Some(&ca), |_| Behaviour {
        reply,
        data: |i| SCRIPT.get()?.updates.get(i).cloned(),
        ..Behaviour::default()
    });
    let http = SnapshotServer::start(&ca, s);
    let mut feed = feed(&ca, &ws, &http);
    let inst = feed.instrument(PAIR).expect("instrument");
    feed.start();
    let (mut book, mut all) = (Book::new(), Vec::new());
    run(&mut feed, &mut book, &mut all, |f| {
        let log = ws.log();
        f.sync(inst).is_some_and(|s| s.book_id() == want_id)
            && log
                .texts
                .iter()
                .any(|(_, t)| t.contains(r#""channel":"spot.ping""#))
    });
    assert!(feed.is_synced(inst));
    assert_eq!(book, want, "the live book is the replayed book");
    assert_eq!(feed.stats().subscriptions, 1);
    assert_eq!(feed.stats().snapshots_received, 1);
    assert_eq!(feed.stats().malformed, 0);
    assert!(
        !all.iter().any(|e| e.kind == MdKind::BookInvalid),
        "no break on a clean stream"
    );
    let log = ws.log();
    assert!(
        log.texts.iter().any(|(_, t)| t.contains(&format!(
            r#""channel":"spot.order_book_update","event":"subscribe","payload":["{PAIR}","100ms"]"#
        ))),
        "subscribed: {:?}",
        log.texts
    );
    assert!(feed.ws_stats().keepalives_sent > 0, "spot.ping sent");
    assert_eq!(
        feed.ws_stats().disconnects,
        0,
        "spot.pong accepted as the reply"
    );
    assert_eq!(
        http.targets(),
        [format!(
            "/api/v4/spot/order_book?currency_pair={PAIR}&limit=100&with_id=true"
        )]
    );
}

#[test]
fn gateio_feed_resyncs_after_a_dropped_update() {
    let Some(dir) = data_dir() else { return };
    let records = capture(&dir);
    let s = script(&records);
    let (want, want_id) = replay(&records, None);
    let ca = TestCa::new();
    let ws = WsServer::start(Some(&ca), |_| Behaviour {
        reply,
        data: |i| {
            let i = if i >= DROP { i + 1 } else { i };
            SCRIPT.get()?.updates.get(i).cloned()
        },
        ping_every: Some(Duration::from_millis(20)),
        ..Behaviour::default()
    });
    let http = SnapshotServer::start(&ca, s);
    let mut feed = feed(&ca, &ws, &http);
    let inst = feed.instrument(PAIR).expect("instrument");
    feed.start();
    let (mut book, mut all) = (Book::new(), Vec::new());
    run(&mut feed, &mut book, &mut all, |f| {
        f.sync(inst)
            .is_some_and(|s| s.counters().gaps == 1 && s.book_id() == want_id)
            && f.ws_stats().pings_received > 0
            && !ws.log().pongs.is_empty()
    });
    let gaps: Vec<_> = all
        .iter()
        .filter(|e| e.kind == MdKind::BookInvalid)
        .collect();
    assert_eq!(gaps.len(), 1, "one break: {gaps:?}");
    assert_eq!(gaps[0].reason, InvalidReason::Gap);
    assert!(feed.is_synced(inst), "resynced");
    assert_eq!(feed.stats().snapshots_received, 2);
    assert_eq!(http.targets().len(), 2, "a second snapshot was fetched");
    assert_eq!(book, want, "the resynced book is the replayed book");
}
