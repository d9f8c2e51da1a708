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

/// A remote object with its user metadata (`x-amz-meta-*`, names without
/// the prefix, lowercase).
#[derive(Debug, Clone, Default)]
pub struct RemoteObject {
    pub bytes: Vec<u8>,
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// Reads remote objects (implemented for S3 by `irprep-aws`).
#[async_trait]
pub trait RemoteFetcher: Send + Sync + fmt::Debug {
    async fn fetch(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String>;

    /// The object and its metadata, or `None` when there is no such key
    /// (a deleted file, for integrity checks). The default knows no
    /// metadata and no absence.
    async fn fetch_object(&self, bucket: &str, key: &str) -> Result<Option<RemoteObject>, String> {
        Ok(Some(RemoteObject {
            bytes: self.fetch(bucket, key).await?,
            metadata: Default::default(),
        }))
    }
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

/// How local discovery treats what is not a plain file in the tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscoverOptions {
    /// Read files that symlinks inside the tree point to outside it (never
    /// by default: evidence archives carry symlinks, and a link to a device
    /// or to the analyst's own files is not evidence).
    pub follow_symlinks: bool,
}

/// What local discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<LogFile>,
    /// Files whose names cannot hold logs (licences, CSV labels, archives).
    pub ignored: usize,
    /// Entries not read, and why: FIFOs, sockets, devices, symlinks leaving
    /// the tree or pointing at no regular file.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Expand local paths: files as given, directories walked recursively
/// (sorted, so runs are reproducible). Returns the files and how many were
/// ignored by name; see [`discover`] for what is skipped.
pub fn discover_local(paths: &[PathBuf]) -> Result<(Vec<LogFile>, usize), String> {
    let d = discover(paths, DiscoverOptions::default())?;
    Ok((d.files, d.ignored))
}

/// The kind of a non-regular file, for the note that skips it.
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "a device";
        }
    }
    let _ = ft;
    "not a regular file"
}

/// Expand local paths. Only regular files are read: a path named on the
/// command line is followed (the user chose it), but inside a walked
/// directory FIFOs, sockets and devices are skipped (opening a FIFO blocks),
/// directory symlinks are not followed, and a file symlink is read only when
/// its target is a regular file inside the walked tree (or anywhere, with
/// [`DiscoverOptions::follow_symlinks`]).
pub fn discover(paths: &[PathBuf], opts: DiscoverOptions) -> Result<Discovery, String> {
    let mut out = Discovery::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_file() {
            out.files.push(LogFile::local(p.clone(), meta.len()));
            continue;
        }
        if !meta.is_dir() {
            out.skipped
                .push((p.clone(), special_kind(&meta.file_type()).to_string()));
            continue;
        }
        let root = std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut stack = vec![p.clone()];
        let mut found = vec![];
        while let Some(dir) = stack.pop() {
            let rd = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in rd.flatten() {
                let path = entry.path();
                // The entry itself, symlinks not followed.
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(path);
                    continue;
                }
                if !looks_like_log(&path) {
                    out.ignored += 1;
                    continue;
                }
                if ft.is_file() {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    found.push(LogFile::local(path, size));
                    continue;
                }
                if !ft.is_symlink() {
                    out.skipped.push((path, special_kind(&ft).to_string()));
                    continue;
                }
                let target = std::fs::canonicalize(&path);
                let target_meta = std::fs::metadata(&path);
                match (target, target_meta) {
                    (Ok(t), Ok(m)) if m.is_file() => {
                        if opts.follow_symlinks || t.starts_with(&root) {
                            found.push(LogFile::local(path, m.len()));
                        } else {
                            out.skipped.push((
                                path,
                                format!(
                                    "a symlink leaving the tree (to {}); --follow-symlinks reads it",
                                    t.display()
                                ),
                            ));
                        }
                    }
                    (Ok(t), Ok(m)) if m.is_dir() => out.skipped.push((
                        path,
                        format!("a symlink to a directory ({}), not followed", t.display()),
                    )),
                    (Ok(_), Ok(m)) => out.skipped.push((
                        path,
                        format!("a symlink to {}", special_kind(&m.file_type())),
                    )),
                    _ => out.skipped.push((path, "a broken symlink".to_string())),
                }
            }
        }
        found.sort_by_cached_key(|a| a.to_string());
        out.files.extend(found);
    }
    Ok(out)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_tree_are_read() {
        let dir = std::env::temp_dir().join(format!("irprep-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tree = dir.join("tree");
        let outside = dir.join("outside");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(tree.join("a.json"), b"{}").unwrap();
        std::fs::write(tree.join("sub/b.json"), b"{}").unwrap();
        std::fs::write(outside.join("secret.json"), b"{}").unwrap();
        let fifo = tree.join("pipe.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        std::os::unix::fs::symlink(tree.join("a.json"), tree.join("inside-link.json")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.json"), tree.join("out-link.json"))
            .unwrap();
        std::os::unix::fs::symlink("/dev/zero", tree.join("zero.json")).unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(tree.join("gone.json"), tree.join("broken.json")).unwrap();

        let d = discover(std::slice::from_ref(&tree), DiscoverOptions::default()).unwrap();
        let names: Vec<String> = d
            .files
            .iter()
            .map(|f| f.to_string().rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.json", "inside-link.json", "b.json"]);
        let mut skipped: Vec<String> = d
            .skipped
            .iter()
            .map(|(p, why)| format!("{} {why}", p.file_name().unwrap().to_string_lossy()))
            .collect();
        skipped.sort();
        let mut want = vec![
            "broken.json a broken symlink".to_string(),
            "dirlink a symlink to a directory".to_string(),
            "out-link.json a symlink leaving the tree".to_string(),
            "zero.json a symlink to a device".to_string(),
        ];
        if made {
            want.push("pipe.json a FIFO".to_string());
        }
        want.sort();
        assert_eq!(skipped.len(), want.len(), "{skipped:?}");
        for (s, w) in skipped.iter().zip(&want) {
            assert!(s.starts_with(w.as_str()), "{s} is not {w}");
        }
        // Asked to, a symlink out of the tree is read (never a device).
        let d = discover(
            std::slice::from_ref(&tree),
            DiscoverOptions {
                follow_symlinks: true,
            },
        )
        .unwrap();
        assert_eq!(d.files.len(), 4);
        assert!(d.skipped.iter().any(|(p, _)| p.ends_with("zero.json")));
        // A FIFO named on the command line is skipped too, without blocking.
        if made {
            let d = discover(std::slice::from_ref(&fifo), DiscoverOptions::default()).unwrap();
            assert!(d.files.is_empty());
            assert_eq!(d.skipped[0].1, "a FIFO");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
