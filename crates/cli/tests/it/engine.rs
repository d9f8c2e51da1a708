//! The engine on the shared datasets and on crafted inputs.

use std::path::PathBuf;
use std::sync::Arc;

use irprep_engine::{discover_local, render, Diagnostics, Engine, TimeWindow};

use crate::common::datasets;

async fn engine_on(paths: &[PathBuf]) -> Engine {
    let diag = Arc::new(Diagnostics::new(false));
    let e = Engine::new(diag);
    let (files, _) = discover_local(paths).unwrap();
    e.register_cloudtrail(files, None, TimeWindow::default())
        .unwrap();
    e
}

async fn rows(e: &Engine, sql: &str) -> Vec<Vec<Option<String>>> {
    let r = e
        .query(sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    render::rows(&r.batches).unwrap()
}

#[tokio::test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
async fn invictus_loads_and_counts() {
    let e = engine_on(&[datasets().join("invictus-aws-dataset/CloudTrail")]).await;
    let r = rows(
        &e,
        "SELECT count(*), count(DISTINCT eventID) FROM cloudtrail",
    )
    .await;
    assert_eq!(r[0], vec![Some("2900".into()), Some("2900".into())]);
    let r = rows(
        &e,
        "SELECT eventType, count(*) FROM CloudTrail GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(
        r,
        vec![
            vec![Some("AwsApiCall".into()), Some("2855".into())],
            vec![Some("AwsConsoleSignIn".into()), Some("3".into())],
            vec![Some("AwsServiceEvent".into()), Some("42".into())],
        ]
    );
    assert!(!e.diag.any_skipped(), "{:?}", e.diag.issues());
}

#[tokio::test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
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
    let r2 = rows(
        &e,
        "SELECT count(*) FROM cloudtrail WHERE sourceipaddress LIKE '192.168.%'",
    )
    .await;
    assert_eq!(r, r2);
    let r = rows(&e, "SELECT element_at(split('a.b.c.', '.'), -2), cardinality(split('a.b', '.')), date_format(date_add('day', -1, from_iso8601_timestamp('2023-07-10T11:42:36Z')), '%Y/%m/%d'), date_format(date_parse('2023/07/10', '%Y/%m/%d'), '%Y-%m-%d %H:%i:%s')").await;
    assert_eq!(
        r[0],
        vec![
            Some("c".into()),
            Some("2".into()),
            Some("2023/07/09".into()),
            Some("2023-07-10 00:00:00".into())
        ]
    );
    let r = rows(&e, "SELECT transform(resources, x -> x.arn) FROM cloudtrail WHERE cardinality(resources) > 1 ORDER BY eventid LIMIT 1").await;
    assert!(r[0][0].as_deref().unwrap().starts_with('['));
    let r = rows(&e, "SELECT cardinality(filter(resources, r -> r.type = 'AWS::S3::Bucket')) FROM cloudtrail WHERE cardinality(resources) > 0 ORDER BY eventid LIMIT 1").await;
    assert!(r[0][0].is_some());
    let r = rows(
        &e,
        "SELECT array_agg(DISTINCT eventsource) FROM cloudtrail WHERE eventname = 'ConsoleLogin'",
    )
    .await;
    assert_eq!(r[0][0].as_deref(), Some("[\"signin.amazonaws.com\"]"));
    let r = rows(&e, "SELECT count(*) FROM cloudtrail WHERE contains(array_distinct(array['a','b','a']), 'b') AND date_partition >= date_format(date_add('day', -30000, current_timestamp), '%Y/%m/%d')").await;
    assert_eq!(r[0][0].as_deref(), Some("2900"));
    let r = rows(&e, "SELECT from_unixtime(0), to_unixtime(from_iso8601_timestamp('1970-01-01T00:01:00Z')), date_diff('minute', from_iso8601_timestamp('2023-07-10T11:00:00Z'), from_iso8601_timestamp('2023-07-10T12:30:00Z'))").await;
    assert_eq!(r[0][1].as_deref(), Some("60.0"));
    assert_eq!(r[0][2].as_deref(), Some("90"));
}

#[tokio::test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
async fn otrf_logstash_and_digest() {
    let e = engine_on(&[
        datasets()
            .join("otrf-security-datasets-aws/ec2_proxy_s3_exfiltration_2020-09-14011940.json"),
        datasets()
            .join("elastic-integrations-aws-fixtures/cloudtrail/test-cloudtrail-digest-json.log"),
    ])
    .await;
    let r = rows(
        &e,
        "SELECT count(*), min(eventtime), min(date_partition) FROM cloudtrail",
    )
    .await;
    assert_eq!(r[0][0].as_deref(), Some("103"));
    assert_eq!(r[0][1].as_deref(), Some("2020-09-14T00:44:20Z"));
    assert_eq!(r[0][2].as_deref(), Some("2020/09/14"));
    assert_eq!(Diagnostics::get(&e.diag.digest_files), 1);
    assert!(!e.diag.any_skipped());
}

/// Flow logs delivered as Parquet (AWS names the columns after the fields,
/// with `_`): read by name, cast to the table's types, partitions from the
/// Hive-compatible key, absent fields NULL, a broken Parquet file reported.
#[tokio::test]
async fn parquet_flow_logs_read_by_name() {
    use datafusion::arrow::array::{Int32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=03/day=05/hour=09");
    std::fs::create_dir_all(&sub).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int32, true),
        Field::new("account_id", DataType::Utf8, true),
        Field::new("srcaddr", DataType::Utf8, true),
        Field::new("dstaddr", DataType::Utf8, true),
        Field::new("dstport", DataType::Int32, true),
        Field::new("packets", DataType::Int64, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("start", DataType::Int64, true),
        Field::new("end", DataType::Int64, true),
        Field::new("action", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int32Array::from(vec![5, 5])),
            Arc::new(StringArray::from(vec!["111122223333", "111122223333"])),
            Arc::new(StringArray::from(vec!["10.0.0.5", "198.51.100.7"])),
            Arc::new(StringArray::from(vec!["198.51.100.7", "10.0.0.5"])),
            Arc::new(Int32Array::from(vec![Some(443), None])),
            Arc::new(Int64Array::from(vec![10, 3])),
            Arc::new(Int64Array::from(vec![8400, 180])),
            Arc::new(Int64Array::from(vec![1709629200, 1709629260])),
            Arc::new(Int64Array::from(vec![1709629260, 1709629320])),
            Arc::new(StringArray::from(vec!["ACCEPT", "REJECT"])),
        ],
    )
    .unwrap();
    let f = std::fs::File::create(
        sub.join("111122223333_vpcflowlogs_eu-west-1_fl-1_20240305T0900Z_a.log.parquet"),
    )
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    std::fs::write(sub.join("broken.parquet"), b"PAR1 not really PAR1").unwrap();

    let diag = Arc::new(Diagnostics::new(false));
    let e = Engine::new(diag.clone());
    let (files, _) = discover_local(&[dir.path().to_path_buf()]).unwrap();
    e.register_logs(files, None, TimeWindow::default()).unwrap();
    let r = rows(&e, "SELECT srcaddr, dstport, packets, \"end\", protocol, account_partition, region_partition, date_partition, hour_partition FROM vpcflow ORDER BY srcaddr").await;
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        r,
        vec![
            vec![
                s("10.0.0.5"),
                s("443"),
                s("10"),
                s("1709629260"),
                None,
                s("111122223333"),
                s("eu-west-1"),
                s("2024/03/05"),
                s("09")
            ],
            vec![
                s("198.51.100.7"),
                None,
                s("3"),
                s("1709629320"),
                None,
                s("111122223333"),
                s("eu-west-1"),
                s("2024/03/05"),
                s("09")
            ],
        ]
    );
    let issues = diag.issues();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(issues[0].file.ends_with("broken.parquet") && issues[0].whole_file);
    // The time window applies to Parquet records too.
    let e = Engine::new(Arc::new(Diagnostics::new(false)));
    let (files, _) = discover_local(&[dir.path().to_path_buf()]).unwrap();
    e.register_logs(
        files,
        None,
        TimeWindow {
            since: Some("2024-03-05T09:00:30Z".into()),
            until: None,
        },
    )
    .unwrap();
    assert_eq!(
        rows(&e, "SELECT count(*) FROM vpcflow").await,
        vec![vec![s("1")]]
    );
}

#[tokio::test]
async fn only_queries_run_locally_explain_included() {
    let e = Engine::new(Arc::new(Diagnostics::new(false)));
    assert!(e.query("EXPLAIN SELECT 1").await.is_ok());
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "EXPLAIN CREATE TABLE t AS SELECT 1",
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
        "DROP TABLE cloudtrail",
    ] {
        let err = e
            .query(sql)
            .await
            .err()
            .unwrap_or_else(|| panic!("{sql} ran"));
        assert!(err.to_string().contains("only queries"), "{sql}: {err}");
    }
}
