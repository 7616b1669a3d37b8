//! `lyra sim` from the command line: prints its endpoints and CA, writes the config fragment and
//! a 0600 credentials file, never prints a secret, stops after `--duration` with counts.

use std::{os::unix::fs::PermissionsExt, process::Command};

#[test]
fn lyra_sim_runs_for_a_duration_and_writes_a_private_config() {
    let dir = std::env::temp_dir().join(format!("lyra-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg_path = dir.join("sim.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "seed = 5\nstep_ms = 5\nstate_dir = {:?}\n",
            dir.join("state")
        ),
    )
    .expect("config");
    let out_cfg = dir.join("lyra-sim.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(["sim", "--config"])
        .arg(&cfg_path)
        .args(["--seed", "9", "--duration", "0.5", "--write-config"])
        .arg(&out_cfg)
        .output()
        .expect("run lyra sim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("venue binance rest https://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("ws-api wss://127.0.0.1:"), "{stdout}");
    let ca = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ca "))
        .expect("ca line");
    assert!(std::fs::read_to_string(ca)
        .expect("ca file")
        .contains("BEGIN CERTIFICATE"));
    // The fragment and the credentials are private; the secret appears only in the credentials file.
    let frag = std::fs::read_to_string(&out_cfg).expect("fragment");
    assert!(frag.contains("[[venues]]") && frag.contains("credentials_file"));
    let mode = std::fs::metadata(&out_cfg)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let creds_path = dir.join("state").join("credentials.toml");
    let creds = std::fs::read_to_string(&creds_path).expect("credentials");
    let cmode = std::fs::metadata(&creds_path)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(cmode, 0o600);
    let secret = creds
        .lines()
        .find_map(|l| l.strip_prefix("secret = \""))
        .map(|s| s.trim_end_matches('"'))
        .expect("secret");
    assert_eq!(secret.len(), 64);
    assert!(
        !stdout.contains(secret) && !frag.contains(secret),
        "secret leaked"
    );
    // The final counts line.
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("counts")).expect("json counts");
    assert!(last["frames"].as_u64().expect("frames") > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
