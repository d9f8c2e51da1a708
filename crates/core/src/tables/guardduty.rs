//! The `guardduty` table: Amazon GuardDuty findings exported to S3, one
//! finding per line (JSON Lines, gzipped, KMS-encrypted objects) under
//! `AWSLogs/<account>/GuardDuty/<region>/<yyyy>/<mm>/<dd>/`. A finding's
//! `resource` and `service` are deep and vary by finding type: they are
//! kept as JSON text (`json_extract_scalar(resource, '$.instanceDetails.instanceId')`).

use super::jsonl::JsonFormat;
use super::{Fallback, PartitionKind, Storage, TimeFormat, HIVE_TEXT_OUT, JSON_SERDE, TEXT_IN};
use crate::table::{
    j, s, ColType, Column, Partition, TableDef, ACCOUNT_PARTITION, DATE_PARTITION, REGION_PARTITION,
};

pub fn def() -> TableDef {
    TableDef {
        name: "guardduty",
        description: "Amazon GuardDuty findings exported to S3, one row per finding version",
        columns: vec![
            s("schemaversion", "schemaVersion"),
            s("accountid", "accountId"),
            s("region", "region"),
            s("partition", "partition"),
            s("id", "id"),
            s("arn", "arn"),
            s("type", "type"),
            j("resource", "resource"),
            j("service", "service"),
            Column::new("severity", "severity", ColType::Float),
            s("createdat", "createdAt"),
            s("updatedat", "updatedAt"),
            s("title", "title"),
            s("description", "description"),
        ],
        partitions: vec![
            Partition {
                name: ACCOUNT_PARTITION,
                description: "account id from the S3 key (or accountId)",
            },
            Partition {
                name: REGION_PARTITION,
                description: "region from the S3 key (or region)",
            },
            Partition {
                name: DATE_PARTITION,
                description: "yyyy/MM/dd from the S3 key (or updatedAt)",
            },
        ],
    }
}

pub static FORMAT: JsonFormat = JsonFormat {
    def,
    time_column: "updatedat",
    time: TimeFormat::Iso,
    fallback: &[
        (ACCOUNT_PARTITION, Fallback::Column("accountid")),
        (REGION_PARTITION, Fallback::Column("region")),
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
        (DATE_PARTITION, PartitionKind::Date),
    ],
    template: "${account_partition}/GuardDuty/${region_partition}/${date_partition}",
    classification: "json",
    serde_params: &[],
};
