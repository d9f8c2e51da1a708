//! `irprep`: get an AWS estate ready for a security incident, and work one.

mod args;
mod commands;
mod output;
mod prompt;
mod report;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use irprep::exit::ExitStatus;

#[derive(Debug, Parser)]
#[command(
    name = "irprep",
    version,
    about = "Get an AWS estate ready for a security incident, and work one.",
    long_about = "irprep turns on the logs an incident needs, makes them queryable with Athena SQL \
(locally or on Athena), rehearses attacks safely, and hunts through CloudTrail with a tested \
detection catalogue.\n\nRun `irprep drill` for an offline end-to-end rehearsal with no AWS account.",
    after_help = "Exit codes: 0 ok, 1 findings at --fail-on / drill failure, 2 usage, 3 some input skipped, 4 error."
)]
pub struct Cli {
    /// No progress bars or notes on stderr (errors still print).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// CSV output: prefix cells a spreadsheet would run as formulas (=, +, -, @) with '. On when stdout is a terminal.
    #[arg(long, global = true)]
    pub csv_safe: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Athena SQL over log files or an S3 prefix (cloudtrail, vpcflow, dns), locally or on Athena.
    Query(commands::query::QueryArgs),
    /// Run the detection catalogue over the logs, in one scan, and report findings.
    Hunt(commands::hunt::HuntArgs),
    /// List or show the detections (built-in, --detections DIR, --sigma DIR).
    #[command(subcommand)]
    Detections(commands::detections::DetectionsCmd),
    /// The chronological events of one actor (principal, key, IP, session, event).
    Timeline(commands::timeline::TimelineArgs),
    /// Investigation queries (the Security Analytics Bootstrap's, fixed): list, show, run.
    #[command(subcommand)]
    Queries(commands::queries::QueriesCmd),
    /// Safe attack scenarios: list, show, run on AWS, verify, synthesise CloudTrail.
    #[command(subcommand)]
    Simulate(commands::simulate::SimulateCmd),
    /// Rehearse: simulate scenarios, hunt, and prove each was detected.
    Drill(commands::drill::DrillArgs),
    /// Write a hunt's (and a drill's) results as one self-contained HTML page.
    Report(commands::report::ReportArgs),
    /// Security logs of an account or Organization: status, enable (plan first), cleanup.
    #[command(subcommand)]
    Logs(commands::logs::LogsCmd),
    /// Athena: table DDL, deploy/destroy of the Glue tables, workgroup and named queries, CloudFormation.
    #[command(subcommand)]
    Analytics(commands::analytics::AnalyticsCmd),
    /// Get ready in one plan: turn the logs on, make them queryable on Athena, say how to hunt.
    Prepare(commands::prepare::PrepareArgs),
    /// Print the least-privilege IAM policy a command needs (no argument: the list).
    IamPolicy {
        /// logs-status, logs-enable, logs-cleanup, logs-org, analytics-deploy, analytics-destroy, athena-engine, s3-logs.
        command: Option<String>,
    },
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    // A panic is a bug, reported on one line with its text made safe (it may
    // quote log content); a reader's panic is caught at its file and the
    // file reported as skipped, the rest analysed.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("irprep: internal error{at}: {}", output::stderr_safe(&msg));
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Ok
            };
            let _ = e.print();
            return code.into();
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("irprep: error: cannot start the async runtime: {e}");
            return ExitStatus::Error.into();
        }
    };
    let quiet = cli.quiet;
    {
        use std::io::IsTerminal;
        output::set_csv_safe(cli.csv_safe || std::io::stdout().is_terminal());
    }
    // Diagnostics of the libraries (`tracing`): RUST_LOG, or the hunt's
    // profile with `hunt --timings`.
    let profile = matches!(&cli.command, Command::Hunt(a) if a.timings);
    // `RUST_LOG` takes `target=level` directives (`irprep::hunt=debug`).
    let mut filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<tracing_subscriber::filter::Targets>().ok());
    if profile {
        filter = Some(
            filter
                .unwrap_or_default()
                .with_target("irprep::hunt", tracing::Level::DEBUG),
        );
    }
    if let Some(filter) = filter {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .without_time()
                    .with_ansi(false),
            )
            .with(filter)
            .init();
    }
    let res = rt.block_on(async move {
        match cli.command {
            Command::Query(a) => commands::query::run(a, quiet).await,
            Command::Hunt(a) => commands::hunt::run(a, quiet).await,
            Command::Detections(c) => commands::detections::run(c, quiet).await,
            Command::Timeline(a) => commands::timeline::run(a, quiet).await,
            Command::Queries(c) => commands::queries::run(c, quiet).await,
            Command::Simulate(c) => commands::simulate::run(c, quiet).await,
            Command::Drill(a) => commands::drill::run(a, quiet).await,
            Command::Report(a) => commands::report::run(a, quiet),
            Command::Logs(c) => commands::logs::run(c, quiet).await,
            Command::Prepare(a) => commands::prepare::run(a, quiet).await,
            Command::Analytics(c) => commands::analytics::run(c, quiet).await,
            Command::IamPolicy { command } => commands::logs::iam_policy(command),
            Command::Completions { shell } => {
                clap_complete::generate(
                    shell,
                    &mut Cli::command(),
                    "irprep",
                    &mut std::io::stdout(),
                );
                Ok(ExitStatus::Ok)
            }
        }
    });
    match res {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("irprep: error: {e:#}");
            let code = if e.downcast_ref::<commands::UsageError>().is_some() {
                ExitStatus::Usage
            } else {
                ExitStatus::Error
            };
            code.into()
        }
    }
}
