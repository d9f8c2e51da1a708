//! VPC flow logs delivered as Parquet: the columns are read by name (AWS
//! names them after the fields, `-` as `_`) and cast to the `vpcflow`
//! table's types; fields the flow log does not carry are NULL.

use std::sync::Arc;

use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use irprep_core::cloudtrail::{FileOutcome, Problem, ReadOptions};
use irprep_core::layout::Partitions;
use irprep_core::table;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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

/// Read one Parquet flow-log file into `schema` (a projection of `vpcflow`).
pub fn read(
    raw: &[u8],
    partitions: Option<&Partitions>,
    opts: &ReadOptions,
    schema: &SchemaRef,
) -> FileOutcome {
    let reader = match ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(raw))
        .and_then(|b| b.build())
    {
        Ok(r) => r,
        Err(e) => return problem(format!("not a readable Parquet file: {e}")),
    };
    let mut batches = vec![];
    for b in reader {
        match b {
            Ok(b) => batches.push(b),
            Err(e) => return problem(format!("Parquet: {e}")),
        }
    }
    let Some(first) = batches.first() else {
        return FileOutcome {
            batch: Some(RecordBatch::new_empty(schema.clone())),
            ..Default::default()
        };
    };
    let src = match concat_batches(&first.schema(), &batches) {
        Ok(b) => b,
        Err(e) => return problem(format!("Parquet: {e}")),
    };
    let n = src.num_rows();
    let column = |name: &str,
                  ty: &datafusion::arrow::datatypes::DataType|
     -> Result<Option<ArrayRef>, String> {
        let found = src.schema().fields().iter().position(|f| {
            f.name().eq_ignore_ascii_case(name) || f.name().replace('-', "_") == name
        });
        match found {
            Some(i) => cast(src.column(i), ty)
                .map(Some)
                .map_err(|e| format!("column {name}: {e}")),
            None => Ok(None),
        }
    };
    let i64_of = |name: &str| {
        column(name, &datafusion::arrow::datatypes::DataType::Int64)
            .ok()
            .flatten()
    };
    let start = i64_of("start");
    let start = start
        .as_ref()
        .and_then(|a| a.as_any().downcast_ref::<Int64Array>().cloned());
    let str_of = |name: &str| {
        column(name, &datafusion::arrow::datatypes::DataType::Utf8)
            .ok()
            .flatten()
    };
    let mut arrays: Vec<ArrayRef> = vec![];
    for f in schema.fields() {
        let name = f.name().as_str();
        let is_partition = [
            table::ACCOUNT_PARTITION,
            table::REGION_PARTITION,
            table::DATE_PARTITION,
            table::HOUR_PARTITION,
        ]
        .contains(&name);
        if is_partition {
            let arr: ArrayRef = match partitions {
                Some(p) => Arc::new(StringArray::from(vec![p.value(name); n])),
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
        match column(name, f.data_type()) {
            Ok(Some(a)) => arrays.push(a),
            Ok(None) => arrays.push(new_null_array(f.data_type(), n)),
            Err(e) => return problem(e),
        }
    }
    let batch = match RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
    ) {
        Ok(b) => b,
        Err(e) => return problem(format!("Parquet: {e}")),
    };
    let epoch = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|d| d.timestamp())
    };
    let (since, until) = (epoch(&opts.since), epoch(&opts.until));
    if since.is_none() && until.is_none() {
        return FileOutcome {
            events: n,
            batch: Some(batch),
            ..Default::default()
        };
    }
    let mask = BooleanArray::from_iter((0..n).map(|i| {
        let t = start.as_ref().filter(|s| s.is_valid(i)).map(|s| s.value(i));
        Some(t.is_some_and(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)))
    }));
    match filter_record_batch(&batch, &mask) {
        Ok(b) => FileOutcome {
            events: b.num_rows(),
            filtered: n - b.num_rows(),
            batch: Some(b),
            ..Default::default()
        },
        Err(e) => problem(format!("Parquet: {e}")),
    }
}
