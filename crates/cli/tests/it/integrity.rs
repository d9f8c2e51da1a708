//! `irprep logs validate`: CloudTrail log file integrity, on a trail made as
//! CloudTrail makes it (tests/emulator/trail_digests.py: signed, chained
//! digests), then changed as an intruder would change it, locally and on S3.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn script(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(root().join("tests/emulator/trail_digests.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "trail_digests.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run `logs validate --format json`: (exit code, checks, stderr).
fn validate(args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let out = irprep()
        .args(["logs", "validate", "--format", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), checks, stderr)
}

/// (kind, verdict) of the check whose file ends with `name`.
fn verdict_of(checks: &[serde_json::Value], name: &str) -> (String, String) {
    let c = checks
        .iter()
        .find(|c| c["file"].as_str().unwrap_or("").ends_with(name))
        .unwrap_or_else(|| panic!("no check of {name}: {checks:#?}"));
    (
        c["kind"].as_str().unwrap().to_string(),
        c["verdict"].as_str().unwrap().to_string(),
    )
}

fn tally(checks: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = checks
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

fn name(key: &str) -> &str {
    key.rsplit('/').next().unwrap()
}

#[test]
#[cfg_attr(
    not(irprep_python),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON, with cryptography); see tests/it/main.rs"
)]
fn a_local_copy_is_proven_and_what_an_intruder_changed_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("trail");
    script(&["make", d.to_str().unwrap()]);
    let keys = d.join("public-keys.json");
    let dir = d.to_str().unwrap();

    // Untouched: every digest but the newest is proven by the signature its
    // successor carries (a local copy keeps no S3 metadata).
    let (code, checks, stderr) =
        validate(&["--logs", dir, "--public-keys", keys.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        tally(&checks),
        [
            vec![pair("digest", "unverified")],
            vec![pair("digest", "valid"); 3],
            vec![pair("log", "unverified")],
            vec![pair("log", "valid"); 3]
        ]
        .concat(),
        "{checks:#?}"
    );
    assert!(stderr.contains("4 digest(s), 4 log file(s)"), "{stderr}");

    // Without keys nothing is proven, nothing is called changed, and it says so.
    let (code, checks, _) = validate(&["--logs", dir]);
    assert_eq!(code, Some(0));
    assert!(
        checks.iter().all(|c| c["verdict"] == "unverified"),
        "{checks:#?}"
    );
    assert!(checks
        .iter()
        .any(|c| c["detail"].as_str().unwrap().contains("--public-keys")));

    // Changed as an intruder would.
    let done: serde_json::Value = serde_json::from_str(&script(&["tamper", dir])).unwrap();
    let (code, checks, stderr) =
        validate(&["--logs", dir, "--public-keys", keys.to_str().unwrap()]);
    assert_eq!(code, Some(1), "changes found: exit 1\n{stderr}");
    let at = |k: &str| name(done[k].as_str().unwrap()).to_string();
    assert_eq!(
        verdict_of(&checks, &at("modified")),
        pair("log", "tampered")
    );
    assert_eq!(verdict_of(&checks, &at("deleted")), pair("log", "missing"));
    assert_eq!(verdict_of(&checks, &at("planted")), pair("log", "unlisted"));
    assert_eq!(
        verdict_of(&checks, &at("deleted_digest")),
        pair("digest", "missing")
    );
    // The table for people names the same files, and nothing from them raw.
    let table = irprep()
        .args([
            "logs",
            "validate",
            "--logs",
            dir,
            "--public-keys",
            keys.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    for k in ["modified", "deleted", "planted", "deleted_digest"] {
        assert!(text.contains(&at(k)), "{k} in the table:\n{text}");
    }
    assert_eq!(table.status.code(), Some(1));
}

#[test]
#[cfg_attr(
    not(irprep_python),
    ignore = "needs the test venv (IRPREP_TEST_PYTHON, with cryptography); see tests/it/main.rs"
)]
fn broken_digests_and_key_files_are_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("trail");
    script(&["make", d.to_str().unwrap()]);
    let digest_dir = d.join("AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/05/01");
    std::fs::write(
        digest_dir.join(
            "111122223333_CloudTrail-Digest_eu-west-1_main_eu-west-1_20240501T140000Z.json.gz",
        ),
        gz(b"{\"awsAccountId\": [1, 2"),
    )
    .unwrap();
    let (code, checks, stderr) = validate(&[
        "--logs",
        d.to_str().unwrap(),
        "--public-keys",
        d.join("public-keys.json").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(3), "an unreadable digest: exit 3\n{stderr}");
    assert_eq!(
        verdict_of(&checks, "20240501T140000Z.json.gz"),
        pair("digest", "unreadable")
    );
    assert_eq!(checks.iter().filter(|c| c["verdict"] == "valid").count(), 6);

    let bad = tmp.path().join("keys.json");
    std::fs::write(&bad, "{\"PublicKeyList\": [{\"Value\": \"@@\"}]}").unwrap();
    let out = irprep()
        .args([
            "logs",
            "validate",
            "--logs",
            d.to_str().unwrap(),
            "--public-keys",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keys.json") && err.contains("key 0"), "{err}");
}

#[test]
#[cfg_attr(
    not(all(irprep_moto, irprep_python)),
    ignore = "needs moto_server (IRPREP_TEST_MOTO_URL), the test venv (IRPREP_TEST_PYTHON); see tests/it/main.rs"
)]
fn on_s3_every_signature_is_checked_and_deleted_objects_are_found() {
    let _g = MOTO.lock().unwrap_or_else(|e| e.into_inner());
    let url = moto();
    reset(&url);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("trail");
    script(&["make", d.to_str().unwrap()]);
    // A copy of the trail bucket (the responder's evidence bucket): the
    // digests still name the original, only the layout under AWSLogs/ counts.
    script(&["upload", d.to_str().unwrap(), &url, "evidence-copy"]);
    let keys = d.join("public-keys.json");
    let s3 = [
        "--logs",
        "s3://evidence-copy/",
        "--endpoint-url",
        &url,
        "--region",
        "us-east-1",
    ];
    let (code, checks, stderr) =
        validate(&[&s3[..], &["--public-keys", keys.to_str().unwrap()]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        tally(&checks),
        [
            vec![pair("digest", "valid"); 4],
            vec![pair("log", "valid"); 4]
        ]
        .concat(),
        "with the signature metadata, the newest digest is proven too: {checks:#?}"
    );

    // Keys asked of CloudTrail: the emulator has no ListPublicKeys, so the
    // region's signatures go unchecked, and stderr says why.
    let (code, checks, stderr) = validate(&s3);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("ListPublicKeys in eu-west-1"), "{stderr}");
    assert!(
        checks.iter().all(|c| c["verdict"] == "unverified"),
        "{checks:#?}"
    );

    let done: serde_json::Value =
        serde_json::from_str(&script(&["s3-tamper", &url, "evidence-copy"])).unwrap();
    let (code, checks, stderr) =
        validate(&[&s3[..], &["--public-keys", keys.to_str().unwrap()]].concat());
    assert_eq!(code, Some(1), "{stderr}");
    let at = |k: &str| name(done[k].as_str().unwrap()).to_string();
    assert_eq!(
        verdict_of(&checks, &at("modified")),
        pair("log", "tampered")
    );
    assert_eq!(verdict_of(&checks, &at("deleted")), pair("log", "missing"));
    assert!(!Path::new(&at("deleted")).exists());
}
