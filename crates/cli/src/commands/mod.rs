//! One module per subcommand.

pub mod analytics;
pub mod detections;
pub mod drill;
pub mod hunt;
pub mod queries;
pub mod simulate;
pub mod query;
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
    quiet: bool,
    format: crate::output::Format,
    sql: &str,
) -> anyhow::Result<u8> {
    let (engine, pb) = crate::inputs::engine(logs, aws, quiet).await?;
    let res = engine.query(sql).await;
    pb.finish_and_clear();
    crate::output::write_result(&mut std::io::stdout().lock(), format, &res?)?;
    crate::inputs::summary(&engine, quiet);
    Ok(scan_code(&engine))
}
