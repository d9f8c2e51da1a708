//! `irprep simulate list|show|run|verify|synth`.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use irprep_aws::simulate::{self, Manifest, RunContext, Verification};
use irprep_aws::wire::WireClient;
use irprep_core::scenario::Scenario;
use irprep_core::synth::{self, SynthConfig};

use super::drill::{self, DrillArgs};
use crate::inputs::{self, AwsArgs, LogArgs};
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

async fn confirm(prompt: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(super::usage(
            "refusing to call AWS without --yes (no terminal to confirm on)",
        ));
    }
    eprint!("{prompt} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

pub async fn run(cmd: SimulateCmd, quiet: bool) -> Result<u8> {
    match cmd {
        SimulateCmd::List { format } => {
            let all = drill::select_scenarios(&[])?;
            let objects: Vec<_> = all.iter().map(scenario_json).collect();
            let headers: Vec<String> = ["id", "title", "attack", "steps", "expected_detections"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            output::write_objects(&mut std::io::stdout().lock(), format, &headers, &objects)?;
            Ok(crate::exit::OK)
        }
        SimulateCmd::Show { id, format } => {
            let s = drill::select_scenarios(&[id])?.remove(0);
            if format != Format::Table {
                serde_json::to_writer_pretty(std::io::stdout().lock(), &s)?;
                println!();
                return Ok(crate::exit::OK);
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
            Ok(crate::exit::OK)
        }
        SimulateCmd::Run(a) => {
            let scenarios = drill::select_scenarios(&a.scenarios)?;
            let manifests =
                run_live(&scenarios, &a.aws, &a.regions, a.yes, a.keep_going, quiet).await?;
            std::fs::create_dir_all(&a.out)?;
            let mut violations = 0;
            for m in &manifests {
                let p = a
                    .out
                    .join(format!("irprep-sim-{}-{}.json", m.scenario, m.run_id));
                std::fs::write(&p, serde_json::to_vec_pretty(m)?)?;
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
                crate::exit::ERROR
            } else {
                crate::exit::OK
            })
        }
        SimulateCmd::Verify(a) => {
            let m: Manifest = serde_json::from_slice(
                &std::fs::read(&a.manifest)
                    .with_context(|| format!("reading {}", a.manifest.display()))?,
            )
            .with_context(|| format!("{} is not a run manifest", a.manifest.display()))?;
            let v = if a.logs.is_empty() {
                let conf = a.aws.options().load().await;
                let client = WireClient::new(&conf, a.aws.endpoint_url.clone(), None).await?;
                let found = simulate::lookup_events(&client, &m).await?;
                simulate::match_events(&m, &found, Some(Utc::now()))
            } else {
                verify_in_logs(&m, &a.logs, &a.aws, quiet).await?
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
                crate::exit::FINDINGS
            } else {
                crate::exit::OK
            })
        }
        SimulateCmd::Synth(a) => {
            let scenarios = if a.scenarios.iter().any(|s| s == "all") {
                drill::select_scenarios(&[])?
            } else {
                drill::select_scenarios(&a.scenarios)?
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
            Ok(crate::exit::OK)
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

async fn verify_in_logs(
    m: &Manifest,
    logs: &[String],
    aws: &AwsArgs,
    quiet: bool,
) -> Result<Vec<Verification>> {
    let args = LogArgs {
        logs: logs.to_vec(),
        ..Default::default()
    };
    let (engine, pb) = inputs::engine(&args, aws, quiet).await?;
    let sql = format!(
        "SELECT eventsource, eventname, errorcode, awsregion, eventtime FROM cloudtrail WHERE strpos(useragent, {}) > 0 ORDER BY eventtime",
        irprep_core::sql::quote(&m.marker)
    );
    let r = engine.query(&sql).await;
    pb.finish_and_clear();
    let rows = irprep_engine::render::rows(&r?.batches)?;
    let found: Vec<simulate::FoundEvent> = rows
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
                r[2].clone(),
                r[3].clone().unwrap_or_default(),
                r[4].clone().unwrap_or_default(),
            )
        })
        .collect();
    Ok(simulate::match_events(m, &found, None))
}

/// Run scenarios on AWS (shared by `simulate run` and `drill --live`).
pub async fn run_live(
    scenarios: &[Scenario],
    aws: &AwsArgs,
    regions: &[String],
    yes: bool,
    keep_going: bool,
    quiet: bool,
) -> Result<Vec<Manifest>> {
    let conf = aws.options().load().await;
    let run_id = simulate::new_run_id();
    let client = WireClient::new(
        &conf,
        aws.endpoint_url.clone(),
        Some(&simulate::marker(&run_id)),
    )
    .await?;
    let ctx: RunContext = simulate::discover(&client, &conf, regions).await?;
    eprintln!(
        "irprep: account {} · home region {} · {} region(s) · run {}",
        ctx.account,
        ctx.home,
        ctx.regions.len(),
        run_id
    );
    for s in scenarios {
        eprintln!("  {} ({} step(s)):", s.id, s.steps.len());
        for st in &s.steps {
            eprintln!(
                "    {}:{} [{:?}, {:?}]",
                st.service, st.operation, st.safety, st.region
            );
        }
    }
    eprintln!("Every call is read-only, DryRun=true, or aimed at a resource that cannot exist; user agent marker {}.", simulate::marker(&run_id));
    if !confirm("Send these calls?", yes).await? {
        return Err(super::usage("aborted"));
    }
    let mut out = vec![];
    for s in scenarios {
        let m = simulate::run_scenario(&client, &ctx, s, &run_id, keep_going, |c| {
            if !quiet {
                eprintln!(
                    "    {} {}:{} {} -> {} {}",
                    c.region,
                    c.service,
                    c.operation,
                    c.http_status,
                    c.error_code.as_deref().unwrap_or("OK"),
                    c.outcome
                );
            }
        })
        .await?;
        out.push(m);
    }
    Ok(out)
}

/// `drill --live`: run, wait for delivery, hunt, score.
pub async fn live_drill(a: DrillArgs, quiet: bool) -> Result<u8> {
    let scenarios = drill::select_scenarios(&a.scenarios)?;
    let manifests = run_live(&scenarios, &a.aws, &a.regions, a.yes, false, quiet).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(a.wait_minutes * 60);
    let conf = a.aws.options().load().await;
    let client = WireClient::new(&conf, a.aws.endpoint_url.clone(), None).await?;
    let pb = inputs::progress(
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
                verify_in_logs(m, &a.logs, &a.aws, true).await?
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
    let cat = a.catalogue.load()?;
    let dets: Vec<_> = cat
        .detections
        .into_iter()
        .filter(|d| !a.exclude.contains(&d.id))
        .collect();
    let tmp = tempfile::tempdir()?;
    let logs = if a.logs.is_empty() {
        let p = tmp.path().join("lookup-events.ndjson");
        let mut f = std::fs::File::create(&p)?;
        for m in &manifests {
            for raw in lookup_raw(&client, m).await? {
                writeln!(f, "{raw}")?;
            }
        }
        vec![p.display().to_string()]
    } else {
        a.logs.clone()
    };
    let args = LogArgs {
        logs: logs.clone(),
        ..Default::default()
    };
    let (engine, _pb) = inputs::engine(&args, &a.aws, true).await?;
    // The scenarios' events (those carrying a run's marker) are found in the
    // hunt's own scan.
    let markers: Vec<String> = manifests.iter().map(|m| m.marker.clone()).collect();
    let cond = markers
        .iter()
        .map(|m| format!("strpos(useragent, {}) > 0", irprep_core::sql::quote(m)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let (report, found) = drill::hunt_with_presence(&engine, dets, &cond).await?;
    // Attribute each event to its run's scenario by the marker in its user agent.
    let mut events: BTreeMap<String, Vec<String>> = manifests
        .iter()
        .map(|m| (m.scenario.clone(), vec![]))
        .collect();
    for (id, ua) in &found {
        if let Some(m) = manifests.iter().find(|m| ua.contains(&m.marker)) {
            events
                .entry(m.scenario.clone())
                .or_default()
                .push(id.clone());
        }
    }
    let present: HashSet<String> = found.into_keys().collect();
    let mut s = drill::score(
        "live",
        logs.join(" "),
        &scenarios,
        &events,
        &present,
        &report,
    );
    for (sc, m) in s.scenarios.iter_mut().zip(&manifests) {
        sc.expected_events = m.expected_events.len();
        if sc.events_present < sc.expected_events {
            sc.result = "FAIL".into();
        }
    }
    s.detected = s.scenarios.iter().filter(|x| x.result == "PASS").count();
    drill::print_score(a.format, &s)?;
    let prefix = a.report.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "irprep-drill-{}",
            manifests
                .first()
                .map(|m| m.run_id.clone())
                .unwrap_or_default()
        ))
    });
    drill::write_report(&prefix, &s)?;
    Ok(if s.detected == s.total {
        crate::exit::OK
    } else {
        crate::exit::FINDINGS
    })
}

async fn lookup_raw(client: &WireClient, m: &Manifest) -> Result<Vec<String>> {
    // LookupEvents again, keeping whole events for the hunt.
    let mut regions: Vec<String> = m.expected_events.iter().map(|e| e.region.clone()).collect();
    regions.sort();
    regions.dedup();
    let mut out = vec![];
    for r in regions {
        let resp = client
            .call(
                "cloudtrail",
                "LookupEvents",
                &r,
                &serde_json::json!({"MaxResults": 50}),
            )
            .await?;
        let v: serde_json::Value = serde_json::from_str(&resp.body).unwrap_or_default();
        for e in v["Events"].as_array().into_iter().flatten() {
            if let Some(raw) = e["CloudTrailEvent"].as_str() {
                if raw.contains(&m.marker) {
                    out.push(raw.to_string());
                }
            }
        }
    }
    Ok(out)
}
