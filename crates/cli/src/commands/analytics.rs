//! `irprep analytics`: the Athena side. `ddl` prints the tables (generated
//! from the same definitions the local engine reads with), `deploy` creates
//! or updates the Glue database and tables, the Athena workgroup and the
//! named queries (plan first, apply with --yes), `destroy` removes what
//! deploy made, `cfn` prints the same deployment as CloudFormation.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use irprep_aws::analytics::{self as aa, Change, Clients};
use irprep_aws::s3;
use irprep_core::analytics::{named_queries, Deployment, TableNames, Workgroup};
use irprep_core::ddl::{athena_table, AthenaTable, FlowLayout, Projection, TableSpec};
use irprep_core::detect::Catalogue;
use irprep_core::table;
use irprep_core::tables::LogTable;

use crate::args::AwsArgs;
use crate::output::{write_objects, Format};

/// The workgroup's per-query cutoff by default: 100 GB, about $0.50 a query
/// at Athena's $5 per TB (a whole-table scan of weeks of an Organization's
/// trail stops there instead of costing dollars per detection).
pub(crate) const DEFAULT_CUTOFF: i64 = 100_000_000_000;
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FlowFileFormat {
    #[default]
    Text,
    Parquet,
}

/// Which tables, over which logs.
#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// CloudTrail logs: s3://bucket/prefix/AWSLogs/ (end with o-<org id>/ for an Organization trail).
    #[arg(long, value_name = "S3_URL")]
    pub cloudtrail: Option<String>,
    /// VPC flow logs: s3://bucket/prefix/AWSLogs/.
    #[arg(long, value_name = "S3_URL")]
    pub vpcflow: Option<String>,
    /// Route 53 Resolver query logs: s3://bucket/prefix/AWSLogs/.
    #[arg(long, value_name = "S3_URL")]
    pub dns: Option<String>,
    /// Any table over its logs, TABLE=S3_URL (repeatable): s3access (the access logs' target prefix), alb, nlb, clb, waf, guardduty, eks_audit at …/AWSLogs/; also cloudtrail, vpcflow, dns.
    #[arg(long = "table-location", value_name = "TABLE=S3_URL")]
    pub table_location: Vec<String>,
    /// A table's name in Glue, TABLE=NAME (repeatable).
    #[arg(long = "table-name", value_name = "TABLE=NAME")]
    pub table_name: Vec<String>,
    /// S3 server access logs use the simple prefix (no date-based partitioning): a table without partitions.
    #[arg(long)]
    pub s3access_simple_prefix: bool,
    /// Values of the name partition (S3 buckets of date-based access logs, WAF web ACLs, EKS clusters), comma-separated, `auto` or `inject`. Empty: read off the bucket, or the account's buckets, web ACLs or clusters.
    #[arg(long, value_delimiter = ',')]
    pub names: Vec<String>,
    /// Table names (the named queries use them).
    #[arg(long, default_value = "cloudtrail")]
    pub cloudtrail_table: String,
    #[arg(long, default_value = "vpcflow")]
    pub vpcflow_table: String,
    #[arg(long, default_value = "dns")]
    pub dns_table: String,
    /// First date of the logs (yyyy/MM/dd), the start of the date projection.
    #[arg(long, default_value = "2024/01/01")]
    pub start_date: String,
    /// Accounts (comma-separated), `auto` (read off the bucket layout) or `inject` (queries must name one). Empty: read off the bucket, or, before any log arrived, the account's own id (the Organization's accounts for an o-… location).
    #[arg(long, value_delimiter = ',')]
    pub accounts: Vec<String>,
    /// Regions (comma-separated), `auto` or `inject`. Empty: read off the bucket, or the account's enabled Regions.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// VPC ids of the DNS logs (comma-separated), `auto` or `inject`. Empty: read off the bucket, or every VPC of the enabled Regions.
    #[arg(long, value_delimiter = ',')]
    pub vpcs: Vec<String>,
    /// Flow-log file format.
    #[arg(long, value_enum, default_value_t = FlowFileFormat::Text)]
    pub flow_format: FlowFileFormat,
    /// Flow logs use Hive-compatible S3 prefixes.
    #[arg(long)]
    pub flow_hive: bool,
    /// Flow logs use hourly prefixes.
    #[arg(long)]
    pub flow_hourly: bool,
    /// The flow log's LogFormat (`${version} ${srcaddr} …`) or a header line; default: every field in documented order (what `irprep logs enable` writes).
    #[arg(long, value_name = "FORMAT")]
    pub flow_log_format: Option<String>,
    /// Take the flow-log field order from this file's header line (gzip or text).
    #[arg(long, value_name = "FILE", conflicts_with = "flow_log_format")]
    pub flow_header_from: Option<PathBuf>,
    /// Match an existing flow log (ec2:DescribeFlowLogs): its LogFormat, file format, partitioning and, without --vpcflow, its S3 location.
    #[arg(long, value_name = "FLOW_LOG_ID", conflicts_with_all = ["flow_log_format", "flow_header_from"])]
    pub flow_log_id: Option<String>,
}

/// Read an existing flow log's settings into the table arguments.
async fn adopt_flow_log(a: &mut TableArgs, aws: &AwsArgs) -> Result<()> {
    let Some(id) = a.flow_log_id.take() else {
        return Ok(());
    };
    let conf = aws.options().load().await?;
    let fl = irprep_aws::analytics::flow_log_settings(&conf, &id).await?;
    a.flow_log_format = Some(fl.log_format);
    if let Some(o) = fl.options {
        a.flow_format = if o.parquet {
            FlowFileFormat::Parquet
        } else {
            FlowFileFormat::Text
        };
        a.flow_hive = o.hive;
        a.flow_hourly = o.hourly;
    }
    if a.vpcflow.is_none() {
        a.vpcflow = Some(fl.location);
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct WorkgroupArgs {
    /// Glue database (no hyphens).
    #[arg(long, default_value = "security_analysis")]
    pub database: String,
    /// Athena workgroup irprep creates and manages.
    #[arg(long, default_value = "irprep")]
    pub workgroup: String,
}

#[derive(Debug, Subcommand)]
pub enum AnalyticsCmd {
    /// Print the Athena DDL of the tables (partition projection over the S3 layouts).
    Ddl {
        /// Which table `--location` describes (any table `irprep query --schema` lists).
        #[arg(long, default_value = "cloudtrail")]
        table: String,
        /// The S3 location of that table (same as --cloudtrail/--vpcflow/--dns).
        #[arg(long, value_name = "S3_URL")]
        location: Option<String>,
        /// Table name for --table (default: the table's own name).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        tables: TableArgs,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Create or update the Glue database and tables, the Athena workgroup and the named queries.
    Deploy {
        #[command(flatten)]
        tables: TableArgs,
        #[command(flatten)]
        wg: WorkgroupArgs,
        /// Where Athena writes query results: s3://bucket/prefix/.
        #[arg(long, value_name = "S3_URL")]
        results: String,
        /// Encrypt query results with this KMS key (default SSE-S3).
        #[arg(long)]
        results_kms_key: Option<String>,
        /// Cancel any query of the workgroup that would scan more than this many bytes (default 100 GB, about $0.50 a query; 0: no cutoff).
        #[arg(long, default_value_t = DEFAULT_CUTOFF)]
        bytes_scanned_cutoff: i64,
        /// Show the plan and stop.
        #[arg(long)]
        dry_run: bool,
        /// Apply without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Plan output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Remove what deploy made (tables and database it created, its workgroup and named queries). Logs stay.
    Destroy {
        #[command(flatten)]
        wg: WorkgroupArgs,
        #[arg(long)]
        dry_run: bool,
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Print the deployment as a CloudFormation template (JSON).
    Cfn {
        #[command(flatten)]
        tables: TableArgs,
        #[command(flatten)]
        wg: WorkgroupArgs,
        #[arg(long, value_name = "S3_URL")]
        results: String,
        #[arg(long)]
        results_kms_key: Option<String>,
        /// As for deploy.
        #[arg(long, default_value_t = DEFAULT_CUTOFF)]
        bytes_scanned_cutoff: i64,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        aws: AwsArgs,
    },
}

/// CloudFormation's template size limits: inline (`--template-body`), and
/// from S3 (`--template-url`).
const CFN_INLINE_LIMIT: usize = 51_200;
const CFN_S3_LIMIT: usize = 1_000_000;

fn valid_date(d: &str) -> bool {
    d.len() == 10
        && d.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'/'
            } else {
                b.is_ascii_digit()
            }
        })
}

fn awslogs_dir(url: &str) -> Result<String> {
    if !url.starts_with("s3://") {
        return Err(super::usage(format!(
            "{url}: log locations must be s3:// URLs"
        )));
    }
    Ok(if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    })
}

/// The flow-log field order asked for.
fn flow_fields(a: &TableArgs) -> Result<Vec<&'static table::FlowField>> {
    if let Some(f) = &a.flow_log_format {
        return table::parse_flow_format(f)
            .map_err(|e| super::usage(format!("--flow-log-format: {e}")));
    }
    if let Some(p) = &a.flow_header_from {
        let raw = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let head = irprep_core::decompress::head(&raw, 64 * 1024);
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        return table::parse_flow_format(&line).map_err(|e| {
            super::usage(format!(
                "{}: first line is not a flow-log header: {e}",
                p.display()
            ))
        });
    }
    Ok(table::FLOW_FIELDS.iter().collect())
}

/// Resolve `auto` lists by listing the bucket layout.
async fn projection(
    values: &[String],
    url: &str,
    service: &str,
    want_places: bool,
    aws: &AwsArgs,
) -> Result<Projection> {
    if values.len() == 1 && values[0] == "auto" {
        let (bucket, prefix) = s3::parse_s3_url(url).context("bad S3 URL")?;
        let conf = aws.options().load().await?;
        let client = s3::client_for_bucket(&conf, aws.endpoint_url.is_some(), &bucket).await;
        let (accounts, places) = aa::discover_layout(&client, &bucket, &prefix, service).await?;
        let found = if want_places { places } else { accounts };
        if found.is_empty() {
            bail!(
                "--{} auto: nothing found under {url} (is it the AWSLogs/ prefix?)",
                if want_places {
                    "regions/--vpcs"
                } else {
                    "accounts"
                }
            );
        }
        return Ok(Projection::Enum(found));
    }
    Ok(Projection::from_list(values.to_vec()))
}

/// A partition's values when no list was given: found in the bucket; with
/// no logs there yet, read off the estate (the account or the Organization,
/// its enabled Regions, its VPCs, buckets, web ACLs or clusters), with a
/// note; `inject` asks for an injected projection explicitly. Never an
/// injected projection by default: Athena then fails every query that does
/// not name the value, and no detection or named query does.
async fn resolve_values(
    values: &[String],
    spec: &TableSpec,
    service: &str,
    what: Partition,
    aws: &AwsArgs,
) -> Result<Projection> {
    if values.len() == 1 && values[0] == "inject" {
        return Ok(Projection::Injected);
    }
    if !values.is_empty() {
        return match what {
            Partition::Name if values.len() == 1 && values[0] == "auto" => {
                discover_names(spec, aws).await
            }
            Partition::Name => Ok(Projection::from_list(values.to_vec())),
            _ => {
                projection(
                    values,
                    &spec.location,
                    service,
                    what != Partition::Account,
                    aws,
                )
                .await
            }
        };
    }
    let url = &spec.location;
    let found = match what {
        Partition::Name => discover_names(spec, aws).await,
        _ => {
            projection(
                &["auto".to_string()],
                url,
                service,
                what != Partition::Account,
                aws,
            )
            .await
        }
    };
    let bucket_err = match found {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    let flag = what.flag(spec.table);
    let estate = what.estate(spec.table);
    let listed = async {
        let conf = aws.options().load().await?;
        aa::estate_values(&conf, estate, url).await
    }
    .await;
    match listed {
        Ok(v) if !v.is_empty() => {
            eprintln!(
                "irprep: note: {}: no logs under {url} yet, so the {} table lists the estate's {} ({}); deploy again once logs arrive to pick up others, or give --{flag}",
                spec.table,
                spec.table,
                what.noun(spec.table),
                summary(&v)
            );
            Ok(Projection::Enum(v))
        }
        other => {
            let why = match other {
                Ok(_) => "none there".to_string(),
                Err(e) => format!("{e:#}"),
            };
            Err(super::usage(format!(
                "the {} table's {}: none found under {url} ({bucket_err:#}), nor in the account ({why}); give --{flag} a comma-separated list, or --{flag} inject (then every query must name its value with = or IN)",
                spec.table,
                what.noun(spec.table)
            )))
        }
    }
}

/// The first values of a list and how many there are.
fn summary(v: &[String]) -> String {
    if v.len() <= 3 {
        v.join(", ")
    } else {
        format!("{}, … {} in all", v[..3].join(", "), v.len())
    }
}

/// Which partition of a table a list gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partition {
    Account,
    /// The region, or the VPC of the DNS table.
    Place,
    /// Bucket, web ACL or cluster.
    Name,
}

impl Partition {
    fn flag(self, t: LogTable) -> &'static str {
        match self {
            Partition::Account => "accounts",
            Partition::Place if t == LogTable::Dns => "vpcs",
            Partition::Place => "regions",
            Partition::Name => "names",
        }
    }

    fn noun(self, t: LogTable) -> &'static str {
        match (self, t) {
            (Partition::Name, LogTable::S3Access) => "buckets",
            (Partition::Name, LogTable::Waf) => "web ACLs",
            (Partition::Name, _) => "clusters",
            (p, t) => p.flag(t),
        }
    }

    fn estate(self, t: LogTable) -> aa::EstatePartition {
        use aa::EstatePartition as E;
        match (self, t) {
            (Partition::Account, _) => E::Accounts,
            (Partition::Place, LogTable::Dns) => E::Vpcs,
            (Partition::Place, _) => E::Regions,
            (Partition::Name, LogTable::S3Access) => E::Buckets,
            (Partition::Name, LogTable::Waf) => E::WebAcls,
            (Partition::Name, _) => E::Clusters,
        }
    }
}

/// The tables asked for, generated from the table definitions; accounts,
/// regions, VPCs and names not given are found (see [`resolve_values`]).
async fn tables(a: &TableArgs, aws: &AwsArgs) -> Result<Vec<AthenaTable>> {
    let mut owned = a.clone();
    adopt_flow_log(&mut owned, aws).await?;
    let a = &owned;
    if !valid_date(&a.start_date) {
        return Err(super::usage("--start-date must be yyyy/MM/dd"));
    }
    let mut out = vec![];
    for (table, url) in locations(a)? {
        let location = awslogs_dir(&url)?;
        let mut spec = TableSpec::new(table, &table_name(a, table)?, &location);
        spec.start_date = a.start_date.clone();
        spec.date_based = !a.s3access_simple_prefix;
        if table == LogTable::VpcFlow {
            spec.flow = FlowLayout {
                parquet: a.flow_format == FlowFileFormat::Parquet,
                hive: a.flow_hive,
                hourly: a.flow_hourly,
                fields: flow_fields(a)?,
            };
        }
        // Every table is partitioned by account and place, but S3 access
        // logs under a simple prefix.
        let partitioned = table != LogTable::S3Access || spec.date_based;
        if partitioned {
            // S3 access logs' date-based keys have no service folder.
            let service = table.service_folder().unwrap_or("");
            let places = if table == LogTable::Dns {
                &a.vpcs
            } else {
                &a.regions
            };
            spec.accounts =
                resolve_values(&a.accounts, &spec, service, Partition::Account, aws).await?;
            spec.regions = resolve_values(places, &spec, service, Partition::Place, aws).await?;
            if irprep_core::tables::name_partition(table).is_some() {
                spec.names = resolve_values(&a.names, &spec, service, Partition::Name, aws).await?;
            }
        }
        out.push(athena_table(&spec));
    }
    if out.is_empty() {
        return Err(super::usage("name at least one log location: --cloudtrail, --vpcflow, --dns s3://bucket/prefix/AWSLogs/, or --table-location TABLE=S3_URL"));
    }
    Ok(out)
}

/// The tables asked for and their locations: the three named flags, then
/// `--table-location` entries.
fn locations(a: &TableArgs) -> Result<Vec<(LogTable, String)>> {
    let mut out: Vec<(LogTable, String)> = vec![];
    for (url, t) in [
        (&a.cloudtrail, LogTable::CloudTrail),
        (&a.vpcflow, LogTable::VpcFlow),
        (&a.dns, LogTable::Dns),
    ] {
        if let Some(u) = url {
            out.push((t, u.clone()));
        }
    }
    for e in &a.table_location {
        let (t, u) = table_pair(e, "--table-location")?;
        if out.iter().any(|(x, _)| *x == t) {
            return Err(super::usage(format!("--table-location: {t} given twice")));
        }
        out.push((t, u));
    }
    Ok(out)
}

/// `TABLE=VALUE`, with the table checked.
fn table_pair(e: &str, flag: &str) -> Result<(LogTable, String)> {
    let Some((t, v)) = e.split_once('=') else {
        return Err(super::usage(format!("{flag} {e}: expected TABLE=VALUE")));
    };
    let Some(table) = LogTable::from_name(t.trim()) else {
        return Err(super::usage(format!(
            "{flag} {e}: no table '{t}' (one of {})",
            LogTable::names()
        )));
    };
    Ok((table, v.trim().to_string()))
}

/// The Glue name of a table: `--table-name`, the legacy flags, or its own.
fn table_name(a: &TableArgs, t: LogTable) -> Result<String> {
    for e in &a.table_name {
        let (x, n) = table_pair(e, "--table-name")?;
        if x == t {
            return Ok(n);
        }
    }
    Ok(match t {
        LogTable::CloudTrail => a.cloudtrail_table.clone(),
        LogTable::VpcFlow => a.vpcflow_table.clone(),
        LogTable::Dns => a.dns_table.clone(),
        other => other.name().to_string(),
    })
}

/// `--names auto`: the name partition's values, listed one level below each
/// account and place of the layout.
async fn discover_names(spec: &TableSpec, aws: &AwsArgs) -> Result<Projection> {
    let service = spec.table.service_folder().unwrap_or("");
    let Some(_) = irprep_core::tables::name_partition(spec.table) else {
        return Err(super::usage(format!(
            "--names auto: the {} table has no name partition in the AWSLogs/ layout",
            spec.table
        )));
    };
    let (bucket, prefix) = s3::parse_s3_url(&spec.location).context("bad S3 URL")?;
    let conf = aws.options().load().await?;
    let client = s3::client_for_bucket(&conf, aws.endpoint_url.is_some(), &bucket).await;
    let names = aa::discover_names(&client, &bucket, &prefix, service).await?;
    if names.is_empty() {
        bail!("--names auto: nothing found under {}", spec.location);
    }
    Ok(Projection::Enum(names))
}

fn table_names(a: &TableArgs) -> Result<TableNames> {
    let mut m = BTreeMap::new();
    for (t, _) in locations(a)? {
        m.insert(t.name().to_string(), table_name(a, t)?);
    }
    Ok(m)
}

#[allow(clippy::too_many_arguments)]
async fn deployment(
    a: &TableArgs,
    wg: &WorkgroupArgs,
    results: &str,
    kms: &Option<String>,
    cutoff: Option<i64>,
    aws: &AwsArgs,
) -> Result<Deployment> {
    if wg.database.contains('-') {
        return Err(super::usage(
            "--database cannot contain '-' (Athena database names)",
        ));
    }
    if !results.starts_with("s3://") {
        return Err(super::usage("--results must be an s3:// URL"));
    }
    let mut a = a.clone();
    adopt_flow_log(&mut a, aws).await?;
    let tables = tables(&a, aws).await?;
    let qs = named_queries(&table_names(&a)?, &tables, &Catalogue::builtin())
        .map_err(anyhow::Error::msg)?;
    Ok(Deployment {
        database: wg.database.clone(),
        workgroup: Workgroup {
            name: wg.workgroup.clone(),
            description: "Security investigations over AWS logs (managed by irprep)".into(),
            results: if results.ends_with('/') {
                results.to_string()
            } else {
                format!("{results}/")
            },
            kms_key: kms.clone(),
            // 0 (or less): no cutoff.
            bytes_scanned_cutoff: cutoff.filter(|n| *n > 0),
        },
        tables,
        named_queries: qs,
    })
}

/// Print a plan in the chosen format.
pub fn print_plan(changes: &[Change], format: Format, quiet: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, changes)?;
        writeln!(out)?;
        return Ok(());
    }
    if changes.is_empty() {
        if format == Format::Table {
            if !quiet {
                writeln!(out, "Nothing to do: everything is in place.")?;
            }
        } else if format == Format::Jsonl {
            // No lines.
        } else {
            write_objects(
                &mut out,
                format,
                &[
                    "action".into(),
                    "resource".into(),
                    "name".into(),
                    "detail".into(),
                ],
                &[],
            )?;
        }
        return Ok(());
    }
    let headers: Vec<String> = ["action", "resource", "name", "detail"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let objs: Vec<serde_json::Map<String, serde_json::Value>> = crate::output::objects(changes);
    write_objects(&mut out, format, &headers, &objs)?;
    if format == Format::Table {
        let count = |a: &str| changes.iter().filter(|c| c.action == a).count();
        writeln!(
            out,
            "Plan: {} to create, {} to update, {} to delete.",
            count("create"),
            count("update"),
            count("delete")
        )?;
    }
    Ok(())
}

pub async fn run(cmd: AnalyticsCmd, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    match cmd {
        AnalyticsCmd::Ddl {
            table: which,
            location,
            name,
            mut tables,
            aws,
        } => {
            if let Some(loc) = location {
                let Some(t) = LogTable::from_name(&which) else {
                    return Err(super::usage(format!(
                        "--table {which}: expected one of {}",
                        LogTable::names()
                    )));
                };
                tables.table_location.push(format!("{t}={loc}"));
                if let Some(n) = name {
                    tables.table_name.push(format!("{t}={n}"));
                }
            }
            let ts = self::tables(&tables, &aws).await?;
            let ddl: Vec<String> = ts.iter().map(|t| format!("{};", t.ddl())).collect();
            println!("{}", ddl.join("\n\n"));
            Ok(irprep::exit::ExitStatus::Ok)
        }
        AnalyticsCmd::Cfn {
            tables,
            wg,
            results,
            results_kms_key,
            bytes_scanned_cutoff,
            output,
            aws,
        } => {
            let d = deployment(
                &tables,
                &wg,
                &results,
                &results_kms_key,
                Some(bytes_scanned_cutoff),
                &aws,
            )
            .await?;
            let text = serde_json::to_string_pretty(&d.cloudformation())?;
            let size = text.len() + 1;
            let file = output
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "template.json".into());
            match &output {
                Some(p) => std::fs::write(p, text + "\n")
                    .with_context(|| format!("writing {}", p.display()))?,
                None => println!("{text}"),
            }
            // CloudFormation takes at most 51,200 bytes inline (--template-body)
            // and 1,000,000 from S3 (--template-url).
            if size > CFN_S3_LIMIT {
                eprintln!(
                    "irprep: warning: the template is {size} bytes, over CloudFormation's {CFN_S3_LIMIT}-byte limit even from S3: deploy with `irprep analytics deploy`, or fewer tables per template"
                );
                return Ok(irprep::exit::ExitStatus::Partial);
            }
            if size > CFN_INLINE_LIMIT && !quiet {
                eprintln!(
                    "irprep: note: the template is {size} bytes, over the {CFN_INLINE_LIMIT} bytes CloudFormation takes inline; deploy it from S3: `aws cloudformation deploy --template-file {file} --stack-name irprep-analytics --s3-bucket <a bucket of yours>` (uploads it), or `aws s3 cp {file} s3://<bucket>/` then `aws cloudformation create-stack --template-url https://<bucket>.s3.amazonaws.com/{file} …`"
                );
            }
            Ok(irprep::exit::ExitStatus::Ok)
        }
        AnalyticsCmd::Deploy {
            tables,
            wg,
            results,
            results_kms_key,
            bytes_scanned_cutoff,
            dry_run,
            yes,
            format,
            aws,
        } => {
            let d = deployment(
                &tables,
                &wg,
                &results,
                &results_kms_key,
                Some(bytes_scanned_cutoff),
                &aws,
            )
            .await?;
            let conf = aws.options().load().await?;
            let account = aws.options().account_id(&conf).await?;
            let c = Clients::new(&conf, account).await.with_ledger().await?;
            let changes = aa::plan(&c, &d).await?;
            print_plan(&changes, format, quiet)?;
            if dry_run
                || changes.is_empty()
                || !crate::prompt::confirm("Apply these changes?", yes, "deploy")?
            {
                return Ok(irprep::exit::ExitStatus::Ok);
            }
            let mut records = vec![];
            let applied = aa::apply(&c, &d, &changes, &mut records).await;
            c.record(&records).await?;
            applied?;
            if !quiet {
                eprintln!(
                    "irprep: deployed: database {}, workgroup {}, {} table(s), {} named queries. Hunt on Athena with: irprep hunt --engine athena --workgroup {} --database {}",
                    d.database,
                    d.workgroup.name,
                    d.tables.len(),
                    d.named_queries.len(),
                    d.workgroup.name,
                    d.database
                );
            }
            Ok(irprep::exit::ExitStatus::Ok)
        }
        AnalyticsCmd::Destroy {
            wg,
            dry_run,
            yes,
            format,
            aws,
        } => {
            let conf = aws.options().load().await?;
            let account = aws.options().account_id(&conf).await?;
            let c = Clients::new(&conf, account).await.with_ledger().await?;
            let changes = aa::plan_destroy(&c, &wg.database, &[], &wg.workgroup).await?;
            print_plan(&changes, format, quiet)?;
            if dry_run
                || changes.is_empty()
                || !crate::prompt::confirm("Apply these changes?", yes, "destroy")?
            {
                return Ok(irprep::exit::ExitStatus::Ok);
            }
            let mut records = vec![];
            let applied =
                aa::apply_destroy(&c, &wg.database, &wg.workgroup, &changes, &mut records).await;
            c.record(&records).await?;
            applied?;
            Ok(irprep::exit::ExitStatus::Ok)
        }
    }
}
