//! Real `kill -9`: a child process (this test binary, re-run with an environment variable) runs
//! the OMS against the parent's loopback venue and is SIGKILLed at a random moment, over and
//! over on the same journal; each new child first reconciles what its killed predecessor left.
//! Finally the parent reconciles once more and checks: every intent terminal, at most one venue
//! order per client order id, every venue order known, positions equal to the venue's balances.

mod support;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use lyra_oms::{Mode, OmsConfig};
use lyra_shm::{
    clock::mono_now_ns,
    control::{ControlSegment, GrantMode},
    msg::{InstrumentIdx, Side, VenueId},
};
use rust_decimal::Decimal;
use support::*;

const RUN: &str = "k9";
const JOURNAL_RECORDS: u64 = 16_384;

fn cfg() -> OmsConfig {
    OmsConfig {
        run_id: RUN.into(),
        mode: Mode::Live,
        unknown_window_ms: 40,
        backoff_initial_ms: 3,
        // Queries back off to 100 ms: the wait for the request life (below) would otherwise
        // spend the venue's request-weight budget on queries that cannot prove anything yet.
        backoff_max_ms: 100,
        working_poll_ms: 60_000,
        // The request's life is derived (recvWindow 500 + skew 250): a request a killed child
        // wrote but the venue had not read yet must not be declared absent before it can no
        // longer execute. A short recvWindow keeps 25 rounds of that wait short.
        max_skew_ms: 250,
        ..OmsConfig::default()
    }
}

/// The child: reconcile, then trade until killed. Does nothing unless started by the parent.
#[test]
fn kill9_child() {
    let (Ok(url), Ok(ca), Ok(dir)) = (
        std::env::var("LYRA_K9_URL"),
        std::env::var("LYRA_K9_CA"),
        std::env::var("LYRA_K9_DIR"),
    ) else {
        return;
    };
    let dir = TempDirRef(PathBuf::from(dir));
    let seg = Arc::new(ControlSegment::open(dir.0.join("control")).expect("segment"));
    let mut rest = rest_to(&url, &PathBuf::from(ca));
    rest.warm().expect("warm");
    let clock: Arc<dyn lyra_shm::clock::Clock> = Arc::new(lyra_shm::clock::LiveClock);
    let mut oms = lyra_oms::Oms::open(
        cfg(),
        &dir.0.join("journal"),
        JOURNAL_RECORDS,
        rest,
        vec![spec()],
        seg.clone(),
        clock,
    )
    .expect("oms");
    let rep = oms.reconcile().expect("reconcile");
    assert!(
        rep.foreign.is_empty(),
        "own orders seen as foreign: {rep:?}"
    );
    oms.set_preflight(true);
    println!("ready");
    let mut risk = Risk::new(seg, true);
    let first = oms.next_intent_seq();
    let mut x = mono_now_ns() | 1;
    for seq in first..first + 40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let side = if x % 2 == 0 { Side::Buy } else { Side::Sell };
        let px = 5_900_000 + (x % 200_000) as i64;
        let a = risk
            .approve(intent(seq, side, px, 1_000 + (x % 4_000) as i64))
            .unwrap();
        // Refusals (a halt, a throttle) are outcomes too; the parent checks the end state.
        let _ = oms.submit(a);
        let _ = oms.poll();
    }
    // Idle, still resolving, until the parent kills us.
    loop {
        let _ = oms.poll();
        std::thread::sleep(Duration::from_millis(2));
    }
}

struct TempDirRef(PathBuf);

fn rest_to(url: &str, ca: &std::path::Path) -> lyra_oms::binance::BinanceRest {
    let cfg = lyra_oms::binance::BinanceConfig {
        rest_url: url.into(),
        recv_window_ms: 500,
        timeout: Duration::from_millis(1500),
    };
    lyra_oms::binance::BinanceRest::new(
        &cfg,
        lyra_oms::http::tls_config(Some(ca)).unwrap(),
        lyra_oms::sign::Credentials::new(venue::API_KEY, venue::SECRET.as_bytes()),
        Arc::new(lyra_shm::clock::LiveClock),
    )
    .unwrap()
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    if std::env::var("LYRA_K9_URL").is_ok() {
        return; // we are a child
    }
    let rounds: u64 = std::env::var("LYRA_K9_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let v = Venue::start();
    let dir = TempDir::new("kill9");
    let seg = segment(&dir);
    put_grant(&seg, GrantMode::Live);
    let faults = [
        None,
        Some(Fault::DropAfterAccept),
        Some(Fault::Http5xxPlaced),
        Some(Fault::Http5xxNotPlaced),
        Some(Fault::Timeout1007Placed),
        Some(Fault::Timeout1007NotPlaced),
        None,
        None,
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut kills = 0;
    for round in 0..rounds {
        {
            let mut st = v.state();
            st.fill_mode = [FillMode::All, FillMode::Half, FillMode::Rest][(round % 3) as usize];
            st.false_2013 = Duration::from_millis(if round % 4 == 0 { 15 } else { 0 });
            st.faults.clear();
            for _ in 0..40 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if let Some(f) = faults[(x % faults.len() as u64) as usize] {
                    st.faults.push_back(f);
                }
            }
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["kill9_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("LYRA_K9_URL", v.url())
            .env("LYRA_K9_CA", &v.ca_file)
            .env("LYRA_K9_DIR", &dir.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                panic!("round {round}: child exited before ready");
            }
            if line.contains("ready") {
                break;
            }
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let max_ms: u64 = std::env::var("LYRA_K9_MAX_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(150);
        std::thread::sleep(Duration::from_millis(x % max_ms));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        kills += 1;
    }
    // The last word: reconcile in this process, settle, cancel what rests.
    let mut oms = oms_with(&v, &dir, seg.clone(), cfg(), JOURNAL_RECORDS);
    let rep = oms.reconcile().unwrap();
    assert!(rep.unresolved.is_empty(), "{rep:?}");
    oms.settle(Duration::from_secs(5)).unwrap();
    oms.cancel_all().unwrap();
    let n = oms.orders().count();
    assert!(n > 0, "the children placed nothing");
    for o in oms.orders() {
        assert!(
            o.state.is_terminal(),
            "intent {} ended {:?}",
            o.intent.intent_seq,
            o.state
        );
    }
    let pos = oms.positions().get(VenueId(0), InstrumentIdx(0));
    let ours: Vec<_> = oms.orders().copied().collect();
    let st = v.state();
    for (id, k) in st.placed_per_clordid() {
        assert!(k <= 1, "{k} venue orders for {id}");
    }
    for vo in &st.orders {
        let o = ours
            .iter()
            .find(|o| o.clordid.as_str() == vo.clordid)
            .unwrap_or_else(|| panic!("venue order {} not in the journal", vo.clordid));
        assert_eq!(o.venue_order_id, vo.order_id);
        assert_eq!(Decimal::new(o.cum_qty.0, 5), vo.executed);
    }
    let btc = st.balances["BTC"] - Decimal::from(10);
    let usdt = st.balances["USDT"] - Decimal::from(1_000_000);
    assert_eq!(btc, Decimal::new(pos.base, 5));
    assert_eq!(usdt, Decimal::from_i128_with_scale(pos.quote, 7));
    eprintln!(
        "{kills} SIGKILLs, {n} intents, {} venue orders",
        st.orders.len()
    );
}
