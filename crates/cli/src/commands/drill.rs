//! `irprep drill`: rehearse scenarios and prove they were detected.
//!
//! Offline (the default): synthesise background activity and each scenario's
//! events into a bucket layout, hunt over it with the local engine, and score.
//! Live (`--live`): run the scenarios against AWS, wait for their events, hunt
//! over what arrived, and score the same way.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Args;
use irprep::exit::ExitStatus;
use irprep::ops::drill::{self, DrillScore};
use irprep_aws::simulate;
use irprep_aws::wire::WireClient;
use irprep_core::detect::Detection;
use irprep_core::scenario;

use crate::args::{self, AwsArgs, CatalogueArgs, LogArgs};
use crate::output::{self, Format};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  irprep drill                       # every scenario, offline, no AWS account needed\n  irprep drill --scenario cloudtrail-stop --keep ./exercise\n  irprep drill --live --scenario iam-credentials --logs s3://trail-bucket/AWSLogs/ --yes"
)]
pub struct DrillArgs {
    /// Scenarios to rehearse (default: all).
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    /// Leave this detection out of the hunt (to see the score drop).
    #[arg(long = "exclude-detection", value_name = "ID")]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub catalogue: CatalogueArgs,
    /// Keep the synthetic logs here (a training exercise), instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Background events to synthesise around the scenarios.
    #[arg(long, default_value_t = 20_000)]
    pub background: usize,
    /// Days of background activity.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Seed of the synthesiser (same seed, same logs).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Run the scenarios against AWS instead of synthesising them.
    #[arg(long)]
    pub live: bool,
    /// Live: where the trail delivers (s3://bucket/prefix or a local copy); default: CloudTrail LookupEvents.
    #[arg(long = "logs", value_name = "PATH|s3://…", num_args = 1.., action = clap::ArgAction::Append)]
    pub logs: Vec<String>,
    /// Live: give up waiting for delivery after this many minutes.
    #[arg(long, default_value_t = 20)]
    pub wait_minutes: u64,
    /// Live: regions to use (default: every enabled region).
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Live: run without asking.
    #[arg(long)]
    pub yes: bool,
    /// Write the report: `FILE.html` a page (scenarios, ATT&CK coverage with
    /// what the drill validated); any other path a prefix for JSON and Markdown.
    #[arg(long, value_name = "FILE.html|PREFIX")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn print_score(format: Format, s: &DrillScore) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, s)?;
            println!();
        }
        Format::Jsonl => {
            for sc in &s.scenarios {
                serde_json::to_writer(&mut stdout, sc)?;
                println!();
            }
        }
        Format::Table | Format::Csv => {
            let headers: Vec<String> = [
                "scenario",
                "events",
                "expected detections",
                "fired",
                "result",
            ]
            .iter()
            .map(|x| x.to_string())
            .collect();
            let objects: Vec<serde_json::Map<String, serde_json::Value>> = s
                .scenarios
                .iter()
                .map(|sc| {
                    let mut o = serde_json::Map::new();
                    o.insert("scenario".into(), sc.scenario.clone().into());
                    o.insert(
                        "events".into(),
                        format!("{}/{}", sc.events_present, sc.expected_events).into(),
                    );
                    o.insert(
                        "expected detections".into(),
                        sc.expected_detections.join("\n").into(),
                    );
                    o.insert("fired".into(), sc.fired.join("\n").into());
                    o.insert("result".into(), sc.result.as_str().into());
                    o
                })
                .collect();
            output::write_objects(&mut stdout, format, &headers, &objects)?;
            if format == Format::Table {
                println!(
                    "{}/{} scenarios detected ({} finding(s) on background activity; logs: {})",
                    s.detected, s.total, s.background_findings, s.logs
                );
            }
        }
    }
    Ok(())
}

pub fn markdown(s: &DrillScore) -> String {
    let mut m = format!("# irprep drill report ({})\n\n**{}/{} scenarios detected**\n\n| scenario | events | expected detections | fired | result |\n|---|---|---|---|---|\n", s.mode.as_str(), s.detected, s.total);
    for sc in &s.scenarios {
        m.push_str(&format!(
            "| {} | {}/{} | {} | {} | {} |\n",
            sc.scenario,
            sc.events_present,
            sc.expected_events,
            sc.expected_detections.join(", "),
            sc.fired.join(", "),
            sc.result
        ));
    }
    m.push_str(&format!(
        "\nFindings on background activity: {}. Logs: {}\n",
        s.background_findings, s.logs
    ));
    m
}

pub async fn run(a: DrillArgs, quiet: bool) -> Result<ExitStatus> {
    let scenarios = scenario::select(&a.scenarios).map_err(super::usage)?;
    let detections: Vec<Detection> = a
        .catalogue
        .load()?
        .detections
        .into_iter()
        .filter(|d| !a.exclude.contains(&d.id))
        .collect();
    let catalogue: Vec<irprep::ops::report::DetectionInfo> = detections
        .iter()
        .map(irprep::ops::report::DetectionInfo::of)
        .collect();
    let outcome = if a.live {
        live(&a, scenarios, detections, quiet).await?
    } else {
        let tmp;
        let (dir, logs) = match &a.keep {
            Some(d) => (d.clone(), d.display().to_string()),
            None => {
                tmp = tempfile::tempdir().context("creating a temporary directory")?;
                (
                    tmp.path().to_path_buf(),
                    "synthetic, in a temporary directory (removed; --keep DIR keeps them)".into(),
                )
            }
        };
        if !quiet {
            eprintln!(
                "irprep: synthesising {} background events and {} scenario(s)",
                a.background,
                scenarios.len(),
            );
        }
        let o = drill::Offline {
            scenarios,
            detections,
            background: a.background,
            days: a.days,
            seed: a.seed,
        };
        drill::offline(o, &dir, logs).await?
    };
    for (id, e) in &outcome.errors {
        eprintln!("irprep: error: detection {id} failed: {e}");
    }
    print_score(a.format, &outcome.score)?;
    match &a.report {
        Some(p)
            if p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("html")) =>
        {
            let validated = irprep::ops::report::validated(&outcome.score, &catalogue);
            crate::report::write(p, None, Some(&outcome.score), validated, catalogue, quiet)?;
        }
        Some(prefix) => write_report(prefix, &outcome.score)?,
        None => {}
    }
    Ok(if outcome.passed() {
        ExitStatus::Ok
    } else {
        ExitStatus::Findings
    })
}

/// `drill --live`: run the scenarios on AWS, wait for their events, hunt
/// over what arrived, score.
async fn live(
    a: &DrillArgs,
    scenarios: Vec<irprep_core::scenario::Scenario>,
    detections: Vec<Detection>,
    quiet: bool,
) -> Result<drill::DrillOutcome> {
    let conf = a.aws.options().load().await?;
    let manifests =
        super::run_live(&conf, &scenarios, &a.aws, &a.regions, a.yes, false, quiet).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(a.wait_minutes * 60);
    let client = WireClient::new(&conf, a.aws.endpoint_url.clone(), None).await?;
    let pb = args::progress(
        manifests
            .iter()
            .map(|m| m.expected_events.len() as u64)
            .sum(),
        quiet,
    );
    pb.set_message("waiting for CloudTrail delivery");
    // Poll until every expected event is visible (or the deadline).
    loop {
        let mut seen = 0u64;
        for m in &manifests {
            let v = if a.logs.is_empty() {
                simulate::match_events(
                    m,
                    &simulate::lookup_events(&client, m).await?,
                    Some(Utc::now()),
                )
            } else {
                super::verify_in_logs(m, &a.logs, &a.aws, true).await?
            };
            seen += v.iter().filter(|x| x.seen).count() as u64;
        }
        pb.set_position(seen);
        if seen >= pb.length().unwrap_or(0) || std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
    pb.finish_and_clear();
    // Hunt over what arrived: the trail's logs when given, else the events LookupEvents returns.
    let tmp = tempfile::tempdir()?;
    let (logs, label) = if a.logs.is_empty() {
        let p = tmp.path().join("lookup-events.ndjson");
        irprep::ops::live::write_lookup_events(&client, &manifests, &p).await?;
        (
            vec![p.display().to_string()],
            "CloudTrail LookupEvents".to_string(),
        )
    } else {
        (a.logs.clone(), a.logs.join(" "))
    };
    let log_args = LogArgs {
        logs,
        ..Default::default()
    };
    let (engine, _pb) = args::engine(&log_args, &a.aws, true).await?;
    let outcome = drill::live(&engine, detections, &scenarios, &manifests, label).await?;
    // A live drill always leaves its report (the runs cannot be repeated).
    if a.report.is_none() {
        let prefix = PathBuf::from(format!(
            "irprep-drill-{}",
            manifests
                .first()
                .map(|m| m.run_id.clone())
                .unwrap_or_default()
        ));
        write_report(&prefix, &outcome.score)?;
    }
    Ok(outcome)
}

pub fn write_report(prefix: &std::path::Path, s: &DrillScore) -> Result<()> {
    let json_path = prefix.with_extension("json");
    let md_path = prefix.with_extension("md");
    std::fs::write(&json_path, serde_json::to_vec_pretty(s)?)?;
    std::fs::write(&md_path, markdown(s))?;
    eprintln!(
        "irprep: report written to {} and {}",
        json_path.display(),
        md_path.display()
    );
    Ok(())
}
