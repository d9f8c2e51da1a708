//! VPC flow logs delivered as Parquet: the columns are read by name (AWS
//! names them after the fields, `-` as `_`) and cast to the `vpcflow`
//! table's types; fields the flow log does not carry are NULL.
//!
//! Bounded whatever the file claims: only the columns the query needs are
//! decoded (a projection mask), the row count the footer declares is checked
//! before anything is decoded, batches are converted as they stream (never
//! the whole file at once), and the output is capped in rows and bytes. The
//! file's rows are handed over only when the whole file was read, so a file
//! that fails half-way costs only itself.

use std::sync::Arc;

use arrow_array::{
    new_null_array, Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray,
};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::build::Batcher;
use crate::cloudtrail::{FileOutcome, Problem, ReadOptions};
use crate::layout::Partitions;
use crate::table;

/// Rows one file may declare: far above a delivery file (AWS rotates them by
/// size and time), far below what breaks a 32-bit offset with partition text.
pub const MAX_ROWS: i64 = 20_000_000;
/// Output bytes one file may produce (the Arrow arrays it becomes).
pub const MAX_OUTPUT_BYTES: usize = 1 << 30;
/// Rows per decoded batch.
const BATCH_ROWS: usize = 64 * 1024;

fn problem(msg: String) -> FileOutcome {
    FileOutcome {
        file_problem: Some(Problem {
            offset: None,
            record: None,
            message: msg,
        }),
        ..Default::default()
    }
}

fn is_partition(name: &str) -> bool {
    [
        table::ACCOUNT_PARTITION,
        table::REGION_PARTITION,
        table::DATE_PARTITION,
        table::HOUR_PARTITION,
        table::VPC_PARTITION,
    ]
    .contains(&name)
}

/// The Parquet column that holds `name` (a `vpcflow` column).
fn source_name_matches(parquet: &str, name: &str) -> bool {
    parquet.eq_ignore_ascii_case(name) || parquet.replace('-', "_").eq_ignore_ascii_case(name)
}

/// Read one Parquet flow-log file into `schema` (a projection of `vpcflow`);
/// its rows go to `batcher` once the whole file has been read.
pub fn read_into(
    raw: &[u8],
    partitions: Option<&Partitions>,
    opts: &ReadOptions,
    schema: &SchemaRef,
    batcher: &mut Batcher,
) -> FileOutcome {
    // The Parquet decoder panics on some corrupted pages (found by fuzzing:
    // arrow-buffer's bit-chunk iterator, "offset + len out of bounds"): that
    // is this file's problem, caught here as well as at the scan's file
    // boundary. Nothing reaches the batcher before the whole file is read.
    let mut kept = Batcher::of_batches(schema.clone());
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_limited(
            raw,
            partitions,
            opts,
            schema,
            &mut kept,
            MAX_ROWS,
            MAX_OUTPUT_BYTES,
        )
    }));
    match res {
        Ok(out) => {
            if let Ok(batches) = kept.take() {
                for b in batches {
                    batcher.push(b);
                }
            }
            out
        }
        Err(p) => {
            let why = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            problem(format!("the Parquet decoder failed on this file: {why}"))
        }
    }
}

fn read_limited(
    raw: &[u8],
    partitions: Option<&Partitions>,
    opts: &ReadOptions,
    schema: &SchemaRef,
    batcher: &mut Batcher,
    max_rows: i64,
    max_bytes: usize,
) -> FileOutcome {
    let builder = match ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(raw))
    {
        Ok(b) => b,
        Err(e) => return problem(format!("not a readable Parquet file: {e}")),
    };
    let meta = builder.metadata().clone();
    let declared = meta.file_metadata().num_rows();
    let groups: i64 = meta.row_groups().iter().map(|g| g.num_rows()).sum();
    if !(0..=max_rows).contains(&declared) || !(0..=max_rows).contains(&groups) {
        return problem(format!(
            "Parquet file declares {declared} rows ({groups} in its row groups), more than the {max_rows} one flow-log file may hold: not read"
        ));
    }
    // Only the columns some output field (or the time filter) reads.
    let wanted = |pq: &str| {
        schema
            .fields()
            .iter()
            .any(|f| !is_partition(f.name()) && source_name_matches(pq, f.name()))
            || source_name_matches(pq, "start")
            || (partitions.is_none()
                && (source_name_matches(pq, "account_id") || source_name_matches(pq, "region")))
    };
    let arrow_schema = builder.schema().clone();
    let roots: Vec<usize> = arrow_schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted(f.name()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(meta.file_metadata().schema_descr(), roots);
    let reader = match builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
    {
        Ok(r) => r,
        Err(e) => return problem(format!("not a readable Parquet file: {e}")),
    };
    let epoch = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|d| d.timestamp())
    };
    let window = (epoch(&opts.since), epoch(&opts.until));
    let mut out = FileOutcome::default();
    let mut batches = vec![];
    let mut bytes = 0usize;
    for b in reader {
        let src = match b {
            Ok(b) => b,
            Err(e) => return problem(format!("Parquet: {e}")),
        };
        if out.events + out.filtered + src.num_rows() > max_rows as usize {
            return problem(format!(
                "Parquet file holds more rows than it declares ({declared}): not read"
            ));
        }
        match convert(&src, partitions, schema, window) {
            Ok((batch, filtered)) => {
                out.events += batch.num_rows();
                out.filtered += filtered;
                bytes += batch.get_array_memory_size();
                if bytes > max_bytes {
                    return problem(format!(
                        "Parquet file expands past {max_bytes} bytes of columns: not read"
                    ));
                }
                if batch.num_rows() > 0 {
                    batches.push(batch);
                }
            }
            Err(e) => return problem(e),
        }
    }
    for b in batches {
        batcher.push(b);
    }
    out
}

/// One decoded batch in the output schema, filtered by the time window:
/// (rows kept, rows outside the window).
fn convert(
    src: &RecordBatch,
    partitions: Option<&Partitions>,
    schema: &SchemaRef,
    (since, until): (Option<i64>, Option<i64>),
) -> Result<(RecordBatch, usize), String> {
    let n = src.num_rows();
    let column = |name: &str, ty: &DataType| -> Result<Option<ArrayRef>, String> {
        let found = src
            .schema()
            .fields()
            .iter()
            .position(|f| source_name_matches(f.name(), name));
        match found {
            Some(i) => arrow_cast::cast(src.column(i), ty)
                .map(Some)
                .map_err(|e| format!("column {name}: {e}")),
            None => Ok(None),
        }
    };
    let start = column("start", &DataType::Int64)?
        .and_then(|a| a.as_any().downcast_ref::<Int64Array>().cloned());
    let str_of = |name: &str| column(name, &DataType::Utf8).ok().flatten();
    let mut arrays: Vec<ArrayRef> = vec![];
    for f in schema.fields() {
        let name = f.name().as_str();
        if is_partition(name) {
            let arr: ArrayRef = match partitions {
                Some(p) => match p.value(name) {
                    Some(v) => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n))),
                    None => new_null_array(f.data_type(), n),
                },
                None => match name {
                    table::ACCOUNT_PARTITION => {
                        str_of("account_id").unwrap_or_else(|| new_null_array(f.data_type(), n))
                    }
                    table::REGION_PARTITION => {
                        str_of("region").unwrap_or_else(|| new_null_array(f.data_type(), n))
                    }
                    table::DATE_PARTITION => Arc::new(StringArray::from_iter((0..n).map(|i| {
                        start
                            .as_ref()
                            .filter(|s| s.is_valid(i))
                            .and_then(|s| chrono::DateTime::from_timestamp(s.value(i), 0))
                            .map(|d| d.format("%Y/%m/%d").to_string())
                    }))),
                    _ => new_null_array(f.data_type(), n),
                },
            };
            arrays.push(arr);
            continue;
        }
        match column(name, f.data_type())? {
            Some(a) => arrays.push(a),
            None => arrays.push(new_null_array(f.data_type(), n)),
        }
    }
    let batch = RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .map_err(|e| format!("Parquet: {e}"))?;
    if since.is_none() && until.is_none() {
        return Ok((batch, 0));
    }
    let keep = BooleanArray::from_iter((0..n).map(|i| {
        let t = start.as_ref().filter(|s| s.is_valid(i)).map(|s| s.value(i));
        Some(t.is_some_and(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)))
    }));
    let kept = arrow_select::filter::filter_record_batch(&batch, &keep)
        .map_err(|e| format!("Parquet: {e}"))?;
    let dropped = n - kept.num_rows();
    Ok((kept, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{Field, Schema};

    fn file(rows: usize) -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("srcaddr", DataType::Utf8, true),
            Field::new("start", DataType::Int64, true),
            Field::new("unused_wide_column", DataType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("10.0.0.{i}")),
                )),
                Arc::new(Int64Array::from_iter_values(
                    (0..rows).map(|i| 1_700_000_000 + i as i64),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|_| "x".repeat(1000)),
                )),
            ],
        )
        .unwrap();
        let mut out = vec![];
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        out
    }

    fn out_schema() -> SchemaRef {
        let t = table::vpcflow();
        let full = t.arrow_schema();
        let keep: Vec<usize> = full
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                ["srcaddr", "dstaddr", "start", table::DATE_PARTITION].contains(&f.name().as_str())
            })
            .map(|(i, _)| i)
            .collect();
        Arc::new(full.project(&keep).unwrap())
    }

    #[test]
    fn reads_by_name_with_nulls_for_missing_fields() {
        let schema = out_schema();
        let mut b = Batcher::of_batches(schema.clone());
        let o = read_into(&file(3), None, &ReadOptions::default(), &schema, &mut b);
        assert!(o.file_problem.is_none(), "{:?}", o.file_problem);
        assert_eq!(o.events, 3);
        let batches = b.take().unwrap();
        let got = &batches[0];
        assert_eq!(got.num_rows(), 3);
        let dst = got.column(got.schema().index_of("dstaddr").unwrap());
        assert_eq!(dst.null_count(), 3, "a field the file lacks is NULL");
    }

    #[test]
    fn declared_rows_and_output_bytes_are_capped_and_nothing_is_kept() {
        let schema = out_schema();
        let mut b = Batcher::of_batches(schema.clone());
        let o = read_limited(
            &file(3),
            None,
            &ReadOptions::default(),
            &schema,
            &mut b,
            2,
            usize::MAX,
        );
        assert!(o.file_problem.unwrap().message.contains("declares 3 rows"));
        let o = read_limited(
            &file(3),
            None,
            &ReadOptions::default(),
            &schema,
            &mut b,
            10,
            16,
        );
        assert!(o.file_problem.unwrap().message.contains("expands past"));
        assert_eq!(
            b.rows()
                + b.take()
                    .map(|v| v.iter().map(|x| x.num_rows()).sum::<usize>())
                    .unwrap_or(0),
            0
        );
        let o = read_into(
            b"PAR1 not really",
            None,
            &ReadOptions::default(),
            &schema,
            &mut b,
        );
        assert!(o.file_problem.is_some());
    }
}
