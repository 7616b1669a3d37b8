//! Issue 6, acceptance: the decision audit (every approved intent, refusal, order state change,
//! fill) of a `lyra demo` run is a SHA-256 chain that `lyra audit verify` accepts; changing one
//! record is detected at that record.

use std::process::Command;

#[test]
fn decision_audit_verifies_and_tampering_is_found_at_the_record() {
    let seg = format!("/dev/shm/lyra-test-demo-audit-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args([
            "demo",
            "--duration",
            "5",
            "--json",
            "--no-script",
            "--segment",
            &seg,
        ])
        .output()
        .expect("run lyra demo");
    let _ = std::fs::remove_file(&seg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("report");
    assert_eq!(report["decision_audit_chain_ok"], true, "{report}");
    let n = report["decision_audit_records"].as_u64().unwrap();
    assert!(
        n >= 10,
        "decisions, requests and fills were audited: {report}"
    );
    let path = report["decision_audit"].as_str().unwrap().to_owned();
    let verify = |p: &str| {
        Command::new(env!("CARGO_BIN_EXE_lyra"))
            .args(["audit", "verify", "--audit", p])
            .output()
            .expect("lyra audit verify")
    };
    let ok = verify(&path);
    assert!(ok.status.success(), "{ok:?}");

    // Every kind of record carries the correlation ids (in its body, and as fields).
    let files = lyra_amrc::audit::Layout::new(std::path::Path::new(&path))
        .daily_files()
        .unwrap();
    assert!(!files.is_empty(), "daily JSONL files for {path}");
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let inner: serde_json::Value =
        serde_json::from_str(first["text"].as_str().unwrap()).expect("record body");
    for key in ["run", "intent"] {
        assert!(inner.get(key).is_some(), "{key} in {inner}");
        assert!(first.get(key).is_some(), "{key} in {first}");
    }

    // The daily statement: written, hashed, and its hash is the chain's last record.
    let dir = report["statements"].as_str().unwrap();
    let stmt = std::fs::read_dir(dir)
        .expect("statements directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a statement");
    let body = std::fs::read(&stmt).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).expect("statement is JSON");
    assert!(
        json["by_venue"].as_array().is_some_and(|v| !v.is_empty()),
        "{json}"
    );
    let hash = lyra_amrc::audit::sha256_hex(&body);
    let side = std::fs::read_to_string(stmt.with_extension("json.sha256")).unwrap();
    assert_eq!(side.trim(), hash);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "statement", "{last}");
    assert!(last["text"].as_str().unwrap().contains(&hash), "{last}");

    // Tamper with one record in the middle of the newest day: the verifier names that line, and
    // `lyra doctor --audit` names the file and line in its JSON report.
    let file = files.last().unwrap();
    let day_text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = day_text.lines().map(str::to_owned).collect();
    let k = lines.len() / 2;
    lines[k] = lines[k].replacen("\\\"run\\\":\\\"demo\\\"", "\\\"run\\\":\\\"dem0\\\"", 1);
    assert_ne!(
        lines[k],
        day_text.lines().nth(k).unwrap(),
        "the record was changed"
    );
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
    let bad = verify(&path);
    assert!(!bad.status.success());
    let msg =
        String::from_utf8_lossy(&bad.stderr).to_string() + &String::from_utf8_lossy(&bad.stdout);
    assert!(
        msg.contains(&format!("line {}", k + 1)),
        "names the broken record (line {}): {msg}",
        k + 1
    );
    let doctor = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .args(["doctor", "--audit", &path])
        .output()
        .expect("lyra doctor --audit");
    assert_eq!(doctor.status.code(), Some(1), "{doctor:?}");
    let r: serde_json::Value = serde_json::from_slice(&doctor.stdout).expect("doctor JSON");
    assert_eq!(r["first_broken"]["file"], file.display().to_string(), "{r}");
    assert_eq!(r["first_broken"]["line"], k + 1, "{r}");
    if let Some(dir) = report["run_dir"].as_str() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
