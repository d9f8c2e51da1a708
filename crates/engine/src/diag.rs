//! What happened to the inputs of a run: files read, skipped and why,
//! digests and Insights counted, partitions pruned. Shared by every scan of a
//! session; the CLI prints it and derives the exit code from it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use irprep_core::cloudtrail::Problem;

/// One input that was not (fully) read.
#[derive(Debug, Clone)]
pub struct InputIssue {
    pub file: String,
    pub problem: Problem,
    /// The whole file was skipped (otherwise only a record).
    pub whole_file: bool,
}

impl std::fmt::Display for InputIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.whole_file {
            "file skipped"
        } else {
            "record skipped"
        };
        write!(f, "{}: {}: {what}", self.file, self.problem)
    }
}

type IssueSink = Box<dyn Fn(&InputIssue) + Send + Sync>;
type ProgressSink = Box<dyn Fn(u64) + Send + Sync>;

#[derive(Default)]
pub struct Diagnostics {
    pub strict: bool,
    issues: Mutex<Vec<InputIssue>>,
    on_issue: Option<IssueSink>,
    on_progress: Option<ProgressSink>,
    pub files_read: AtomicU64,
    pub files_pruned: AtomicU64,
    pub digest_files: AtomicU64,
    pub insight_files: AtomicU64,
    pub insight_events: AtomicU64,
    pub events: AtomicU64,
    pub bytes_read: AtomicU64,
    pub ignored_names: AtomicU64,
}

impl std::fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Diagnostics")
            .field("issues", &self.issues())
            .finish()
    }
}

impl Diagnostics {
    pub fn new(strict: bool) -> Self {
        Diagnostics {
            strict,
            ..Default::default()
        }
    }

    pub fn with_issue_sink(mut self, f: impl Fn(&InputIssue) + Send + Sync + 'static) -> Self {
        self.on_issue = Some(Box::new(f));
        self
    }

    pub fn with_progress(mut self, f: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Box::new(f));
        self
    }

    pub fn report(&self, issue: InputIssue) {
        if let Some(f) = &self.on_issue {
            f(&issue);
        }
        self.issues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(issue);
    }

    pub fn progress(&self, bytes: u64) {
        if let Some(f) = &self.on_progress {
            f(bytes);
        }
    }

    pub fn issues(&self) -> Vec<InputIssue> {
        self.issues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Any input skipped (whole file or record)?
    pub fn any_skipped(&self) -> bool {
        !self
            .issues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

pub type SharedDiagnostics = Arc<Diagnostics>;
