//! Athena SQL is checked with sqlglot; the Security Analytics Bootstrap's
//! queries return what an independent Python reference computes; Sigma rules
//! load (or are skipped with a reason) and fire on their positive events.

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::*;
use irprep_core::detect::{Catalogue, Origin};
use irprep_core::queries;
use irprep_core::sigma;
use serde_json::Value;

fn sigma_dir() -> std::path::PathBuf {
    datasets().join("sigmahq-aws/rules")
}

/// Every SQL statement irprep can send to Athena.
fn all_athena_sql() -> Vec<(String, String)> {
    let mut out = vec![];
    let mut cat = Catalogue::builtin();
    sigma::add_dir(&mut cat, &sigma_dir()).unwrap();
    sigma::add_dir(&mut cat, &root().join("tests/fixtures/sigma-correlation")).unwrap();
    for d in &cat.detections {
        out.push((d.id.clone(), d.sql.clone()));
    }
    for q in queries::builtin().unwrap() {
        out.push((q.name.clone(), q.render(&BTreeMap::new(), None).unwrap()));
    }
    // The generated table DDL, every layout variant.
    let variants: [&[&str]; 4] = [
        &[
            "--accounts",
            "111122223333",
            "--regions",
            "us-east-1,eu-west-1",
            "--vpcs",
            "vpc-0a1b2c3d",
        ],
        &[
            "--flow-format",
            "parquet",
            "--flow-hive",
            "--flow-hourly",
            "--accounts",
            "inject",
            "--regions",
            "inject",
            "--vpcs",
            "inject",
        ],
        &[
            "--flow-hourly",
            "--flow-log-format",
            "${version} ${srcaddr} ${dstaddr} ${start} ${end} ${action}",
            "--accounts",
            "111122223333,444455556666",
            "--regions",
            "inject",
            "--vpcs",
            "vpc-0a1b2c3d",
        ],
        &[
            "--cloudtrail-table",
            "org_trail",
            "--accounts",
            "111122223333",
            "--regions",
            "us-east-1",
            "--vpcs",
            "inject",
        ],
    ];
    for (i, v) in variants.iter().enumerate() {
        let out_ddl = irprep()
            .args([
                "analytics",
                "ddl",
                "--cloudtrail",
                "s3://trail-bucket/AWSLogs/o-abc123def4/",
                "--vpcflow",
                "s3://logs/vpcflowlogs/AWSLogs/",
                "--dns",
                "s3://logs/r53querylogs/AWSLogs",
            ])
            .args(*v)
            .output()
            .unwrap();
        assert!(
            out_ddl.status.success(),
            "{}",
            String::from_utf8_lossy(&out_ddl.stderr)
        );
        out.push((
            format!("DDL variant {i}"),
            String::from_utf8(out_ddl.stdout).unwrap(),
        ));
    }
    // What `--engine athena --since/--until` sends: the window as CTEs.
    let windowed: Vec<(String, String)> = out
        .iter()
        .filter(|(n, _)| !n.starts_with("DDL"))
        .take(40)
        .map(|(n, sql)| {
            (
                format!("{n} windowed"),
                irprep_aws::athena::with_window(
                    sql,
                    "security_analysis",
                    Some("2024-03-01T00:00:00Z"),
                    Some("2024-03-08T00:00:00Z"),
                ),
            )
        })
        .collect();
    out.extend(windowed);
    out
}

#[test]
#[cfg_attr(
    not(all(irprep_python, irprep_datasets)),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON), ../shared/datasets; see tests/it/main.rs"
)]
fn every_athena_statement_parses_with_sqlglot() {
    let stmts = all_athena_sql();
    assert!(stmts.len() > 100);
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let json: Vec<Value> = stmts
        .iter()
        .map(|(n, s)| serde_json::json!({"name": n, "sql": s}))
        .collect();
    std::fs::write(tmp.path(), serde_json::to_vec(&json).unwrap()).unwrap();
    let out = Command::new(python())
        .arg(root().join("scripts/sqlglot_check.py"))
        .arg(tmp.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    // One statement per item, except the DDL items (one per table).
    let expected: usize = stmts
        .iter()
        .map(|(n, s)| {
            if n.starts_with("DDL") {
                s.matches("CREATE EXTERNAL TABLE").count()
            } else {
                1
            }
        })
        .sum();
    assert!(
        text.contains(&format!("{expected} statements parsed")),
        "{text}"
    );
    // The checker itself rejects what it must.
    let bad = serde_json::json!([{"name": "typo", "sql": "SELEC 1"}, {"name": "ddl", "sql": "CREATE EXTERNAL TABLE t (a string) LOCATON 's3://b/'"}]);
    std::fs::write(tmp.path(), bad.to_string()).unwrap();
    let out = Command::new(python())
        .arg(root().join("scripts/sqlglot_check.py"))
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn sigma_rules_load_and_fire_on_their_events() {
    let mut cat = Catalogue::default();
    sigma::add_dir(&mut cat, &sigma_dir()).unwrap();
    let loaded = cat.detections.len();
    let skipped = cat.skipped.len();
    for s in &cat.skipped {
        assert!(!s.reason.is_empty());
        println!("skipped {}: {}", s.path, s.reason);
    }
    assert_eq!(loaded + skipped, 57);
    assert!(loaded * 10 >= 57 * 9, "only {loaded}/57 Sigma rules load");
    let fixtures = root().join("tests/fixtures/sigma");
    let mut failures = vec![];
    for d in &cat.detections {
        assert_eq!(d.origin, Origin::Sigma);
        let stem = std::path::Path::new(&d.path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let fx = fixtures.join(format!("{stem}.json"));
        assert!(fx.exists(), "no positive fixture for Sigma rule {stem}");
        let ids: Vec<String> = read_events(&fx)
            .iter()
            .map(|e| e["eventID"].as_str().unwrap().to_string())
            .collect();
        let r = hunt_paths(std::slice::from_ref(&fx), std::slice::from_ref(d));
        let ev: Vec<&String> = r.findings.iter().flat_map(|f| f.event_ids.iter()).collect();
        for id in &ids {
            if !ev.contains(&id) {
                failures.push(format!("{stem}: event {id} not matched"));
            }
        }
    }
    println!("Sigma: {loaded} loaded, {skipped} skipped");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The CLI lists every rule with origin/status/reason/sql.
    let out = irprep()
        .args(["detections", "list", "--format", "json", "--sigma"])
        .arg(sigma_dir())
        .output()
        .unwrap();
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let sig: Vec<&Value> = v.iter().filter(|x| x["origin"] == "sigma").collect();
    assert_eq!(sig.len(), 57);
    assert!(sig
        .iter()
        .all(|x| x["status"] == "loaded" && x["sql"].is_string()
            || x["status"] == "skipped" && x["reason"].is_string()));
    assert!(v.iter().filter(|x| x["origin"] == "builtin").count() >= 60);
}

fn canonical_json(s: &str) -> String {
    match serde_json::from_str::<Value>(s) {
        Ok(v) => v.to_string(),
        Err(_) => s.to_string(),
    }
}

#[test]
#[cfg_attr(
    not(all(irprep_python, irprep_datasets)),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON), ../shared/datasets; see tests/it/main.rs"
)]
fn bootstrap_queries_match_the_python_reference() {
    let paths = [invictus(), otrf()];
    let out = Command::new(python())
        .arg(root().join("tests/reference/cloudtrail_reference.py"))
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let qs = queries::builtin().unwrap();
    assert!(expected.len() >= 12);
    let e = engine_on(&paths);
    let rt = rt();
    let mut checked = 0;
    for q in &qs {
        let Some(exp) = expected.get(&q.name) else {
            continue;
        };
        let sql = q.render(&BTreeMap::new(), None).unwrap();
        let res = rt
            .block_on(e.query(&sql))
            .unwrap_or_else(|err| panic!("{}: {err}\n{sql}", q.name));
        assert_rows_equal(&q.name, &res.batches, exp);
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} queries compared");
}

/// Engine rows equal the reference's rows, cell by cell (arrays compared
/// as sorted JSON, as the reference renders them).
fn assert_rows_equal(name: &str, batches: &[irprep_core::arrow_array::RecordBatch], exp: &Value) {
    let got = irprep_engine::render::rows(batches).unwrap();
    let exp_rows = exp["rows"].as_array().unwrap();
    assert_eq!(got.len(), exp_rows.len(), "{name}: row count");
    for (g, x) in got.iter().zip(exp_rows) {
        let x = x.as_array().unwrap();
        assert_eq!(g.len(), x.len(), "{name}");
        for (gc, xc) in g.iter().zip(x) {
            let xs = xc.as_str().map(String::from);
            let (a, b) = match (gc, &xs) {
                (Some(a), Some(b))
                    if (a.starts_with('[') || a.starts_with('{'))
                        && serde_json::from_str::<Value>(a).is_ok()
                        && serde_json::from_str::<Value>(b).is_ok() =>
                {
                    let mut av: Value = serde_json::from_str(a).unwrap_or(Value::String(a.clone()));
                    if let Value::Array(items) = &mut av {
                        items.sort_by(|p, q| match (p.as_str(), q.as_str()) {
                            (Some(p), Some(q)) => p.cmp(q),
                            (Some(_), None) => std::cmp::Ordering::Less,
                            (None, Some(_)) => std::cmp::Ordering::Greater,
                            _ => p
                                .as_f64()
                                .partial_cmp(&q.as_f64())
                                .unwrap_or(std::cmp::Ordering::Equal),
                        });
                    }
                    (Some(av.to_string()), Some(canonical_json(b)))
                }
                _ => (gc.clone(), xs),
            };
            assert_eq!(a, b, "{name}: row {g:?} vs {x:?}");
        }
    }
}

#[test]
#[cfg_attr(
    not(all(irprep_python, irprep_datasets)),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON), ../shared/datasets; see tests/it/main.rs"
)]
fn flow_and_dns_queries_match_the_python_reference() {
    let elastic = datasets().join("elastic-integrations-aws-fixtures");
    let runs = [
        (
            "vpcflow",
            vec![
                root().join("tests/fixtures/vpcflow"),
                elastic.join("vpcflow"),
            ],
        ),
        (
            "dns",
            vec![
                root().join("tests/fixtures/dns"),
                elastic.join("route53_resolver"),
            ],
        ),
    ];
    let qs = queries::builtin().unwrap();
    let rt = rt();
    for (table, paths) in runs {
        let out = Command::new(python())
            .arg(root().join("tests/reference/flow_dns_reference.py"))
            .args(["--table", table, "--param", "days=100000"])
            .args(&paths)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
        let e = engine_logs(&paths);
        let mut checked = 0;
        for q in qs.iter().filter(|q| q.table == table) {
            let exp = expected
                .get(&q.name)
                .unwrap_or_else(|| panic!("reference has no {}", q.name));
            let mut params = BTreeMap::new();
            if q.params.contains_key("days") {
                params.insert("days".to_string(), "100000".to_string());
            }
            let sql = q.render(&params, None).unwrap();
            let res = rt
                .block_on(e.query(&sql))
                .unwrap_or_else(|err| panic!("{}: {err}\n{sql}", q.name));
            assert!(
                res.num_rows() > 0,
                "{}: the fixtures exercise every query",
                q.name
            );
            assert_rows_equal(&q.name, &res.batches, exp);
            checked += 1;
        }
        assert!(checked >= 12, "{table}: only {checked} queries compared");
        // Bad records are reported and skipped; the Elastic transit-gateway file is skipped whole.
        if table == "vpcflow" {
            let issues = e.diag.issues();
            assert!(
                issues
                    .iter()
                    .any(|i| i.whole_file && i.file.ends_with("test-tgw-samples.log")),
                "{issues:?}"
            );
        }
    }
}

#[test]
fn bad_flow_and_dns_records_are_reported_and_the_rest_read() {
    let out = irprep()
        .args(["query", "--logs"])
        .arg(root().join("tests/fixtures/vpcflow-bad"))
        .arg("--logs")
        .arg(root().join("tests/fixtures/dns-bad"))
        .args([
            "--format",
            "json",
            "SELECT (SELECT count(*) FROM vpcflow) AS flows, (SELECT count(*) FROM dns) AS queries",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("line 4: field packets is not a number"),
        "{err}"
    );
    assert!(
        err.contains("line 7: 13 fields where the header names 14"),
        "{err}"
    );
    assert!(err.contains("line 3: invalid JSON"), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v[0]["flows"].as_i64().unwrap() > 0 && v[0]["queries"].as_i64().unwrap() > 0,
        "{v}"
    );
    let strict = irprep()
        .args(["query", "--strict", "--logs"])
        .arg(root().join("tests/fixtures/vpcflow-bad"))
        .args(["SELECT count(*) FROM vpcflow"])
        .output()
        .unwrap();
    assert_eq!(
        strict.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
}

#[test]
#[cfg_attr(
    not(all(irprep_python, irprep_datasets)),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON), ../shared/datasets; see tests/it/main.rs"
)]
fn benchmark_queries_match_the_python_reference() {
    let paths = [invictus(), otrf()];
    let out = Command::new(python())
        .arg(root().join("tests/reference/cloudtrail_reference.py"))
        .args([
            "--bench-queries",
            "--d2",
            "2020/01/01",
            "--d3",
            "2023/12/31",
        ])
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let e = engine_on(&paths);
    let rt = rt();
    for (name, sql) in irprep_bench_queries("2020/01/01", "2023/12/31") {
        let res = rt.block_on(e.query(&sql)).unwrap();
        let got = irprep_engine::render::rows(&res.batches).unwrap();
        let exp: Vec<Vec<Option<String>>> = expected[&name]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().map(String::from))
                    .collect()
            })
            .collect();
        assert_eq!(got, exp, "{name}");
    }
}

/// The five benchmark queries of BENCHMARKS.md.
fn irprep_bench_queries(d2: &str, d3: &str) -> Vec<(String, String)> {
    vec![
        ("Q1".into(), "SELECT eventname, count(*) AS n FROM cloudtrail WHERE errorcode = 'Client.DryRunOperation' GROUP BY eventname ORDER BY n DESC, eventname".into()),
        ("Q2".into(), "SELECT useridentity.arn AS arn, eventname, count(*) AS n FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com' AND eventname NOT LIKE 'Get%' AND eventname NOT LIKE 'List%' AND errorcode IS NULL GROUP BY 1, 2 ORDER BY n DESC, arn, eventname".into()),
        ("Q3".into(), "SELECT eventid, eventtime, json_extract_scalar(responseelements, '$.accessKey.userName') AS user_name, json_extract_scalar(responseelements, '$.accessKey.accessKeyId') AS key_id FROM cloudtrail WHERE eventname = 'CreateAccessKey' AND errorcode IS NULL ORDER BY eventtime, eventid".into()),
        ("Q4".into(), "SELECT useridentity.arn AS arn, count(DISTINCT sourceipaddress) AS ips, count(*) AS n FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1 ORDER BY n DESC, arn LIMIT 20".into()),
        ("Q5".into(), format!("SELECT region_partition, count(*) AS n FROM cloudtrail WHERE date_partition BETWEEN '{d2}' AND '{d3}' GROUP BY 1 ORDER BY 1")),
    ]
}

/// The Sigma review's reproducers (../shared/reviews/sigma.md, §6): each rule
/// against its event, the verdict the Sigma specification gives. B1 (arrays
/// compared as JSON text) is not fixed yet: its cases are listed apart, as
/// the current behaviour.
#[test]
fn sigma_reproducers_follow_the_specification() {
    let event = |id: &str, extra: Value| {
        let mut e = serde_json::json!({
            "eventID": id, "eventTime": "2024-01-01T00:00:00Z", "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333", "eventSource": "iam.amazonaws.com",
            "eventName": "ListUsers",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
                             "accountId": "111122223333", "userName": "alice"}
        });
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    };
    let rule = |detection: &str| {
        format!(
            "title: probe\nid: 00000000-0000-4000-8000-000000000001\nlogsource: {{product: aws, service: cloudtrail}}\nlevel: high\ndetection:\n{detection}"
        )
    };
    // (case, event, detection section, expected to fire)
    let sg = serde_json::json!({"eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress",
        "requestParameters": {"groupId": "sg-1", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}});
    let layers = serde_json::json!({"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionConfiguration20150331v2",
        "requestParameters": {"functionName": "f", "layers": [
            "arn:aws:lambda:us-east-1:111122223333:layer:a:1", "arn:aws:lambda:us-east-1:111122223333:layer:ext:1"]}});
    let run2 = serde_json::json!({"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
        "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-0a"}, {"imageId": "ami-0b"}]}}});
    let b1: Vec<(&str, Value, &str, bool)> = vec![
        ("B1 p24 key through an array", event("b1a", sg.clone()),
         "  selection:\n    requestParameters.ipPermissions.items.fromPort: 22\n  condition: selection\n", true),
        ("B1 p25 startswith two arrays deep", event("b1b", sg.clone()),
         "  selection:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp|startswith: '0.0.0.0'\n  condition: selection\n", true),
        ("B1 cidr on an array's elements", event("b1c", serde_json::json!({"requestParameters": {"addresses": ["AWS Internal", "192.0.2.10", "10.1.2.3"]}})),
         "  selection:\n    requestParameters.addresses|cidr: 10.0.0.0/8\n  condition: selection\n", true),
        ("B1 no element matches", event("b1d", sg.clone()),
         "  selection:\n    requestParameters.ipPermissions.items.fromPort: 3389\n  condition: selection\n", false),
        ("B1 p22 equality on an array's element", event("b1e", layers.clone()),
         "  selection:\n    requestParameters.layers: 'arn:aws:lambda:us-east-1:111122223333:layer:ext:1'\n  condition: selection\n", true),
        ("B1 p54 endswith on an array", event("b1f", layers.clone()),
         "  selection:\n    requestParameters.layers|endswith: ':ext:1'\n  condition: selection\n", true),
        ("B1 p57 re on an array", event("b1g", layers.clone()),
         "  selection:\n    requestParameters.layers|re: ':layer:ext:1$'\n  condition: selection\n", true),
        ("B1 p55 contains does not span elements", event("b1h", layers.clone()),
         "  selection:\n    requestParameters.layers|contains: 'a:1\",\"arn'\n  condition: selection\n", false),
        ("B1 p60 a filter over an array holds", event("b1i", layers.clone()),
         "  selection:\n    eventSource: lambda.amazonaws.com\n  filter:\n    requestParameters.layers|startswith: 'arn:aws:lambda:us-east-1:111122223333:'\n  condition: selection and not filter\n", false),
        ("B1 p56 one of two items", event("b1j", run2.clone()),
         "  selection:\n    requestParameters.instancesSet.items.imageId: 'ami-0b'\n  condition: selection\n", true),
        ("B1 a scalar is still itself", event("b1k", serde_json::json!({"requestParameters": {"userName": "Bob"}})),
         "  selection:\n    requestParameters.userName: bob\n  condition: selection\n", true),
        ("B1 an object's text for contains", event("b1l", sg.clone()),
         "  selection:\n    requestParameters.ipPermissions|contains: '0.0.0.0/0'\n  condition: selection\n", true),
    ];
    let cases: Vec<(&str, Value, &str, bool)> = vec![
        ("B2 lone backslash kept", event("b2a", serde_json::json!({"userAgent": "tool C:\\Windows\\x"})),
         "  selection:\n    userAgent|contains: 'C:\\Windows'\n  condition: selection\n", true),
        ("B2 lone backslash not dropped", event("b2b", serde_json::json!({"userAgent": "tool C:Windows"})),
         "  selection:\n    userAgent|contains: 'C:\\Windows'\n  condition: selection\n", false),
        ("B2 escaped backslash in equality", event("b2c", serde_json::json!({"userAgent": "a\\b"})),
         "  selection:\n    userAgent: 'a\\\\b'\n  condition: selection\n", true),
        ("B3 re|i", event("b3", serde_json::json!({"userAgent": "Boto3/1.34.0"})),
         "  selection:\n    userAgent|re|i: '^boto3/'\n  condition: selection\n", true),
        ("B4 fieldref|endswith filters", event("b4", serde_json::json!({"eventName": "UpdateLoginProfile", "requestParameters": {"userName": "alice"}})),
         "  selection:\n    eventName: UpdateLoginProfile\n  filter:\n    userIdentity.arn|fieldref|endswith: requestParameters.userName\n  condition: selection and not filter\n", false),
        ("B4 fieldref|endswith keeps others", event("b4b", serde_json::json!({"eventName": "UpdateLoginProfile", "requestParameters": {"userName": "bob"}})),
         "  selection:\n    eventName: UpdateLoginProfile\n  filter:\n    userIdentity.arn|fieldref|endswith: requestParameters.userName\n  condition: selection and not filter\n", true),
        ("B5 them leaves out _ names", event("b5", serde_json::json!({"eventName": "CreateUser"})),
         "  selection:\n    eventName: DeleteUser\n  _helper:\n    eventName: CreateUser\n  condition: 1 of them\n", false),
        ("B5 wildcard in the middle", event("b5b", serde_json::json!({"eventName": "CreateUser"})),
         "  sel_b:\n    eventName: CreateUser\n  condition: 1 of sel*b\n", true),
    ];
    let cases: Vec<_> = cases.into_iter().chain(b1).collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut wrong = vec![];
    for (i, (case, ev, det, fires)) in cases.iter().enumerate() {
        let f = tmp.path().join(format!("case{i}.json"));
        std::fs::write(&f, serde_json::json!({"Records": [ev]}).to_string()).unwrap();
        let d = match sigma::compile(&rule(det), "probe.yml") {
            Ok(d) => d,
            Err(e) => {
                wrong.push(format!("{case}: not loaded: {e:?}"));
                continue;
            }
        };
        let r = hunt_paths(&[f], &[d]);
        let fired = !r.findings.is_empty();
        if fired != *fires {
            wrong.push(format!("{case}: fired={fired} (expected {fires})"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // B6: what the local engine cannot run is refused when the rule loads,
    // with the reason, instead of failing the hunt.
    for (det, why) in [
        (
            "  selection:\n    userIdentity|contains: 'alice'\n  condition: selection\n",
            "is an object",
        ),
        (
            "  selection:\n    userIdentity.sessionContext|contains: 'x'\n  condition: selection\n",
            "is an object",
        ),
        (
            "  selection:\n    userAgent|re: '^aws-cli/(?!1\\.)'\n  condition: selection\n",
            "regular expression not supported",
        ),
        (
            "  selection:\n    userAgent|i: 'x'\n  condition: selection\n",
            "applies to re only",
        ),
    ] {
        let e = sigma::compile(&rule(det), "probe.yml").expect_err(det);
        assert!(e.1.contains(why), "{det}: {e:?}");
    }
    // B7: a correlation file loads the correlation, resolved against its
    // base rule, which (without `generate: true`) is not reported alone.
    let corr = "title: Many failed console logins\nid: 9b2e1c1e-0000-4000-8000-000000000001\ncorrelation: {type: event_count, rules: [failed_console_login], group-by: [sourceIPAddress], timespan: 5m, condition: {gte: 3}}\n---\ntitle: Failed console login\nid: 9b2e1c1e-0000-4000-8000-000000000002\nname: failed_console_login\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  selection: {eventName: ConsoleLogin}\n  condition: selection\n";
    let all = sigma::compile_all(corr, "corr.yml");
    assert_eq!(all.len(), 1, "{all:?}");
    let d = all[0].as_ref().unwrap();
    assert_eq!(d.id, "sigma.9b2e1c1e-0000-4000-8000-000000000001");
    assert!(
        d.sql
            .contains("RANGE BETWEEN CURRENT ROW AND 300 FOLLOWING"),
        "{}",
        d.sql
    );
}

/// Sigma correlation rules (`tests/fixtures/sigma-correlation/`, written for
/// this test): each type fires on exactly its events in `positive.json` and
/// on none of the near misses in `negative.json` (outside the window, too
/// few, one value many times, another principal, the wrong order); base
/// rules are reported alone only under `generate: true`; what is not
/// supported is skipped with the reason.
#[test]
fn sigma_correlations_fire_on_their_fixtures() {
    let dir = root().join("tests/fixtures/sigma-correlation");
    let mut cat = Catalogue::default();
    sigma::add_dir(&mut cat, &dir).unwrap();
    let id = |tail: &str| format!("sigma.5d0f3f7e-6c1a-4b8e-9a51-2f0c7d3e1a{tail}");
    let mut ids: Vec<&str> = cat.detections.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    let mut want: Vec<String> = ["01", "12", "21", "22", "23", "34"]
        .iter()
        .map(|t| id(t))
        .collect();
    want.sort();
    assert_eq!(ids, want, "loaded");
    let reasons: BTreeMap<String, String> = cat
        .skipped
        .iter()
        .map(|s| (s.id.clone(), s.reason.clone()))
        .collect();
    for (tail, why) in [
        ("41", "condition 'lt' is not supported"),
        ("42", "aliases are not supported"),
        ("43", "rule 'no_such_rule' not found"),
        ("44", "correlations of correlations are not supported"),
    ] {
        let r = reasons
            .get(&id(tail))
            .unwrap_or_else(|| panic!("{tail} not skipped: {reasons:?}"));
        assert!(r.contains(why), "{tail}: {r}");
    }
    let evidence = |file: &str| -> BTreeMap<String, std::collections::BTreeSet<String>> {
        let r = hunt_paths(&[dir.join("events").join(file)], &cat.detections);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let mut m: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for f in &r.findings {
            m.entry(f.detection_id.clone())
                .or_default()
                .extend(f.event_ids.iter().cloned());
        }
        m
    };
    let events = read_events(&dir.join("events/positive.json"));
    let of = |names: &[&str]| -> std::collections::BTreeSet<String> {
        events
            .iter()
            .filter(|e| names.contains(&e["eventName"].as_str().unwrap()))
            .map(|e| e["eventID"].as_str().unwrap().to_string())
            .collect()
    };
    let pos = evidence("positive.json");
    assert_eq!(
        pos.get(&id("01")),
        Some(&of(&["ConsoleLogin"])),
        "event_count"
    );
    assert_eq!(
        pos.get(&id("12")),
        Some(&of(&["GetSecretValue"])),
        "value_count"
    );
    assert_eq!(
        pos.get(&id("23")),
        Some(&of(&["StopLogging", "DeleteFlowLogs"])),
        "temporal"
    );
    assert_eq!(
        pos.get(&id("34")),
        Some(&of(&["CreateUser", "CreateAccessKey", "AttachUserPolicy"])),
        "temporal_ordered"
    );
    // generate: true keeps the temporal correlation's rules; the others are quiet.
    assert_eq!(pos.get(&id("21")), Some(&of(&["StopLogging"])));
    assert_eq!(pos.len(), 6, "{:?}", pos.keys());
    let neg = evidence("negative.json");
    for tail in ["01", "12", "23", "34"] {
        assert!(
            !neg.contains_key(&id(tail)),
            "{tail} fired on a near miss: {:?}",
            neg.get(&id(tail))
        );
    }
}

/// The S3 access, load balancer, WAF, GuardDuty and EKS audit tables hold
/// what an independent Python reader (tests/reference/extra_tables_reference.py,
/// written from AWS's format documentation) reads from the same files: the
/// shared Elastic examples and the hand-written fixtures (bad lines
/// included), file by file and cell by cell, and all files at once.
#[test]
#[cfg_attr(
    not(all(irprep_python, irprep_datasets)),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON), ../shared/datasets; see tests/it/main.rs"
)]
fn other_log_tables_match_the_python_reference() {
    let out = Command::new(python())
        .arg(root().join("tests/reference/compare_extra_tables.py"))
        .args(["--irprep", env!("CARGO_BIN_EXE_irprep")])
        .env(
            "IRPREP_DATASETS",
            datasets().join("elastic-integrations-aws-fixtures"),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in [
        "s3access",
        "alb",
        "nlb",
        "clb",
        "waf",
        "guardduty",
        "eks_audit",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(t) && l.contains(" rows,"))
            .unwrap_or_else(|| panic!("{t} not compared: {text}"));
        assert!(line.ends_with(": same"), "{line}");
        let rows: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(rows >= 10, "{t}: only {rows} rows compared");
    }
}

/// Athena reads the space-delimited logs with a RegexSerDe whose
/// `input.regex` irprep generates from the reader's own field list: applied
/// as RegexSerDe applies it, it gives every row the reader gives, column by
/// column, and matches no line the reader refuses (a sibling load balancer's
/// line in the shared folder, a bad line), which would become a row of
/// wrong values on Athena.
#[test]
#[cfg_attr(
    not(all(irprep_python, irprep_datasets)),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON), ../shared/datasets; see tests/it/main.rs"
)]
fn athena_regexes_read_what_the_readers_read() {
    let elastic = datasets().join("elastic-integrations-aws-fixtures");
    let fx = root().join("tests/fixtures");
    let elb: Vec<std::path::PathBuf> = std::iter::once(elastic.join("elb"))
        .chain(
            ["alb", "alb-bad", "nlb", "nlb-bad", "clb", "clb-bad"]
                .iter()
                .map(|d| fx.join(d)),
        )
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    for t in ["s3access", "alb", "nlb", "clb"] {
        let ddl = irprep()
            .args([
                "analytics",
                "ddl",
                "--table",
                t,
                "--location",
                "s3://b/AWSLogs/",
                "--accounts",
                "inject",
                "--regions",
                "inject",
                "--names",
                "inject",
            ])
            .output()
            .unwrap();
        assert!(ddl.status.success());
        let path = tmp.path().join(format!("{t}.sql"));
        std::fs::write(&path, &ddl.stdout).unwrap();
        let paths = if t == "s3access" {
            vec![
                elastic.join("s3access"),
                fx.join("s3access"),
                fx.join("s3access-bad"),
            ]
        } else {
            elb.clone()
        };
        let out = Command::new(python())
            .arg(root().join("tests/reference/athena_regex_check.py"))
            .args(["--table", t, "--ddl"])
            .arg(&path)
            .args(&paths)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(" 0 difference(s)"), "{text}");
    }
}
