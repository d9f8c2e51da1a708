//! `irprep logs collect`: files that `query` and `hunt` read as they are.
//!
//! EKS audit events come from moto's CloudWatch Logs (put there with
//! boto3). CloudTrail event history comes from LookupEvents, which moto
//! lacks: a small local responder stands in for that API alone (and for
//! STS GetCallerIdentity and EC2 DescribeRegions, which name the account
//! and its regions), answering as AWS
//! documents them: JSON 1.1 `Events[]` with `EventId`, `EventTime` (epoch
//! seconds), `CloudTrailEvent` (the event's JSON text), `NextToken`, and a
//! `ThrottlingException` on the first call.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Command;

use crate::common::*;
use serde_json::{json, Value};

/// Serve requests until `stop` is set: STS GetCallerIdentity, then
/// LookupEvents pages in order (the first one throttled). Returns the
/// LookupEvents request bodies seen.
/// Serves for at most a minute, or until `done` is set.
struct Responder {
    port: u16,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Value>>,
}

impl Responder {
    fn stop(self) -> Vec<Value> {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

fn responder(pages: Vec<Value>, throttle_first: bool) -> Responder {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let thread = std::thread::spawn(move || {
        let mut seen = vec![];
        let mut pages = pages.into_iter();
        let mut throttled = !throttle_first;
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let mut s = match listener.accept() {
                Ok((s, _)) => s,
                Err(_)
                    if stop.load(std::sync::atomic::Ordering::SeqCst)
                        || std::time::Instant::now() > deadline =>
                {
                    break
                }
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
            };
            s.set_nonblocking(false).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let (mut len, mut target) = (0usize, String::new());
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                let l = line.to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if let Some(v) = l.strip_prefix("x-amz-target:") {
                    target = v.trim().to_string();
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            let text = String::from_utf8_lossy(&body).to_string();
            let (status, ctype, reply) = if text.contains("Action=GetCallerIdentity") {
                (200, "text/xml", "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/responder</Arn><UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>".to_string())
            } else if text.contains("Action=DescribeRegions") {
                (200, "text/xml", "<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><regionInfo><item><regionName>eu-west-1</regionName><regionEndpoint>ec2.eu-west-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item></regionInfo></DescribeRegionsResponse>".to_string())
            } else if target.ends_with(".lookupevents") {
                seen.push(serde_json::from_str::<Value>(&text).unwrap());
                if !throttled {
                    throttled = true;
                    (
                        400,
                        "application/x-amz-json-1.1",
                        json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
                            .to_string(),
                    )
                } else {
                    let p = pages.next().unwrap_or(json!({"Events": []}));
                    (200, "application/x-amz-json-1.1", p.to_string())
                }
            } else {
                (
                    400,
                    "application/x-amz-json-1.1",
                    json!({"__type": "UnknownOperationException", "message": first.trim()})
                        .to_string(),
                )
            };
            write!(s, "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\nx-amzn-requestid: r\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}", reply.len()).unwrap();
        }
        seen
    });
    Responder { port, done, thread }
}

#[test]
fn event_history_becomes_delivery_files_that_hunt_reads() {
    // The events of a detection's own positive fixture, as LookupEvents
    // would return them: newest first, over two pages.
    let mut events =
        read_events(&root().join("content/detections/fixtures/bedrock-guardrail-deleted.json"));
    events.sort_by(|a, b| b["eventTime"].as_str().cmp(&a["eventTime"].as_str()));
    let wrap = |e: &Value| {
        let t = chrono::DateTime::parse_from_rfc3339(e["eventTime"].as_str().unwrap()).unwrap();
        json!({"EventId": e["eventID"], "EventName": e["eventName"], "EventTime": t.timestamp() as f64,
               "EventSource": e["eventSource"], "CloudTrailEvent": e.to_string()})
    };
    let half = events.len().div_ceil(2);
    let pages = vec![
        json!({"Events": events[..half].iter().map(wrap).collect::<Vec<_>>(), "NextToken": "page-2"}),
        json!({"Events": events[half..].iter().map(wrap).collect::<Vec<_>>()}),
    ];
    let server = responder(pages, true);
    let port = server.port;
    let out = tempfile::tempdir().unwrap();
    let run = irprep()
        .args([
            "logs",
            "collect",
            "--event-history",
            "--regions",
            "eu-west-1",
            "--since",
            "2020-01-01T00:00:00Z",
            "--until",
            "2030-01-01T00:00:00Z",
            "--format",
            "json",
            "--quiet",
        ])
        .args([
            "--endpoint-url",
            &format!("http://127.0.0.1:{port}"),
            "--region",
            "eu-west-1",
        ])
        .arg("--out")
        .arg(out.path())
        .env("AWS_ACCESS_KEY_ID", "AKIACOLLECT")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .unwrap();
    let seen = server.stop();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        seen.len(),
        3,
        "the throttled call is retried, then two pages: {seen:?}"
    );
    assert_eq!(seen[2]["NextToken"], "page-2");
    assert_eq!(seen[0]["StartTime"], 1577836800);
    let rows: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(rows[0]["events"], events.len() as u64, "{rows}");
    // Delivery files in the trail's layout, each event as it came.
    let written: Vec<_> = walkdir(out.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    assert!(!written.is_empty());
    let mut ids = vec![];
    for f in &written {
        let s = f.to_string_lossy();
        assert!(
            s.contains("/AWSLogs/111122223333/CloudTrail/eu-west-1/"),
            "{s}"
        );
        let raw = std::fs::read(f).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        for r in doc["Records"].as_array().unwrap() {
            let orig = events
                .iter()
                .find(|e| e["eventID"] == r["eventID"])
                .unwrap();
            assert_eq!(r, orig);
            ids.push(r["eventID"].as_str().unwrap().to_string());
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len());
    // hunt reads them unchanged: the detection whose fixture it is fires.
    let hunt = irprep()
        .args(["hunt", "--format", "json", "--logs"])
        .arg(out.path())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&hunt.stdout).unwrap_or(Value::Null);
    assert!(
        v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["detection_id"] == "aws.cloudtrail.bedrock-guardrail-deleted"),
        "{v}\n{}",
        String::from_utf8_lossy(&hunt.stderr)
    );
    // A second run asks for nothing more: the window is done.
    let server2 = responder(vec![], false);
    let port2 = server2.port;
    let again = irprep()
        .args([
            "logs",
            "collect",
            "--event-history",
            "--regions",
            "eu-west-1",
            "--since",
            "2020-01-01T00:00:00Z",
            "--until",
            "2030-01-01T00:00:00Z",
            "--format",
            "json",
            "--quiet",
        ])
        .args([
            "--endpoint-url",
            &format!("http://127.0.0.1:{port2}"),
            "--region",
            "eu-west-1",
        ])
        .arg("--out")
        .arg(out.path())
        .env("AWS_ACCESS_KEY_ID", "AKIACOLLECT")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let rows: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(rows[0]["resumed_done"], true, "{rows}");
    assert!(server2.stop().is_empty(), "a finished window asks nothing");
}

fn walkdir(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn eks_audit_events_become_files_that_hunt_reads() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    let url = moto();
    reset(&url);
    // Two clusters' audit streams and one other stream, as EKS writes them.
    let put = Command::new(python())
        .args(["-c", r#"
import boto3, json, sys, time
l = boto3.client("logs", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing")
now = int(time.time() * 1000)
for cluster in ["prod-1"]:
    g = f"/aws/eks/{cluster}/cluster"
    l.create_log_group(logGroupName=g)
    for stream in ["kube-apiserver-audit-0a1b", "authenticator-0a1b"]:
        l.create_log_stream(logGroupName=g, logStreamName=stream)
        evs = []
        for i in range(1500):
            ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                  "auditID": f"{stream}-{i}", "stage": "ResponseComplete",
                  "requestURI": "/api/v1/namespaces/default/pods", "verb": "list",
                  "user": {"username": "system:serviceaccount:default:app", "groups": ["system:authenticated"]},
                  "sourceIPs": ["10.0.0.5"], "objectRef": {"resource": "pods", "namespace": "default"},
                  "responseStatus": {"code": 200},
                  "requestReceivedTimestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime((now - 3600000 + i) / 1000)),
                  "stageTimestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime((now - 3600000 + i) / 1000))}
            evs.append({"timestamp": now - 3600000 + i, "message": json.dumps(ev)})
        for k in range(0, len(evs), 500):
            l.put_log_events(logGroupName=g, logStreamName=stream, logEvents=evs[k:k+500])
"#, &url])
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let out = tempfile::tempdir().unwrap();
    let collect = |extra: &[&str]| {
        irprep()
            .args([
                "logs",
                "collect",
                "--eks",
                "--regions",
                "us-east-1",
                "--since",
                "1d",
                "--format",
                "json",
                "--quiet",
            ])
            .args(extra)
            .args(["--endpoint-url", &url, "--region", "us-east-1"])
            .arg("--out")
            .arg(out.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap()
    };
    // Clusters found with ListClusters when none is named: moto has none
    // (its EKS is separate from its CloudWatch Logs), so name it.
    let run = collect(&["--clusters", "prod-1"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rows: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(rows[0]["events"], 1500, "audit streams only: {rows}");
    assert!(rows[0]["pages"].as_u64().unwrap() >= 2, "paged: {rows}");
    let q = irprep()
        .args(["query", "--format", "json", "--logs"])
        .arg(out.path())
        .arg("SELECT count(*) AS n, count(DISTINCT auditid) AS ids, min(cluster_partition) AS c, min(account_partition) AS a FROM eks_audit")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(v[0]["n"], 1500, "{v}");
    assert_eq!(v[0]["ids"], 1500, "{v}");
    assert_eq!(v[0]["c"], "prod-1");
    assert_eq!(v[0]["a"], "123456789012");
    let hunt = irprep()
        .args(["hunt", "--format", "json", "--logs"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        matches!(hunt.status.code(), Some(0) | Some(1)),
        "{}",
        String::from_utf8_lossy(&hunt.stderr)
    );
    // A missing log group is an error naming it, not an empty success.
    let missing = collect(&["--clusters", "nope"]);
    assert_eq!(
        missing.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/aws/eks/nope/cluster"));
}
