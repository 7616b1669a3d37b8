//! `lyra doctor --config FILE --venue V` for OKX and Kraken venues against `lyra sim` (the
//! simulator in this process, `lyra doctor` as a separate process): JSON on stdout, exit 0 on a
//! clean key with a LIVE grant; exit 1 naming the failed check when the key may withdraw, the
//! venue is in maintenance or the venue's clock is skewed beyond `max_skew_ms`; market-data-only
//! venues refused; no secret in any output.

#[allow(unused_imports)]
use lyra_tools::sim;

#[path = "sim_support/mod.rs"]
mod sim_support;

use std::{path::PathBuf, process::Command, time::Duration};

use lyra_shm::{
    clock::{mono_now_ns, wall_now_ns},
    control::{ControlSegment, CreateOpts, Grant, GrantMode},
};
use serde_json::Value;
use sim::{config::Dialect, faults::FaultKind, SimHandle};

/// A simulator with one venue, an engine config naming it and a control segment with a LIVE
/// grant.
struct Setup {
    sim: SimHandle,
    dir: PathBuf,
    cfg: PathBuf,
    _seg: ControlSegment,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup(name: &str, dialect: Dialect, symbol: &str) -> Setup {
    let sim = sim_support::single_venue_sim(name, dialect, 7, 0);
    let dir = std::env::temp_dir().join(format!(
        "lyra-doctor-{name}-{}-{}",
        std::process::id(),
        mono_now_ns()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let creds = sim.write_config(&dir.join("sim.toml")).expect("sim config");
    let ep = sim.endpoint(name).expect("endpoint").clone();
    let opts = CreateOpts {
        mlock: false,
        ..CreateOpts::default()
    };
    let seg = ControlSegment::create(dir.join("control"), &opts).unwrap();
    let g = Grant {
        grant_id: 1,
        strategy_id: 0,
        venue_mask: 1,
        instrument: None,
        max_order_notional: 1,
        max_exposure: 1,
        max_orders: 10,
        mode: GrantMode::Live,
        expiry_wall_ns: wall_now_ns() + 3_600_000_000_000,
        revoked: false,
    };
    seg.put_grant(&g, wall_now_ns()).unwrap();
    let kind = format!("{dialect:?}").to_lowercase();
    let cfg = dir.join("lyra.toml");
    std::fs::write(
        &cfg,
        format!(
            "[engine]\nrun_id = \"doc1\"\n[paths]\nsegment = {:?}\n\
             [[venues]]\nname = \"{name}\"\nkind = \"{kind}\"\nrest_url = {:?}\nca_file = {:?}\ncredentials_file = {:?}\nsymbols = [\"{symbol}\"]\n\
             [[venues]]\nname = \"md_only\"\nkind = \"{kind}\"\nmd_ws_url = {:?}\n\
             [[venues]]\nname = \"gate\"\nkind = \"gateio\"\nmd_ws_url = \"wss://127.0.0.1:1/ws/v4/\"\nrest_url = \"https://127.0.0.1:1\"\n",
            dir.join("control"),
            ep.rest,
            sim.ca_path(),
            creds,
            ep.ws,
        ),
    )
    .unwrap();
    Setup {
        sim,
        dir,
        cfg,
        _seg: seg,
    }
}

/// Runs `lyra doctor` on venue `venue`: exit code, stdout as JSON (Null if none), stderr.
fn doctor(s: &Setup, venue: &str) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(["doctor", "--config"])
        .arg(&s.cfg)
        .args(["--venue", venue])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let all = format!("{stdout}{stderr}");
    for c in s.sim.credentials() {
        assert!(
            !all.contains(&c.secret) && !all.contains(&c.passphrase) && !all.contains(&c.api_key),
            "a secret leaked: {all}"
        );
    }
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// Whether check `name` passed (panics if the report lacks it).
fn check(json: &Value, name: &str) -> bool {
    json["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {json}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {json}"))["ok"]
        .as_bool()
        .unwrap()
}

/// The checks every OKX/Kraken preflight reports.
const CHECKS: [&str; 8] = [
    "ping",
    "clock_skew",
    "system_status",
    "key_can_trade",
    "withdrawals_disabled",
    "symbol_trading",
    "balances_readable",
    "risk_headroom",
];

/// Asserts a failed run: exit 1, `failed` (and only it, of `CHECKS`) not ok, named on stderr.
fn assert_fails_only(s: &Setup, venue: &str, failed: &str) {
    let (code, json, stderr) = doctor(s, venue);
    assert_eq!(code, 1, "{failed}: {json}\n{stderr}");
    assert_eq!(json["passed"], false, "{json}");
    for name in CHECKS {
        assert_eq!(
            check(&json, name),
            name != failed,
            "{name} with {failed}: {json}"
        );
    }
    assert!(
        stderr.contains("preflight failed") && stderr.contains(failed),
        "the failed check is named: {stderr}"
    );
}

/// Ends a window fault now (re-arming a window replaces its end) and lets it lapse.
fn end_window(sim: &SimHandle, venue: &str, kind: FaultKind) {
    sim.inject(venue, kind, 0, 1, 0).unwrap();
    std::thread::sleep(Duration::from_millis(20));
}

fn doctor_fails_each_bad_state(name: &str, dialect: Dialect, symbol: &str) {
    let s = setup(name, dialect, symbol);

    // A clean key: every check passes.
    let (code, json, stderr) = doctor(&s, name);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["passed"], true, "{json}");
    assert_eq!(json["venue"], name);
    for c in CHECKS {
        assert!(check(&json, c), "{c}: {json}");
    }

    // A key that may withdraw is refused.
    s.sim.set_withdraw(name, true).unwrap();
    assert_fails_only(&s, name, "withdrawals_disabled");
    s.sim.set_withdraw(name, false).unwrap();

    // Maintenance: the system status says so (OKX: an ongoing trading-service event; Kraken:
    // cancel_only), and the symbol is not trading either.
    s.sim
        .inject(name, FaultKind::Maintenance, 0, 600_000, 0)
        .unwrap();
    let (code, json, stderr) = doctor(&s, name);
    assert_eq!(code, 1, "{json}");
    assert!(!check(&json, "system_status"), "{json}");
    assert!(!check(&json, "symbol_trading"), "{json}");
    assert!(check(&json, "withdrawals_disabled") && check(&json, "clock_skew"));
    assert!(stderr.contains("system_status"), "{stderr}");
    end_window(&s.sim, name, FaultKind::Maintenance);

    // The venue's clock 5 s ahead: beyond the default max_skew_ms (1,000).
    s.sim
        .inject(name, FaultKind::ClockSkew, 0, 600_000, 5_000)
        .unwrap();
    assert_fails_only(&s, name, "clock_skew");
    end_window(&s.sim, name, FaultKind::ClockSkew);

    // Everything back to normal: passes again.
    let (code, json, _) = doctor(&s, name);
    assert_eq!(code, 0, "{json}");

    // Market-data-only venues are refused, with a reason and no report.
    for venue in ["md_only", "gate"] {
        let (code, json, stderr) = doctor(&s, venue);
        assert_eq!(code, 1, "{venue}: {json}");
        assert!(json.is_null(), "{venue}: no report: {json}");
        assert!(stderr.contains("market data only"), "{venue}: {stderr}");
    }
}

#[test]
fn okx_doctor_passes_a_clean_key_and_names_each_failure() {
    doctor_fails_each_bad_state("okx", Dialect::Okx, "BTC-USDT");
}

#[test]
fn kraken_doctor_passes_a_clean_key_and_names_each_failure() {
    doctor_fails_each_bad_state("kraken", Dialect::Kraken, "BTC/USDT");
}
