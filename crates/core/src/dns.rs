//! The Route 53 Resolver query-log reader: NDJSON into the `dns` table.
//!
//! Each line is one query. A line that is not valid JSON (checked in full
//! with serde before any value is kept), not an object, or not UTF-8 is
//! reported with its line number and byte offset and skipped; the rest of
//! the file is read. Files outside the S3 layout take their partitions from
//! the record (`account_id`, `vpc_id`, the day of `query_timestamp`).

use crate::table::{self, ACCOUNT_PARTITION, DATE_PARTITION, VPC_PARTITION};
use crate::tables::jsonl::{JsonFormat, JsonLinesReader};
use crate::tables::{Fallback, TimeFormat};

/// Resolver query logs as JSON lines: the generic reader over the `dns`
/// definition; outside the layout the partitions come from the record.
pub static FORMAT: JsonFormat = JsonFormat {
    def: table::dns,
    time_column: "query_timestamp",
    time: TimeFormat::Iso,
    fallback: &[
        (ACCOUNT_PARTITION, Fallback::Column("account_id")),
        (VPC_PARTITION, Fallback::Column("vpc_id")),
        (DATE_PARTITION, Fallback::Date),
    ],
};

/// Reads Resolver query logs into batches of the `dns` table.
pub struct DnsReader;

impl DnsReader {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(opts: crate::cloudtrail::ReadOptions) -> JsonLinesReader {
        JsonLinesReader::new(&FORMAT, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudtrail::ReadOptions;
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
