//! The outputs a person or a script reads, pinned with insta snapshots
//! (`snapshots/`): `--help` of every command, the hunt's table and JSONL
//! findings, the drill's score. The `logs status` and plan tables are pinned
//! in `logs_moto.rs` (they need the emulator), through [`emulator_ids`].
//!
//! A changed output fails here; when the change is meant, review the
//! `.snap.new` files (`cargo insta review`, or `INSTA_UPDATE=always cargo
//! test` and read the diff) and commit them.

use crate::common::*;

/// Stdout of a successful run, as text.
fn stdout_of(args: &[&str]) -> String {
    let out = irprep().env("COLUMNS", "100").args(args).output().unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "irprep {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run `f` with the identifiers the emulator makes up masked (VPC, subnet,
/// flow log, detector and request ids, timestamps in names).
pub fn emulator_ids(f: impl FnOnce()) {
    let mut s = insta::Settings::clone_current();
    for (re, to) in [
        (r"\bvpc-[0-9a-f]{8,17}\b", "vpc-[id]"),
        (r"\bsubnet-[0-9a-f]{8,17}\b", "subnet-[id]"),
        (r"\bfl-[0-9a-f]{8,17}\b", "fl-[id]"),
        (r"\brslvr-[a-z]+-[0-9a-f]{8,17}\b", "rslvr-[id]"),
        (r"\b[0-9a-f]{32}\b", "[hex32]"),
        (
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
            "[uuid]",
        ),
    ] {
        s.add_filter(re, to);
    }
    s.bind(f);
}

const COMMANDS: &[&[&str]] = &[
    &[],
    &["query"],
    &["hunt"],
    &["detections"],
    &["detections", "list"],
    &["detections", "show"],
    &["timeline"],
    &["queries"],
    &["queries", "run"],
    &["simulate"],
    &["simulate", "run"],
    &["simulate", "verify"],
    &["simulate", "synth"],
    &["drill"],
    &["logs"],
    &["logs", "status"],
    &["logs", "enable"],
    &["logs", "cleanup"],
    &["analytics"],
    &["analytics", "ddl"],
    &["analytics", "deploy"],
    &["analytics", "destroy"],
    &["analytics", "cfn"],
    &["prepare"],
    &["iam-policy"],
    &["completions"],
];

#[test]
fn help_texts() {
    for cmd in COMMANDS {
        let mut args = cmd.to_vec();
        args.push("--help");
        let name = if cmd.is_empty() {
            "help".to_string()
        } else {
            format!("help_{}", cmd.join("_"))
        };
        insta::assert_snapshot!(name, stdout_of(&args));
    }
}

/// A few detections' own positive and benign events.
fn hunt_fixture() -> Vec<String> {
    let dir = root().join("content/detections/fixtures");
    [
        "admin-policy-attached.json",
        "admin-policy-attached-benign.json",
        "ami-shared.json",
        "cloudwatch-alarms-deleted.json",
        "config-recording-stopped.json",
    ]
    .iter()
    .flat_map(|f| ["--logs".to_string(), dir.join(f).display().to_string()])
    .collect()
}

#[test]
fn hunt_table_and_jsonl() {
    for format in ["table", "jsonl"] {
        let mut args = vec!["hunt", "--quiet", "--format", format];
        let logs = hunt_fixture();
        args.extend(logs.iter().map(String::as_str));
        let out = stdout_of(&args);
        assert!(!out.trim().is_empty(), "no findings on the fixture");
        insta::assert_snapshot!(format!("hunt_{format}"), out);
    }
}

#[test]
fn drill_score_table() {
    let out = stdout_of(&["drill", "--quiet", "--background", "2000"]);
    insta::assert_snapshot!("drill_table", out);
}
