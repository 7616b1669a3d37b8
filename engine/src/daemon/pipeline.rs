//! Builds the trading pipeline from the config: market-data sources per venue, the books, the
//! strategies with risk, one OMS per order-entry venue ([`super::order_entry`]), the rings
//! between them, and the config's grant in the segment.

use std::sync::Arc;

use anyhow::{Context, Result};
use lyra_feeds::{
    instrument::InstrumentTable,
    live::{
        BinanceFeed, BinanceFeedConfig, GateioFeed, GateioFeedConfig, KrakenVenue, OkxVenue,
        SocketFeed, SocketFeedConfig, SocketVenue,
    },
    ws::{
        venues::{KrakenWs, OkxWs},
        TlsRoots, WsConfig,
    },
};
use lyra_oms::Oms;
use lyra_risk::{InstrumentLimits, RiskEngine, RiskLimits};
use lyra_shm::{
    clock::Clock,
    control::{ControlSegment, Grant, GrantMode},
    msg::{InstrumentIdx, MdEvent, OrderIntent, Qty, VenueId},
    ring::{channel, Producer},
};

use crate::{
    audit::AuditWriter,
    config::{Config, VenueKind},
    runtime::stage::Stage,
    stages::{
        book::{BookInstrument, BookStage},
        feed::{FeedStage, LiveSource, MdSource},
        order::{OmsSet, OrderStage, StatementSpec},
        strategy::{Scales, StrategyStage},
    },
    stats::EngineStats,
    strategy::{Ids, Strategies},
};

/// The four stages, each taken by the thread the layout puts it on.
pub struct Built {
    /// Feeds.
    pub feed: Option<Box<dyn Stage>>,
    /// Books.
    pub book: Option<Box<dyn Stage>>,
    /// Strategies + risk.
    pub strategy: Option<Box<dyn Stage>>,
    /// OMS.
    pub order: Option<Box<dyn Stage>>,
    /// The decision audit writer (stopped after the stages, so it drains what they queued).
    pub audit: Option<AuditWriter>,
}

/// Ring capacities: market data is bursty (a snapshot is thousands of levels).
const MD_RING: usize = 1 << 16;
const TOP_RING: usize = 1 << 12;
const ORDER_RING: usize = 1 << 10;
const REPORT_RING: usize = 1 << 12;

/// Risk limits from `[risk]`.
pub fn risk_limits(cfg: &Config) -> RiskLimits {
    let mut instruments = vec![None; cfg.instruments.len()];
    for r in &cfg.risk.instruments {
        let i = &cfg.instruments[r.instrument as usize];
        instruments[r.instrument as usize] = Some(InstrumentLimits {
            px_scale: i.px_scale,
            qty_scale: i.qty_scale,
            max_order_qty: Qty(r.max_order_qty),
            max_order_notional: r.max_order_notional,
            max_position: Qty(r.max_position),
            collar_bps: r.collar_bps,
            max_book_age_ms: r.max_book_age_ms,
        });
    }
    RiskLimits {
        instruments,
        max_open_orders: cfg.risk.max_open_orders,
        max_orders_per_s: cfg.risk.max_orders_per_s,
        daily_loss_stop: cfg.risk.daily_loss_stop,
        cooldown_after_losses: 0,
        cooldown_ms: 0,
    }
}

/// The risk engine of `[risk]`.
pub fn risk_engine(cfg: &Config) -> RiskEngine {
    RiskEngine::new(risk_limits(cfg))
}

/// Issues `[grant]` into the segment: one grant per strategy id the config uses, all venues.
fn issue_grants(cfg: &Config, seg: &ControlSegment, clock: &dyn Clock) -> Result<()> {
    let Some(g) = &cfg.grant else {
        return Ok(());
    };
    let mut ids: Vec<u8> = cfg.strategies.mm.iter().map(|m| m.strategy).collect();
    ids.extend(cfg.strategies.arb.iter().map(|a| a.strategy));
    ids.sort_unstable();
    ids.dedup();
    let now = clock.wall_ns();
    let mask = if cfg.venues.len() >= 64 {
        u64::MAX
    } else {
        (1u64 << cfg.venues.len()) - 1
    };
    for (k, s) in ids.iter().enumerate() {
        let grant = Grant {
            grant_id: 1 + k as u64,
            strategy_id: u16::from(*s),
            venue_mask: mask,
            instrument: None,
            max_order_notional: g.max_order_notional,
            max_exposure: g.max_exposure,
            max_orders: u64::from(g.max_orders),
            mode: if g.mode == "live" {
                GrantMode::Live
            } else {
                GrantMode::Safe
            },
            expiry_wall_ns: now + g.ttl_s.saturating_mul(1_000_000_000),
            revoked: false,
        };
        seg.put_grant(&grant, now)
            .with_context(|| format!("issuing grant {} ({})", grant.grant_id, g.label))?;
        tracing::warn!(grant = grant.grant_id, strategy = s, mode = %g.mode, label = %g.label, "grant issued by the config (demo/test only)");
    }
    Ok(())
}

/// Builds and starts venue `v`'s market-data feed on `ws`, writing into `tx`.
fn md_source(
    cfg: &Config,
    v: usize,
    ws: &str,
    table: &InstrumentTable,
    tx: Producer<MdEvent>,
    clock: &Arc<dyn Clock>,
) -> Result<Box<dyn MdSource>> {
    let vc = &cfg.venues[v];
    let venue = VenueId(v as u8);
    let roots = vc
        .ca_file
        .as_ref()
        .map_or(TlsRoots::WebPki, |p| TlsRoots::PemFile(p.clone()));
    let symbols: Vec<String> = cfg
        .instruments
        .iter()
        .map(|i| i.venue_symbol(vc.kind))
        .collect();
    let what = || format!("venue {}: market data", vc.name);
    Ok(match vc.kind {
        VenueKind::Binance => {
            let mut fc = BinanceFeedConfig::new(venue, ws, &vc.rest_url, roots, symbols);
            fc.book_ticker = false;
            fc.trades = false;
            let mut feed =
                BinanceFeed::new(&fc, table.clone(), tx, clock.clone()).with_context(what)?;
            feed.start();
            Box::new(LiveSource(feed, venue))
        }
        VenueKind::Gateio => {
            let fc = GateioFeedConfig::new(venue, ws, &vc.rest_url, roots, symbols);
            let mut feed =
                GateioFeed::new(&fc, table.clone(), tx, clock.clone()).with_context(what)?;
            feed.start();
            Box::new(LiveSource(feed, venue))
        }
        VenueKind::Okx => Box::new(socket_source(
            vc,
            venue,
            (OkxVenue::new(venue, "books"), OkxWs::transport_config()),
            ws,
            roots,
            symbols,
            table,
            tx,
            clock,
        )?),
        VenueKind::Kraken => Box::new(socket_source(
            vc,
            venue,
            (
                KrakenVenue::new(venue, KRAKEN_DEPTH),
                KrakenWs::transport_config(),
            ),
            ws,
            roots,
            symbols,
            table,
            tx,
            clock,
        )?),
    })
}

/// Kraken v2 `book` depth subscribed: 10 levels carry the checksum (which covers the top 10)
/// and the touch the strategies trade, at the smallest message rate.
const KRAKEN_DEPTH: u32 = 10;

/// A started socket-snapshot feed (OKX, Kraken) of venue `venue`: `dialect` is the venue's
/// decoder and its transport settings (keep-alive, staleness watchdog).
#[allow(clippy::too_many_arguments)]
fn socket_source<V: SocketVenue + 'static>(
    vc: &crate::config::VenueSection,
    venue: VenueId,
    (decoder, ws_cfg): (V, WsConfig),
    ws: &str,
    roots: TlsRoots,
    symbols: Vec<String>,
    table: &InstrumentTable,
    tx: Producer<MdEvent>,
    clock: &Arc<dyn Clock>,
) -> Result<LiveSource<lyra_feeds::live::socket::Socket<V>>> {
    let fc = SocketFeedConfig {
        venue,
        url: ws.to_owned(),
        roots,
        symbols,
        scale: 8,
        // The subscription brings the snapshot within a round trip; ask again after 5 s.
        snapshot_wait_ms: 5_000,
        ws: ws_cfg,
    };
    let mut feed = SocketFeed::new(&fc, decoder, table.clone(), tx, clock.clone())
        .with_context(|| format!("venue {}: market data", vc.name))?;
    feed.start();
    Ok(LiveSource(feed, venue))
}

/// Builds every stage of the pipeline.
///
/// # Errors
/// A venue that cannot be reached, reconciled or preflighted; bad strategy config; a grant the
/// segment refuses.
pub fn build(
    cfg: &Config,
    seg: &Arc<ControlSegment>,
    clock: &Arc<dyn Clock>,
    stats: &Arc<EngineStats>,
    intent_log: Option<Producer<OrderIntent>>,
) -> Result<Built> {
    issue_grants(cfg, seg, clock.as_ref())?;
    let nv = cfg.venues.len();
    let ni = cfg.instruments.len();

    // Canonical instruments, the same symbol on every venue.
    let mut table = InstrumentTable::new();
    for inst in &cfg.instruments {
        table
            .add(&inst.name, inst.px_scale, inst.qty_scale, inst.tick)
            .with_context(|| format!("instrument {}", inst.name))?;
    }
    for (v, vc) in cfg.venues.iter().enumerate() {
        for (i, inst) in cfg.instruments.iter().enumerate() {
            table
                .map_symbol(
                    VenueId(v as u8),
                    &inst.venue_symbol(vc.kind),
                    InstrumentIdx(i as u16),
                )
                .with_context(|| format!("instrument {} on venue {}", inst.name, vc.name))?;
        }
    }

    // Order entry first: balances feed the strategies' inventory. A market-data-only venue has
    // no OMS (an intent routed to it comes back rejected) and no balances.
    let mut oms = Vec::with_capacity(nv);
    let mut balances = Vec::with_capacity(nv);
    for (v, vc) in cfg.venues.iter().enumerate() {
        if !vc.has_order_entry() {
            oms.push(None);
            balances.push(Vec::new());
            continue;
        }
        let (o, b) = super::order_entry::open_oms(cfg, v, seg, clock)?;
        oms.push(Some(o));
        balances.push(b);
    }
    let first_seq = oms
        .iter()
        .flatten()
        .map(Oms::next_intent_seq)
        .max()
        .unwrap_or(1);
    let mut strategies = Strategies::new(&cfg.strategies, nv, ni, Ids::new(first_seq, 1))
        .map_err(|e| anyhow::anyhow!("strategies: {e}"))?;
    for (v, bal) in balances.iter().enumerate() {
        for (i, (base, quote)) in bal.iter().enumerate() {
            strategies.set_balance(
                VenueId(v as u8),
                InstrumentIdx(i as u16),
                Qty(*base),
                *quote,
            );
        }
    }

    // Rings.
    let (resync_tx, resync_rx) = channel::<MdEvent>(256);
    let (top_tx, top_rx) = channel(TOP_RING);
    let (ord_tx, ord_rx) = channel(ORDER_RING);
    let (rep_tx, rep_rx) = channel(REPORT_RING);
    let mut md_inputs = Vec::with_capacity(nv);
    let mut sources: Vec<Box<dyn MdSource>> = Vec::with_capacity(nv);
    for (v, vc) in cfg.venues.iter().enumerate() {
        let Some(ws) = &vc.md_ws_url else {
            continue;
        };
        let (tx, rx) = channel::<MdEvent>(MD_RING);
        md_inputs.push(rx);
        sources.push(md_source(cfg, v, ws, &table, tx, clock)?);
    }
    let insts = cfg
        .instruments
        .iter()
        .map(|i| BookInstrument {
            px_scale: i.px_scale,
            qty_scale: i.qty_scale,
            tick: i.tick,
        })
        .collect();
    let scales = cfg
        .instruments
        .iter()
        .map(|i| Scales {
            px: i.px_scale,
            qty: i.qty_scale,
        })
        .collect();
    let feed = FeedStage::new(sources, resync_rx, stats.clone());
    let book = BookStage::new(
        nv,
        insts,
        // The window the `book` benchmark measures (see `BookConfig::default` for why).
        crate::book::BookConfig::default().window_slots,
        md_inputs,
        top_tx,
        resync_tx,
        stats.clone(),
        clock.clone(),
    )
    .with_stale_after(
        &cfg.venues
            .iter()
            .map(|v| v.book_stale_ms)
            .collect::<Vec<_>>(),
    )
    .with_md_status(seg.clone());
    if let Some(dir) = cfg.paths.decisions.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (audit, audit_strategy, audit_order) = AuditWriter::start(
        cfg.paths.decisions.clone(),
        cfg.engine.run_id.clone(),
        seg.clone(),
    )
    .context("starting the audit writer")?;
    let mut strategy = StrategyStage::new(
        top_rx,
        rep_rx,
        ord_tx,
        strategies,
        RiskEngine::new(risk_limits(cfg)),
        scales,
        seg.clone(),
        clock.clone(),
        stats.clone(),
        cfg.oms.mode == "live",
        intent_log,
    );
    strategy.set_audit(audit_strategy);
    let order = OrderStage::new(
        ord_rx,
        rep_tx,
        Box::new(
            OmsSet::new(oms)
                .with_audit(audit_order)
                .with_statement(StatementSpec {
                    dir: cfg.paths.statements.clone(),
                    run: cfg.engine.run_id.clone(),
                    venues: cfg.venues.iter().map(|v| v.name.clone()).collect(),
                    instruments: cfg
                        .instruments
                        .iter()
                        .map(|i| (i.name.clone(), i.px_scale, i.qty_scale))
                        .collect(),
                }),
        ),
        seg.clone(),
        clock.clone(),
        stats.clone(),
    )
    .with_md_policy(cfg.oms.cancel_on_md_disconnect);
    Ok(Built {
        feed: Some(Box::new(feed)),
        book: Some(Box::new(book)),
        strategy: Some(Box::new(strategy)),
        order: Some(Box::new(order)),
        audit: Some(audit),
    })
}
