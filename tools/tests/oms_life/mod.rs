//! The OMS life cycle on the OKX and Kraken dialects of `lyra sim`, shared by `oms_okx_life` and
//! `oms_kraken_life`: the harness (a simulator, an [`Oms`] built by [`Oms::open_entry`] over the
//! real venue client, risk approvals — the only way to a `RiskApproved` — and the oracle: the
//! simulator's own order table and balances), the seeded fault runs ([`seeded`], with the
//! checks of the Binance runs in `oms/tests/oms_sent_unknown.rs`) and deterministic cases
//! ([`cases`]).
#![allow(dead_code)] // each test binary uses a different part

pub mod cases;
pub mod seeded;

pub use seeded::seeded_runs;

use std::{path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use lyra_oms::{
    binance::{Filters, SymbolSpec},
    clordid::ClOrdId,
    http::tls_config,
    kraken::{KrakenConfig, KrakenCredentials, KrakenRest},
    okx::{OkxConfig, OkxCredentials, OkxRest},
    venue::OrderEntry,
    Mode, Oms, OmsConfig,
};
use lyra_risk::{BookCheck, CheckInput, InstrumentLimits, RiskApproved, RiskEngine, RiskLimits};
use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns, Clock, LiveClock},
    control::{ControlSegment, CreateOpts, Grant, GrantMode},
    msg::{InstrumentIdx, OrderIntent, Px, Qty, Side, VenueId},
};
use lyra_tools::sim::{
    config::{AccountCfg, Dialect, SimConfig, VenueCfg, SCALE},
    faults::FaultKind,
    Sim, SimHandle,
};
use rust_decimal::Decimal;

/// Which venue a harness drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OKX v5.
    Okx,
    /// Kraken Spot.
    Kraken,
}

/// Quantity scale: 8 decimals, so the simulator's fees (8 decimals) land in positions exactly.
pub const QTY_SCALE: u8 = 8;
/// Quantity units per 0.00001 BTC lot (the simulator's step).
pub const LOT: i64 = 1_000;

/// Starting balances of the test account (large, so random runs rarely run out).
const BTC: i64 = 100;
const USDT: i64 = 10_000_000;

/// A simulator with one venue of `kind` and one account.
pub struct Harness {
    pub sim: SimHandle,
    pub kind: Kind,
}

impl Harness {
    /// A manually stepped simulator (frozen book). Kraken runs fee-free: Kraken's
    /// `TradesHistory` names no fee currency and the simulator charges the received asset
    /// where Kraken's default is the quote currency on buys (see `KrakenRest::trades`).
    pub fn start(kind: Kind, seed: u64) -> Self {
        let (name, dialect, fee) = match kind {
            Kind::Okx => ("okx", Dialect::Okx, 10),
            Kind::Kraken => ("kraken", Dialect::Kraken, 0),
        };
        let cfg = SimConfig {
            seed,
            step_ms: 0,
            oracle_frames: false,
            venues: vec![VenueCfg {
                name: name.into(),
                dialect,
                maker_fee_bps: fee,
                taker_fee_bps: fee,
                ..VenueCfg::default()
            }],
            accounts: vec![AccountCfg {
                balances: vec![
                    ("USDT".into(), USDT.to_string()),
                    ("BTC".into(), BTC.to_string()),
                ],
                ..AccountCfg::default()
            }],
            ..SimConfig::default()
        };
        Self {
            sim: Sim::start(cfg, None).expect("simulator"),
            kind,
        }
    }

    /// The venue's name in the simulator.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Okx => "okx",
            Kind::Kraken => "kraken",
        }
    }

    /// BTC-USDT (OKX) / BTC/USDT (Kraken): price scale 2, quantity scale 8, no rules yet
    /// (`refresh_symbol_rules` reads them).
    pub fn spec(&self) -> SymbolSpec {
        SymbolSpec {
            instrument: InstrumentIdx(0),
            symbol: match self.kind {
                Kind::Okx => "BTC-USDT",
                Kind::Kraken => "BTC/USDT",
            }
            .into(),
            base_asset: "BTC".into(),
            quote_asset: "USDT".into(),
            px_scale: 2,
            qty_scale: QTY_SCALE,
            filters: Filters::default(),
            trading: false,
        }
    }

    fn okx(&self) -> OkxRest {
        let c = &self.sim.credentials()[0];
        let cfg = OkxConfig {
            rest_url: self.sim.endpoint("okx").expect("okx").rest.clone(),
            timeout: Duration::from_secs(5),
            simulated_trading: false,
        };
        OkxRest::new(
            &cfg,
            tls_config(Some(self.sim.ca_path())).expect("tls"),
            OkxCredentials::new(&c.api_key, &c.secret, &c.passphrase),
            Arc::new(LiveClock),
        )
        .expect("okx client")
    }

    fn kraken(&self) -> KrakenRest {
        let c = &self.sim.credentials()[0];
        let cfg = KrakenConfig {
            rest_url: self.sim.endpoint("kraken").expect("kraken").rest.clone(),
            timeout: Duration::from_secs(5),
        };
        KrakenRest::new(
            &cfg,
            tls_config(Some(self.sim.ca_path())).expect("tls"),
            KrakenCredentials::new(&c.api_key, &c.secret).expect("kraken credentials"),
            Arc::new(LiveClock),
        )
        .expect("kraken client")
    }

    /// A warmed venue client (connection open, time synced).
    pub fn client(&self) -> Box<dyn OrderEntry + Send> {
        let mut c: Box<dyn OrderEntry + Send> = match self.kind {
            Kind::Okx => Box::new(self.okx()),
            Kind::Kraken => Box::new(self.kraken()),
        };
        c.warm().expect("warm");
        c
    }

    /// An OMS on the venue with its journal in `dir`, rules read, not reconciled.
    pub fn oms(&self, dir: &TempDir, seg: &Arc<ControlSegment>, cfg: OmsConfig) -> Oms {
        let clock: Arc<dyn Clock> = Arc::new(LiveClock);
        let mut oms = Oms::open_entry(
            cfg,
            &dir.0.join("journal"),
            256,
            self.client(),
            vec![self.spec()],
            seg.clone(),
            clock,
        )
        .expect("oms");
        oms.refresh_symbol_rules().expect("symbol rules");
        oms.set_preflight(true);
        oms
    }

    /// Arms `count` one-shots of `kind` on the venue.
    pub fn inject(&self, kind: FaultKind, count: u32) {
        self.sim
            .inject(self.name(), kind, count, 0, 0)
            .expect("inject");
    }

    /// Opens a window of `kind` for `ms`.
    pub fn window(&self, kind: FaultKind, ms: u64) {
        self.sim
            .inject(self.name(), kind, 0, ms, 0)
            .expect("inject");
    }

    /// Venue orders carrying client id `id` (the oracle: the simulator's own order table).
    pub fn venue_orders(&self, id: &str) -> Vec<(u64, i64)> {
        let st = self.sim.shared().venues[0]
            .state
            .lock()
            .expect("venue lock");
        st.m.orders
            .values()
            .filter(|o| o.client_id == id)
            .map(|o| (o.id, o.executed))
            .collect()
    }

    /// Every venue order's client id.
    pub fn venue_client_ids(&self) -> Vec<String> {
        let st = self.sim.shared().venues[0]
            .state
            .lock()
            .expect("venue lock");
        st.m.orders.values().map(|o| o.client_id.clone()).collect()
    }

    /// Total (free + locked) of `asset` in the account, as a decimal.
    pub fn balance(&self, asset: &str) -> Decimal {
        let st = self.sim.shared().venues[0]
            .state
            .lock()
            .expect("venue lock");
        st.m.accounts[0]
            .balances
            .get(asset)
            .map_or(Decimal::ZERO, |b| {
                Decimal::new(b.free + b.locked, u32::from(SCALE))
            })
    }

    /// Places `intent` directly with a fresh client (a process that died before reading the
    /// answer): the answer is dropped.
    pub fn place_raw(&self, it: &OrderIntent, id: &ClOrdId) {
        let mut c = self.client();
        let _ = c.place(&self.spec(), it, it.px.0, it.qty.0, id);
    }
}

/// A temp dir removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh dir named after `tag`.
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("lyra-life-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A control segment in `dir` with a grant (id 7) of `mode` on every venue.
pub fn segment(dir: &TempDir, mode: GrantMode) -> Arc<ControlSegment> {
    let opts = CreateOpts {
        mlock: false,
        ..CreateOpts::default()
    };
    let seg = ControlSegment::create(dir.0.join("control"), &opts).expect("segment");
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
    Arc::new(seg)
}

/// Risk with limits that do not bind.
pub struct Risk {
    engine: RiskEngine,
    seg: Arc<ControlSegment>,
    live: bool,
}

impl Risk {
    /// Risk over `seg`'s grant 7 (`live`: the intent asks for LIVE).
    pub fn new(seg: Arc<ControlSegment>, live: bool) -> Self {
        let inst = InstrumentLimits {
            px_scale: 2,
            qty_scale: QTY_SCALE,
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

    /// Approves `it`, or says why not.
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

/// A LIMIT GTC intent on instrument 0 at venue 0: price scale 2, `lots` of 0.00001 BTC.
pub fn intent(seq: u64, side: Side, px: i64, lots: i64) -> OrderIntent {
    OrderIntent {
        intent_seq: seq,
        px: Px(px),
        qty: Qty(lots * LOT),
        instrument: InstrumentIdx(0),
        venue: VenueId(0),
        side,
        ..Default::default()
    }
}

/// LIVE, short SENT_UNKNOWN windows so many runs fit in a test, working orders polled only
/// when asked (cancel, settle).
pub fn cfg(run: &str) -> OmsConfig {
    OmsConfig {
        run_id: run.into(),
        mode: Mode::Live,
        unknown_window_ms: 60,
        backoff_initial_ms: 3,
        backoff_max_ms: 15,
        working_poll_ms: 60_000,
        // The test venue reads every request before it answers and no process dies mid-request
        // here, so nothing is in flight once an answer is lost (oms_kill9 covers the rest).
        request_life_ms: Some(0),
        ..OmsConfig::default()
    }
}

/// A decimal from text.
pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}
