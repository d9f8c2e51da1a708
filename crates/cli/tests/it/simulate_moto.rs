//! Every scenario against moto_server: what irprep really sent (the
//! emulator's request recorder) is safe, the estate is unchanged wherever the
//! emulator honours DryRun, and the manifests list the calls and events.
//! Also: `simulate verify --logs` and S3 as a log source, on moto's S3.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::common::*;
use irprep_core::scenario::{self, Safety, READ_ONLY_PREFIXES};
use serde_json::Value;

fn estate(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(root().join("tests/emulator/estate.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "estate.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), urlish_decode(v)))
        .collect()
}

fn urlish_decode(s: &str) -> String {
    let b = s.replace('+', " ");
    let bytes = b.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&b[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            for part in s.split(['/', '?', '&', '=', ',', '"', ':']) {
                out.push(part.to_string());
            }
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// Operations moto performs despite DryRun=true, or lets succeed on names that
/// cannot exist (its quirks, see ../shared/reference/feasibility.md), and the
/// estate keys they may touch there.
const EMULATOR_QUIRKS: &[(&str, &[&str])] = &[
    ("CreateVpc", &["vpcs", "security_groups"]),
    ("CreateSecurityGroup", &["security_groups"]),
    ("AuthorizeSecurityGroupIngress", &["security_groups"]),
    ("ModifyInstanceAttribute", &["user_data"]),
    ("SendCommand", &["ssm_commands"]),
    ("DeleteTrail", &[]),
    ("DeleteDetector", &[]),
    ("StopLogging", &[]),
];

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn every_scenario_is_safe_on_the_emulator() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    let url = moto();
    reset(&url);
    estate(&["seed", &url]);
    let before: Value = serde_json::from_str(&estate(&["snapshot", &url])).unwrap();
    let before_text = before.to_string();
    estate(&["recording", &url, "reset"]);
    estate(&["recording", &url, "start"]);
    let all = scenario::builtin().unwrap();
    let ids: Vec<String> = all.iter().map(|s| s.id.clone()).collect();
    let out_dir = tempfile::tempdir().unwrap();
    let out = irprep()
        .args([
            "simulate",
            "run",
            "--yes",
            "--keep-going",
            "--format",
            "json",
            "--region",
            "us-east-1",
            "--regions",
            "us-east-1,us-west-2",
            "--endpoint-url",
            &url,
            "--out",
        ])
        .arg(out_dir.path())
        .args(&ids)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    estate(&["recording", &url, "stop"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(matches!(out.status.code(), Some(0) | Some(4)), "{stderr}");
    let manifests: Vec<Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(manifests.len(), all.len());
    // Before any call: the warning that the rehearsal may page a SOC, with
    // the marker that tells it apart (review 4.6).
    let marker = manifests[0]["marker"].as_str().unwrap();
    let warned = stderr
        .lines()
        .find(|l| l.contains("may raise findings and page someone"))
        .unwrap_or_else(|| panic!("no SOC warning: {stderr}"));
    assert!(warned.contains(marker), "{warned}");
    let after: Value = serde_json::from_str(&estate(&["snapshot", &url])).unwrap();
    let recorded = estate(&["recording", &url, "download"]);
    let recording: Vec<Value> = recorded
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    // 0. AWS's own models (botocore's service-2.json) on what was sent: each
    //    request is an operation of its service, in the model's protocol,
    //    with parameters its input shape accepts (names, types, required
    //    members, enums, lengths, patterns), no header twice, and the
    //    checksum header where the model requires one.
    let rec_path = out_dir.path().join("recording.jsonl");
    std::fs::write(&rec_path, &recorded).unwrap();
    let check = Command::new(python())
        .arg(root().join("tests/reference/botocore_requests.py"))
        .arg(&rec_path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(
        check.status.success(),
        "requests the service models reject:\n{report}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    println!("botocore models: {}", report.trim());

    // 1. What irprep sent, from the recording.
    let ours: Vec<&Value> = recording
        .iter()
        .filter(|r| {
            r["headers"]["User-Agent"]
                .as_str()
                .unwrap_or("")
                .contains("irprep-sim/")
        })
        .collect();
    let total_calls: usize = manifests
        .iter()
        .map(|m| m["calls"].as_array().unwrap().len())
        .sum();
    assert!(
        ours.len() >= total_calls,
        "recorded {} requests for {total_calls} calls",
        ours.len()
    );
    let mut ec2_mutating = 0;
    let mut problems = vec![];
    for r in &ours {
        let body = r["body"].as_str().unwrap_or("");
        let target = r["headers"]["X-Amz-Target"].as_str().unwrap_or("");
        let f = form(body);
        let auth = r["headers"]["Authorization"].as_str().unwrap_or("");
        let service = auth.split('/').nth(3).unwrap_or("");
        let action = if let Some(a) = f.get("Action") {
            a.clone()
        } else {
            target.rsplit('.').next().unwrap_or("").to_string()
        };
        if service == "ec2" {
            let read = READ_ONLY_PREFIXES.iter().any(|p| action.starts_with(p));
            if !read {
                ec2_mutating += 1;
                if f.get("DryRun").map(String::as_str) != Some("true") {
                    problems.push(format!("EC2 {action} sent without DryRun=true"));
                }
            }
        }
    }
    assert!(
        ec2_mutating >= 10,
        "only {ec2_mutating} mutating EC2 calls recorded"
    );

    // 2. Every call is one its scenario declares, and harmless failures name
    //    resources the estate does not have.
    let mut violations_ops = BTreeSet::new();
    for (m, s) in manifests.iter().zip(&all) {
        assert_eq!(m["scenario"], s.id.as_str());
        let calls = m["calls"].as_array().unwrap();
        assert!(!calls.is_empty(), "{}: no calls", s.id);
        assert_eq!(
            calls.len(),
            m["expected_events"].as_array().unwrap().len(),
            "{}",
            s.id
        );
        for c in calls {
            let step = &s.steps[c["step"].as_u64().unwrap() as usize - 1];
            assert_eq!(c["operation"], step.operation.as_str());
            assert_eq!(c["service"], step.service.as_str());
            assert!(c["http_status"].as_u64().unwrap() > 0);
            match step.safety {
                Safety::DryRun => assert_eq!(c["params"]["DryRun"], "true", "{}: {c}", s.id),
                Safety::HarmlessFailure => {
                    let mut vals = vec![];
                    strings(&c["params"], &mut vals);
                    let novel = vals.iter().any(|v| {
                        v.len() >= 8
                            && !before_text.contains(v.as_str())
                            && v.chars().any(|ch| ch.is_ascii_digit() || ch == '-')
                    });
                    if !novel {
                        problems.push(format!(
                            "{}: {} names nothing absent from the estate: {}",
                            s.id, step.operation, c["params"]
                        ));
                    }
                }
                Safety::ReadOnly => {}
            }
            // Recorded: an EC2 call with its DryRun flag.
            if step.service == "ec2" {
                let found = ours.iter().any(|r| {
                    let f = form(r["body"].as_str().unwrap_or(""));
                    f.get("Action").map(String::as_str) == Some(step.operation.as_str())
                        && (step.safety != Safety::DryRun
                            || f.get("DryRun").map(String::as_str) == Some("true"))
                });
                assert!(found, "{}: {} not in the recording", s.id, step.operation);
            }
            if c["outcome"] == "safety-violation" {
                violations_ops.insert(step.operation.clone());
            }
        }
        for e in m["expected_events"].as_array().unwrap() {
            assert!(e["event_source"]
                .as_str()
                .unwrap()
                .ends_with(".amazonaws.com"));
            assert!(!e["event_name"].as_str().unwrap().is_empty());
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // 3. The estate: unchanged, except where the emulator ignored DryRun (or
    //    let a call on a nonexistent name succeed), which the runner reported.
    for op in &violations_ops {
        assert!(
            EMULATOR_QUIRKS.iter().any(|(q, _)| q == op),
            "unexpected success of {op} (not a known emulator quirk)"
        );
    }
    let allowed: BTreeSet<&str> = EMULATOR_QUIRKS
        .iter()
        .filter(|(q, _)| violations_ops.contains(*q))
        .flat_map(|(_, keys)| keys.iter().copied())
        .collect();
    let mut changed = vec![];
    for (k, v) in before.as_object().unwrap() {
        match v {
            Value::Object(region) => {
                for (rk, rv) in region {
                    if after[k][rk] != *rv && !allowed.contains(rk.as_str()) {
                        changed.push(format!("{k}.{rk}: {rv} -> {}", after[k][rk]));
                    }
                }
            }
            other => {
                if after[k] != *other {
                    changed.push(format!("{k}: {other} -> {}", after[k]));
                }
            }
        }
    }
    println!("{} requests recorded, {ec2_mutating} mutating EC2 calls all with DryRun=true; emulator quirks seen: {violations_ops:?}", ours.len());
    assert!(
        changed.is_empty(),
        "the estate changed:\n{}",
        changed.join("\n")
    );
}

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn verify_and_query_on_emulator_s3() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    let url = moto();
    // A manifest from a real run (one scenario), then the events AWS would
    // deliver for it, uploaded to the emulator's S3 in the CloudTrail layout.
    let out_dir = tempfile::tempdir().unwrap();
    let out = irprep()
        .args([
            "simulate",
            "run",
            "--yes",
            "--format",
            "json",
            "--region",
            "us-east-1",
            "--regions",
            "us-east-1",
            "--endpoint-url",
            &url,
            "--out",
        ])
        .arg(out_dir.path())
        .arg("iam-persistence")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifests: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let m = &manifests[0];
    let marker = m["marker"].as_str().unwrap();
    let expected = m["expected_events"].as_array().unwrap();
    // Deliver all but the last expected event.
    let records: Vec<Value> = expected[..expected.len() - 1]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::json!({
                "eventVersion": "1.09", "eventTime": "2026-01-05T10:00:00Z",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/moto", "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLE", "userName": "moto"},
                "eventSource": e["event_source"], "eventName": e["event_name"], "awsRegion": e["region"], "errorCode": e["error_code"],
                "sourceIPAddress": "203.0.113.5", "userAgent": format!("irprep/0.1.0 {marker}"),
                "eventID": format!("00000000-0000-4000-8000-{i:012}"), "recipientAccountId": "123456789012"
            })
        })
        .collect();
    let body = serde_json::to_string(&serde_json::json!({"Records": records})).unwrap();
    let key = "trail/AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/05/123456789012_CloudTrail_us-east-1_20260105T1005Z_x.json.gz";
    let script = format!(
        "import boto3,gzip,sys\ns3=boto3.client('s3',endpoint_url='{url}',region_name='us-east-1',aws_access_key_id='testing',aws_secret_access_key='testing')\n\
         s3.create_bucket(Bucket='verify-trail')\ns3.put_object(Bucket='verify-trail',Key='{key}',Body=gzip.compress(sys.stdin.buffer.read()))\n\
         s3.put_object(Bucket='verify-trail',Key='trail/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/01/05/d.json.gz',Body=gzip.compress(b'{{}}'))\n"
    );
    let mut child = Command::new(python())
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let manifest_path = std::fs::read_dir(out_dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = irprep()
        .args([
            "simulate",
            "verify",
            "--format",
            "json",
            "--endpoint-url",
            &url,
            "--region",
            "us-east-1",
            "--logs",
            "s3://verify-trail/trail/",
        ])
        .arg(&manifest_path)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "one event is missing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.len(), expected.len());
    assert_eq!(
        v.iter().filter(|x| x["seen"] == true).count(),
        expected.len() - 1
    );
    assert_eq!(v.last().unwrap()["seen"], false);

    // The same bucket as a query source, with partitions from the keys.
    let out = irprep()
        .args(["query", "--format", "csv", "--endpoint-url", &url, "--region", "us-east-1", "--logs", "s3://verify-trail/trail/"])
        .arg("SELECT count(*) AS n, max(account_partition) AS a, max(date_partition) AS d FROM cloudtrail WHERE date_partition = '2026/01/05'")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap(),
        format!("{},123456789012,2026/01/05", expected.len() - 1)
    );
}

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python, irprep_datasets)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON), ../shared/datasets; see tests/it/main.rs"
)]
fn invictus_on_emulator_s3() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    let url = moto();
    // The dataset gzipped into the CloudTrail layout of a bucket on the emulator.
    let script = format!(
        "import boto3,gzip,os,sys\ns3=boto3.client('s3',endpoint_url='{url}',region_name='us-east-1',aws_access_key_id='testing',aws_secret_access_key='testing')\n\
         s3.create_bucket(Bucket='invictus-trail')\nd=sys.argv[1]\n\
         for f in sorted(os.listdir(d)):\n    s3.put_object(Bucket='invictus-trail',Key='cloudtrail/AWSLogs/123837392027/CloudTrail/us-east-1/2023/07/10/'+f+'.gz',Body=gzip.compress(open(os.path.join(d,f),'rb').read()))\n"
    );
    let out = Command::new(python())
        .args(["-c", &script])
        .arg(invictus())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = "SELECT eventname, count(*) AS n FROM cloudtrail WHERE date_partition = '2023/07/10' GROUP BY 1 ORDER BY n DESC, eventname LIMIT 10";
    let remote = irprep()
        .args([
            "query",
            "--format",
            "csv",
            "--endpoint-url",
            &url,
            "--region",
            "us-east-1",
            "--logs",
            "s3://invictus-trail/cloudtrail/",
        ])
        .arg(sql)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert_eq!(
        remote.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let local = irprep()
        .args(["query", "--format", "csv", "--logs"])
        .arg(invictus())
        .arg(sql)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&remote.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
    let count = irprep()
        .args([
            "query",
            "--format",
            "csv",
            "--endpoint-url",
            &url,
            "--region",
            "us-east-1",
            "--logs",
            "s3://invictus-trail/cloudtrail/",
            "SELECT count(*) FROM cloudtrail",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).lines().nth(1),
        Some("2900")
    );
}

/// `simulate verify` without --logs asks CloudTrail LookupEvents, which the
/// emulator lacks: a small local responder stands in for that API alone,
/// answering as AWS documents it (JSON 1.1, `Events[].CloudTrailEvent`,
/// `NextToken`, and `ThrottlingException` past two requests a second). The
/// verifier must filter by the run's access key, pace itself, and retry
/// when throttled instead of giving up; what it sends must pass CloudTrail's
/// botocore model.
#[test]
#[cfg_attr(
    not(irprep_python),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON) for the service-model check; see tests/it/main.rs"
)]
fn verify_asks_lookup_events_politely() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let marker = "irprep-sim/20240101000000-abcdef";
    let event = |name: &str| {
        serde_json::json!({
            "EventId": name, "EventName": name,
            "CloudTrailEvent": serde_json::json!({
                "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
                "eventTime": "2024-01-01T00:00:10Z", "userAgent": format!("irprep/0.1 {marker}"),
                "errorCode": "NoSuchEntity"
            }).to_string()
        })
    };
    let pages = vec![
        // The first request is throttled, as a busy account's would be.
        (
            400,
            serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        ),
        (
            200,
            serde_json::json!({"Events": [event("GetUser")], "NextToken": "p2"}),
        ),
        (200, serde_json::json!({"Events": [event("DeleteUser")]})),
    ];
    let server = std::thread::spawn(move || {
        let mut seen: Vec<(std::time::Instant, serde_json::Value)> = vec![];
        // Each request as moto's recorder writes one (method, url, headers,
        // body; a header sent twice is recorded as its values joined by
        // ", "), for the service-model check below.
        let mut recorded: Vec<serde_json::Value> = vec![];
        for (status, body) in pages {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            let mut request_line = String::new();
            r.read_line(&mut request_line).unwrap();
            let mut headers = serde_json::Map::new();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    let v = v.trim().to_string();
                    let joined = match headers.get(k).and_then(|o| o.as_str()) {
                        Some(old) => format!("{old}, {v}"),
                        None => v,
                    };
                    headers.insert(k.to_string(), joined.into());
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut req = vec![0u8; len];
            r.read_exact(&mut req).unwrap();
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
            recorded.push(serde_json::json!({
                "method": method,
                "url": format!("http://127.0.0.1{target}"),
                "headers": headers,
                "body": String::from_utf8_lossy(&req),
            }));
            seen.push((
                std::time::Instant::now(),
                serde_json::from_slice(&req).unwrap(),
            ));
            let body = body.to_string();
            write!(
                s,
                "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: r\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
        (seen, recorded)
    });
    let manifest = serde_json::json!({
        "run_id": "20240101000000-abcdef", "marker": marker, "scenario": "iam-credentials",
        "account": "123456789012", "regions": ["us-east-1"],
        "started": "2024-01-01T00:00:00Z", "ended": "2024-01-01T00:01:00Z", "calls": [],
        "expected_events": [
            {"event_source": "iam.amazonaws.com", "event_name": "GetUser", "error_code": "NoSuchEntity",
             "region": "us-east-1", "call_time": "2024-01-01T00:00:10Z", "request_id": null},
            {"event_source": "iam.amazonaws.com", "event_name": "DeleteUser", "error_code": "NoSuchEntity",
             "region": "us-east-1", "call_time": "2024-01-01T00:00:10Z", "request_id": null}
        ],
        "safety_violations": [], "access_key_id": "AKIARUNKEY"
    });
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    let out = irprep()
        .args([
            "simulate",
            "verify",
            "--format",
            "json",
            "--region",
            "us-east-1",
        ])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .arg(&path)
        .env("AWS_ACCESS_KEY_ID", "AKIAVERIFYKEY")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .unwrap();
    let (seen, recorded) = server.join().unwrap();
    // What verify sent, against CloudTrail's botocore model: LookupEvents in
    // the JSON protocol, its parameters valid (attribute keys from the
    // model's enum, MaxResults in range), no header twice.
    let rec = tmp.path().join("verify-recording.jsonl");
    let lines: Vec<String> = recorded.iter().map(|r| r.to_string()).collect();
    std::fs::write(&rec, lines.join("\n")).unwrap();
    let check = Command::new(python())
        .arg(root().join("tests/reference/botocore_requests.py"))
        .arg(&rec)
        .args(["--user-agent-marker", "irprep"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(
        check.status.success(),
        "LookupEvents requests the model rejects:\n{report}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(report.contains("3 requests checked"), "{report}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "both events found after the throttle: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seen.len(), 3, "the throttled request is retried");
    for (_, req) in &seen {
        assert_eq!(
            req["LookupAttributes"],
            serde_json::json!([{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIARUNKEY"}]),
            "only the run's key's events are asked for"
        );
    }
    assert_eq!(seen[2].1["NextToken"], "p2");
    for w in seen.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= std::time::Duration::from_millis(500),
            "at most two requests a second"
        );
    }
}

/// The model check of `every_scenario_is_safe_on_the_emulator` can fail: its
/// self-test feeds it an unknown operation, an unknown parameter, a bad enum,
/// a wrong JSON target, a header signed twice, an operation without the
/// checksum its model requires (and more), and a good request.
#[test]
#[cfg_attr(
    not(irprep_python),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn the_service_model_check_rejects_broken_requests() {
    let out = Command::new(python())
        .arg(root().join("tests/reference/botocore_requests.py"))
        .arg("--self-test")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("0 failures"), "{text}");
    // An empty recording must not pass.
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = Command::new(python())
        .arg(root().join("tests/reference/botocore_requests.py"))
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
