//! `irprep drill`: rehearse scenarios and prove they were detected.
//!
//! Offline (the default): synthesise background activity and each scenario's
//! events into a bucket layout, hunt over it with the local engine, and score.
//! Live (`--live`): run the scenarios against AWS, wait for their events, hunt
//! over what arrived, and score the same way.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use irprep_core::detect::Catalogue;
use irprep_core::scenario::{self, Scenario};
use irprep_core::synth::{self, SynthConfig};
use irprep_engine::hunt::{self, HuntReport};
use irprep_engine::{discover_local, Diagnostics, Engine, TimeWindow};
use serde::Serialize;

use super::detections::CatalogueArgs;
use crate::inputs::AwsArgs;
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
    #[arg(long = "logs", value_name = "PATH|s3://…")]
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
    /// Live: write the report (JSON and Markdown) with this path prefix.
    #[arg(long, value_name = "PREFIX")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The score of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioScore {
    pub scenario: String,
    pub title: String,
    pub expected_events: usize,
    pub events_present: usize,
    pub expected_detections: Vec<String>,
    pub fired: Vec<String>,
    pub missing_detections: Vec<String>,
    pub result: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillScore {
    pub mode: String,
    pub scenarios: Vec<ScenarioScore>,
    pub detected: usize,
    pub total: usize,
    /// Findings whose evidence holds no scenario event (noise on background).
    pub background_findings: usize,
    pub logs: String,
}

pub fn select_scenarios(ids: &[String]) -> Result<Vec<Scenario>> {
    let all = scenario::builtin().map_err(anyhow::Error::msg)?;
    if ids.is_empty() {
        return Ok(all);
    }
    ids.iter()
        .map(|id| {
            all.iter().find(|s| &s.id == id).cloned().ok_or_else(|| {
                super::usage(format!("no scenario '{id}' (see `irprep simulate list`)"))
            })
        })
        .collect()
}

/// Score hunt results against the events each scenario left.
pub fn score(
    mode: &str,
    logs: String,
    scenarios: &[Scenario],
    events: &BTreeMap<String, Vec<String>>,
    present: &HashSet<String>,
    report: &HuntReport,
) -> DrillScore {
    let mut out = vec![];
    let all_scenario_events: HashSet<&String> = events.values().flatten().collect();
    for s in scenarios {
        let ids: HashSet<&String> = events
            .get(&s.id)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let fired: BTreeSet<String> = report
            .findings
            .iter()
            .filter(|f| f.event_ids.iter().any(|e| ids.contains(e)))
            .map(|f| f.detection_id.clone())
            .collect();
        let missing: Vec<String> = s
            .expected_detections
            .iter()
            .filter(|d| !fired.contains(*d))
            .cloned()
            .collect();
        let n_present = ids.iter().filter(|i| present.contains(**i)).count();
        let pass = !s.expected_detections.is_empty()
            && missing.is_empty()
            && n_present == ids.len()
            && !ids.is_empty();
        out.push(ScenarioScore {
            scenario: s.id.clone(),
            title: s.title.clone(),
            expected_events: ids.len(),
            events_present: n_present,
            expected_detections: s.expected_detections.clone(),
            fired: fired.into_iter().collect(),
            missing_detections: missing,
            result: if pass { "PASS" } else { "FAIL" }.into(),
        });
    }
    let background_findings = report
        .findings
        .iter()
        .filter(|f| !f.event_ids.iter().any(|e| all_scenario_events.contains(e)))
        .count();
    let detected = out.iter().filter(|s| s.result == "PASS").count();
    DrillScore {
        mode: mode.into(),
        total: out.len(),
        detected,
        scenarios: out,
        background_findings,
        logs,
    }
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
                    o.insert("result".into(), sc.result.clone().into());
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
    let mut m = format!("# irprep drill report ({})\n\n**{}/{} scenarios detected**\n\n| scenario | events | expected detections | fired | result |\n|---|---|---|---|---|\n", s.mode, s.detected, s.total);
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

pub async fn run(a: DrillArgs, quiet: bool) -> Result<u8> {
    if a.live {
        return super::simulate::live_drill(a, quiet).await;
    }
    let scenarios = select_scenarios(&a.scenarios)?;
    let tmp;
    let dir = match &a.keep {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let cfg = SynthConfig {
        seed: a.seed,
        background: a.background,
        days: a.days,
        scenarios: scenarios.clone(),
        ..Default::default()
    };
    if !quiet {
        eprintln!(
            "irprep: synthesising {} background events and {} scenario(s) into {}",
            a.background,
            scenarios.len(),
            dir.display()
        );
    }
    let summary = synth::synthesize(&cfg, &dir)
        .with_context(|| format!("writing synthetic logs to {}", dir.display()))?;
    let cat: Catalogue = a.catalogue.load()?;
    let dets: Vec<_> = cat
        .detections
        .into_iter()
        .filter(|d| !a.exclude.contains(&d.id))
        .collect();
    let engine = Engine::new(Arc::new(Diagnostics::new(true)));
    let (files, _) = discover_local(&[dir.join("AWSLogs")]).map_err(anyhow::Error::msg)?;
    // Every table the catalogue reads (the flow-log and query-log ones are
    // empty here: the drill's logs are CloudTrail).
    engine.register_logs(files, None, TimeWindow::default())?;
    // Which scenario events the logs hold is answered in the same single
    // scan, by a check that rides along with the detections.
    let all_ids: Vec<String> = summary
        .scenario_events
        .values()
        .flatten()
        .cloned()
        .collect();
    let (report, found) = hunt_with_presence(
        &engine,
        dets,
        &format!("eventid IN ({})", sql_list(&all_ids)),
    )
    .await?;
    let present: HashSet<String> = found.into_keys().collect();
    for (id, e) in &report.errors {
        eprintln!("irprep: error: detection {id} failed: {e}");
    }
    let s = score(
        "offline",
        dir.display().to_string(),
        &scenarios,
        &summary.scenario_events,
        &present,
        &report,
    );
    print_score(a.format, &s)?;
    if let Some(prefix) = &a.report {
        write_report(prefix, &s)?;
    }
    Ok(if s.detected == s.total && report.errors.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::FINDINGS
    })
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

/// A quoted SQL list of strings.
pub fn sql_list(items: &[String]) -> String {
    if items.is_empty() {
        return "''".into();
    }
    items
        .iter()
        .map(|i| irprep_core::sql::quote(i))
        .collect::<Vec<_>>()
        .join(",")
}

/// The id of the check that finds the rehearsal's own events during the hunt.
const PRESENCE: &str = "irprep.drill.events-present";

/// Hunt, and in the same scan find the events matching `condition` (the
/// rehearsal's events). Returns the report (without that check) and, for each
/// event found, its user agent.
pub async fn hunt_with_presence(
    engine: &Engine,
    mut dets: Vec<irprep_core::detect::Detection>,
    condition: &str,
) -> Result<(HuntReport, HashMap<String, String>)> {
    dets.push(irprep_core::detect::Detection {
        id: PRESENCE.into(),
        title: "rehearsal events present".into(),
        description: String::new(),
        severity: irprep_core::detect::Severity::Info,
        attack: vec![],
        tactics: vec![],
        source: "cloudtrail".into(),
        sql: format!("SELECT eventid, eventid AS principal FROM cloudtrail WHERE {condition}"),
        false_positives: vec![],
        references: vec![],
        tests: Default::default(),
        origin: irprep_core::detect::Origin::Builtin,
        path: String::new(),
    });
    let mut report = hunt::hunt(engine, &dets).await?;
    report.detections_run -= 1;
    let (present, findings): (Vec<_>, Vec<_>) = report
        .findings
        .into_iter()
        .partition(|f| f.detection_id == PRESENCE);
    report.findings = findings;
    // One finding per event (the check names each event its own principal).
    let found = present.into_iter().flat_map(|f| {
        let ua = f.user_agents.first().cloned().unwrap_or_default();
        f.event_ids.into_iter().map(move |id| (id, ua.clone()))
    });
    Ok((report, found.collect()))
}
