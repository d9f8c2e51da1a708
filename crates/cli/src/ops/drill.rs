//! The drill: scenarios synthesised (offline) or run on AWS (live), a hunt
//! over the logs, and a verdict per scenario: were its events there, and did
//! the detections it expects fire on them?

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use irprep_aws::simulate::Manifest;
use irprep_core::detect::{Detection, Origin, Severity};
use irprep_core::scenario::Scenario;
use irprep_core::synth::{self, SynthConfig};
use irprep_engine::hunt::{self, HuntReport};
use irprep_engine::{discover_local, Diagnostics, Engine, TimeWindow};
use serde::{Deserialize, Serialize};

/// A scenario's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Every event present, every expected detection fired on them.
    Pass,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the drill's scenarios ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Offline,
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Offline => "offline",
            Mode::Live => "live",
        }
    }
}

/// The score of one scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioScore {
    pub scenario: String,
    pub title: String,
    pub expected_events: usize,
    pub events_present: usize,
    pub expected_detections: Vec<String>,
    pub fired: Vec<String>,
    pub missing_detections: Vec<String>,
    pub result: Verdict,
}

/// The score of a drill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillScore {
    pub mode: Mode,
    pub scenarios: Vec<ScenarioScore>,
    pub detected: usize,
    pub total: usize,
    /// Findings whose evidence holds no scenario event (noise on background).
    pub background_findings: usize,
    /// What was hunted, for people.
    pub logs: String,
}

/// A drill's score and the detections that failed to run (id, error).
#[derive(Debug, Clone)]
pub struct DrillOutcome {
    pub score: DrillScore,
    pub errors: Vec<(String, String)>,
}

impl DrillOutcome {
    /// Every scenario passed and every detection ran.
    pub fn passed(&self) -> bool {
        self.score.detected == self.score.total && self.errors.is_empty()
    }
}

/// Score hunt results against the events each scenario left.
pub fn score(
    mode: Mode,
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
            result: if pass { Verdict::Pass } else { Verdict::Fail },
        });
    }
    let background_findings = report
        .findings
        .iter()
        .filter(|f| !f.event_ids.iter().any(|e| all_scenario_events.contains(e)))
        .count();
    let detected = out.iter().filter(|s| s.result == Verdict::Pass).count();
    DrillScore {
        mode,
        total: out.len(),
        detected,
        scenarios: out,
        background_findings,
        logs,
    }
}

/// What an offline drill synthesises and hunts with.
#[derive(Debug, Clone)]
pub struct Offline {
    pub scenarios: Vec<Scenario>,
    /// The catalogue to hunt with (the detections left out already gone).
    pub detections: Vec<Detection>,
    /// Background events around the scenarios, over `days` days.
    pub background: usize,
    pub days: u32,
    pub seed: u64,
}

/// The offline drill: synthesise background activity and each scenario's
/// events into `dir` (the S3 layout), hunt over them, and score. `logs`
/// says, for people, what `dir` is.
pub async fn offline(o: Offline, dir: &Path, logs: String) -> Result<DrillOutcome> {
    let cfg = SynthConfig {
        seed: o.seed,
        background: o.background,
        days: o.days,
        scenarios: o.scenarios.clone(),
        ..Default::default()
    };
    let summary = synth::synthesize(&cfg, dir)
        .with_context(|| format!("writing synthetic logs to {}", dir.display()))?;
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
        o.detections,
        &format!("eventid IN ({})", sql_list(&all_ids)),
    )
    .await?;
    let present: HashSet<String> = found.into_keys().collect();
    let score = score(
        Mode::Offline,
        logs,
        &o.scenarios,
        &summary.scenario_events,
        &present,
        &report,
    );
    Ok(DrillOutcome {
        score,
        errors: report.errors,
    })
}

/// The live drill's hunt and score, over logs in which the runs of
/// `manifests` left their events (each carrying its run's marker in the user
/// agent). A scenario fails too when fewer of its events arrived than its
/// run expected.
pub async fn live(
    engine: &Engine,
    detections: Vec<Detection>,
    scenarios: &[Scenario],
    manifests: &[Manifest],
    logs: String,
) -> Result<DrillOutcome> {
    let cond = manifests
        .iter()
        .map(|m| {
            format!(
                "strpos(useragent, {}) > 0",
                irprep_core::sql::quote(&m.marker)
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let (report, found) = hunt_with_presence(engine, detections, &cond).await?;
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
    let mut s = score(Mode::Live, logs, scenarios, &events, &present, &report);
    for sc in s.scenarios.iter_mut() {
        if let Some(m) = manifests.iter().find(|m| m.scenario == sc.scenario) {
            sc.expected_events = m.expected_events.len();
        }
        if sc.events_present < sc.expected_events {
            sc.result = Verdict::Fail;
        }
    }
    s.detected = s
        .scenarios
        .iter()
        .filter(|x| x.result == Verdict::Pass)
        .count();
    Ok(DrillOutcome {
        score: s,
        errors: report.errors,
    })
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

/// The check that finds the events matching `condition` (SQL over
/// `cloudtrail`), one finding per event.
fn presence_check(condition: &str) -> Detection {
    Detection {
        id: PRESENCE.into(),
        title: "rehearsal events present".into(),
        description: String::new(),
        severity: Severity::Info,
        attack: vec![],
        tactics: vec![],
        source: "cloudtrail".into(),
        sql: format!("SELECT eventid, eventid AS principal FROM cloudtrail WHERE {condition}"),
        false_positives: vec![],
        references: vec![],
        tests: Default::default(),
        origin: Origin::Builtin,
        path: String::new(),
    }
}

/// Hunt, and in the same scan find the events matching `condition` (the
/// rehearsal's events). Returns the report (without that check) and, for each
/// event found, its user agent.
pub async fn hunt_with_presence(
    engine: &Engine,
    mut dets: Vec<Detection>,
    condition: &str,
) -> Result<(HuntReport, HashMap<String, String>)> {
    dets.push(presence_check(condition));
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

#[cfg(test)]
mod tests {
    use super::*;
    use irprep_engine::hunt::Finding;

    fn scenario(id: &str, dets: &[&str]) -> Scenario {
        let mut s = irprep_core::scenario::builtin().unwrap().remove(0);
        s.id = id.into();
        s.expected_detections = dets.iter().map(|d| d.to_string()).collect();
        s
    }

    fn finding(det: &str, events: &[&str]) -> Finding {
        Finding {
            detection_id: det.into(),
            event_ids: events.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_scenario_passes_only_with_its_events_and_every_expected_detection() {
        let scenarios = [
            scenario("a", &["d1", "d2"]),
            scenario("b", &["d3"]),
            scenario("c", &["d4"]),
            scenario("d", &[]),
        ];
        let events: BTreeMap<String, Vec<String>> = [
            ("a", vec!["e1", "e2"]),
            ("b", vec!["e3"]),
            ("c", vec!["e4", "e5"]),
            ("d", vec!["e6"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        // e5 never arrived.
        let present: HashSet<String> = ["e1", "e2", "e3", "e4", "e6"]
            .into_iter()
            .map(String::from)
            .collect();
        let report = HuntReport {
            findings: vec![
                finding("d1", &["e1"]),
                finding("d2", &["e2", "x9"]),
                // d3 fired, but on background only.
                finding("d3", &["x1"]),
                finding("d4", &["e4"]),
            ],
            ..Default::default()
        };
        let s = score(
            Mode::Offline,
            "t".into(),
            &scenarios,
            &events,
            &present,
            &report,
        );
        let verdicts: Vec<(&str, Verdict)> = s
            .scenarios
            .iter()
            .map(|x| (x.scenario.as_str(), x.result))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("a", Verdict::Pass),
                ("b", Verdict::Fail),
                ("c", Verdict::Fail),
                // A scenario that expects nothing proves nothing.
                ("d", Verdict::Fail),
            ]
        );
        assert_eq!(s.scenarios[1].missing_detections, ["d3"]);
        assert_eq!(s.scenarios[2].events_present, 1);
        assert_eq!((s.detected, s.total, s.background_findings), (1, 4, 1));
        assert_eq!(
            serde_json::to_value(&s.scenarios[0]).unwrap()["result"],
            "PASS"
        );
    }
}
