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
        Column { name, source_key, ty }
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

fn s(name: &'static str, key: &'static str) -> Column {
    Column::new(name, key, ColType::String)
}
fn j(name: &'static str, key: &'static str) -> Column {
    Column::new(name, key, ColType::JsonText)
}
fn st(name: &'static str, key: &'static str, fields: Vec<Column>) -> Column {
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
                vec![s("mfaauthenticated", "mfaAuthenticated"), s("creationdate", "creationDate")],
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
            st("onbehalfof", "onBehalfOf", vec![s("userid", "userId"), s("identitystorearn", "identityStoreArn")]),
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
            s("sessioncredentialfromconsole", "sessionCredentialFromConsole"),
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
            Partition { name: ACCOUNT_PARTITION, description: "account id from the S3 key (or recipientAccountId)" },
            Partition { name: REGION_PARTITION, description: "region from the S3 key (or awsRegion)" },
            Partition { name: DATE_PARTITION, description: "yyyy/MM/dd from the S3 key (or eventTime)" },
        ],
    }
}

/// Every table irprep knows, by name.
pub fn all_tables() -> Vec<TableDef> {
    vec![cloudtrail()]
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
            "eventversion", "useridentity", "eventtime", "eventsource", "eventname", "awsregion",
            "sourceipaddress", "useragent", "errorcode", "errormessage", "requestparameters",
            "responseelements", "additionaleventdata", "requestid", "eventid", "resources",
            "eventtype", "apiversion", "readonly", "recipientaccountid", "serviceeventdetails",
            "sharedeventid", "vpcendpointid",
        ];
        assert_eq!(&names[..23], &bootstrap[..]);
        for newer in ["eventcategory", "tlsdetails", "sessioncredentialfromconsole", "addendum", "edgedevicedetails"] {
            assert!(names.contains(&newer), "missing {newer}");
        }
        let schema = t.arrow_schema();
        assert_eq!(schema.fields().len(), t.columns.len() + 3);
        assert_eq!(t.index_of("DATE_PARTITION"), Some(t.columns.len() + 2));
    }

    #[test]
    fn hive_types_render_nested_structs() {
        let t = cloudtrail();
        let cols = t.hive_columns();
        let (_, ui) = cols.iter().find(|(n, _)| n == "useridentity").unwrap();
        assert!(ui.starts_with("struct<type:string,principalid:string,arn:string"));
        assert!(ui.contains("sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>"));
        let (_, res) = cols.iter().find(|(n, _)| n == "resources").unwrap();
        assert_eq!(res, "array<struct<arn:string,accountid:string,type:string>>");
    }
}

/// Where and how an Athena table reads its logs (partition projection).
#[derive(Debug, Clone)]
pub struct DdlOptions {
    /// Table name in the Glue database.
    pub name: String,
    /// `s3://bucket/prefix/AWSLogs/` (with `o-org/` appended for an Organization trail).
    pub location: String,
    /// First date of the logs, `yyyy/MM/dd`.
    pub start_date: String,
    /// Accounts and regions for the enum projections.
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

use crate::sql::quote as q;

/// The Athena DDL of the CloudTrail table, with partition projection over the
/// CloudTrail S3 layout, generated from [`cloudtrail`]'s columns.
pub fn cloudtrail_athena_ddl(o: &DdlOptions) -> String {
    let t = cloudtrail();
    let cols: Vec<String> = t.hive_columns().iter().map(|(n, ty)| format!("  `{n}` {ty}")).collect();
    let parts: Vec<String> = t.partitions.iter().map(|p| format!("`{}` string", p.name)).collect();
    let loc = if o.location.ends_with('/') { o.location.clone() } else { format!("{}/", o.location) };
    let template = format!("{loc}${{{ACCOUNT_PARTITION}}}/CloudTrail/${{{REGION_PARTITION}}}/${{{DATE_PARTITION}}}");
    let props = [
        ("projection.enabled", "true".to_string()),
        (concat!("projection.", "date_partition", ".type"), "date".into()),
        ("projection.date_partition.range", format!("{},NOW", o.start_date)),
        ("projection.date_partition.format", "yyyy/MM/dd".into()),
        ("projection.date_partition.interval", "1".into()),
        ("projection.date_partition.interval.unit", "DAYS".into()),
        ("projection.region_partition.type", "enum".into()),
        ("projection.region_partition.values", o.regions.join(",")),
        ("projection.account_partition.type", "enum".into()),
        ("projection.account_partition.values", o.accounts.join(",")),
        ("storage.location.template", template),
        ("classification", "cloudtrail".into()),
    ];
    let props: Vec<String> = props.iter().map(|(k, v)| format!("  {} = {}", q(k), q(v))).collect();
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (\n{}\n)\nCOMMENT 'AWS CloudTrail events (generated by irprep)'\nPARTITIONED BY ({})\nROW FORMAT SERDE 'com.amazon.emr.hive.serde.CloudTrailSerde'\nSTORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\nOUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\nLOCATION {}\nTBLPROPERTIES (\n{}\n)",
        o.name,
        cols.join(",\n"),
        parts.join(", "),
        q(&loc),
        props.join(",\n")
    )
}

#[cfg(test)]
mod ddl_tests {
    use super::*;

    #[test]
    fn ddl_follows_the_table_definition() {
        let ddl = cloudtrail_athena_ddl(&DdlOptions {
            name: "cloudtrail".into(),
            location: "s3://trail-bucket/AWSLogs".into(),
            start_date: "2024/01/01".into(),
            accounts: vec!["111122223333".into()],
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
        });
        for c in &cloudtrail().columns {
            assert!(ddl.contains(&format!("`{}` {}", c.name, c.ty.hive_type())), "{}", c.name);
        }
        assert!(ddl.contains("'storage.location.template' = 's3://trail-bucket/AWSLogs/${account_partition}/CloudTrail/${region_partition}/${date_partition}'"));
        assert!(ddl.contains("PARTITIONED BY (`account_partition` string, `region_partition` string, `date_partition` string)"));
    }
}
