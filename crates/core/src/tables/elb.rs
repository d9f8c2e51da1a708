//! The load balancer tables: `alb` (Application Load Balancer access logs),
//! `nlb` (Network Load Balancer TLS listener access logs) and `clb` (Classic
//! Load Balancer access logs).
//!
//! Three tables, not one with a type: the three formats share few fields
//! (an NLB line has no HTTP request, a Classic line none of the ALB's
//! tracing and routing fields), and Athena's RegexSerDe reads one format per
//! table, so one table would be mostly NULL columns locally and impossible
//! on Athena. All three are delivered under
//! `AWSLogs/<account>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/`; the
//! file name tells them apart (`…_app.<name>…`, `…_net.<name>…`, otherwise
//! Classic), and in a file outside the layout each table reads its own lines
//! (ALB connection-log lines are counted and skipped: no table reads them).

use super::text::{f, Field, Shape, TextFormat, Tok, Ty};
use super::{Fallback, PartitionKind, Storage, TimeFormat, HIVE_TEXT_OUT, REGEX_SERDE, TEXT_IN};
use crate::table::{ACCOUNT_PARTITION, DATE_PARTITION, REGION_PARTITION};

const PARTITIONS: &[(&str, &str)] = &[
    (
        ACCOUNT_PARTITION,
        "account id from the S3 key (or the ARN a line names)",
    ),
    (
        REGION_PARTITION,
        "region from the S3 key (or the ARN a line names)",
    ),
    (
        DATE_PARTITION,
        "yyyy/MM/dd from the S3 key (or the line's time)",
    ),
];

const ALB_TYPES: [&str; 6] = ["http", "https", "h2", "grpcs", "ws", "wss"];

/// An ISO time as load balancers write it (the Athena lead pattern too).
fn is_iso_time(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'T' | b':' | b'.' | b'Z'))
        && TimeFormat::Iso.canonical(s).is_some()
}

/// A Classic line starts with its time and the load balancer's name; an ALB
/// connection-log line with its time and the client's address.
fn timed_line(t0: &str, t1: &str) -> Option<bool> {
    is_iso_time(t0).then(|| t1.contains('.') || t1.contains(':'))
}

fn alb_shape(t0: &str, t1: &str) -> Shape {
    if ALB_TYPES.contains(&t0) {
        return Shape::Mine;
    }
    match (t0, timed_line(t0, t1)) {
        ("tls", _) | (_, Some(false)) => Shape::Sibling,
        (_, Some(true)) => Shape::Unread("ALB connection-log"),
        _ => Shape::Foreign,
    }
}

fn nlb_shape(t0: &str, t1: &str) -> Shape {
    if t0 == "tls" {
        Shape::Mine
    } else if ALB_TYPES.contains(&t0) || timed_line(t0, t1).is_some() {
        Shape::Sibling
    } else {
        Shape::Foreign
    }
}

fn clb_shape(t0: &str, t1: &str) -> Shape {
    match timed_line(t0, t1) {
        Some(false) => Shape::Mine,
        Some(true) => Shape::Sibling,
        None if t0 == "tls" || ALB_TYPES.contains(&t0) => Shape::Sibling,
        None => Shape::Foreign,
    }
}

const ALB_FIELDS: &[Field] = &[
    f("type", Ty::Str, Tok::Bare),
    f("time", Ty::Str, Tok::Bare),
    f("elb", Ty::Str, Tok::Bare),
    f("client_ip", Ty::Str, Tok::HostPort("client_port")),
    f("target_ip", Ty::Str, Tok::HostPort("target_port")),
    f("request_processing_time", Ty::Float, Tok::Bare),
    f("target_processing_time", Ty::Float, Tok::Bare),
    f("response_processing_time", Ty::Float, Tok::Bare),
    f("elb_status_code", Ty::Int, Tok::Bare),
    f("target_status_code", Ty::Str, Tok::Bare),
    f("received_bytes", Ty::BigInt, Tok::Bare),
    f("sent_bytes", Ty::BigInt, Tok::Bare),
    f(
        "request_verb",
        Ty::Str,
        Tok::Request("request_url", "request_proto"),
    ),
    f("user_agent", Ty::Str, Tok::Quoted),
    f("ssl_cipher", Ty::Str, Tok::Bare),
    f("ssl_protocol", Ty::Str, Tok::Bare),
    f("target_group_arn", Ty::Str, Tok::Bare),
    f("trace_id", Ty::Str, Tok::Quoted),
    f("domain_name", Ty::Str, Tok::Quoted),
    f("chosen_cert_arn", Ty::Str, Tok::Quoted),
    f("matched_rule_priority", Ty::Str, Tok::Bare),
    f("request_creation_time", Ty::Str, Tok::Bare),
    f("actions_executed", Ty::Str, Tok::Quoted),
    f("redirect_url", Ty::Str, Tok::Quoted),
    f("lambda_error_reason", Ty::Str, Tok::Quoted),
    f("target_port_list", Ty::Str, Tok::Quoted),
    f("target_status_code_list", Ty::Str, Tok::Quoted),
    f("classification", Ty::Str, Tok::Quoted),
    f("classification_reason", Ty::Str, Tok::Quoted),
    f("conn_trace_id", Ty::Str, Tok::Bare),
    f("transformed_host", Ty::Str, Tok::Quoted),
    f("transformed_uri", Ty::Str, Tok::Quoted),
    f("request_transform_status", Ty::Str, Tok::Quoted),
];

pub static ALB: TextFormat = TextFormat {
    table: "alb",
    description: "Application Load Balancer access logs, one row per request",
    fields: ALB_FIELDS,
    required: 16,
    partitions: PARTITIONS,
    fallback: &[
        (ACCOUNT_PARTITION, Fallback::ArnAccount("target_group_arn")),
        (REGION_PARTITION, Fallback::ArnRegion("target_group_arn")),
        (DATE_PARTITION, Fallback::Date),
    ],
    time_field: "time",
    time: TimeFormat::Iso,
    shape: alb_shape,
    lead: &["(http|https|h2|grpcs|ws|wss)"],
};

const NLB_FIELDS: &[Field] = &[
    f("type", Ty::Str, Tok::Bare),
    f("version", Ty::Str, Tok::Bare),
    f("time", Ty::Str, Tok::Bare),
    f("elb", Ty::Str, Tok::Bare),
    f("listener", Ty::Str, Tok::Bare),
    f("client_ip", Ty::Str, Tok::HostPort("client_port")),
    f("destination_ip", Ty::Str, Tok::HostPort("destination_port")),
    f("connection_time", Ty::BigInt, Tok::Bare),
    f("tls_handshake_time", Ty::BigInt, Tok::Bare),
    f("received_bytes", Ty::BigInt, Tok::Bare),
    f("sent_bytes", Ty::BigInt, Tok::Bare),
    f("incoming_tls_alert", Ty::Str, Tok::Bare),
    f("chosen_cert_arn", Ty::Str, Tok::Bare),
    f("chosen_cert_serial", Ty::Str, Tok::Bare),
    f("tls_cipher", Ty::Str, Tok::Bare),
    f("tls_protocol_version", Ty::Str, Tok::Bare),
    f("tls_named_group", Ty::Str, Tok::Bare),
    f("domain_name", Ty::Str, Tok::Bare),
    f("alpn_fe_protocol", Ty::Str, Tok::Bare),
    f("alpn_be_protocol", Ty::Str, Tok::Bare),
    f("alpn_client_preference_list", Ty::Str, Tok::Bare),
    f("tls_connection_creation_time", Ty::Str, Tok::Bare),
];

pub static NLB: TextFormat = TextFormat {
    table: "nlb",
    description: "Network Load Balancer TLS listener access logs, one row per connection",
    fields: NLB_FIELDS,
    required: 18,
    partitions: PARTITIONS,
    fallback: &[
        (ACCOUNT_PARTITION, Fallback::ArnAccount("chosen_cert_arn")),
        (REGION_PARTITION, Fallback::ArnRegion("chosen_cert_arn")),
        (DATE_PARTITION, Fallback::Date),
    ],
    time_field: "time",
    time: TimeFormat::Iso,
    shape: nlb_shape,
    lead: &["(tls)"],
};

const CLB_FIELDS: &[Field] = &[
    f("time", Ty::Str, Tok::Bare),
    f("elb", Ty::Str, Tok::Bare),
    f("client_ip", Ty::Str, Tok::HostPort("client_port")),
    f("backend_ip", Ty::Str, Tok::HostPort("backend_port")),
    f("request_processing_time", Ty::Float, Tok::Bare),
    f("backend_processing_time", Ty::Float, Tok::Bare),
    f("response_processing_time", Ty::Float, Tok::Bare),
    f("elb_status_code", Ty::Int, Tok::Bare),
    f("backend_status_code", Ty::Int, Tok::Bare),
    f("received_bytes", Ty::BigInt, Tok::Bare),
    f("sent_bytes", Ty::BigInt, Tok::Bare),
    f(
        "request_verb",
        Ty::Str,
        Tok::Request("request_url", "request_proto"),
    ),
    f("user_agent", Ty::Str, Tok::Quoted),
    f("ssl_cipher", Ty::Str, Tok::Bare),
    f("ssl_protocol", Ty::Str, Tok::Bare),
];

pub static CLB: TextFormat = TextFormat {
    table: "clb",
    description: "Classic Load Balancer access logs, one row per request or connection",
    fields: CLB_FIELDS,
    required: 11,
    partitions: PARTITIONS,
    fallback: &[(DATE_PARTITION, Fallback::Date)],
    time_field: "time",
    time: TimeFormat::Iso,
    shape: clb_shape,
    lead: &["([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z?)", "([^ .:]+)"],
};

const fn storage() -> Storage {
    Storage {
        serde_lib: REGEX_SERDE,
        input_format: TEXT_IN,
        output_format: HIVE_TEXT_OUT,
        partitions: &[
            (ACCOUNT_PARTITION, PartitionKind::Account),
            (REGION_PARTITION, PartitionKind::Region),
            (DATE_PARTITION, PartitionKind::Date),
        ],
        template: "${account_partition}/elasticloadbalancing/${region_partition}/${date_partition}",
        classification: "elb",
        serde_params: &[],
    }
}

pub static ALB_STORAGE: Storage = storage();
pub static NLB_STORAGE: Storage = storage();
pub static CLB_STORAGE: Storage = storage();

/// Which table a delivered file's name says it belongs to.
pub fn table_of_name(name: &str) -> super::LogTable {
    use super::LogTable;
    if name.contains("_app.") || name.starts_with("conn_log") {
        LogTable::Alb
    } else if name.contains("_net.") {
        LogTable::Nlb
    } else {
        LogTable::Clb
    }
}
