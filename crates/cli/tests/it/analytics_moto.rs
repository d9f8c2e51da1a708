//! `irprep analytics` and `--engine athena` against moto_server, checked with
//! boto3 (tests/emulator/analytics.py), not through irprep: the Glue tables
//! (columns, partition keys, projection, storage template), the workgroup,
//! the named queries; a second deploy plans nothing; foreign tables are never
//! touched; destroy removes exactly what deploy made; queries and a hunt run
//! on Athena with the emulator's canned results.

use std::process::Command;

use crate::common::*;
use irprep_core::detect::Catalogue;
use irprep_core::queries;
use serde_json::Value;

fn py(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(root().join("tests/emulator/analytics.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "analytics.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn state(db: &str, wg: &str) -> Value {
    serde_json::from_str(&py(&["state", &moto(), db, wg])).unwrap()
}

fn aws(c: &mut Command) -> &mut Command {
    c.args(["--endpoint-url", &moto(), "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
}

/// Upload the fixtures in their S3 layouts (CloudTrail from the invictus files).
fn seed_bucket(bucket: &str) {
    let m = moto();
    py(&[
        "upload",
        &m,
        bucket,
        "vpcflowlogs/",
        root().join("tests/fixtures/vpcflow").to_str().unwrap(),
    ]);
    py(&[
        "upload",
        &m,
        bucket,
        "r53querylogs/",
        root().join("tests/fixtures/dns").to_str().unwrap(),
    ]);
    py(&[
        "upload",
        &m,
        bucket,
        "cloudtrail/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/",
        invictus().to_str().unwrap(),
    ]);
}

/// Every named query the deploy made satisfies the partition projection of
/// the tables it reads (`tests/reference/projection_check.py`, from Athena's
/// documented rules: an injected key needs a static equality predicate in
/// every SELECT that reads the table, a date key's literals must be in its
/// format). Its self-test first, so a checker that finds nothing fails.
fn projection_holds(state: &Value, queries: usize) {
    let checker = root().join("tests/reference/projection_check.py");
    let st = Command::new(python())
        .arg(&checker)
        .arg("--self-test")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "projection_check --self-test: {}",
        String::from_utf8_lossy(&st.stdout)
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("state.json");
    std::fs::write(&f, state.to_string()).unwrap();
    let out = Command::new(python())
        .arg(&checker)
        .args(["--json", "--state"])
        .arg(&f)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        out.status.success() && v["ok"] == true,
        "queries that break the tables' projection:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["queries"], queries, "every named query checked: {v}");
    assert!(
        v["references"].as_u64().unwrap() >= queries as u64,
        "every query reads a deployed table: {v}"
    );
}

fn deploy_args(bucket: &str, db: &str, wg: &str) -> Vec<String> {
    [
        "analytics",
        "deploy",
        "--cloudtrail",
        &format!("s3://{bucket}/cloudtrail/AWSLogs/"),
        "--vpcflow",
        &format!("s3://{bucket}/vpcflowlogs/AWSLogs/"),
        "--dns",
        &format!("s3://{bucket}/r53querylogs/AWSLogs/"),
        "--cloudtrail-table",
        "trail",
        "--accounts",
        "auto",
        "--regions",
        "auto",
        "--vpcs",
        "auto",
        "--start-date",
        "2023/07/01",
        "--results",
        "s3://athena-results/irprep/",
        "--bytes-scanned-cutoff",
        "10000000000",
        "--database",
        db,
        "--workgroup",
        wg,
        "--format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The tables of the other logs (S3 access, load balancers, WAF,
/// GuardDuty, EKS audit), each from its definition: Glue tables with the
/// SerDe and partition projection of its layout, and the named queries of
/// its investigation queries and detections, seen with boto3.
#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn deploy_creates_every_other_log_table_with_projection() {
    use irprep_core::tables::LogTable;
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    reset(&moto());
    let (db, wg) = ("sec_more", "irprep-more");
    let others: Vec<LogTable> = LogTable::ALL
        .into_iter()
        .filter(|t| t.storage().is_some())
        .collect();
    let mut args: Vec<String> = vec![
        "analytics".into(),
        "deploy".into(),
        "--accounts".into(),
        "111122223333".into(),
        "--regions".into(),
        "us-east-1,eu-west-1".into(),
        "--names".into(),
        "web-acl-1,prod-1".into(),
        "--results".into(),
        "s3://athena-results/irprep/".into(),
        "--database".into(),
        db.into(),
        "--workgroup".into(),
        wg.into(),
        "--format".into(),
        "json".into(),
        "--yes".into(),
    ];
    for t in &others {
        let loc = match t {
            LogTable::S3Access => "s3://access-logs/s3-access/".to_string(),
            t => format!("s3://logs-{}/AWSLogs/", t.name().replace('_', "-")),
        };
        args.push("--table-location".into());
        args.push(format!("{t}={loc}"));
    }
    let out = aws(irprep().args(&args)).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = state(db, wg);
    projection_holds(&s, s["named_queries"].as_object().unwrap().len());
    for t in &others {
        let g = &s["tables"][t.name()];
        let def = t.def();
        let cols: Vec<(String, String)> = g["columns"]
            .as_array()
            .unwrap_or_else(|| panic!("{t}: no table in {}", s["tables"]))
            .iter()
            .map(|c| (c[0].as_str().unwrap().into(), c[1].as_str().unwrap().into()))
            .collect();
        assert_eq!(cols, def.hive_columns(), "{t}");
        let keys: Vec<&str> = g["partition_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k[0].as_str().unwrap())
            .collect();
        let want: Vec<&str> = def.partitions.iter().map(|p| p.name).collect();
        assert_eq!(keys, want, "{t}");
        let p = &g["parameters"];
        assert_eq!(p["projection.enabled"], "true", "{t}");
        assert_eq!(
            p["projection.account_partition.values"], "111122223333",
            "{t}"
        );
        assert_eq!(p["projection.date_partition.type"], "date", "{t}");
        let template = p["storage.location.template"].as_str().unwrap();
        for k in &keys {
            assert!(template.contains(&format!("${{{k}}}")), "{t}: {template}");
        }
        assert_eq!(p["irprep:managed"], "true");
        let named = s["named_queries"].as_object().unwrap();
        let dets = Catalogue::builtin()
            .detections
            .into_iter()
            .filter(|d| d.source == t.name())
            .count();
        assert!(dets >= 3, "{t}: {dets} detections");
        let on_table = named
            .values()
            .filter(|q| {
                q["sql"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("FROM {}", t.name()))
            })
            .count();
        assert!(on_table >= dets, "{t}: {on_table} named queries");
    }
    let waf = &s["tables"]["waf"]["parameters"];
    assert_eq!(
        waf["projection.region_partition.values"],
        "us-east-1,eu-west-1,cloudfront"
    );
    assert_eq!(
        waf["projection.webacl_partition.values"],
        "web-acl-1,prod-1"
    );
    assert_eq!(waf["storage.location.template"], "s3://logs-waf/AWSLogs/${account_partition}/WAFLogs/${region_partition}/${webacl_partition}/${date_partition}");
    assert_eq!(
        s["tables"]["alb"]["serde"],
        "org.apache.hadoop.hive.serde2.RegexSerDe"
    );
    assert_eq!(
        s["tables"]["guardduty"]["serde"],
        "org.openx.data.jsonserde.JsonSerDe"
    );
    assert_eq!(
        s["tables"]["s3access"]["parameters"]["storage.location.template"],
        "s3://access-logs/s3-access/${account_partition}/${region_partition}/${bucket_partition}/${date_partition}"
    );

    // Without --accounts and --regions, deploy reads them off the bucket (an
    // injected projection would make every detection name them); a table
    // whose logs have not arrived yet lists the estate's own values (review
    // finding 4: it was injected, and no query could run on it).
    py(&[
        "upload",
        &moto(),
        "gd-logs",
        "",
        root().join("tests/fixtures/guardduty").to_str().unwrap(),
    ]);
    py(&[
        "upload",
        &moto(),
        "found-waf-logs",
        "",
        root().join("tests/fixtures/waf").to_str().unwrap(),
    ]);
    py(&["eks-cluster", &moto(), "prod-eks", "eu-west-1"]);
    let out = aws(irprep().args([
        "analytics",
        "deploy",
        "--table-location",
        "guardduty=s3://gd-logs/AWSLogs/",
        "--table-location",
        "waf=s3://found-waf-logs/AWSLogs/",
        "--table-location",
        "eks_audit=s3://empty-eks-logs/AWSLogs/",
        "--results",
        "s3://athena-results/irprep/",
        "--database",
        "sec_found",
        "--workgroup",
        "irprep-found",
        "--yes",
    ]))
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let s = state("sec_found", "irprep-found");
    let gd = &s["tables"]["guardduty"]["parameters"];
    assert_eq!(gd["projection.account_partition.type"], "enum");
    assert_eq!(
        gd["projection.account_partition.values"],
        "111122223333,444455556666"
    );
    assert_eq!(
        gd["projection.region_partition.values"],
        "eu-west-1,us-east-1"
    );
    let waf = &s["tables"]["waf"]["parameters"];
    assert_eq!(
        waf["projection.webacl_partition.values"],
        "api-regional-acl,web-cdn-acl"
    );
    assert_eq!(
        waf["projection.region_partition.values"],
        "cloudfront,us-east-1"
    );
    let eks = &s["tables"]["eks_audit"]["parameters"];
    assert_eq!(eks["projection.account_partition.type"], "enum");
    assert_eq!(eks["projection.account_partition.values"], "123456789012");
    let regions: Vec<&str> = eks["projection.region_partition.values"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    assert!(
        regions.len() > 10 && regions.contains(&"eu-west-1") && regions.contains(&"us-east-1"),
        "{regions:?}"
    );
    assert_eq!(eks["projection.cluster_partition.values"], "prod-eks");
    assert!(
        err.contains("eks_audit: no logs under s3://empty-eks-logs/AWSLogs/ yet"),
        "{err}"
    );
    for (k, v) in eks.as_object().unwrap() {
        assert_ne!(v, "injected", "{k}");
    }

    // Nothing in the bucket and nothing in the account (no web ACL): a
    // clear refusal naming the flag, not a table no query can run on; an
    // injected projection only when asked for.
    let ddl = |extra: &[&str]| {
        aws(irprep()
            .args([
                "analytics",
                "ddl",
                "--table",
                "waf",
                "--location",
                "s3://empty-eks-logs/AWSLogs/",
            ])
            .args(extra))
        .output()
        .unwrap()
    };
    let out = ddl(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the waf table's accounts") || err.contains("the waf table's web ACLs"),
        "{err}"
    );
    let out = ddl(&["--names", "inject"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("'projection.webacl_partition.type' = 'injected'"),
        "{text}"
    );
    assert!(
        text.contains("'projection.account_partition.values' = '123456789012'"),
        "{text}"
    );
}

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python, irprep_datasets)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON), ../shared/datasets; see tests/it/main.rs"
)]
fn deploy_is_complete_idempotent_and_destroy_is_exact() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    let (bucket, db, wg) = ("deploy-logs", "sec_deploy", "irprep-deploy");
    seed_bucket(bucket);

    // Plan only: nothing is created.
    let out = aws(irprep().args(deploy_args(bucket, db, wg)).arg("--dry-run"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(state(db, wg)["database"].is_null());
    let named: Vec<&Value> = plan
        .iter()
        .filter(|c| c["resource"] == "athena:named-query")
        .collect();
    // One named query per investigation query and detection of the tables
    // deployed (the others' have no table to run on).
    let deployed = ["cloudtrail", "vpcflow", "dns"];
    let expected_queries = queries::builtin()
        .unwrap()
        .iter()
        .filter(|q| deployed.contains(&q.table.as_str()))
        .count()
        + Catalogue::builtin()
            .detections
            .iter()
            .filter(|d| deployed.contains(&d.source.as_str()))
            .count();
    assert_eq!(named.len(), expected_queries);

    let out = aws(irprep().args(deploy_args(bucket, db, wg)).arg("--yes"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = state(db, wg);
    assert_eq!(s["database"]["irprep:managed"], "true");
    projection_holds(&s, expected_queries);
    let t = &s["tables"];
    // CloudTrail: every column of the table definition, the Bootstrap's partition names.
    let ct = irprep_core::table::cloudtrail();
    let cols: Vec<(String, String)> = t["trail"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().into(), c[1].as_str().unwrap().into()))
        .collect();
    assert_eq!(cols, ct.hive_columns());
    assert_eq!(
        t["trail"]["partition_keys"],
        serde_json::json!([
            ["account_partition", "string"],
            ["region_partition", "string"],
            ["date_partition", "string"]
        ])
    );
    let p = &t["trail"]["parameters"];
    assert_eq!(p["projection.enabled"], "true");
    assert_eq!(
        p["projection.account_partition.values"], "218007301253",
        "accounts discovered from the bucket"
    );
    assert_eq!(p["projection.region_partition.values"], "us-east-1");
    assert_eq!(p["projection.date_partition.range"], "2023/07/01,NOW");
    assert_eq!(p["storage.location.template"], format!("s3://{bucket}/cloudtrail/AWSLogs/${{account_partition}}/CloudTrail/${{region_partition}}/${{date_partition}}"));
    assert_eq!(
        t["trail"]["serde"], "org.apache.hive.hcatalog.data.JsonSerDe",
        "the SerDe of AWS's current CloudTrail DDL (review finding 13)"
    );
    // Flow logs: columns in LogFormat order, discovered accounts and regions.
    let flow_cols: Vec<String> = t["vpcflow"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("${{{}}}", c[0].as_str().unwrap().replace('_', "-")))
        .collect();
    assert_eq!(
        flow_cols.join(" "),
        irprep_core::table::default_flow_log_format()
    );
    assert_eq!(
        t["vpcflow"]["parameters"]["projection.account_partition.values"],
        "111122223333,444455556666"
    );
    assert_eq!(
        t["vpcflow"]["parameters"]["projection.region_partition.values"],
        "eu-west-1,us-east-1"
    );
    assert_eq!(t["vpcflow"]["parameters"]["skip.header.line.count"], "1");
    // DNS: struct types, VPCs discovered.
    let dns_cols = t["dns"]["columns"].to_string();
    assert!(
        dns_cols.contains(r#"["answers","array<struct<rdata:string,type:string,class:string>>"]"#),
        "{dns_cols}"
    );
    assert!(t["dns"]["parameters"]["projection.vpc_partition.values"]
        .as_str()
        .unwrap()
        .contains("vpc-0a1b2c3d4e5f60718"));
    assert_eq!(t["dns"]["parameters"]["storage.location.template"], format!("s3://{bucket}/r53querylogs/AWSLogs/${{account_partition}}/vpcdnsquerylogs/${{vpc_partition}}/${{date_partition}}"));
    // Workgroup: engine v3, enforced, SSE-S3 results, cutoff, tagged.
    let w = &s["workgroup"];
    assert_eq!(w["tags"]["irprep:managed"], "true");
    assert_eq!(w["configuration"]["EnforceWorkGroupConfiguration"], true);
    assert_eq!(
        w["configuration"]["EngineVersion"]["SelectedEngineVersion"],
        "Athena engine version 3"
    );
    assert_eq!(
        w["configuration"]["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"],
        "SSE_S3"
    );
    assert_eq!(
        w["configuration"]["BytesScannedCutoffPerQuery"],
        10000000000i64
    );
    // Named queries: one per query and detection, with the configured table name.
    let nq = s["named_queries"].as_object().unwrap();
    assert_eq!(nq.len(), expected_queries);
    let q = &nq["irprep: cloudtrail-iam-access-key-creations"];
    assert_eq!(q["database"], db);
    assert!(q["sql"].as_str().unwrap().contains("FROM trail"), "{q}");
    assert!(nq["irprep: aws.cloudtrail.stop-logging"]["sql"]
        .as_str()
        .unwrap()
        .contains("FROM trail"));
    assert!(nq["irprep: vpcflow-src-dst-pair-summary"]["sql"]
        .as_str()
        .unwrap()
        .contains("FROM vpcflow"));

    // A second deploy plans nothing.
    let out = aws(irprep().args(deploy_args(bucket, db, wg)).arg("--dry-run"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A table irprep did not make, in the same database: deploy refuses to
    // overwrite one with a clashing name, and destroy leaves it (and so the database).
    // So does one that carries irprep's marker but that its ledger does not record.
    py(&["foreign-table", &moto(), db, "someone_elses"]);
    py(&["foreign-table", &moto(), db, "planted", "marked"]);
    for name in ["someone_elses", "planted"] {
        let mut clash = deploy_args(bucket, db, wg);
        let i = clash.iter().position(|a| a == "trail").unwrap();
        clash[i] = name.into();
        let out = aws(irprep().args(&clash).arg("--yes")).output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("ledger does not record making it"),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let out = aws(irprep().args([
        "analytics",
        "destroy",
        "--database",
        db,
        "--workgroup",
        wg,
        "--yes",
        "--format",
        "json",
    ]))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let removed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        removed
            .iter()
            .filter(|c| c["resource"] == "glue:table")
            .count(),
        3
    );
    let s = state(db, wg);
    assert_eq!(
        s["tables"].as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["planted", "someone_elses"]
    );
    assert!(
        !s["database"].is_null(),
        "the database still holds a foreign table"
    );
    assert!(s["workgroup"].is_null());
    // Nothing left to destroy.
    let out = aws(irprep().args([
        "analytics",
        "destroy",
        "--database",
        db,
        "--workgroup",
        wg,
        "--dry-run",
        "--format",
        "json",
    ]))
    .output()
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn cfn_template_matches_the_deployment() {
    let out = irprep()
        .args([
            "analytics",
            "cfn",
            "--cloudtrail",
            "s3://b/AWSLogs/o-abc123def4/",
            "--vpcflow",
            "s3://b/vpcflowlogs/AWSLogs/",
            "--accounts",
            "111122223333",
            "--regions",
            "us-east-1",
            "--results",
            "s3://r/",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = t["Resources"].as_object().unwrap();
    let kinds: Vec<&str> = r.values().map(|v| v["Type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "AWS::Glue::Table").count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "AWS::Athena::WorkGroup")
            .count(),
        1
    );
    let flow = r
        .values()
        .find(|v| v["Properties"]["TableInput"]["Name"] == "vpcflow")
        .unwrap();
    assert_eq!(flow["Properties"]["TableInput"]["Parameters"]["storage.location.template"], "s3://b/vpcflowlogs/AWSLogs/${account_partition}/vpcflowlogs/${region_partition}/${date_partition}");
    let named = kinds
        .iter()
        .filter(|k| **k == "AWS::Athena::NamedQuery")
        .count();
    // The template's tables are cloudtrail and vpcflow: no query or
    // detection of another table is named.
    let deployed = ["cloudtrail", "vpcflow"];
    let dns_detections = Catalogue::builtin()
        .detections
        .iter()
        .filter(|d| d.source == "dns")
        .count();
    assert!(dns_detections > 0);
    let on_deployed = queries::builtin()
        .unwrap()
        .iter()
        .filter(|q| deployed.contains(&q.table.as_str()))
        .count()
        + Catalogue::builtin()
            .detections
            .iter()
            .filter(|d| deployed.contains(&d.source.as_str()))
            .count();
    assert_eq!(
        named, on_deployed,
        "no queries or detections without their table"
    );
}

fn queue(results: Value) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), results.to_string()).unwrap();
    py(&["queue", &moto(), f.path().to_str().unwrap()]);
}

fn det_rows_one(ev: &str) -> Value {
    serde_json::json!({"columns": [["eventid", "varchar"], ["severity", "varchar"]], "rows": [[ev, "high"]]})
}

fn evidence_one(ev: &str) -> Value {
    serde_json::json!({"columns": [["eventid", "varchar"], ["eventtime", "varchar"], ["arn", "varchar"], ["accesskeyid", "varchar"], ["sourceipaddress", "varchar"], ["useragent", "varchar"], ["recipientaccountid", "varchar"], ["awsregion", "varchar"], ["eventname", "varchar"]],
        "rows": [[ev, "2024-03-05T10:00:00Z", "arn:aws:iam::111122223333:user/mallory", "AKIAEXAMPLE", "203.0.113.9", "aws-cli/2.15", "111122223333", "us-east-1", "StopLogging"]]})
}

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn query_and_hunt_run_on_athena() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    // Canned Athena answers are consumed in order: none left from another test.
    reset(&moto());
    let (db, wg) = ("sec_engine", "irprep-engine");
    // A workgroup to run in (deploy with only a CloudTrail table).
    let out = aws(irprep().args([
        "analytics",
        "deploy",
        "--cloudtrail",
        "s3://engine-logs/AWSLogs/",
        "--accounts",
        "111122223333",
        "--regions",
        "us-east-1",
        "--results",
        "s3://athena-results/e/",
        "--database",
        db,
        "--workgroup",
        wg,
        "--yes",
    ]))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    queue(
        serde_json::json!([{"columns": [["eventname", "varchar"], ["n", "bigint"]], "rows": [["RunInstances", 42], ["StopLogging", 1]]}]),
    );
    let out = aws(irprep().args([
        "query",
        "--engine",
        "athena",
        "--database",
        db,
        "--workgroup",
        wg,
        "--since",
        "2024-03-01T00:00:00Z",
        "--format",
        "json",
        "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1",
    ]))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"eventname": "RunInstances", "n": 42}, {"eventname": "StopLogging", "n": 1}])
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("scanned"));

    // A table deployed under another name (--cloudtrail-table): the SQL
    // keeps naming cloudtrail, and Athena is asked for the deployed table.
    queue(serde_json::json!([{"columns": [["n", "bigint"]], "rows": [[7]]}]));
    let out = aws(irprep().args([
        "query",
        "--engine",
        "athena",
        "--database",
        db,
        "--workgroup",
        wg,
        "--athena-table",
        "cloudtrail=org_trail",
        "--format",
        "json",
        "SELECT count(*) AS n FROM cloudtrail",
    ]))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<String> = serde_json::from_str(&py(&["sent", &moto(), wg])).unwrap();
    assert!(
        sent.iter().any(|q| q.starts_with(&format!(
            "WITH cloudtrail AS (SELECT * FROM \"{db}\".\"org_trail\")"
        ))),
        "{sent:#?}"
    );
    let out = aws(irprep().args([
        "query",
        "--engine",
        "athena",
        "--athena-table",
        "cloudtrial=x",
        "SELECT 1",
    ]))
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A flow-log table over Hive-compatible keys: an investigation query's
    // days reach Athena in the table's own form (year=…/month=…/day=…),
    // which its projection reads; `2024/03/01` would match no partition.
    let out = aws(irprep().args([
        "analytics",
        "deploy",
        "--vpcflow",
        "s3://engine-logs/AWSLogs/",
        "--flow-hive",
        "--accounts",
        "111122223333",
        "--regions",
        "us-east-1",
        "--vpcs",
        "vpc-0a1b2c3d",
        "--results",
        "s3://athena-results/e/",
        "--database",
        db,
        "--workgroup",
        wg,
        "--yes",
    ]))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    queue(serde_json::json!([{"columns": [["n", "bigint"]], "rows": [[1]]}]));
    let out = aws(irprep().args([
        "queries",
        "run",
        "vpcflow-preview-date-range",
        "--engine",
        "athena",
        "--database",
        db,
        "--workgroup",
        wg,
        "--param",
        "start_date=2024/03/05",
        "--format",
        "json",
    ]))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<String> = serde_json::from_str(&py(&["sent", &moto(), wg])).unwrap();
    assert!(
        sent.iter().any(|q| q.contains(
            "WHERE date_partition BETWEEN 'year=2024/month=03/day=05' AND 'year=2024/month=03/day=31'"
        )),
        "{sent:#?}"
    );

    // Hunt: two detections (each one query), then one evidence query.
    let ev = "11111111-2222-3333-4444-555555555555";
    let (det_rows, evidence) = (det_rows_one(ev), evidence_one(ev));
    queue(serde_json::json!([det_rows.clone(), det_rows, evidence]));
    let out = aws(irprep().args([
        "hunt",
        "--engine",
        "athena",
        "--database",
        db,
        "--workgroup",
        wg,
        "--only",
        "aws.cloudtrail.stop-logging",
        "--only",
        "aws.cloudtrail.delete-trail",
        "--format",
        "json",
        "--fail-on",
        "high",
    ]))
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["engine"], "athena");
    let f = doc["findings"].as_array().unwrap();
    assert_eq!(f.len(), 2, "{f:?}");
    // Both findings are mallory's: one incident.
    assert_eq!(doc["incidents"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["incidents"][0]["findings"].as_array().unwrap().len(), 2);
    for x in f {
        assert_eq!(x["principal"], "arn:aws:iam::111122223333:user/mallory");
        assert_eq!(x["severity"], "high");
        assert_eq!(x["event_ids"], serde_json::json!([ev]));
        assert_eq!(x["source_ips"], serde_json::json!(["203.0.113.9"]));
        assert_eq!(x["first_seen"], "2024-03-05T10:00:00Z");
    }
    assert!(
        err.contains("2 finding(s) from 2 detection(s) on Athena"),
        "{err}"
    );
    // No window given: the hunt covers the last 7 days, and says so.
    assert!(err.contains("hunting the last 7 days on Athena"), "{err}");
    // This database has no dns table: its detections are skipped with a
    // note, the CloudTrail one still runs (one query, then its evidence).
    queue(serde_json::json!([det_rows_one(ev), evidence_one(ev)]));
    let out = aws(irprep().args([
        "hunt",
        "--engine",
        "athena",
        "--database",
        db,
        "--workgroup",
        wg,
        "--only",
        "aws.cloudtrail.stop-logging",
        "--only",
        "aws.dns.*",
        "--format",
        "json",
    ]))
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("2 detection(s) on dns skipped: database sec_engine has no dns table"),
        "{err}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = doc["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["detection_id"], "aws.cloudtrail.stop-logging");
    // A detection file holding anything but one read-only query is reported
    // and never sent (UNLOAD would write the logs out with the operator's
    // credentials); the others still run.
    let user = tempfile::tempdir().unwrap();
    std::fs::write(
        user.path().join("unload.yaml"),
        "id: user.unload\ntitle: unload\nseverity: high\nattack: [T1537]\nsource: cloudtrail\nsql: |\n  UNLOAD (SELECT eventid FROM cloudtrail) TO 's3://elsewhere/x/' WITH (format = 'JSON')\n",
    )
    .unwrap();
    queue(serde_json::json!([det_rows_one(ev), evidence_one(ev)]));
    let out = aws(irprep().args([
        "hunt",
        "--engine",
        "athena",
        "--database",
        db,
        "--workgroup",
        wg,
        "--only",
        "aws.cloudtrail.stop-logging",
        "--only",
        "user.unload",
        "--detections",
        user.path().to_str().unwrap(),
        "--format",
        "json",
    ]))
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("detection user.unload failed on Athena: not sent to Athena"),
        "{err}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = doc["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["detection_id"], "aws.cloudtrail.stop-logging");
    // Nothing the selection reads is there: an error, not an empty success.
    let out = aws(irprep().args([
        "hunt",
        "--engine",
        "athena",
        "--database",
        db,
        "--workgroup",
        wg,
        "--only",
        "aws.dns.*",
    ]))
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains(
            "database sec_engine has none of the tables the selected detections read (dns)"
        ),
        "{err}"
    );
    // --logs belongs to the local engine.
    let out = irprep()
        .args(["query", "--engine", "athena", "--logs", "x", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn table_follows_an_existing_flow_log() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    let url = moto();
    let script = format!(
        "import boto3\ns3=boto3.client('s3',endpoint_url='{url}',region_name='us-east-1',aws_access_key_id='testing',aws_secret_access_key='testing')\n\
         s3.create_bucket(Bucket='their-parquet-flows')\n\
         e=boto3.client('ec2',endpoint_url='{url}',region_name='us-east-1',aws_access_key_id='testing',aws_secret_access_key='testing')\n\
         v=e.create_vpc(CidrBlock='10.80.0.0/16')['Vpc']['VpcId']\n\
         r=e.create_flow_logs(ResourceIds=[v],ResourceType='VPC',TrafficType='ALL',LogDestinationType='s3',LogDestination='arn:aws:s3:::their-parquet-flows',\n\
           LogFormat='${{version}} ${{srcaddr}} ${{dstaddr}} ${{pkt-src-aws-service}} ${{start}} ${{end}} ${{action}}',\n\
           DestinationOptions={{'FileFormat':'parquet','HiveCompatiblePartitions':True,'PerHourPartition':True}})\n\
         print(r['FlowLogIds'][0])"
    );
    let out = Command::new(python())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = aws(irprep().args([
        "analytics",
        "ddl",
        "--flow-log-id",
        &id,
        "--accounts",
        "123456789012",
        "--regions",
        "us-east-1",
    ]))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ddl = String::from_utf8(out.stdout).unwrap();
    let cols: Vec<&str> = ddl
        .lines()
        .filter(|l| l.starts_with("  `"))
        .map(|l| l.trim().split('`').nth(1).unwrap())
        .collect();
    assert_eq!(
        cols,
        vec![
            "version",
            "srcaddr",
            "dstaddr",
            "pkt_src_aws_service",
            "start",
            "end",
            "action"
        ]
    );
    // The location comes from the flow log's destination. (The emulator does
    // not return DestinationOptions, so file format and partitioning, which
    // irprep also reads from there, cannot be checked here.)
    assert!(
        ddl.contains("LOCATION 's3://their-parquet-flows/AWSLogs/'"),
        "{ddl}"
    );
}
