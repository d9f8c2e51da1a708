//! `irprep simulate list|show|run|verify|synth`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use irprep_aws::simulate::{self, Manifest, Verification};
use irprep_aws::wire::WireClient;
use irprep_core::scenario::{self, Scenario};
use irprep_core::synth::{self, SynthConfig};

use crate::args::AwsArgs;
use crate::output::{self, Format};

#[derive(Debug, Subcommand)]
pub enum SimulateCmd {
    /// List the scenarios.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show a scenario: what it sends, how each call is kept harmless, what CloudTrail will show.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run scenarios against AWS (dry-run and harmless-failure calls only) and write run manifests.
    Run(RunArgs),
    /// Check that a run's events arrived in CloudTrail (LookupEvents, or --logs).
    Verify(VerifyArgs),
    /// Write synthetic CloudTrail (background + scenarios) in the S3 layout, for offline exercises.
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario ids.
    #[arg(required = true)]
    pub scenarios: Vec<String>,
    /// Regions to use (default: every enabled region).
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Run without asking.
    #[arg(long)]
    pub yes: bool,
    /// Report a step that unexpectedly succeeded and go on (for emulators that
    /// ignore DryRun on some actions); by default the scenario stops there.
    #[arg(long)]
    pub keep_going: bool,
    /// Directory for the run manifests.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The run manifest written by `simulate run`.
    pub manifest: PathBuf,
    /// Look in these logs (local or s3://) instead of CloudTrail LookupEvents.
    #[arg(long = "logs", value_name = "PATH|s3://…")]
    pub logs: Vec<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output directory (the AWSLogs/ tree and labels.csv are written there).
    #[arg(long)]
    pub out: PathBuf,
    /// Scenario ids, or `all`.
    #[arg(long = "scenario", default_value = "all")]
    pub scenarios: Vec<String>,
    /// Background events.
    #[arg(long, default_value_t = 20_000)]
    pub background: usize,
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    #[arg(long, value_delimiter = ',', default_value = "111122223333")]
    pub accounts: Vec<String>,
    /// Regions; the first is home, background uses the first two.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "us-east-1,us-west-2,eu-west-1,ap-southeast-2,eu-central-1,ap-northeast-1"
    )]
    pub regions: Vec<String>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// How many of the regions carry background activity (the rest stay unused).
    #[arg(long, default_value_t = 2)]
    pub background_regions: usize,
    /// Minutes of events per delivery file (CloudTrail delivers about every 5).
    #[arg(long, default_value_t = 5)]
    pub file_minutes: u32,
    /// First day (YYYY-MM-DD).
    #[arg(long, default_value = "2026-01-05")]
    pub start: String,
    /// The background's shape: `normal` (people, pipelines, applications,
    /// services), or an adversarial one for testing the hunt's costs:
    /// `one-principal` (one role session makes every call),
    /// `one-minute` (every call of a delivery window in its first minute),
    /// `many-principals` (every call by a role session of its own).
    #[arg(long, default_value = "normal", value_parser = clap::builder::PossibleValuesParser::new(irprep_core::synth::Shape::NAMES))]
    pub shape: String,
}

fn scenario_json(s: &Scenario) -> serde_json::Map<String, serde_json::Value> {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), s.id.clone().into());
    o.insert("title".into(), s.title.clone().into());
    o.insert("attack".into(), s.attack.join(",").into());
    o.insert("steps".into(), s.steps.len().into());
    o.insert(
        "expected_detections".into(),
        s.expected_detections.join(",").into(),
    );
    o.insert("iam_actions".into(), s.iam_actions.join(",").into());
    o
}

pub async fn run(cmd: SimulateCmd, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    match cmd {
        SimulateCmd::List { format } => {
            let all = scenario::select(&[]).map_err(super::usage)?;
            let objects: Vec<_> = all.iter().map(scenario_json).collect();
            let headers: Vec<String> = ["id", "title", "attack", "steps", "expected_detections"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            output::write_objects(&mut std::io::stdout().lock(), format, &headers, &objects)?;
            Ok(irprep::exit::ExitStatus::Ok)
        }
        SimulateCmd::Show { id, format } => {
            let s = scenario::select(&[id]).map_err(super::usage)?.remove(0);
            if format != Format::Table {
                serde_json::to_writer_pretty(std::io::stdout().lock(), &s)?;
                println!();
                return Ok(irprep::exit::ExitStatus::Ok);
            }
            println!("{}: {}\n\n{}\n", s.id, s.title, s.description.trim());
            println!(
                "ATT&CK: {}   expected detections: {}",
                s.attack.join(", "),
                s.expected_detections.join(", ")
            );
            println!("IAM actions needed: {}\n", s.iam_actions.join(", "));
            for (i, st) in s.steps.iter().enumerate() {
                let reps = if st.times() > 1 {
                    format!(" ×{}", st.times())
                } else {
                    String::new()
                };
                let each = st
                    .foreach
                    .as_deref()
                    .map(|f| format!(" for each of the {f}"))
                    .unwrap_or_default();
                println!(
                    "{:>2}. {}:{} [{:?}] region {:?}{reps}{each} -> CloudTrail {} {} {}",
                    i + 1,
                    st.service,
                    st.operation,
                    st.safety,
                    st.region,
                    st.cloudtrail.event_source,
                    st.event_name(),
                    st.cloudtrail.error_code.as_deref().unwrap_or("(success)")
                );
            }
            Ok(irprep::exit::ExitStatus::Ok)
        }
        SimulateCmd::Run(a) => {
            let conf = a.aws.options().load().await?;
            let scenarios = scenario::select(&a.scenarios).map_err(super::usage)?;
            let manifests = super::run_live(
                &conf,
                &scenarios,
                &a.aws,
                &a.regions,
                a.yes,
                a.keep_going,
                quiet,
            )
            .await?;
            std::fs::create_dir_all(&a.out)?;
            let mut violations = 0;
            for m in &manifests {
                let p = a
                    .out
                    .join(format!("irprep-sim-{}-{}.json", m.scenario, m.run_id));
                // Owner-only: the manifest names the account, regions and
                // request ids of a rehearsal (no secret, but no one else's).
                {
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&p)?
                        .write_all(&serde_json::to_vec_pretty(m)?)?;
                }
                violations += m.safety_violations.len();
                for v in &m.safety_violations {
                    eprintln!("irprep: SAFETY: {}: {v}", m.scenario);
                }
                if !quiet {
                    eprintln!(
                        "irprep: {}: {} call(s), {} expected event(s); manifest {}",
                        m.scenario,
                        m.calls.len(),
                        m.expected_events.len(),
                        p.display()
                    );
                }
            }
            if a.format != Format::Table {
                serde_json::to_writer_pretty(std::io::stdout().lock(), &manifests)?;
                println!();
            }
            Ok(if violations > 0 {
                irprep::exit::ExitStatus::Error
            } else {
                irprep::exit::ExitStatus::Ok
            })
        }
        SimulateCmd::Verify(a) => {
            let m: Manifest = serde_json::from_slice(
                &std::fs::read(&a.manifest)
                    .with_context(|| format!("reading {}", a.manifest.display()))?,
            )
            .with_context(|| format!("{} is not a run manifest", a.manifest.display()))?;
            let v = if a.logs.is_empty() {
                let conf = a.aws.options().load().await?;
                let client = WireClient::new(&conf, a.aws.endpoint_url.clone(), None).await?;
                let found = simulate::lookup_events(&client, &m).await?;
                simulate::match_events(&m, &found, Some(Utc::now()))
            } else {
                super::verify_in_logs(&m, &a.logs, &a.aws, quiet).await?
            };
            print_verification(a.format, &v)?;
            let missing = v.iter().filter(|x| !x.seen).count();
            if !quiet {
                eprintln!(
                    "irprep: {} of {} expected event(s) seen",
                    v.len() - missing,
                    v.len()
                );
            }
            Ok(if missing > 0 {
                irprep::exit::ExitStatus::Findings
            } else {
                irprep::exit::ExitStatus::Ok
            })
        }
        SimulateCmd::Synth(a) => {
            let scenarios = if a.scenarios.iter().any(|s| s == "all") {
                scenario::select(&[]).map_err(super::usage)?
            } else {
                scenario::select(&a.scenarios).map_err(super::usage)?
            };
            let start = chrono::NaiveDate::parse_from_str(&a.start, "%Y-%m-%d")
                .map_err(|e| super::usage(format!("--start: {e}")))?;
            let cfg = SynthConfig {
                seed: a.seed,
                accounts: a.accounts.clone(),
                regions: a.regions.clone(),
                days: a.days,
                background: a.background,
                background_regions: a.background_regions,
                file_minutes: a.file_minutes,
                start: start.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
                scenarios,
                shape: synth::Shape::parse(&a.shape).unwrap_or_default(),
            };
            let t = std::time::Instant::now();
            let s = synth::synthesize(&cfg, &a.out)?;
            if !quiet {
                eprintln!(
                    "irprep: wrote {} events ({} background, {} scenario) in {} files under {} in {:.2}s; labels in {}",
                    s.events,
                    s.background_events,
                    s.events - s.background_events,
                    s.files,
                    a.out.join("AWSLogs").display(),
                    t.elapsed().as_secs_f64(),
                    a.out.join("labels.csv").display()
                );
            }
            Ok(irprep::exit::ExitStatus::Ok)
        }
    }
}

fn print_verification(format: Format, v: &[Verification]) -> Result<()> {
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = v
        .iter()
        .map(|x| {
            let mut o = serde_json::Map::new();
            o.insert("event_source".into(), x.event.event_source.clone().into());
            o.insert("event_name".into(), x.event.event_name.clone().into());
            o.insert("error_code".into(), x.event.error_code.clone().into());
            o.insert("region".into(), x.event.region.clone().into());
            o.insert("seen".into(), x.seen.into());
            o.insert("event_time".into(), x.event_time.clone().into());
            o.insert("delay_seconds".into(), x.delay_seconds.into());
            o
        })
        .collect();
    let headers: Vec<String> = [
        "event_source",
        "event_name",
        "error_code",
        "region",
        "seen",
        "event_time",
        "delay_seconds",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    output::write_objects(&mut std::io::stdout().lock(), format, &headers, &objects)
}
