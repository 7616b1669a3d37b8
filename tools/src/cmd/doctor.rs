//! `lyra doctor --config FILE --venue NAME`: the pre-LIVE preflight of one venue account (ping,
//! clock skew, canTrade, SPOT permission, API key without withdrawals, symbols TRADING, risk
//! headroom from the control segment's grants), printed as JSON; exit 1 if any check fails.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{anyhow, Context};
use clap::Args;
use lyra_engine::config::Config;
use lyra_oms::{
    binance::{BinanceConfig, BinanceRest},
    http::tls_config,
    preflight::{self, PreflightInput},
    sign::Credentials,
};
use lyra_shm::{
    clock::{wall_now_ns, LiveClock},
    control::{ControlSegment, GrantMode},
};

use crate::exit::Fail;

/// `lyra doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The engine configuration (its `[[venues]]` entry names URL, CA and credentials file).
    #[arg(long)]
    config: PathBuf,
    /// Which `[[venues]]` entry to check.
    #[arg(long)]
    venue: String,
}

/// Runs the preflight and prints it.
///
/// # Errors
/// [`Fail::Refused`] when a check fails (after printing the report), [`Fail::Other`] when the
/// config or credentials cannot be used.
pub fn doctor(a: &DoctorArgs) -> Result<(), Fail> {
    let cfg = Config::load(&a.config).map_err(|e| Fail::Other(e.into()))?;
    let v = cfg
        .venues
        .iter()
        .find(|v| v.name == a.venue)
        .ok_or_else(|| {
            Fail::refused(format!(
                "{}: no [[venues]] named {:?}",
                a.config.display(),
                a.venue
            ))
        })?;
    let creds = Credentials::load(&v.credentials_file).map_err(|e| Fail::Refused(e.into()))?;
    let tls = tls_config(v.ca_file.as_deref()).map_err(|e| Fail::Other(e.into()))?;
    let bcfg = BinanceConfig {
        rest_url: v.rest_url.clone(),
        recv_window_ms: v.recv_window_ms,
        timeout: Duration::from_secs(5),
    };
    let mut rest = BinanceRest::new(&bcfg, tls, creds, Arc::new(LiveClock))
        .map_err(|e| Fail::Other(anyhow!(e)))?;
    let headroom = risk_headroom(&cfg.paths.segment);
    let report = preflight::run(
        &mut rest,
        &PreflightInput {
            venue: &v.name,
            symbols: &v.symbols,
            max_skew_ms: v.max_skew_ms,
            risk_headroom: Some(headroom),
        },
    );
    let text = serde_json::to_string_pretty(&report).context("preflight report")?;
    println!("{text}");
    if report.passed {
        Ok(())
    } else {
        let failed: Vec<_> = report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect();
        Err(Fail::refused(format!(
            "preflight failed: {}",
            failed.join(", ")
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
