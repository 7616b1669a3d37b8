//! The LIVE preflight of a Kraken account (DESIGN §6, PROTOCOLS-ORDERS C): the same
//! [`Preflight`] report as Binance's ([`crate::preflight::run`]), with the same check names where
//! a check means the same.
//!
//! | check | from |
//! |---|---|
//! | `ping` | public `Time` answers |
//! | `clock_skew` | its `unixtime` against the local clock (1 s resolution, see [`skew_ms`]) |
//! | `system_status` | public `SystemStatus` is `online` (not `maintenance`, `cancel_only`, `post_only`) |
//! | `key_can_trade` | `GetApiKeyInfo` `permissions` hold `modify-trades` and `close-trades` |
//! | `withdrawals_disabled` | `permissions` do not hold `withdraw-funds` |
//! | `symbol_trading` | per pair, public `AssetPairs` `status` is `online` |
//! | `balances_readable` | `Balance` answers |
//! | `risk_headroom` | from the caller, as for Binance |
//!
//! Kraken signs nonces, not timestamps, so its orders do not depend on the clock; the check
//! still runs, because fills, audit records and the other venues' orders are stamped with it.

use serde::Deserialize;

use super::KrakenRest;
use crate::{
    binance::SymbolSpec,
    preflight::{balances_check, short, Check, Preflight, PreflightInput},
};

/// Kraken's `{"error":[…],"result":{…}}` reply.
#[derive(Debug, Deserialize)]
struct Reply<T> {
    #[serde(default)]
    error: Vec<String>,
    result: Option<T>,
}

/// `Time`'s result.
#[derive(Debug, Deserialize)]
struct TimeResult {
    unixtime: u64,
}

/// `SystemStatus`'s result.
#[derive(Debug, Deserialize)]
struct StatusResult {
    status: String,
}

/// `GetApiKeyInfo`'s result (only what preflight reads).
#[derive(Debug, Deserialize)]
struct KeyInfo {
    #[serde(default)]
    permissions: Vec<String>,
}

/// A Kraken reply's result, or the detail of why there is none.
fn result<'a, T: Deserialize<'a>>(status: u16, body: &'a [u8]) -> Result<T, String> {
    match serde_json::from_slice::<Reply<T>>(body) {
        Ok(Reply {
            result: Some(r),
            error,
        }) if status == 200 && !error.iter().any(|e| e.starts_with('E')) => Ok(r),
        Ok(r) => Err(format!("HTTP {status}: {}", r.error.join(", "))),
        Err(_) => Err(format!("HTTP {status}: {}", short(body))),
    }
}

/// Server minus local clock, ms, as far as a whole-second server time can tell: the local clock
/// read `t0_ms` before the request and `t1_ms` after it; the server's true time lies in
/// `[unixtime, unixtime + 1)` s. The smallest offset consistent with both is returned (0 when the
/// intervals overlap), so a true skew beyond the limit by more than the 1 s resolution is
/// always caught, and a clean clock never fails.
pub fn skew_ms(t0_ms: u64, t1_ms: u64, unixtime_s: u64) -> i64 {
    let lo = unixtime_s.saturating_mul(1000) as i64;
    let hi = lo + 999;
    let (t0, t1) = (t0_ms as i64, t1_ms.max(t0_ms) as i64);
    if hi < t0 {
        hi - t0
    } else if lo > t1 {
        lo - t1
    } else {
        0
    }
}

/// A spec naming `pair` (only the name is read by the `AssetPairs` call).
fn spec_of(pair: &str) -> SymbolSpec {
    SymbolSpec {
        instrument: lyra_shm::msg::InstrumentIdx(0),
        symbol: pair.to_owned(),
        base_asset: String::new(),
        quote_asset: String::new(),
        px_scale: 0,
        qty_scale: 0,
        filters: Default::default(),
        trading: false,
    }
}

/// Runs every check against the venue; a failed request fails its check (never panics).
pub fn run(rest: &mut KrakenRest, inp: &PreflightInput<'_>) -> Preflight {
    let mut checks = Vec::new();
    let mut add = |name, ok, detail: String| checks.push(Check { name, ok, detail });
    let t0 = rest.local_ms();
    let time = rest
        .public_raw("time", "Time")
        .map_err(|e| e.to_string())
        .and_then(|(status, body)| result::<TimeResult>(status, body));
    let t1 = rest.local_ms();
    match time {
        Ok(t) => {
            add("ping", true, "public Time answered".into());
            let off = skew_ms(t0, t1, t.unixtime);
            add(
                "clock_skew",
                off.unsigned_abs() <= inp.max_skew_ms,
                format!(
                    "server - local = {off} ms (the smallest offset Time's 1 s resolution allows; limit {} ms)",
                    inp.max_skew_ms
                ),
            );
        }
        Err(d) => {
            add("ping", false, d);
            add("clock_skew", false, "no server time".into());
        }
    }
    match rest
        .public_raw("system status", "SystemStatus")
        .map_err(|e| e.to_string())
        .and_then(|(status, body)| result::<StatusResult>(status, body))
    {
        Ok(s) => add(
            "system_status",
            s.status == "online",
            format!("status = {:?}", s.status),
        ),
        Err(d) => add("system_status", false, d),
    }
    match rest
        .private_raw("api key info", "GetApiKeyInfo")
        .map_err(|e| e.to_string())
        .and_then(|(status, body)| result::<KeyInfo>(status, body))
    {
        Ok(k) => {
            let has = |p: &str| k.permissions.iter().any(|x| x == p);
            let list = k.permissions.join(",");
            add(
                "key_can_trade",
                has("modify-trades") && has("close-trades"),
                format!("permissions = {list:?} (modify-trades and close-trades needed)"),
            );
            add(
                "withdrawals_disabled",
                !has("withdraw-funds"),
                format!("permissions = {list:?}"),
            );
        }
        Err(d) => add("api_key_info", false, d),
    }
    for pair in inp.symbols {
        let name = "symbol_trading";
        match rest.asset_pair_rules(&spec_of(pair)) {
            Ok(r) => add(
                name,
                r.trading,
                format!(
                    "{pair}: {}",
                    if r.trading { "online" } else { "not online" }
                ),
            ),
            Err(e) => add(name, false, format!("{pair}: {e}")),
        }
    }
    checks.push(balances_check(rest.balances().map(|b| b.len()), "assets"));
    checks.push(inp.headroom_check());
    Preflight::of(inp.venue, checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_the_smallest_offset_a_whole_second_allows() {
        // Local 10.000..10.040 s, server says 10 s: consistent with no skew.
        assert_eq!(skew_ms(10_000, 10_040, 10), 0);
        // Server second 9 ends at 9.999 s, 1 ms before the local read began.
        assert_eq!(skew_ms(10_000, 10_040, 9), -1);
        // Server 15 s against local 10.04 s: at least 4,960 ms ahead.
        assert_eq!(skew_ms(10_000, 10_040, 15), 4_960);
        // Server 5 s (up to 5.999 s) against local 10 s: at least 4,001 ms behind.
        assert_eq!(skew_ms(10_000, 10_040, 5), -4_001);
    }

    #[test]
    fn results_and_errors_read_as_kraken_sends_them() {
        let k = result::<KeyInfo>(
            200,
            br#"{"error":[],"result":{"permissions":["query-funds","modify-trades"]}}"#,
        )
        .unwrap();
        assert_eq!(k.permissions.len(), 2);
        let e = result::<KeyInfo>(200, br#"{"error":["EAPI:Invalid key"]}"#).unwrap_err();
        assert!(e.contains("EAPI:Invalid key"), "{e}");
        assert!(result::<StatusResult>(503, b"<html>").is_err());
    }
}
