//! The `irprep` binary: bad input, exit codes, output formats, datasets,
//! partition pruning, completions.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn event(id: &str, name: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","eventID":"{id}","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}}}}"#
    )
}

fn delivery(events: &[String]) -> String {
    format!("{{\"Records\":[{}]}}", events.join(","))
}

/// A directory with one good file and one of each kind of bad input.
fn corrupt_corpus(dir: &Path) {
    let good = delivery(&[event("good-1", "ListUsers"), event("good-2", "CreateUser")]);
    std::fs::write(dir.join("good.json"), &good).unwrap();
    let full = gz(delivery(&[event("trunc-1", "X")]).as_bytes());
    std::fs::write(dir.join("truncated.json.gz"), &full[..full.len() - 12]).unwrap();
    std::fs::write(
        dir.join("invalid.json"),
        "{\"Records\":[{\"eventName\": \"A\", }",
    )
    .unwrap();
    std::fs::write(
        dir.join("wrong-shape.json"),
        delivery(&["42".into(), event("shape-ok", "Y")]),
    )
    .unwrap();
    // A non-UTF-8 byte inside the second record's eventID (a value the query reads).
    let mut bad = delivery(&[event("utf-ok", "Z"), event("utf-bad", "Z")]).into_bytes();
    let pos = bad.windows(7).position(|w| w == b"utf-bad").unwrap() + 3;
    bad.insert(pos, 0xff);
    std::fs::write(dir.join("non-utf8.json"), bad).unwrap();
    std::fs::write(dir.join("empty.json"), "").unwrap();
    // A record over 16 MiB.
    let huge = format!(
        r#"{{"eventName":"Huge","eventID":"huge","requestParameters":{{"blob":"{}"}}}}"#,
        "a".repeat(17 << 20)
    );
    std::fs::write(
        dir.join("huge.json"),
        delivery(&[huge, event("after-huge", "W")]),
    )
    .unwrap();
    let unreadable = dir.join("unreadable.json");
    std::fs::write(&unreadable, "{}").unwrap();
    // Not readable: a broken symlink (root ignores permissions).
    std::fs::remove_file(&unreadable).unwrap();
    std::os::unix::fs::symlink(dir.join("does-not-exist"), &unreadable).unwrap();
}

#[test]
fn corrupt_inputs_are_reported_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    corrupt_corpus(tmp.path());
    let out = irprep()
        .args(["query", "--format", "csv", "--logs"])
        .arg(tmp.path())
        .arg("SELECT eventid FROM cloudtrail ORDER BY eventid")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    // Everything readable is still queried.
    let ids: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(
        ids,
        vec!["after-huge", "good-1", "good-2", "shape-ok", "utf-ok"],
        "stderr: {stderr}"
    );
    for (file, what) in [
        ("truncated.json.gz", "gzip"),
        ("invalid.json", "byte"),
        ("wrong-shape.json", "record 0"),
        ("non-utf8.json", "record 1 at byte"),
        ("non-utf8.json", "invalid UTF-8"),
        ("empty.json", "empty file"),
        ("huge.json", "16 MiB"),
        ("unreadable.json", "broken symlink"),
    ] {
        assert!(
            stderr.lines().any(|l| l.contains(file) && l.contains(what)),
            "no report for {file} ({what}) in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"));
}

#[test]
fn strict_makes_bad_input_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    corrupt_corpus(tmp.path());
    let out = irprep()
        .args(["query", "--strict", "--logs"])
        .arg(tmp.path())
        .arg("SELECT count(*) FROM cloudtrail")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--strict"), "{stderr}");
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn exit_codes_and_formats() {
    // Usage error.
    let out = irprep()
        .args(["query", "--format", "xml", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = irprep()
        .args(["query", "--logs", "/nonexistent/path", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    // SQL error.
    let out = irprep()
        .args(["query", "--logs"])
        .arg(invictus())
        .arg("SELEC nonsense")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SQL"));
    // JSON, JSONL, CSV.
    let sql = "SELECT eventname, count(*) AS n FROM cloudtrail WHERE eventname IN ('CreateUser', 'DeleteUser') GROUP BY 1 ORDER BY 1";
    let out = irprep()
        .args(["query", "--format", "json", "--logs"])
        .arg(invictus())
        .arg(sql)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["eventname"], "CreateUser");
    assert!(v[0]["n"].is_i64());
    let out = irprep()
        .args(["query", "--format", "jsonl", "--logs"])
        .arg(invictus())
        .arg(sql)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let out = irprep()
        .args(["query", "--format", "csv", "--logs"])
        .arg(invictus())
        .arg(sql)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("eventname,n\n"));
    // Table by default, with a row count.
    let out = irprep()
        .args(["query", "--logs"])
        .arg(invictus())
        .arg(sql)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("(2 rows)"));
    // Schema.
    let out = irprep()
        .args(["query", "--schema", "--format", "jsonl"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text
        .lines()
        .any(|l| l.contains("\"date_partition\"") && l.contains("\"partition\":true")));
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn hunt_exit_codes_and_jsonl_contract() {
    let out = irprep()
        .args(["hunt", "--format", "jsonl", "--fail-on", "high", "--logs"])
        .arg(invictus())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut n = 0;
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        for k in [
            "detection_id",
            "title",
            "severity",
            "attack",
            "principal",
            "accounts",
            "regions",
            "first_seen",
            "last_seen",
            "event_count",
            "source_ips",
            "user_agents",
            "event_ids",
        ] {
            assert!(v.get(k).is_some(), "missing {k} in {l}");
        }
        assert_eq!(
            v["event_ids"].as_array().unwrap().len() as u64,
            v["event_count"].as_u64().unwrap()
        );
        n += 1;
    }
    assert!(n > 20);
    let out = irprep()
        .args(["hunt", "-q", "--min-severity", "critical", "--logs"])
        .arg(invictus())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn datasets_load_and_layout_prunes() {
    // Every shared dataset loads (digests are counted, not read).
    let out = irprep()
        .args(["query", "--format", "csv", "--logs"])
        .arg(invictus())
        .arg("--logs")
        .arg(otrf())
        .arg("--logs")
        .arg(datasets().join("elastic-integrations-aws-fixtures/cloudtrail"))
        .arg("SELECT count(*) AS n FROM cloudtrail")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().nth(1),
        Some("3003")
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 CloudTrail digest"));

    // A gzipped copy in the S3 layout: partitions from the keys; a filter on
    // them prunes files before reading (the pruned file is corrupt, and no
    // error is reported).
    let tmp = tempfile::tempdir().unwrap();
    let day = |d: &str| {
        tmp.path().join(format!(
            "cloudtrail/AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/{d}"
        ))
    };
    std::fs::create_dir_all(day("01")).unwrap();
    std::fs::create_dir_all(day("02")).unwrap();
    std::fs::write(
        day("01").join("a.json.gz"),
        gz(delivery(&[event("d1", "A")]).as_bytes()),
    )
    .unwrap();
    std::fs::write(day("02").join("b.json.gz"), b"\x1f\x8bnot really gzip").unwrap();
    let out = irprep()
        .args(["query", "--format", "csv", "--logs"])
        .arg(tmp.path())
        .arg("SELECT eventid, account_partition, region_partition, date_partition FROM cloudtrail WHERE date_partition = '2024/05/01'")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().nth(1),
        Some("d1,111122223333,eu-west-1,2024/05/01")
    );
    // --since prunes the same way.
    let out = irprep()
        .args([
            "query",
            "--since",
            "2024-05-02",
            "--format",
            "csv",
            "--logs",
        ])
        .arg(tmp.path())
        .arg("SELECT count(*) FROM cloudtrail")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "the corrupt day-2 file is read and reported"
    );
    // --until prunes the days after it, but a key's date is the day its
    // file was written, minutes after its events: the file of the day after
    // a midnight --until may hold the last minutes, so it is read (and here
    // reported corrupt); an --until an hour or more before midnight prunes
    // the next day.
    let until = |t: &str| {
        irprep()
            .args(["query", "--until", t, "--format", "csv", "--logs"])
            .arg(tmp.path())
            .arg("SELECT count(*) AS n FROM cloudtrail")
            .output()
            .unwrap()
    };
    let out = until("2024-05-02");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = until("2024-05-01T22:30:00Z");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn timeline_and_queries() {
    let out = irprep()
        .args(["timeline", "--format", "jsonl", "--principal", "arn:aws:sts::123837392027:assumed-role/stratus-red-team-ec2-steal-credentials-role/i-0dbc91f429e48eeed", "--logs"])
        .arg(invictus())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() >= 3);
    let times: Vec<&str> = rows
        .iter()
        .map(|r| r["eventtime"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert!(rows.iter().any(|r| r["source_ip"] == "192.168.10.20"));
    // --session matches the name literally: a wildcard matches nothing.
    let count = |session: &str| {
        let out = irprep()
            .args([
                "timeline",
                "--format",
                "jsonl",
                "--session",
                session,
                "--logs",
            ])
            .arg(invictus())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert!(count("i-0dbc91f429e48eeed") >= 3);
    assert_eq!(count("%"), 0);
    assert_eq!(count("i-0dbc91f429e48eee_"), 0);
    let out = irprep()
        .args(["queries", "list", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 12);
    assert!(v.as_array().unwrap().iter().all(|q| q["sql"]
        .as_str()
        .unwrap()
        .contains(q["table"].as_str().unwrap())));
}

#[test]
fn completions_and_help() {
    for shell in ["bash", "zsh", "fish"] {
        let out = irprep().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains("hunt"));
    }
    let out = irprep().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "query",
        "hunt",
        "detections",
        "timeline",
        "simulate",
        "drill",
        "completions",
    ] {
        assert!(text.contains(cmd), "{cmd} missing from --help");
    }
}

/// The invictus dataset gzipped into the S3 layout (as a bucket copied to disk).
pub fn invictus_as_bucket(dir: &Path) {
    let day = dir.join("AWSLogs/123837392027/CloudTrail/us-east-1/2023/07/10");
    std::fs::create_dir_all(&day).unwrap();
    for e in std::fs::read_dir(invictus()).unwrap() {
        let p = e.unwrap().path();
        let name = format!("{}.gz", p.file_name().unwrap().to_string_lossy());
        std::fs::write(day.join(name), gz(&std::fs::read(&p).unwrap())).unwrap();
    }
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn gzipped_bucket_copy_gives_the_same_answers() {
    let tmp = tempfile::tempdir().unwrap();
    invictus_as_bucket(tmp.path());
    let sql = "SELECT account_partition, region_partition, date_partition, eventname, count(*) AS n FROM cloudtrail GROUP BY 1, 2, 3, 4 ORDER BY n DESC, eventname LIMIT 15";
    let a = irprep()
        .args(["query", "--format", "csv", "--logs"])
        .arg(tmp.path())
        .arg(sql)
        .output()
        .unwrap();
    let b = irprep()
        .args(["query", "--format", "csv", "--logs"])
        .arg(invictus())
        .arg(sql)
        .output()
        .unwrap();
    assert_eq!(a.status.code(), Some(0));
    let (a, b) = (
        String::from_utf8_lossy(&a.stdout).to_string(),
        String::from_utf8_lossy(&b.stdout).to_string(),
    );
    // Same events and counts; the account partition comes from the key (which
    // names the account the records name too).
    assert_eq!(a, b);
    assert!(a
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("123837392027,us-east-1,2023/07/10,"));
}

#[test]
fn user_detections_run_fail_alone_or_are_skipped_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let det = |id: &str, source: &str, sql: &str| {
        format!("id: {id}\ntitle: {id}\nseverity: high\nattack: [T1562.008]\nsource: {source}\nsql: |\n  {sql}\n")
    };
    std::fs::write(
        tmp.path().join("ok.yaml"),
        det(
            "user.console-login",
            "cloudtrail",
            "SELECT eventid FROM cloudtrail WHERE eventname = 'ConsoleLogin'",
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("broken.yaml"),
        det(
            "user.broken",
            "cloudtrail",
            "SELECT eventid FROM cloudtrail WHERE no_such_column = 'x'",
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("elsewhere.yaml"),
        det("user.elsewhere", "route53", "SELECT 1"),
    )
    .unwrap();
    let fx = root().join("content/detections/fixtures/console-login-without-mfa.json");
    let events: Vec<String> = read_events(&fx)
        .iter()
        .filter(|e| e["eventName"] == "ConsoleLogin")
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect();
    assert!(!events.is_empty());

    // The working detection's findings are written; the broken one is
    // reported and makes the exit code 4; the unknown source is skipped.
    let out = irprep()
        .args([
            "hunt",
            "--format",
            "jsonl",
            "--only",
            "user.*",
            "--detections",
        ])
        .arg(tmp.path())
        .arg("--logs")
        .arg(&fx)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("detection user.broken failed"), "{err}");
    assert!(err.contains("unknown source 'route53'"), "{err}");
    let found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|f| f["detection_id"] == "user.console-login")
        .flat_map(|f| {
            f["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut want = events.clone();
    want.sort();
    let mut got = found.clone();
    got.sort();
    assert_eq!(got, want);

    // The listing says where each rule came from and why one was skipped.
    let out = irprep()
        .args(["detections", "list", "--format", "json", "--detections"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by_id = |id: &str| {
        list.iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
            .clone()
    };
    assert_eq!(by_id("user.console-login")["origin"], "user");
    assert_eq!(by_id("user.console-login")["status"], "loaded");
    let skipped = list
        .iter()
        .find(|d| d["status"] == "skipped" && d["origin"] == "user")
        .expect("the s3access rule is listed as skipped");
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("unknown source"),
        "{skipped}"
    );
}

/// Habits a newcomer brings: several paths after one --logs (a shell glob),
/// a query that starts with a comment, the query from a file or stdin.
#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn logs_take_several_values_and_queries_come_as_written() {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(invictus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (a, b) = (files[0].clone(), files[1].clone());
    let count = |args: &[&std::ffi::OsStr], stdin: Option<&str>| -> String {
        let mut c = irprep();
        c.args(args);
        if stdin.is_some() {
            c.stdin(std::process::Stdio::piped());
        }
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let sql = "SELECT count(*) AS n FROM cloudtrail";
    let both = count(
        &[
            &os("query"),
            &os("--format"),
            &os("csv"),
            &os("--logs"),
            a.as_os_str(),
            b.as_os_str(),
            &os(sql),
        ],
        None,
    );
    let repeated = count(
        &[
            &os("query"),
            &os("--format"),
            &os("csv"),
            &os("--logs"),
            a.as_os_str(),
            &os("--logs"),
            b.as_os_str(),
            &os(sql),
        ],
        None,
    );
    assert_eq!(both, repeated);
    let one = count(
        &[
            &os("query"),
            &os("--format"),
            &os("csv"),
            &os("--logs"),
            a.as_os_str(),
            &os(sql),
        ],
        None,
    );
    assert_ne!(one, both, "the second file is read too");
    let commented = format!("-- how many events\n{sql}");
    assert_eq!(
        count(
            &[
                &os("query"),
                &os("--format"),
                &os("csv"),
                &os("--logs"),
                a.as_os_str(),
                b.as_os_str(),
                &os(&commented)
            ],
            None
        ),
        both
    );
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("q.sql");
    std::fs::write(&f, &commented).unwrap();
    assert_eq!(
        count(
            &[
                &os("query"),
                &os("--format"),
                &os("csv"),
                &os("--file"),
                f.as_os_str(),
                &os("--logs"),
                a.as_os_str(),
                b.as_os_str()
            ],
            None
        ),
        both
    );
    assert_eq!(
        count(
            &[
                &os("query"),
                &os("--format"),
                &os("csv"),
                &os("--file"),
                &os("-"),
                &os("--logs"),
                a.as_os_str(),
                b.as_os_str()
            ],
            Some(&commented)
        ),
        both
    );
    // No query at all: the error says where it goes.
    let out = irprep()
        .arg("query")
        .arg("--logs")
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("put the query last"));
}

/// `detections coverage`: every technique a built-in detection, a Sigma rule
/// (`--sigma`) or a scenario names is listed with it, a technique counts as
/// covered through its sub-techniques, and `--gaps` lists only the blind
/// spots.
#[test]
fn detections_coverage_lists_what_names_each_technique() {
    let run = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = irprep()
            .args(["detections", "coverage", "--format", "json", "--sigma"])
            .arg(root().join("tests/fixtures/sigma-correlation"))
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let rows = run(&[]);
    let row = |t: &str| {
        rows.iter()
            .find(|r| r["technique"] == t)
            .unwrap_or_else(|| panic!("{t} not listed"))
            .clone()
    };
    let names = |r: &serde_json::Value, k: &str| -> Vec<String> {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let cat = irprep_core::detect::Catalogue::builtin();
    for d in &cat.detections {
        for a in &d.attack {
            assert!(
                names(&row(a), "detections").contains(&d.id),
                "{a}: {}",
                d.id
            );
            assert_eq!(row(a)["covered"], true);
        }
    }
    for s in irprep_core::scenario::builtin().unwrap() {
        for a in &s.attack {
            assert!(names(&row(a), "scenarios").contains(&s.id), "{a}: {}", s.id);
        }
    }
    // The Sigma correlation fixture tags T1110 and T1562.008.
    assert!(names(&row("T1110"), "sigma")
        .contains(&"sigma.5d0f3f7e-6c1a-4b8e-9a51-2f0c7d3e1a01".to_string()));
    // T1562 is covered through T1562.008 even if no rule names T1562 itself.
    assert_eq!(row("T1562")["covered"], true);
    let gaps = run(&["--gaps"]);
    assert!(!gaps.is_empty());
    assert!(gaps.iter().all(|r| r["covered"] == false
        && names(r, "detections").is_empty()
        && names(r, "sigma").is_empty()
        && names(r, "scenarios").is_empty()));
    assert!(gaps.len() < rows.len());
    // The table ends with the count.
    let out = irprep().args(["detections", "coverage"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .last()
            .unwrap_or("")
            .contains("IaaS techniques and sub-techniques covered"),
        "{text}"
    );
}

/// Every CloudFormation template irprep prints passes AWS's own linter
/// (cfn-lint: resource types, properties, their types and values): the
/// Athena deployment with every table, and the member-account role. A
/// template past the 51,200 bytes CloudFormation takes inline says how to
/// deploy it from S3. cfn-lint is seen to catch a broken template.
#[test]
#[cfg_attr(
    not(irprep_python),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn cloudformation_templates_pass_cfn_lint() {
    let tmp = tempfile::tempdir().unwrap();
    let analytics = tmp.path().join("analytics.json");
    let mut args: Vec<String> = [
        "analytics",
        "cfn",
        "--cloudtrail",
        "s3://logs/AWSLogs/",
        "--vpcflow",
        "s3://logs/AWSLogs/",
        "--dns",
        "s3://logs/AWSLogs/",
        "--accounts",
        "111122223333",
        "--regions",
        "us-east-1",
        "--vpcs",
        "vpc-0a1b2c3d",
        "--names",
        "web-acl-1,prod-1",
        "--results",
        "s3://athena-results/irprep/",
        "--bytes-scanned-cutoff",
        "10000000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for t in [
        "s3access",
        "alb",
        "nlb",
        "clb",
        "waf",
        "guardduty",
        "eks_audit",
    ] {
        args.push("--table-location".into());
        args.push(format!("{t}=s3://logs-{}/AWSLogs/", t.replace('_', "-")));
    }
    let out = irprep()
        .args(&args)
        .arg("-o")
        .arg(&analytics)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let size = std::fs::metadata(&analytics).unwrap().len();
    assert!(size > 51_200, "{size}");
    assert!(
        err.contains("over the 51200 bytes CloudFormation takes inline")
            && err.contains("aws cloudformation deploy --template-file"),
        "{err}"
    );
    let role = tmp.path().join("role.json");
    let r = irprep().args(["logs", "role-template"]).output().unwrap();
    assert!(r.status.success());
    std::fs::write(&role, &r.stdout).unwrap();
    let lint = |paths: &[&std::path::Path]| {
        Command::new(python())
            .args([
                "-c",
                "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())",
                "--format",
                "parseable",
            ])
            .args(paths)
            .output()
            .unwrap()
    };
    let l = lint(&[&analytics, &role]);
    assert!(
        l.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&l.stdout),
        String::from_utf8_lossy(&l.stderr)
    );
    // A broken template is caught: a Glue table without its database.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&analytics).unwrap()).unwrap();
    let res = doc["Resources"].as_object_mut().unwrap();
    let table = res
        .values_mut()
        .find(|r| r["Type"] == "AWS::Glue::Table")
        .unwrap();
    table["Properties"]
        .as_object_mut()
        .unwrap()
        .remove("DatabaseName");
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, doc.to_string()).unwrap();
    let l = lint(&[&broken]);
    assert!(
        !l.status.success(),
        "cfn-lint let a table without a database through"
    );
    assert!(String::from_utf8_lossy(&l.stdout).contains("DatabaseName"));
}

/// Every IAM policy irprep prints (`iam-policy <command>`, the member-account
/// role) as AWS's service authorization reference sees it (parliament):
/// every action exists, takes the resources it is granted on, and no
/// finding above LOW stands unless tests/reference/iam-findings-explained.json
/// gives the reason. A policy with a misspelt action is seen to fail.
#[test]
#[cfg_attr(
    not(irprep_python),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn iam_policies_pass_parliament() {
    let tmp = tempfile::tempdir().unwrap();
    let commands: Vec<String> = irprep_aws::logs::iam::commands()
        .into_iter()
        .map(|(c, _)| c.to_string())
        .collect();
    assert!(commands.len() >= 10, "{commands:?}");
    let mut args = vec![];
    for c in &commands {
        let out = irprep().args(["iam-policy", c]).output().unwrap();
        assert!(out.status.success());
        let path = tmp.path().join(format!("{c}.json"));
        std::fs::write(&path, &out.stdout).unwrap();
        args.push(format!("{c}={}", path.display()));
    }
    let role = tmp.path().join("role.json");
    std::fs::write(
        &role,
        irprep()
            .args(["logs", "role-template"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    args.push(format!("role={}", role.display()));
    let lint = |args: &[String]| {
        Command::new(python())
            .arg(root().join("tests/reference/iam_lint.py"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = lint(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("\"fails\": true"), "{text}");
    let broken = tmp.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObjekt"],"Resource":"*"}]}"#,
    )
    .unwrap();
    let out = lint(&[format!("broken={}", broken.display())]);
    assert!(!out.status.success(), "a misspelt action passed");
    assert!(String::from_utf8_lossy(&out.stdout).contains("UNKNOWN_ACTION"));
}
