//! Tells the integration tests what the machine provides, so that a test
//! needing something absent is reported as ignored (with the reason), never
//! silently passed:
//!
//! - `irprep_moto`: `IRPREP_TEST_MOTO_URL` names a running moto_server
//!   (`scripts/test.sh` starts one);
//! - `irprep_python`: `IRPREP_TEST_PYTHON` names the test venv's python
//!   (sqlglot, boto3, the Python references);
//! - `irprep_browser`: `IRPREP_TEST_CHROMIUM` names Debian's chromium (the
//!   HTML report's test);
//! - `irprep_datasets`: the shared datasets are present
//!   (`IRPREP_TEST_DATASETS`, default `../shared/datasets` beside the clone).

use std::path::PathBuf;

fn main() {
    for cfg in [
        "irprep_moto",
        "irprep_python",
        "irprep_datasets",
        "irprep_browser",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    println!("cargo::rerun-if-changed=build.rs");
    for var in [
        "IRPREP_TEST_MOTO_URL",
        "IRPREP_TEST_PYTHON",
        "IRPREP_TEST_CHROMIUM",
        "IRPREP_TEST_DATASETS",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if set("IRPREP_TEST_MOTO_URL") {
        println!("cargo::rustc-cfg=irprep_moto");
    }
    if set("IRPREP_TEST_PYTHON") {
        println!("cargo::rustc-cfg=irprep_python");
    }
    if set("IRPREP_TEST_CHROMIUM") {
        println!("cargo::rustc-cfg=irprep_browser");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let datasets = std::env::var_os("IRPREP_TEST_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared/datasets"));
    if datasets.join("invictus-aws-dataset").is_dir() {
        println!("cargo::rustc-cfg=irprep_datasets");
    }
    println!(
        "cargo::rustc-env=IRPREP_TEST_DATASETS_DIR={}",
        datasets.display()
    );
}
