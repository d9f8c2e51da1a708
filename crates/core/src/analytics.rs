//! What `irprep analytics deploy` puts in an account, as data: the Glue
//! database, the tables (from [`crate::ddl`]), the Athena workgroup and one
//! named query per investigation query and detection, with the configured
//! table names written into their SQL. The AWS adapter applies it; `analytics
//! cfn` prints it as a CloudFormation template. Both read this one value.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::ddl::AthenaTable;
use crate::detect::Catalogue;
use crate::queries::{self, replace_table};

/// The tag (and Glue parameter) that marks what irprep made.
pub const MANAGED_KEY: &str = "irprep:managed";
pub const MANAGED_VALUE: &str = "true";
/// Named queries irprep owns start with this.
pub const QUERY_PREFIX: &str = "irprep: ";

/// How many named queries a CloudFormation stack creates at a time.
pub const QUERY_CHAINS: usize = 4;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NamedQuery {
    pub name: String,
    pub description: String,
    pub sql: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workgroup {
    pub name: String,
    pub description: String,
    /// `s3://bucket/prefix/` for query results.
    pub results: String,
    /// Encrypt results with this KMS key (SSE_KMS) instead of SSE_S3.
    pub kms_key: Option<String>,
    pub bytes_scanned_cutoff: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub database: String,
    pub workgroup: Workgroup,
    pub tables: Vec<AthenaTable>,
    pub named_queries: Vec<NamedQuery>,
}

/// Logical table -> deployed name (`cloudtrail` -> `org_trail`).
pub type TableNames = BTreeMap<String, String>;

/// Named queries for every investigation query and detection whose table is
/// deployed, with the deployed table names, and the days of an
/// investigation query in its table's date format (`tables`: the deployed
/// tables; a flow-log table over Hive-compatible keys writes them
/// `year=…/month=…/day=…`).
pub fn named_queries(
    names: &TableNames,
    tables: &[crate::ddl::AthenaTable],
    catalogue: &Catalogue,
) -> Result<Vec<NamedQuery>, String> {
    let mut out = vec![];
    for q in queries::builtin()? {
        let Some(table) = names.get(&q.table) else {
            continue;
        };
        let date_format = tables
            .iter()
            .find(|t| t.name == *table)
            .and_then(|t| {
                t.table_params
                    .iter()
                    .find(|(k, _)| k == "projection.date_partition.format")
            })
            .map(|(_, v)| v.as_str());
        let sql = q.render_in(&BTreeMap::new(), Some(table), date_format)?;
        out.push(NamedQuery {
            name: format!("{QUERY_PREFIX}{}", q.name),
            description: clip(&format!("{} (irprep investigation query)", q.title), 1024),
            sql,
        });
    }
    for d in &catalogue.detections {
        let Some(table) = names.get(&d.source) else {
            continue;
        };
        out.push(NamedQuery {
            name: clip(&format!("{QUERY_PREFIX}{}", d.id), 128),
            description: clip(
                &format!("[{}] {} (irprep detection)", d.severity.as_str(), d.title),
                1024,
            ),
            sql: replace_table(&d.sql, &d.source, table),
        });
    }
    Ok(out)
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A CloudFormation logical id from a name.
fn logical_id(prefix: &str, name: &str, i: usize) -> String {
    let clean: String = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect();
    let mut id = format!("{prefix}{clean}");
    id.truncate(200);
    format!("{id}{i}")
}

impl AthenaTable {
    /// The Glue `TableInput` in CloudFormation/API JSON form.
    pub fn glue_table_input(&self) -> Value {
        let mut params: BTreeMap<String, String> = self.table_params.iter().cloned().collect();
        params.insert(MANAGED_KEY.into(), MANAGED_VALUE.into());
        json!({
            "Name": self.name,
            "Description": self.description,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": params,
            "PartitionKeys": self.partition_keys.iter().map(|k| json!({"Name": k, "Type": "string"})).collect::<Vec<_>>(),
            "StorageDescriptor": {
                "Columns": self.columns.iter().map(|(n, t)| json!({"Name": n, "Type": t})).collect::<Vec<_>>(),
                "Location": self.location,
                "InputFormat": self.input_format,
                "OutputFormat": self.output_format,
                "SerdeInfo": {
                    "SerializationLibrary": self.serde_lib,
                    "Parameters": self.serde_params.iter().cloned().collect::<BTreeMap<String, String>>(),
                },
            },
        })
    }
}

impl Workgroup {
    /// `WorkGroupConfiguration` in CloudFormation/API JSON form.
    pub fn configuration(&self) -> Value {
        let enc = match &self.kms_key {
            Some(k) => json!({"EncryptionOption": "SSE_KMS", "KmsKey": k}),
            None => json!({"EncryptionOption": "SSE_S3"}),
        };
        let mut c = json!({
            "EnforceWorkGroupConfiguration": true,
            "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
            "PublishCloudWatchMetricsEnabled": true,
            "RequesterPaysEnabled": false,
            "ResultConfiguration": {"OutputLocation": self.results, "EncryptionConfiguration": enc},
        });
        if let Some(n) = self.bytes_scanned_cutoff {
            c["BytesScannedCutoffPerQuery"] = json!(n);
        }
        c
    }
}

impl Deployment {
    /// The equivalent CloudFormation template (JSON, which CloudFormation
    /// accepts as it accepts YAML).
    pub fn cloudformation(&self) -> Value {
        let mut resources = serde_json::Map::new();
        resources.insert(
            "Database".into(),
            json!({
                "Type": "AWS::Glue::Database",
                "Properties": {
                    "CatalogId": {"Ref": "AWS::AccountId"},
                    "DatabaseInput": {
                        "Name": self.database,
                        "Description": "Security log tables (generated by irprep)",
                        "Parameters": {MANAGED_KEY: MANAGED_VALUE},
                    },
                },
            }),
        );
        for (i, t) in self.tables.iter().enumerate() {
            resources.insert(
                logical_id("Table", &t.name, i),
                json!({
                    "Type": "AWS::Glue::Table",
                    "Properties": {
                        "CatalogId": {"Ref": "AWS::AccountId"},
                        "DatabaseName": {"Ref": "Database"},
                        "TableInput": t.glue_table_input(),
                    },
                }),
            );
        }
        resources.insert(
            "WorkGroup".into(),
            json!({
                "Type": "AWS::Athena::WorkGroup",
                "Properties": {
                    "Name": self.workgroup.name,
                    "Description": self.workgroup.description,
                    "State": "ENABLED",
                    "RecursiveDeleteOption": true,
                    "Tags": [{"Key": MANAGED_KEY, "Value": MANAGED_VALUE}],
                    "WorkGroupConfiguration": self.workgroup.configuration(),
                },
            }),
        );
        // CloudFormation creates resources without a dependency all at once;
        // a hundred named queries at once meet Athena's control-plane rate
        // limit. Chained in QUERY_CHAINS chains, a few are created at a time.
        let ids: Vec<String> = self
            .named_queries
            .iter()
            .enumerate()
            .map(|(i, q)| logical_id("Query", q.name.trim_start_matches(QUERY_PREFIX), i))
            .collect();
        for (i, q) in self.named_queries.iter().enumerate() {
            let mut after = vec![json!("Database")];
            if i >= QUERY_CHAINS {
                after.push(json!(ids[i - QUERY_CHAINS]));
            }
            resources.insert(
                ids[i].clone(),
                json!({
                    "Type": "AWS::Athena::NamedQuery",
                    "DependsOn": after,
                    "Properties": {
                        "Name": q.name,
                        "Description": q.description,
                        "Database": self.database,
                        "WorkGroup": {"Ref": "WorkGroup"},
                        "QueryString": q.sql,
                    },
                }),
            );
        }
        json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": "Athena security analytics: Glue database and tables with partition projection, workgroup, named queries (generated by irprep)",
            "Resources": resources,
            "Outputs": {
                "WorkGroupName": {"Value": {"Ref": "WorkGroup"}},
                "DatabaseName": {"Value": {"Ref": "Database"}},
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::{athena_table, Projection, TableSpec};
    use crate::tables::LogTable;

    #[test]
    fn named_flow_queries_use_a_hive_table_s_date_form() {
        let mut names = TableNames::new();
        names.insert("vpcflow".into(), "flows".into());
        let hive = athena_table(&TableSpec {
            flow: crate::ddl::FlowLayout {
                hive: true,
                ..Default::default()
            },
            accounts: Projection::Enum(vec!["111122223333".into()]),
            regions: Projection::Enum(vec!["us-east-1".into()]),
            names: Projection::Enum(vec!["vpc-0a1b2c3d".into()]),
            ..TableSpec::new(LogTable::VpcFlow, "flows", "s3://b/AWSLogs/")
        });
        let qs = named_queries(&names, &[hive], &Catalogue::builtin()).unwrap();
        let q = qs
            .iter()
            .find(|q| q.name.ends_with("vpcflow-preview-date-range"))
            .unwrap();
        assert!(
            q.sql.contains("BETWEEN 'year=2024/month=03/day=01'"),
            "{}",
            q.sql
        );
        // Without the Hive layout the days stay as written.
        let qs = named_queries(&names, &[], &Catalogue::builtin()).unwrap();
        let q = qs
            .iter()
            .find(|q| q.name.ends_with("vpcflow-preview-date-range"))
            .unwrap();
        assert!(q.sql.contains("BETWEEN '2024/03/01'"), "{}", q.sql);
    }

    #[test]
    fn named_queries_follow_table_names_and_template_is_complete() {
        let mut names = TableNames::new();
        names.insert("cloudtrail".into(), "org_trail".into());
        let qs = named_queries(&names, &[], &Catalogue::builtin()).unwrap();
        assert!(qs.len() > 60);
        assert!(qs
            .iter()
            .all(|q| q.name.starts_with(QUERY_PREFIX) && q.name.len() <= 128));
        let missed: Vec<&str> = qs
            .iter()
            .filter(|q| q.sql.contains("FROM cloudtrail") || !q.sql.contains("org_trail"))
            .map(|q| q.name.as_str())
            .collect();
        assert!(missed.is_empty(), "table not renamed in {missed:?}");
        let t = athena_table(&TableSpec {
            regions: Projection::Enum(vec!["us-east-1".into()]),
            ..TableSpec::new(LogTable::CloudTrail, "org_trail", "s3://b/AWSLogs/o-abc/")
        });
        let d = Deployment {
            database: "security_analysis".into(),
            workgroup: Workgroup {
                name: "irprep".into(),
                description: "x".into(),
                results: "s3://r/".into(),
                kms_key: None,
                bytes_scanned_cutoff: Some(10_000_000_000),
            },
            tables: vec![t],
            named_queries: qs.clone(),
        };
        let cfn = d.cloudformation();
        let res = cfn["Resources"].as_object().unwrap();
        assert_eq!(res.len(), 3 + qs.len());
        assert_eq!(
            res["WorkGroup"]["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"],
            10_000_000_000i64
        );
        let ti = &res["TableOrgTrail0"]["Properties"]["TableInput"];
        assert_eq!(
            ti["Parameters"]["projection.account_partition.type"],
            "injected"
        );
        assert_eq!(ti["Parameters"][MANAGED_KEY], "true");

        // Named queries are created QUERY_CHAINS at a time (review finding
        // 21: all at once meets Athena's API rate limit): each waits for
        // the one QUERY_CHAINS before it, and at most QUERY_CHAINS have no
        // query to wait for.
        let queries: Vec<(&String, &Value)> = res
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::Athena::NamedQuery")
            .collect();
        let first = queries
            .iter()
            .filter(|(_, r)| r["DependsOn"].as_array().unwrap().len() == 1)
            .count();
        assert_eq!(first, QUERY_CHAINS);
        let mut waited_on = std::collections::BTreeSet::new();
        for (_, r) in &queries {
            for d in r["DependsOn"].as_array().unwrap() {
                let d = d.as_str().unwrap();
                assert!(res.contains_key(d), "{d}");
                if d != "Database" {
                    assert_eq!(res[d]["Type"], "AWS::Athena::NamedQuery");
                    assert!(waited_on.insert(d.to_string()), "{d} waited on twice");
                }
            }
        }
        assert_eq!(waited_on.len(), queries.len() - QUERY_CHAINS);
    }
}
