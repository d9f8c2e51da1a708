//! Every detection fires on its positive events and stays silent on its
//! negative ones and on the benign set; the invictus and OTRF acceptance.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::common::*;
use irprep_core::detect::{Catalogue, Detection, Severity};
use irprep_engine::hunt::{Finding, HuntReport};

fn evidence(r: &HuntReport) -> HashMap<String, HashSet<String>> {
    let mut m: HashMap<String, HashSet<String>> = HashMap::new();
    for f in &r.findings {
        m.entry(f.detection_id.clone())
            .or_default()
            .extend(f.event_ids.iter().cloned());
    }
    m
}

fn fixture(name: &str) -> std::path::PathBuf {
    root().join("content/detections/fixtures").join(name)
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn every_detection_has_tests_that_pass() {
    let cat = Catalogue::builtin();
    assert!(cat.skipped.is_empty(), "{:#?}", cat.skipped);
    assert!(
        cat.detections.len() >= 60,
        "{} detections",
        cat.detections.len()
    );
    let all = &cat.detections;
    let on_invictus = evidence(&hunt_paths(&[invictus()], all));
    let on_otrf = evidence(&hunt_paths(&[otrf()], all));
    let mut failures = vec![];
    for d in all {
        if d.tests.positive.is_empty() {
            failures.push(format!("{}: no positive test", d.id));
        }
        for t in &d.tests.positive {
            let (ev, expected): (HashSet<String>, Vec<String>) = if let Some(ds) = &t.dataset {
                let ev = match ds.as_str() {
                    "invictus" => on_invictus.get(&d.id).cloned().unwrap_or_default(),
                    "otrf" => on_otrf.get(&d.id).cloned().unwrap_or_default(),
                    other => {
                        failures.push(format!("{}: unknown dataset {other}", d.id));
                        continue;
                    }
                };
                (ev, t.event_ids.clone())
            } else if let Some(fx) = &t.fixture {
                let path = fixture(fx);
                let r = hunt_paths(std::slice::from_ref(&path), std::slice::from_ref(d));
                if t.event_ids.is_empty() && d.source != "cloudtrail" {
                    failures.push(format!(
                        "{}: a {} fixture must list the record keys it expects",
                        d.id, d.source
                    ));
                    continue;
                }
                let ids = if t.event_ids.is_empty() {
                    read_events(&path)
                        .iter()
                        .map(|e| e["eventID"].as_str().unwrap().to_string())
                        .collect()
                } else {
                    t.event_ids.clone()
                };
                (evidence(&r).remove(&d.id).unwrap_or_default(), ids)
            } else {
                failures.push(format!(
                    "{}: positive test names no dataset or fixture",
                    d.id
                ));
                continue;
            };
            if expected.is_empty() {
                failures.push(format!("{}: positive test lists no events", d.id));
            }
            for id in expected {
                if !ev.contains(&id) {
                    failures.push(format!("{}: expected event {id} not in evidence", d.id));
                }
            }
        }
        for t in &d.tests.negative {
            let Some(fx) = &t.fixture else { continue };
            let r = hunt_paths(&[fixture(fx)], std::slice::from_ref(d));
            if let Some(ev) = evidence(&r).get(&d.id) {
                failures.push(format!("{}: fired on negative fixture {fx}: {ev:?}", d.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The discovery burst reports a principal's sweep, not its habit: the
/// positive fixture's 32 calls, repeated every 15 minutes by one principal,
/// are reported while its burst windows number at most 72 (20 sweeps) and
/// not past that (30 sweeps, seven and a half hours); another principal's
/// single sweep among them is still reported.
#[test]
fn discovery_burst_reports_a_sweep_not_a_habit() {
    let id = "aws.cloudtrail.discovery-burst-many-services";
    let cat = Catalogue::builtin();
    let d = cat.get(id).unwrap();
    let sweep = read_events(&fixture("discovery-burst-many-services.json"));
    let repeated = |sweeps: usize, arn: &str, tag: u32| -> Vec<serde_json::Value> {
        let mut out = vec![];
        for k in 0..sweeps {
            for (i, e) in sweep.iter().enumerate() {
                let mut e = e.clone();
                let t =
                    chrono::DateTime::parse_from_rfc3339(e["eventTime"].as_str().unwrap()).unwrap();
                let t = t + chrono::Duration::minutes(15 * k as i64);
                e["eventTime"] = t.format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
                e["eventID"] = format!("{tag:08x}-0000-4000-8000-{k:06}{i:06}").into();
                e["userIdentity"]["arn"] = arn.into();
                out.push(e);
            }
        }
        out
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = |events: &[serde_json::Value]| -> Vec<(String, usize)> {
        let p = tmp.path().join("events.ndjson");
        write_events(&p, events);
        let r = hunt_paths(&[p], std::slice::from_ref(d));
        r.findings
            .iter()
            .map(|f| (f.principal.clone(), f.event_count))
            .collect()
    };
    let ci = "arn:aws:iam::111122223333:user/ci-deployer";
    // 20 sweeps: rare enough, every call is evidence.
    assert_eq!(
        run(&repeated(20, ci, 0)),
        vec![(ci.to_string(), 20 * sweep.len())]
    );
    // 30 sweeps: a habit, not reported.
    let habit = repeated(30, ci, 0);
    assert_eq!(run(&habit), vec![]);
    // An intruder's one sweep in the middle of the habit is.
    let intruder = "arn:aws:iam::111122223333:user/intruder";
    let mut mixed = habit.clone();
    mixed.extend(repeated(1, intruder, 1));
    assert_eq!(run(&mixed), vec![(intruder.to_string(), sweep.len())]);
}

/// The benign set: invictus background/analyst events and the OTRF operator.
fn benign_set(dir: &std::path::Path) -> std::path::PathBuf {
    let labels: HashMap<String, String> = invictus_labels()
        .into_iter()
        .map(|(id, label, _, _)| (id, label))
        .collect();
    let mut events: Vec<serde_json::Value> = read_events(&invictus())
        .into_iter()
        .filter(|e| {
            labels
                .get(e["eventID"].as_str().unwrap_or(""))
                .map(String::as_str)
                == Some("benign")
        })
        .collect();
    events.extend(read_events(&otrf()).into_iter().filter(|e| {
        !e["userIdentity"]["arn"]
            .as_str()
            .unwrap_or("")
            .contains("MordorNginxStack-BankingWAFRole")
    }));
    assert!(events.len() > 800, "benign set has {} events", events.len());
    let p = dir.join("benign.ndjson");
    write_events(&p, &events);
    p
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn quiet_on_the_benign_set() {
    let tmp = tempfile::tempdir().unwrap();
    let p = benign_set(tmp.path());
    let cat = Catalogue::builtin();
    let r = hunt_paths(&[p], &cat.detections);
    let loud: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .collect();
    for f in &loud {
        let d = cat.get(&f.detection_id).unwrap();
        assert!(
            !d.false_positives.is_empty(),
            "{} fires on benign events without false-positive notes",
            d.id
        );
    }
    println!(
        "benign set: {} findings, {} at medium or above: {:?}",
        r.findings.len(),
        loud.len(),
        loud.iter().map(|f| &f.detection_id).collect::<Vec<_>>()
    );
    assert!(
        loud.len() <= 3,
        "{} medium+ findings on benign events",
        loud.len()
    );
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn invictus_acceptance() {
    let cat = Catalogue::builtin();
    let r = hunt_paths(&[invictus()], &cat.detections);
    let labels = invictus_labels();
    let label_of: HashMap<&str, &str> = labels
        .iter()
        .map(|(id, l, _, _)| (id.as_str(), l.as_str()))
        .collect();
    let mut by_technique: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stolen = BTreeSet::new();
    for (id, label, phase, tech) in &labels {
        if label == "malicious" && phase == "detonation" {
            by_technique
                .entry(tech.clone())
                .or_default()
                .insert(id.clone());
        }
        if phase == "stolen-credential-use" {
            stolen.insert(id.clone());
        }
    }
    assert_eq!(by_technique.len(), 26, "{:?}", by_technique.keys());
    let all_evidence: HashSet<&String> =
        r.findings.iter().flat_map(|f| f.event_ids.iter()).collect();
    let mut missing = vec![];
    for (tech, ids) in &by_technique {
        if !ids.iter().any(|i| all_evidence.contains(i)) {
            missing.push(tech.clone());
        }
    }
    let inst: HashSet<&String> = r
        .findings
        .iter()
        .filter(|f| f.detection_id == "aws.cloudtrail.ec2-instance-credentials-off-instance")
        .flat_map(|f| f.event_ids.iter())
        .collect();
    assert_eq!(stolen.len(), 2);
    for s in &stolen {
        assert!(
            inst.contains(s),
            "stolen-credential event {s} not in the instance-credential evidence"
        );
    }
    let mut benign_only: BTreeMap<Severity, usize> = BTreeMap::new();
    for f in &r.findings {
        if f.event_ids
            .iter()
            .all(|i| label_of.get(i.as_str()) == Some(&"benign"))
        {
            *benign_only.entry(f.severity).or_default() += 1;
        }
    }
    println!(
        "invictus: {}/{} techniques found; {} findings; findings resting only on benign events by severity: {:?}",
        by_technique.len() - missing.len(),
        by_technique.len(),
        r.findings.len(),
        benign_only
    );
    assert!(
        missing.is_empty(),
        "techniques without a finding: {missing:?}"
    );
    let loud: usize = benign_only
        .iter()
        .filter(|(s, _)| **s >= Severity::Medium)
        .map(|(_, n)| n)
        .sum();
    assert!(
        loud <= 3,
        "{loud} medium+ findings rest only on benign events"
    );
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn otrf_stolen_credential_s3_access_found() {
    let cat = Catalogue::builtin();
    let r = hunt_paths(&[otrf()], &cat.detections);
    let malicious: HashSet<String> = read_events(&otrf())
        .into_iter()
        .filter(|e| {
            e["userIdentity"]["arn"]
                .as_str()
                .unwrap_or("")
                .contains("MordorNginxStack-BankingWAFRole")
                && e["userAgent"].as_str().unwrap_or("").contains("Darwin")
        })
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(malicious.len(), 11);
    let found: HashSet<String> = r
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .flat_map(|f| f.event_ids.iter().cloned())
        .collect();
    let s3_reads: Vec<&String> = malicious.iter().filter(|i| found.contains(*i)).collect();
    assert!(
        s3_reads.len() >= 9,
        "only {} of the 11 malicious events found",
        s3_reads.len()
    );
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn prefilter_keeps_results_identical() {
    // The one-pass hunt must give the same evidence as running each detection
    // on the whole table.
    let cat = Catalogue::builtin();
    let one_pass = evidence(&hunt_paths(&[invictus()], &cat.detections));
    let e = engine_logs(&[invictus()]);
    let rt = rt();
    for d in &cat.detections {
        let res = rt
            .block_on(e.query(&d.sql))
            .unwrap_or_else(|err| panic!("{}: {err}", d.id));
        let mut ids = HashSet::new();
        for b in &res.batches {
            let col = b.column_by_name("eventid").unwrap();
            let col = datafusion::arrow::compute::cast(
                col,
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let s = col
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .unwrap();
            ids.extend(s.iter().flatten().map(String::from));
        }
        assert_eq!(
            one_pass.get(&d.id).cloned().unwrap_or_default(),
            ids,
            "{}",
            d.id
        );
    }
}

#[allow(dead_code)]
fn _unused(_: &Detection) {}

/// Findings attributed to an AWS service, or to no principal, are not an
/// intruder's burst: a log delivery denied 30 times, Config and Access
/// Analyzer reading every service in five regions, services decrypting and
/// reading secrets for the account: nothing at medium or above, nothing
/// under an empty principal, and the failing delivery reported as the
/// readiness problem it is, under the service's name.
#[test]
fn aws_services_are_not_reported_as_intruders() {
    let cat = Catalogue::builtin();
    let r = hunt_paths(
        &[fixture("aws-service-access-denied.json")],
        &cat.detections,
    );
    let mut wrong = vec![];
    for f in &r.findings {
        if f.severity >= Severity::Medium || f.principal.is_empty() {
            wrong.push(format!(
                "{} {:?} {:?}",
                f.detection_id, f.severity, f.principal
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        r.findings.iter().any(
            |f| f.detection_id == "aws.cloudtrail.aws-service-access-denied"
                && f.principal == "delivery.logs.amazonaws.com"
                && f.event_count == 30
        ),
        "{:#?}",
        r.findings
    );
}

/// The hunt runs a detection on its own rows, and drops the WHERE its row
/// filter already applied; with a RIGHT JOIN in the statement that rewrite
/// made the local engine return nothing where the statement returns the two
/// off-instance calls of the Invictus dataset. The hunt must find what
/// `irprep query` finds.
#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn a_right_join_finds_in_the_hunt_what_the_query_finds() {
    const SQL: &str = r#"WITH inst AS (
  SELECT eventid,
         useridentity.arn AS session_arn,
         coalesce(sourceipaddress, '') AS ip,
         lower(coalesce(useragent, '')) AS ua,
         vpcendpointid,
         useridentity.invokedby AS invokedby
  FROM cloudtrail
  WHERE useridentity.type = 'AssumedRole'
    AND regexp_like(useridentity.arn, '^arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/[^/]+/i-[0-9a-f]{8,17}$')
),
classified AS (
  SELECT eventid,
         session_arn,
         ip,
         vpcendpointid,
         invokedby,
         regexp_like(ua, 'amazon-ssm-agent|cwagent|aws-cfn-bootstrap|codedeploy|amazon-ecs-agent') AS on_instance_agent,
         CASE
           WHEN regexp_like(ua, 'darwin|macos|mac os') THEN 'macos'
           WHEN regexp_like(ua, 'windows|win32|win64') THEN 'windows'
           WHEN regexp_like(ua, 'linux') THEN 'linux'
           ELSE 'unknown'
         END AS os
  FROM inst
),
baseline_ips AS (
  SELECT DISTINCT session_arn, ip
  FROM classified
  WHERE on_instance_agent
),
baseline AS (
  SELECT session_arn,
         max(CASE WHEN os = 'macos' THEN 1 ELSE 0 END) AS agent_macos,
         max(CASE WHEN os = 'windows' THEN 1 ELSE 0 END) AS agent_windows
  FROM classified
  WHERE on_instance_agent
  GROUP BY session_arn
),
-- The calls to judge, each with its session's baseline. The small side
-- (one row per session, or per session and address) is the left of each
-- join, the side a hash join holds: the instance's calls stream past it.
candidates AS (
  SELECT c.eventid, c.session_arn, c.ip, c.os,
         b.session_arn IS NOT NULL AS baselined,
         b.agent_macos, b.agent_windows
  FROM classified c
  LEFT JOIN baseline b ON b.session_arn = c.session_arn
  WHERE NOT c.on_instance_agent
    AND c.invokedby IS NULL
    AND c.vpcendpointid IS NULL
    AND c.ip <> 'AWS Internal'
    AND NOT regexp_like(c.ip, 'amazonaws\.com$')
),
scored AS (
  SELECT k.eventid,
         k.baselined AND bi.ip IS NULL AS foreign_ip,
         k.os = 'macos' AND coalesce(k.agent_macos, 0) = 0 AS mac_client,
         k.os = 'windows' AND k.baselined AND k.agent_windows = 0 AS windows_client,
         k.os = 'windows' AND NOT k.baselined AS windows_unbaselined
  FROM baseline_ips bi
  RIGHT JOIN candidates k ON bi.session_arn = k.session_arn AND bi.ip = k.ip
)
SELECT eventid,
       CASE WHEN foreign_ip OR mac_client OR windows_client THEN 'high' ELSE 'low' END AS severity
FROM scored
WHERE foreign_ip OR mac_client OR windows_client OR windows_unbaselined"#;
    let tmp = tempfile::tempdir().unwrap();
    let mut body = String::from(
        "id: test.right-join\ntitle: t\ndescription: t\nseverity: low\nattack: [T1552.005]\ntactics: [credential-access]\nsource: cloudtrail\nsql: |\n",
    );
    for l in SQL.lines() {
        body.push_str("  ");
        body.push_str(l);
        body.push('\n');
    }
    std::fs::write(tmp.path().join("d.yaml"), body).unwrap();
    let query = irprep()
        .args(["query", "-q", "--format", "csv", "--logs"])
        .arg(invictus())
        .arg(SQL)
        .output()
        .unwrap();
    let mut want: Vec<String> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or("").to_string())
        .collect();
    want.sort();
    assert_eq!(want.len(), 2, "{}", String::from_utf8_lossy(&query.stderr));
    let hunt = irprep()
        .args([
            "hunt",
            "-q",
            "--format",
            "jsonl",
            "--only",
            "test.right-join",
            "--detections",
        ])
        .arg(tmp.path())
        .arg("--logs")
        .arg(invictus())
        .output()
        .unwrap();
    let mut got: Vec<String> = String::from_utf8_lossy(&hunt.stdout)
        .lines()
        .flat_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "{}", String::from_utf8_lossy(&hunt.stderr));
}
