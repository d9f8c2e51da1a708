//! Shared test helpers: paths, the emulator and Python the test script
//! provides, engines over files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use irprep_core::detect::Detection;
use irprep_engine::hunt::{self, HuntReport};
use irprep_engine::{discover_local, Diagnostics, Engine, TimeWindow};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn datasets() -> PathBuf {
    PathBuf::from(env!("IRPREP_TEST_DATASETS_DIR"))
}

pub fn invictus() -> PathBuf {
    datasets().join("invictus-aws-dataset/CloudTrail")
}

pub fn otrf() -> PathBuf {
    datasets().join("otrf-security-datasets-aws/ec2_proxy_s3_exfiltration_2020-09-14011940.json")
}

/// The venv python of scripts/test.sh (sqlglot, boto3, reference scripts).
pub fn python() -> String {
    std::env::var("IRPREP_TEST_PYTHON")
        .expect("IRPREP_TEST_PYTHON is not set: run the suite with scripts/test.sh")
}

/// One emulator serves every test of this binary, and tests reset it: a
/// test using it holds this lock throughout.
pub static MOTO: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The moto_server URL of scripts/test.sh.
pub fn moto() -> String {
    std::env::var("IRPREP_TEST_MOTO_URL")
        .expect("IRPREP_TEST_MOTO_URL is not set: run the suite with scripts/test.sh")
}

/// Empty the emulator (every service, every account).
pub fn reset(url: &str) {
    let out = Command::new(python())
        .args(["-c", &format!("import urllib.request; urllib.request.urlopen(urllib.request.Request('{url}/moto-api/reset', method='POST')).read()")])
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// `data` gzipped (one member).
pub fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn irprep() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_irprep"));
    c.env("NO_COLOR", "1").env_remove("AWS_PROFILE");
    c
}

pub fn engine_on(paths: &[PathBuf]) -> Engine {
    let e = Engine::new(Arc::new(Diagnostics::new(false)));
    let (files, _) = discover_local(paths).unwrap();
    e.register_cloudtrail(files, None, TimeWindow::default())
        .unwrap();
    e
}

/// An engine with `cloudtrail`, `vpcflow` and `dns` over mixed inputs.
pub fn engine_logs(paths: &[PathBuf]) -> Engine {
    let e = Engine::new(Arc::new(Diagnostics::new(false)));
    let (files, _) = discover_local(paths).unwrap();
    e.register_logs(files, None, TimeWindow::default()).unwrap();
    e
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The hunt over files of any kind (CloudTrail, flow logs, Resolver query
/// logs), as `irprep hunt --logs` runs it.
pub fn hunt_paths(paths: &[PathBuf], dets: &[Detection]) -> HuntReport {
    let e = engine_logs(paths);
    let r = rt().block_on(hunt::hunt(&e, dets)).unwrap();
    assert!(r.errors.is_empty(), "detections failed: {:#?}", r.errors);
    r
}

/// Invictus labels: eventID -> (label, phase, technique).
pub fn invictus_labels() -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(datasets().join("invictus-aws-dataset/labels-derived.csv"))
        .unwrap();
    let mut out = vec![];
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        // file,eventID,eventTime,eventSource,eventName,errorCode,label,phase,stratus_uuid,technique_inferred
        out.push((
            f[1].to_string(),
            f[6].to_string(),
            f[7].to_string(),
            f.get(9).unwrap_or(&"").to_string(),
        ));
    }
    out
}

/// Write the given events as one NDJSON file.
pub fn write_events(path: &Path, events: &[serde_json::Value]) {
    let mut s = String::new();
    for e in events {
        s.push_str(&serde_json::to_string(e).unwrap());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// Every event of the given files (delivery files or NDJSON).
pub fn read_events(path: &Path) -> Vec<serde_json::Value> {
    let mut out = vec![];
    let paths: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.get("Records").is_some() => {
                out.extend(v["Records"].as_array().unwrap().iter().cloned())
            }
            _ => {
                for l in text.lines().filter(|l| !l.trim().is_empty()) {
                    out.push(serde_json::from_str(l).unwrap());
                }
            }
        }
    }
    out
}
