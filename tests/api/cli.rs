//! The `airstream` binary: `validate` and settings errors.

use std::process::Command;

use crate::helpers::{fast_airline, samples_dir};

fn airstream() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airstream"));
    cmd.env_remove("RUST_LOG");
    cmd
}

#[test]
fn validate_accepts_the_samples() {
    let out = airstream()
        .arg("validate")
        .arg(samples_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("with problems") && stdout.contains(" 0 with problems"),
        "{stdout}"
    );
}

#[test]
fn validate_prints_path_line_column_reason_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), fast_airline("good", "GD")).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        fast_airline("bad", "BD")
            .replace("depart: \"07:30\"", "depart: \"7h30\"")
            .replace(
                "duration: 1h50m, fares: { economy: 900000 }",
                "duration: 1h50m, fares: { economy: 0 }",
            ),
    )
    .unwrap();
    let out = airstream()
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let prefix = format!("{}:", bad.display());
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 2, "every problem listed: {stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":14:") && l.contains("not a time")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":15:") && l.contains("not a positive amount")),
        "{stdout}"
    );
    assert!(stdout.contains("good.yaml: ok (good)"), "{stdout}");

    let single = airstream()
        .arg("validate")
        .arg(dir.path().join("good.yaml"))
        .output()
        .unwrap();
    assert!(single.status.success());
    let missing = airstream()
        .arg("validate")
        .arg(dir.path().join("nope.yaml"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file"));
}

#[test]
fn unknown_settings_are_named_at_start() {
    let out = airstream()
        .arg("serve")
        .env("AIRSTREAM_SEARCH__MAX_RETAINEDD", "5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_retainedd"), "{stderr}");
}
