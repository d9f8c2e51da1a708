//! Athena as the distributed engine: submit the same SQL the local engine
//! runs, poll with backoff, page the results into Arrow (so every output
//! format works unchanged), report data scanned and its cost, and cancel the
//! query on Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use aws_config::SdkConfig;
use aws_sdk_athena::error::ProvideErrorMetadata;
use aws_sdk_athena::types as at;
use irprep_core::arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use irprep_core::arrow_array::{ArrayRef, RecordBatch};
use irprep_core::arrow_schema::{DataType, Field, Schema, SchemaRef};

/// Athena's on-demand price: USD per TB scanned, with a 10 MB minimum per
/// query (us-east-1 list price).
pub const USD_PER_TB: f64 = 5.0;
const MIN_BILLED_BYTES: i64 = 10 * 1024 * 1024;

/// Where queries run.
#[derive(Debug, Clone)]
pub struct Target {
    pub workgroup: String,
    pub database: String,
    /// Result location, when the workgroup does not enforce its own.
    pub output: Option<String>,
}

/// One finished query.
#[derive(Debug, Clone)]
pub struct AthenaResult {
    pub execution_id: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub bytes_scanned: i64,
    pub engine_ms: i64,
}

impl AthenaResult {
    /// Estimated cost in USD of this query.
    pub fn cost_usd(&self) -> f64 {
        cost_usd(self.bytes_scanned)
    }
}

pub fn cost_usd(bytes: i64) -> f64 {
    if bytes <= 0 {
        return 0.0;
    }
    bytes.max(MIN_BILLED_BYTES) as f64 / 1e12 * USD_PER_TB
}

pub fn client(conf: &SdkConfig) -> aws_sdk_athena::Client {
    aws_sdk_athena::Client::new(conf)
}

pub use irprep_core::sql::{with_window, with_window_in, with_window_named};

/// Run one statement and wait for it; Ctrl-C stops the query on Athena.
pub async fn run(
    client: &aws_sdk_athena::Client,
    target: &Target,
    sql: &str,
) -> Result<AthenaResult> {
    let mut req = client
        .start_query_execution()
        .query_string(sql)
        .work_group(&target.workgroup)
        .query_execution_context(
            at::QueryExecutionContext::builder()
                .database(&target.database)
                .build(),
        );
    if let Some(o) = &target.output {
        req = req.result_configuration(
            at::ResultConfiguration::builder()
                .output_location(o)
                .build(),
        );
    }
    let started = req.send().await.map_err(|e| {
        anyhow!(
            "athena:StartQueryExecution: {} {}",
            e.code().unwrap_or("error"),
            e.message().unwrap_or("")
        )
    })?;
    let id = started
        .query_execution_id()
        .ok_or_else(|| anyhow!("Athena returned no query execution id"))?
        .to_string();
    let poll = wait(client, &id);
    let status = tokio::select! {
        s = poll => s?,
        _ = tokio::signal::ctrl_c() => {
            let stopped = client.stop_query_execution().query_execution_id(&id).send().await;
            bail!("interrupted: Athena query {id} {}", if stopped.is_ok() { "cancelled" } else { "could not be cancelled; stop it in the console" });
        }
    };
    let (bytes, ms) = status;
    let (schema, batches) = results(client, &id).await?;
    Ok(AthenaResult {
        execution_id: id,
        schema,
        batches,
        bytes_scanned: bytes,
        engine_ms: ms,
    })
}

/// Poll with exponential backoff (200 ms to 5 s) until the query ends.
async fn wait(client: &aws_sdk_athena::Client, id: &str) -> Result<(i64, i64)> {
    let mut delay = Duration::from_millis(200);
    loop {
        let out = client
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "athena:GetQueryExecution: {} {}",
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or("")
                )
            })?;
        let qe = out
            .query_execution()
            .ok_or_else(|| anyhow!("no query execution {id}"))?;
        let st = qe.status().and_then(|s| s.state()).cloned();
        let stats = qe.statistics();
        let bytes = stats.and_then(|s| s.data_scanned_in_bytes()).unwrap_or(0);
        let ms = stats
            .and_then(|s| s.engine_execution_time_in_millis())
            .unwrap_or(0);
        match st {
            Some(at::QueryExecutionState::Succeeded) => return Ok((bytes, ms)),
            Some(at::QueryExecutionState::Failed) | Some(at::QueryExecutionState::Cancelled) => {
                let why = qe
                    .status()
                    .and_then(|s| s.state_change_reason())
                    .unwrap_or("no reason given");
                bail!(
                    "Athena query {id} {}: {why}",
                    st.map(|s| s.as_str().to_lowercase()).unwrap_or_default()
                );
            }
            _ => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn arrow_type(athena: &str) -> DataType {
    match athena.to_lowercase().as_str() {
        "tinyint" | "smallint" | "integer" | "int" | "bigint" => DataType::Int64,
        "double" | "float" | "real" | "decimal" => DataType::Float64,
        "boolean" => DataType::Boolean,
        _ => DataType::Utf8,
    }
}

/// Result rows paged into memory at most; past them the query's own CSV (in
/// its output location) is the place to read them, and the error says so.
pub const MAX_RESULT_ROWS: usize = 1_000_000;
/// Result text held in memory at most.
pub const MAX_RESULT_BYTES: usize = 1 << 30;

/// Page every result row into Arrow batches typed from Athena's column info.
async fn results(
    client: &aws_sdk_athena::Client,
    id: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut next: Option<String> = None;
    let mut schema: Option<SchemaRef> = None;
    let mut rows: Vec<Vec<Option<String>>> = vec![];
    let mut bytes = 0usize;
    let mut first_page = true;
    loop {
        let out = client
            .get_query_results()
            .query_execution_id(id)
            .set_next_token(next.clone())
            .max_results(1000)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "athena:GetQueryResults: {} {}",
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or("")
                )
            })?;
        let rs = out.result_set();
        if schema.is_none() {
            let cols: Vec<Field> = rs
                .and_then(|r| r.result_set_metadata())
                .map(|m| {
                    m.column_info()
                        .iter()
                        .map(|c| Field::new(c.name(), arrow_type(c.r#type()), true))
                        .collect()
                })
                .unwrap_or_default();
            schema = Some(Arc::new(Schema::new(cols)));
        }
        let names: Vec<String> = schema
            .as_ref()
            .map(|s| s.fields().iter().map(|f| f.name().clone()).collect())
            .unwrap_or_default();
        for (i, r) in rs.map(|r| r.rows()).unwrap_or_default().iter().enumerate() {
            let vals: Vec<Option<String>> = r
                .data()
                .iter()
                .map(|d| d.var_char_value().map(String::from))
                .collect();
            // A SELECT's first row is its header.
            if first_page
                && i == 0
                && vals
                    .iter()
                    .map(|v| v.as_deref().unwrap_or(""))
                    .eq(names.iter().map(|s| s.as_str()))
            {
                continue;
            }
            bytes += vals
                .iter()
                .map(|v| v.as_ref().map_or(0, |v| v.len()))
                .sum::<usize>();
            rows.push(vals);
            if rows.len() > MAX_RESULT_ROWS || bytes > MAX_RESULT_BYTES {
                bail!(
                    "query {id} returned more than {MAX_RESULT_ROWS} rows or {} MiB: not paged into memory; \
                     narrow it (a LIMIT, a window) or read its CSV from the workgroup's output location",
                    MAX_RESULT_BYTES >> 20
                );
            }
        }
        first_page = false;
        next = out.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    let schema = schema.unwrap_or_else(|| Arc::new(Schema::empty()));
    let mut arrays: Vec<ArrayRef> = vec![];
    for (ci, f) in schema.fields().iter().enumerate() {
        let cell = |r: &Vec<Option<String>>| r.get(ci).cloned().flatten();
        let a: ArrayRef = match f.data_type() {
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                rows.iter()
                    .for_each(|r| b.append_option(cell(r).and_then(|v| v.parse().ok())));
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::new();
                rows.iter()
                    .for_each(|r| b.append_option(cell(r).and_then(|v| v.parse().ok())));
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::new();
                rows.iter()
                    .for_each(|r| b.append_option(cell(r).map(|v| v == "true")));
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::new();
                rows.iter().for_each(|r| b.append_option(cell(r)));
                Arc::new(b.finish())
            }
        };
        arrays.push(a);
    }
    // An answer without columns (a statement with no result set) is an
    // empty result, not an error.
    let batch = RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &irprep_core::arrow_array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| anyhow!("Athena results: {e}"))?;
    Ok((schema, vec![batch]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text of any kind around the table names: no slicing inside a character.
    #[test]
    fn window_over_non_ascii_sql() {
        for sql in [
            "SELÉCT 1 FROM cloudtrail",
            "WITHé AS (SELECT 1) SELECT * FROM cloudtrail",
            "SELECT 'é' AS x FROM cloudtraiΩ, cloudtrail WHERE eventname = 'Ω'",
        ] {
            let w = with_window(sql, "db", Some("2024-03-01T00:00:00Z"), None);
            assert!(w.starts_with("WITH cloudtrail AS"), "{w}");
        }
    }

    #[test]
    fn window_shadows_the_tables_it_reads() {
        let sql = with_window(
            "SELECT eventname FROM cloudtrail WHERE errorcode IS NULL",
            "security_analysis",
            Some("2024-03-01T00:00:00Z"),
            Some("2024-03-08T00:00:00Z"),
        );
        assert!(sql.starts_with("WITH cloudtrail AS (SELECT * FROM \"security_analysis\".\"cloudtrail\" WHERE date_partition >= '2024/03/01' AND \"eventtime\" >= '2024-03-01T00:00:00Z' AND date_partition <= '2024/03/08' AND \"eventtime\" < '2024-03-08T00:00:00Z')"), "{sql}");
        let sql = with_window(
            "WITH x AS (SELECT 1) SELECT * FROM vpcflow, x",
            "db",
            Some("2024-03-01T00:00:00Z"),
            None,
        );
        assert!(sql.starts_with("WITH vpcflow AS (SELECT * FROM \"db\".\"vpcflow\" WHERE date_partition >= '2024/03/01' AND \"start\" >= 1709251200),\nx AS"), "{sql}");
        assert_eq!(with_window("SELECT 1", "db", None, None), "SELECT 1");
        assert!((cost_usd(1_000_000_000_000) - 5.0).abs() < 1e-9);
        assert!(cost_usd(1) > 0.0);
    }
}
