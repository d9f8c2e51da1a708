//! The Route 53 Resolver query-log reader: NDJSON into the `dns` table.
//!
//! Each line is one query. A line that is not valid JSON (checked in full
//! with serde before any value is kept), not an object, or not UTF-8 is
//! reported with its line number and byte offset and skipped; the rest of
//! the file is read. Files outside the S3 layout take their partitions from
//! the record (`account_id`, `vpc_id`, the day of `query_timestamp`).

use std::sync::Arc;

use arrow_schema::SchemaRef;

use crate::build::ColBuilder;
use crate::cloudtrail::{canonical_time, FileOutcome, Problem, ReadOptions};
use crate::flow::{finish, outputs, read_decompressed, LogReader, Output};
use crate::json;
use crate::layout::Partitions;
use crate::table::{self, ColType, TableDef};

/// Reads Resolver query logs into batches of the `dns` table.
pub struct DnsReader {
    table: TableDef,
    out_schema: SchemaRef,
    outputs: Vec<Output>,
    opts: ReadOptions,
    i_account: usize,
    i_vpc: usize,
    i_time: usize,
}

impl DnsReader {
    pub fn new(opts: ReadOptions) -> Self {
        let table = table::dns();
        let schema = table.arrow_schema();
        let projection: Vec<usize> = opts
            .projection
            .clone()
            .unwrap_or_else(|| (0..schema.fields().len()).collect());
        let out_schema = Arc::new(
            schema
                .project(&projection)
                .expect("projection indices come from the schema"),
        );
        let outputs = outputs(&table, &projection);
        let ix = |n: &str| {
            table
                .columns
                .iter()
                .position(|c| c.name == n)
                .expect("dns column")
        };
        let (i_account, i_vpc, i_time) = (ix("account_id"), ix("vpc_id"), ix("query_timestamp"));
        DnsReader {
            table,
            out_schema,
            outputs,
            opts,
            i_account,
            i_vpc,
            i_time,
        }
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.out_schema.clone()
    }

    /// Read decompressed NDJSON.
    pub fn read_text(&self, data: &[u8], partitions: Option<&Partitions>) -> FileOutcome {
        let mut out = FileOutcome::default();
        let mut builders: Vec<ColBuilder> = self
            .outputs
            .iter()
            .map(|o| match o {
                Output::Column(i) => ColBuilder::new(&self.table.columns[*i].ty),
                Output::Partition(_) => ColBuilder::new(&ColType::String),
            })
            .collect();
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
            if rows >= crate::cloudtrail::MAX_RECORDS_PER_FILE {
                if data[start..].iter().any(|b| !b.is_ascii_whitespace()) {
                    out.record_problem(crate::cloudtrail::too_many_records(start, None));
                    out.more_record_problems += memchr::memchr_iter(b'\n', &data[start..]).count();
                }
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
            // The line's text, checked for UTF-8 once for all its values: a
            // line that is not UTF-8 is skipped, never decoded lossily (which
            // would grow 0xFF bytes threefold into U+FFFD).
            let src = json::Src::new(line);
            if src.text.is_none() {
                out.record_problem_with(|| problem("not UTF-8".into()));
                continue;
            }
            let text = |ci: usize| -> Option<String> {
                let vs = slots[ci]?;
                if json::kind_at(line, vs) != json::Kind::String {
                    return None;
                }
                let ve = json::skip_value(line, vs).ok()?;
                Some(src.string(vs, ve).into_owned())
            };
            let time = text(self.i_time).map(|t| canonical_time(&t));
            if self.opts.since.is_some() || self.opts.until.is_some() {
                let keep = time.as_deref().is_some_and(|t| {
                    self.opts.since.as_deref().is_none_or(|s| t >= s)
                        && self.opts.until.as_deref().is_none_or(|u| t < u)
                });
                if !keep {
                    out.filtered += 1;
                    continue;
                }
            }
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
                            None => match *name {
                                table::ACCOUNT_PARTITION => text(self.i_account),
                                table::VPC_PARTITION => text(self.i_vpc),
                                table::DATE_PARTITION => {
                                    time.as_deref().and_then(crate::layout::date_of_time)
                                }
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

impl LogReader for DnsReader {
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float32Array, Int32Array, ListArray, StringArray, StructArray};

    #[test]
    fn a_line_that_is_not_utf8_is_skipped_not_widened() {
        let mut text = br#"{"query_timestamp":"2021-12-11T22:46:23Z","query_name":""#.to_vec();
        text.extend(std::iter::repeat_n(0xFFu8, 1000));
        text.extend(
            b"\"}\n{\"query_timestamp\":\"2021-12-11T22:46:24Z\",\"query_name\":\"ok.example.\"}\n",
        );
        let out = DnsReader::new(ReadOptions::default()).read_text(&text, None);
        assert_eq!(out.events, 1);
        assert_eq!(out.record_problems.len(), 1);
        assert!(out.record_problems[0].message.contains("not UTF-8"));
    }

    #[test]
    fn reads_queries_structs_and_bad_lines() {
        let text = br#"{"version":"1.100000","account_id":"626345947581","region":"us-east-1","vpc_id":"vpc-01e31a7c","query_timestamp":"2021-12-11T22:46:23Z","query_name":"159.86.31.172.in-addr.arpa.","query_type":"PTR","query_class":"IN","rcode":"NOERROR","answers":[{"Rdata":"ip-172-31-86-159.ec2.internal.","Type":"PTR","Class":"IN"}],"srcaddr":"172.31.86.159","srcport":"47924","transport":"UDP","srcids":{"instance":"i-0123"}}
{"version":"1.100000","account_id":"626345947581",
{"version":"1.100000","account_id":"626345947581","vpc_id":"vpc-01e31a7c","query_timestamp":"2021-12-12T00:00:01Z","query_name":"x.example.","answers":[],"srcids":{}}
"#;
        let out = DnsReader::new(ReadOptions::default()).read_text(text, None);
        assert_eq!(out.events, 2);
        assert_eq!(out.record_problems.len(), 1);
        assert!(
            out.record_problems[0]
                .message
                .starts_with("line 2: invalid JSON"),
            "{:?}",
            out.record_problems
        );
        let b = out.batch.unwrap();
        let get = |n: &str| b.column(b.schema().index_of(n).unwrap()).clone();
        let v = get("version");
        assert!((v.as_any().downcast_ref::<Float32Array>().unwrap().value(0) - 1.1).abs() < 1e-6);
        assert_eq!(
            get("srcport")
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            47924
        );
        let answers = get("answers");
        let l = answers.as_any().downcast_ref::<ListArray>().unwrap();
        let first = l.value(0);
        let s = first.as_any().downcast_ref::<StructArray>().unwrap();
        let rdata = s
            .column_by_name("rdata")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(rdata.value(0), "ip-172-31-86-159.ec2.internal.");
        assert_eq!(l.value(1).len(), 0);
        let srcids = get("srcids");
        let inst = srcids
            .as_any()
            .downcast_ref::<StructArray>()
            .unwrap()
            .column_by_name("instance")
            .unwrap()
            .clone();
        let inst = inst.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(inst.value(0), "i-0123");
        assert!(inst.is_null(1));
        let d = get("date_partition");
        let d = d.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((d.value(0), d.value(1)), ("2021/12/11", "2021/12/12"));
        let vpc = get("vpc_partition");
        assert_eq!(
            vpc.as_any().downcast_ref::<StringArray>().unwrap().value(1),
            "vpc-01e31a7c"
        );
    }
}
