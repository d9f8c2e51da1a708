//! The `s3access` table: Amazon S3 server access logs.
//!
//! AWS writes them in one of two key formats: the simple prefix
//! (`<prefix><yyyy>-<mm>-<dd>-<hh>-<mm>-<ss>-<unique>`), or date-based
//! partitioning (`<prefix><account>/<region>/<bucket>/<yyyy>/<mm>/<dd>/<same name>`).
//! The fields, in the documented order, with the Athena column names AWS's
//! own table uses; the newest fields (access point ARN, `aclRequired`, source
//! region) are optional, as older lines lack them.

use super::text::{f, Field, TextFormat, Tok, Ty};
use super::{Fallback, PartitionKind, Storage, TimeFormat, HIVE_TEXT_OUT, REGEX_SERDE, TEXT_IN};
use crate::table::{ACCOUNT_PARTITION, DATE_PARTITION, REGION_PARTITION};

pub const BUCKET_PARTITION: &str = "bucket_partition";

const FIELDS: &[Field] = &[
    f("bucketowner", Ty::Str, Tok::Bare),
    f("bucket_name", Ty::Str, Tok::Bare),
    f("requestdatetime", Ty::Str, Tok::Bracketed),
    f("remoteip", Ty::Str, Tok::Bare),
    f("requester", Ty::Str, Tok::Bare),
    f("requestid", Ty::Str, Tok::Bare),
    f("operation", Ty::Str, Tok::Bare),
    f("key", Ty::Str, Tok::Bare),
    f("request_uri", Ty::Str, Tok::Quoted),
    f("httpstatus", Ty::Int, Tok::Bare),
    f("errorcode", Ty::Str, Tok::Bare),
    f("bytessent", Ty::BigInt, Tok::Bare),
    f("objectsize", Ty::BigInt, Tok::Bare),
    f("totaltime", Ty::BigInt, Tok::Bare),
    f("turnaroundtime", Ty::BigInt, Tok::Bare),
    f("referrer", Ty::Str, Tok::Quoted),
    f("useragent", Ty::Str, Tok::Quoted),
    f("versionid", Ty::Str, Tok::Bare),
    f("hostid", Ty::Str, Tok::Bare),
    f("sigv", Ty::Str, Tok::Bare),
    f("ciphersuite", Ty::Str, Tok::Bare),
    f("authtype", Ty::Str, Tok::Bare),
    f("endpoint", Ty::Str, Tok::Bare),
    f("tlsversion", Ty::Str, Tok::Bare),
    f("accesspointarn", Ty::Str, Tok::Bare),
    f("aclrequired", Ty::Str, Tok::Bare),
    f("sourceregion", Ty::Str, Tok::Bare),
];

pub static FORMAT: TextFormat = TextFormat {
    table: "s3access",
    description: "Amazon S3 server access logs, one row per request",
    fields: FIELDS,
    required: 18,
    partitions: &[
        (
            ACCOUNT_PARTITION,
            "source account from a date-based key, else NULL",
        ),
        (
            REGION_PARTITION,
            "source region from a date-based key, else NULL",
        ),
        (
            BUCKET_PARTITION,
            "source bucket from a date-based key (or bucket_name)",
        ),
        (
            DATE_PARTITION,
            "yyyy/MM/dd from a date-based key (or requestdatetime)",
        ),
    ],
    fallback: &[
        (BUCKET_PARTITION, Fallback::Column("bucket_name")),
        (DATE_PARTITION, Fallback::Date),
    ],
    time_field: "requestdatetime",
    time: TimeFormat::Clf,
    shape: super::text::any_line,
    lead: &[],
};

/// The Athena table over date-based keys (`analytics` writes a table
/// without partitions over simple-prefix keys).
pub static STORAGE: Storage = Storage {
    serde_lib: REGEX_SERDE,
    input_format: TEXT_IN,
    output_format: HIVE_TEXT_OUT,
    partitions: &[
        (ACCOUNT_PARTITION, PartitionKind::Account),
        (REGION_PARTITION, PartitionKind::Region),
        (BUCKET_PARTITION, PartitionKind::Name),
        (DATE_PARTITION, PartitionKind::Date),
    ],
    template: "${account_partition}/${region_partition}/${bucket_partition}/${date_partition}",
    classification: "s3accesslogs",
    serde_params: &[],
};

/// A server access log object's name: `yyyy-mm-dd-hh-mm-ss-` and a unique
/// string of 16 hexadecimal digits (upper case as AWS writes them).
pub fn is_log_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.len() < 20 + 16 || b.len() > 20 + 64 {
        return false;
    }
    let digits = [0..4, 5..7, 8..10, 11..13, 14..16, 17..19];
    digits
        .iter()
        .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit))
        && [4, 7, 10, 13, 16, 19].iter().all(|&i| b[i] == b'-')
        && b[20..].iter().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names() {
        assert!(is_log_name("2019-08-01-00-24-41-6E1A8D0F5BBD3B3E"));
        assert!(!is_log_name("2019-08-01-00-24-41-XYZ"));
        assert!(!is_log_name("events.json"));
    }
}
