//! Preflight before LIVE (DESIGN §6): ping, clock skew, `canTrade`, SPOT permission, API key
//! restrictions (withdrawals must be disabled), symbol status (no maintenance), risk headroom.
//! `lyra doctor` prints the report as JSON. This file runs it for Binance; OKX and Kraken build
//! the same report, with the same check names where a check means the same, in
//! [`crate::okx::preflight`] and [`crate::kraken::preflight`].

use serde::Serialize;

use crate::binance::{
    response::{AccountBody, ExchangeInfoBody, RestrictionsBody},
    BinanceRest, Method,
};

/// One check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    /// Check name.
    pub name: &'static str,
    /// Passed.
    pub ok: bool,
    /// What was seen (never a secret).
    pub detail: String,
}

/// The preflight report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Preflight {
    /// Venue name.
    pub venue: String,
    /// Every check passed.
    pub passed: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Preflight {
    /// The report of `checks`: passed when every one passed (and there is at least one).
    pub fn of(venue: &str, checks: Vec<Check>) -> Self {
        Self {
            venue: venue.to_owned(),
            passed: !checks.is_empty() && checks.iter().all(|c| c.ok),
            checks,
        }
    }

    /// The names of the checks that failed, in order.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect()
    }
}

/// Inputs preflight takes from outside the venue.
#[derive(Debug, Clone)]
pub struct PreflightInput<'a> {
    /// Venue name for the report.
    pub venue: &'a str,
    /// Symbols that must be TRADING.
    pub symbols: &'a [String],
    /// Largest tolerated |server - local|, ms.
    pub max_skew_ms: u64,
    /// Risk headroom (e.g. "grant budget left, daily loss not hit"), if the caller knows it;
    /// `None` reports the check as skipped-but-passing only when `require_headroom` is false.
    pub risk_headroom: Option<(bool, String)>,
}

impl PreflightInput<'_> {
    /// The `risk_headroom` check every venue's preflight ends with.
    pub(crate) fn headroom_check(&self) -> Check {
        let (ok, detail) = match &self.risk_headroom {
            Some((ok, d)) => (*ok, d.clone()),
            None => (false, "no risk state given".into()),
        };
        Check {
            name: "risk_headroom",
            ok,
            detail,
        }
    }
}

/// The `balances_readable` check: the venue answered a balance request with `n` `unit`s.
pub(crate) fn balances_check<E: std::fmt::Display>(answer: Result<usize, E>, unit: &str) -> Check {
    let (ok, detail) = match answer {
        Ok(n) => (true, format!("{n} {unit}")),
        Err(e) => (false, e.to_string()),
    };
    Check {
        name: "balances_readable",
        ok,
        detail,
    }
}

/// Runs every check against the venue; a failed request fails its check (never panics).
pub fn run(rest: &mut BinanceRest, inp: &PreflightInput<'_>) -> Preflight {
    let mut checks = Vec::new();
    let mut add = |name, ok, detail: String| checks.push(Check { name, ok, detail });
    match rest.call(Method::Get, "/api/v3/ping", &[], false) {
        Ok(r) if r.status == 200 => add("ping", true, "HTTP 200".into()),
        Ok(r) => add("ping", false, format!("HTTP {}", r.status)),
        Err(e) => add("ping", false, e.to_string()),
    }
    match rest.sync_time() {
        Ok(off) => add(
            "clock_skew",
            off.unsigned_abs() <= inp.max_skew_ms,
            format!("server - local = {off} ms (limit {} ms)", inp.max_skew_ms),
        ),
        Err(e) => add("clock_skew", false, e.to_string()),
    }
    let (mut can_trade, mut spot) = (None, None);
    match rest.call(
        Method::Get,
        "/api/v3/account",
        &[("omitZeroBalances", "true")],
        true,
    ) {
        Ok(r) if r.status == 200 => match serde_json::from_slice::<AccountBody<'_>>(r.body) {
            Ok(a) => {
                can_trade = Some(a.can_trade);
                spot = Some(a.permissions.contains(&"SPOT"));
            }
            Err(e) => add("account", false, format!("unreadable: {e}")),
        },
        Ok(r) => add(
            "account",
            false,
            format!("HTTP {}: {}", r.status, short(r.body)),
        ),
        Err(e) => add("account", false, e.to_string()),
    }
    if let Some(t) = can_trade {
        add("can_trade", t, format!("canTrade = {t}"));
    }
    if let Some(s) = spot {
        add(
            "spot_permission",
            s,
            format!("permissions include SPOT: {s}"),
        );
    }
    match rest.call(Method::Get, "/sapi/v1/account/apiRestrictions", &[], true) {
        Ok(r) if r.status == 200 => match serde_json::from_slice::<RestrictionsBody>(r.body) {
            Ok(k) => {
                add(
                    "withdrawals_disabled",
                    !k.enable_withdrawals,
                    format!("enableWithdrawals = {}", k.enable_withdrawals),
                );
                add(
                    "key_can_trade",
                    k.enable_spot_and_margin_trading,
                    format!(
                        "enableSpotAndMarginTrading = {}",
                        k.enable_spot_and_margin_trading
                    ),
                );
            }
            Err(e) => add("api_restrictions", false, format!("unreadable: {e}")),
        },
        Ok(r) => add(
            "api_restrictions",
            false,
            format!("HTTP {}: {}", r.status, short(r.body)),
        ),
        Err(e) => add("api_restrictions", false, e.to_string()),
    }
    for sym in inp.symbols {
        let name = "symbol_trading";
        match rest.call(
            Method::Get,
            "/api/v3/exchangeInfo",
            &[("symbol", sym)],
            false,
        ) {
            Ok(r) if r.status == 200 => {
                match serde_json::from_slice::<ExchangeInfoBody<'_>>(r.body) {
                    Ok(info) => {
                        let st = info
                            .symbols
                            .iter()
                            .find(|s| s.symbol == sym)
                            .map_or("missing", |s| s.status);
                        add(name, st == "TRADING", format!("{sym}: {st}"));
                    }
                    Err(e) => add(name, false, format!("{sym}: unreadable: {e}")),
                }
            }
            Ok(r) => add(name, false, format!("{sym}: HTTP {}", r.status)),
            Err(e) => add(name, false, format!("{sym}: {e}")),
        }
    }
    checks.push(inp.headroom_check());
    Preflight::of(inp.venue, checks)
}

/// The first 200 bytes of a body, for a check's detail.
pub(crate) fn short(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}
