//! A reader for logs written one JSON object per line (WAF, GuardDuty
//! findings, Kubernetes audit events), driven by a table definition: each
//! column is the value of its source key, nested structs and arrays built as
//! the definition types them, JSON-text columns kept as written.
//!
//! A line that is not valid JSON (checked in full before any value is kept),
//! not an object, or not UTF-8 is reported with its line number and byte
//! offset and skipped; the rest of the file is read.

use arrow_schema::SchemaRef;

use crate::cloudtrail::{FileOutcome, Problem, ReadOptions};
use crate::flow::{
    builders, finish, in_window, past_record_cap, projected, read_decompressed, LogReader, Output,
};
use crate::json;
use crate::layout::Partitions;
use crate::table::TableDef;

use super::{partition_from_record, Fallback, TimeFormat};

/// A JSON-lines log.
#[derive(Debug)]
pub struct JsonFormat {
    pub def: fn() -> TableDef,
    /// The column holding the time, and how it is written.
    pub time_column: &'static str,
    pub time: TimeFormat,
    /// Partition values of a file outside the S3 layout.
    pub fallback: &'static [(&'static str, Fallback)],
}

/// Reads one [`JsonFormat`] into batches of its table.
pub struct JsonLinesReader {
    fmt: &'static JsonFormat,
    table: TableDef,
    out_schema: SchemaRef,
    outputs: Vec<Output>,
    opts: ReadOptions,
    i_time: usize,
}

impl JsonLinesReader {
    pub fn new(fmt: &'static JsonFormat, opts: ReadOptions) -> Self {
        let table = (fmt.def)();
        let (out_schema, outputs) = projected(&table, opts.projection.as_ref());
        let i_time = table
            .columns
            .iter()
            .position(|c| c.name == fmt.time_column)
            .expect("the time column is a column");
        JsonLinesReader {
            fmt,
            table,
            out_schema,
            outputs,
            opts,
            i_time,
        }
    }

    /// Read decompressed JSON lines.
    pub fn read_text(&self, data: &[u8], partitions: Option<&Partitions>) -> FileOutcome {
        let mut out = FileOutcome::default();
        let mut builders = builders(&self.table, &self.outputs);
        let ncols = self.table.columns.len();
        let mut slots: Vec<Option<usize>> = vec![None; ncols];
        let mut rows = 0usize;
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
            let line = &data[start..end];
            let problem = |msg: String| Problem {
                offset: Some(start),
                record: None,
                message: format!("line {line_no}: {msg}"),
            };
            let at = json::skip_ws(line, 0);
            if at >= line.len() {
                continue;
            }
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                out.record_problem_with(|| problem(format!("invalid JSON: {e}")));
                continue;
            }
            if line[at] != b'{' {
                out.record_problem_with(|| problem("record is not a JSON object".into()));
                continue;
            }
            for s in slots.iter_mut() {
                *s = None;
            }
            let scanned = json::for_each_member(line, at, |key, vs, _ve| {
                if let Some(ci) = self
                    .table
                    .columns
                    .iter()
                    .position(|c| c.source_key.as_bytes() == key)
                {
                    slots[ci] = Some(vs);
                }
                Ok(())
            });
            if let Err(e) = scanned {
                out.record_problem_with(|| problem(format!("invalid JSON: {}", e.msg)));
                continue;
            }
            // One UTF-8 check for the line's values: a line that is not
            // UTF-8 is skipped, never decoded lossily.
            let src = json::Src::new(line);
            if src.text.is_none() {
                out.record_problem_with(|| problem("not UTF-8".into()));
                continue;
            }
            // A scalar's text: a string decoded, a number as written.
            let text = |ci: usize| -> Option<String> {
                let vs = slots[ci]?;
                let ve = json::skip_value(line, vs).ok()?;
                match json::kind_at(line, vs) {
                    json::Kind::String => Some(src.string(vs, ve).into_owned()),
                    json::Kind::Other => std::str::from_utf8(&line[vs..ve])
                        .ok()
                        .map(|s| s.trim().to_string()),
                    _ => None,
                }
            };
            let time = text(self.i_time).and_then(|t| self.fmt.time.canonical(&t));
            if !in_window(&self.opts, time.as_deref()) {
                out.filtered += 1;
                continue;
            }
            let col = |name: &str| -> Option<String> {
                self.table
                    .columns
                    .iter()
                    .position(|c| c.name == name)
                    .and_then(text)
            };
            for (b, o) in builders.iter_mut().zip(&self.outputs) {
                match o {
                    Output::Column(ci) => match slots[*ci] {
                        Some(vs) => {
                            b.append_value(src, vs);
                        }
                        None => b.append_null(),
                    },
                    Output::Partition(name) => {
                        let v = match partitions {
                            Some(p) => p.value(name).map(String::from),
                            None => {
                                partition_from_record(name, self.fmt.fallback, time.as_deref(), col)
                            }
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

impl LogReader for JsonLinesReader {
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
