//! The log tables irprep reads, as one vocabulary.
//!
//! [`LogTable`] names every table once. Everything that differs between
//! tables hangs off it: the column definition ([`crate::table::TableDef`]),
//! the reader, where the S3 layout puts the files ([`crate::layout`] asks
//! [`LogTable::from_service`]), the storage of its Athena table
//! ([`Storage`], used by [`crate::ddl`]), the column that holds each
//! record's time. The engine, the Athena deployment and the CLI iterate
//! [`LogTable::ALL`] instead of naming tables.
//!
//! Adding a table: a definition module here (columns, storage, partitions
//! from a record), its reader (one of the generic ones in [`text`] and
//! [`jsonl`], or its own), a line in [`LogTable`] and its layout in
//! [`crate::layout`]; then queries, detections and fixtures in `content/`.

pub mod eks_audit;
pub mod elb;
pub mod guardduty;
pub mod jsonl;
pub mod s3access;
pub mod text;
pub mod waf;

use serde::Serialize;

use crate::cloudtrail::{CloudTrailReader, ReadOptions};
use crate::dns::DnsReader;
use crate::flow::{FlowReader, LogReader};
use crate::table::{self, TableDef};

/// A log table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogTable {
    CloudTrail,
    VpcFlow,
    Dns,
    S3Access,
    Alb,
    Nlb,
    Clb,
    Waf,
    GuardDuty,
    EksAudit,
}

impl LogTable {
    /// Every table, in the order they are listed to users.
    pub const ALL: [LogTable; 10] = [
        LogTable::CloudTrail,
        LogTable::VpcFlow,
        LogTable::Dns,
        LogTable::S3Access,
        LogTable::Alb,
        LogTable::Nlb,
        LogTable::Clb,
        LogTable::Waf,
        LogTable::GuardDuty,
        LogTable::EksAudit,
    ];

    /// The table's SQL name.
    pub fn name(self) -> &'static str {
        match self {
            LogTable::CloudTrail => "cloudtrail",
            LogTable::VpcFlow => "vpcflow",
            LogTable::Dns => "dns",
            LogTable::S3Access => "s3access",
            LogTable::Alb => "alb",
            LogTable::Nlb => "nlb",
            LogTable::Clb => "clb",
            LogTable::Waf => "waf",
            LogTable::GuardDuty => "guardduty",
            LogTable::EksAudit => "eks_audit",
        }
    }

    /// The table by its SQL name (any case).
    pub fn from_name(name: &str) -> Option<LogTable> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Every name, comma-separated (for messages).
    pub fn names() -> String {
        Self::ALL.map(|t| t.name()).join(", ")
    }

    /// The column definition.
    pub fn def(self) -> TableDef {
        match self {
            LogTable::CloudTrail => table::cloudtrail(),
            LogTable::VpcFlow => table::vpcflow(),
            LogTable::Dns => table::dns(),
            LogTable::S3Access => text::table_def(&s3access::FORMAT),
            LogTable::Alb => text::table_def(&elb::ALB),
            LogTable::Nlb => text::table_def(&elb::NLB),
            LogTable::Clb => text::table_def(&elb::CLB),
            LogTable::Waf => waf::def(),
            LogTable::GuardDuty => guardduty::def(),
            LogTable::EksAudit => eks_audit::def(),
        }
    }

    /// A reader of this table's files.
    pub fn reader(self, opts: ReadOptions) -> Box<dyn LogReader> {
        match self {
            LogTable::CloudTrail => Box::new(CloudTrailReader::new(opts)),
            LogTable::VpcFlow => Box::new(FlowReader::new(opts)),
            LogTable::Dns => Box::new(DnsReader::new(opts)),
            LogTable::S3Access => Box::new(text::TextReader::new(&s3access::FORMAT, opts)),
            LogTable::Alb => Box::new(text::TextReader::new(&elb::ALB, opts)),
            LogTable::Nlb => Box::new(text::TextReader::new(&elb::NLB, opts)),
            LogTable::Clb => Box::new(text::TextReader::new(&elb::CLB, opts)),
            LogTable::Waf => Box::new(jsonl::JsonLinesReader::new(&waf::FORMAT, opts)),
            LogTable::GuardDuty => Box::new(jsonl::JsonLinesReader::new(&guardduty::FORMAT, opts)),
            LogTable::EksAudit => Box::new(jsonl::JsonLinesReader::new(&eks_audit::FORMAT, opts)),
        }
    }

    /// The column holding each record's time, as the table stores it (the
    /// Athena hunt's time window is written on it).
    pub fn time_column(self) -> &'static str {
        match self {
            LogTable::CloudTrail => "eventtime",
            LogTable::VpcFlow => "start",
            LogTable::Dns => "query_timestamp",
            LogTable::S3Access => "requestdatetime",
            LogTable::Alb => "time",
            LogTable::Nlb => "time",
            LogTable::Clb => "time",
            LogTable::Waf => "timestamp",
            LogTable::GuardDuty => "updatedat",
            LogTable::EksAudit => "requestreceivedtimestamp",
        }
    }

    /// How [`LogTable::time_column`] writes a time.
    pub fn time_format(self) -> TimeFormat {
        match self {
            LogTable::VpcFlow => TimeFormat::EpochSeconds,
            LogTable::S3Access => TimeFormat::Clf,
            LogTable::Waf => TimeFormat::EpochMillis,
            _ => TimeFormat::Iso,
        }
    }

    /// The folder after `AWSLogs/<account>/` that the service writes to
    /// (`None`: not in the `AWSLogs/` layout: S3 server access logs).
    pub fn service_folder(self) -> Option<&'static str> {
        match self {
            LogTable::CloudTrail => Some("CloudTrail"),
            LogTable::VpcFlow => Some("vpcflowlogs"),
            LogTable::Dns => Some("vpcdnsquerylogs"),
            LogTable::S3Access => None,
            LogTable::Alb | LogTable::Nlb | LogTable::Clb => Some("elasticloadbalancing"),
            LogTable::Waf => Some("WAFLogs"),
            LogTable::GuardDuty => Some("GuardDuty"),
            LogTable::EksAudit => Some(eks_audit::SERVICE_FOLDER),
        }
    }

    /// The tables whose files sit under this service folder.
    pub fn from_service(folder: &str) -> Option<LogTable> {
        Self::ALL
            .into_iter()
            .find(|t| t.service_folder() == Some(folder))
    }

    /// How its Athena table stores the files, or `None` for the tables
    /// [`crate::ddl`] writes itself (CloudTrail, flow logs, DNS).
    pub fn storage(self) -> Option<&'static Storage> {
        match self {
            LogTable::S3Access => Some(&s3access::STORAGE),
            LogTable::Alb => Some(&elb::ALB_STORAGE),
            LogTable::Nlb => Some(&elb::NLB_STORAGE),
            LogTable::Clb => Some(&elb::CLB_STORAGE),
            LogTable::Waf => Some(&waf::STORAGE),
            LogTable::GuardDuty => Some(&guardduty::STORAGE),
            LogTable::EksAudit => Some(&eks_audit::STORAGE),
            _ => None,
        }
    }
}

impl std::fmt::Display for LogTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How an Athena table reads a log's files: the SerDe and formats, and the
/// path of a partition under the `AWSLogs/` location (`{account}`,
/// `{region}`, `{name}`, `{date}` stand for the partition columns).
#[derive(Debug, Clone)]
pub struct Storage {
    pub serde_lib: &'static str,
    pub input_format: &'static str,
    pub output_format: &'static str,
    /// Partition columns in key order: `(column, kind)`.
    pub partitions: &'static [(&'static str, PartitionKind)],
    /// The partition path under the location, with `${column}` as Athena
    /// writes it, e.g. `${account_partition}/WAFLogs/${region_partition}/…`.
    pub template: &'static str,
    pub classification: &'static str,
    /// SerDe parameters besides the generated ones (a RegexSerDe's regex is
    /// generated from the field list).
    pub serde_params: &'static [(&'static str, &'static str)],
}

/// What a partition column's projection enumerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PartitionKind {
    Account,
    Region,
    /// A name the layout carries (bucket, web ACL, cluster).
    Name,
    /// `yyyy/MM/dd`.
    Date,
}

pub const HIVE_TEXT_OUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
pub const TEXT_IN: &str = "org.apache.hadoop.mapred.TextInputFormat";
pub const REGEX_SERDE: &str = "org.apache.hadoop.hive.serde2.RegexSerDe";
pub const JSON_SERDE: &str = "org.openx.data.jsonserde.JsonSerDe";

/// The partition column holding the layout's name segment (bucket, web ACL,
/// cluster), per table.
pub fn name_partition(t: LogTable) -> Option<&'static str> {
    t.storage()?
        .partitions
        .iter()
        .find(|(_, k)| *k == PartitionKind::Name)
        .map(|(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_services_round_trip() {
        for t in LogTable::ALL {
            assert_eq!(LogTable::from_name(t.name()), Some(t));
            let def = t.def();
            assert_eq!(def.name, t.name());
            let schema = def.arrow_schema();
            let time = t.time_column();
            assert!(schema.index_of(time).is_ok(), "{t}: no {time}");
            if let Some(s) = t.storage() {
                let names: Vec<&str> = def.partitions.iter().map(|p| p.name).collect();
                let parts: Vec<&str> = s.partitions.iter().map(|(c, _)| *c).collect();
                assert_eq!(names, parts, "{t}: partitions");
                for p in parts {
                    assert!(s.template.contains(&format!("${{{p}}}")), "{t}: {p}");
                }
            }
        }
        assert_eq!(LogTable::from_service("WAFLogs"), Some(LogTable::Waf));
        // A character that spans the end of the time is not cut (fuzzer).
        assert_eq!(
            TimeFormat::Iso.canonical("2014-02-15T23:39:\u{fffd}\u{fffd}"),
            None
        );
        assert_eq!(
            TimeFormat::Iso
                .canonical("2014-02-15T23:39:05.123Z")
                .as_deref(),
            Some("2014-02-15T23:39:05Z")
        );
        assert_eq!(LogTable::from_name("EKS_AUDIT"), Some(LogTable::EksAudit));
    }
}

/// How a table writes a record's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// ISO 8601 (`2024-03-05T10:00:00.123456Z`, or without the zone, UTC).
    Iso,
    /// The common log format's `06/Feb/2019:00:00:38 +0000`.
    Clf,
    /// Milliseconds since the epoch.
    EpochMillis,
    /// Seconds since the epoch.
    EpochSeconds,
}

impl TimeFormat {
    /// The canonical `YYYY-MM-DDTHH:MM:SSZ` of a time, or `None`.
    pub fn canonical(self, t: &str) -> Option<String> {
        let t = t.trim();
        match self {
            TimeFormat::Iso => {
                let b = t.as_bytes();
                if b.len() < 19 || b[10] != b'T' || crate::layout::date_of_time(t).is_none() {
                    return None;
                }
                // Bytes first: a multi-byte character after the date must
                // not be cut (found by the fuzzer).
                let ok = b[11..19].iter().enumerate().all(|(i, c)| {
                    if i == 2 || i == 5 {
                        *c == b':'
                    } else {
                        c.is_ascii_digit()
                    }
                });
                ok.then(|| format!("{}Z", &t[..19]))
            }
            TimeFormat::Clf => chrono::DateTime::parse_from_str(t, "%d/%b/%Y:%H:%M:%S %z")
                .ok()
                .map(|d| {
                    d.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                }),
            TimeFormat::EpochMillis => {
                let ms: i64 = t.parse().ok()?;
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            }
            TimeFormat::EpochSeconds => {
                let s: i64 = t.parse().ok()?;
                chrono::DateTime::from_timestamp(s, 0)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            }
        }
    }
}

/// Where a partition value comes from when a file is outside the S3 layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The day of the record's time.
    Date,
    /// A column's value.
    Column(&'static str),
    /// The account id of the ARN in a column.
    ArnAccount(&'static str),
    /// The region of the ARN in a column.
    ArnRegion(&'static str),
}

/// The `n`-th `:`-separated part of an ARN (`arn:partition:service:region:account:…`).
/// A partition column's value for a file outside the S3 layout, from its
/// [`Fallback`] (`fallback`: the table's list; `time`: the record's
/// canonical time; `col`: a column's text).
pub(crate) fn partition_from_record(
    name: &str,
    fallback: &[(&'static str, Fallback)],
    time: Option<&str>,
    col: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let (_, fb) = fallback.iter().find(|(p, _)| *p == name)?;
    match fb {
        Fallback::Date => time.and_then(crate::layout::date_of_time),
        Fallback::Column(c) => col(c),
        Fallback::ArnAccount(c) => col(c).and_then(|a| arn_part(&a, 4).map(String::from)),
        Fallback::ArnRegion(c) => col(c).and_then(|a| arn_part(&a, 3).map(String::from)),
    }
}

/// An account id (part 4) must be twelve digits.
pub(crate) fn arn_part(arn: &str, n: usize) -> Option<&str> {
    if !arn.starts_with("arn:") {
        return None;
    }
    arn.split(':')
        .nth(n)
        .filter(|s| !s.is_empty() && s.len() <= 40)
        .filter(|s| n != 4 || (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())))
}
