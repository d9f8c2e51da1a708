//! One module per subcommand.

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
