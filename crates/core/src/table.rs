//! One definition per log table.
//!
//! A [`TableDef`] is the single source from which irprep derives the Arrow
//! schema of the local engine, the Athena (Hive) DDL column list, and, for
//! flow logs, the `LogFormat` string. Nothing else in the project spells out a
//! column list, so the three can never disagree.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

/// The type of a column or struct field, in Athena terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColType {
    /// `string`.
    String,
    /// `string` that holds the original JSON text of a JSON-valued field
    /// (CloudTrail's `requestParameters` and friends).
    JsonText,
    /// `int`.
    Int,
    /// `bigint`.
    BigInt,
    /// `smallint`.
    SmallInt,
    /// `float`.
    Float,
    /// `struct<…>`.
    Struct(Vec<Column>),
    /// `array<…>`.
    Array(Box<ColType>),
}

/// A column (or struct field) of a log table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column name as SQL sees it: lower case, as Athena stores it.
    pub name: &'static str,
    /// The key in the source record (CloudTrail's camelCase JSON key, or the
    /// flow-log field name such as `srcaddr`).
    pub source_key: &'static str,
    pub ty: ColType,
}

impl Column {
    pub const fn new(name: &'static str, source_key: &'static str, ty: ColType) -> Self {
        Column {
            name,
            source_key,
            ty,
        }
    }
}

/// A partition column, derived from the object key (or, for files outside the
/// S3 layout, from the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: &'static str,
    pub description: &'static str,
}

/// A log table.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: &'static str,
    pub description: &'static str,
    pub columns: Vec<Column>,
    pub partitions: Vec<Partition>,
}

impl TableDef {
    /// The same table with some struct columns narrowed: for each named
    /// column, only the listed children (by SQL name) are kept. A reader given
    /// the narrowed table skips the other children like any unused field; a
    /// query that names only kept children sees the same values.
    pub fn with_struct_fields(mut self, keep: &[(String, Vec<String>)]) -> Self {
        for (col, children) in keep {
            if let Some(c) = self.columns.iter_mut().find(|c| c.name == col.as_str()) {
                if let ColType::Struct(fields) = &mut c.ty {
                    fields.retain(|f| children.iter().any(|k| k == f.name));
                }
            }
        }
        self
    }
}

impl ColType {
    /// The Arrow type used by the local engine.
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColType::String | ColType::JsonText => DataType::Utf8,
            ColType::Int => DataType::Int32,
            ColType::BigInt => DataType::Int64,
            ColType::SmallInt => DataType::Int16,
            ColType::Float => DataType::Float32,
            ColType::Struct(fields) => DataType::Struct(struct_fields(fields)),
            ColType::Array(inner) => {
                DataType::List(Arc::new(Field::new("item", inner.arrow_type(), true)))
            }
        }
    }

    /// The Hive/Athena type used in DDL.
    pub fn hive_type(&self) -> String {
        match self {
            ColType::String | ColType::JsonText => "string".into(),
            ColType::Int => "int".into(),
            ColType::BigInt => "bigint".into(),
            ColType::SmallInt => "smallint".into(),
            ColType::Float => "float".into(),
            ColType::Struct(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|c| format!("{}:{}", c.name, c.ty.hive_type()))
                    .collect();
                format!("struct<{}>", inner.join(","))
            }
            ColType::Array(inner) => format!("array<{}>", inner.hive_type()),
        }
    }
}

/// Arrow fields of a struct's members.
pub fn struct_fields(cols: &[Column]) -> Fields {
    cols.iter()
        .map(|c| Field::new(c.name, c.ty.arrow_type(), true))
        .collect::<Vec<_>>()
        .into()
}

impl TableDef {
    /// The full Arrow schema: columns, then partitions (as Athena lists them).
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(c.name, c.ty.arrow_type(), true))
            .collect();
        for p in &self.partitions {
            fields.push(Field::new(p.name, DataType::Utf8, true));
        }
        Arc::new(Schema::new(fields))
    }

    /// Index of a column or partition in [`TableDef::arrow_schema`].
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .map(|c| c.name)
            .chain(self.partitions.iter().map(|p| p.name))
            .position(|n| n.eq_ignore_ascii_case(name))
    }

    /// The Hive column list of the DDL (`name type,` one per line).
    pub fn hive_columns(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .map(|c| (c.name.to_string(), c.ty.hive_type()))
            .collect()
    }
}

pub(crate) fn s(name: &'static str, key: &'static str) -> Column {
    Column::new(name, key, ColType::String)
}
pub(crate) fn j(name: &'static str, key: &'static str) -> Column {
    Column::new(name, key, ColType::JsonText)
}
pub(crate) fn st(name: &'static str, key: &'static str, fields: Vec<Column>) -> Column {
    Column::new(name, key, ColType::Struct(fields))
}

/// The partition columns shared by the CloudTrail table, named exactly as the
/// AWS Security Analytics Bootstrap names them.
pub const ACCOUNT_PARTITION: &str = "account_partition";
pub const REGION_PARTITION: &str = "region_partition";
pub const DATE_PARTITION: &str = "date_partition";

/// The `cloudtrail` table: the Bootstrap's columns and types, plus the newer
/// CloudTrail fields.
pub fn cloudtrail() -> TableDef {
    let session_issuer = st(
        "sessionissuer",
        "sessionIssuer",
        vec![
            s("type", "type"),
            s("principalid", "principalId"),
            s("arn", "arn"),
            s("accountid", "accountId"),
            s("username", "userName"),
        ],
    );
    let session_context = st(
        "sessioncontext",
        "sessionContext",
        vec![
            st(
                "attributes",
                "attributes",
                vec![
                    s("mfaauthenticated", "mfaAuthenticated"),
                    s("creationdate", "creationDate"),
                ],
            ),
            session_issuer,
            s("sourceidentity", "sourceIdentity"),
            s("ec2roledelivery", "ec2RoleDelivery"),
            j("webidfederationdata", "webIdFederationData"),
        ],
    );
    let user_identity = st(
        "useridentity",
        "userIdentity",
        vec![
            s("type", "type"),
            s("principalid", "principalId"),
            s("arn", "arn"),
            s("accountid", "accountId"),
            s("invokedby", "invokedBy"),
            s("accesskeyid", "accessKeyId"),
            s("username", "userName"),
            st(
                "onbehalfof",
                "onBehalfOf",
                vec![
                    s("userid", "userId"),
                    s("identitystorearn", "identityStoreArn"),
                ],
            ),
            session_context,
            s("credentialid", "credentialId"),
            s("identityprovider", "identityProvider"),
        ],
    );
    let resources = Column::new(
        "resources",
        "resources",
        ColType::Array(Box::new(ColType::Struct(vec![
            s("arn", "ARN"),
            s("accountid", "accountId"),
            s("type", "type"),
        ]))),
    );
    TableDef {
        name: "cloudtrail",
        description: "AWS CloudTrail events (management and data events), one row per event",
        columns: vec![
            s("eventversion", "eventVersion"),
            user_identity,
            s("eventtime", "eventTime"),
            s("eventsource", "eventSource"),
            s("eventname", "eventName"),
            s("awsregion", "awsRegion"),
            s("sourceipaddress", "sourceIPAddress"),
            s("useragent", "userAgent"),
            s("errorcode", "errorCode"),
            s("errormessage", "errorMessage"),
            j("requestparameters", "requestParameters"),
            j("responseelements", "responseElements"),
            j("additionaleventdata", "additionalEventData"),
            s("requestid", "requestID"),
            s("eventid", "eventID"),
            resources,
            s("eventtype", "eventType"),
            s("apiversion", "apiVersion"),
            s("readonly", "readOnly"),
            s("recipientaccountid", "recipientAccountId"),
            j("serviceeventdetails", "serviceEventDetails"),
            s("sharedeventid", "sharedEventID"),
            s("vpcendpointid", "vpcEndpointId"),
            s("vpcendpointaccountid", "vpcEndpointAccountId"),
            s("eventcategory", "eventCategory"),
            s("managementevent", "managementEvent"),
            st(
                "tlsdetails",
                "tlsDetails",
                vec![
                    s("tlsversion", "tlsVersion"),
                    s("ciphersuite", "cipherSuite"),
                    s("clientprovidedhostheader", "clientProvidedHostHeader"),
                ],
            ),
            s(
                "sessioncredentialfromconsole",
                "sessionCredentialFromConsole",
            ),
            st(
                "addendum",
                "addendum",
                vec![
                    s("reason", "reason"),
                    s("updatedfields", "updatedFields"),
                    s("originalrequestid", "originalRequestID"),
                    s("originaleventid", "originalEventID"),
                ],
            ),
            j("edgedevicedetails", "edgeDeviceDetails"),
        ],
        partitions: vec![
            Partition {
                name: ACCOUNT_PARTITION,
                description: "account id from the S3 key (or recipientAccountId)",
            },
            Partition {
                name: REGION_PARTITION,
                description: "region from the S3 key (or awsRegion)",
            },
            Partition {
                name: DATE_PARTITION,
                description: "yyyy/MM/dd from the S3 key (or eventTime)",
            },
        ],
    }
}

/// One VPC flow-log field: its name in `LogFormat` (`${pkt-srcaddr}`), the
/// flow-log version that introduced it, and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FlowField {
    pub field: &'static str,
    /// The column name: the field name with `-` as `_` (a test checks it).
    pub column: &'static str,
    pub version: u8,
    pub ty: FlowType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FlowType {
    Str,
    Int,
    BigInt,
}

const fn ff(field: &'static str, column: &'static str, version: u8, ty: FlowType) -> FlowField {
    FlowField {
        field,
        column,
        version,
        ty,
    }
}

/// Every documented VPC flow-log field, v2 to v8, in the order of the AWS
/// documentation. This list is the `vpcflow` table, the default `LogFormat`
/// that `irprep logs enable` writes, and the positional layout of headerless
/// files: the three cannot disagree.
pub const FLOW_FIELDS: &[FlowField] = &[
    ff("version", "version", 2, FlowType::Int),
    ff("account-id", "account_id", 2, FlowType::Str),
    ff("interface-id", "interface_id", 2, FlowType::Str),
    ff("srcaddr", "srcaddr", 2, FlowType::Str),
    ff("dstaddr", "dstaddr", 2, FlowType::Str),
    ff("srcport", "srcport", 2, FlowType::Int),
    ff("dstport", "dstport", 2, FlowType::Int),
    ff("protocol", "protocol", 2, FlowType::BigInt),
    ff("packets", "packets", 2, FlowType::BigInt),
    ff("bytes", "bytes", 2, FlowType::BigInt),
    ff("start", "start", 2, FlowType::BigInt),
    ff("end", "end", 2, FlowType::BigInt),
    ff("action", "action", 2, FlowType::Str),
    ff("log-status", "log_status", 2, FlowType::Str),
    ff("vpc-id", "vpc_id", 3, FlowType::Str),
    ff("subnet-id", "subnet_id", 3, FlowType::Str),
    ff("instance-id", "instance_id", 3, FlowType::Str),
    ff("tcp-flags", "tcp_flags", 3, FlowType::Int),
    ff("type", "type", 3, FlowType::Str),
    ff("pkt-srcaddr", "pkt_srcaddr", 3, FlowType::Str),
    ff("pkt-dstaddr", "pkt_dstaddr", 3, FlowType::Str),
    ff("region", "region", 4, FlowType::Str),
    ff("az-id", "az_id", 4, FlowType::Str),
    ff("sublocation-type", "sublocation_type", 4, FlowType::Str),
    ff("sublocation-id", "sublocation_id", 4, FlowType::Str),
    ff(
        "pkt-src-aws-service",
        "pkt_src_aws_service",
        5,
        FlowType::Str,
    ),
    ff(
        "pkt-dst-aws-service",
        "pkt_dst_aws_service",
        5,
        FlowType::Str,
    ),
    ff("flow-direction", "flow_direction", 5, FlowType::Str),
    ff("traffic-path", "traffic_path", 5, FlowType::Int),
    ff("ecs-cluster-arn", "ecs_cluster_arn", 7, FlowType::Str),
    ff("ecs-cluster-name", "ecs_cluster_name", 7, FlowType::Str),
    ff(
        "ecs-container-instance-arn",
        "ecs_container_instance_arn",
        7,
        FlowType::Str,
    ),
    ff(
        "ecs-container-instance-id",
        "ecs_container_instance_id",
        7,
        FlowType::Str,
    ),
    ff("ecs-container-id", "ecs_container_id", 7, FlowType::Str),
    ff(
        "ecs-second-container-id",
        "ecs_second_container_id",
        7,
        FlowType::Str,
    ),
    ff("ecs-service-name", "ecs_service_name", 7, FlowType::Str),
    ff(
        "ecs-task-definition-arn",
        "ecs_task_definition_arn",
        7,
        FlowType::Str,
    ),
    ff("ecs-task-arn", "ecs_task_arn", 7, FlowType::Str),
    ff("ecs-task-id", "ecs_task_id", 7, FlowType::Str),
    ff("reject-reason", "reject_reason", 8, FlowType::Str),
];

/// Field counts of the headerless layouts AWS writes in documentation order:
/// the default (v2) format, all v5 fields, all v7 fields, all v8 fields.
pub const POSITIONAL_FIELD_COUNTS: [usize; 4] = [14, 29, 39, 40];

impl FlowField {
    pub fn col_type(&self) -> ColType {
        match self.ty {
            FlowType::Str => ColType::String,
            FlowType::Int => ColType::Int,
            FlowType::BigInt => ColType::BigInt,
        }
    }
}

/// The flow field with this name (`srcaddr`, `pkt-srcaddr`, or the column
/// spelling `pkt_srcaddr`).
pub fn flow_field(name: &str) -> Option<&'static FlowField> {
    let n = name
        .trim()
        .trim_start_matches("${")
        .trim_end_matches('}')
        .replace('_', "-");
    FLOW_FIELDS.iter().find(|f| f.field == n)
}

/// The `LogFormat` string for these fields (`${version} ${account-id} …`).
pub fn flow_log_format(fields: &[&FlowField]) -> String {
    fields
        .iter()
        .map(|f| format!("${{{}}}", f.field))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The format irprep enables by default: every field, documentation order.
pub fn default_flow_log_format() -> String {
    flow_log_format(&FLOW_FIELDS.iter().collect::<Vec<_>>())
}

/// Parse a `LogFormat` (`${a} ${b}`) or a file's header line (`a b`) into
/// fields, in order. Unknown names are an error naming them.
pub fn parse_flow_format(format: &str) -> Result<Vec<&'static FlowField>, String> {
    let mut out = vec![];
    let mut unknown = vec![];
    for tok in format.split_ascii_whitespace() {
        match flow_field(tok) {
            Some(f) => out.push(f),
            None => unknown.push(tok.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(format!("unknown flow-log field(s): {}", unknown.join(", ")));
    }
    if out.is_empty() {
        return Err("empty flow-log format".into());
    }
    Ok(out)
}

pub const VPC_PARTITION: &str = "vpc_partition";
pub const HOUR_PARTITION: &str = "hour_partition";

/// The `vpcflow` table: every flow-log field as a column named after it.
pub fn vpcflow() -> TableDef {
    vpcflow_with(&FLOW_FIELDS.iter().collect::<Vec<_>>())
}

/// A `vpcflow` table whose columns follow a given field order (an existing
/// flow log's `LogFormat`, or a file's header line).
pub fn vpcflow_with(fields: &[&FlowField]) -> TableDef {
    TableDef {
        name: "vpcflow",
        description: "Amazon VPC Flow Logs, one row per flow record",
        columns: fields
            .iter()
            .map(|f| Column::new(f.column, f.field, f.col_type()))
            .collect(),
        partitions: vec![
            Partition {
                name: ACCOUNT_PARTITION,
                description: "account id from the S3 key (or account-id)",
            },
            Partition {
                name: REGION_PARTITION,
                description: "region from the S3 key (or region)",
            },
            Partition {
                name: DATE_PARTITION,
                description: "yyyy/MM/dd from the S3 key (or start)",
            },
            Partition {
                name: HOUR_PARTITION,
                description: "HH from an hourly S3 key, else NULL",
            },
        ],
    }
}

/// The `dns` table: Route 53 Resolver query logs, with the struct types the
/// Bootstrap got wrong (`answers`, `srcids`) and the DNS Firewall columns.
pub fn dns() -> TableDef {
    let answers = Column::new(
        "answers",
        "answers",
        ColType::Array(Box::new(ColType::Struct(vec![
            s("rdata", "Rdata"),
            s("type", "Type"),
            s("class", "Class"),
        ]))),
    );
    TableDef {
        name: "dns",
        description: "Route 53 Resolver query logs, one row per DNS query",
        columns: vec![
            Column::new("version", "version", ColType::Float),
            s("account_id", "account_id"),
            s("region", "region"),
            s("vpc_id", "vpc_id"),
            s("query_timestamp", "query_timestamp"),
            s("query_name", "query_name"),
            s("query_type", "query_type"),
            s("query_class", "query_class"),
            s("rcode", "rcode"),
            answers,
            s("srcaddr", "srcaddr"),
            Column::new("srcport", "srcport", ColType::Int),
            s("transport", "transport"),
            st(
                "srcids",
                "srcids",
                vec![
                    s("instance", "instance"),
                    s("resolver_endpoint", "resolver_endpoint"),
                ],
            ),
            s("firewall_rule_action", "firewall_rule_action"),
            s("firewall_rule_group_id", "firewall_rule_group_id"),
            s("firewall_domain_list_id", "firewall_domain_list_id"),
        ],
        partitions: vec![
            Partition {
                name: ACCOUNT_PARTITION,
                description: "account id from the S3 key (or account_id)",
            },
            Partition {
                name: VPC_PARTITION,
                description: "VPC id from the S3 key (or vpc_id)",
            },
            Partition {
                name: DATE_PARTITION,
                description: "yyyy/MM/dd from the S3 key (or query_timestamp)",
            },
        ],
    }
}

/// Every table irprep knows, in [`crate::tables::LogTable::ALL`] order.
pub fn all_tables() -> Vec<TableDef> {
    crate::tables::LogTable::ALL.map(|t| t.def()).to_vec()
}

/// A table by name (`cloudtrail`, `vpcflow`, `s3access`, …).
pub fn by_name(name: &str) -> Option<TableDef> {
    all_tables()
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrail_has_bootstrap_columns_in_order() {
        let t = cloudtrail();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
        // The 23 columns of the Bootstrap's table, in its order.
        let bootstrap = [
            "eventversion",
            "useridentity",
            "eventtime",
            "eventsource",
            "eventname",
            "awsregion",
            "sourceipaddress",
            "useragent",
            "errorcode",
            "errormessage",
            "requestparameters",
            "responseelements",
            "additionaleventdata",
            "requestid",
            "eventid",
            "resources",
            "eventtype",
            "apiversion",
            "readonly",
            "recipientaccountid",
            "serviceeventdetails",
            "sharedeventid",
            "vpcendpointid",
        ];
        assert_eq!(&names[..23], &bootstrap[..]);
        for newer in [
            "eventcategory",
            "tlsdetails",
            "sessioncredentialfromconsole",
            "addendum",
            "edgedevicedetails",
        ] {
            assert!(names.contains(&newer), "missing {newer}");
        }
        let schema = t.arrow_schema();
        assert_eq!(schema.fields().len(), t.columns.len() + 3);
        assert_eq!(t.index_of("DATE_PARTITION"), Some(t.columns.len() + 2));
    }

    #[test]
    fn flow_columns_are_the_field_names() {
        for f in FLOW_FIELDS {
            assert_eq!(f.column, f.field.replace('-', "_"));
        }
        assert_eq!(FLOW_FIELDS.len(), 40);
    }

    #[test]
    fn hive_types_render_nested_structs() {
        let t = cloudtrail();
        let cols = t.hive_columns();
        let (_, ui) = cols.iter().find(|(n, _)| n == "useridentity").unwrap();
        assert!(ui.starts_with("struct<type:string,principalid:string,arn:string"));
        assert!(ui.contains("sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>"));
        let (_, res) = cols.iter().find(|(n, _)| n == "resources").unwrap();
        assert_eq!(
            res,
            "array<struct<arn:string,accountid:string,type:string>>"
        );
    }
}
