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

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
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

    /// Write every piece a worker holds to its detection's spill file, and
    /// take what they held off the budget.
    pub fn spill(&self, out: &mut Held) -> Result<()> {
        for (i, pieces) in out.pieces.iter_mut().enumerate() {
            if pieces.is_empty() {
                continue;
            }
            if out.writers[i].is_none() {
                let schema = pieces[0].rows.schema();
                let (path, file) = self.new_file()?;
                let w = StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), &schema)?;
                out.writers[i] = Some(w);
                out.files[i].push(path);
            }
            let Some(w) = out.writers[i].as_mut() else {
                continue;
            };
            for p in pieces.drain(..) {
                let rows = match &p.keep {
                    Some(k) => filter_record_batch(&p.rows, k)?,
                    None => p.rows,
                };
                self.spilled_rows
                    .fetch_add(rows.num_rows(), Ordering::Relaxed);
                self.spilled_bytes
                    .fetch_add(rows.get_array_memory_size(), Ordering::Relaxed);
                w.write(&rows)?;
            }
        }
        self.held.fetch_sub(out.bytes, Ordering::Relaxed);
        out.bytes = 0;
        Ok(())
    }

    /// Close a worker's spill files; returns each detection's files.
    pub fn finish(&self, out: &mut Held) -> Result<Vec<Vec<PathBuf>>> {
        for w in out.writers.iter_mut() {
            if let Some(mut w) = w.take() {
                w.finish()?;
            }
        }
        Ok(std::mem::take(&mut out.files))
    }
}

/// One worker's rows per detection: in memory, and the files written.
pub(crate) struct Held {
    pub pieces: Vec<Vec<Piece>>,
    /// What the pieces in memory hold (bytes, shared columns once per batch).
    pub bytes: usize,
    writers: Vec<Option<StreamWriter<BufWriter<File>>>>,
    files: Vec<Vec<PathBuf>>,
}

impl Held {
    pub fn new(detections: usize) -> Self {
        Held {
            pieces: vec![vec![]; detections],
            bytes: 0,
            writers: (0..detections).map(|_| None).collect(),
            files: vec![vec![]; detections],
        }
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
    schema: &SchemaRef,
    pieces: &'a [Piece],
    files: &'a [PathBuf],
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
        let c = c2.clone();
        let batches: Box<dyn Iterator<Item = Result<RecordBatch>>> = match read(f) {
            Ok(r) => Box::new(r.map(move |b| Ok(b?.project(&c)?))),
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
    files: &[PathBuf],
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
    files: Vec<PathBuf>,
) -> Result<datafusion::catalog::streaming::StreamingTable> {
    use datafusion::physical_plan::streaming::PartitionStream;
    let mut parts: Vec<Arc<dyn PartitionStream>> = files
        .into_iter()
        .map(|path| {
            Arc::new(FilePartition {
                schema: schema.clone(),
                path,
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
    path: PathBuf,
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
        let path = self.path.clone();
        // The file is read on a blocking thread, a batch at a time, into a
        // channel of two: at most a few batches of it are in memory.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        tokio::task::spawn_blocking(move || {
            let batches = match read(&path) {
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
        let mut held = Held::new(2);
        let b = batch(&["a", "b", "c"]);
        held.pieces[0].push(Piece {
            rows: b.clone(),
            keep: Some(BooleanArray::from(vec![true, false, true])),
        });
        held.pieces[1].push(Piece {
            rows: b.clone(),
            keep: None,
        });
        held.bytes = columns_bytes(&b, &[true, true]);
        budget.add(held.bytes);
        assert!(budget.over(), "a 64-byte limit holds less than the batch");
        budget.spill(&mut held).unwrap();
        assert!(!budget.over());
        assert_eq!(held.bytes, 0);
        assert!(held.pieces.iter().all(|p| p.is_empty()));
        let files = budget.finish(&mut held).unwrap();
        assert_eq!(files[0].len(), 1);
        let back: Vec<RecordBatch> = read(&files[0][0]).unwrap().map(|b| b.unwrap()).collect();
        let ids: Vec<&str> = back
            .iter()
            .flat_map(|b| b.column(0).as_string::<i32>().iter().flatten())
            .collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(budget.spilled_rows.load(Ordering::Relaxed), 5);
        // The evidence of the second detection: only the wanted rows.
        let wanted: std::collections::HashSet<&str, ahash::RandomState> =
            ["b"].into_iter().collect();
        let ev = evidence_rows(&b.schema(), &[], &files[1], &wanted).unwrap();
        assert_eq!(ev.iter().map(|p| p.rows.num_rows()).sum::<usize>(), 1);
    }

    #[test]
    fn the_default_limit_is_a_share_of_the_machine_at_most_a_gib() {
        let l = default_memory_limit();
        assert!((1 << 20..=1 << 30).contains(&l), "{l}");
    }
}
