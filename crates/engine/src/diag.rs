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
    /// Records this issue stands for: 1, or the count of a file's records
    /// skipped beyond those listed one by one.
    pub records: usize,
}

impl InputIssue {
    /// A whole file skipped.
    pub fn file(file: String, problem: Problem) -> Self {
        InputIssue {
            file,
            problem,
            whole_file: true,
            records: 0,
        }
    }

    /// One record skipped.
    pub fn record(file: String, problem: Problem) -> Self {
        InputIssue {
            file,
            problem,
            whole_file: false,
            records: 1,
        }
    }

    /// `n` more records of a file skipped, counted but not listed.
    pub fn more_records(file: String, n: usize) -> Self {
        InputIssue {
            file,
            problem: Problem {
                offset: None,
                record: None,
                message: format!("{n} more bad record(s), not listed one by one"),
            },
            whole_file: false,
            records: n,
        }
    }
}

impl std::fmt::Display for InputIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (self.whole_file, self.records) {
            (true, _) => "file skipped".to_string(),
            (false, 1) => "record skipped".to_string(),
            (false, n) => format!("{n} records skipped"),
        };
        write!(f, "{}: {}: {what}", self.file, self.problem)
    }
}

/// Issues of a run kept (and passed to the sink) one by one; past this,
/// they are only counted. Each file already lists at most
/// `irprep_core::cloudtrail::MAX_RECORD_PROBLEMS` of its records.
pub const MAX_LISTED_ISSUES: usize = 1000;

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
    /// Whole files skipped, and records skipped, listed or not.
    pub files_skipped: AtomicU64,
    pub records_skipped: AtomicU64,
    /// Issues counted but not listed (past [`MAX_LISTED_ISSUES`]).
    pub unlisted_issues: AtomicU64,
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

    /// Count an issue; list it (and pass it to the sink) while fewer than
    /// [`MAX_LISTED_ISSUES`] are listed.
    pub fn report(&self, issue: InputIssue) {
        if issue.whole_file {
            Self::add(&self.files_skipped, 1);
        } else {
            Self::add(&self.records_skipped, issue.records as u64);
        }
        let mut issues = self.issues.lock().unwrap_or_else(|e| e.into_inner());
        if issues.len() >= MAX_LISTED_ISSUES {
            Self::add(&self.unlisted_issues, 1);
            return;
        }
        if let Some(f) = &self.on_issue {
            f(&issue);
        }
        issues.push(issue);
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
        Self::get(&self.files_skipped) + Self::get(&self.records_skipped) > 0
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

pub type SharedDiagnostics = Arc<Diagnostics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_past_the_limit_are_counted_not_kept() {
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        let d = Diagnostics::new(false).with_issue_sink(move |_| {
            s.fetch_add(1, Ordering::Relaxed);
        });
        let p = || Problem {
            offset: Some(1),
            record: Some(1),
            message: "bad".into(),
        };
        for i in 0..MAX_LISTED_ISSUES + 500 {
            d.report(InputIssue::record(format!("f{i}"), p()));
        }
        d.report(InputIssue::more_records("g".into(), 7));
        d.report(InputIssue::file("h".into(), p()));
        assert_eq!(d.issues().len(), MAX_LISTED_ISSUES);
        assert_eq!(seen.load(Ordering::Relaxed), MAX_LISTED_ISSUES as u64);
        assert_eq!(Diagnostics::get(&d.unlisted_issues), 502);
        assert_eq!(
            Diagnostics::get(&d.records_skipped),
            (MAX_LISTED_ISSUES + 500 + 7) as u64
        );
        assert_eq!(Diagnostics::get(&d.files_skipped), 1);
        assert!(d.any_skipped());
    }
}
