//! The `eks_audit` table: Kubernetes audit events of EKS clusters.
//!
//! EKS writes them to CloudWatch Logs (`/aws/eks/<cluster>/cluster`, streams
//! `kube-apiserver-audit-…`), not to S3. `irprep logs collect --eks` copies
//! them into files of one event per line under
//! `AWSLogs/<account>/eks-audit/<region>/<cluster>/<yyyy>/<mm>/<dd>/`, the
//! layout this table reads (locally, or on Athena after an upload).

use super::jsonl::JsonFormat;
use super::{Fallback, PartitionKind, Storage, TimeFormat, HIVE_TEXT_OUT, JSON_SERDE, TEXT_IN};
use crate::table::{
    j, s, st, ColType, Column, Partition, TableDef, ACCOUNT_PARTITION, DATE_PARTITION,
    REGION_PARTITION,
};

pub const CLUSTER_PARTITION: &str = "cluster_partition";
/// The folder after `AWSLogs/<account>/` in the collected layout.
pub const SERVICE_FOLDER: &str = "eks-audit";

fn strings(name: &'static str, key: &'static str) -> Column {
    Column::new(name, key, ColType::Array(Box::new(ColType::String)))
}

pub fn def() -> TableDef {
    let user = |name, key| {
        st(
            name,
            key,
            vec![
                s("username", "username"),
                s("uid", "uid"),
                strings("groups", "groups"),
                j("extra", "extra"),
            ],
        )
    };
    TableDef {
        name: "eks_audit",
        description: "Kubernetes audit events of EKS clusters, one row per event stage",
        columns: vec![
            s("kind", "kind"),
            s("apiversion", "apiVersion"),
            s("level", "level"),
            s("auditid", "auditID"),
            s("stage", "stage"),
            s("requesturi", "requestURI"),
            s("verb", "verb"),
            user("user", "user"),
            user("impersonateduser", "impersonatedUser"),
            strings("sourceips", "sourceIPs"),
            s("useragent", "userAgent"),
            st(
                "objectref",
                "objectRef",
                vec![
                    s("resource", "resource"),
                    s("namespace", "namespace"),
                    s("name", "name"),
                    s("uid", "uid"),
                    s("apigroup", "apiGroup"),
                    s("apiversion", "apiVersion"),
                    s("resourceversion", "resourceVersion"),
                    s("subresource", "subresource"),
                ],
            ),
            st(
                "responsestatus",
                "responseStatus",
                vec![
                    s("status", "status"),
                    s("message", "message"),
                    s("reason", "reason"),
                    Column::new("code", "code", ColType::Int),
                ],
            ),
            j("requestobject", "requestObject"),
            j("responseobject", "responseObject"),
            s("requestreceivedtimestamp", "requestReceivedTimestamp"),
            s("stagetimestamp", "stageTimestamp"),
            j("annotations", "annotations"),
        ],
        partitions: vec![
            Partition {
                name: ACCOUNT_PARTITION,
                description: "account id from the collected layout, else NULL",
            },
            Partition {
                name: REGION_PARTITION,
                description: "region from the collected layout, else NULL",
            },
            Partition {
                name: CLUSTER_PARTITION,
                description: "cluster name from the collected layout, else NULL",
            },
            Partition {
                name: DATE_PARTITION,
                description: "yyyy/MM/dd from the collected layout (or requestReceivedTimestamp)",
            },
        ],
    }
}

pub static FORMAT: JsonFormat = JsonFormat {
    def,
    time_column: "requestreceivedtimestamp",
    time: TimeFormat::Iso,
    fallback: &[(DATE_PARTITION, Fallback::Date)],
};

pub static STORAGE: Storage = Storage {
    serde_lib: JSON_SERDE,
    input_format: TEXT_IN,
    output_format: HIVE_TEXT_OUT,
    partitions: &[
        (ACCOUNT_PARTITION, PartitionKind::Account),
        (REGION_PARTITION, PartitionKind::Region),
        (CLUSTER_PARTITION, PartitionKind::Name),
        (DATE_PARTITION, PartitionKind::Date),
    ],
    template:
        "${account_partition}/eks-audit/${region_partition}/${cluster_partition}/${date_partition}",
    classification: "json",
    serde_params: &[],
};
