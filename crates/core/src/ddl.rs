//! Athena tables generated from the table definitions.
//!
//! [`athena_table`] turns a [`TableSpec`] (which table, where its logs are,
//! which partitions to project) into an [`AthenaTable`]: the neutral
//! description from which the `CREATE EXTERNAL TABLE` statement
//! ([`AthenaTable::ddl`]), the Glue `TableInput` (in `irprep-aws`) and the
//! CloudFormation resource are all written. Column names and types come from
//! [`crate::table`] only.

use serde::Serialize;

use crate::sql::quote as q;
use crate::table::{
    self, FlowField, TableDef, ACCOUNT_PARTITION, DATE_PARTITION, HOUR_PARTITION, REGION_PARTITION,
    VPC_PARTITION,
};
use crate::tables::{LogTable, PartitionKind, Storage, HIVE_TEXT_OUT, REGEX_SERDE, TEXT_IN};

/// Values of an account / region / VPC partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Projection {
    /// A fixed list (`enum` projection).
    Enum(Vec<String>),
    /// Any value the query names (`injected` projection: the query must
    /// give the value with `=` or `IN`).
    Injected,
}

impl Projection {
    /// An enum of these values, or `injected` when there are none.
    pub fn from_list(values: Vec<String>) -> Self {
        let v: Vec<String> = values
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if v.is_empty() {
            Projection::Injected
        } else {
            Projection::Enum(v)
        }
    }
}

/// How the flow logs are stored (`DestinationOptions` of the flow log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowLayout {
    /// Parquet instead of text.
    pub parquet: bool,
    /// Hive-compatible prefixes (`aws-account-id=…/…/year=…`).
    pub hive: bool,
    /// Hourly prefixes (`…/dd/HH/`).
    pub hourly: bool,
    /// The flow log's field order (text files are positional for Athena).
    pub fields: Vec<&'static FlowField>,
}

impl Default for FlowLayout {
    fn default() -> Self {
        FlowLayout {
            parquet: false,
            hive: false,
            hourly: false,
            fields: table::FLOW_FIELDS.iter().collect(),
        }
    }
}

/// Everything needed to write one Athena table.
#[derive(Debug, Clone, Serialize)]
pub struct TableSpec {
    pub table: LogTable,
    /// How the flow logs are stored (the `vpcflow` table only).
    pub flow: FlowLayout,
    /// S3 server access logs: date-based keys (`<account>/<region>/<bucket>/<yyyy>/<mm>/<dd>/`),
    /// or the simple prefix (a table without partitions).
    pub date_based: bool,
    /// Table name in the Glue database.
    pub name: String,
    /// `s3://bucket/prefix/AWSLogs/` (for an Organization trail,
    /// `…/AWSLogs/o-xxxxxxxxxx/`; for S3 server access logs, the target prefix).
    pub location: String,
    /// First date of the logs, `yyyy/MM/dd`.
    pub start_date: String,
    pub accounts: Projection,
    /// Regions (CloudTrail, flow logs and the others) or VPC ids (DNS).
    pub regions: Projection,
    /// Values of the table's name partition (S3 bucket, web ACL, EKS cluster).
    pub names: Projection,
}

impl TableSpec {
    /// A table over `location` with the default layout: every account,
    /// region and name the query gives (injected), logs from 2024.
    pub fn new(table: LogTable, name: &str, location: &str) -> Self {
        TableSpec {
            table,
            flow: FlowLayout::default(),
            date_based: true,
            name: name.to_string(),
            location: location.to_string(),
            start_date: "2024/01/01".into(),
            accounts: Projection::Injected,
            regions: Projection::Injected,
            names: Projection::Injected,
        }
    }
}

/// A table as Athena and Glue see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AthenaTable {
    pub name: String,
    pub description: String,
    /// `(name, hive type)`, in storage order.
    pub columns: Vec<(String, String)>,
    /// Partition keys (all `string`).
    pub partition_keys: Vec<String>,
    pub location: String,
    pub input_format: String,
    pub output_format: String,
    pub serde_lib: String,
    pub serde_params: Vec<(String, String)>,
    /// Table properties: projection, storage template, classification.
    pub table_params: Vec<(String, String)>,
}

fn dir(location: &str) -> String {
    if location.ends_with('/') {
        location.to_string()
    } else {
        format!("{location}/")
    }
}

fn projection(name: &str, p: &Projection, out: &mut Vec<(String, String)>) {
    match p {
        Projection::Enum(v) => {
            out.push((format!("projection.{name}.type"), "enum".into()));
            out.push((format!("projection.{name}.values"), v.join(",")));
        }
        Projection::Injected => out.push((format!("projection.{name}.type"), "injected".into())),
    }
}

fn date_projection(start: &str, format: &str, out: &mut Vec<(String, String)>) {
    out.push((format!("projection.{DATE_PARTITION}.type"), "date".into()));
    out.push((
        format!("projection.{DATE_PARTITION}.range"),
        // The range is written in the format too (Hive keys: year=…/…).
        format!("{},NOW", crate::sql::format_day(start, format)),
    ));
    out.push((format!("projection.{DATE_PARTITION}.format"), format.into()));
    out.push((format!("projection.{DATE_PARTITION}.interval"), "1".into()));
    out.push((
        format!("projection.{DATE_PARTITION}.interval.unit"),
        "DAYS".into(),
    ));
}

/// The Athena table for a spec.
pub fn athena_table(spec: &TableSpec) -> AthenaTable {
    let loc = dir(&spec.location);
    let mut params: Vec<(String, String)> = vec![
        ("EXTERNAL".into(), "TRUE".into()),
        ("projection.enabled".into(), "true".into()),
    ];
    let def: TableDef;
    let (
        input_format,
        output_format,
        serde_lib,
        serde_params,
        template,
        partition_keys,
        classification,
    );
    match spec.table {
        LogTable::CloudTrail => {
            def = table::cloudtrail();
            date_projection(&spec.start_date, "yyyy/MM/dd", &mut params);
            projection(REGION_PARTITION, &spec.regions, &mut params);
            projection(ACCOUNT_PARTITION, &spec.accounts, &mut params);
            template = format!("{loc}${{{ACCOUNT_PARTITION}}}/CloudTrail/${{{REGION_PARTITION}}}/${{{DATE_PARTITION}}}");
            input_format = "com.amazon.emr.cloudtrail.CloudTrailInputFormat";
            output_format = HIVE_TEXT_OUT;
            // The SerDe of AWS's current CloudTrail DDL: fields by name, so
            // the newer ones (sessioncredentialfromconsole, eventcategory,
            // tlsdetails, …) read as written; the legacy CloudTrailSerde
            // leaves fields it does not know NULL.
            serde_lib = "org.apache.hive.hcatalog.data.JsonSerDe";
            serde_params = vec![];
            partition_keys = vec![ACCOUNT_PARTITION, REGION_PARTITION, DATE_PARTITION];
            classification = "cloudtrail";
        }
        LogTable::VpcFlow => {
            let l = &spec.flow;
            def = table::vpcflow_with(&l.fields);
            // Hive-compatible keys carry `year=…/month=…/day=…`: the same
            // single date partition, with the literals quoted in the format.
            let (date_fmt, prefix) = if l.hive {
                ("'year='yyyy'/month='MM'/day='dd", format!("{loc}aws-account-id=${{{ACCOUNT_PARTITION}}}/aws-service=vpcflowlogs/aws-region=${{{REGION_PARTITION}}}/${{{DATE_PARTITION}}}"))
            } else {
                ("yyyy/MM/dd", format!("{loc}${{{ACCOUNT_PARTITION}}}/vpcflowlogs/${{{REGION_PARTITION}}}/${{{DATE_PARTITION}}}"))
            };
            date_projection(&spec.start_date, date_fmt, &mut params);
            projection(REGION_PARTITION, &spec.regions, &mut params);
            projection(ACCOUNT_PARTITION, &spec.accounts, &mut params);
            let mut keys = vec![ACCOUNT_PARTITION, REGION_PARTITION, DATE_PARTITION];
            template = if l.hourly {
                params.push((
                    format!("projection.{HOUR_PARTITION}.type"),
                    "integer".into(),
                ));
                params.push((format!("projection.{HOUR_PARTITION}.range"), "0,23".into()));
                params.push((format!("projection.{HOUR_PARTITION}.digits"), "2".into()));
                keys.push(HOUR_PARTITION);
                if l.hive {
                    format!("{prefix}/hour=${{{HOUR_PARTITION}}}")
                } else {
                    format!("{prefix}/${{{HOUR_PARTITION}}}")
                }
            } else {
                prefix
            };
            partition_keys = keys;
            if l.parquet {
                input_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
                output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
                serde_lib = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
                serde_params = vec![("serialization.format".to_string(), "1".to_string())];
                classification = "parquet";
            } else {
                input_format = TEXT_IN;
                output_format = HIVE_TEXT_OUT;
                serde_lib = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
                serde_params = vec![
                    ("field.delim".to_string(), " ".to_string()),
                    ("serialization.format".to_string(), " ".to_string()),
                ];
                params.push(("skip.header.line.count".into(), "1".into()));
                classification = "csv";
            }
        }
        LogTable::Dns => {
            def = table::dns();
            date_projection(&spec.start_date, "yyyy/MM/dd", &mut params);
            projection(VPC_PARTITION, &spec.regions, &mut params);
            projection(ACCOUNT_PARTITION, &spec.accounts, &mut params);
            template = format!("{loc}${{{ACCOUNT_PARTITION}}}/vpcdnsquerylogs/${{{VPC_PARTITION}}}/${{{DATE_PARTITION}}}");
            input_format = TEXT_IN;
            output_format = HIVE_TEXT_OUT;
            serde_lib = "org.openx.data.jsonserde.JsonSerDe";
            serde_params = vec![("serialization.format".to_string(), "1".to_string())];
            partition_keys = vec![ACCOUNT_PARTITION, VPC_PARTITION, DATE_PARTITION];
            classification = "json";
        }
        other => {
            let st = other.storage().expect("every other table has a storage");
            return stored_table(spec, other, st, loc, params);
        }
    }
    params.push(("storage.location.template".into(), template));
    params.push(("classification".into(), classification.into()));
    AthenaTable {
        name: spec.name.clone(),
        description: format!("{} (generated by irprep)", def.description),
        columns: def.hive_columns(),
        partition_keys: partition_keys.into_iter().map(String::from).collect(),
        location: loc,
        input_format: input_format.into(),
        output_format: output_format.into(),
        serde_lib: serde_lib.into(),
        serde_params,
        table_params: params,
    }
}

/// The Athena table of a log whose storage its definition describes.
fn stored_table(
    spec: &TableSpec,
    t: LogTable,
    st: &Storage,
    loc: String,
    mut params: Vec<(String, String)>,
) -> AthenaTable {
    let def = t.def();
    let mut serde_params: Vec<(String, String)> = st
        .serde_params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if st.serde_lib == REGEX_SERDE {
        let fmt = match t {
            LogTable::S3Access => &crate::tables::s3access::FORMAT,
            LogTable::Alb => &crate::tables::elb::ALB,
            LogTable::Nlb => &crate::tables::elb::NLB,
            _ => &crate::tables::elb::CLB,
        };
        serde_params.push(("input.regex".into(), crate::tables::text::athena_regex(fmt)));
    } else {
        serde_params.push(("serialization.format".into(), "1".into()));
        // A line a newer service version wrote with a key of the wrong type
        // is one bad row, not a failed query.
        serde_params.push(("ignore.malformed.json".into(), "true".into()));
    }
    let partitioned = t != LogTable::S3Access || spec.date_based;
    let mut keys = vec![];
    if partitioned {
        for (col, kind) in st.partitions {
            match kind {
                PartitionKind::Date => date_projection(&spec.start_date, "yyyy/MM/dd", &mut params),
                PartitionKind::Account => projection(col, &spec.accounts, &mut params),
                PartitionKind::Region => {
                    let mut r = spec.regions.clone();
                    // CloudFront web ACLs log under `cloudfront`, not a region.
                    if let (LogTable::Waf, Projection::Enum(v)) = (t, &mut r) {
                        if !v.iter().any(|x| x == "cloudfront") {
                            v.push("cloudfront".into());
                        }
                    }
                    projection(col, &r, &mut params)
                }
                PartitionKind::Name => projection(col, &spec.names, &mut params),
            }
            keys.push(col.to_string());
        }
        params.push((
            "storage.location.template".into(),
            format!("{loc}{}", st.template),
        ));
    } else {
        params.retain(|(k, _)| k != "projection.enabled");
    }
    params.push(("classification".into(), st.classification.into()));
    AthenaTable {
        name: spec.name.clone(),
        description: format!("{} (generated by irprep)", def.description),
        columns: def.hive_columns(),
        partition_keys: keys,
        location: loc,
        input_format: st.input_format.into(),
        output_format: st.output_format.into(),
        serde_lib: st.serde_lib.into(),
        serde_params,
        table_params: params,
    }
}

impl AthenaTable {
    /// The `CREATE EXTERNAL TABLE` statement.
    pub fn ddl(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|(n, ty)| format!("  `{n}` {ty}"))
            .collect();
        let parts: Vec<String> = self
            .partition_keys
            .iter()
            .map(|p| format!("`{p}` string"))
            .collect();
        // Hive's DDL reads `\\` in a string as one backslash (the regexes).
        let serde: Vec<String> = self
            .serde_params
            .iter()
            .map(|(k, v)| format!("{} = {}", q(k), q(&v.replace('\\', "\\\\"))))
            .collect();
        // EXTERNAL is implied by CREATE EXTERNAL TABLE; Glue gets it as a parameter.
        let props: Vec<String> = self
            .table_params
            .iter()
            .filter(|(k, _)| k != "EXTERNAL")
            .map(|(k, v)| format!("  {} = {}", q(k), q(v)))
            .collect();
        let partitioned = if parts.is_empty() {
            String::new()
        } else {
            format!("\nPARTITIONED BY ({})", parts.join(", "))
        };
        // Hive takes no empty SERDEPROPERTIES list.
        let serde = if serde.is_empty() {
            String::new()
        } else {
            format!("\nWITH SERDEPROPERTIES ({})", serde.join(", "))
        };
        format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (\n{}\n)\nCOMMENT {}{}\nROW FORMAT SERDE {}{}\nSTORED AS INPUTFORMAT {}\nOUTPUTFORMAT {}\nLOCATION {}\nTBLPROPERTIES (\n{}\n)",
            self.name,
            cols.join(",\n"),
            q(&self.description),
            partitioned,
            q(&self.serde_lib),
            serde,
            q(&self.input_format),
            q(&self.output_format),
            q(&self.location),
            props.join(",\n")
        )
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.table_params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(table: LogTable) -> TableSpec {
        TableSpec {
            accounts: Projection::Enum(vec!["111122223333".into()]),
            regions: Projection::Enum(vec!["us-east-1".into(), "eu-west-1".into()]),
            ..TableSpec::new(table, "t", "s3://logs/AWSLogs")
        }
    }

    #[test]
    fn cloudtrail_follows_the_table_definition() {
        let t = athena_table(&spec(LogTable::CloudTrail));
        let ddl = t.ddl();
        for c in &table::cloudtrail().columns {
            assert!(
                ddl.contains(&format!("`{}` {}", c.name, c.ty.hive_type())),
                "{}",
                c.name
            );
        }
        assert_eq!(t.param("storage.location.template"), Some("s3://logs/AWSLogs/${account_partition}/CloudTrail/${region_partition}/${date_partition}"));
        assert!(ddl.contains("PARTITIONED BY (`account_partition` string, `region_partition` string, `date_partition` string)"));
    }

    #[test]
    fn vpcflow_columns_are_the_log_format() {
        let l = FlowLayout::default();
        let t = athena_table(&TableSpec {
            flow: l.clone(),
            ..spec(LogTable::VpcFlow)
        });
        let fmt = table::flow_log_format(&l.fields);
        let from_ddl: Vec<String> = t
            .columns
            .iter()
            .map(|(n, _)| format!("${{{}}}", n.replace('_', "-")))
            .collect();
        assert_eq!(from_ddl.join(" "), fmt);
        assert_eq!(t.param("skip.header.line.count"), Some("1"));
        // A table for an existing flow log's own field order.
        let custom = table::parse_flow_format("${version} ${srcaddr} ${dstaddr} ${end}").unwrap();
        let t = athena_table(&TableSpec {
            flow: FlowLayout {
                fields: custom,
                hourly: true,
                hive: true,
                parquet: true,
            },
            ..spec(LogTable::VpcFlow)
        });
        assert_eq!(
            t.columns,
            vec![
                ("version".into(), "int".into()),
                ("srcaddr".into(), "string".into()),
                ("dstaddr".into(), "string".into()),
                ("end".into(), "bigint".into())
            ]
        );
        assert_eq!(
            t.param("storage.location.template"),
            Some("s3://logs/AWSLogs/aws-account-id=${account_partition}/aws-service=vpcflowlogs/aws-region=${region_partition}/${date_partition}/hour=${hour_partition}")
        );
        assert_eq!(t.partition_keys.len(), 4);
        assert!(t.serde_lib.contains("Parquet"));
        // Review finding 8b: the range is in the format too.
        let start = spec(LogTable::VpcFlow).start_date;
        assert_eq!(
            t.param("projection.date_partition.range"),
            Some(
                format!(
                    "{},NOW",
                    crate::sql::format_day(&start, "'year='yyyy'/month='MM'/day='dd")
                )
                .as_str()
            )
        );
        assert!(t
            .param("projection.date_partition.range")
            .unwrap()
            .starts_with("year="));
    }

    #[test]
    fn dns_uses_struct_types_and_injected_vpcs() {
        let mut s = spec(LogTable::Dns);
        s.regions = Projection::from_list(vec![]);
        let t = athena_table(&s);
        let ddl = t.ddl();
        assert!(ddl.contains("`answers` array<struct<rdata:string,type:string,class:string>>"));
        assert!(ddl.contains("`srcids` struct<instance:string,resolver_endpoint:string>"));
        assert_eq!(t.param("projection.vpc_partition.type"), Some("injected"));
        assert!(ddl.contains("vpcdnsquerylogs/${vpc_partition}/${date_partition}"));
    }
}
