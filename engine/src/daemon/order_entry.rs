//! One OMS per order-entry venue, opened at start: the venue client (Binance's own path, or OKX /
//! Kraken through `lyra_oms::venue::OrderEntry`), the journal, symbol rules, reconciliation, the
//! LIVE preflight, and the balances the strategies start from.

use std::{sync::Arc, time::Duration};

use anyhow::{anyhow, bail, Context, Result};
use lyra_oms::{
    binance::{BinanceConfig, BinanceRest, SymbolSpec, UserStream, UserStreamConfig},
    http::tls_config,
    kraken::{KrakenConfig, KrakenCredentials, KrakenRest},
    okx::{OkxConfig, OkxCredentials, OkxRest},
    preflight::{self, Preflight, PreflightInput},
    sign::{CredentialText, Credentials},
    venue::{OrderEntry, VenueError},
    Mode, Oms, OmsConfig, ReconcileReport,
};
use lyra_shm::{
    clock::Clock,
    control::ControlSegment,
    msg::{InstrumentIdx, VenueId},
};
use rust_decimal::Decimal;

use crate::config::{Config, VenueKind, VenueSection};

/// Per instrument: free base (quantity mantissa) and free quote (raw, px x qty scales).
pub type Balances = Vec<(i64, i128)>;

/// Socket timeout of one order-entry request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

fn mantissa(d: Decimal, scale: u8) -> i128 {
    let mut d = d;
    d.rescale(u32::from(scale));
    d.mantissa()
}

/// Opens, warms, reconciles (and for LIVE preflights) the OMS of venue `v`; returns it with its
/// balances per instrument.
///
/// # Errors
/// A venue that cannot be reached, reconciled or preflighted, bad credentials, a journal that
/// cannot be opened; each names the venue.
pub fn open_oms(
    cfg: &Config,
    v: usize,
    seg: &Arc<ControlSegment>,
    clock: &Arc<dyn Clock>,
) -> Result<(Oms, Balances)> {
    let vc = &cfg.venues[v];
    let cred_path = vc
        .credentials_file
        .as_deref()
        .with_context(|| format!("venue {}: no credentials_file (market data only)", vc.name))?;
    let live = cfg.oms.mode == "live";
    let specs: Vec<SymbolSpec> = cfg
        .instruments
        .iter()
        .enumerate()
        .map(|(i, inst)| SymbolSpec {
            instrument: InstrumentIdx(i as u16),
            symbol: inst.venue_symbol(vc.kind),
            base_asset: inst.base.clone(),
            quote_asset: inst.quote.clone(),
            px_scale: inst.px_scale,
            qty_scale: inst.qty_scale,
            filters: Default::default(),
            trading: false,
        })
        .collect();
    let ocfg = OmsConfig {
        run_id: cfg.engine.run_id.clone(),
        venue: VenueId(v as u8),
        mode: if live { Mode::Live } else { Mode::Safe },
        working_poll_ms: cfg.oms.working_poll_ms,
        unknown_window_ms: 5_000,
        max_skew_ms: vc.max_skew_ms,
        ..OmsConfig::default()
    };
    std::fs::create_dir_all(&cfg.oms.journal_dir)
        .with_context(|| format!("creating {}", cfg.oms.journal_dir.display()))?;
    let journal = cfg.oms.journal_dir.join(format!("{}.journal", vc.name));
    let tls =
        || tls_config(vc.ca_file.as_deref()).with_context(|| format!("venue {}: TLS", vc.name));
    // The OKX client's server-minus-local offset, for the private stream's login timestamp.
    let (mut oms, binance, offset_ms) = match vc.kind {
        VenueKind::Binance => {
            let bc = BinanceConfig {
                rest_url: vc.rest_url.clone(),
                recv_window_ms: vc.recv_window_ms,
                timeout: REQUEST_TIMEOUT,
            };
            let creds = Credentials::load(cred_path)
                .with_context(|| format!("venue {}: credentials", vc.name))?;
            let mut rest = BinanceRest::new(&bc, tls()?, creds, clock.clone())
                .with_context(|| format!("venue {}: REST client", vc.name))?;
            rest.warm()
                .with_context(|| format!("venue {}: connecting {}", vc.name, vc.rest_url))?;
            let oms = Oms::open(
                ocfg,
                &journal,
                cfg.oms.journal_capacity,
                rest,
                specs,
                seg.clone(),
                clock.clone(),
            )
            .with_context(|| format!("venue {}: OMS", vc.name))?;
            (oms, true, 0)
        }
        VenueKind::Okx | VenueKind::Kraken => {
            let mut entry = EntryClient::build(vc, cred_path, clock, REQUEST_TIMEOUT)?;
            // TLS and time sync off the order path.
            let offset_ms = entry
                .warm()
                .map_err(|e| anyhow!("venue {}: connecting {}: {e}", vc.name, vc.rest_url))?;
            // The venue's full LIVE preflight runs on the concrete client, before it becomes
            // the OMS's venue-neutral face; it sends no order, so running it before the
            // reconciliation keeps "reconcile before any new order".
            if live {
                live_preflight(cfg, vc, |inp| entry.preflight(inp))?;
            }
            let oms = Oms::open_entry(
                ocfg,
                &journal,
                cfg.oms.journal_capacity,
                entry.into_entry(),
                specs,
                seg.clone(),
                clock.clone(),
            )
            .with_context(|| format!("venue {}: OMS", vc.name))?;
            (oms, false, offset_ms)
        }
        VenueKind::Gateio => bail!(
            "venue {}: gateio order entry does not exist (market data only)",
            vc.name
        ),
    };
    if vc.user_stream {
        attach_user_stream(vc, cred_path, &mut oms, clock, offset_ms)?;
    }
    oms.refresh_symbol_rules()
        .map_err(|e| anyhow!("venue {}: symbol rules: {e}", vc.name))?;
    let rec = oms
        .reconcile()
        .with_context(|| format!("venue {}: reconciliation", vc.name))?;
    if live {
        if binance {
            let rest = oms
                .binance()
                .ok_or_else(|| anyhow!("venue {}: not a Binance OMS", vc.name))?;
            live_preflight(cfg, vc, |inp| preflight::run(rest, inp))?;
        }
        oms.set_preflight(true);
    }
    Ok((oms, balances(cfg, &rec)))
}

/// An OKX or Kraken client before it goes into the OMS (the preflight needs the concrete
/// client; the OMS takes it as a `Box<dyn OrderEntry>`). `lyra doctor` builds it too.
#[derive(Debug)]
pub enum EntryClient {
    /// OKX v5.
    Okx(OkxRest),
    /// Kraken Spot.
    Kraken(KrakenRest),
}

impl EntryClient {
    /// The client of `vc` (`kind = okx|kraken`) from its credentials file (OKX needs
    /// `passphrase` there); not yet connected.
    ///
    /// # Errors
    /// Another kind, unreadable credentials (mode, shape), a bad URL or CA file; each names
    /// the venue.
    pub fn build(
        vc: &VenueSection,
        cred_path: &std::path::Path,
        clock: &Arc<dyn Clock>,
        timeout: Duration,
    ) -> Result<Self> {
        if !matches!(vc.kind, VenueKind::Okx | VenueKind::Kraken) {
            bail!(
                "venue {}: {} is not an OKX or Kraken venue",
                vc.name,
                vc.kind.name()
            );
        }
        let tls =
            tls_config(vc.ca_file.as_deref()).with_context(|| format!("venue {}: TLS", vc.name))?;
        let text = CredentialText::load(cred_path)
            .with_context(|| format!("venue {}: credentials", vc.name))?;
        let client = || format!("venue {}: REST client", vc.name);
        Ok(match vc.kind {
            VenueKind::Okx => {
                let Some(passphrase) = text.passphrase.as_deref() else {
                    bail!(
                        "venue {}: credentials {}: OKX needs `passphrase`",
                        vc.name,
                        cred_path.display()
                    );
                };
                let oc = OkxConfig {
                    rest_url: vc.rest_url.clone(),
                    timeout,
                    simulated_trading: false,
                };
                let creds = OkxCredentials::new(&text.api_key, &text.api_secret, passphrase);
                Self::Okx(OkxRest::new(&oc, tls, creds, clock.clone()).with_context(client)?)
            }
            _ => {
                let kc = KrakenConfig {
                    rest_url: vc.rest_url.clone(),
                    timeout,
                };
                let creds = KrakenCredentials::new(&text.api_key, &text.api_secret)
                    .with_context(|| format!("venue {}: credentials", vc.name))?;
                Self::Kraken(KrakenRest::new(&kc, tls, creds, clock.clone()).with_context(client)?)
            }
        })
    }

    /// Opens the connection (and for OKX syncs time); returns the server - local offset, ms
    /// (0 for Kraken, whose requests carry nonces).
    ///
    /// # Errors
    /// [`VenueError`] when the venue cannot be reached.
    pub fn warm(&mut self) -> Result<i64, VenueError> {
        match self {
            Self::Okx(c) => OrderEntry::warm(c),
            Self::Kraken(c) => OrderEntry::warm(c),
        }
    }

    /// The venue's LIVE preflight ([`lyra_oms::okx::preflight`], [`lyra_oms::kraken::preflight`]).
    pub fn preflight(&mut self, inp: &PreflightInput<'_>) -> Preflight {
        match self {
            Self::Okx(c) => lyra_oms::okx::preflight::run(c, inp),
            Self::Kraken(c) => lyra_oms::kraken::preflight::run(c, inp),
        }
    }

    /// The client as the OMS takes it.
    pub fn into_entry(self) -> Box<dyn OrderEntry + Send> {
        match self {
            Self::Okx(c) => Box::new(c),
            Self::Kraken(c) => Box::new(c),
        }
    }
}

/// The venue's private order stream on its own side thread (Binance: the WebSocket API user
/// data stream; OKX: `/ws/v5/private` `orders`; Kraken: WebSocket v2 `executions`): the OMS
/// drains its fills and order events in `poll` and polls REST less often while it is
/// subscribed. Kraken's first token is fetched here, on the start-up thread, before the OMS's
/// own start-up calls (Kraken nonces must rise per key).
fn attach_user_stream(
    vc: &VenueSection,
    cred_path: &std::path::Path,
    oms: &mut Oms,
    clock: &Arc<dyn Clock>,
    offset_ms: i64,
) -> Result<()> {
    let url = vc
        .user_stream_url()
        .map_err(|e| anyhow!("venue {}: ws_api_url: {e}", vc.name))?;
    let scfg = UserStreamConfig::new(&url, vc.recv_window_ms);
    let tls =
        tls_config(vc.ca_file.as_deref()).with_context(|| format!("venue {}: TLS", vc.name))?;
    let what = || format!("venue {}: private stream ({url})", vc.name);
    let stream = match vc.kind {
        VenueKind::Binance => UserStream::start(
            scfg,
            tls,
            Credentials::load(cred_path)
                .with_context(|| format!("venue {}: credentials", vc.name))?,
            clock.clone(),
            oms.binance()
                .ok_or_else(|| anyhow!("venue {}: not a Binance OMS", vc.name))?
                .offset_ms(),
        )
        .with_context(what)?,
        VenueKind::Okx | VenueKind::Kraken => {
            let text = CredentialText::load(cred_path)
                .with_context(|| format!("venue {}: credentials", vc.name))?;
            if vc.kind == VenueKind::Okx {
                let Some(passphrase) = text.passphrase.as_deref() else {
                    bail!(
                        "venue {}: credentials {}: OKX needs `passphrase`",
                        vc.name,
                        cred_path.display()
                    );
                };
                // The login timestamp is venue time: the REST client's offset at start.
                lyra_oms::okx::private_stream::start(
                    scfg,
                    tls,
                    OkxCredentials::new(&text.api_key, &text.api_secret, passphrase),
                    clock.clone(),
                    offset_ms,
                )
                .with_context(what)?
            } else {
                let kc = KrakenConfig {
                    rest_url: vc.rest_url.clone(),
                    timeout: REQUEST_TIMEOUT,
                };
                let creds = KrakenCredentials::new(&text.api_key, &text.api_secret)
                    .with_context(|| format!("venue {}: credentials", vc.name))?;
                lyra_oms::kraken::private_stream::start(scfg, &kc, tls, creds, clock.clone())
                    .with_context(what)?
            }
        }
        VenueKind::Gateio => bail!("venue {}: gateio has no private stream", vc.name),
    };
    oms.attach_user_stream(stream);
    Ok(())
}

/// The venue's full LIVE preflight, run by `run` over this config's instruments in the venue's
/// spelling (Binance: clock skew, canTrade, permissions; OKX/Kraken: ping, clock skew, system
/// status; all: the key may trade and may not withdraw, symbols trading); refuses LIVE naming
/// every failed check.
fn live_preflight(
    cfg: &Config,
    vc: &VenueSection,
    run: impl FnOnce(&PreflightInput<'_>) -> Preflight,
) -> Result<()> {
    let symbols: Vec<String> = cfg
        .instruments
        .iter()
        .map(|i| i.venue_symbol(vc.kind))
        .collect();
    let pf = run(&PreflightInput {
        venue: &vc.name,
        symbols: &symbols,
        max_skew_ms: vc.max_skew_ms,
        risk_headroom: Some((true, "grant from the config".into())),
    });
    if !pf.passed {
        bail!(
            "venue {}: LIVE preflight failed: {}",
            vc.name,
            failed_checks(&pf)
        );
    }
    Ok(())
}

/// `name (detail); ...` of every failed check.
pub fn failed_checks(pf: &Preflight) -> String {
    pf.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{} ({})", c.name, c.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Free balances per instrument from the reconciliation.
fn balances(cfg: &Config, rec: &ReconcileReport) -> Balances {
    let free = |asset: &str| {
        rec.balances
            .iter()
            .find(|b| b.asset == asset)
            .map_or(Decimal::ZERO, |b| b.free)
    };
    cfg.instruments
        .iter()
        .map(|i| {
            let base = mantissa(free(&i.base), i.qty_scale);
            let quote = mantissa(free(&i.quote), i.px_scale + i.qty_scale);
            (i64::try_from(base).unwrap_or(i64::MAX), quote)
        })
        .collect()
}
