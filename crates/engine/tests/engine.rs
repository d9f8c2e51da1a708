//! The engine on the shared datasets and on crafted inputs.

use std::path::PathBuf;
use std::sync::Arc;

use irprep_engine::{discover_local, render, Diagnostics, Engine, TimeWindow};

fn datasets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
}

async fn engine_on(paths: &[PathBuf]) -> Engine {
    let diag = Arc::new(Diagnostics::new(false));
    let e = Engine::new(diag);
    let (files, _) = discover_local(paths).unwrap();
    e.register_cloudtrail(files, None, TimeWindow::default()).unwrap();
    e
}

async fn rows(e: &Engine, sql: &str) -> Vec<Vec<Option<String>>> {
    let r = e.query(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    render::rows(&r.batches).unwrap()
}

#[tokio::test]
async fn invictus_loads_and_counts() {
    let e = engine_on(&[datasets().join("invictus-aws-dataset/CloudTrail")]).await;
    let r = rows(&e, "SELECT count(*), count(DISTINCT eventID) FROM cloudtrail").await;
    assert_eq!(r[0], vec![Some("2900".into()), Some("2900".into())]);
    let r = rows(&e, "SELECT eventType, count(*) FROM CloudTrail GROUP BY 1 ORDER BY 1").await;
    assert_eq!(r, vec![
        vec![Some("AwsApiCall".into()), Some("2855".into())],
        vec![Some("AwsConsoleSignIn".into()), Some("3".into())],
        vec![Some("AwsServiceEvent".into()), Some("42".into())],
    ]);
    assert!(!e.diag.any_skipped(), "{:?}", e.diag.issues());
}

#[tokio::test]
async fn trino_functions_work() {
    let e = engine_on(&[datasets().join("invictus-aws-dataset/CloudTrail")]).await;
    let r = rows(&e, "SELECT json_extract_scalar(responseelements, '$.accessKey.userName') AS u FROM cloudtrail WHERE eventname = 'CreateAccessKey' AND errorcode IS NULL ORDER BY eventtime").await;
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|x| x[0].is_some()));
    let r = rows(&e, "SELECT useridentity.sessioncontext.sessionissuer.username, count(*) FROM cloudtrail WHERE useridentity.type = 'AssumedRole' GROUP BY 1 ORDER BY 2 DESC LIMIT 1").await;
    assert_eq!(r.len(), 1);
    let r = rows(&e, "SELECT count(*) FROM cloudtrail WHERE regexp_like(sourceipaddress, '^\\d') AND contains('192.168.0.0/16', CAST(sourceipaddress AS IPADDRESS))").await;
    assert!(r[0][0].as_deref().unwrap().parse::<i64>().unwrap() > 0);
    let r = rows(&e, "SELECT count(*) FROM cloudtrail WHERE CAST(sourceipaddress AS IPADDRESS) >= CAST('192.168.0.0' AS IPADDRESS) AND CAST(sourceipaddress AS IPADDRESS) <= CAST('192.168.255.255' AS IPADDRESS)").await;
    let r2 = rows(&e, "SELECT count(*) FROM cloudtrail WHERE sourceipaddress LIKE '192.168.%'").await;
    assert_eq!(r, r2);
    let r = rows(&e, "SELECT element_at(split('a.b.c.', '.'), -2), cardinality(split('a.b', '.')), date_format(date_add('day', -1, from_iso8601_timestamp('2023-07-10T11:42:36Z')), '%Y/%m/%d'), date_format(date_parse('2023/07/10', '%Y/%m/%d'), '%Y-%m-%d %H:%i:%s')").await;
    assert_eq!(r[0], vec![Some("c".into()), Some("2".into()), Some("2023/07/09".into()), Some("2023-07-10 00:00:00".into())]);
    let r = rows(&e, "SELECT transform(resources, x -> x.arn) FROM cloudtrail WHERE cardinality(resources) > 1 ORDER BY eventid LIMIT 1").await;
    assert!(r[0][0].as_deref().unwrap().starts_with('['));
    let r = rows(&e, "SELECT cardinality(filter(resources, r -> r.type = 'AWS::S3::Bucket')) FROM cloudtrail WHERE cardinality(resources) > 0 ORDER BY eventid LIMIT 1").await;
    assert!(r[0][0].is_some());
    let r = rows(&e, "SELECT array_agg(DISTINCT eventsource) FROM cloudtrail WHERE eventname = 'ConsoleLogin'").await;
    assert_eq!(r[0][0].as_deref(), Some("[\"signin.amazonaws.com\"]"));
    let r = rows(&e, "SELECT count(*) FROM cloudtrail WHERE contains(array_distinct(array['a','b','a']), 'b') AND date_partition >= date_format(date_add('day', -30000, current_timestamp), '%Y/%m/%d')").await;
    assert_eq!(r[0][0].as_deref(), Some("2900"));
    let r = rows(&e, "SELECT from_unixtime(0), to_unixtime(from_iso8601_timestamp('1970-01-01T00:01:00Z')), date_diff('minute', from_iso8601_timestamp('2023-07-10T11:00:00Z'), from_iso8601_timestamp('2023-07-10T12:30:00Z'))").await;
    assert_eq!(r[0][1].as_deref(), Some("60.0"));
    assert_eq!(r[0][2].as_deref(), Some("90"));
}

#[tokio::test]
async fn otrf_logstash_and_digest() {
    let e = engine_on(&[
        datasets().join("otrf-security-datasets-aws/ec2_proxy_s3_exfiltration_2020-09-14011940.json"),
        datasets().join("elastic-integrations-aws-fixtures/cloudtrail/test-cloudtrail-digest-json.log"),
    ])
    .await;
    let r = rows(&e, "SELECT count(*), min(eventtime), min(date_partition) FROM cloudtrail").await;
    assert_eq!(r[0][0].as_deref(), Some("103"));
    assert_eq!(r[0][1].as_deref(), Some("2020-09-14T00:44:20Z"));
    assert_eq!(r[0][2].as_deref(), Some("2020/09/14"));
    assert_eq!(Diagnostics::get(&e.diag.digest_files), 1);
    assert!(!e.diag.any_skipped());
}
