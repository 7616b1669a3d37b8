//! `ring`: the SPSC ring against its peers, between two pinned threads (DESIGN §10).
//!
//! Latency rows (`suite: "ring"`): one-way latency, taken as each ping-pong round trip / 2 over two
//! rings (one each way) with both threads busy-spinning, one histogram sample per round trip:
//! - `lyra`: our heap ring (`shm::ring::channel`);
//! - `rtrb`: rtrb 0.4 `RingBuffer`;
//! - `crossbeam-arrayqueue`: crossbeam's bounded MPMC `ArrayQueue`;
//! - `atomic-pingpong`: two cache-padded `AtomicU64`s bounced between the threads, the physical
//!   floor of any queue (one cache-line transfer each way);
//! - `harness-clock`: back-to-back reads of the clock the harness uses (not halved), the
//!   measurement's own cost, included in every other row.
//!
//! Throughput rows (`suite: "ring-throughput"`, same impl names, `per_s` = items/s, percentiles
//! 0): the producer pushes N `u64`s as fast as it can while the consumer pops and checks them;
//! `lyra-batch` moves them with `push_slice`/`pop_into` in chunks of 64.
//!
//! Implementations are measured in interleaved rounds (each round runs every implementation once,
//! in an order rotated every round; latency histograms are merged across rounds, throughput reports
//! the median round), so a burst of load from another process on this shared box, or a position
//! effect, does not land on one implementation only. `n` is samples (latency, all rounds) or items
//! per round (throughput).
//!
//! Latency loops spin without `pause`, as a hot stage waits, so the row measures the queue and not
//! the pause instruction. Throughput loops `pause` when blocked, so the blocked side does not keep
//! stealing the cache lines the running side is writing.

use std::{
    hint::{black_box, spin_loop},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Barrier,
    },
    thread,
};

use anyhow::{ensure, Context};
use core_affinity::CoreId;
use crossbeam::{queue::ArrayQueue, utils::CachePadded};
use hdrhistogram::Histogram;
use lyra_shm::{clock::mono_now_ns, ring};

use crate::{
    pin::{pin, two_cores},
    report::{new_hist, Report},
    Opts,
};

/// Ring capacity for the latency runs (only one item is ever in flight).
const LATENCY_CAP: usize = 1024;
/// Ring capacity for the throughput runs.
const THROUGHPUT_CAP: usize = 4096;
/// Items per `push_slice`/`pop_into` call in `lyra-batch`.
const BATCH: usize = 64;
/// Unrecorded round trips before each latency run (caches, branch predictors, frequency).
const WARMUP_TRIPS: u64 = 20_000;

/// The suite's entry: latency rows, then throughput rows.
pub fn run(opts: &Opts) -> anyhow::Result<Vec<Report>> {
    let cores = two_cores();
    let rounds = opts.pick(8, 4) as usize;
    let trips = opts.pick(250_000, 25_000);
    let items = opts.pick(10_000_000, 2_000_000);

    let latency_impls = ["lyra", "rtrb", "crossbeam-arrayqueue", "atomic-pingpong"];
    let mut hists: Vec<Histogram<u64>> = latency_impls.iter().map(|_| new_hist()).collect();
    for round in 0..rounds {
        for which in rotation(round, latency_impls.len()) {
            let h = latency_round(latency_impls[which], trips, cores)?;
            hists[which].add(&h).context("merging latency histograms")?;
        }
    }
    let mut reports: Vec<Report> = latency_impls
        .iter()
        .zip(&hists)
        .map(|(name, h)| Report::from_hist("ring", name, h, 0.0))
        .collect();
    reports.push(Report::from_hist(
        "ring",
        "harness-clock",
        &clock_overhead(trips),
        0.0,
    ));

    let throughput_impls = ["lyra", "lyra-batch", "rtrb", "crossbeam-arrayqueue"];
    let mut per_s: Vec<Vec<f64>> = throughput_impls.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for which in rotation(round, throughput_impls.len()) {
            per_s[which].push(throughput_round(throughput_impls[which], items, cores)?);
        }
    }
    for (name, mut runs) in throughput_impls.iter().zip(per_s) {
        runs.sort_by(f64::total_cmp);
        let median = runs[runs.len() / 2];
        reports.push(Report::throughput("ring-throughput", name, items, median));
    }
    Ok(reports)
}

/// The order implementations run in during `round`: rotated each round, so every one runs in
/// every position (first after a pause, right after another, ...) equally often.
fn rotation(round: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (k + round) % n)
}

/// The two cores as separate options for the two threads.
type Cores = Option<(CoreId, CoreId)>;

fn latency_round(name: &str, trips: u64, cores: Cores) -> anyhow::Result<Histogram<u64>> {
    match name {
        "lyra" => {
            let (a_tx, a_rx) = ring::channel::<u64>(LATENCY_CAP);
            let (b_tx, b_rx) = ring::channel::<u64>(LATENCY_CAP);
            pingpong(
                trips,
                cores,
                (a_tx, b_rx),
                (a_rx, b_tx),
                |tx: &mut ring::Producer<u64>, v| tx.push(v).is_ok(),
                |rx: &mut ring::Consumer<u64>| rx.pop(),
            )
        }
        "rtrb" => {
            let (a_tx, a_rx) = rtrb::RingBuffer::<u64>::new(LATENCY_CAP);
            let (b_tx, b_rx) = rtrb::RingBuffer::<u64>::new(LATENCY_CAP);
            pingpong(
                trips,
                cores,
                (a_tx, b_rx),
                (a_rx, b_tx),
                |tx: &mut rtrb::Producer<u64>, v| tx.push(v).is_ok(),
                |rx: &mut rtrb::Consumer<u64>| rx.pop().ok(),
            )
        }
        "crossbeam-arrayqueue" => {
            let a = Arc::new(ArrayQueue::<u64>::new(LATENCY_CAP));
            let b = Arc::new(ArrayQueue::<u64>::new(LATENCY_CAP));
            pingpong(
                trips,
                cores,
                (Arc::clone(&a), Arc::clone(&b)),
                (a, b),
                |q: &mut Arc<ArrayQueue<u64>>, v| q.push(v).is_ok(),
                |q: &mut Arc<ArrayQueue<u64>>| q.pop(),
            )
        }
        "atomic-pingpong" => {
            let (a_tx, a_rx) = WordEnd::pair();
            let (b_tx, b_rx) = WordEnd::pair();
            pingpong(
                trips,
                cores,
                (a_tx, b_rx),
                (a_rx, b_tx),
                |w: &mut WordEnd, v| w.send(v),
                |w: &mut WordEnd| w.recv(),
            )
        }
        other => anyhow::bail!("no latency implementation named {other}"),
    }
}

/// The floor: one cache-padded word per direction. The sender stores `v + 1` (never the same
/// value twice in a run); the receiver waits for the word to change. One line transfer each way,
/// no other traffic.
#[derive(Default)]
struct Word(CachePadded<AtomicU64>);

/// One thread's end of a [`Word`]: the last value it saw, so it can tell a new one.
struct WordEnd {
    word: Arc<Word>,
    seen: u64,
}

impl WordEnd {
    fn pair() -> (WordEnd, WordEnd) {
        let word = Arc::new(Word::default());
        (
            WordEnd {
                word: Arc::clone(&word),
                seen: 0,
            },
            WordEnd { word, seen: 0 },
        )
    }

    #[inline]
    fn send(&mut self, v: u64) -> bool {
        self.word.0.store(v + 1, Ordering::Release);
        true
    }

    #[inline]
    fn recv(&mut self) -> Option<u64> {
        let now = self.word.0.load(Ordering::Acquire);
        if now == self.seen {
            return None;
        }
        self.seen = now;
        Some(now - 1)
    }
}

/// Ping-pong between a timing thread (sends on `a`, waits on `b`) and an echo thread.
/// Each thread gets its ends as `(sender, receiver)`.
fn pingpong<S, R, FS, FR>(
    trips: u64,
    cores: Cores,
    timer_ends: (S, R),
    echo_ends: (R, S),
    send: FS,
    recv: FR,
) -> anyhow::Result<Histogram<u64>>
where
    S: Send + 'static,
    R: Send + 'static,
    FS: Fn(&mut S, u64) -> bool + Copy + Send + 'static,
    FR: Fn(&mut R) -> Option<u64> + Copy + Send + 'static,
{
    let total = WARMUP_TRIPS + trips;
    let (c0, c1) = (cores.map(|c| c.0), cores.map(|c| c.1));
    let echo = thread::Builder::new()
        .name("ring-echo".into())
        .spawn(move || {
            assert!(
                pin(c1) || c1.is_none(),
                "could not pin the echo thread to {c1:?}"
            );
            let (mut rx, mut tx) = echo_ends;
            echo_loop(&mut rx, &mut tx, total, send, recv);
        })?;
    let timer = thread::Builder::new()
        .name("ring-timer".into())
        .spawn(move || {
            assert!(
                pin(c0) || c0.is_none(),
                "could not pin the timer thread to {c0:?}"
            );
            let (mut tx, mut rx) = timer_ends;
            timer_loop(&mut tx, &mut rx, total, send, recv)
        })?;
    let hist = timer
        .join()
        .map_err(|_| anyhow::anyhow!("ring timer thread panicked"))?;
    echo.join()
        .map_err(|_| anyhow::anyhow!("ring echo thread panicked"))?;
    Ok(hist)
}

/// The echo side: waits for each item on `rx` and sends it straight back on `tx`.
#[inline(never)]
fn echo_loop<S, R>(
    rx: &mut R,
    tx: &mut S,
    total: u64,
    send: impl Fn(&mut S, u64) -> bool,
    recv: impl Fn(&mut R) -> Option<u64>,
) {
    for _ in 0..total {
        let v = loop {
            if let Some(v) = recv(rx) {
                break v;
            }
        };
        while !send(tx, v) {}
    }
}

/// The timing side: one clock read before the send and one after the echo arrives, per trip.
#[inline(never)]
fn timer_loop<S, R>(
    tx: &mut S,
    rx: &mut R,
    total: u64,
    send: impl Fn(&mut S, u64) -> bool,
    recv: impl Fn(&mut R) -> Option<u64>,
) -> Histogram<u64> {
    let mut hist = new_hist();
    for i in 0..total {
        let t0 = mono_now_ns();
        while !send(tx, i) {}
        let v = loop {
            if let Some(v) = recv(rx) {
                break v;
            }
        };
        let t1 = mono_now_ns();
        assert_eq!(v, i, "echo out of order");
        if i >= WARMUP_TRIPS {
            hist.saturating_record(((t1 - t0) / 2).max(1));
        }
    }
    hist
}

/// What one clock read costs, read back to back.
fn clock_overhead(samples: u64) -> Histogram<u64> {
    let mut hist = new_hist();
    for _ in 0..samples {
        let t0 = mono_now_ns();
        let t1 = mono_now_ns();
        hist.saturating_record((t1 - t0).max(1));
    }
    hist
}

fn throughput_round(name: &str, items: u64, cores: Cores) -> anyhow::Result<f64> {
    match name {
        "lyra" => {
            let (tx, rx) = ring::channel::<u64>(THROUGHPUT_CAP);
            stream(
                items,
                cores,
                tx,
                rx,
                |tx: &mut ring::Producer<u64>, n| {
                    for i in 0..n {
                        while tx.push(i).is_err() {
                            spin_loop();
                        }
                    }
                },
                |rx: &mut ring::Consumer<u64>, n| {
                    let mut expected = 0;
                    while expected < n {
                        if let Some(v) = rx.pop() {
                            assert_eq!(v, expected, "lyra: item out of order");
                            expected += 1;
                        } else {
                            spin_loop();
                        }
                    }
                },
            )
        }
        "lyra-batch" => {
            let (tx, rx) = ring::channel::<u64>(THROUGHPUT_CAP);
            stream(
                items,
                cores,
                tx,
                rx,
                |tx: &mut ring::Producer<u64>, n| {
                    let mut buf = [0u64; BATCH];
                    let mut next = 0;
                    while next < n {
                        let len = (n - next).min(BATCH as u64) as usize;
                        for (k, b) in buf[..len].iter_mut().enumerate() {
                            *b = next + k as u64;
                        }
                        let mut sent = 0;
                        while sent < len {
                            match tx.push_slice(&buf[sent..len]) {
                                0 => spin_loop(),
                                n => sent += n,
                            }
                        }
                        next += len as u64;
                    }
                },
                |rx: &mut ring::Consumer<u64>, n| {
                    let mut buf = [0u64; BATCH];
                    let mut expected = 0;
                    while expected < n {
                        let got = rx.pop_into(&mut buf);
                        if got == 0 {
                            spin_loop();
                        }
                        for v in &buf[..got] {
                            assert_eq!(*v, expected, "lyra-batch: item out of order");
                            expected += 1;
                        }
                    }
                },
            )
        }
        "rtrb" => {
            let (tx, rx) = rtrb::RingBuffer::<u64>::new(THROUGHPUT_CAP);
            stream(
                items,
                cores,
                tx,
                rx,
                |tx: &mut rtrb::Producer<u64>, n| {
                    for i in 0..n {
                        while tx.push(i).is_err() {
                            spin_loop();
                        }
                    }
                },
                |rx: &mut rtrb::Consumer<u64>, n| {
                    let mut expected = 0;
                    while expected < n {
                        if let Ok(v) = rx.pop() {
                            assert_eq!(v, expected, "rtrb: item out of order");
                            expected += 1;
                        } else {
                            spin_loop();
                        }
                    }
                },
            )
        }
        "crossbeam-arrayqueue" => {
            let q = Arc::new(ArrayQueue::<u64>::new(THROUGHPUT_CAP));
            stream(
                items,
                cores,
                Arc::clone(&q),
                q,
                |q: &mut Arc<ArrayQueue<u64>>, n| {
                    for i in 0..n {
                        while q.push(i).is_err() {
                            spin_loop();
                        }
                    }
                },
                |q: &mut Arc<ArrayQueue<u64>>, n| {
                    let mut expected = 0;
                    while expected < n {
                        if let Some(v) = q.pop() {
                            assert_eq!(v, expected, "arrayqueue: item out of order");
                            expected += 1;
                        } else {
                            spin_loop();
                        }
                    }
                },
            )
        }
        other => anyhow::bail!("no throughput implementation named {other}"),
    }
}

/// Runs `produce` and `consume` on two pinned threads from a common start; returns items/s as
/// seen by the consumer (start barrier to last item).
fn stream<P, C, FP, FC>(
    items: u64,
    cores: Cores,
    tx: P,
    rx: C,
    produce: FP,
    consume: FC,
) -> anyhow::Result<f64>
where
    P: Send + 'static,
    C: Send + 'static,
    FP: FnOnce(&mut P, u64) + Send + 'static,
    FC: FnOnce(&mut C, u64) + Send + 'static,
{
    let start = Arc::new(Barrier::new(2));
    let (c0, c1) = (cores.map(|c| c.0), cores.map(|c| c.1));
    let go = Arc::clone(&start);
    let producer = thread::Builder::new()
        .name("ring-producer".into())
        .spawn(move || {
            assert!(
                pin(c0) || c0.is_none(),
                "could not pin the producer to {c0:?}"
            );
            let mut tx = tx;
            go.wait();
            produce(&mut tx, items);
            black_box(&tx);
        })?;
    let consumer = thread::Builder::new()
        .name("ring-consumer".into())
        .spawn(move || {
            assert!(
                pin(c1) || c1.is_none(),
                "could not pin the consumer to {c1:?}"
            );
            let mut rx = rx;
            start.wait();
            let t0 = mono_now_ns();
            consume(&mut rx, items);
            mono_now_ns() - t0
        })?;
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("ring producer thread panicked"))?;
    let ns = consumer
        .join()
        .map_err(|_| anyhow::anyhow!("ring consumer thread panicked"))?;
    ensure!(ns > 0, "throughput run took no measurable time");
    Ok(items as f64 * 1e9 / ns as f64)
}
