//! `lyra doctor --config FILE --venue NAME`: the pre-LIVE preflight of one venue account
//! (`kind = binance|okx|kraken`: ping, clock skew, trading permission, API key without
//! withdrawals, system status / symbols trading, balances, risk headroom from the control
//! segment's grants; `lyra_oms::preflight`, `lyra_oms::okx::preflight`,
//! `lyra_oms::kraken::preflight`), printed as JSON; exit 1 if any check fails, naming it.
//! Market-data-only venues (no `credentials_file`, or `kind = gateio`) are refused.
//!
//! `lyra doctor --audit PATH`: verifies the audit store (the JSONL chain across all daily files,
//! the SQLite chain, and that both hold the same records) and prints the counts and the first
//! broken record as JSON; exit 1 on a break. Both checks run when both are asked for.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{anyhow, Context};
use clap::{ArgGroup, Args};
use lyra_engine::{
    config::{Config, VenueKind},
    daemon::order_entry::EntryClient,
};
use lyra_oms::{
    binance::{BinanceConfig, BinanceRest},
    http::tls_config,
    preflight::{self, PreflightInput},
    sign::Credentials,
};
use lyra_shm::{
    clock::{wall_now_ns, Clock, LiveClock},
    control::{ControlSegment, GrantMode},
};

use crate::exit::Fail;

/// Socket timeout of one preflight request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `lyra doctor`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("check").required(true).multiple(true).args(["config", "audit"])))]
pub struct DoctorArgs {
    /// The engine configuration (its `[[venues]]` entry names URL, CA and credentials file).
    #[arg(long, requires = "venue")]
    config: Option<PathBuf>,
    /// Which `[[venues]]` entry to check.
    #[arg(long, requires = "config")]
    venue: Option<String>,
    /// Verify the audit store named by this configured audit path (e.g. `[paths] audit`).
    #[arg(long, value_name = "PATH")]
    audit: Option<PathBuf>,
}

/// Runs the preflight and prints it.
///
/// # Errors
/// [`Fail::Refused`] when a check fails (after printing the report), [`Fail::Other`] when the
/// config or credentials cannot be used.
pub fn doctor(a: &DoctorArgs) -> Result<(), Fail> {
    let audit = a.audit.as_deref().map_or(Ok(()), audit_check);
    let preflight = match (&a.config, &a.venue) {
        (Some(config), Some(venue)) => preflight_check(config, venue),
        _ => Ok(()),
    };
    audit.and(preflight)
}

/// Verifies the audit store and prints the report as JSON.
fn audit_check(path: &std::path::Path) -> Result<(), Fail> {
    let report = super::audit::verify(path)?;
    let text = serde_json::to_string_pretty(&report).context("audit report")?;
    println!("{text}");
    super::audit::outcome(&report)
}

/// The venue preflight.
fn preflight_check(config: &std::path::Path, venue: &str) -> Result<(), Fail> {
    let cfg = Config::load(config).map_err(|e| Fail::Other(e.into()))?;
    let v = cfg.venues.iter().find(|v| v.name == venue).ok_or_else(|| {
        Fail::refused(format!(
            "{}: no [[venues]] named {venue:?}",
            config.display(),
        ))
    })?;
    if !v.kind.has_order_entry() {
        return Err(Fail::refused(format!(
            "{}: venue {venue:?} is {}: market data only (no order entry), nothing to preflight",
            config.display(),
            v.kind.name()
        )));
    }
    let Some(cred_path) = &v.credentials_file else {
        return Err(Fail::refused(format!(
            "{}: venue {venue:?} is market data only (no credentials_file): nothing to preflight",
            config.display(),
        )));
    };
    // The symbols preflight requires trading: the venue's own list, else every configured
    // instrument in this venue's spelling (as the daemon trades them).
    let symbols: Vec<String> = if v.symbols.is_empty() {
        cfg.instruments
            .iter()
            .map(|i| i.venue_symbol(v.kind))
            .collect()
    } else {
        v.symbols.clone()
    };
    let inp = PreflightInput {
        venue: &v.name,
        symbols: &symbols,
        max_skew_ms: v.max_skew_ms,
        risk_headroom: Some(risk_headroom(&cfg.paths.segment)),
    };
    let report = if v.kind == VenueKind::Binance {
        let creds = Credentials::load(cred_path).map_err(|e| Fail::Refused(e.into()))?;
        let tls = tls_config(v.ca_file.as_deref()).map_err(|e| Fail::Other(e.into()))?;
        let bcfg = BinanceConfig {
            rest_url: v.rest_url.clone(),
            recv_window_ms: v.recv_window_ms,
            timeout: TIMEOUT,
        };
        let mut rest = BinanceRest::new(&bcfg, tls, creds, Arc::new(LiveClock))
            .map_err(|e| Fail::Other(anyhow!(e)))?;
        preflight::run(&mut rest, &inp)
    } else {
        let clock: Arc<dyn Clock> = Arc::new(LiveClock);
        // Credentials others can read, or an OKX file without its passphrase, are refused
        // before anything is sent.
        let mut client =
            EntryClient::build(v, cred_path, &clock, TIMEOUT).map_err(Fail::Refused)?;
        client.preflight(&inp)
    };
    let text = serde_json::to_string_pretty(&report).context("preflight report")?;
    println!("{text}");
    if report.passed {
        Ok(())
    } else {
        Err(Fail::refused(format!(
            "preflight failed: {}",
            report.failed().join(", ")
        )))
    }
}

/// Risk headroom: the halt word is clear and a LIVE grant is unexpired, unrevoked and has an
/// order budget.
fn risk_headroom(segment: &std::path::Path) -> (bool, String) {
    let seg = match ControlSegment::open(segment) {
        Ok(s) => s,
        Err(e) => return (false, format!("control segment: {e}")),
    };
    if seg.is_halted() {
        return (false, "halt word is set".into());
    }
    let now = wall_now_ns();
    let live = seg
        .grants()
        .map(|(_, g)| g)
        .filter(|g| g.mode == GrantMode::Live && g.is_live(now) && g.max_orders > 0)
        .count();
    (
        live > 0,
        format!("{live} live LIVE grant(s) with an order budget; halt clear"),
    )
}
