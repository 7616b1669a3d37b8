//! The LIVE preflight of an OKX account (DESIGN §6, PROTOCOLS-ORDERS B): the same
//! [`Preflight`] report as Binance's ([`crate::preflight::run`]), with the same check names where
//! a check means the same.
//!
//! | check | from |
//! |---|---|
//! | `ping` | `GET /api/v5/public/time` answers (OKX has no ping endpoint) |
//! | `clock_skew` | its `ts` against the local clock (midpoint of the round trip) |
//! | `system_status` | `GET /api/v5/system/status`: no `ongoing` / `pre_open` maintenance of a service spot trading uses |
//! | `key_can_trade` | `GET /api/v5/account/config` `perm` holds `trade` |
//! | `withdrawals_disabled` | `perm` does not hold `withdraw` |
//! | `account_mode` | `acctLv` 1 or 2: spot orders go out as `tdMode: cash` |
//! | `symbol_trading` | per symbol, `GET /api/v5/public/instruments` `state` is `live` |
//! | `balances_readable` | `GET /api/v5/account/balance` answers |
//! | `risk_headroom` | from the caller, as for Binance |

use serde::Deserialize;

use super::OkxRest;
use crate::{
    binance::SymbolSpec,
    preflight::{balances_check, short, Check, Preflight, PreflightInput},
};

/// OKX's `{"code","msg","data":[…]}` envelope.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    code: String,
    #[serde(default)]
    msg: String,
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

/// One item of `GET /api/v5/account/config` (only what preflight reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountConfig {
    /// The key's permissions, comma separated: `read_only`, `trade`, `withdraw`.
    #[serde(default)]
    perm: String,
    /// Account mode: `1` spot, `2` spot and futures, `3` multi-currency margin, `4` portfolio.
    #[serde(default)]
    acct_lv: String,
}

/// One maintenance event of `GET /api/v5/system/status` (by default the `scheduled`,
/// `ongoing` and `pre_open` ones).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusEvent {
    #[serde(default)]
    title: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    service_type: String,
}

/// Service types a maintenance of which stops Lyra's spot trading: `0` WebSocket, `5` trading,
/// `8` / `9` trading in batches of accounts / products, `99` others (unknown: assume it does).
/// Block trading (6), bots (7), spread (10) and copy trading (11) do not.
fn stops_spot(service_type: &str) -> bool {
    matches!(service_type, "" | "0" | "5" | "8" | "9" | "99")
}

/// An OKX reply as its envelope, or the detail of why it is not one.
fn envelope<'a, T: Deserialize<'a>>(status: u16, body: &'a [u8]) -> Result<Envelope<T>, String> {
    match serde_json::from_slice::<Envelope<T>>(body) {
        Ok(e) if status == 200 && e.code == "0" => Ok(e),
        Ok(e) => Err(format!("HTTP {status}, code {}: {}", e.code, e.msg)),
        Err(_) => Err(format!("HTTP {status}: {}", short(body))),
    }
}

/// A spec naming `symbol` (only the name is read by the instruments call).
fn spec_of(symbol: &str) -> SymbolSpec {
    SymbolSpec {
        instrument: lyra_shm::msg::InstrumentIdx(0),
        symbol: symbol.to_owned(),
        base_asset: String::new(),
        quote_asset: String::new(),
        px_scale: 0,
        qty_scale: 0,
        filters: Default::default(),
        trading: false,
    }
}

/// Runs every check against the venue; a failed request fails its check (never panics). The
/// client's time offset is re-synced on the way (the `ping`).
pub fn run(rest: &mut OkxRest, inp: &PreflightInput<'_>) -> Preflight {
    let mut checks = Vec::new();
    let mut add = |name, ok, detail: String| checks.push(Check { name, ok, detail });
    match rest.sync_time() {
        Ok(off) => {
            add("ping", true, "GET /api/v5/public/time answered".into());
            add(
                "clock_skew",
                off.unsigned_abs() <= inp.max_skew_ms,
                format!("server - local = {off} ms (limit {} ms)", inp.max_skew_ms),
            );
        }
        Err(e) => {
            add("ping", false, e.to_string());
            add("clock_skew", false, "no server time".into());
        }
    }
    match rest.get_raw("system status", "/api/v5/system/status", false) {
        Ok((status, body)) => match envelope::<StatusEvent>(status, body) {
            Ok(e) => {
                let now: Vec<String> = e
                    .data
                    .iter()
                    .filter(|ev| matches!(&*ev.state, "ongoing" | "pre_open"))
                    .filter(|ev| stops_spot(&ev.service_type))
                    .map(|ev| format!("{} ({}, service {})", ev.title, ev.state, ev.service_type))
                    .collect();
                let ok = now.is_empty();
                add(
                    "system_status",
                    ok,
                    if ok {
                        format!(
                            "no maintenance under way ({} event(s) listed)",
                            e.data.len()
                        )
                    } else {
                        format!("maintenance under way: {}", now.join("; "))
                    },
                );
            }
            Err(d) => add("system_status", false, d),
        },
        Err(e) => add("system_status", false, e.to_string()),
    }
    match rest.get_raw("account config", "/api/v5/account/config", true) {
        Ok((status, body)) => match envelope::<AccountConfig>(status, body) {
            Ok(e) => match e.data.first() {
                Some(c) => {
                    let perms: Vec<&str> = c.perm.split(',').map(str::trim).collect();
                    let trade = perms.contains(&"trade");
                    let withdraw = perms.contains(&"withdraw");
                    add("key_can_trade", trade, format!("perm = {:?}", c.perm));
                    add(
                        "withdrawals_disabled",
                        !withdraw,
                        format!("perm = {:?}", c.perm),
                    );
                    add(
                        "account_mode",
                        matches!(&*c.acct_lv, "1" | "2"),
                        format!(
                            "acctLv = {:?} (1 spot or 2 spot and futures: orders use tdMode cash)",
                            c.acct_lv
                        ),
                    );
                }
                None => add("account", false, "account config: no data".into()),
            },
            Err(d) => add("account", false, d),
        },
        Err(e) => add("account", false, e.to_string()),
    }
    for sym in inp.symbols {
        let name = "symbol_trading";
        match rest.instrument_rules(&spec_of(sym)) {
            Ok(r) => add(
                name,
                r.trading,
                format!("{sym}: {}", if r.trading { "live" } else { "not live" }),
            ),
            Err(e) => add(name, false, format!("{sym}: {e}")),
        }
    }
    checks.push(balances_check(
        rest.balances().map(|b| b.len()),
        "currencies",
    ));
    checks.push(inp.headroom_check());
    Preflight::of(inp.venue, checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_service_types_read_as_okx_sends_them() {
        let body =
            br#"{"code":"0","msg":"","data":[{"acctLv":"1","perm":"read_only,trade","uid":"1"}]}"#;
        let e = envelope::<AccountConfig>(200, body).unwrap();
        assert_eq!(e.data[0].perm, "read_only,trade");
        assert_eq!(e.data[0].acct_lv, "1");
        let err = envelope::<AccountConfig>(
            401,
            br#"{"code":"50111","msg":"Invalid OK-ACCESS-KEY","data":[]}"#,
        )
        .unwrap_err();
        assert!(err.contains("50111"), "{err}");
        assert!(envelope::<AccountConfig>(502, b"<html>").is_err());
        assert!(stops_spot("5") && stops_spot("0") && !stops_spot("7") && !stops_spot("11"));
    }
}
