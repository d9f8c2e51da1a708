//! The hunt within a memory budget: the rows the detections keep are held
//! in memory up to a budget, and past it written to disk (Arrow IPC files in
//! a directory of their own, removed when the hunt ends), then read back,
//! batch by batch, to run each detection and to build its findings.
//!
//! The budget is counted per scan batch: the columns the pieces of a batch
//! share with it are counted once, the rows copied out of it each. A worker
//! that finds the hunt past its budget writes every piece it holds to disk,
//! so what it frees is exactly what it counted. The findings do not change:
//! a detection reads the same rows from disk as it would have from memory.
//!
//! What is shared is written once too: a scan batch's shared columns go to
//! the worker's column files (one Arrow IPC file per scan column), and each
//! detection that shares the batch keeps only where they are and its row
//! mask; it reads back its own columns of those batches. Rows a detection
//! holds as its own copy go to a file of its own.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::reader::{FileReader, StreamReader};
use datafusion::arrow::ipc::writer::{FileWriter, StreamWriter};
use datafusion::error::{DataFusionError, Result};

use super::scan::Piece;

/// How much of the memory limit the detections' rows may hold during the
/// scan; the rest is for the scan itself and for running the detections.
const HELD_SHARE: f64 = 0.5;

/// The memory limit when none is given: a quarter of the machine's memory,
/// at most 1 GiB (a hunt's memory otherwise grows with the logs, and a
/// responder's laptop runs other things).
pub fn default_memory_limit() -> usize {
    const CAP: usize = 1 << 30;
    machine_memory().map_or(CAP, |m| (m / 4).min(CAP))
}

/// Hand memory the allocator keeps but no longer uses back to the system
/// (glibc keeps what the scan's threads freed in their arenas: hundreds of
/// MB after a large scan, counted in the process's memory while the
/// detections run). Elsewhere, nothing.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of glibc's own heaps to
    // the system; it touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The machine's memory in bytes (Linux `/proc/meminfo`), if known.
fn machine_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The hunt's memory budget and its spill directory, shared by the scan's
/// workers.
pub(crate) struct Budget {
    /// The memory limit (bytes).
    pub limit: usize,
    /// What the rows may hold before they go to disk.
    held_limit: usize,
    held: AtomicUsize,
    dir: Mutex<Option<tempfile::TempDir>>,
    files: AtomicUsize,
    pub spilled_rows: AtomicUsize,
    pub spilled_bytes: AtomicUsize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget {
            limit,
            held_limit: (limit as f64 * HELD_SHARE) as usize,
            held: AtomicUsize::new(0),
            dir: Mutex::new(None),
            files: AtomicUsize::new(0),
            spilled_rows: AtomicUsize::new(0),
            spilled_bytes: AtomicUsize::new(0),
        }
    }

    /// What one detection's run may use for its sorts and aggregates when
    /// `at_once` run together.
    pub fn per_run(&self, at_once: usize) -> usize {
        ((self.limit - self.held_limit) / at_once.max(1)).max(1 << 20)
    }

    pub fn add(&self, bytes: usize) {
        self.held.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn over(&self) -> bool {
        self.held.load(Ordering::Relaxed) > self.held_limit
    }

    /// Whether any rows went to disk.
    pub fn spilled(&self) -> bool {
        self.files.load(Ordering::Relaxed) > 0
    }

    /// A new file in the spill directory (made on first use).
    fn new_file(&self) -> Result<(PathBuf, File)> {
        let mut dir = self.dir.lock().map_err(|_| poisoned())?;
        if dir.is_none() {
            *dir = Some(
                tempfile::Builder::new()
                    .prefix("irprep-hunt-")
                    .tempdir()
                    .map_err(|e| io("making the hunt's spill directory", e))?,
            );
        }
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        let path = dir
            .as_ref()
            .map(|d| d.path().join(format!("rows-{n}.arrows")))
            .ok_or_else(poisoned)?;
        let file = File::create(&path).map_err(|e| io(&path.display().to_string(), e))?;
        Ok((path, file))
    }

    /// Write every piece a worker holds to disk, and take what they held
    /// off the budget: each shared batch's columns once, to the worker's
    /// column files (the pieces that share it keep where they went and
    /// their masks), each copied piece to its detection's own file.
    pub fn spill(&self, out: &mut Held) -> Result<()> {
        // The shared batches: their columns to the column files.
        let mut at: Vec<u32> = Vec::with_capacity(out.batches.len());
        for b in std::mem::take(&mut out.batches) {
            let mut pos = vec![u32::MAX; b.len()];
            for (c, col) in b.iter().enumerate() {
                let Some(col) = col else { continue };
                let schema = Arc::new(Schema::new(vec![out.scan.field(c).clone()]));
                if out.store.writers[c].is_none() {
                    let (path, file) = self.new_file()?;
                    out.store.paths[c] = Some(path);
                    out.store.writers[c] = Some(FileWriter::try_new(
                        BufWriter::with_capacity(1 << 20, file),
                        &schema,
                    )?);
                }
                let Some(w) = out.store.writers[c].as_mut() else {
                    continue;
                };
                w.write(&RecordBatch::try_new(schema, vec![col.clone()])?)?;
                self.spilled_bytes
                    .fetch_add(col.get_array_memory_size(), Ordering::Relaxed);
                pos[c] = out.store.written[c];
                out.store.written[c] += 1;
            }
            at.push(out.store.index.len() as u32);
            out.store.index.push(pos);
        }
        for (i, pieces) in out.pieces.iter_mut().enumerate() {
            let srcs = std::mem::take(&mut out.srcs[i]);
            for (p, src) in pieces.drain(..).zip(srcs) {
                self.spilled_rows.fetch_add(p.kept(), Ordering::Relaxed);
                if let Some(b) = src {
                    out.refs[i].push((at[b as usize], p.keep));
                    continue;
                }
                if out.writers[i].is_none() {
                    let (path, file) = self.new_file()?;
                    let w = StreamWriter::try_new(
                        BufWriter::with_capacity(1 << 20, file),
                        &p.rows.schema(),
                    )?;
                    out.writers[i] = Some(w);
                    out.files[i].push(path);
                }
                let Some(w) = out.writers[i].as_mut() else {
                    continue;
                };
                let rows = match &p.keep {
                    Some(k) => filter_record_batch(&p.rows, k)?,
                    None => p.rows,
                };
                self.spilled_bytes
                    .fetch_add(rows.get_array_memory_size(), Ordering::Relaxed);
                w.write(&rows)?;
            }
        }
        self.held.fetch_sub(out.bytes, Ordering::Relaxed);
        out.bytes = 0;
        Ok(())
    }

    /// Close a worker's spill files; returns what of each detection went
    /// to disk.
    pub fn finish(&self, out: &mut Held) -> Result<Vec<Vec<Spilled>>> {
        for w in out.writers.iter_mut() {
            if let Some(mut w) = w.take() {
                w.finish()?;
            }
        }
        for w in out.store.writers.iter_mut() {
            if let Some(mut w) = w.take() {
                w.finish()?;
            }
        }
        let store = Arc::new(Store {
            paths: std::mem::take(&mut out.store.paths),
            index: std::mem::take(&mut out.store.index),
        });
        let files = std::mem::take(&mut out.files);
        let refs = std::mem::take(&mut out.refs);
        Ok(files
            .into_iter()
            .zip(refs)
            .enumerate()
            .map(|(i, (files, refs))| {
                let mut s: Vec<Spilled> = files.into_iter().map(Spilled::Own).collect();
                if !refs.is_empty() {
                    s.push(Spilled::Shared {
                        store: store.clone(),
                        columns: out.columns[i].clone(),
                        refs,
                    });
                }
                s
            })
            .collect())
    }
}

/// A worker's column files, as they are written.
struct ColumnWriters {
    writers: Vec<Option<FileWriter<BufWriter<File>>>>,
    paths: Vec<Option<PathBuf>>,
    /// Batches written to each column's file.
    written: Vec<u32>,
    /// Per shared batch written, each column's batch number in its file
    /// (`u32::MAX`: not written).
    index: Vec<Vec<u32>>,
}

/// A worker's column files, written: a shared batch's columns are found by
/// its number in `index`.
#[derive(Debug)]
pub(crate) struct Store {
    paths: Vec<Option<PathBuf>>,
    index: Vec<Vec<u32>>,
}

/// Some of a detection's rows on disk.
#[derive(Debug, Clone)]
pub(crate) enum Spilled {
    /// A file of its own rows (its own columns).
    Own(PathBuf),
    /// Scan batches in a worker's column files: its columns (scan column
    /// numbers, in its schema's order), and per batch its number in the
    /// store and the rows of it the detection keeps (`None`: all).
    Shared {
        store: Arc<Store>,
        columns: Vec<usize>,
        refs: Vec<(u32, Option<BooleanArray>)>,
    },
}

impl Spilled {
    /// The rows, a batch at a time, with the columns `projection` of the
    /// detection's `schema` (all of them with `None`).
    pub fn batches(
        &self,
        schema: &SchemaRef,
        projection: Option<&[usize]>,
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send>> {
        let all: Vec<usize> = (0..schema.fields().len()).collect();
        let projection = projection.unwrap_or(&all).to_vec();
        match self {
            Spilled::Own(path) => {
                let r = read(path)?;
                Ok(Box::new(r.map(move |b| Ok(b?.project(&projection)?))))
            }
            Spilled::Shared {
                store,
                columns,
                refs,
            } => {
                let out_schema = Arc::new(schema.project(&projection)?);
                let cols: Vec<usize> = projection.iter().map(|p| columns[*p]).collect();
                let mut readers = vec![];
                for c in &cols {
                    let path = store
                        .paths
                        .get(*c)
                        .and_then(|p| p.as_ref())
                        .ok_or_else(|| {
                            DataFusionError::Internal(format!("hunt spill: no file for column {c}"))
                        })?;
                    let f = File::open(path).map_err(|e| io(&path.display().to_string(), e))?;
                    readers.push(FileReader::try_new(
                        BufReader::with_capacity(1 << 16, f),
                        None,
                    )?);
                }
                let (store, refs) = (store.clone(), refs.clone());
                let mut refs = refs.into_iter();
                Ok(Box::new(std::iter::from_fn(move || {
                    let (b, keep) = refs.next()?;
                    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
                    for (r, c) in readers.iter_mut().zip(&cols) {
                        let pos = store.index[b as usize][*c];
                        let one = (|| -> Result<ArrayRef> {
                            r.set_index(pos as usize)?;
                            let batch = r.next().ok_or_else(|| {
                                DataFusionError::Internal("hunt spill: a batch is missing".into())
                            })??;
                            Ok(batch.column(0).clone())
                        })();
                        match one {
                            Ok(a) => arrays.push(a),
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    let rows = RecordBatch::try_new(out_schema.clone(), arrays)
                        .map_err(DataFusionError::from)
                        .and_then(|rows| match &keep {
                            Some(k) => Ok(filter_record_batch(&rows, k)?),
                            None => Ok(rows),
                        });
                    Some(rows)
                })))
            }
        }
    }
}

/// One worker's rows per detection: in memory, and what was written.
pub(crate) struct Held {
    pub pieces: Vec<Vec<Piece>>,
    /// Per piece, the shared batch (in `batches`) it is a projection of, or
    /// `None` for rows of its own.
    srcs: Vec<Vec<Option<u32>>>,
    /// The scan batches pieces share, as their shared columns.
    batches: Vec<Vec<Option<ArrayRef>>>,
    /// What the pieces in memory hold (bytes, shared columns once per batch).
    pub bytes: usize,
    /// The scan's schema, and each detection's columns of it.
    scan: SchemaRef,
    columns: Arc<Vec<Vec<usize>>>,
    writers: Vec<Option<StreamWriter<BufWriter<File>>>>,
    files: Vec<Vec<PathBuf>>,
    store: ColumnWriters,
    refs: Vec<Vec<(u32, Option<BooleanArray>)>>,
}

impl Held {
    pub fn new(scan: SchemaRef, columns: Arc<Vec<Vec<usize>>>) -> Self {
        let detections = columns.len();
        let width = scan.fields().len();
        Held {
            pieces: vec![vec![]; detections],
            srcs: vec![vec![]; detections],
            batches: vec![],
            bytes: 0,
            scan,
            columns,
            writers: (0..detections).map(|_| None).collect(),
            files: vec![vec![]; detections],
            store: ColumnWriters {
                writers: (0..width).map(|_| None).collect(),
                paths: vec![None; width],
                written: vec![0; width],
                index: vec![],
            },
            refs: vec![vec![]; detections],
        }
    }

    /// The number the next shared batch will have.
    pub fn next_batch(&self) -> u32 {
        self.batches.len() as u32
    }

    /// Add a detection's piece; `src`: the shared batch it projects.
    pub fn push(&mut self, detection: usize, piece: Piece, src: Option<u32>) {
        self.pieces[detection].push(piece);
        self.srcs[detection].push(src);
    }

    /// Keep a scan batch's columns `shared` (those its pieces share), as
    /// the batch numbered [`Self::next_batch`].
    pub fn share(&mut self, batch: &RecordBatch, shared: &[bool]) {
        self.batches.push(
            batch
                .columns()
                .iter()
                .zip(shared)
                .map(|(c, s)| s.then(|| c.clone()))
                .collect(),
        );
    }

    /// Take the pieces in memory (after the scan).
    pub fn take_pieces(&mut self) -> Vec<Vec<Piece>> {
        for s in self.srcs.iter_mut() {
            s.clear();
        }
        self.batches.clear();
        std::mem::take(&mut self.pieces)
    }
}

/// The memory of a batch's columns `cols` (those pieces share with it).
pub(crate) fn columns_bytes(batch: &RecordBatch, cols: &[bool]) -> usize {
    batch
        .columns()
        .iter()
        .zip(cols)
        .filter(|(_, used)| **used)
        .map(|(c, _)| c.get_array_memory_size())
        .sum()
}

/// The batches of a spill file, one at a time.
pub(crate) fn read(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let f = File::open(path).map_err(|e| io(&path.display().to_string(), e))?;
    let r = StreamReader::try_new(BufReader::with_capacity(1 << 20, f), None)?;
    Ok(r.map(|b| b.map_err(DataFusionError::from)))
}

/// The columns a finding draws facts from.
const FACTS: [&str; 8] = [
    "eventid",
    "eventtime",
    "useridentity",
    "sourceipaddress",
    "useragent",
    "recipientaccountid",
    "awsregion",
    "eventname",
];

/// A detection's rows, those in memory and those on disk, a batch at a
/// time, with only the columns a finding draws facts from.
pub(crate) fn fact_batches<'a>(
    schema: &'a SchemaRef,
    pieces: &'a [Piece],
    files: &'a [Spilled],
) -> impl Iterator<Item = Result<RecordBatch>> + 'a {
    let cols: Vec<usize> = FACTS
        .iter()
        .filter_map(|c| schema.index_of(c).ok())
        .collect();
    let c2 = cols.clone();
    let memory = pieces.iter().map(move |p| {
        let rows = match &p.keep {
            Some(k) => filter_record_batch(&p.rows.project(&cols)?, k)?,
            None => p.rows.project(&cols)?,
        };
        Ok(rows)
    });
    let disk = files.iter().flat_map(move |f| {
        let batches: Box<dyn Iterator<Item = Result<RecordBatch>> + Send> =
            match f.batches(schema, Some(&c2)) {
                Ok(r) => r,
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
        batches
    });
    memory.chain(disk)
}

/// A detection's rows that are evidence (their `eventid` among `wanted`),
/// with only the columns a finding draws facts from: read from memory and
/// from its spill files, so what stays in memory is the evidence alone.
pub(crate) fn evidence_rows(
    schema: &SchemaRef,
    pieces: &[Piece],
    files: &[Spilled],
    wanted: &std::collections::HashSet<&str, ahash::RandomState>,
) -> Result<Vec<Piece>> {
    let mut out = vec![];
    for b in fact_batches(schema, pieces, files) {
        let b = b?;
        let Some(ids) = b
            .column_by_name("eventid")
            .and_then(|c| c.as_string_opt::<i32>())
        else {
            continue;
        };
        let mask: BooleanArray = (0..b.num_rows())
            .map(|i| Some(ids.is_valid(i) && wanted.contains(ids.value(i))))
            .collect();
        if mask.true_count() > 0 {
            out.push(Piece {
                rows: filter_record_batch(&b, &mask)?,
                keep: None,
            });
        }
    }
    Ok(out)
}

/// A detection's rows on disk (and those still in memory) as a table the
/// detection's SQL runs on, one partition per file.
pub(crate) fn table(
    schema: SchemaRef,
    pieces: &[Piece],
    files: Vec<Spilled>,
) -> Result<datafusion::catalog::streaming::StreamingTable> {
    use datafusion::physical_plan::streaming::PartitionStream;
    let mut parts: Vec<Arc<dyn PartitionStream>> = files
        .into_iter()
        .map(|spilled| {
            Arc::new(FilePartition {
                schema: schema.clone(),
                spilled,
            }) as Arc<dyn PartitionStream>
        })
        .collect();
    let rows = pieces
        .iter()
        .map(|p| match &p.keep {
            Some(k) => filter_record_batch(&p.rows, k),
            None => Ok(p.rows.clone()),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if !rows.is_empty() {
        parts.push(Arc::new(MemoryPartition {
            schema: schema.clone(),
            rows,
        }));
    }
    datafusion::catalog::streaming::StreamingTable::try_new(schema, parts)
}

#[derive(Debug)]
struct FilePartition {
    schema: SchemaRef,
    spilled: Spilled,
}

impl datafusion::physical_plan::streaming::PartitionStream for FilePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(
        &self,
        _ctx: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::execution::SendableRecordBatchStream {
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let (spilled, schema) = (self.spilled.clone(), self.schema.clone());
        // The file is read on a blocking thread, a batch at a time, into a
        // channel of two: at most a few batches of it are in memory.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        tokio::task::spawn_blocking(move || {
            let batches = match spilled.batches(&schema, None) {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            for b in batches {
                if tx.blocking_send(b).is_err() {
                    return;
                }
            }
        });
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

#[derive(Debug)]
struct MemoryPartition {
    schema: SchemaRef,
    rows: Vec<RecordBatch>,
}

impl datafusion::physical_plan::streaming::PartitionStream for MemoryPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(
        &self,
        _ctx: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::execution::SendableRecordBatchStream {
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let rows: Vec<Result<RecordBatch>> = self.rows.iter().cloned().map(Ok).collect();
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(rows),
        ))
    }
}

fn io(what: &str, e: std::io::Error) -> DataFusionError {
    DataFusionError::Execution(format!("hunt spill file {what}: {e}"))
}

fn poisoned() -> DataFusionError {
    DataFusionError::Execution("hunt spill directory lock poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn batch(ids: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("eventid", DataType::Utf8, true),
            Field::new("eventname", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(StringArray::from(vec!["GetObject"; ids.len()])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn spilled_rows_come_back_as_they_went_and_the_budget_is_freed() {
        let budget = Budget::new(64);
        let b = batch(&["a", "b", "c"]);
        // Detection 0 keeps two rows of the batch, 1 all of it (both share
        // it), 2 a copy of one row.
        let mut held = Held::new(b.schema(), Arc::new(vec![vec![0, 1], vec![0], vec![0, 1]]));
        let slot = held.next_batch();
        held.push(
            0,
            Piece {
                rows: b.clone(),
                keep: Some(BooleanArray::from(vec![true, false, true])),
            },
            Some(slot),
        );
        held.push(
            1,
            Piece {
                rows: b.project(&[0]).unwrap(),
                keep: None,
            },
            Some(slot),
        );
        held.push(
            2,
            Piece {
                rows: filter_record_batch(&b, &BooleanArray::from(vec![false, true, false]))
                    .unwrap(),
                keep: None,
            },
            None,
        );
        held.share(&b, &[true, true]);
        held.bytes = columns_bytes(&b, &[true, true]);
        budget.add(held.bytes);
        assert!(budget.over(), "a 64-byte limit holds less than the batch");
        budget.spill(&mut held).unwrap();
        assert!(!budget.over());
        assert_eq!(held.bytes, 0);
        assert!(held.pieces.iter().all(|p| p.is_empty()));
        // A second batch, after the first went to disk.
        let b2 = batch(&["d", "e"]);
        let slot = held.next_batch();
        held.push(
            0,
            Piece {
                rows: b2.clone(),
                keep: None,
            },
            Some(slot),
        );
        held.share(&b2, &[true, true]);
        budget.spill(&mut held).unwrap();
        let files = budget.finish(&mut held).unwrap();
        let ids = |schema: &SchemaRef, s: &[Spilled]| -> Vec<String> {
            s.iter()
                .flat_map(|f| f.batches(schema, None).unwrap())
                .flat_map(|b| {
                    let b = b.unwrap();
                    let i = b.schema().index_of("eventid").unwrap();
                    b.column(i)
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(String::from)
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        // Shared rows: each batch written once, read back per detection.
        assert_eq!(ids(&b.schema(), &files[0]), ["a", "c", "d", "e"]);
        let one = Arc::new(b.schema().project(&[0]).unwrap());
        assert_eq!(ids(&one, &files[1]), ["a", "b", "c"]);
        assert_eq!(ids(&b.schema(), &files[2]), ["b"]);
        assert!(matches!(files[2][..], [Spilled::Own(_)]));
        assert_eq!(budget.spilled_rows.load(Ordering::Relaxed), 8);
        // A projection of the shared rows.
        let names: Vec<RecordBatch> = files[0][0]
            .batches(&b.schema(), Some(&[1]))
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        assert_eq!(names[0].schema().field(0).name(), "eventname");
        assert_eq!(names.iter().map(|b| b.num_rows()).sum::<usize>(), 4);
        // The evidence of the second detection: only the wanted rows.
        let wanted: std::collections::HashSet<&str, ahash::RandomState> =
            ["b"].into_iter().collect();
        let ev = evidence_rows(&one, &[], &files[1], &wanted).unwrap();
        assert_eq!(ev.iter().map(|p| p.rows.num_rows()).sum::<usize>(), 1);
    }

    #[test]
    fn the_default_limit_is_a_share_of_the_machine_at_most_a_gib() {
        let l = default_memory_limit();
        assert!((1 << 20..=1 << 30).contains(&l), "{l}");
    }
}
