//! Hostile inputs planted among good logs, as an intruder with write access
//! to the trail bucket (or the evidence archive) would plant them. Whatever
//! is planted: no panic, no hang, bounded output, every good event still
//! returned, and each bad file named (exit code 3).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn event(id: &str, time: &str, agent: &str) -> String {
    serde_json::json!({
        "eventVersion": "1.08",
        "eventTime": time,
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "us-east-1",
        "eventID": id,
        "userAgent": agent,
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a"}
    })
    .to_string()
}

/// Run irprep, killing it (and failing) if it takes longer than `limit`.
fn run_bounded(mut c: Command, limit: Duration) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the pipes while waiting, so a chatty child cannot block.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = vec![];
        std::io::Read::read_to_end(&mut so, &mut v).map(|_| v)
    });
    let t_err = std::thread::spawn(move || {
        let mut v = vec![];
        std::io::Read::read_to_end(&mut se, &mut v).map(|_| v)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("irprep ran longer than {limit:?}: it hung on a planted input");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: t_out.join().unwrap().unwrap(),
        stderr: t_err.join().unwrap().unwrap(),
    }
}

/// Good files (in the S3 layout and outside it) and a planted file of each
/// kind beside them. Returns the ids of the good events.
fn planted_tree(dir: &Path, outside: &Path) -> Vec<String> {
    let day = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01");
    std::fs::create_dir_all(&day).unwrap();
    let mut good = vec![];
    for f in 0..3 {
        let ids: Vec<String> = (0..4).map(|i| format!("good-{f}-{i}")).collect();
        let recs: Vec<String> = ids
            .iter()
            .map(|id| event(id, "2024-05-01T10:00:00Z", "aws-cli/2.15"))
            .collect();
        std::fs::write(
            day.join(format!(
                "111122223333_CloudTrail_us-east-1_20240501T1000Z_{f}.json.gz"
            )),
            gz(format!("{{\"Records\":[{}]}}", recs.join(",")).as_bytes()),
        )
        .unwrap();
        good.extend(ids);
    }
    // Outside the layout: the date partition comes from the record's time,
    // whose tenth byte is inside a character.
    std::fs::write(
        dir.join("export.json"),
        format!(
            "{}\n{}\n",
            event("good-export", "2024-05-01T11:00:00Z", "aws-cli/2.15"),
            event("odd-time", "2024-05-0\u{e9}", "aws-cli/2.15")
        ),
    )
    .unwrap();
    good.push("good-export".into());
    good.push("odd-time".into());
    // Escape sequences in a user agent: erase the screen, set the title.
    std::fs::write(
        dir.join("agent.json"),
        event(
            "escape-agent",
            "2024-05-01T12:00:00Z",
            "x\u{1b}[2J\u{1b}]0;owned\u{7}y",
        ) + "\n",
    )
    .unwrap();
    good.push("escape-agent".into());
    // Three gzip members of the same size: the last member's size matches
    // the first's, which once hid every member after the first.
    let mut members = vec![];
    for id in ["member-1", "member-2", "member-3"] {
        members.extend(gz((event(id, "2024-05-01T13:00:00Z", "aws-cli/2.15")
            + "\n")
            .as_bytes()));
        good.push(id.into());
    }
    std::fs::write(dir.join("members.json.gz"), members).unwrap();
    // A small gzip of a million broken records.
    let broken = "{\"eventID\": oops}\n".repeat(1_000_000);
    std::fs::write(dir.join("broken-lines.json.gz"), gz(broken.as_bytes())).unwrap();
    // 20 bytes that claim to hold 1 GiB.
    let mut liar = gz(b"");
    let n = liar.len();
    liar[n - 4..].copy_from_slice(&(1u32 << 30).to_le_bytes());
    std::fs::write(dir.join("liar.json.gz"), liar).unwrap();
    // A FIFO (reading it blocks forever), a symlink to the zero device, and
    // one out of the tree.
    let _ = Command::new("mkfifo").arg(dir.join("pipe.json")).status();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.json")).unwrap();
    std::fs::write(
        outside.join("elsewhere.json"),
        event("outside", "2024-05-01T10:00:00Z", "aws-cli/2.15") + "\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.join("elsewhere.json"), dir.join("link.json")).unwrap();
    // A (sparse) plain file past the size a log file may have.
    std::fs::File::create(dir.join("huge.json"))
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    // A few kilobytes of gzip that unpack to millions of tiny records.
    std::fs::write(
        dir.join("tiny-records.json.gz"),
        gz("{}\n".repeat(4_000_100).as_bytes()),
    )
    .unwrap();
    // A key whose region is 200 bytes: no partition values from it (they
    // would be copied onto every row); its events still come back.
    let long = dir.join(format!(
        "AWSLogs/111122223333/CloudTrail/us-{}-1/2024/05/01",
        "x".repeat(200)
    ));
    std::fs::create_dir_all(&long).unwrap();
    std::fs::write(
        long.join("f.json"),
        event("long-key", "2024-05-01T10:00:00Z", "aws-cli/2.15") + "\n",
    )
    .unwrap();
    good.push("long-key".into());
    good
}

#[test]
fn planted_files_cost_only_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, outside) = (tmp.path().join("logs"), tmp.path().join("outside"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let good = planted_tree(&dir, &outside);
    let mut c = irprep();
    c.args([
        "query",
        "--format",
        "jsonl",
        "--logs",
        dir.to_str().unwrap(),
        "SELECT eventid, date_partition, useragent FROM cloudtrail WHERE eventid IS NOT NULL ORDER BY eventid",
    ]);
    let out = run_bounded(c, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["eventid"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want: Vec<&str> = good.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(ids, want, "every good event, and only those");
    let odd = rows.iter().find(|r| r["eventid"] == "odd-time").unwrap();
    assert_eq!(odd["date_partition"], serde_json::Value::Null);
    // JSON output stays exact: the escape is there, JSON-escaped.
    let agent = rows
        .iter()
        .find(|r| r["eventid"] == "escape-agent")
        .unwrap();
    assert_eq!(agent["useragent"], "x\u{1b}[2J\u{1b}]0;owned\u{7}y");
    // Each bad file named, bounded diagnostics.
    for f in [
        "broken-lines.json.gz",
        "liar.json.gz",
        "zero.json",
        "link.json",
        "huge.json",
        "tiny-records.json.gz",
    ] {
        assert!(stderr.contains(f), "{f} not named:\n{stderr}");
    }
    if dir.join("pipe.json").exists() {
        assert!(stderr.contains("pipe.json"), "{stderr}");
    }
    assert!(
        stderr.lines().count() < 100,
        "{} lines of warnings",
        stderr.lines().count()
    );
    assert!(stderr.contains("more bad record(s)"), "{stderr}");
    // A million broken lines, and the hundred records past the per-file cap.
    assert!(stderr.contains("1000100 record(s) skipped"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn log_text_reaches_the_terminal_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("agent.json");
    std::fs::write(
        &f,
        event(
            "escape-agent",
            "2024-05-01T12:00:00Z",
            "x\u{1b}[2J\u{1b}]0;owned\u{7}y\u{9b}1A",
        ) + "\n",
    )
    .unwrap();
    let out = irprep()
        .args([
            "query",
            "--logs",
            f.to_str().unwrap(),
            "SELECT useragent FROM cloudtrail",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "{table:?}"
    );
    assert!(
        table.contains(r"x\x1b[2J\x1b]0;owned\x07y\u{9b}1A"),
        "{table}"
    );
    // CSV for a spreadsheet: formulas neutralised when asked.
    std::fs::write(
        &f,
        event(
            "formula",
            "2024-05-01T12:00:00Z",
            "=HYPERLINK(\"https://x/\")",
        ) + "\n",
    )
    .unwrap();
    let csv = |extra: &[&str]| {
        let out = irprep()
            .args(["query", "--format", "csv", "--logs", f.to_str().unwrap()])
            .args(extra)
            .arg("SELECT useragent FROM cloudtrail")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(csv(&["--csv-safe"]).contains("'=HYPERLINK"));
    assert!(csv(&[]).contains("\"=HYPERLINK"), "{}", csv(&[]));
}

/// Signed requests never go in clear to another machine: a plain-http
/// endpoint off loopback is refused before any request (unless asked).
#[test]
fn plain_http_endpoints_only_on_loopback() {
    let out = irprep()
        .args([
            "logs",
            "status",
            "--endpoint-url",
            "http://203.0.113.5:5000",
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("--allow-insecure-endpoint"), "{stderr}");
    // An endpoint inherited from the environment is named on stderr.
    let out = irprep()
        .args(["logs", "status", "--region", "us-east-1"])
        .env("IRPREP_ENDPOINT_URL", "https://203.0.113.5:1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("every AWS request goes to https://203.0.113.5:1 (from IRPREP_ENDPOINT_URL)"),
        "{stderr}"
    );
}

/// A reader that panics (a bug, or a dependency's: here injected, in test
/// builds only) costs its own file: the rows of the files read before it in
/// the same batch, and of every file after it, are all there.
#[test]
fn a_reader_panic_costs_its_file_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01");
    std::fs::create_dir_all(&day).unwrap();
    let mut want = vec![];
    for f in 0..6 {
        let ids: Vec<String> = (0..3).map(|i| format!("f{f}-{i}")).collect();
        let recs: Vec<String> = ids
            .iter()
            .map(|id| event(id, "2024-05-01T10:00:00Z", "aws-cli/2.15"))
            .collect();
        let name = if f == 3 {
            "BOOM".to_string()
        } else {
            format!("ok{f}")
        };
        std::fs::write(
            day.join(format!(
                "111122223333_CloudTrail_us-east-1_20240501T1000Z_{name}.json.gz"
            )),
            gz(format!("{{\"Records\":[{}]}}", recs.join(",")).as_bytes()),
        )
        .unwrap();
        if f != 3 {
            want.extend(ids);
        }
    }
    let out = irprep()
        .env("IRPREP_FAULT_PANIC_ON", "BOOM")
        .args([
            "query",
            "--format",
            "csv",
            "--logs",
            tmp.path().to_str().unwrap(),
            "SELECT eventid FROM cloudtrail ORDER BY eventid",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let got: Vec<&str> = std::str::from_utf8(&out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .collect();
    assert_eq!(got, want, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("BOOM") && l.contains("the reader failed on this file")),
        "{stderr}"
    );
}
