//! `irprep prepare`: the whole readiness job in one plan, the way the AWS
//! workshop's single CloudFormation stack did it: turn the log sources on
//! (`logs enable`), then make what they write queryable on Athena
//! (`analytics deploy`, over the bucket the logs go to), and say how to hunt.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::Result;
use clap::Args;
use irprep_aws::analytics::{self as aa, Clients};
use irprep_aws::logs::{self, EnableOptions, Failure, Source};
use irprep_core::analytics::{named_queries, Deployment, TableNames, Workgroup};
use irprep_core::ddl::{athena_table, FlowLayout, Projection, TableSpec};
use irprep_core::detect::Catalogue;
use irprep_core::tables::LogTable;

use crate::args::ScopeArgs;
use crate::output::{write_objects, Format};

#[derive(Debug, Args)]
pub struct PrepareArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Central log bucket (yours); default irprep-logs-<account>-<region>.
    #[arg(long)]
    pub bucket: Option<String>,
    #[arg(long)]
    pub kms_key: Option<String>,
    #[arg(long, default_value_t = 400)]
    pub retention_days: u32,
    #[arg(long, value_parser = ["text", "parquet"], default_value = "text")]
    pub flow_format: String,
    #[arg(long)]
    pub flow_hive: bool,
    #[arg(long)]
    pub flow_hourly: bool,
    /// As for `logs enable`.
    #[arg(long, value_parser = ["60", "600"], default_value = "600")]
    pub flow_interval: String,
    /// Glue database for the tables.
    #[arg(long, default_value = "security_analysis")]
    pub database: String,
    /// Athena workgroup irprep creates.
    #[arg(long, default_value = "irprep")]
    pub workgroup: String,
    /// Athena query results: s3://… (default: s3://<log bucket>/athena-results/).
    #[arg(long)]
    pub results: Option<String>,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(a: PrepareArgs, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    let sources = a.scope.enable_sources()?;
    let (targets, mut layout) = a.scope.resolve(a.bucket.as_deref()).await?;
    logs::open_ledger(&targets, &mut layout).await?;
    let o = EnableOptions {
        sources: sources.clone(),
        bucket: a.bucket.clone(),
        kms_key: a.kms_key.clone(),
        retention_days: a.retention_days,
        object_lock_days: None,
        flow_parquet: a.flow_format == "parquet",
        flow_hive: a.flow_hive,
        flow_hourly: a.flow_hourly,
        flow_interval: a.flow_interval.parse().unwrap_or(600),
        ..Default::default()
    };
    let ins = logs::inspect(&targets, &layout, Some(&o), &sources, a.scope.concurrency).await;

    // The tables over the bucket the logs go to: every source writes under
    // s3://<bucket>/AWSLogs/ (an Organization trail under AWSLogs/<org id>/).
    let awslogs = format!("s3://{}/AWSLogs/", layout.central_bucket);
    let conf = a.scope.aws.options().load().await?;
    let mut clients = Clients::new(&conf, layout.home_account.clone()).await;
    clients.ledger = layout.ledger.clone();
    // Logs start today; a table deployed by an earlier run keeps its start.
    let today = match aa::existing_start_date(&clients, &a.database, "cloudtrail").await {
        Some(d) => d,
        None => chrono::Utc::now().format("%Y/%m/%d").to_string(),
    };
    let regions: Vec<String> = targets
        .list
        .iter()
        .map(|t| t.region.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let vpcs: Vec<String> = layout
        .cache
        .with_prefix("vpcs:")
        .into_iter()
        .flat_map(|(_, v)| {
            serde_json::from_value::<Vec<String>>(v["own"].clone()).unwrap_or_default()
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut tables = vec![];
    let mut names = TableNames::new();
    // The tables over the central bucket. Load balancer, WAF and S3 access
    // logs go to per-region buckets (a service writes only in its region),
    // EKS audit events to CloudWatch Logs: `analytics deploy --table-location`
    // makes their tables.
    let spec = |table, name: &str, location: String, places: Vec<String>| TableSpec {
        start_date: today.clone(),
        accounts: Projection::from_list(layout.accounts.clone()),
        regions: Projection::from_list(places),
        ..TableSpec::new(table, name, &location)
    };
    if sources.contains(&Source::CloudTrail) {
        let mut loc = match &layout.org_id {
            Some(id) => format!("{awslogs}{id}/"),
            None => awslogs.clone(),
        };
        // A trail that already records the home account's management events
        // (so none of irprep's is planned) delivers elsewhere: the table
        // reads where it writes (review finding 16), not irprep's empty bucket.
        let planned = ins.changes.iter().any(|c| c.source == "cloudtrail");
        let dest = layout
            .cache
            .with_prefix(&format!("trail-dest:{}", layout.home_account))
            .into_iter()
            .next()
            .map(|(_, v)| v);
        if let (false, Some(d)) = (planned, dest) {
            let bucket = d["bucket"].as_str().unwrap_or_default();
            let prefix = d["prefix"]
                .as_str()
                .map(|p| format!("{}/", p.trim_end_matches('/')))
                .unwrap_or_default();
            if !bucket.is_empty() && bucket != layout.central_bucket {
                let org = if d["org"] == true {
                    match &layout.org_id {
                        Some(id) => Some(id.clone()),
                        None => irprep_aws::logs::org::org_id(&conf).await.ok(),
                    }
                } else {
                    None
                };
                loc = format!("s3://{bucket}/{prefix}AWSLogs/");
                if let Some(id) = org {
                    loc.push_str(&format!("{id}/"));
                }
                if !quiet {
                    eprintln!("irprep: the cloudtrail table reads {loc}, where the account's trail already delivers");
                }
            }
        }
        tables.push(athena_table(&spec(
            LogTable::CloudTrail,
            "cloudtrail",
            loc,
            regions.clone(),
        )));
        names.insert("cloudtrail".into(), "cloudtrail".into());
    }
    if sources.contains(&Source::VpcFlow) {
        let l = FlowLayout {
            parquet: o.flow_parquet,
            hive: o.flow_hive,
            hourly: o.flow_hourly,
            ..Default::default()
        };
        tables.push(athena_table(&TableSpec {
            flow: l,
            ..spec(
                LogTable::VpcFlow,
                "vpcflow",
                awslogs.clone(),
                regions.clone(),
            )
        }));
        names.insert("vpcflow".into(), "vpcflow".into());
    }
    // No VPC: no query logs to read, and an empty VPC list would make the
    // table's projection injected, which no query satisfies.
    if sources.contains(&Source::Dns) && !vpcs.is_empty() {
        tables.push(athena_table(&spec(
            LogTable::Dns,
            "dns",
            awslogs.clone(),
            vpcs,
        )));
        names.insert("dns".into(), "dns".into());
    }
    let results = a
        .results
        .clone()
        .unwrap_or_else(|| format!("s3://{}/athena-results/", layout.central_bucket));
    let named =
        named_queries(&names, &tables, &Catalogue::builtin()).map_err(anyhow::Error::msg)?;
    let d = Deployment {
        database: a.database.clone(),
        workgroup: Workgroup {
            name: a.workgroup.clone(),
            description: "Security investigations over AWS logs (managed by irprep)".into(),
            results,
            kms_key: None,
            bytes_scanned_cutoff: Some(super::analytics::DEFAULT_CUTOFF),
        },
        tables,
        named_queries: named,
    };
    let analytics = if d.tables.is_empty() {
        vec![]
    } else {
        aa::plan(&clients, &d).await?
    };

    // One plan, in the order it is applied.
    let mut rows: Vec<serde_json::Map<String, serde_json::Value>> =
        crate::output::objects(&ins.changes);
    for c in &analytics {
        let v = serde_json::json!({"account": layout.home_account, "region": layout.home_region, "source": "analytics", "action": c.action, "resource": format!("{} {}", c.resource, c.name), "detail": c.detail});
        rows.push(v.as_object().cloned().unwrap_or_default());
    }
    let headers: Vec<String> = [
        "account", "region", "source", "action", "resource", "detail",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut out = std::io::stdout().lock();
    if a.scope.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else if rows.is_empty() {
        if !quiet {
            writeln!(out, "Nothing to do: the logs are on and queryable.")?;
        }
    } else {
        write_objects(&mut out, a.scope.format, &headers, &rows)?;
        if a.scope.format == Format::Table {
            writeln!(
                out,
                "Plan: {} log change(s), {} analytics change(s).",
                ins.changes.len(),
                analytics.len()
            )?;
        }
    }
    drop(out);
    let mut failures = ins.problems();
    crate::output::write_left_alone(&ins.left_alone);
    crate::output::write_failures(&failures);
    if a.dry_run
        || rows.is_empty()
        || !crate::prompt::confirm("Apply these changes?", a.yes, "prepare")?
    {
        return Ok(crate::output::code(&failures));
    }
    let planned = failures.len();
    let done = logs::apply(
        &targets,
        &ins.changes,
        &layout.ledger.installation,
        a.scope.concurrency,
    )
    .await;
    failures.extend(done.failures);
    let mut records = done.records;
    if !analytics.is_empty() {
        if let Err(e) = aa::apply(&clients, &d, &analytics, &mut records).await {
            failures.push(Failure {
                account: layout.home_account.clone(),
                region: layout.home_region.clone(),
                error: format!("analytics: {e:#}"),
            });
        }
    }
    failures.extend(logs::record(&targets, &mut layout, &records).await);
    crate::output::write_failures(&failures[planned..]);
    if !quiet {
        eprintln!(
            "irprep: ready. Logs go to s3://{}/AWSLogs/; hunt with:",
            layout.central_bucket
        );
        eprintln!(
            "  irprep hunt --engine athena --workgroup {} --database {} --since 1d",
            a.workgroup, a.database
        );
        eprintln!(
            "  irprep hunt --logs {awslogs} --since 1d          (the local engine, no Athena)"
        );
    }
    Ok(crate::output::code(&failures))
}
