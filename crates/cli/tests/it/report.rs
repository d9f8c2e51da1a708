//! Incidents and the HTML report: the Invictus attacker's findings form one
//! incident that the benign analyst's do not join; the report, opened in
//! Debian's headless Chromium, loads without a console message, holds what
//! the JSON holds, and shows planted markup and URLs as inert text.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::common::*;

fn hunt_json(args: &[&str]) -> serde_json::Value {
    let out = irprep()
        .args(["hunt", "-q", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[cfg_attr(not(irprep_datasets), ignore = "needs ../shared/datasets")]
fn invictus_attacker_is_one_incident_and_the_analyst_is_not_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("invictus.html");
    let doc = hunt_json(&[
        "--logs",
        invictus().to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]);
    let findings = doc["findings"].as_array().unwrap();
    let incidents = doc["incidents"].as_array().unwrap();
    let malicious: BTreeSet<String> = invictus_labels()
        .into_iter()
        .filter(|l| l.1 == "malicious")
        .map(|l| l.0)
        .collect();
    // The findings whose evidence holds an attack event.
    let attack: BTreeSet<usize> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| malicious.contains(e.as_str().unwrap()))
        })
        .map(|(i, _)| i)
        .collect();
    assert!(attack.len() >= 20, "{} attack findings", attack.len());
    let members = |inc: &serde_json::Value| -> BTreeSet<usize> {
        inc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["index"].as_u64().unwrap() as usize)
            .collect()
    };
    let holding: Vec<&serde_json::Value> = incidents
        .iter()
        .filter(|i| !members(i).is_disjoint(&attack))
        .collect();
    assert_eq!(
        holding.len(),
        1,
        "the attack's findings are spread over {:#?}",
        holding.iter().map(|i| &i["title"]).collect::<Vec<_>>()
    );
    let one = holding[0];
    assert!(attack.is_subset(&members(one)));
    assert_eq!(one["id"], "INC-1");
    assert_eq!(one["severity"], "critical");
    assert_eq!(one["kill_chain"], true);
    // The stolen instance credentials (used from the attacker's host, with
    // no tool marker) and the sessions the attacker opened are in it, each
    // with the reason.
    let principals: Vec<&str> = one["principals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(principals
        .iter()
        .any(|p| p.contains("ec2-steal-credentials-role")));
    let links: Vec<(&str, &str)> = one["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["value"].as_str().unwrap()))
        .collect();
    assert!(links.iter().any(|(k, v)| *k == "issued_by"
        && v.ends_with("issued by arn:aws:iam::123837392027:user/bert-jan")));
    assert!(links.contains(&("source_ip", "192.168.10.20")));
    // The analyst's findings are in no incident with the attacker's.
    for (i, f) in findings.iter().enumerate() {
        if f["principal"].as_str().unwrap().ends_with("user/benjamin") {
            assert!(!members(one).contains(&i), "{f}");
        }
    }
    assert!(principals.iter().all(|p| !p.ends_with("user/benjamin")));
    // The summary is generated from the facts.
    let summary = one["summary"].as_str().unwrap();
    assert!(summary.starts_with("user/bert-jan"), "{summary}");
    assert!(summary.contains("kill-chain progression"), "{summary}");
    // The report shows it, with its findings, and what the logs covered.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(&format!(
        "<article class=\"incident\" id=\"INC-1\" data-findings=\"{}\"",
        members(one).len()
    )));
    assert_eq!(
        page.matches("<article class=\"incident\"").count(),
        incidents.len()
    );
    assert!(page.contains("id=\"coverage\" data-events=\"2900\""));
    // JSONL keeps one finding per line, with the same fields.
    let out = irprep()
        .args(["hunt", "-q", "--format", "jsonl", "--logs"])
        .arg(invictus())
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), findings.len());
    assert_eq!(lines[0], findings[0]);
}

/// Planted markup: in the user agent, the principal and a request parameter.
const AGENT: &str = "<script>document.title='pwned'</script>\"><img src=x onerror=alert(1)>";
const ACTOR: &str = "arn:aws:iam::111122223333:user/<svg/onload=alert(2)>";
const URL: &str = "javascript:alert(document.domain)";

/// Positive fixtures of four detections, replayed as one hostile actor a
/// few minutes apart (each fixture's own spacing kept).
fn hostile_trail(dir: &Path) -> std::path::PathBuf {
    let fixtures = root().join("content/detections/fixtures");
    let mut records = vec![];
    let base = chrono::DateTime::parse_from_rfc3339("2024-06-01T10:00:00Z").unwrap();
    for (k, name) in [
        "discovery-burst-many-services",
        "admin-policy-attached",
        "config-recording-stopped",
        "s3-bucket-acl-public",
    ]
    .iter()
    .enumerate()
    {
        let text = std::fs::read_to_string(fixtures.join(format!("{name}.json"))).unwrap();
        let recs: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(mut o)) => match o.remove("Records") {
                Some(serde_json::Value::Array(a)) => a,
                _ => panic!("{name}: no Records"),
            },
            Ok(serde_json::Value::Array(a)) => a,
            _ => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        };
        let t0 = recs
            .iter()
            .filter_map(|r| r["eventTime"].as_str())
            .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .min()
            .unwrap();
        for mut r in recs {
            let t = chrono::DateTime::parse_from_rfc3339(r["eventTime"].as_str().unwrap()).unwrap();
            let at = base + chrono::Duration::minutes(10 * k as i64) + (t - t0);
            r["eventTime"] = at.format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
            r["userAgent"] = AGENT.into();
            r["sourceIPAddress"] = "203.0.113.66".into();
            r["recipientAccountId"] = "111122223333".into();
            r["userIdentity"] = serde_json::json!({
                "type": "IAMUser", "arn": ACTOR, "accountId": "111122223333",
                "accessKeyId": "AKIAHOSTILEEXAMPLE01", "userName": "x"
            });
            if let Some(p) = r["requestParameters"].as_object_mut() {
                p.insert("irprepNote".into(), URL.into());
            }
            records.push(r);
        }
    }
    let f = dir.join("hostile.json");
    std::fs::write(
        &f,
        serde_json::to_string(&serde_json::json!({ "Records": records })).unwrap(),
    )
    .unwrap();
    f
}

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let bin = std::env::var("IRPREP_TEST_CHROMIUM")
        .expect("IRPREP_TEST_CHROMIUM is not set: run the suite with scripts/test.sh");
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
#[cfg_attr(
    not(irprep_browser),
    ignore = "needs Debian's chromium (IRPREP_TEST_CHROMIUM)"
)]
fn the_report_loads_clean_in_chromium_holds_the_json_and_planted_markup_is_inert() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = hostile_trail(tmp.path());
    let html = tmp.path().join("report.html");
    let doc = hunt_json(&[
        "--logs",
        trail.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]);
    let findings = doc["findings"].as_array().unwrap();
    let incidents = doc["incidents"].as_array().unwrap();
    assert!(findings.len() >= 4, "{doc:#}");
    assert_eq!(incidents.len(), 1, "{doc:#}");
    assert!(!doc["evidence"].as_object().unwrap().is_empty());
    assert!(doc["coverage"]["events"].as_u64().unwrap() > 30);
    // The page itself: no script, no external reference of any kind.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("<script"), "the page carries a script");
    for bad in [
        "<link",
        "<iframe",
        "<object",
        "<embed",
        "src=\"",
        "href=\"http",
        "@import",
        "url(",
    ] {
        let n = page.matches(bad).count();
        assert_eq!(n, 0, "{bad} in the page");
    }
    // Loaded in Chromium: no console message (a CSP violation would be one).
    let url = format!("file://{}", html.display());
    let profile = tmp.path().join("profile");
    let out = chromium(&["--dump-dom", &url], &profile);
    let console: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let dom = String::from_utf8(out.stdout).unwrap();
    // The DOM holds what the JSON holds.
    assert!(dom.contains(&format!(
        "id=\"summary\" data-findings=\"{}\" data-incidents=\"{}\"",
        findings.len(),
        incidents.len()
    )));
    assert_eq!(
        dom.matches("<article class=\"incident\"").count(),
        incidents.len()
    );
    let inc = &incidents[0];
    assert!(dom.contains(&format!(
        "id=\"{}\" data-findings=\"{}\" data-events=\"{}\"",
        inc["id"].as_str().unwrap(),
        inc["findings"].as_array().unwrap().len(),
        inc["event_count"]
    )));
    for f in findings {
        let id = f["detection_id"].as_str().unwrap();
        assert!(dom.contains(&format!("data-detection=\"{id}\"")), "{id}");
    }
    // The matrix colours what fired.
    for t in findings
        .iter()
        .flat_map(|f| f["attack"].as_array().unwrap())
    {
        let t = t.as_str().unwrap();
        let parent = t.split('.').next().unwrap();
        assert!(
            dom.contains(&format!("class=\"t fired\" data-technique=\"{parent}\"")),
            "{t} not shown as fired"
        );
    }
    // Planted markup: text, never elements; the title is the page's own.
    assert!(dom.contains("<title>irprep report</title>"));
    assert!(!dom.contains("<script"));
    assert!(!dom.contains("<img"));
    assert!(!dom.contains("<svg/onload"));
    assert!(!dom.to_lowercase().contains("<a href=\"javascript"));
    assert!(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;\"&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(dom.contains("user/&lt;svg/onload=alert(2)&gt;"));
    assert!(dom.contains(URL));
    // Screenshots, for a look (kept beside the build).
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, size) in [
        ("report-top.png", "1400,1600"),
        ("report-full.png", "1400,6000"),
    ] {
        let png = shots.join(name);
        let _ = std::fs::remove_file(&png);
        chromium(
            &[
                &format!("--screenshot={}", png.display()),
                &format!("--window-size={size}"),
                "--hide-scrollbars",
                &url,
            ],
            &profile,
        );
        let len = std::fs::metadata(&png).unwrap().len();
        assert!(len > 20_000, "{name}: {len} bytes");
    }
}

#[test]
fn report_from_files_and_its_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    // From a drill's JSON alone: the matrix shows what it validated.
    let drill = tmp.path().join("drill.json");
    let out = irprep()
        .args([
            "drill",
            "-q",
            "--scenario",
            "cloudtrail-stop",
            "--background",
            "500",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&drill, &out.stdout).unwrap();
    let html = tmp.path().join("d.html");
    let out = irprep()
        .args(["report", "-q", "--drill"])
        .arg(&drill)
        .arg("-o")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"drill\" data-detected=\"1\" data-total=\"1\""));
    assert!(
        page.contains("class=\"t validated\" data-technique=\"T1562\""),
        "T1562 not validated"
    );
    // drill --report FILE.html writes the same page.
    let html2 = tmp.path().join("d2.html");
    let out = irprep()
        .args([
            "drill",
            "-q",
            "--scenario",
            "cloudtrail-stop",
            "--background",
            "500",
            "--report",
        ])
        .arg(&html2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(&html2)
        .unwrap()
        .contains("class=\"t validated\""));
    // Nothing to report, or not a hunt's JSON: usage errors naming the file.
    let out = irprep().args(["report", "-o"]).arg(&html).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "[1, 2]").unwrap();
    let out = irprep()
        .args(["report", "--hunt"])
        .arg(&bad)
        .arg("-o")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json") && err.contains("irprep hunt --format json"),
        "{err}"
    );
}
