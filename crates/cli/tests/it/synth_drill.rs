//! The synthesiser looks like real CloudTrail; the offline drill detects every
//! scenario, and the score is real (removing a detection fails its scenario).

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use irprep_core::scenario;
use irprep_core::synth::{synthesize, SynthConfig};
use serde_json::Value;

/// Keys that depend on the outcome of the call or on the path it took, not on
/// the kind of event: CloudTrail adds `errorCode`/`errorMessage` only when a
/// call fails, `vpcEndpointId`/`vpcEndpointAccountId` only through a VPC
/// endpoint, `tlsDetails` only when a client connected itself (not for the
/// console or a service acting for the principal) and
/// `sessionCredentialFromConsole` only for console sessions. The real data
/// holds some calls only through one channel (e.g. DescribeRegions only from
/// the console), so these keys are left out of the comparison.
const SITUATIONAL: [&str; 6] = [
    "errorCode",
    "errorMessage",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "tlsDetails",
    "sessionCredentialFromConsole",
];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !SITUATIONAL.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn id_type(e: &Value) -> String {
    e["userIdentity"]["type"].as_str().unwrap_or("").to_string()
}

fn gunzip(p: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = vec![];
    flate2::read::MultiGzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
#[cfg_attr(
    not(irprep_datasets),
    ignore = "needs ../shared/datasets (IRPREP_TEST_DATASETS)"
)]
fn synthetic_events_have_the_shape_of_real_ones() {
    // Real shapes: top-level keys per (eventName, identity type), and
    // userIdentity keys per identity type (an identity looks the same
    // whatever it calls).
    let mut real: BTreeMap<(String, String), BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    let mut real_names: BTreeSet<String> = BTreeSet::new();
    let mut real_ids: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for e in read_events(&invictus()) {
        let name = e["eventName"].as_str().unwrap_or("").to_string();
        real_names.insert(name.clone());
        real.entry((name, id_type(&e)))
            .or_default()
            .insert(keys(&e));
        real_ids
            .entry(id_type(&e))
            .or_default()
            .insert(keys(&e["userIdentity"]));
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        background: 4000,
        scenarios: scenario::builtin().unwrap(),
        ..Default::default()
    };
    let summary = synthesize(&cfg, tmp.path()).unwrap();
    let mut synthetic = vec![];
    let mut stack = vec![tmp.path().join("AWSLogs")];
    while let Some(d) = stack.pop() {
        for ent in std::fs::read_dir(&d).unwrap() {
            let p = ent.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                // <account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<random>.json.gz
                let parts: Vec<&str> = name.split('_').collect();
                assert_eq!(parts.len(), 5, "{name}");
                assert_eq!(parts[1], "CloudTrail");
                assert!(name.ends_with(".json.gz"));
                let v: Value = serde_json::from_slice(&gunzip(&p)).unwrap();
                synthetic.extend(v["Records"].as_array().unwrap().iter().cloned());
            }
        }
    }
    assert_eq!(synthetic.len(), summary.events);
    let mut compared = BTreeSet::new();
    let mut mismatches = vec![];
    for e in &synthetic {
        let name = e["eventName"].as_str().unwrap().to_string();
        if !real_names.contains(&name) {
            continue;
        }
        compared.insert(name.clone());
        assert_eq!(
            e.get("errorCode").is_some(),
            e.get("errorMessage").is_some(),
            "{name}: errorCode without errorMessage"
        );
        let t = id_type(e);
        // Compare with real events of the same name and identity type, or of
        // the same name when the data has none of that type.
        let shapes: BTreeSet<BTreeSet<String>> = match real.get(&(name.clone(), t.clone())) {
            Some(s) => s.clone(),
            None => real
                .iter()
                .filter(|((n, _), _)| *n == name)
                .flat_map(|(_, s)| s.iter().cloned())
                .collect(),
        };
        let k = keys(e);
        if !shapes.contains(&k) {
            let closest = shapes
                .iter()
                .min_by_key(|r| r.symmetric_difference(&k).count())
                .unwrap();
            mismatches.push(format!(
                "{name} ({t}): extra {:?}, missing {:?}",
                k.difference(closest).collect::<Vec<_>>(),
                closest.difference(&k).collect::<Vec<_>>()
            ));
        }
        let ik = keys(&e["userIdentity"]);
        if real_ids.get(&t).is_some_and(|ids| !ids.contains(&ik)) {
            mismatches.push(format!(
                "{name}: userIdentity of type {t} with keys {ik:?} matches no real {t} identity"
            ));
        }
    }
    mismatches.sort();
    mismatches.dedup();
    println!(
        "compared {} eventNames that also occur in the real data",
        compared.len()
    );
    assert!(
        compared.len() >= 25,
        "only {} eventNames compared",
        compared.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} shape mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // labels.csv: one row per event, scenario or benign.
    let labels = std::fs::read_to_string(tmp.path().join("labels.csv")).unwrap();
    assert_eq!(labels.lines().count() - 1, summary.events);
}

#[test]
fn offline_drill_detects_every_scenario() {
    let out = irprep()
        .args(["drill", "--background", "3000", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let fails: Vec<&Value> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["result"] != "PASS")
        .collect();
    assert!(
        fails.is_empty(),
        "failing scenarios: {}",
        serde_json::to_string_pretty(&fails).unwrap()
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(v["total"].as_u64().unwrap() >= 15);
    assert_eq!(v["detected"], v["total"]);
}

/// The score is real: for every scenario that names its detections, leaving
/// one of them out of the hunt fails that scenario, and only for that
/// detection's reason.
#[test]
fn removing_a_detection_fails_its_scenario() {
    let mut checked = 0;
    for s in scenario::builtin().unwrap() {
        let Some(det) = s.expected_detections.first() else {
            continue;
        };
        let out = irprep()
            .args([
                "drill",
                "--background",
                "300",
                "--format",
                "json",
                "--scenario",
                &s.id,
                "--exclude-detection",
                det,
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: excluding {det} should fail the drill",
            s.id
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let sc = &v["scenarios"][0];
        assert_eq!(sc["scenario"], s.id.as_str());
        assert_eq!(sc["result"], "FAIL", "{}: {sc}", s.id);
        let missing: Vec<&str> = sc["missing_detections"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d.as_str())
            .collect();
        assert_eq!(missing, [det.as_str()], "{}: {sc}", s.id);
        assert!(
            !sc["fired"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d == det.as_str()),
            "{}: an excluded detection fired",
            s.id
        );
        checked += 1;
    }
    // With every detection, every scenario passes: offline_drill_detects_every_scenario.
    assert!(checked >= 15, "only {checked} scenarios name a detection");
}

/// A hunt under a memory limit too small for any detection's rows writes
/// them to disk and reads them back, and finds exactly what the unbounded
/// hunt finds (every scenario's findings, byte for byte in JSONL).
#[test]
fn a_hunt_past_its_memory_limit_spills_and_finds_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        background: 6000,
        scenarios: scenario::builtin().unwrap(),
        ..Default::default()
    };
    synthesize(&cfg, tmp.path()).unwrap();
    let logs = tmp.path().join("AWSLogs");
    let hunt = |extra: &[&str]| {
        let out = irprep()
            .args(["hunt", "-q", "--timings", "--format", "jsonl", "--logs"])
            .arg(&logs)
            .args(extra)
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let (free, free_log) = hunt(&["--memory-limit", "4G"]);
    assert!(
        !free_log.contains("went to disk"),
        "nothing spills at 4G: {free_log}"
    );
    let (tight, tight_log) = hunt(&["--memory-limit", "64K"]);
    let spilled = tight_log
        .lines()
        .find(|l| l.contains("went to disk"))
        .unwrap_or_else(|| panic!("a 64K limit spills: {tight_log}"));
    let rows: usize = spilled
        .split_whitespace()
        .skip_while(|w| *w != "hunt:")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(rows > 6000, "most rows go to disk: {spilled}");
    assert!(
        free.lines().count() >= 15,
        "the scenarios' findings: {free}"
    );
    assert_eq!(free, tight, "the same findings at any limit");
    // The spill directory is gone when the hunt ends.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("irprep-hunt-"))
        .collect();
    assert!(left.is_empty(), "spill files left behind: {left:?}");
}
