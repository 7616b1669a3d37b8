//! DESIGN §2: the crate graph flows one way (`shm <- amrc <- risk <- oms <- engine`,
//! `shm <- feeds <- engine`; tools/benches/tests use anything, nothing uses them), only `shm`
//! holds `unsafe`, TLS uses rustls with `ring` (no aws-lc build).

use std::{collections::BTreeMap, process::Command};

use lyra_tests::workspace_root;

/// Lyra crates each crate may depend on (normal and build dependencies).
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("lyra-shm", &[][..]),
        ("lyra-amrc", &["lyra-shm"][..]),
        ("lyra-risk", &["lyra-shm", "lyra-amrc"][..]),
        ("lyra-feeds", &["lyra-shm"][..]),
        ("lyra-oms", &["lyra-shm", "lyra-amrc", "lyra-risk"][..]),
        (
            "lyra-engine",
            &[
                "lyra-shm",
                "lyra-amrc",
                "lyra-risk",
                "lyra-feeds",
                "lyra-oms",
            ][..],
        ),
        (
            "lyra-tools",
            &[
                "lyra-shm",
                "lyra-amrc",
                "lyra-risk",
                "lyra-feeds",
                "lyra-oms",
                "lyra-engine",
            ][..],
        ),
        (
            "lyra-benches",
            &[
                "lyra-shm",
                "lyra-amrc",
                "lyra-risk",
                "lyra-feeds",
                "lyra-oms",
                "lyra-engine",
            ][..],
        ),
        (
            "lyra-tests",
            &[
                "lyra-shm",
                "lyra-amrc",
                "lyra-risk",
                "lyra-feeds",
                "lyra-oms",
                "lyra-engine",
            ][..],
        ),
    ])
}

fn metadata(no_deps: bool) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["metadata", "--format-version", "1"])
        .current_dir(workspace_root());
    if no_deps {
        cmd.arg("--no-deps");
    } else {
        // Only what builds on this host: crates for other platforms are never downloaded here.
        cmd.args(["--filter-platform", &host_triple()]);
    }
    let out = cmd.output().expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

fn host_triple() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host")
}

#[test]
fn crate_graph_flows_one_way() {
    let meta = metadata(true);
    let allowed = allowed();
    let mut seen = 0;
    for pkg in meta["packages"].as_array().expect("packages") {
        let name = pkg["name"].as_str().expect("name");
        let Some(ok) = allowed.get(name) else {
            panic!("unexpected workspace crate {name}: add it to DESIGN §2 and this test");
        };
        seen += 1;
        for dep in pkg["dependencies"].as_array().expect("deps") {
            let dname = dep["name"].as_str().expect("dep name");
            let is_dev = dep["kind"].as_str() == Some("dev");
            if dname.starts_with("lyra-") && !is_dev {
                assert!(
                    ok.contains(&dname),
                    "forbidden dependency edge {name} -> {dname} (DESIGN §2)"
                );
            }
            if dname.starts_with("lyra-") && is_dev {
                // Dev-dependencies may reach down the graph, never up into tools/benches/tests.
                assert!(
                    !matches!(dname, "lyra-tools" | "lyra-benches" | "lyra-tests"),
                    "{name} dev-depends on {dname}: nothing uses tools/benches/tests"
                );
            }
        }
    }
    assert_eq!(seen, allowed.len(), "every workspace crate checked");
}

#[test]
fn only_shm_may_hold_unsafe() {
    let root = workspace_root();
    for krate in ["amrc", "risk", "feeds", "oms", "engine", "tools", "benches"] {
        let src = root.join(krate).join("src");
        for entry in ["lib.rs", "main.rs"] {
            let path = src.join(entry);
            if let Ok(text) = std::fs::read_to_string(&path) {
                assert!(
                    text.contains("#![forbid(unsafe_code)]"),
                    "{} lacks #![forbid(unsafe_code)]",
                    path.display()
                );
            }
        }
    }
    let shm = std::fs::read_to_string(root.join("shm/src/lib.rs")).expect("shm lib.rs");
    assert!(shm.contains("#![deny(unsafe_op_in_unsafe_fn)]"));
}

#[test]
fn tls_uses_ring_not_aws_lc_and_no_unmaintained_shm_crate() {
    let meta = metadata(false);
    let names: Vec<&str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for banned in ["aws-lc-rs", "aws-lc-sys", "openssl-sys", "shared_memory"] {
        assert!(
            !names.contains(&banned),
            "{banned} is in the dependency graph (DESIGN §2/§4)"
        );
    }
}
