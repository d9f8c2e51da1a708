//! The VPC flow-log text reader: space-separated records into the `vpcflow`
//! table.
//!
//! - A header line (every token a flow-log field name, as AWS writes at the
//!   top of each file) names the fields of the lines after it; a file may
//!   hold several (files concatenated).
//! - Before any header, a line is read positionally only when it has 14, 29,
//!   39 or 40 tokens: the first N fields of the documented order
//!   ([`table::FLOW_FIELDS`]), which is how AWS writes the default and the
//!   all-fields formats. Any other headerless file (a transit-gateway log,
//!   say) is reported whole and skipped.
//! - `-` is NULL. A non-numeric value in a numeric field, or a line whose
//!   token count differs from its header, is reported (file, line, byte) and
//!   skipped; the rest of the file is read.
//! - A line wrapped as `{"message": "…"}` (CloudWatch Logs exports) is
//!   unwrapped.
//!
//! Parquet flow logs are read by the engine (they are Arrow already).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;

use crate::build::{Batcher, ColBuilder};
use crate::cloudtrail::{FileOutcome, Problem, ReadOptions};
use crate::decompress;
use crate::layout::Partitions;
use crate::table::{self, ColType, FlowType, TableDef, FLOW_FIELDS, POSITIONAL_FIELD_COUNTS};

/// What a reader of one log table does with one file.
pub trait LogReader: Send + Sync {
    /// Read one file's raw bytes (gzipped or not), decompressing into a
    /// buffer the caller keeps between files.
    fn read_file(
        &self,
        raw: &[u8],
        partitions: Option<&Partitions>,
        buf: &mut Vec<u8>,
        d: &mut crate::decompress::Inflater,
    ) -> FileOutcome;

    /// Where [`Self::read_file_into`] gathers rows, under `schema` (the
    /// output schema). By default, per-file batches are concatenated.
    fn batcher(&self, schema: SchemaRef) -> Batcher {
        Batcher::of_batches(schema)
    }

    /// Read one file like [`Self::read_file`], adding its rows to `into`
    /// (made by [`Self::batcher`]) instead of returning a batch. A file that
    /// cannot be read adds nothing.
    fn read_file_into(
        &self,
        raw: &[u8],
        partitions: Option<&Partitions>,
        buf: &mut Vec<u8>,
        d: &mut crate::decompress::Inflater,
        into: &mut Batcher,
    ) -> FileOutcome {
        let mut out = self.read_file(raw, partitions, buf, d);
        if let Some(b) = out.batch.take() {
            into.push(b);
        }
        out
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Output {
    Column(usize),
    Partition(&'static str),
}

/// Output columns of a projection over a table (columns, then partitions).
pub(crate) fn outputs(t: &TableDef, projection: &[usize]) -> Vec<Output> {
    let n = t.columns.len();
    projection
        .iter()
        .map(|&i| {
            if i < n {
                Output::Column(i)
            } else {
                Output::Partition(t.partitions[i - n].name)
            }
        })
        .collect()
}

/// The output schema and columns of a projection (`None`: every column
/// and partition), as every reader of a table needs them.
pub(crate) fn projected(t: &TableDef, projection: Option<&Vec<usize>>) -> (SchemaRef, Vec<Output>) {
    let schema = t.arrow_schema();
    let projection: Vec<usize> = projection
        .cloned()
        .unwrap_or_else(|| (0..schema.fields().len()).collect());
    let out_schema = Arc::new(
        schema
            .project(&projection)
            .expect("projection indices come from the schema"),
    );
    (out_schema, outputs(t, &projection))
}

/// One column builder per output column (partitions are strings).
pub(crate) fn builders(t: &TableDef, outputs: &[Output]) -> Vec<ColBuilder> {
    outputs
        .iter()
        .map(|o| match o {
            Output::Column(i) => ColBuilder::new(&t.columns[*i].ty),
            Output::Partition(_) => ColBuilder::new(&ColType::String),
        })
        .collect()
}

/// At the per-file record cap: the rest of the file is reported once and
/// counted, not read. `true` when the reader must stop.
pub(crate) fn past_record_cap(
    out: &mut FileOutcome,
    rows: usize,
    data: &[u8],
    start: usize,
) -> bool {
    if rows < crate::cloudtrail::MAX_RECORDS_PER_FILE {
        return false;
    }
    if data[start..].iter().any(|b| !b.is_ascii_whitespace()) {
        out.record_problem(crate::cloudtrail::too_many_records(start, None));
        out.more_record_problems += memchr::memchr_iter(b'\n', &data[start..]).count();
    }
    true
}

/// A canonical record time inside `since..until` (either open); with a
/// window, a record without a readable time is outside it.
pub(crate) fn in_window(opts: &ReadOptions, time: Option<&str>) -> bool {
    if opts.since.is_none() && opts.until.is_none() {
        return true;
    }
    time.is_some_and(|t| {
        opts.since.as_deref().is_none_or(|s| t >= s) && opts.until.as_deref().is_none_or(|u| t < u)
    })
}

pub(crate) fn finish(schema: &SchemaRef, builders: &mut [ColBuilder], rows: usize) -> RecordBatch {
    let arrays: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
    RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .expect("builders follow the schema")
}

/// Seconds since the epoch of a canonical `YYYY-MM-DDTHH:MM:SSZ` time.
fn epoch(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp())
}

/// `yyyy/MM/dd` of an epoch second.
fn day_of(secs: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(secs, 0).map(|d| d.format("%Y/%m/%d").to_string())
}

/// Reads VPC flow-log text into batches of the `vpcflow` table.
pub struct FlowReader {
    table: TableDef,
    out_schema: SchemaRef,
    outputs: Vec<Output>,
    since: Option<i64>,
    until: Option<i64>,
}

impl FlowReader {
    pub fn new(opts: ReadOptions) -> Self {
        let table = table::vpcflow();
        let (out_schema, outputs) = projected(&table, opts.projection.as_ref());
        FlowReader {
            table,
            out_schema,
            outputs,
            since: opts.since.as_deref().and_then(epoch),
            until: opts.until.as_deref().and_then(epoch),
        }
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.out_schema.clone()
    }

    fn builders(&self) -> Vec<ColBuilder> {
        builders(&self.table, &self.outputs)
    }

    /// Read decompressed text.
    pub fn read_text(&self, data: &[u8], partitions: Option<&Partitions>) -> FileOutcome {
        let mut out = FileOutcome::default();
        let mut builders = self.builders();
        let mut rows = 0usize;
        // Token position -> index into FLOW_FIELDS.
        let mut mapping: Option<Vec<usize>> = None;
        let (i_start, i_account, i_region) = (
            field_ix("start"),
            field_ix("account-id"),
            field_ix("region"),
        );
        let mut offset = 0usize;
        let mut line_no = 0usize;
        while offset < data.len() {
            let end = memchr::memchr(b'\n', &data[offset..])
                .map(|o| offset + o)
                .unwrap_or(data.len());
            let start = offset;
            offset = end + 1;
            line_no += 1;
            if past_record_cap(&mut out, rows, data, start) {
                break;
            }
            let raw = &data[start..end];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let problem = |msg: String| Problem {
                offset: Some(start),
                record: None,
                message: format!("line {line_no}: {msg}"),
            };
            let Ok(mut line) = std::str::from_utf8(raw) else {
                out.record_problem_with(|| problem("invalid UTF-8".into()));
                continue;
            };
            if line.trim().is_empty() {
                continue;
            }
            let wrapped: String;
            if line.trim_start().starts_with('{') {
                match serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
                {
                    Some(m) => {
                        wrapped = m;
                        line = wrapped.as_str();
                    }
                    None => {
                        out.record_problem_with(|| {
                            problem("a JSON line without a \"message\" string".into())
                        });
                        continue;
                    }
                }
            }
            let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
            if let Some(h) = header(&tokens) {
                mapping = Some(h);
                continue;
            }
            let positional: Vec<usize>;
            let map: &[usize] = match &mapping {
                Some(m) => m,
                None if POSITIONAL_FIELD_COUNTS.contains(&tokens.len()) => {
                    positional = (0..tokens.len()).collect();
                    &positional
                }
                None => {
                    if rows == 0 {
                        out.file_problem = Some(problem(format!(
                            "{} fields and no header line naming them; not a default AWS layout (14, 29, 39 or 40 fields in documented order)",
                            tokens.len()
                        )));
                        out.record_problems.clear();
                        out.more_record_problems = 0;
                        return out;
                    }
                    out.record_problem_with(|| {
                        problem(format!("{} fields and no header line", tokens.len()))
                    });
                    continue;
                }
            };
            if tokens.len() != map.len() {
                out.record_problem_with(|| {
                    problem(format!(
                        "{} fields where the header names {}",
                        tokens.len(),
                        map.len()
                    ))
                });
                continue;
            }
            let mut vals: [Option<&str>; N_FIELDS] = [None; N_FIELDS];
            let mut bad = None;
            for (tok, &fi) in tokens.iter().zip(map) {
                if *tok == "-" {
                    continue;
                }
                let f = &FLOW_FIELDS[fi];
                if f.ty != FlowType::Str && tok.parse::<i64>().is_err() {
                    bad = Some(format!(
                        "field {} is not a number: '{}'",
                        f.field,
                        tok.chars().take(40).collect::<String>()
                    ));
                    break;
                }
                vals[fi] = Some(tok);
            }
            if let Some(msg) = bad {
                out.record_problem_with(|| problem(msg));
                continue;
            }
            let start_secs = vals[i_start].and_then(|s| s.parse::<i64>().ok());
            if self.since.is_some() || self.until.is_some() {
                let keep = start_secs.is_some_and(|t| {
                    self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
                });
                if !keep {
                    out.filtered += 1;
                    continue;
                }
            }
            for (b, o) in builders.iter_mut().zip(&self.outputs) {
                match o {
                    Output::Column(ci) => b.append_opt_str(vals[*ci]),
                    Output::Partition(name) => {
                        let v: Option<String> = match partitions {
                            Some(p) => p.value(name).map(String::from),
                            None => match *name {
                                table::ACCOUNT_PARTITION => vals[i_account].map(String::from),
                                table::REGION_PARTITION => vals[i_region].map(String::from),
                                table::DATE_PARTITION => start_secs.and_then(day_of),
                                _ => None,
                            },
                        };
                        b.append_opt_str(v.as_deref());
                    }
                }
            }
            rows += 1;
        }
        out.events = rows;
        out.batch = Some(finish(&self.out_schema, &mut builders, rows));
        out
    }
}

/// Decompress a file (gzip or not) into `buf` and read its text; an
/// undecompressable file is one whole-file problem.
pub(crate) fn read_decompressed(
    raw: &[u8],
    buf: &mut Vec<u8>,
    d: &mut crate::decompress::Inflater,
    read: impl FnOnce(&[u8]) -> FileOutcome,
) -> FileOutcome {
    match decompress::gunzip_into(raw, buf, d) {
        Ok(len) => read(&buf[..len]),
        Err(p) => FileOutcome {
            file_problem: Some(p),
            ..Default::default()
        },
    }
}

impl LogReader for FlowReader {
    fn read_file(
        &self,
        raw: &[u8],
        partitions: Option<&Partitions>,
        buf: &mut Vec<u8>,
        d: &mut crate::decompress::Inflater,
    ) -> FileOutcome {
        read_decompressed(raw, buf, d, |text| self.read_text(text, partitions))
    }
}

impl LogReader for crate::cloudtrail::CloudTrailReader {
    fn read_file(
        &self,
        raw: &[u8],
        partitions: Option<&Partitions>,
        buf: &mut Vec<u8>,
        d: &mut crate::decompress::Inflater,
    ) -> FileOutcome {
        self.read_bytes_reusing(raw, partitions, buf, d)
    }

    fn batcher(&self, schema: SchemaRef) -> Batcher {
        crate::cloudtrail::CloudTrailReader::batcher(self, schema)
    }

    fn read_file_into(
        &self,
        raw: &[u8],
        partitions: Option<&Partitions>,
        buf: &mut Vec<u8>,
        d: &mut crate::decompress::Inflater,
        into: &mut Batcher,
    ) -> FileOutcome {
        self.read_bytes_into(raw, partitions, buf, d, into)
    }
}

const N_FIELDS: usize = 40;
const _: () = assert!(FLOW_FIELDS.len() == N_FIELDS);

fn field_ix(name: &str) -> usize {
    FLOW_FIELDS
        .iter()
        .position(|f| f.field == name)
        .expect("known field")
}

/// A header line: every token a flow-log field name, none repeated.
fn header(tokens: &[&str]) -> Option<Vec<usize>> {
    if tokens.is_empty() || tokens[0].parse::<i64>().is_ok() {
        return None;
    }
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        let f = table::flow_field(t)?;
        let ix = FLOW_FIELDS.iter().position(|x| x.field == f.field)?;
        if out.contains(&ix) {
            return None;
        }
        out.push(ix);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int32Array, Int64Array, StringArray};

    fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a dyn Array {
        b.column(b.schema().index_of(name).unwrap()).as_ref()
    }

    #[test]
    fn header_positional_nulls_and_bad_lines() {
        let text = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
2 111122223333 eni-1 10.0.0.1 203.0.113.9 443 51000 6 10 840 1709640000 1709640060 ACCEPT OK\n\
2 111122223333 eni-1 - - - - - - - 1709640000 1709640060 - NODATA\n\
2 111122223333 eni-1 10.0.0.1 203.0.113.9 abc 51000 6 10 840 1709640000 1709640060 ACCEPT OK\n\
2 111122223333 eni-1 10.0.0.1\n\
version srcaddr start\n\
5 192.0.2.1 1709726400\n";
        let r = FlowReader::new(ReadOptions::default());
        let out = r.read_text(text, None);
        assert!(out.file_problem.is_none());
        assert_eq!(out.events, 3);
        assert_eq!(out.record_problems.len(), 2, "{:?}", out.record_problems);
        assert!(out.record_problems[0]
            .message
            .contains("line 4: field srcport is not a number"));
        assert!(out.record_problems[1]
            .message
            .contains("line 5: 4 fields where the header names 14"));
        let b = out.batch.unwrap();
        let sp = col(&b, "srcport")
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        assert_eq!(
            (sp.value(0), sp.is_null(1), sp.is_null(2)),
            (443, true, true)
        );
        let bytes = col(&b, "bytes")
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(bytes.value(0), 840);
        let src = col(&b, "srcaddr")
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(src.value(2), "192.0.2.1");
        let acct = col(&b, "account_partition")
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(acct.value(0), "111122223333");
        assert!(acct.is_null(2));
        let day = col(&b, "date_partition")
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!((day.value(0), day.value(2)), ("2024/03/05", "2024/03/06"));
    }

    #[test]
    fn headerless_layouts() {
        let v2 = b"2 123456789010 eni-1235b8ca123456789 10.0.0.1 10.0.0.2 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK\n";
        let out = FlowReader::new(ReadOptions::default()).read_text(v2, None);
        assert_eq!(out.events, 1);
        let tgw = b"3 - 748335378900 tgw-0a12 tgw-attach-0789 - - vpc-0jkl vpc-0ghi - - eni-0cc eni-0cc - - - 1.128.0.0 2a02:cf40:: 39464 22 6 49 8947 1755592533 1755592558 SKIPDATA - - - - - - - ingress - -\n";
        let out = FlowReader::new(ReadOptions::default()).read_text(tgw, None);
        assert_eq!(out.events, 0);
        assert!(out.file_problem.unwrap().message.contains("no header line"));
        let wrapped = br#"{"message":"2 428961148399 eni-0e0bf7be352692297 - - - - - - - 1671029698 1671029728 - NODATA"}"#;
        let out = FlowReader::new(ReadOptions::default()).read_text(wrapped, None);
        assert_eq!(out.events, 1);
    }

    #[test]
    fn window_and_projection() {
        let t = table::vpcflow();
        let proj = vec![
            t.index_of("srcaddr").unwrap(),
            t.index_of("region_partition").unwrap(),
        ];
        let r = FlowReader::new(ReadOptions {
            projection: Some(proj),
            since: Some("2024-03-05T00:00:30Z".into()),
            ..Default::default()
        });
        let text = b"version srcaddr start\n2 10.0.0.1 1709596800\n2 10.0.0.2 1709596900\n";
        let p = Partitions {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            date: "2024/03/05".into(),
            ..Default::default()
        };
        let out = r.read_text(text, Some(&p));
        assert_eq!((out.events, out.filtered), (1, 1));
        let b = out.batch.unwrap();
        assert_eq!(b.num_columns(), 2);
        assert_eq!(
            b.column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0),
            "eu-west-1"
        );
    }
}
