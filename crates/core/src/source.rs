//! Where log files come from: local paths (walked recursively) or object
//! keys listed by an adapter (S3 lives in `irprep-aws`), classified by the
//! S3 layout before any byte is read.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::layout::{self, KeyKind, Partitions};
use async_trait::async_trait;

/// Where one file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote { bucket: String, key: String },
}

/// One log file, classified.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub location: Location,
    pub size: u64,
    pub kind: KeyKind,
    pub partitions: Option<Partitions>,
}

impl LogFile {
    /// A local file, classified by its path and, outside the S3 layouts, by
    /// its first bytes.
    pub fn local(path: PathBuf, size: u64) -> Self {
        let c = layout::classify(&path.to_string_lossy());
        let kind = if c.kind == KeyKind::Unknown {
            sniff_file(&path)
        } else {
            c.kind
        };
        LogFile {
            location: Location::Local(path),
            size,
            kind,
            partitions: c.partitions,
        }
    }

    pub fn remote(bucket: &str, key: &str, size: u64) -> Self {
        let c = layout::classify(key);
        LogFile {
            location: Location::Remote {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            size,
            kind: c.kind,
            partitions: c.partitions,
        }
    }
}

impl fmt::Display for LogFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Remote { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// The kind of a local file outside the layouts, from its first bytes.
fn sniff_file(path: &Path) -> KeyKind {
    use std::io::Read;
    let mut head = vec![0u8; 16 * 1024];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    head.truncate(n);
    layout::sniff(&crate::decompress::head(&head, 8 * 1024))
}

/// Reads remote objects (implemented for S3 by `irprep-aws`).
#[async_trait]
pub trait RemoteFetcher: Send + Sync + fmt::Debug {
    async fn fetch(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String>;
}

pub type Fetcher = Arc<dyn RemoteFetcher>;

/// File names that can hold log records. Others met while walking a
/// directory (licences, CSV labels, archives) are left alone; a file named
/// explicitly is always read.
pub fn looks_like_log(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.starts_with('.') {
        return false;
    }
    [
        ".json",
        ".json.gz",
        ".gz",
        ".jsonl",
        ".ndjson",
        ".log",
        ".log.gz",
        ".jsonl.gz",
        ".ndjson.gz",
        ".parquet",
        ".txt",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
        || !name.contains('.')
}

/// Expand local paths: files as given, directories walked recursively
/// (sorted, so runs are reproducible).
pub fn discover_local(paths: &[PathBuf]) -> Result<(Vec<LogFile>, usize), String> {
    let mut out = vec![];
    let mut ignored = 0;
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_file() {
            out.push(LogFile::local(p.clone(), meta.len()));
            continue;
        }
        let mut stack = vec![p.clone()];
        let mut found = vec![];
        while let Some(dir) = stack.pop() {
            let rd = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in rd.flatten() {
                let path = entry.path();
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(path);
                } else if looks_like_log(&path) {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    found.push(LogFile::local(path, size));
                } else {
                    ignored += 1;
                }
            }
        }
        found.sort_by_cached_key(|a| a.to_string());
        out.extend(found);
    }
    Ok((out, ignored))
}
