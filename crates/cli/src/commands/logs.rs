//! `irprep logs status|enable|cleanup|role-template` and `irprep iam-policy`.

use anyhow::Result;
use clap::Subcommand;
use irprep_aws::logs::{self, iam, EnableOptions, State};

use crate::args::ScopeArgs;
use crate::output::human_table;
use crate::output::{print_changes, print_status};

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
        /// Object Lock (governance mode) on the buckets irprep creates: no log can be deleted or overwritten for this many days without s3:BypassGovernanceRetention. Permanent on the bucket.
        #[arg(long, value_name = "DAYS")]
        object_lock_days: Option<u32>,
        /// Flow-log file format.
        #[arg(long, value_parser = ["text", "parquet"], default_value = "text")]
        flow_format: String,
        /// Flow logs with Hive-compatible S3 prefixes.
        #[arg(long)]
        flow_hive: bool,
        /// Flow logs with hourly S3 prefixes.
        #[arg(long)]
        flow_hourly: bool,
        /// Flow-log aggregation interval in seconds: 600 (AWS's default) or 60 (minute timing, up to ten times the records and their cost).
        #[arg(long, value_parser = ["60", "600"], default_value = "600")]
        flow_interval: String,
        /// Export GuardDuty findings to each region's log bucket (AWSLogs/<account>/GuardDuty/<region>/, the guardduty table's layout), KMS-encrypted as GuardDuty requires.
        #[arg(long)]
        guardduty_export: bool,
        /// The KMS key of the findings export (in each region's own: a key ARN); default: a key created for it, whose policy lets GuardDuty use it (removed by cleanup, after AWS's 7-day wait).
        #[arg(long, value_name = "KEY_ARN", requires = "guardduty_export")]
        guardduty_kms_key: Option<String>,
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
        /// Also empty and delete irprep's log buckets (every version of every log in them). Each bucket must be named: typed at the prompt, or with --confirm-delete.
        #[arg(long)]
        delete_buckets: bool,
        /// With --delete-buckets and --yes: the bucket to delete (repeatable); a planned bucket not named is not deleted.
        #[arg(long, value_name = "BUCKET", requires = "delete_buckets")]
        confirm_delete: Vec<String>,
        /// With --delete-buckets: keep a bucket whose newest log is younger than this many days.
        #[arg(long, default_value_t = 30, requires = "delete_buckets")]
        min_log_age_days: u32,
        #[arg(long)]
        dry_run: bool,
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Check CloudTrail log file integrity: every digest's signature and chain, every log file's hash (locally or on S3).
    ///
    /// Give the trail's files (a local copy made with `aws s3 sync`, or s3://bucket/prefix):
    /// digests under CloudTrail-Digest/ and the log files they list. A log file changed,
    /// deleted or planted, a digest deleted, replaced or forged, shows. Exit 1 when
    /// anything was changed, 3 when something could not be read.
    Validate {
        /// The trail's files: directories, files or s3://bucket/prefix (several after one flag, or repeated).
        #[arg(long = "logs", value_name = "PATH|s3://…", required = true, num_args = 1.., action = clap::ArgAction::Append)]
        logs: Vec<String>,
        /// CloudTrail's public keys, as `aws cloudtrail list-public-keys --region R` prints them (repeatable; default: asked of CloudTrail for s3:// input, none for local files).
        #[arg(long, value_name = "FILE")]
        public_keys: Vec<std::path::PathBuf>,
        /// Ask CloudTrail (ListPublicKeys) for the keys of local files too.
        #[arg(long)]
        fetch_public_keys: bool,
        /// Also read files that symlinks in a --logs directory point to outside it.
        #[arg(long)]
        follow_symlinks: bool,
        /// List every file checked, not only those that are not valid (table output).
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = crate::output::Format::Table)]
        format: crate::output::Format,
        #[command(flatten)]
        aws: crate::args::AwsArgs,
    },
    /// Prove that logs arrive: account × region × source, delivering, waiting (since when) or failing (with AWS's error).
    ///
    /// CloudTrail: one harmless read-only call per region (EC2 DescribeRegions) whose user
    /// agent carries `irprep-verify-<id>`, then looked for in the trail's delivery files.
    /// Flow logs: EC2's delivery status, then the first object under the layout's prefix.
    /// Resolver: each config's and VPC association's status, then the first file per VPC.
    /// S3 access, ELB, WAF: the first file under each configured destination.
    /// EKS and GuardDuty are listed as not checked. Exit 1 while anything is waiting or failing.
    Verify {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Keep checking until everything delivers or this long has passed (30s, 15m, 1h).
        #[arg(long, value_name = "DURATION")]
        wait: Option<String>,
        /// Seconds between checks with --wait.
        #[arg(long, default_value_t = 30, value_name = "SECONDS")]
        every: u64,
        /// Look for the marked calls of an earlier run (its id) instead of making new ones.
        #[arg(long, value_name = "ID")]
        marker: Option<String>,
    },
    /// Print the CloudFormation template (StackSet-ready) of the member-account role for --org.
    RoleTemplate {
        #[arg(long, default_value = "IrprepLogsRole")]
        role_name: String,
    },
    /// Copy logs that are not in S3 into local files the engine reads: CloudTrail event history (the last 90 days of management events every account keeps, trail or not) and EKS audit events (CloudWatch Logs).
    ///
    /// Event history is written as CloudTrail delivery files (AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/),
    /// EKS audit events as AWSLogs/<account>/eks-audit/<region>/<cluster>/<yyyy>/<mm>/<dd>/*.jsonl.gz:
    /// `query`, `hunt`, `timeline` and `drill --logs` read the directory as it is. LookupEvents is paced
    /// to two calls a second per account and region and retried when throttled. A run saves its
    /// progress after every page: run it again to continue after an interruption.
    Collect {
        #[command(flatten)]
        scope: ScopeArgs,
        /// CloudTrail event history (LookupEvents).
        #[arg(long)]
        event_history: bool,
        /// EKS audit events (FilterLogEvents on /aws/eks/<cluster>/cluster).
        #[arg(long)]
        eks: bool,
        /// EKS clusters (comma-separated); default: every cluster of each account and region.
        #[arg(long, value_delimiter = ',')]
        clusters: Vec<String>,
        /// Start of the window: RFC 3339, a date, or a span back from now (90d: all of event history).
        #[arg(long, default_value = "90d")]
        since: String,
        /// End of the window (default: now).
        #[arg(long)]
        until: Option<String>,
        /// Directory to write to (created).
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

pub async fn run(cmd: LogsCmd, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    match cmd {
        LogsCmd::Collect {
            scope,
            event_history,
            eks,
            clusters,
            since,
            until,
            out,
        } => {
            if !event_history && !eks {
                return Err(super::usage(
                    "say what to collect: --event-history and/or --eks",
                ));
            }
            let now = chrono::Utc::now();
            let time = |s: &str, flag: &str| -> Result<chrono::DateTime<chrono::Utc>> {
                let t = irprep_core::timeparse::parse_time(s, now)
                    .map_err(|e| super::usage(format!("{flag}: {e}")))?;
                Ok(chrono::DateTime::parse_from_rfc3339(&t)
                    .map_err(|e| super::usage(format!("{flag}: {e}")))?
                    .with_timezone(&chrono::Utc))
            };
            let start = time(&since, "--since")?;
            let end = match &until {
                Some(u) => time(u, "--until")?,
                None => now,
            };
            if start >= end {
                return Err(super::usage("--since must be before --until"));
            }
            std::fs::create_dir_all(&out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
            let (targets, _) = scope.resolve(None).await?;
            let req = irprep::ops::collect::Request {
                event_history,
                eks,
                clusters,
                start,
                end,
            };
            let pb = crate::args::spinner("collecting", quiet);
            let mut on_page = |n: u64| pb.inc(n);
            let (done, failed) = irprep::ops::collect::run(
                &targets,
                scope.aws.endpoint_url.clone(),
                &req,
                &out,
                &mut on_page,
            )
            .await;
            pb.finish_and_clear();
            let rows: Vec<serde_json::Map<String, serde_json::Value>> =
                crate::output::objects(&done);
            let headers: Vec<String> = [
                "what",
                "account",
                "region",
                "pages",
                "events",
                "files",
                "resumed_done",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            crate::output::write_objects(
                &mut std::io::stdout().lock(),
                scope.format,
                &headers,
                &rows,
            )?;
            for f in &failed {
                eprintln!(
                    "irprep: {} {}/{}: {}",
                    f.what,
                    f.account,
                    f.region,
                    crate::output::terminal_safe(&f.error)
                );
            }
            if !quiet && failed.is_empty() {
                eprintln!(
                    "irprep: written under {}; read it with `irprep hunt --logs {}`",
                    out.display(),
                    out.display()
                );
            }
            Ok(if failed.is_empty() {
                irprep::exit::ExitStatus::Ok
            } else {
                irprep::exit::ExitStatus::Partial
            })
        }
        LogsCmd::Verify {
            scope,
            wait,
            every,
            marker,
        } => verify(scope, wait, every, marker, quiet).await,
        LogsCmd::Status {
            scope,
            fail_on_gaps,
        } => {
            let sources = scope.sources()?;
            let (targets, layout) = scope.resolve(None).await?;
            let ins = logs::inspect(&targets, &layout, None, &sources, scope.concurrency).await;
            print_status(&ins, &sources, scope.format)?;
            crate::output::write_failures(&ins.failures);
            let errors = ins.rows.iter().filter(|r| r.state == State::Error).count();
            if errors > 0 && !quiet {
                eprintln!(
                    "irprep: {errors} source check(s) failed (state 'error'); see the reasons"
                );
            }
            if errors > 0 || !ins.failures.is_empty() {
                return Ok(irprep::exit::ExitStatus::Partial);
            }
            let gaps = ins
                .rows
                .iter()
                .any(|r| matches!(r.state, State::Off | State::Partial));
            Ok(if fail_on_gaps && gaps {
                irprep::exit::ExitStatus::Findings
            } else {
                irprep::exit::ExitStatus::Ok
            })
        }
        LogsCmd::Enable {
            scope,
            bucket,
            kms_key,
            retention_days,
            object_lock_days,
            flow_format,
            flow_hive,
            flow_hourly,
            flow_interval,
            guardduty_export,
            guardduty_kms_key,
            dry_run,
            yes,
        } => {
            let sources = scope.enable_sources()?;
            if retention_days < 1 {
                return Err(super::usage("--retention-days must be at least 1"));
            }
            if let Some(d) = object_lock_days {
                if d < 1 || d >= retention_days {
                    return Err(super::usage(
                        "--object-lock-days must be at least 1 and less than --retention-days",
                    ));
                }
                if bucket.is_some() {
                    return Err(super::usage(
                        "--object-lock-days applies to the buckets irprep creates, not to --bucket (Object Lock cannot be turned off)",
                    ));
                }
            }
            let (targets, mut layout) = scope.resolve(bucket.as_deref()).await?;
            logs::open_ledger(&targets, &mut layout).await?;
            let o = EnableOptions {
                sources: sources.clone(),
                bucket,
                kms_key,
                retention_days,
                object_lock_days,
                flow_parquet: flow_format == "parquet",
                flow_hive,
                flow_hourly,
                flow_interval: flow_interval.parse().unwrap_or(600),
                guardduty_export,
                guardduty_kms_key,
            };
            let ins = logs::inspect(&targets, &layout, Some(&o), &sources, scope.concurrency).await;
            print_changes(
                &ins.changes,
                scope.format,
                quiet,
                "Nothing to do: every selected source is on.",
            )?;
            // EKS writes to a CloudWatch Logs group of its own, which keeps
            // (and bills for) every event unless the group has a retention.
            // The group may be the user's, with their own setting: irprep
            // leaves it and says so (review finding 12).
            let eks: Vec<&str> = ins
                .changes
                .iter()
                .filter(|c| c.source == logs::Source::Eks.name() && c.action == "enable")
                .filter_map(|c| c.resource.strip_prefix("EKS cluster "))
                .collect();
            if !eks.is_empty() && !quiet {
                eprintln!(
                    "irprep: note: EKS writes control-plane logs to the CloudWatch Logs group /aws/eks/<cluster>/cluster, kept (and billed) forever unless the group has a retention; irprep does not change it. To set one: aws logs put-retention-policy --log-group-name /aws/eks/{}/cluster --retention-in-days 365",
                    crate::output::stderr_safe(eks[0])
                );
            }
            // A customer managed key must let the delivering services use
            // it; irprep never edits a key policy, so the plan stops here.
            let delivery = [logs::Source::VpcFlow, logs::Source::Dns, logs::Source::Waf]
                .iter()
                .any(|s| sources.contains(s));
            let needs = logs::kms::needs(
                &ins.changes,
                delivery,
                sources.contains(&logs::Source::CloudTrail),
            );
            let home = targets
                .list
                .iter()
                .find(|t| t.management && t.home)
                .map(|t| (t.conf.clone(), t.account.clone()))
                .ok_or_else(|| anyhow::anyhow!("no credentials for the home account"));
            // The user's --bucket keeps its default encryption; when that is
            // SSE-KMS, what this plan points at the bucket encrypts with its
            // key. A bucket or key that cannot be read from here (another
            // account's) is said, and the plan goes on: its owner answers for
            // its key.
            let mut unreadable = None;
            let mut unmet = vec![];
            if let (Some(b), Ok((conf, account))) = (o.bucket.as_deref(), &home) {
                let bucket_needs = match logs::bucket::default_kms_key(conf, b, account).await {
                    Ok(Some((key, region))) => {
                        logs::kms::bucket_needs(&ins.changes, b, key.as_deref(), region.as_deref())
                    }
                    Ok(None) => vec![],
                    Err(e) => {
                        unreadable = Some(format!("{e:#}"));
                        vec![]
                    }
                };
                if !bucket_needs.is_empty() {
                    match logs::kms::unmet(conf, &bucket_needs).await {
                        Ok(u) => unmet.extend(u),
                        Err(e) => unreadable = Some(format!("{e:#}")),
                    }
                }
                if let (Some(why), false) = (&unreadable, quiet) {
                    eprintln!(
                        "irprep: note: the default encryption of s3://{} or its key could not be read ({}): whether the services may use that key is not checked",
                        crate::output::stderr_safe(b),
                        crate::output::stderr_safe(why)
                    );
                }
            }
            if !needs.is_empty() {
                let (home, _) = home?;
                unmet.extend(logs::kms::unmet(&home, &needs).await?);
            }
            if !unmet.is_empty() {
                for (n, remedy) in &unmet {
                    match remedy {
                        logs::kms::Remedy::Statement(st) => eprintln!(
                            "irprep: the key policy of {} does not let {} use it for {}: add\n{}",
                            crate::output::stderr_safe(&n.key),
                            n.service,
                            crate::output::stderr_safe(&n.why),
                            serde_json::to_string_pretty(st).unwrap_or_default()
                        ),
                        logs::kms::Remedy::AwsManaged => eprintln!(
                            "irprep: {} is an AWS managed key, which {} cannot use for {} (its policy cannot be changed): use a customer managed key whose policy allows the service, or SSE-S3",
                            crate::output::stderr_safe(&n.key),
                            n.service,
                            crate::output::stderr_safe(&n.why)
                        ),
                    }
                }
                return Err(super::usage(
                    "a KMS key the logs would be encrypted with must let the services above use it (nothing was changed)",
                ));
            }
            let errors = ins.problems();
            crate::output::write_left_alone(&ins.left_alone);
            // What could not be planned is shown before the question.
            crate::output::write_failures(&errors);
            if dry_run
                || ins.changes.is_empty()
                || !crate::prompt::confirm("Apply these changes?", yes, "enable")?
            {
                return Ok(crate::output::code(&errors));
            }
            let failed =
                logs::apply_and_record(&targets, &mut layout, &ins.changes, scope.concurrency)
                    .await;
            if !quiet {
                eprintln!(
                    "irprep: applied {} of {} change(s)",
                    ins.changes.len().saturating_sub(failed.len()),
                    ins.changes.len()
                );
                // Turned on is not delivering (a bucket policy, a key policy,
                // a service's own error): prove it.
                eprintln!(
                    "irprep: delivery is not proven yet: `irprep logs verify --wait 15m` checks that the files arrive"
                );
            }
            crate::output::write_failures(&failed);
            Ok(crate::output::code(&failed).max(crate::output::code(&errors)))
        }
        LogsCmd::Cleanup {
            scope,
            delete_buckets,
            confirm_delete,
            min_log_age_days,
            dry_run,
            yes,
        } => {
            let sources = scope.sources()?;
            let (targets, mut layout) = scope.resolve(None).await?;
            logs::open_ledger(&targets, &mut layout).await?;
            if !layout.ledger_stored && !quiet {
                eprintln!(
                    "irprep: no ledger ({} in SSM Parameter Store, {}): nothing here is known to be irprep's, so nothing is removed",
                    logs::ledger::INSTALLATION_PARAM,
                    layout.home_region
                );
            }
            let mut ins = logs::plan_cleanup(
                &targets,
                &layout,
                &sources,
                delete_buckets.then_some(min_log_age_days),
                scope.concurrency,
            )
            .await;
            print_changes(
                &ins.changes,
                scope.format,
                quiet,
                "Nothing to remove: irprep made nothing here.",
            )?;
            let errors = ins.problems();
            crate::output::write_left_alone(&ins.left_alone);
            crate::output::write_failures(&errors);
            if dry_run
                || ins.changes.is_empty()
                || !crate::prompt::confirm("Apply these changes?", yes, "clean up")?
            {
                return Ok(crate::output::code(&errors));
            }
            // Deleting a bucket erases every log in it: each one is named
            // (typed, or --confirm-delete), or it stays.
            let mut kept = vec![];
            ins.changes.retain(|c| {
                let logs::Op::DeleteBucket { name, .. } = &c.op else {
                    return true;
                };
                let named = if yes {
                    confirm_delete.iter().any(|n| n == name)
                } else {
                    crate::prompt::type_to_confirm(
                        &format!(
                        "Deleting s3://{name} erases every log in it. Type its name to delete it:"
                    ),
                        name,
                    )
                    .unwrap_or(false)
                };
                if !named {
                    kept.push(name.clone());
                }
                named
            });
            for name in &kept {
                eprintln!(
                    "irprep: s3://{} kept: not named{}",
                    crate::output::stderr_safe(name),
                    if yes { " with --confirm-delete" } else { "" }
                );
            }
            let failed =
                logs::apply_and_record(&targets, &mut layout, &ins.changes, scope.concurrency)
                    .await;
            crate::output::write_failures(&failed);
            let status = crate::output::code(&failed).max(crate::output::code(&errors));
            Ok(if kept.is_empty() {
                status
            } else {
                status.max(irprep::exit::ExitStatus::Partial)
            })
        }
        LogsCmd::Validate {
            logs,
            public_keys,
            fetch_public_keys,
            follow_symlinks,
            all,
            format,
            aws,
        } => {
            validate(
                logs,
                public_keys,
                fetch_public_keys,
                follow_symlinks,
                all,
                format,
                &aws,
                quiet,
            )
            .await
        }
        LogsCmd::RoleTemplate { role_name } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&iam::role_template(&role_name))?
            );
            Ok(irprep::exit::ExitStatus::Ok)
        }
    }
}

/// `irprep iam-policy <command>`.
pub fn iam_policy(command: Option<String>) -> Result<irprep::exit::ExitStatus> {
    let Some(c) = command else {
        let rows: Vec<Vec<String>> = iam::commands()
            .into_iter()
            .map(|(n, d)| vec![n.to_string(), d.to_string()])
            .collect();
        println!("{}", human_table(&["policy".into(), "for".into()], &rows));
        return Ok(irprep::exit::ExitStatus::Ok);
    };
    match iam::policy(&c) {
        Some(p) => {
            println!("{}", serde_json::to_string_pretty(&p)?);
            Ok(irprep::exit::ExitStatus::Ok)
        }
        None => Err(super::usage(format!(
            "no policy named '{c}' (run `irprep iam-policy` for the list)"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn validate(
    logs: Vec<String>,
    public_keys: Vec<std::path::PathBuf>,
    fetch_public_keys: bool,
    follow_symlinks: bool,
    all: bool,
    format: crate::output::Format,
    aws: &crate::args::AwsArgs,
    quiet: bool,
) -> Result<irprep::exit::ExitStatus> {
    use irprep::exit::ExitStatus;
    use irprep::ops::integrity::{self, Keys};
    use irprep_core::integrity::Verdict;
    let mut given = vec![];
    for p in &public_keys {
        let text = std::fs::read_to_string(p)
            .map_err(|e| super::usage(format!("--public-keys {}: {e}", p.display())))?;
        given.extend(
            irprep_core::integrity::parse_public_keys(&text)
                .map_err(|e| super::usage(format!("--public-keys {}: {e}", p.display())))?,
        );
    }
    let inputs = crate::args::discover(&logs, aws, follow_symlinks, None).await?;
    let remote = logs.iter().any(|l| l.starts_with("s3://"));
    let keys = if !given.is_empty() {
        Keys::Given(given)
    } else if remote || fetch_public_keys {
        Keys::CloudTrail(Box::new(aws.options().load().await?))
    } else {
        Keys::None
    };
    let pb = crate::args::progress(0, quiet);
    pb.set_length(inputs.files.len() as u64);
    let pb2 = pb.clone();
    let v = integrity::validate(&inputs.files, inputs.fetcher.as_ref(), keys, &move |n| {
        pb2.inc(n)
    })
    .await;
    pb.finish_and_clear();
    let r = &v.report;
    let headers: Vec<String> = [
        "verdict", "kind", "account", "region", "time", "file", "detail",
    ]
    .map(String::from)
    .to_vec();
    let shown: Vec<_> = r
        .checks
        .iter()
        .filter(|c| all || format != crate::output::Format::Table || c.verdict != Verdict::Valid)
        .cloned()
        .collect();
    let mut out = std::io::stdout().lock();
    let digests = r.checks.iter().filter(|c| c.kind == "digest").count();
    if r.checks.is_empty() {
        if !quiet {
            eprintln!("irprep: no CloudTrail digest or log files among the inputs");
        }
    } else if !shown.is_empty() {
        crate::output::write_objects(&mut out, format, &headers, &crate::output::objects(&shown))?;
    }
    for n in &v.notes {
        eprintln!("irprep: note: {}", crate::output::stderr_safe(n));
    }
    for (path, why) in &inputs.skipped {
        eprintln!(
            "irprep: warning: {}: skipped: {why}",
            crate::output::stderr_safe(&path.display().to_string())
        );
    }
    if !quiet && !r.checks.is_empty() {
        let mut counts: Vec<String> = vec![];
        for v in [
            Verdict::Valid,
            Verdict::Unverified,
            Verdict::Uncovered,
            Verdict::Unreadable,
            Verdict::Missing,
            Verdict::Unlisted,
            Verdict::Tampered,
        ] {
            let n = r.count(v);
            if n > 0 {
                let name = serde_json::to_value(v)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                counts.push(format!("{n} {name}"));
            }
        }
        eprintln!(
            "irprep: {digests} digest(s), {} log file(s): {}",
            r.checks.len() - digests,
            counts.join(", ")
        );
        for c in &r.chains {
            eprintln!(
                "irprep: {} {}: {} digest(s) from {} to {} (digests deleted after the last one cannot show: compare with the trail's LatestDigestDeliveryTime)",
                crate::output::stderr_safe(&c.account),
                crate::output::stderr_safe(&c.region),
                c.digests,
                crate::output::stderr_safe(&c.first_start),
                crate::output::stderr_safe(&c.last_end)
            );
        }
    }
    let changed = r.checks.iter().any(|c| c.verdict.is_failure());
    let unread = r.count(Verdict::Unreadable) > 0 || !inputs.skipped.is_empty();
    let mut status = ExitStatus::Ok;
    if changed {
        status = status.max(ExitStatus::Findings);
    }
    if unread {
        status = status.max(ExitStatus::Partial);
    }
    Ok(status)
}

/// A duration such as `90s`, `15m`, `1h` (a bare number is seconds).
fn duration(s: &str) -> Result<std::time::Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| super::usage(format!("--wait {s}: not a duration (30s, 15m, 1h)")))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(super::usage(format!(
                "--wait {s}: not a duration (30s, 15m, 1h)"
            )))
        }
    };
    Ok(std::time::Duration::from_secs(secs))
}

async fn verify(
    scope: ScopeArgs,
    wait: Option<String>,
    every: u64,
    marker: Option<String>,
    quiet: bool,
) -> Result<irprep::exit::ExitStatus> {
    use logs::Delivery;
    let sources = scope.sources()?;
    let until = wait.as_deref().map(duration).transpose()?;
    if let Some(m) = &marker {
        if m.is_empty() || m.len() > 64 || !m.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(super::usage(
                "--marker: letters, digits and '-', at most 64",
            ));
        }
    }
    let (targets, layout) = scope.resolve(None).await?;
    let mut v = logs::Verifier::new();
    if let Some(m) = marker {
        v.reuse(m);
    }
    if !quiet {
        eprintln!(
            "irprep: marked calls carry irprep-verify-{} in their user agent (look again later with --marker {})",
            v.marker, v.marker
        );
    }
    let start = std::time::Instant::now();
    let pb = crate::args::spinner("waiting for deliveries", quiet || until.is_none());
    let rows = loop {
        let rows = v
            .round(&targets, &layout, &sources, scope.concurrency)
            .await;
        let pending = rows
            .iter()
            .filter(|r| matches!(r.state, Delivery::Waiting | Delivery::Failing))
            .count();
        pb.set_position(rows.len().saturating_sub(pending) as u64);
        match until {
            Some(d)
                if pending > 0 && start.elapsed() + std::time::Duration::from_secs(every) <= d =>
            {
                tokio::time::sleep(std::time::Duration::from_secs(every.max(1))).await;
            }
            _ => break rows,
        }
    };
    pb.finish_and_clear();
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = rows
        .iter()
        .map(|r| {
            let mut m = serde_json::Map::new();
            m.insert("account".into(), r.account.clone().into());
            m.insert("region".into(), r.region.clone().into());
            m.insert("source".into(), r.source.name().into());
            m.insert("state".into(), r.state.name().into());
            m.insert("detail".into(), r.detail.clone().into());
            m
        })
        .collect();
    let headers: Vec<String> = ["account", "region", "source", "state", "detail"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    crate::output::write_objects(
        &mut std::io::stdout().lock(),
        scope.format,
        &headers,
        &objects,
    )?;
    crate::output::write_failures(&targets.failures);
    let pending = rows
        .iter()
        .any(|r| matches!(r.state, Delivery::Waiting | Delivery::Failing));
    Ok(if pending {
        irprep::exit::ExitStatus::Findings
    } else if !targets.failures.is_empty() {
        irprep::exit::ExitStatus::Partial
    } else {
        irprep::exit::ExitStatus::Ok
    })
}
