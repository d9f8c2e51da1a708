//! irprep's embedded SQL engine: Athena (Trino) SQL over log files with
//! Apache DataFusion.
//!
//! - `source`: local discovery and the remote-object interface, re-exported
//!   from [`irprep_core::source`];
//! - [`provider`]: the log tables `cloudtrail`, `vpcflow`, `dns` (partition
//!   pruning, projection into the reader, parallel files; Parquet flow logs);
//! - [`prefetch`]: S3 objects fetched ahead of the reader, bounded;
//! - [`athena`] and [`udf`]: the dialect layer;
//! - [`diag`]: what happened to every input;
//! - [`Engine`]: a session with the tables registered.

pub mod athena;
pub mod diag;
pub mod frames;
pub mod hunt;
pub mod prefetch;
pub mod provider;
pub mod render;
pub use irprep_core::source;

#[cfg(test)]
mod testing;
pub mod udf;
pub mod window;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement;

pub use diag::{Diagnostics, InputIssue, SharedDiagnostics};
pub use irprep_core::tables::LogTable;
pub use provider::{CloudTrailTable, LogFiles, TimeWindow};
pub use source::{discover_local, Fetcher, Location, LogFile, RemoteFetcher};

/// The result of one query.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// A DataFusion session speaking Athena SQL, with irprep's tables.
pub struct Engine {
    ctx: SessionContext,
    pub diag: SharedDiagnostics,
}

impl Engine {
    pub fn new(diag: SharedDiagnostics) -> Self {
        Self::of(SessionContext::new_with_config(Self::config()), diag)
    }

    /// A session whose sorts, aggregates and joins share `bytes` of memory
    /// (sorts and aggregates spill to the system's temporary directory past
    /// it; what cannot spill fails with "Resources exhausted").
    pub fn with_memory_limit(diag: SharedDiagnostics, bytes: usize) -> Result<Self> {
        use datafusion::execution::memory_pool::FairSpillPool;
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(bytes)))
            .build_arc()?;
        Ok(Self::of(
            SessionContext::new_with_config_rt(Self::config(), runtime),
            diag,
        ))
    }

    fn config() -> SessionConfig {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        SessionConfig::new()
            .with_target_partitions(threads)
            .with_information_schema(true)
            .with_batch_size(8192)
    }

    fn of(ctx: SessionContext, diag: SharedDiagnostics) -> Self {
        for f in udf::all() {
            ctx.register_udf(f);
        }
        for f in window::all() {
            ctx.register_udaf(f);
        }
        ctx.add_optimizer_rule(Arc::new(frames::RangeFrames));
        Engine { ctx, diag }
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Register the `cloudtrail` table over these files.
    pub fn register_cloudtrail(
        &self,
        files: Vec<LogFile>,
        fetcher: Option<Fetcher>,
        window: TimeWindow,
    ) -> Result<()> {
        self.register_cloudtrail_as("cloudtrail", files, fetcher, window)
    }

    pub fn register_cloudtrail_as(
        &self,
        name: &str,
        files: Vec<LogFile>,
        fetcher: Option<Fetcher>,
        window: TimeWindow,
    ) -> Result<()> {
        let t = CloudTrailTable::new(files, fetcher, self.diag.clone(), window);
        let _ = self.ctx.deregister_table(name)?;
        self.ctx.register_table(name, Arc::new(t))?;
        Ok(())
    }

    /// Register every log table over a mixed set of files,
    /// each file going to the table its layout (or content) says it holds.
    pub fn register_logs(
        &self,
        files: Vec<LogFile>,
        fetcher: Option<Fetcher>,
        window: TimeWindow,
    ) -> Result<()> {
        let mut by_table: std::collections::BTreeMap<LogTable, Vec<LogFile>> =
            LogTable::ALL.into_iter().map(|t| (t, vec![])).collect();
        for f in files {
            for t in f.kind.tables() {
                by_table.entry(t).or_default().push(f.clone());
            }
        }
        for (table, files) in by_table {
            let t = LogFiles::of_kind(
                table,
                files,
                fetcher.clone(),
                self.diag.clone(),
                window.clone(),
            );
            let _ = self.ctx.deregister_table(table.name())?;
            self.ctx.register_table(table.name(), Arc::new(t))?;
        }
        Ok(())
    }

    /// Plan one Athena SQL query (SELECT / WITH / EXPLAIN).
    pub async fn plan(&self, sql: &str) -> Result<datafusion::dataframe::DataFrame> {
        let mut stmts =
            athena::parse(sql).map_err(|e| DataFusionError::Plan(format!("SQL syntax: {e}")))?;
        if stmts.len() != 1 {
            return Err(DataFusionError::Plan(format!(
                "expected one SQL statement, found {}",
                stmts.len()
            )));
        }
        self.plan_statement(stmts.remove(0)).await
    }

    /// Plan one statement already parsed (and rewritten) by [`athena::parse`].
    pub async fn plan_statement(
        &self,
        stmt: Statement,
    ) -> Result<datafusion::dataframe::DataFrame> {
        let query = match &stmt {
            Statement::Query(_) => true,
            // EXPLAIN [ANALYZE] of a query only, not of a statement that writes.
            Statement::Explain { statement, .. } => matches!(**statement, Statement::Query(_)),
            _ => false,
        };
        if !query {
            return Err(DataFusionError::Plan(
                "only queries (SELECT, WITH, EXPLAIN) run on the local engine".into(),
            ));
        }
        let state = self.ctx.state();
        let plan = state
            .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
            .await?;
        self.ctx.execute_logical_plan(plan).await
    }

    /// Run one query and collect its rows.
    pub async fn query(&self, sql: &str) -> Result<QueryResult> {
        let df = self.plan(sql).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok(QueryResult { schema, batches })
    }
}
