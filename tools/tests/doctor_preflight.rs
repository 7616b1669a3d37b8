//! `lyra doctor --config FILE --venue V` against the loopback Binance venue of the OMS tests:
//! JSON on stdout, exit 0 when every check passes, 1 when one fails (withdrawals enabled, no LIVE
//! grant, credentials readable by others), and no secret in any output.

#[path = "../../oms/tests/support/venue.rs"]
mod venue;

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command};

use lyra_shm::{
    clock::wall_now_ns,
    control::{ControlSegment, CreateOpts, Grant, GrantMode},
};
use venue::Venue;

fn write_config(dir: &Path, v: &Venue) -> std::path::PathBuf {
    let creds = dir.join("creds.toml");
    std::fs::write(
        &creds,
        format!(
            "api_key = \"{}\"\napi_secret = \"{}\"\n",
            venue::API_KEY,
            venue::SECRET
        ),
    )
    .unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = dir.join("lyra.toml");
    std::fs::write(
        &cfg,
        format!(
            "[engine]\nrun_id = \"doc1\"\n[paths]\nsegment = \"{}\"\n[[venues]]\nname = \"bn\"\nkind = \"binance\"\nrest_url = \"{}\"\nca_file = \"{}\"\ncredentials_file = \"{}\"\nsymbols = [\"BTCUSDT\"]\n",
            dir.join("control").display(),
            v.url(),
            v.ca_file.display(),
            creds.display()
        ),
    )
    .unwrap();
    cfg
}

fn doctor(cfg: &Path) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(["doctor", "--config"])
        .arg(cfg)
        .args(["--venue", "bn"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let all = format!("{stdout}{stderr}");
    assert!(
        !all.contains(venue::SECRET) && !all.contains(venue::API_KEY),
        "a secret leaked: {all}"
    );
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn check(json: &serde_json::Value, name: &str) -> bool {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {json}"))["ok"]
        .as_bool()
        .unwrap()
}

#[test]
fn doctor_passes_a_good_account_and_fails_each_bad_one() {
    let v = Venue::start();
    let dir = std::env::temp_dir().join(format!("lyra-doctor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = write_config(&dir, &v);
    let opts = CreateOpts {
        mlock: false,
        ..CreateOpts::default()
    };
    let seg = ControlSegment::create(dir.join("control"), &opts).unwrap();

    // No LIVE grant yet: risk headroom fails.
    let (code, json, _) = doctor(&cfg);
    assert_eq!(code, 1, "{json}");
    assert!(!check(&json, "risk_headroom"));
    assert!(check(&json, "ping") && check(&json, "clock_skew") && check(&json, "can_trade"));

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
    let (code, json, _) = doctor(&cfg);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["passed"], true);
    assert_eq!(json["venue"], "bn");

    // A key that may withdraw is refused.
    v.state().enable_withdrawals = true;
    let (code, json, _) = doctor(&cfg);
    assert_eq!(code, 1);
    assert!(!check(&json, "withdrawals_disabled"));
    v.state().enable_withdrawals = false;

    // Maintenance (symbol not TRADING) and clock skew fail their checks.
    v.state().symbol_status = "BREAK";
    v.state().skew_ms = 5_000;
    let (code, json, _) = doctor(&cfg);
    assert_eq!(code, 1);
    assert!(!check(&json, "symbol_trading") && !check(&json, "clock_skew"));
    v.state().symbol_status = "TRADING";
    v.state().skew_ms = 0;

    // Credentials others can read are refused before anything is sent.
    std::fs::set_permissions(
        dir.join("creds.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, _, stderr) = doctor(&cfg);
    assert_eq!(code, 1);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    drop(seg);
    let _ = std::fs::remove_dir_all(&dir);
}
