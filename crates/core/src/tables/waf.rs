//! The `waf` table: AWS WAF (v2) web ACL logs delivered to S3, one JSON
//! object per line under
//! `AWSLogs/<account>/WAFLogs/<region|cloudfront>/<web ACL>/<yyyy>/<mm>/<dd>/<HH>/<mm>/`.
//! Nested fields are structs and arrays, typed as AWS's Athena table types
//! them; the rule lists' deepest parts are kept as JSON text.

use super::jsonl::JsonFormat;
use super::{Fallback, PartitionKind, Storage, TimeFormat, HIVE_TEXT_OUT, JSON_SERDE, TEXT_IN};
use crate::table::{
    j, s, st, ColType, Column, Partition, TableDef, ACCOUNT_PARTITION, DATE_PARTITION,
    REGION_PARTITION,
};

pub const WEBACL_PARTITION: &str = "webacl_partition";

fn arr(name: &'static str, key: &'static str, item: ColType) -> Column {
    Column::new(name, key, ColType::Array(Box::new(item)))
}

fn match_details(name: &'static str, key: &'static str) -> Column {
    arr(
        name,
        key,
        ColType::Struct(vec![
            s("conditiontype", "conditionType"),
            s("sensitivitylevel", "sensitivityLevel"),
            s("location", "location"),
            arr("matcheddata", "matchedData", ColType::String),
        ]),
    )
}

fn challenge(name: &'static str, key: &'static str) -> Column {
    st(
        name,
        key,
        vec![
            Column::new("responsecode", "responseCode", ColType::Int),
            Column::new("solvetimestamp", "solveTimestamp", ColType::BigInt),
            s("failurereason", "failureReason"),
        ],
    )
}

pub fn def() -> TableDef {
    let rule = |name, key| {
        st(
            name,
            key,
            vec![
                s("ruleid", "ruleId"),
                s("action", "action"),
                j("rulematchdetails", "ruleMatchDetails"),
            ],
        )
    };
    TableDef {
        name: "waf",
        description: "AWS WAF web ACL logs, one row per inspected request",
        columns: vec![
            Column::new("timestamp", "timestamp", ColType::BigInt),
            Column::new("formatversion", "formatVersion", ColType::Int),
            s("webaclid", "webaclId"),
            s("terminatingruleid", "terminatingRuleId"),
            s("terminatingruletype", "terminatingRuleType"),
            s("action", "action"),
            match_details("terminatingrulematchdetails", "terminatingRuleMatchDetails"),
            s("httpsourcename", "httpSourceName"),
            s("httpsourceid", "httpSourceId"),
            arr(
                "rulegrouplist",
                "ruleGroupList",
                ColType::Struct(vec![
                    s("rulegroupid", "ruleGroupId"),
                    rule("terminatingrule", "terminatingRule"),
                    j("nonterminatingmatchingrules", "nonTerminatingMatchingRules"),
                    j("excludedrules", "excludedRules"),
                ]),
            ),
            arr(
                "ratebasedrulelist",
                "rateBasedRuleList",
                ColType::Struct(vec![
                    s("ratebasedruleid", "rateBasedRuleId"),
                    s("ratebasedrulename", "rateBasedRuleName"),
                    s("limitkey", "limitKey"),
                    Column::new("maxrateallowed", "maxRateAllowed", ColType::BigInt),
                ]),
            ),
            arr(
                "nonterminatingmatchingrules",
                "nonTerminatingMatchingRules",
                ColType::Struct(vec![
                    s("ruleid", "ruleId"),
                    s("action", "action"),
                    s("overriddenaction", "overriddenAction"),
                    match_details("rulematchdetails", "ruleMatchDetails"),
                ]),
            ),
            j("requestheadersinserted", "requestHeadersInserted"),
            Column::new("responsecodesent", "responseCodeSent", ColType::Int),
            st(
                "httprequest",
                "httpRequest",
                vec![
                    s("clientip", "clientIp"),
                    s("country", "country"),
                    arr(
                        "headers",
                        "headers",
                        ColType::Struct(vec![s("name", "name"), s("value", "value")]),
                    ),
                    s("uri", "uri"),
                    s("args", "args"),
                    s("httpversion", "httpVersion"),
                    s("httpmethod", "httpMethod"),
                    s("requestid", "requestId"),
                    s("fragment", "fragment"),
                    s("scheme", "scheme"),
                    s("host", "host"),
                ],
            ),
            arr("labels", "labels", ColType::Struct(vec![s("name", "name")])),
            challenge("captcharesponse", "captchaResponse"),
            challenge("challengeresponse", "challengeResponse"),
            s("ja3fingerprint", "ja3Fingerprint"),
            s("ja4fingerprint", "ja4Fingerprint"),
            j("oversizefields", "oversizeFields"),
            Column::new("requestbodysize", "requestBodySize", ColType::BigInt),
            Column::new(
                "requestbodysizeinspectedbywaf",
                "requestBodySizeInspectedByWAF",
                ColType::BigInt,
            ),
        ],
        partitions: vec![
            Partition {
                name: ACCOUNT_PARTITION,
                description: "account id from the S3 key (or webaclid)",
            },
            Partition {
                name: REGION_PARTITION,
                description: "region (or cloudfront) from the S3 key (or webaclid)",
            },
            Partition {
                name: WEBACL_PARTITION,
                description: "web ACL name from the S3 key, else NULL",
            },
            Partition {
                name: DATE_PARTITION,
                description: "yyyy/MM/dd from the S3 key (or timestamp)",
            },
        ],
    }
}

pub static FORMAT: JsonFormat = JsonFormat {
    def,
    time_column: "timestamp",
    time: TimeFormat::EpochMillis,
    fallback: &[
        (ACCOUNT_PARTITION, Fallback::ArnAccount("webaclid")),
        (REGION_PARTITION, Fallback::ArnRegion("webaclid")),
        (DATE_PARTITION, Fallback::Date),
    ],
};

pub static STORAGE: Storage = Storage {
    serde_lib: JSON_SERDE,
    input_format: TEXT_IN,
    output_format: HIVE_TEXT_OUT,
    partitions: &[
        (ACCOUNT_PARTITION, PartitionKind::Account),
        (REGION_PARTITION, PartitionKind::Region),
        (WEBACL_PARTITION, PartitionKind::Name),
        (DATE_PARTITION, PartitionKind::Date),
    ],
    template:
        "${account_partition}/WAFLogs/${region_partition}/${webacl_partition}/${date_partition}",
    classification: "json",
    serde_params: &[],
};
