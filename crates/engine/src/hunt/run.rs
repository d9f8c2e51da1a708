//! One detection on its own rows, in its own session.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::sql::sqlparser::ast::Statement;
use irprep_core::detect::Detection;

use super::scan::Piece;
use super::Finding;
use crate::Engine;

/// The column a detection's shared rows are filtered on.
const KEEP: &str = "irprep_keep";

/// One detection, ready to run on its own rows.
pub(super) struct Job {
    pub detection: Detection,
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    pub batches: Vec<Piece>,
    /// Its rows written to disk past the memory limit (read back a batch at
    /// a time).
    pub files: Vec<super::spill::Spilled>,
    /// The detection without its row filter (see
    /// [`super::plan::RowFilter::without`]), or `None` to run its SQL as
    /// written.
    pub stmt: Option<Statement>,
}

/// One detection's findings.
pub(super) struct Ran {
    pub id: String,
    pub findings: Vec<Finding>,
    /// Its sorts or aggregates needed more than its share of the memory
    /// limit: it ran again without one.
    pub over_budget: bool,
    /// It ran for half a second or more (what it freed is worth handing
    /// back).
    pub big: bool,
}

/// Run one detection on its rows and build its findings; an error names the
/// detection. `limit` bounds the memory of its sorts and aggregates (they
/// spill past it); a detection that cannot run within it runs again
/// without one, and says so.
pub(super) async fn run_detection(
    job: Job,
    diag: crate::diag::SharedDiagnostics,
    profile: bool,
    limit: Option<usize>,
) -> std::result::Result<Ran, (String, String)> {
    let Job {
        detection: d,
        schema,
        batches,
        files,
        stmt,
    } = job;
    let td = std::time::Instant::now();
    let rows = batches.iter().map(Piece::kept).sum::<usize>();
    let run = |limit: Option<usize>| {
        let (diag, schema, batches, files, stmt, sql) = (
            diag.clone(),
            schema.clone(),
            &batches,
            files.clone(),
            stmt.clone(),
            d.sql.clone(),
        );
        async move {
            let mem = match limit {
                Some(l) => Engine::with_memory_limit(diag, l)?,
                None => Engine::new(diag),
            };
            if files.is_empty() {
                register_pieces(&mem, schema, batches).await?;
            } else {
                let t = super::spill::table(schema, batches, files)?;
                mem.context().register_table("cloudtrail", Arc::new(t))?;
            }
            let df = match stmt {
                Some(stmt) => mem.plan_statement(stmt).await?,
                None => mem.plan(&sql).await?,
            };
            df.collect().await
        }
    };
    let mut over_budget = false;
    let results = match run(limit).await {
        Err(e) if limit.is_some() && exhausted(&e) => {
            over_budget = true;
            run(None).await
        }
        r => r,
    }
    .map_err(|e| (d.id.clone(), e.to_string()))?;
    let big = td.elapsed() >= std::time::Duration::from_millis(500);
    if profile {
        tracing::debug!(
            target: super::profile::TARGET,
            "hunt: {:.3}s {} ({rows} rows in memory, {} files; {} result rows; rss {}MB)",
            td.elapsed().as_secs_f64(),
            d.id,
            files.len(),
            results.iter().map(|b| b.num_rows()).sum::<usize>(),
            super::profile::rss_mb()
        );
    }
    // Findings from the evidence events' facts, read from this detection's
    // own rows, off the runtime's workers.
    tokio::task::spawn_blocking(move || {
        let findings = if files.is_empty() {
            super::evidence::findings_of(&d, &batches, &results, profile)
        } else {
            // Rows on disk: read back once, keeping per finding its sets
            // and per event its time and id; where that cannot be exact,
            // the evidence events' facts come back and findings are built
            // from them.
            let rows = super::spill::fact_batches(&schema, &batches, &files);
            match super::evidence::findings_streamed(&d, &results, rows) {
                Ok(Some(f)) => Ok(f),
                Ok(None) => super::evidence::ResultCols::new(&d.id, &results).and_then(|cols| {
                    let wanted = cols.ids().collect();
                    let facts = super::spill::evidence_rows(&schema, &batches, &files, &wanted)?;
                    super::evidence::findings_of(&d, &facts, &results, profile)
                }),
                Err(e) => Err(e),
            }
        };
        findings
            .map(|findings| Ran {
                id: d.id.clone(),
                findings,
                over_budget,
                big,
            })
            .map_err(|e| (d.id.clone(), e.to_string()))
    })
    .await
    .map_err(|e| ("hunt".to_string(), e.to_string()))?
}

/// Whether a query failed for want of memory within its pool.
fn exhausted(e: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as E;
    match e {
        E::ResourcesExhausted(_) => true,
        E::Context(_, inner) => exhausted(inner),
        E::Shared(inner) => exhausted(inner),
        E::External(inner) => inner.to_string().contains("Resources exhausted"),
        _ => false,
    }
}

/// Register a detection's rows as its session's `cloudtrail`: the pieces as
/// they are when none is shared, else a view filtering them on their keep
/// column (true for the copied pieces). The table has as many partitions as
/// the session runs at once, so the filter uses every core.
async fn register_pieces(
    mem: &Engine,
    schema: datafusion::arrow::datatypes::SchemaRef,
    pieces: &[Piece],
) -> Result<()> {
    use datafusion::arrow::array::BooleanArray;
    use datafusion::arrow::datatypes::{Field, Schema};
    let n = mem.context().state().config().target_partitions().max(1);
    let parts = |batches: Vec<RecordBatch>| -> Vec<Vec<RecordBatch>> {
        let mut parts = vec![vec![]; n];
        for (i, b) in batches.into_iter().enumerate() {
            parts[i % n].push(b);
        }
        parts
    };
    if pieces.iter().all(|p| p.keep.is_none()) {
        let table = MemTable::try_new(
            schema,
            parts(pieces.iter().map(|p| p.rows.clone()).collect()),
        )?;
        mem.context()
            .register_table("cloudtrail", Arc::new(table))?;
        return Ok(());
    }
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(
        KEEP,
        datafusion::arrow::datatypes::DataType::Boolean,
        false,
    )));
    let with_keep = Arc::new(Schema::new(fields));
    let batches = pieces
        .iter()
        .map(|p| {
            let keep = p
                .keep
                .clone()
                .unwrap_or_else(|| BooleanArray::from(vec![true; p.rows.num_rows()]));
            let mut cols = p.rows.columns().to_vec();
            cols.push(Arc::new(keep));
            RecordBatch::try_new(with_keep.clone(), cols)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    mem.context().register_table(
        "irprep_rows",
        Arc::new(MemTable::try_new(with_keep, parts(batches))?),
    )?;
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let view = mem
        .context()
        .table("irprep_rows")
        .await?
        .filter(datafusion::prelude::col(KEEP))?
        .select_columns(&names)?
        .into_view();
    mem.context().register_table("cloudtrail", view)?;
    Ok(())
}
