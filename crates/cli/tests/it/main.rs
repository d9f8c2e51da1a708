//! The integration tests of the `irprep` binary and its libraries, in one
//! test binary (it links once).
//!
//! Tests that need something `scripts/test.sh` provides are compiled as
//! ignored, with the reason, when it is absent (see `build.rs`):
//!
//! - `moto_server`: `IRPREP_TEST_MOTO_URL` (and `IRPREP_TEST_MOTO_AUTH_URL`);
//! - the test venv's python (sqlglot, boto3, references): `IRPREP_TEST_PYTHON`;
//! - Debian's chromium: `IRPREP_TEST_CHROMIUM`;
//! - the shared datasets: `../shared/datasets` (or `IRPREP_TEST_DATASETS`).
//!
//! `cargo test` alone runs the rest; `scripts/test.sh` runs everything and
//! fails if anything was ignored.

mod common;

mod acceptance;
mod analytics_moto;
mod cli;
mod collect;
mod detections;
mod engine;
mod hostile;
mod integrity;
mod logs_moto;
mod report;
mod s3_regions;
mod simulate_moto;
mod snapshots;
mod sql_and_sigma;
mod synth_drill;
