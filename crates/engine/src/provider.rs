//! The log table provider (every [`LogTable`]): partition pruning
//! on the S3 layout before any byte is read, projection pushed into the
//! record reader, files spread over the cores.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::ExecutionPlan;
use irprep_core::cloudtrail::{Problem, ReadOptions};
use irprep_core::layout::KeyKind;
use irprep_core::table::TableDef;
use irprep_core::tables::LogTable;

use crate::diag::{Diagnostics, InputIssue, SharedDiagnostics};
use crate::source::{Fetcher, Location, LogFile};

/// Rows per output batch (small files are coalesced up to this).
const BATCH_ROWS: usize = 8192;

/// How long after its last event a log file may be written, for pruning by
/// the key's date (see [`TimeWindow::keeps_days`]).
pub const LATE_DELIVERY: chrono::Duration = chrono::Duration::hours(1);

/// A time window applied to every scan (`--since/--until`), as canonical
/// CloudTrail time strings.
#[derive(Debug, Clone, Default)]
pub struct TimeWindow {
    pub since: Option<String>,
    pub until: Option<String>,
}

impl TimeWindow {
    /// Whether any day from `lo` to `hi` (`yyyy/MM/dd`, inclusive) can hold
    /// an event of the window (a file's key date, or a folder's span of
    /// days). A key's date is the day the file was written, minutes after its
    /// events (CloudTrail within about 15, flow logs after their aggregation
    /// interval), so the day after `until` is kept while it is within
    /// [`LATE_DELIVERY`] of it: the events of 23:55 are in the file written at
    /// 00:05. The reader's time filter keeps the bound exact.
    pub fn keeps_days(&self, lo: &str, hi: &str) -> bool {
        let since_day = Self::day(&self.since);
        let until_day = self.until.as_deref().map(|u| {
            chrono::DateTime::parse_from_rfc3339(u)
                .map(|t| {
                    (t.with_timezone(&chrono::Utc) + LATE_DELIVERY)
                        .format("%Y/%m/%d")
                        .to_string()
                })
                .unwrap_or_else(|_| u.get(..10).unwrap_or(u).replace('-', "/"))
        });
        let before = since_day.as_deref().is_some_and(|d| hi < d);
        let after = until_day.as_deref().is_some_and(|d| lo > d);
        !(before || after)
    }

    /// Whether the window bounds anything.
    pub fn is_bounded(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    fn day(t: &Option<String>) -> Option<String> {
        t.as_ref()
            .filter(|t| t.len() >= 10)
            .map(|t| t[..10].replace('-', "/"))
    }
}

/// The `cloudtrail` table (the name the rest of the code knew first).
pub type CloudTrailTable = LogFiles;

/// The files of one log table, as a DataFusion table.
#[derive(Debug)]
pub struct LogFiles {
    kind: LogTable,
    def: TableDef,
    schema: SchemaRef,
    /// Struct columns narrowed to some children (CloudTrail only).
    struct_fields: Vec<(String, Vec<String>)>,
    files: Arc<Vec<LogFile>>,
    fetcher: Option<Fetcher>,
    diag: SharedDiagnostics,
    window: TimeWindow,
}

impl LogFiles {
    pub fn new(
        files: Vec<LogFile>,
        fetcher: Option<Fetcher>,
        diag: SharedDiagnostics,
        window: TimeWindow,
    ) -> Self {
        Self::of_kind(LogTable::CloudTrail, files, fetcher, diag, window)
    }

    pub fn of_kind(
        kind: LogTable,
        files: Vec<LogFile>,
        fetcher: Option<Fetcher>,
        diag: SharedDiagnostics,
        window: TimeWindow,
    ) -> Self {
        let def = kind.def();
        let schema = def.arrow_schema();
        LogFiles {
            kind,
            def,
            schema,
            struct_fields: vec![],
            files: Arc::new(files),
            fetcher,
            diag,
            window,
        }
    }

    /// The same files as a table whose struct columns are narrowed to the
    /// named children (see [`TableDef::with_struct_fields`]): a query that
    /// reads `useridentity.arn` only then does not build the whole identity.
    /// Only CloudTrail has struct columns worth narrowing; other kinds are
    /// returned unchanged.
    pub fn with_struct_fields(&self, keep: Vec<(String, Vec<String>)>) -> Self {
        let keep = if self.kind == LogTable::CloudTrail {
            keep
        } else {
            vec![]
        };
        let def = self.kind.def().with_struct_fields(&keep);
        let schema = def.arrow_schema();
        LogFiles {
            kind: self.kind,
            def,
            schema,
            struct_fields: keep,
            files: self.files.clone(),
            fetcher: self.fetcher.clone(),
            diag: self.diag.clone(),
            window: self.window.clone(),
        }
    }

    pub fn files(&self) -> &[LogFile] {
        &self.files
    }

    fn partition_names(&self) -> Vec<&'static str> {
        self.def.partitions.iter().map(|p| p.name).collect()
    }

    /// Files that survive the partition filters and the time window; digests
    /// and Insights files are counted and dropped here, unread.
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> Result<Vec<LogFile>> {
        let parts: HashSet<&str> = self.partition_names().into_iter().collect();
        let part_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| {
                let cols = f.column_refs();
                !cols.is_empty() && cols.iter().all(|c| parts.contains(c.name.as_str()))
            })
            .map(|f| unqualify(f.clone()))
            .collect::<Result<_>>()?;

        let mut keep = vec![];
        let mut with_parts = vec![];
        for f in self.files.iter() {
            match f.kind {
                KeyKind::CloudTrailDigest => {
                    Diagnostics::add(&self.diag.digest_files, 1);
                    continue;
                }
                KeyKind::CloudTrailInsight => {
                    Diagnostics::add(&self.diag.insight_files, 1);
                    continue;
                }
                _ => {}
            }
            if let Some(p) = &f.partitions {
                if !self.window.keeps_days(&p.date, &p.date) {
                    Diagnostics::add(&self.diag.files_pruned, 1);
                    continue;
                }
                with_parts.push(f.clone());
            } else {
                keep.push(f.clone());
            }
        }
        if part_filters.is_empty() || with_parts.is_empty() {
            keep.extend(with_parts);
            return Ok(keep);
        }
        // Evaluate the partition filters on one row per file.
        let pschema = Arc::new(Schema::new(
            self.partition_names()
                .iter()
                .map(|n| Field::new(*n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let mut cols = vec![];
        for n in self.partition_names() {
            cols.push(Arc::new(StringArray::from_iter(
                with_parts
                    .iter()
                    .map(|f| f.partitions.as_ref().expect("filtered above").value(n)),
            )) as datafusion::arrow::array::ArrayRef);
        }
        let batch = RecordBatch::try_new(pschema.clone(), cols)?;
        let dfschema = DFSchema::try_from(pschema.as_ref().clone())?;
        let mut mask = vec![true; with_parts.len()];
        for f in part_filters {
            let phys = state.create_physical_expr(f, &dfschema)?;
            let v = phys.evaluate(&batch)?.into_array(batch.num_rows())?;
            let b = v
                .as_any()
                .downcast_ref::<datafusion::arrow::array::BooleanArray>()
                .ok_or_else(|| {
                    DataFusionError::Internal("partition filter is not boolean".into())
                })?;
            for (i, m) in mask.iter_mut().enumerate() {
                *m = *m && b.is_valid(i) && b.value(i);
            }
        }
        for (f, m) in with_parts.into_iter().zip(mask) {
            if m {
                keep.push(f);
            } else {
                Diagnostics::add(&self.diag.files_pruned, 1);
            }
        }
        Ok(keep)
    }
}

fn unqualify(e: Expr) -> Result<Expr> {
    e.transform(|e| {
        Ok(match e {
            Expr::Column(c) if c.relation.is_some() => {
                Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))
            }
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
}

#[async_trait]
impl TableProvider for LogFiles {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self.prune(state, filters)?;
        let proj: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let out_schema = Arc::new(self.schema.project(&proj)?);
        let nparts = state
            .config()
            .target_partitions()
            .max(1)
            .min(files.len().max(1));
        // Greedy balance by size, largest first.
        let mut order: Vec<&LogFile> = files.iter().collect();
        order.sort_by_key(|f| std::cmp::Reverse(f.size));
        let mut buckets: Vec<(u64, Vec<LogFile>)> = vec![(0, vec![]); nparts];
        for f in order {
            let b = buckets
                .iter_mut()
                .min_by_key(|b| b.0)
                .expect("at least one partition");
            b.0 += f.size.max(1);
            b.1.push(f.clone());
        }
        let opts = ReadOptions {
            projection: Some(proj),
            since: self.window.since.clone(),
            until: self.window.until.clone(),
            struct_fields: self.struct_fields.clone(),
        };
        let kind = self.kind;
        let budget = crate::prefetch::BUDGET_BYTES / nparts as u64;
        let in_flight = (crate::prefetch::IN_FLIGHT / nparts).max(4);
        let parts: Vec<Arc<dyn PartitionStream>> = buckets
            .into_iter()
            .map(|(_, files)| {
                Arc::new(ScanPartition {
                    kind,
                    schema: out_schema.clone(),
                    files: Arc::new(files),
                    opts: opts.clone(),
                    fetcher: self.fetcher.clone(),
                    diag: self.diag.clone(),
                    in_flight,
                    budget: crate::prefetch::Budget::new(budget),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            out_schema,
            parts,
            None,
            vec![],
            false,
            limit,
        )?))
    }
}

#[derive(Debug)]
struct ScanPartition {
    kind: LogTable,
    schema: SchemaRef,
    files: Arc<Vec<LogFile>>,
    opts: ReadOptions,
    fetcher: Option<Fetcher>,
    diag: SharedDiagnostics,
    /// Remote objects: how many this partition fetches ahead, and its share
    /// of the scan's byte budget for them ([`crate::prefetch`]).
    in_flight: usize,
    budget: crate::prefetch::Budget,
}

impl PartitionStream for ScanPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), 4);
        let tx = builder.tx();
        let files = self.files.clone();
        let opts = self.opts.clone();
        let fetcher = self.fetcher.clone();
        let diag = self.diag.clone();
        let schema = self.schema.clone();
        let handle = tokio::runtime::Handle::try_current().ok();
        let kind = self.kind;
        // The partition's remote objects, fetched ahead in its order.
        let mut ahead = match (&fetcher, &handle) {
            (Some(fe), Some(h)) => {
                let wanted: Vec<crate::prefetch::Wanted> = files
                    .iter()
                    .filter_map(|f| match &f.location {
                        Location::Remote { bucket, key } => {
                            Some((bucket.clone(), key.clone(), f.size))
                        }
                        Location::Local(_) => None,
                    })
                    .collect();
                (!wanted.is_empty()).then(|| {
                    crate::prefetch::start(
                        h,
                        fe.clone(),
                        wanted,
                        self.in_flight,
                        self.budget.clone(),
                    )
                })
            }
            _ => None,
        };
        builder.spawn_blocking(move || {
            let reader = kind.reader(opts.clone());
            let mut buf: Vec<u8> = Vec::new();
            let mut inflater = irprep_core::decompress::Inflater::new();
            // Rows of many files gathered into batches of about BATCH_ROWS,
            // and the (compressed) files whose rows the batcher holds.
            let mut batcher = reader.batcher(schema.clone());
            let mut pending: Vec<&LogFile> = vec![];
            let fetch = |f: &LogFile| -> std::result::Result<Vec<u8>, String> {
                match &f.location {
                    Location::Local(p) => irprep_core::decompress::read_file_bounded(p),
                    Location::Remote { bucket, key } => match (&fetcher, &handle) {
                        (Some(fe), Some(h)) => h.block_on(fe.fetch(bucket, key)),
                        _ => Err("no S3 client configured for remote objects".to_string()),
                    },
                }
            };
            for f in files.iter() {
                let name = f.to_string();
                // An object's share of the prefetch budget is held until its
                // rows are read.
                let (raw, _share) = match (&f.location, ahead.as_mut()) {
                    (Location::Remote { .. }, Some(rx)) => match rx.blocking_recv() {
                        Some(got) => {
                            let (raw, share) = got.into_parts();
                            (raw, Some(share))
                        }
                        None => (Err("the prefetch stopped".to_string()), None),
                    },
                    _ => (fetch(f), None),
                };
                diag.progress(f.size);
                let raw = match raw {
                    Ok(r) => r,
                    Err(e) => {
                        let issue = InputIssue::file(
                            name,
                            Problem {
                                offset: None,
                                record: None,
                                message: format!("cannot read: {e}"),
                            },
                        );
                        fail(&diag, issue)?;
                        continue;
                    }
                };
                Diagnostics::add(&diag.bytes_read, raw.len() as u64);
                // A reader's failure of any kind, a panic in a dependency
                // included, is this file's problem alone: the rows the
                // batcher held from earlier files are built again without it.
                let read = |raw: &[u8],
                            partitions: Option<&irprep_core::layout::Partitions>,
                            buf: &mut Vec<u8>,
                            inflater: &mut irprep_core::decompress::Inflater,
                            batcher: &mut irprep_core::build::Batcher| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        fault_injection(&name);
                        if kind == LogTable::VpcFlow && is_parquet(raw) {
                            irprep_core::flow_parquet::read_into(
                                raw, partitions, &opts, &schema, batcher,
                            )
                        } else {
                            reader.read_file_into(raw, partitions, buf, inflater, batcher)
                        }
                    }))
                };
                let mut out = match read(
                    &raw,
                    f.partitions.as_ref(),
                    &mut buf,
                    &mut inflater,
                    &mut batcher,
                ) {
                    Ok(out) => out,
                    Err(panic) => {
                        let why = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown".into());
                        // Rare: the files read before it in this batch are
                        // fetched and read again (their problems are reported
                        // already); holding their bytes instead cost every
                        // scan memory and time.
                        batcher = reader.batcher(schema.clone());
                        for pf in &pending {
                            if let Ok(praw) = fetch(pf) {
                                let _ = read(
                                    &praw,
                                    pf.partitions.as_ref(),
                                    &mut buf,
                                    &mut inflater,
                                    &mut batcher,
                                );
                            }
                        }
                        let p = Problem {
                            offset: None,
                            record: None,
                            message: format!("the reader failed on this file ({why})"),
                        };
                        fail(&diag, InputIssue::file(name, p))?;
                        continue;
                    }
                };
                drop(raw);
                if out.is_digest {
                    Diagnostics::add(&diag.digest_files, 1);
                    continue;
                }
                if out.insight_events > 0 {
                    Diagnostics::add(&diag.insight_events, out.insight_events as u64);
                    if out.events == 0 {
                        Diagnostics::add(&diag.insight_files, 1);
                    }
                }
                if let Some(p) = out.file_problem {
                    fail(&diag, InputIssue::file(name, p))?;
                    continue;
                }
                for p in out.record_problems {
                    fail(&diag, InputIssue::record(name.clone(), p))?;
                }
                if out.more_record_problems > 0 {
                    fail(
                        &diag,
                        InputIssue::more_records(name.clone(), out.more_record_problems),
                    )?;
                }
                Diagnostics::add(&diag.files_read, 1);
                Diagnostics::add(&diag.events, out.events as u64);
                if let Some(b) = out.batch.take() {
                    batcher.push(b);
                }
                if out.events > 0 {
                    pending.push(f);
                }
                if batcher.rows() >= BATCH_ROWS {
                    pending.clear();
                    for batch in batcher.take()? {
                        if tx.blocking_send(Ok(batch)).is_err() {
                            return Ok(()); // the consumer stopped (LIMIT or error)
                        }
                    }
                }
            }
            for batch in batcher.take()? {
                if tx.blocking_send(Ok(batch)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        builder.build()
    }
}

/// Test builds only: `IRPREP_FAULT_PANIC_ON=<text>` makes the reader panic
/// on files whose name holds the text (how the tests prove that a reader's
/// panic costs its file alone). Release builds have no such hook.
fn fault_injection(name: &str) {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var_os("IRPREP_FAULT_PANIC_ON") {
        if !t.is_empty() && name.contains(&*t.to_string_lossy()) {
            panic!("fault injected for {name}");
        }
    }
    let _ = name;
}

fn is_parquet(raw: &[u8]) -> bool {
    raw.len() >= 8 && raw.starts_with(b"PAR1") && raw.ends_with(b"PAR1")
}

/// Record an issue; in strict mode turn it into the query's error.
fn fail(diag: &Diagnostics, issue: InputIssue) -> Result<()> {
    let strict = diag.strict;
    let msg = issue.to_string();
    diag.report(issue);
    if strict {
        return Err(DataFusionError::External(
            format!("{msg} (--strict: stopping at the first bad input)").into(),
        ));
    }
    Ok(())
}
