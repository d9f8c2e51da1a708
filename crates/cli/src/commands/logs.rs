//! `irprep logs status|enable|cleanup|role-template` and `irprep iam-policy`.

use std::io::Write;

use anyhow::Result;
use clap::{Args, Subcommand};
use irprep_aws::logs::{
    self, iam, org, Change, EnableOptions, Failure, Inspection, Layout, Source, State,
};

use crate::inputs::AwsArgs;
use crate::output::{human_table, write_objects, Format};

/// Which accounts, regions and sources.
#[derive(Debug, Clone, Args)]
pub struct ScopeArgs {
    /// Sources, comma-separated: cloudtrail, vpcflow, dns, s3-access, elb, waf, eks, guardduty (default: all).
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<String>,
    /// Every ACTIVE account of the Organization (run from the management or a delegated account).
    #[arg(long)]
    pub org: bool,
    /// Only these accounts (with --org), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub include: Vec<String>,
    /// Leave these accounts out (with --org), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// The role irprep assumes in member accounts (see `logs role-template`).
    #[arg(long, default_value = "IrprepLogsRole")]
    pub role_name: String,
    /// Only these regions, comma-separated (default: every region enabled in each account).
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Account × region inspections in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl ScopeArgs {
    pub(crate) fn sources(&self) -> Result<Vec<Source>> {
        if self.sources.is_empty() || self.sources.iter().any(|s| s == "all") {
            return Ok(Source::ALL.to_vec());
        }
        self.sources
            .iter()
            .map(|s| Source::parse(s).ok_or_else(|| super::usage(format!("unknown source '{s}' (cloudtrail, vpcflow, dns, s3-access, elb, waf, eks, guardduty)"))))
            .collect()
    }

    /// Credentials, the caller's account, the targets and the bucket layout.
    pub(crate) async fn resolve(&self, bucket: Option<&str>) -> Result<(org::Targets, Layout)> {
        if !self.org && (!self.include.is_empty() || !self.exclude.is_empty()) {
            return Err(super::usage(
                "--include/--exclude select Organization accounts: add --org",
            ));
        }
        let conf = self.aws.options().load().await;
        let caller = self.aws.options().account_id(&conf).await?;
        let home_region = conf
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let org_id = if self.org {
            Some(org::org_id(&conf).await?)
        } else {
            None
        };
        let o = org::TargetOptions {
            org: self.org,
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            role_name: self.role_name.clone(),
            regions: (!self.regions.is_empty()).then(|| self.regions.clone()),
        };
        let targets = org::resolve(&conf, &caller, &o).await?;
        let mut accounts = targets.accounts();
        if !accounts.contains(&caller) {
            accounts.push(caller.clone());
        }
        accounts.sort();
        let layout = Layout {
            central_bucket: bucket
                .map(String::from)
                .unwrap_or_else(|| Layout::regional_bucket(&caller, &home_region)),
            home_account: caller,
            home_region,
            accounts,
            org_id,
            cache: Default::default(),
        };
        Ok((targets, layout))
    }
}

#[derive(Debug, Subcommand)]
pub enum LogsCmd {
    /// The matrix of account × region × source: on, partial, off (with the reason), none, error.
    Status {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Exit with code 1 when any source is off or partial (a readiness gate for scripts).
        #[arg(long)]
        fail_on_gaps: bool,
    },
    /// Plan the changes that turn every selected source on, show them, and apply them (with --yes or after confirmation).
    Enable {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Central log bucket to use (yours; its policy is merged, never replaced). Default: irprep-logs-<account>-<region>, created.
        #[arg(long)]
        bucket: Option<String>,
        /// KMS key for the trail and the central bucket's default encryption.
        #[arg(long)]
        kms_key: Option<String>,
        /// Expire logs after this many days (Intelligent-Tiering after 90).
        #[arg(long, default_value_t = 400)]
        retention_days: u32,
        /// Flow-log file format.
        #[arg(long, value_parser = ["text", "parquet"], default_value = "text")]
        flow_format: String,
        /// Flow logs with Hive-compatible S3 prefixes.
        #[arg(long)]
        flow_hive: bool,
        /// Flow logs with hourly S3 prefixes.
        #[arg(long)]
        flow_hourly: bool,
        /// Show the plan and stop.
        #[arg(long)]
        dry_run: bool,
        /// Apply without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Plan and remove exactly what irprep created (buckets and logs stay unless --delete-buckets).
    Cleanup {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Also empty and delete irprep's log buckets.
        #[arg(long)]
        delete_buckets: bool,
        #[arg(long)]
        dry_run: bool,
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Print the CloudFormation template (StackSet-ready) of the member-account role for --org.
    RoleTemplate {
        #[arg(long, default_value = "IrprepLogsRole")]
        role_name: String,
    },
}

pub(crate) fn write_failures(failures: &[Failure]) {
    if failures.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = failures
        .iter()
        .map(|f| vec![f.account.clone(), f.region.clone(), f.error.clone()])
        .collect();
    eprintln!(
        "irprep: {} account/region(s) failed; the rest was done:",
        failures.len()
    );
    eprintln!(
        "{}",
        human_table(&["account".into(), "region".into(), "error".into()], &rows)
    );
}

fn print_changes(changes: &[Change], format: Format, quiet: bool, empty: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, changes)?;
        writeln!(out)?;
        return Ok(());
    }
    let headers: Vec<String> = [
        "account", "region", "source", "action", "resource", "detail",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if changes.is_empty() {
        if format == Format::Table && !quiet {
            writeln!(out, "{empty}")?;
        } else if format == Format::Csv {
            write_objects(&mut out, format, &headers, &[])?;
        }
        return Ok(());
    }
    let objs: Vec<serde_json::Map<String, serde_json::Value>> = changes
        .iter()
        .map(|c| {
            serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default()
        })
        .collect();
    if format == Format::Table && !quiet {
        writeln!(out, "Planned changes (nothing has been changed yet):")?;
    }
    write_objects(&mut out, format, &headers, &objs)?;
    if format == Format::Table {
        writeln!(
            out,
            "Plan: {} change(s) in {} account/region(s).",
            changes.len(),
            changes
                .iter()
                .map(|c| (&c.account, &c.region))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        )?;
    }
    Ok(())
}

fn print_status(ins: &Inspection, sources: &[Source], format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if format != Format::Table {
        let headers: Vec<String> = ["account", "region", "source", "state", "reason"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let objs: Vec<serde_json::Map<String, serde_json::Value>> = ins
            .rows
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default()
            })
            .collect();
        return write_objects(&mut out, format, &headers, &objs);
    }
    // A matrix for people, then the reasons behind every cell that is not on.
    let mut headers = vec!["account".to_string(), "region".to_string()];
    headers.extend(sources.iter().map(|s| s.name().to_string()));
    let mut keys: Vec<(String, String)> = ins
        .rows
        .iter()
        .map(|r| (r.account.clone(), r.region.clone()))
        .collect();
    keys.dedup();
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|(a, r)| {
            let mut v = vec![a.clone(), r.clone()];
            for s in sources {
                let cell = ins
                    .rows
                    .iter()
                    .find(|x| &x.account == a && &x.region == r && x.source == *s)
                    .map(|x| x.state.as_str())
                    .unwrap_or("-");
                v.push(cell.to_string());
            }
            v
        })
        .collect();
    writeln!(out, "{}", human_table(&headers, &rows))?;
    let gaps: Vec<Vec<String>> = ins
        .rows
        .iter()
        .filter(|r| !matches!(r.state, State::On | State::None))
        .map(|r| {
            vec![
                r.account.clone(),
                r.region.clone(),
                r.source.name().to_string(),
                r.state.as_str().to_string(),
                r.reason.clone(),
            ]
        })
        .collect();
    if !gaps.is_empty() {
        writeln!(
            out,
            "{}",
            human_table(
                &[
                    "account".into(),
                    "region".into(),
                    "source".into(),
                    "state".into(),
                    "why".into()
                ],
                &gaps
            )
        )?;
    }
    Ok(())
}

pub(crate) fn code(failures: &[Failure]) -> u8 {
    if failures.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::PARTIAL
    }
}

pub async fn run(cmd: LogsCmd, quiet: bool) -> Result<u8> {
    match cmd {
        LogsCmd::Status {
            scope,
            fail_on_gaps,
        } => {
            let sources = scope.sources()?;
            let (targets, layout) = scope.resolve(None).await?;
            let ins = logs::inspect(&targets, &layout, None, &sources, scope.concurrency).await;
            print_status(&ins, &sources, scope.format)?;
            write_failures(&ins.failures);
            let errors = ins.rows.iter().filter(|r| r.state == State::Error).count();
            if errors > 0 && !quiet {
                eprintln!(
                    "irprep: {errors} source check(s) failed (state 'error'); see the reasons"
                );
            }
            if errors > 0 || !ins.failures.is_empty() {
                return Ok(crate::exit::PARTIAL);
            }
            let gaps = ins
                .rows
                .iter()
                .any(|r| matches!(r.state, State::Off | State::Partial));
            Ok(if fail_on_gaps && gaps {
                crate::exit::FINDINGS
            } else {
                crate::exit::OK
            })
        }
        LogsCmd::Enable {
            scope,
            bucket,
            kms_key,
            retention_days,
            flow_format,
            flow_hive,
            flow_hourly,
            dry_run,
            yes,
        } => {
            let sources = scope.sources()?;
            if retention_days < 1 {
                return Err(super::usage("--retention-days must be at least 1"));
            }
            let (targets, layout) = scope.resolve(bucket.as_deref()).await?;
            let o = EnableOptions {
                sources: sources.clone(),
                bucket,
                kms_key,
                retention_days,
                flow_parquet: flow_format == "parquet",
                flow_hive,
                flow_hourly,
            };
            let ins = logs::inspect(&targets, &layout, Some(&o), &sources, scope.concurrency).await;
            print_changes(
                &ins.changes,
                scope.format,
                quiet,
                "Nothing to do: every selected source is on.",
            )?;
            let errors = ins.problems();
            if dry_run || ins.changes.is_empty() || !super::analytics::confirm(yes, "enable")? {
                write_failures(&errors);
                return Ok(code(&errors));
            }
            let mut failed = logs::apply(&targets, &ins.changes, scope.concurrency).await;
            if !quiet {
                eprintln!(
                    "irprep: applied {} of {} change(s)",
                    ins.changes.len() - failed.len(),
                    ins.changes.len()
                );
            }
            failed.extend(errors);
            write_failures(&failed);
            Ok(code(&failed))
        }
        LogsCmd::Cleanup {
            scope,
            delete_buckets,
            dry_run,
            yes,
        } => {
            let sources = scope.sources()?;
            let (targets, _layout) = scope.resolve(None).await?;
            let ins =
                logs::plan_cleanup(&targets, &sources, delete_buckets, scope.concurrency).await;
            print_changes(
                &ins.changes,
                scope.format,
                quiet,
                "Nothing to remove: irprep made nothing here.",
            )?;
            let errors = ins.problems();
            if dry_run || ins.changes.is_empty() || !super::analytics::confirm(yes, "clean up")? {
                write_failures(&errors);
                return Ok(code(&errors));
            }
            let mut failed = logs::apply(&targets, &ins.changes, scope.concurrency).await;
            failed.extend(errors);
            write_failures(&failed);
            Ok(code(&failed))
        }
        LogsCmd::RoleTemplate { role_name } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&iam::role_template(&role_name))?
            );
            Ok(crate::exit::OK)
        }
    }
}

/// `irprep iam-policy <command>`.
pub fn iam_policy(command: Option<String>) -> Result<u8> {
    let Some(c) = command else {
        let rows: Vec<Vec<String>> = iam::commands()
            .into_iter()
            .map(|(n, d)| vec![n.to_string(), d.to_string()])
            .collect();
        println!("{}", human_table(&["policy".into(), "for".into()], &rows));
        return Ok(crate::exit::OK);
    };
    match iam::policy(&c) {
        Some(p) => {
            println!("{}", serde_json::to_string_pretty(&p)?);
            Ok(crate::exit::OK)
        }
        None => Err(super::usage(format!(
            "no policy named '{c}' (run `irprep iam-policy` for the list)"
        ))),
    }
}
