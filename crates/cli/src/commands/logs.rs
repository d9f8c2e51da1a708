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

pub async fn run(cmd: LogsCmd, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    match cmd {
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
            let (targets, mut layout) = scope.resolve(bucket.as_deref()).await?;
            logs::open_ledger(&targets, &mut layout).await?;
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
            }
            crate::output::write_failures(&failed);
            Ok(crate::output::code(&failed).max(crate::output::code(&errors)))
        }
        LogsCmd::Cleanup {
            scope,
            delete_buckets,
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
            let ins = logs::plan_cleanup(
                &targets,
                &layout,
                &sources,
                delete_buckets,
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
            let failed =
                logs::apply_and_record(&targets, &mut layout, &ins.changes, scope.concurrency)
                    .await;
            crate::output::write_failures(&failed);
            Ok(crate::output::code(&failed).max(crate::output::code(&errors)))
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
