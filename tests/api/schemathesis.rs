//! schemathesis (PyPI) against a live server with the sample airlines: no
//! `5xx`, no status the document does not list, no response that breaks
//! its schema or content type. `scripts/test.sh` installs `st` into
//! `target/venv`; outside CI a missing `st` skips the test with a message,
//! in CI it fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::helpers::TestApp;

/// The `st` to run: `$SCHEMATHESIS`, then `target/venv/bin/st`, then `st`
/// on the `PATH`.
fn st() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return Some(PathBuf::from(path));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let venv = target.join("venv/bin/st");
    if venv.exists() {
        return Some(venv);
    }
    let on_path = std::process::Command::new("st")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    on_path.then(|| PathBuf::from("st"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure() {
    let Some(st) = st() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "schemathesis (`st`) is missing: scripts/test.sh installs it into target/venv"
        );
        eprintln!("SKIPPED: schemathesis (`st`) is not installed; scripts/test.sh installs it");
        return;
    };
    let app = TestApp::with_samples().await;
    let reports = tempfile::tempdir().expect("temp dir");
    let run = tokio::process::Command::new(st)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--max-time",
            "90",
            "--request-timeout",
            "10",
            "--workers",
            "2",
            "--seed",
            "1",
            "--no-color",
            "--warnings",
            "off",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(reports.path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(150), run)
        .await
        .expect("schemathesis ends within its time budget")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("No issues found"), "{stdout}");
    eprintln!("{stdout}");
    app.stop().await;
}
