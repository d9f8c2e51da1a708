//! Turning `--logs` arguments into a ready engine: local paths are walked,
//! `s3://` prefixes listed with the AWS credential chain; input problems are
//! printed as they happen and counted for the exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use irprep_aws::logs::{org, Layout, Source};
use irprep_aws::{s3, AwsOptions};
use irprep_core::detect::Catalogue;
use irprep_engine::{Diagnostics, Engine, Fetcher, InputIssue, LogFile, TimeWindow};

use crate::output::Format;
use irprep_core::timeparse::parse_time;

/// Options of every AWS-facing command.
#[derive(Debug, Clone, Args, Default)]
pub struct AwsArgs {
    /// Named profile from the AWS config files (SSO profiles included).
    #[arg(long, env = "AWS_PROFILE", help_heading = "AWS")]
    pub profile: Option<String>,
    /// Region for API calls (default: the profile's or the environment's).
    #[arg(long, help_heading = "AWS")]
    pub region: Option<String>,
    /// Send every AWS request to this endpoint (an emulator, a VPC endpoint).
    #[arg(long, env = "IRPREP_ENDPOINT_URL", help_heading = "AWS")]
    pub endpoint_url: Option<String>,
    /// Accept a plain-http --endpoint-url on another machine (signed requests in clear).
    #[arg(long, help_heading = "AWS")]
    pub allow_insecure_endpoint: bool,
}

impl AwsArgs {
    pub fn options(&self) -> AwsOptions {
        // An inherited environment variable silently redirecting every
        // signed request is worth a line on stderr (an explicit flag is not).
        if let (Some(e), Ok(env)) = (&self.endpoint_url, std::env::var("IRPREP_ENDPOINT_URL")) {
            static ONCE: std::sync::Once = std::sync::Once::new();
            if *e == env && !std::env::args().any(|a| a.starts_with("--endpoint-url")) {
                ONCE.call_once(|| {
                    eprintln!(
                        "irprep: note: every AWS request goes to {} (from IRPREP_ENDPOINT_URL)",
                        crate::output::stderr_safe(e)
                    )
                });
            }
        }
        AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            allow_insecure_endpoint: self.allow_insecure_endpoint,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum EngineKind {
    /// The embedded engine over --logs (files or an S3 prefix).
    #[default]
    Local,
    /// Amazon Athena, over the tables `irprep analytics deploy` made.
    Athena,
}

/// Where queries run.
#[derive(Debug, Clone, Args, Default)]
pub struct EngineArgs {
    /// Run on the embedded engine (default) or on Athena.
    #[arg(long, value_enum, default_value_t = EngineKind::Local, help_heading = "Engine")]
    pub engine: EngineKind,
    /// Athena workgroup (--engine athena).
    #[arg(long, default_value = "irprep", help_heading = "Engine")]
    pub workgroup: String,
    /// Glue database holding the tables (--engine athena).
    #[arg(long, default_value = "security_analysis", help_heading = "Engine")]
    pub database: String,
    /// Query result location, if the workgroup does not enforce its own (--engine athena).
    #[arg(long, value_name = "S3_URL", help_heading = "Engine")]
    pub athena_output: Option<String>,
    /// A log table deployed under another Glue name, TABLE=NAME (repeatable; --engine athena), as `analytics deploy --cloudtrail-table` or `--table-name` made it: SQL and detections keep naming the log table.
    #[arg(
        long = "athena-table",
        value_name = "TABLE=NAME",
        help_heading = "Engine"
    )]
    pub athena_tables: Vec<String>,
}

impl EngineArgs {
    /// `--athena-table` as log table -> Glue table name.
    pub fn glue_names(&self) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        let mut m = std::collections::BTreeMap::new();
        for e in &self.athena_tables {
            let (t, n) = e
                .split_once('=')
                .filter(|(_, n)| !n.is_empty())
                .ok_or_else(|| {
                    crate::commands::usage(format!("--athena-table {e}: expected TABLE=NAME"))
                })?;
            if irprep_core::tables::LogTable::from_name(t).is_none() {
                return Err(crate::commands::usage(format!(
                    "--athena-table {e}: no log table {t} (irprep query --schema lists them)"
                )));
            }
            m.insert(t.to_string(), n.to_string());
        }
        Ok(m)
    }

    pub fn target(&self) -> irprep_aws::athena::Target {
        irprep_aws::athena::Target {
            workgroup: self.workgroup.clone(),
            database: self.database.clone(),
            output: self.athena_output.clone(),
        }
    }
}

/// Options of every command that reads logs.
#[derive(Debug, Clone, Args, Default)]
pub struct LogArgs {
    /// Log files, directories (walked recursively) or s3://bucket/prefix: several after one
    /// flag (`--logs logs/*.json`), or the flag repeated.
    #[arg(long = "logs", value_name = "PATH|s3://…", required = false, num_args = 1.., action = clap::ArgAction::Append)]
    pub logs: Vec<String>,
    /// Only events at or after this time: RFC 3339, a date, or a span back from now (7d, 12h).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// Stop at the first unreadable file or record instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Also read files that symlinks in a --logs directory point to outside it.
    #[arg(long)]
    pub follow_symlinks: bool,
}

impl LogArgs {
    /// The values of `--logs` run up to the next flag, so a positional
    /// argument written after them (`--logs a b "SELECT …"`) lands among them:
    /// take the last value back when it is not a place (an existing path or
    /// s3://) and `is_it` says it is the positional.
    pub fn take_positional(&mut self, is_it: impl Fn(&str) -> bool) -> Option<String> {
        let last = self.logs.last()?;
        let place = last.starts_with("s3://") || std::path::Path::new(last).exists();
        if place || !is_it(last) {
            return None;
        }
        self.logs.pop()
    }

    pub fn window(&self) -> Result<TimeWindow> {
        let now = chrono::Utc::now();
        let conv = |s: &Option<String>| -> Result<Option<String>> {
            s.as_deref()
                .map(|s| parse_time(s, now).map_err(anyhow::Error::msg))
                .transpose()
        };
        Ok(TimeWindow {
            since: conv(&self.since)?,
            until: conv(&self.until)?,
        })
    }
}

/// Discovered inputs.
pub struct Inputs {
    pub files: Vec<LogFile>,
    pub fetcher: Option<Fetcher>,
    /// Local entries not read (FIFOs, devices, symlinks out of the tree), and why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The files of `--logs`. With a bounded `window`, an S3 prefix is walked
/// and its date folders outside the window are not listed
/// ([`s3::list_within`]); local trees are listed whole (the engine prunes
/// them by key before reading).
pub async fn discover(
    logs: &[String],
    aws: &AwsArgs,
    follow_symlinks: bool,
    window: Option<&TimeWindow>,
) -> Result<Inputs> {
    if logs.is_empty() {
        bail!("no logs given: pass --logs PATH or --logs s3://bucket/prefix");
    }
    let mut files = vec![];
    let mut s3f: Option<s3::S3Fetcher> = None;
    let mut local = vec![];
    for l in logs {
        if let Some((bucket, prefix)) = s3::parse_s3_url(l) {
            if s3f.is_none() {
                let conf = aws.options().load().await?;
                s3f = Some(s3::S3Fetcher::new(conf, aws.endpoint_url.is_some()));
            }
            let client = s3f.as_mut().expect("set above").bucket(&bucket).await;
            match window.filter(|w| w.is_bounded()) {
                Some(w) => {
                    let w = w.clone();
                    let keep: s3::KeepDays = Arc::new(move |lo, hi| w.keeps_days(lo, hi));
                    files.extend(s3::list_within(&client, &bucket, &prefix, keep).await?)
                }
                None => files.extend(s3::list(&client, &bucket, &prefix).await?),
            }
        } else {
            local.push(PathBuf::from(l));
        }
    }
    let found = irprep_core::source::discover(
        &local,
        irprep_core::source::DiscoverOptions { follow_symlinks },
    )
    .map_err(|e| anyhow::anyhow!("reading --logs: {e}"))?;
    files.extend(found.files);
    let fetcher = s3f.map(|f| Arc::new(f) as Fetcher);
    Ok(Inputs {
        files,
        fetcher,
        skipped: found.skipped,
    })
}

/// A progress bar on stderr for long scans; hidden off a TTY or with --quiet.
pub fn progress(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} scanning {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

/// A counting spinner on stderr for work of unknown size; hidden off a TTY
/// or with --quiet.
pub fn spinner(what: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what}: {{pos}} events, {{per_sec}}, {{elapsed}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// An engine over the inputs, reporting problems on stderr.
pub async fn engine(args: &LogArgs, aws: &AwsArgs, quiet: bool) -> Result<(Engine, ProgressBar)> {
    // One window for the listing and the scan (a relative time read twice
    // could fall on two days).
    let window = args.window()?;
    let inputs = discover(&args.logs, aws, args.follow_symlinks, Some(&window)).await?;
    let total: u64 = inputs.files.iter().map(|f| f.size).sum();
    let pb = progress(total, quiet);
    let pb2 = pb.clone();
    let pb3 = pb.clone();
    let diag = Diagnostics::new(args.strict)
        .with_progress(move |n| pb2.inc(n))
        .with_issue_sink(move |i| {
            if !quiet {
                pb3.suspend(|| {
                    eprintln!(
                        "irprep: warning: {}",
                        crate::output::stderr_safe(&i.to_string())
                    )
                });
            }
        });
    // What discovery would not read is that file's problem, reported like
    // any other (and the exit code says so).
    for (path, why) in inputs.skipped {
        diag.report(InputIssue::file(
            path.display().to_string(),
            irprep_core::cloudtrail::Problem {
                offset: None,
                record: None,
                message: format!("not read: {why}"),
            },
        ));
    }
    let engine = Engine::new(Arc::new(diag));
    engine.register_logs(inputs.files, inputs.fetcher, window)?;
    Ok((engine, pb))
}

/// Notes after a scan: digests/Insights counted, inputs skipped.
pub fn summary(engine: &Engine, quiet: bool) {
    let d = &engine.diag;
    let issues = d.issues();
    if quiet {
        return;
    }
    let digests = Diagnostics::get(&d.digest_files);
    let insights = Diagnostics::get(&d.insight_files);
    if digests + insights > 0 {
        eprintln!("irprep: note: skipped {digests} CloudTrail digest file(s) and {insights} Insights file(s) (not API events)");
    }
    if d.any_skipped() {
        let files = Diagnostics::get(&d.files_skipped);
        let records = Diagnostics::get(&d.records_skipped);
        let unlisted = Diagnostics::get(&d.unlisted_issues);
        let more = if unlisted > 0 {
            format!(
                " ({} listed above, {unlisted} more not listed)",
                issues.len()
            )
        } else {
            String::new()
        };
        eprintln!(
            "irprep: warning: {files} file(s) and {records} record(s) skipped{more}; the rest was analysed (exit code 3)"
        );
    }
}

#[derive(Debug, Clone, Args, Default)]
pub struct CatalogueArgs {
    /// Add the detections (YAML) found under this directory.
    #[arg(long = "detections", value_name = "DIR")]
    pub detections: Vec<PathBuf>,
    /// Add the Sigma rules (product: aws, service: cloudtrail) under this directory.
    #[arg(long = "sigma", value_name = "DIR")]
    pub sigma: Vec<PathBuf>,
}

impl CatalogueArgs {
    pub fn load(&self) -> Result<Catalogue> {
        let mut c = Catalogue::builtin();
        for d in &self.detections {
            c.add_dir(d).map_err(anyhow::Error::msg)?;
        }
        for d in &self.sigma {
            irprep_core::sigma::add_dir(&mut c, d).map_err(anyhow::Error::msg)?;
        }
        Ok(c)
    }
}

/// Which accounts, regions and sources.
#[derive(Debug, Clone, Args)]
pub struct ScopeArgs {
    /// Sources, comma-separated: cloudtrail, vpcflow, dns, s3-access, elb, waf, eks, guardduty, or all (default: all; `enable` and `prepare`: all but guardduty, a service charged per event analysed, which they turn on only when named).
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
            .map(|s| Source::parse(s).ok_or_else(|| crate::commands::usage(format!("unknown source '{s}' (cloudtrail, vpcflow, dns, s3-access, elb, waf, eks, guardduty)"))))
            .collect()
    }

    /// The sources `enable` and `prepare` turn on: those named, or by
    /// default every log source but GuardDuty. GuardDuty is a threat
    /// detection service charged per event it analyses, in every Region; it
    /// is turned on only when named (`guardduty` or `all`), as AWS's
    /// Assisted Log Enabler leaves it out of its `--all`.
    pub(crate) fn enable_sources(&self) -> Result<Vec<Source>> {
        if self.sources.is_empty() {
            return Ok(Source::ALL
                .into_iter()
                .filter(|s| *s != Source::GuardDuty)
                .collect());
        }
        self.sources()
    }

    /// Credentials, the caller's account, the targets and the bucket layout.
    pub(crate) async fn resolve(&self, bucket: Option<&str>) -> Result<(org::Targets, Layout)> {
        if !self.org && (!self.include.is_empty() || !self.exclude.is_empty()) {
            return Err(crate::commands::usage(
                "--include/--exclude select Organization accounts: add --org",
            ));
        }
        let conf = self.aws.options().load().await?;
        let caller = self.aws.options().account_id(&conf).await?;
        let home_region = conf
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let (org_id, org_management) = if self.org {
            let (id, m) = org::organization(&conf).await?;
            (Some(id), Some(m))
        } else {
            (None, None)
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
            org_management,
            cache: Default::default(),
            ledger: irprep_aws::logs::ledger::Ledger::fresh(),
            ledger_stored: false,
        };
        Ok((targets, layout))
    }
}
