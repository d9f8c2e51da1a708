//! `scripts/aws-acceptance.sh` (issue 16, item 6), the real-account
//! acceptance run, end to end on moto: status, enable, a second enable that
//! plans nothing, logs verify (waiting, then delivering), analytics deploy, a
//! query and a hunt on Athena, simulate run and verify, analytics destroy,
//! cleanup and the residue checks. moto delivers no logs and has no
//! LookupEvents, so the script's hooks write what the services would: the
//! marked call's trail file and a flow-log file (tests/emulator/
//! deliver_probe.sh), and the simulation's CloudTrail records
//! (tests/emulator/deliver_events.py), which `simulate verify --logs` reads.
//! moto's Athena answers a query with no columns unless results are queued,
//! so empty results of the detections' shape are queued. Afterwards boto3
//! sees none of irprep's trails, flow logs or Glue databases.

use std::process::Command;

use crate::common::*;
use serde_json::Value;

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn the_acceptance_script_runs_end_to_end_on_the_emulator() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    let url = moto();
    reset(&url);
    let py = python();
    let seed = Command::new(&py)
        .arg(root().join("tests/emulator/logs_estate.py"))
        .args(["seed", &url])
        .output()
        .unwrap();
    assert!(
        seed.status.success(),
        "{}",
        String::from_utf8_lossy(&seed.stderr)
    );
    // Empty Athena answers with the columns detections return.
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("results.json");
    let one =
        serde_json::json!({"columns": [["eventid", "varchar"], ["events", "bigint"]], "rows": []});
    std::fs::write(&q, Value::Array(vec![one; 600]).to_string()).unwrap();
    let queued = Command::new(&py)
        .arg(root().join("tests/emulator/analytics.py"))
        .args(["queue", &url])
        .arg(&q)
        .output()
        .unwrap();
    assert!(
        queued.status.success(),
        "{}",
        String::from_utf8_lossy(&queued.stderr)
    );

    let out = dir.path().join("run");
    let bucket = "irprep-logs-123456789012-us-east-1";
    let r = Command::new("bash")
        .arg(root().join("scripts/aws-acceptance.sh"))
        .args([
            "--region",
            "us-east-1",
            "--endpoint-url",
            &url,
            "--wait",
            "20s",
            "--bin",
        ])
        .arg(env!("CARGO_BIN_EXE_irprep"))
        .arg("--out")
        .arg(&out)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env(
            "IRPREP_ACCEPTANCE_DELIVER",
            format!(
                "{} {url} {py}",
                root().join("tests/emulator/deliver_probe.sh").display()
            ),
        )
        .env(
            "IRPREP_ACCEPTANCE_DELIVER_EVENTS",
            format!(
                "{py} {} {url}",
                root().join("tests/emulator/deliver_events.py").display()
            ),
        )
        .env(
            "IRPREP_ACCEPTANCE_VERIFY_LOGS",
            format!("s3://{bucket}/AWSLogs/"),
        )
        .output()
        .unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    assert_eq!(
        r.status.code(),
        Some(0),
        "{report}\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let steps: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .collect();
    assert_eq!(steps.len(), 14, "{report}");
    assert!(steps.iter().all(|l| !l.contains("FAILED")), "{report}");
    assert!(report.contains("every step did what it should"), "{report}");
    let row = |name: &str| {
        *steps
            .iter()
            .find(|l| l.contains(&format!("| {name} |")))
            .unwrap()
    };
    assert!(row("verify-first").contains("waiting"), "{report}");
    assert!(row("verify").contains("'delivering': 2"), "{report}");
    assert!(
        row("enable-again").contains("0 change(s) planned"),
        "{report}"
    );

    // The estate as boto3 sees it: irprep's trail and flow logs are gone.
    let st = Command::new(&py)
        .arg(root().join("tests/emulator/logs_estate.py"))
        .args(["state", &url])
        .output()
        .unwrap();
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    let text = st.to_string();
    assert!(!text.contains("irprep-trail"), "a trail is left: {text}");
    assert!(
        !st["us-east-1"]["flow_logs"]
            .as_array()
            .map(|a| a.iter().any(|f| f["Tags"].to_string().contains("irprep")))
            .unwrap_or(false),
        "a flow log of irprep's is left"
    );
    // The canned Athena answers not used are not left to other tests.
    reset(&url);
}
