//! One module per subcommand.

pub mod analytics;
pub mod detections;
pub mod drill;
pub mod hunt;
pub mod logs;
pub mod prepare;
pub mod queries;
pub mod query;
pub mod simulate;
pub mod timeline;

/// An error in how the command was called (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// Exit code after a scan: 3 when any input was skipped.
pub fn scan_code(engine: &irprep_engine::Engine) -> u8 {
    if engine.diag.any_skipped() {
        crate::exit::PARTIAL
    } else {
        crate::exit::OK
    }
}

/// Run one SQL query over the logs and print it: the shared body of `query`,
/// `queries run` and `timeline`. Returns the exit code.
pub async fn query_and_print(
    logs: &crate::inputs::LogArgs,
    aws: &crate::inputs::AwsArgs,
    eng: &crate::inputs::EngineArgs,
    quiet: bool,
    format: crate::output::Format,
    sql: &str,
) -> anyhow::Result<u8> {
    if eng.engine == crate::inputs::EngineKind::Athena {
        if !logs.logs.is_empty() {
            return Err(usage(
                "--logs is for the local engine; on Athena the tables come from --database",
            ));
        }
        let w = logs.window()?;
        let sql = irprep_aws::athena::with_window(
            sql,
            &eng.database,
            w.since.as_deref(),
            w.until.as_deref(),
        );
        let conf = aws.options().load().await;
        let client = irprep_aws::athena::client(&conf);
        let r = irprep_aws::athena::run(&client, &eng.target(), &sql).await?;
        let res = irprep_engine::QueryResult {
            schema: r.schema.clone(),
            batches: r.batches.clone(),
        };
        crate::output::write_result(&mut std::io::stdout().lock(), format, &res)?;
        if !quiet {
            eprintln!("{}", athena_note(&r));
        }
        return Ok(crate::exit::OK);
    }
    let (engine, pb) = crate::inputs::engine(logs, aws, quiet).await?;
    let res = engine.query(sql).await;
    pb.finish_and_clear();
    crate::output::write_result(&mut std::io::stdout().lock(), format, &res?)?;
    crate::inputs::summary(&engine, quiet);
    Ok(scan_code(&engine))
}

/// What an Athena query cost, for stderr.
pub fn athena_note(r: &irprep_aws::athena::AthenaResult) -> String {
    format!(
        "irprep: Athena query {}: {} scanned, about ${:.4} at ${}/TB, {} ms in the engine",
        r.execution_id,
        human_bytes(r.bytes_scanned),
        r.cost_usd(),
        irprep_aws::athena::USD_PER_TB,
        r.engine_ms
    )
}

pub fn human_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1e12 {
        format!("{:.2} TB", b / 1e12)
    } else if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else {
        format!("{} bytes", b as i64)
    }
}
