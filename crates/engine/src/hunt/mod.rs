//! The hunt: every detection over the logs in one scan.
//!
//! 1. Each detection's SQL is parsed; every SELECT that reads `cloudtrail`
//!    contributes its row-local WHERE conjuncts (JSON calls and subqueries
//!    relaxed into what they imply without them, which only widens the
//!    filter). A detection's row filter is the OR of those. A detection whose
//!    reads cannot be narrowed (a SELECT on `cloudtrail` without WHERE, or
//!    with joins) keeps every row.
//! 2. One scan of the logs builds the columns some detection (or a finding)
//!    uses, `useridentity` narrowed to the fields they name.
//! 3. Each batch is split per detection as it is read (`scan`):
//!    each row filter, compiled once, is evaluated on the rows its event-name
//!    guard admits. Every detection then runs on its own rows in its own
//!    session, several at a time. A detection whose only read's whole WHERE
//!    is its row filter runs without that WHERE; the others run unchanged.
//!    Its rows name evidence events (`eventid`, optional `severity`,
//!    `principal`), which are grouped into findings: one per detection ×
//!    principal.
//!
//! The result equals running each detection on the full table, because each
//! read of `cloudtrail` sees every row its own WHERE keeps, and applies that
//! WHERE itself unless the rows are exactly those.
//!
//! The modules follow the steps: `plan` reads each detection's SQL (row
//! filter, event-name guard, columns), `scan` splits the scan's batches
//! into each detection's rows, `run` runs each detection on its rows,
//! `evidence` turns the rows into findings, and `profile` reports where
//! the time and memory go (`tracing` at debug level, target `irprep::hunt`).

mod evidence;
pub mod incidents;
mod keys;
mod plan;
mod profile;
mod run;
mod scan;
mod spill;

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use futures::StreamExt;
use irprep_core::detect::{Detection, Severity};
use irprep_core::table;
use serde::{Deserialize, Serialize};

use crate::provider::LogFiles;
use crate::Engine;
use scan::{Piece, Splitter};

pub use evidence::{evidence_ids, findings_from, ResultCols};
pub use incidents::{incidents, Incident};
pub use plan::{check_sql, prefilter};
pub use spill::default_memory_limit;

/// How a hunt runs.
#[derive(Debug, Clone)]
pub struct HuntOptions {
    /// The memory the hunt may use (bytes): the detections' rows past half
    /// of it go to disk, and each detection's sorts and aggregates share the
    /// rest. [`default_memory_limit`] when not given.
    pub memory_limit: usize,
}

impl Default for HuntOptions {
    fn default() -> Self {
        HuntOptions {
            memory_limit: default_memory_limit(),
        }
    }
}

/// One finding: a detection × a principal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Finding {
    pub detection_id: String,
    pub title: String,
    pub severity: Severity,
    pub attack: Vec<String>,
    pub tactics: Vec<String>,
    pub principal: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub event_count: usize,
    pub source_ips: Vec<String>,
    pub user_agents: Vec<String>,
    pub event_names: Vec<String>,
    /// The access key ids the events were signed with (links a finding to
    /// others of the same credentials).
    #[serde(default)]
    pub access_keys: Vec<String>,
    /// Every matching CloudTrail eventID, in time order.
    pub event_ids: Vec<String>,
}

/// What a hunt found, plus what it could not run.
#[derive(Debug, Default)]
pub struct HuntReport {
    pub findings: Vec<Finding>,
    /// Detections that failed to plan or run, with the error.
    pub errors: Vec<(String, String)>,
    pub detections_run: usize,
    pub rows_scanned_into_memory: usize,
    /// Rows written to disk because the detections' rows passed the
    /// memory limit, and their size in memory.
    pub rows_spilled: usize,
    pub bytes_spilled: usize,
    /// Detections whose own sorts or aggregates needed more than their
    /// share of the memory limit, and ran again without one.
    pub over_budget: Vec<String>,
    /// Role sessions and IAM users, and who opened or created them, as the
    /// logs show (successful AssumeRole*, GetFederationToken, CreateUser):
    /// (issuer ARN, session or user ARN).
    pub sessions: Vec<(String, String)>,
}

/// The internal detection, run in the same scan, that finds who opened
/// which role session and who created which IAM user (for incidents; never
/// reported as a finding). Its `principal` is `issuer issued`, ARNs holding
/// no space.
pub const SESSIONS_ID: &str = "irprep.internal.sessions";

fn sessions_detection() -> Detection {
    Detection {
        id: SESSIONS_ID.into(),
        title: "Role sessions and IAM users, and who opened or created them".into(),
        description: String::new(),
        severity: Severity::Info,
        attack: vec![],
        tactics: vec![],
        source: "cloudtrail".into(),
        sql: "SELECT eventid, concat(arn, ' ', issued) AS principal FROM (\n\
              SELECT eventid, useridentity.arn AS arn,\n\
                     coalesce(json_extract_scalar(responseelements, '$.assumedRoleUser.arn'),\n\
                              json_extract_scalar(responseelements, '$.federatedUser.arn'),\n\
                              json_extract_scalar(responseelements, '$.user.arn')) AS issued\n\
              FROM cloudtrail\n\
              WHERE ((eventsource = 'sts.amazonaws.com'\n\
                      AND eventname IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity', 'GetFederationToken'))\n\
                     OR (eventsource = 'iam.amazonaws.com' AND eventname = 'CreateUser'))\n\
                AND errorcode IS NULL\n\
            ) s WHERE arn IS NOT NULL AND issued IS NOT NULL AND arn <> issued"
            .into(),
        false_positives: vec![],
        references: vec![],
        tests: Default::default(),
        origin: Default::default(),
        path: String::new(),
    }
}

/// Run the detections over the engine's `cloudtrail` table in one scan.
///
/// The scan computes, per row, each detection's row filter as a boolean
/// column. Every detection then gets its own in-memory table: the rows its
/// filter keeps (every row for a detection without one), with only the
/// columns it uses. Memory follows what the detections need, not the size of
/// the logs times the number of detections.
pub async fn hunt(engine: &Engine, detections: &[Detection]) -> Result<HuntReport> {
    hunt_with(engine, detections, &HuntOptions::default()).await
}

/// [`hunt`] within a memory limit: the rows the detections keep go to disk
/// past half of it, and come back a batch at a time. The findings are the
/// same at any limit.
pub async fn hunt_with(
    engine: &Engine,
    detections: &[Detection],
    options: &HuntOptions,
) -> Result<HuntReport> {
    let mut report = HuntReport::default();
    let budget = Arc::new(spill::Budget::new(options.memory_limit));
    // Where the time goes (scan, each detection), at debug level.
    let profile = profile::enabled();
    let t0 = std::time::Instant::now();
    let sessions = sessions_detection();
    let mut ct: Vec<&Detection> = detections
        .iter()
        .filter(|d| d.source == "cloudtrail")
        .collect();
    if !ct.is_empty() {
        ct.push(&sessions);
    }
    // Detections over the other tables (flow logs, Resolver query logs) run
    // as written on the engine's tables; their rows carry their own facts
    // (`eventid` is a record key they build, `eventtime`, `sourceipaddress`,
    // `recipientaccountid`, `awsregion`, `eventname`, `principal`).
    for d in detections.iter().filter(|d| d.source != "cloudtrail") {
        // A table no file was given for holds no rows: its detections cannot
        // fire, and planning them would cost every hunt (ten tables).
        let empty = match engine.context().table_provider(d.source.as_str()).await {
            Ok(p) => p
                .downcast_ref::<LogFiles>()
                .is_some_and(|t| t.files().is_empty()),
            Err(_) => false,
        };
        if empty {
            continue;
        }
        report.detections_run += 1;
        let found = match engine.query(&d.sql).await {
            Ok(r) => findings_from(&[(d, r.batches.clone())], &r.batches),
            Err(e) => Err(e),
        };
        match found {
            Ok(f) => report.findings.extend(f),
            Err(e) => report.errors.push((d.id.clone(), e.to_string())),
        }
    }
    if ct.is_empty() {
        report.errors.sort();
        sort_findings(&mut report.findings);
        return Ok(report);
    }
    let mut filters: Vec<plan::RowFilter> = ct.iter().map(|d| plan::row_filter(&d.sql)).collect();
    let cols: Vec<Vec<String>> = ct
        .iter()
        .map(|d| plan::used_columns(&[d.sql.as_str()]))
        .collect();
    let t = table::cloudtrail();
    let all: Vec<String> = t
        .columns
        .iter()
        .map(|c| c.name.to_string())
        .chain(t.partitions.iter().map(|p| p.name.to_string()))
        .filter(|c| cols.iter().any(|cs| cs.contains(c)))
        .collect();
    // The scan builds only the identity fields some detection names (the
    // whole struct cost more than any other column, and the detections read
    // six of its twenty fields).
    let narrowed = match plan::identity_fields(ct.iter().map(|d| d.sql.as_str())) {
        Some(fields) => match engine.context().table_provider("cloudtrail").await {
            Ok(p) => p
                .downcast_ref::<LogFiles>()
                .map(|t| t.with_struct_fields(vec![("useridentity".into(), fields)])),
            Err(_) => None,
        },
        None => None,
    };
    let scan_engine = Engine::new(engine.diag.clone());
    let engine = match narrowed {
        Some(t) => {
            scan_engine
                .context()
                .register_table("cloudtrail", Arc::new(t))?;
            &scan_engine
        }
        None => engine,
    };
    // The scan has no WHERE: each batch is split by the detections' own
    // filters (see [`crate::split`]).
    let df = engine
        .plan(&format!("SELECT {} FROM cloudtrail", all.join(", ")))
        .await?;
    let schema: datafusion::arrow::datatypes::SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let idx: Vec<Vec<usize>> = cols
        .iter()
        .map(|cs| cs.iter().filter_map(|c| schema.index_of(c).ok()).collect())
        .collect();
    let tp = std::time::Instant::now();
    let (splitter, exact) = Splitter::new(
        engine,
        &schema,
        &filters.iter().collect::<Vec<_>>(),
        idx.clone(),
        budget.clone(),
    )
    .await?;
    if profile {
        tracing::debug!(
            target: profile::TARGET,
            "hunt: row filters planned in {:.3}s (setup before the scan {:.3}s)",
            tp.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64()
        );
        let open: Vec<&str> = ct
            .iter()
            .enumerate()
            .filter(|(i, _)| !splitter.guarded(*i))
            .map(|(_, d)| d.id.as_str())
            .collect();
        tracing::debug!(
            target: profile::TARGET,
            "hunt: {} of {} row filters without an event-name or key guard: {}",
            open.len(),
            ct.len(),
            open.join(", ")
        );
    }
    let splitter = Arc::new(splitter);
    // One worker per scan partition, each splitting the batches it reads.
    let workers: Vec<_> = df
        .execute_stream_partitioned()
        .await?
        .into_iter()
        .map(|mut stream| {
            let splitter = splitter.clone();
            tokio::spawn(async move {
                let mut out = splitter.start();
                while let Some(batch) = stream.next().await {
                    splitter.split(&batch?, &mut out)?;
                    if splitter.budget.over() {
                        splitter.budget.spill(&mut out.held)?;
                    }
                }
                let files = splitter.budget.finish(&mut out.held)?;
                Ok::<_, DataFusionError>((out, files))
            })
        })
        .collect();
    let mut tables: Vec<Vec<Piece>> = vec![vec![]; ct.len()];
    let mut spilled: Vec<Vec<spill::Spilled>> = vec![vec![]; ct.len()];
    let mut failed: Vec<Option<String>> = vec![None; ct.len()];
    let mut cost = vec![0f64; ct.len()];
    let mut dispatch_cost = 0f64;
    for w in workers {
        let (mut out, files) = w
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        for (i, f) in files.into_iter().enumerate() {
            spilled[i].extend(f);
        }
        dispatch_cost += out.dispatch_cost;
        for (c, o) in cost.iter_mut().zip(&out.cost) {
            *c += o;
        }
        let pieces = out.held.take_pieces();
        for (i, (pieces, f)) in pieces.into_iter().zip(out.failed).enumerate() {
            tables[i].extend(pieces);
            if failed[i].is_none() {
                failed[i] = f;
            }
        }
    }
    // The scan's buffers are gone: their memory goes back before the
    // detections run.
    spill::release_free_memory();
    if profile {
        let mut by_cost: Vec<(f64, &str)> = cost
            .iter()
            .zip(&ct)
            .map(|(c, d)| (*c, d.id.as_str()))
            .collect();
        by_cost.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top: Vec<String> = by_cost
            .iter()
            .take(8)
            .map(|(c, id)| format!("{id} {c:.3}s"))
            .collect();
        tracing::debug!(
            target: profile::TARGET,
            "hunt: split {:.2}s in all (dispatch {dispatch_cost:.2}s; costliest filters: {})",
            cost.iter().sum::<f64>() + dispatch_cost,
            top.join(", ")
        );
        tracing::debug!(
            target: profile::TARGET,
            "hunt: scan {:.2}s ({} detections, {} without a row filter; rss {}MB)",
            t0.elapsed().as_secs_f64(),
            ct.len(),
            filters.iter().filter(|f| f.filter.is_none()).count(),
            profile::rss_mb()
        );
        let held = profile::held_bytes(&schema, &tables, &idx);
        let total: usize = held.iter().map(|c| c.0).sum();
        let cols: Vec<String> = held
            .iter()
            .map(|(b, n)| format!("{n} {}MB", b >> 20))
            .collect();
        tracing::debug!(
            target: profile::TARGET,
            "hunt: detections' rows hold {}MB: {}",
            total >> 20,
            cols.join(", ")
        );
    }
    // Each detection runs in its own session on its own rows, as many at a
    // time as there are cores (at least two, at most eight), the heaviest
    // first: most detections use one core, and the findings of a broad one
    // take as long as its query.
    let mut jobs = vec![];
    for (i, d) in ct.iter().enumerate() {
        report.detections_run += 1;
        if let Some(e) = failed[i].take() {
            if d.id != SESSIONS_ID {
                report.errors.push((d.id.clone(), e));
            }
            continue;
        }
        let batches = std::mem::take(&mut tables[i]);
        let files = std::mem::take(&mut spilled[i]);
        let rows = batches.iter().map(Piece::kept).sum::<usize>();
        report.rows_scanned_into_memory += rows;
        let stmt = filters[i].without.take().filter(|_| exact[i]);
        // A detection whose rows went to disk is the one to order first.
        let weight = if files.is_empty() { rows } else { usize::MAX };
        jobs.push((
            weight,
            run::Job {
                detection: (*d).clone(),
                schema: Arc::new(schema.project(&idx[i])?),
                batches,
                files,
                stmt,
            },
        ));
    }
    jobs.sort_by_key(|(rows, _)| std::cmp::Reverse(*rows));
    let diag = engine.diag.clone();
    let at_once = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    report.rows_spilled = budget
        .spilled_rows
        .load(std::sync::atomic::Ordering::Relaxed);
    report.bytes_spilled = budget
        .spilled_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    if profile && budget.spilled() {
        tracing::debug!(
            target: profile::TARGET,
            "hunt: {} rows ({}MB in memory) went to disk under a memory limit of {}MB",
            report.rows_spilled,
            report.bytes_spilled >> 20,
            budget.limit >> 20
        );
    }
    // A detection run from disk gets its share of the limit for its sorts
    // and aggregates (they spill past it).
    let per_run = budget.per_run(at_once);
    let mut runs = futures::stream::iter(jobs.into_iter().map(|(_, job)| {
        let limit = (!job.files.is_empty()).then_some(per_run);
        tokio::spawn(run::run_detection(job, diag.clone(), profile, limit))
    }))
    .buffer_unordered(at_once);
    // The sessions' detection is not a detection of the catalogue.
    report.detections_run -= 1;
    while let Some(r) = runs.next().await {
        // What a long detection's run freed goes back too (memory handed
        // back is faulted in again when used: not after every small one).
        if matches!(&r, Ok(Ok(ran)) if ran.big) {
            spill::release_free_memory();
        }
        match r {
            Ok(Ok(ran)) if ran.over_budget && ran.id != SESSIONS_ID => {
                report.over_budget.push(ran.id);
                report.findings.extend(ran.findings);
            }
            Ok(Ok(ran)) if ran.id == SESSIONS_ID => {
                let f = ran.findings;
                report.sessions.extend(f.into_iter().filter_map(|f| {
                    let (a, b) = f.principal.split_once(' ')?;
                    Some((a.to_string(), b.to_string()))
                }));
            }
            Ok(Ok(ran)) => report.findings.extend(ran.findings),
            Ok(Err(e)) if e.0 == SESSIONS_ID => {
                tracing::debug!("role sessions not found: {}", e.1);
            }
            Ok(Err(e)) => report.errors.push(e),
            Err(e) => return Err(DataFusionError::External(Box::new(e))),
        }
    }
    report.errors.sort();
    report.over_budget.sort();
    sort_findings(&mut report.findings);
    drop(budget);
    if profile {
        tracing::debug!(target: profile::TARGET, "hunt: total {:.2}s", t0.elapsed().as_secs_f64());
    }
    Ok(report)
}

/// Findings in report order: severity (highest first), then first seen,
/// detection, principal.
pub fn sort_findings(f: &mut [Finding]) {
    f.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.first_seen.cmp(&b.first_seen))
            .then_with(|| a.detection_id.cmp(&b.detection_id))
            .then_with(|| a.principal.cmp(&b.principal))
    });
}
