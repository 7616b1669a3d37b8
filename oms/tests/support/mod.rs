//! Shared set-up for the OMS tests: the loopback venue, a control segment in a temp dir, risk
//! (the only way to get a `RiskApproved`), and an OMS wired to them.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod venue;

use std::{path::PathBuf, sync::Arc, time::Duration};

use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, Filters, SymbolSpec},
    http::tls_config,
    sign::Credentials,
    Oms, OmsConfig,
};
use lyra_risk::{BookCheck, CheckInput, InstrumentLimits, RiskApproved, RiskEngine, RiskLimits};
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns, Clock, LiveClock},
    control::{ControlSegment, CreateOpts, Grant, GrantMode},
    msg::{InstrumentIdx, OrderIntent, Px, Qty, Side, VenueId},
};
pub use venue::{Fault, FillMode, Venue};

/// A temp dir removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh dir named after `tag`.
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("lyra-oms-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A control segment in `dir` (no mlock: tests).
pub fn segment(dir: &TempDir) -> Arc<ControlSegment> {
    let opts = CreateOpts {
        mlock: false,
        ..CreateOpts::default()
    };
    Arc::new(ControlSegment::create(dir.0.join("control"), &opts).expect("segment"))
}

/// Puts a grant (id 7) of `mode` covering strategy 0 on every venue.
pub fn put_grant(seg: &ControlSegment, mode: GrantMode) {
    let g = Grant {
        grant_id: 7,
        strategy_id: 0,
        venue_mask: u64::MAX,
        instrument: None,
        max_order_notional: i64::MAX,
        max_exposure: i64::MAX,
        max_orders: u64::MAX,
        mode,
        expiry_wall_ns: wall_now_ns() + 3_600_000_000_000,
        revoked: false,
    };
    seg.put_grant(&g, wall_now_ns()).expect("grant");
}

/// BTCUSDT: price scale 2, quantity scale 5, the venue's filters.
pub fn spec() -> SymbolSpec {
    use std::str::FromStr;
    let d = |s: &str| rust_decimal::Decimal::from_str(s).unwrap();
    SymbolSpec {
        instrument: InstrumentIdx(0),
        symbol: venue::SYMBOL.into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        px_scale: 2,
        qty_scale: 5,
        filters: Filters {
            tick_size: d("0.01"),
            step_size: d("0.00001"),
            min_qty: d("0.00001"),
            min_notional: d("5"),
            ..Default::default()
        },
        trading: true,
    }
}

/// Risk with limits that do not bind, and the grant it checks against.
pub struct Risk {
    pub engine: RiskEngine,
    pub seg: Arc<ControlSegment>,
    pub live: bool,
}

impl Risk {
    /// Risk over `seg`'s grant 7.
    pub fn new(seg: Arc<ControlSegment>, live: bool) -> Self {
        let inst = InstrumentLimits {
            px_scale: 2,
            qty_scale: 5,
            max_order_qty: Qty(i64::MAX / 4),
            max_order_notional: i64::MAX / 4,
            max_position: Qty(i64::MAX / 4),
            collar_bps: 10_000,
            max_book_age_ms: 1_000_000,
        };
        let limits = RiskLimits {
            instruments: vec![Some(inst)],
            max_open_orders: 1_000_000,
            max_orders_per_s: 1_000_000,
            daily_loss_stop: i64::MAX / 4,
            cooldown_after_losses: 0,
            cooldown_ms: 0,
        };
        Self {
            engine: RiskEngine::new(limits),
            seg,
            live,
        }
    }

    /// Approves `it` (panics on refusal: tests feed good intents unless they test the halt).
    pub fn approve(
        &mut self,
        it: OrderIntent,
    ) -> Result<RiskApproved<OrderIntent>, lyra_risk::Refusal> {
        let now = mono_now_ns();
        let grant = self.seg.grants().map(|(_, g)| g).find(|g| g.grant_id == 7);
        let books = [BookCheck {
            valid: true,
            updated_ns: now,
        }];
        let inp = CheckInput {
            now_mono_ns: now,
            now_wall_ns: wall_now_ns(),
            halted: self.seg.is_halted(),
            venue_halt_mask: self.seg.venue_mask(),
            grant: grant.as_ref(),
            live: self.live,
            ref_mid: Some(it.px),
            books: &books,
            edge_after_fees: None,
        };
        self.engine.check(it, &inp)
    }
}

/// A LIMIT GTC intent for BTCUSDT at venue 0.
pub fn intent(seq: u64, side: Side, px: i64, qty: i64) -> OrderIntent {
    OrderIntent {
        intent_seq: seq,
        px: Px(px),
        qty: Qty(qty),
        instrument: InstrumentIdx(0),
        venue: VenueId(0),
        side,
        ..Default::default()
    }
}

/// A Binance client for the venue.
pub fn rest(v: &Venue) -> BinanceRest {
    let cfg = BinanceConfig {
        rest_url: v.url(),
        recv_window_ms: 5000,
        timeout: Duration::from_millis(1500),
    };
    let tls = tls_config(Some(&v.ca_file)).expect("tls");
    let clock: Arc<dyn Clock> = Arc::new(LiveClock);
    BinanceRest::new(
        &cfg,
        tls,
        Credentials::new(venue::API_KEY, venue::SECRET.as_bytes()),
        clock,
    )
    .expect("client")
}

/// Short windows so many seeded runs fit in a test.
pub fn fast_cfg(run_id: &str) -> OmsConfig {
    OmsConfig {
        run_id: run_id.into(),
        unknown_window_ms: 120,
        backoff_initial_ms: 5,
        backoff_max_ms: 20,
        working_poll_ms: 10_000,
        // The test venue reads every request before it answers and no process dies mid-request
        // here, so nothing is in flight once an answer is lost (oms_kill9 covers the rest).
        request_life_ms: Some(0),
        ..OmsConfig::default()
    }
}

/// An OMS on the venue, journal in `dir`, warmed (connection open, time synced), not reconciled.
pub fn oms(v: &Venue, dir: &TempDir, seg: Arc<ControlSegment>, cfg: OmsConfig) -> Oms {
    oms_with(v, dir, seg, cfg, 4096)
}

/// As [`oms`] with a journal of `capacity` records.
pub fn oms_with(
    v: &Venue,
    dir: &TempDir,
    seg: Arc<ControlSegment>,
    cfg: OmsConfig,
    capacity: u64,
) -> Oms {
    let mut r = rest(v);
    r.warm().expect("warm");
    let clock: Arc<dyn Clock> = Arc::new(LiveClock);
    Oms::open(
        cfg,
        &dir.0.join("journal"),
        capacity,
        r,
        vec![spec()],
        seg,
        clock,
    )
    .expect("oms")
}
