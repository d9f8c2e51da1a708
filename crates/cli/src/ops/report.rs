//! A hunt as one document: findings, the incidents they form, what the logs
//! covered, the evidence events of the incidents, and the catalogue that ran.
//! `hunt --format json` prints it; `irprep report` and `hunt --report` turn
//! it into HTML.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use irprep_core::detect::{Detection, Severity};
use irprep_engine::hunt::{self, Finding, Incident};
use irprep_engine::{render, Engine};
use serde::{Deserialize, Serialize};

/// The `hunt --format json` document (additive over time: new keys may
/// appear; `findings` keeps the JSONL objects' fields).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HuntDocument {
    /// irprep's version that wrote it.
    #[serde(default)]
    pub irprep: String,
    /// When the hunt ran (RFC 3339, UTC).
    #[serde(default)]
    pub generated_at: String,
    /// The engine: `local` or `athena`.
    #[serde(default)]
    pub engine: String,
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub incidents: Vec<Incident>,
    /// The detections that ran.
    #[serde(default)]
    pub detections: Vec<DetectionInfo>,
    /// Detections that failed to run: (id, error).
    #[serde(default)]
    pub errors: Vec<(String, String)>,
    /// What the CloudTrail logs covered (local engine).
    #[serde(default)]
    pub coverage: Option<Coverage>,
    /// Evidence events of the incidents' findings, by event id (at most
    /// [`EVIDENCE_PER_FINDING`] per finding), each as its fields.
    #[serde(default)]
    pub evidence: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// A detection of the catalogue, as the coverage view needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectionInfo {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub attack: Vec<String>,
    pub tactics: Vec<String>,
    pub source: String,
}

impl DetectionInfo {
    pub fn of(d: &Detection) -> Self {
        DetectionInfo {
            id: d.id.clone(),
            title: d.title.clone(),
            severity: d.severity,
            attack: d.attack.clone(),
            tactics: d.tactics.clone(),
            source: d.source.clone(),
        }
    }
}

/// What the CloudTrail logs hold, per account and region.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Coverage {
    pub events: u64,
    pub first: String,
    pub last: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub sources: Vec<String>,
    /// Per account and region: events, first and last hour.
    pub cells: Vec<CoverageCell>,
    /// Hours, per account, between its first and last event with no event
    /// in any region: a delivery gap, logging stopped, or a quiet hour.
    pub gaps: Vec<Gap>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoverageCell {
    pub account: String,
    pub region: String,
    pub events: u64,
    pub first: String,
    pub last: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gap {
    pub account: String,
    /// First silent hour, `YYYY-MM-DDTHH`.
    pub from: String,
    /// Last silent hour.
    pub to: String,
    pub hours: u64,
}

/// Evidence events looked up per finding of an incident.
pub const EVIDENCE_PER_FINDING: usize = 25;
/// Evidence events looked up per report.
pub const EVIDENCE_MAX: usize = 5000;

impl HuntDocument {
    /// `sessions`: role sessions and who opened them (issuer, session), as
    /// the hunt found them.
    pub fn new(
        engine: &str,
        findings: Vec<Finding>,
        sessions: &[(String, String)],
        detections: &[Detection],
    ) -> Self {
        let incidents = hunt::incidents(&findings, sessions);
        HuntDocument {
            irprep: env!("CARGO_PKG_VERSION").to_string(),
            generated_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            engine: engine.to_string(),
            findings,
            incidents,
            detections: detections.iter().map(DetectionInfo::of).collect(),
            ..Default::default()
        }
    }

    /// The event ids whose facts a report shows: the first ones of each
    /// incident finding.
    pub fn evidence_wanted(&self) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for i in &self.incidents {
            for r in &i.findings {
                if let Some(f) = self.findings.get(r.index) {
                    ids.extend(f.event_ids.iter().take(EVIDENCE_PER_FINDING).cloned());
                }
            }
        }
        ids.into_iter().take(EVIDENCE_MAX).collect()
    }
}

/// Hours between two `YYYY-MM-DDTHH` stamps, and the stamp `n` hours after one.
fn hour(stamp: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(&format!("{stamp}:00:00"), "%Y-%m-%dT%H:%M:%S").ok()
}

fn stamp(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H").to_string()
}

/// What the engine's CloudTrail table covers (one scan, grouped by account,
/// region and hour). `None` when there is no CloudTrail table.
pub async fn coverage(engine: &Engine) -> Option<Coverage> {
    let r = engine
        .query(
            "SELECT recipientaccountid, awsregion, eventsource, substr(eventtime, 1, 13) AS h, count(*) AS n \
             FROM cloudtrail GROUP BY 1, 2, 3, 4",
        )
        .await
        .ok()?;
    let rows = render::rows(&r.batches).ok()?;
    let mut cov = Coverage::default();
    let mut cells: BTreeMap<(String, String), CoverageCell> = BTreeMap::new();
    let mut hours: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut accounts, mut regions, mut sources) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for row in rows {
        let get = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let (account, region, source, h) = (get(0), get(1), get(2), get(3));
        let n: u64 = get(4).parse().unwrap_or(0);
        if hour(&h).is_none() {
            continue;
        }
        cov.events += n;
        accounts.insert(account.clone());
        regions.insert(region.clone());
        sources.insert(source);
        hours.entry(account.clone()).or_default().insert(h.clone());
        let c = cells
            .entry((account.clone(), region.clone()))
            .or_insert_with(|| CoverageCell {
                account,
                region,
                events: 0,
                first: h.clone(),
                last: h.clone(),
            });
        c.events += n;
        c.first = c.first.clone().min(h.clone());
        c.last = c.last.clone().max(h);
    }
    for (account, hs) in &hours {
        let mut prev: Option<chrono::NaiveDateTime> = None;
        for h in hs.iter().filter_map(|h| hour(h)) {
            if let Some(p) = prev {
                let missing = (h - p).num_hours() - 1;
                if missing > 0 {
                    cov.gaps.push(Gap {
                        account: account.clone(),
                        from: stamp(p + chrono::Duration::hours(1)),
                        to: stamp(h - chrono::Duration::hours(1)),
                        hours: missing as u64,
                    });
                }
            }
            prev = Some(h);
        }
    }
    cov.first = hours
        .values()
        .filter_map(|h| h.first())
        .min()
        .cloned()
        .unwrap_or_default();
    cov.last = hours
        .values()
        .filter_map(|h| h.last())
        .max()
        .cloned()
        .unwrap_or_default();
    cov.cells = cells.into_values().collect();
    cov.accounts = accounts.into_iter().collect();
    cov.regions = regions.into_iter().collect();
    cov.sources = sources.into_iter().collect();
    Some(cov)
}

/// The facts of these CloudTrail events (one scan), by event id. Request
/// parameters and response elements are kept as the JSON they hold.
pub async fn evidence(
    engine: &Engine,
    ids: &[String],
) -> Result<BTreeMap<String, serde_json::Map<String, serde_json::Value>>> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(2000) {
        let list: Vec<String> = chunk.iter().map(|i| irprep_core::sql::quote(i)).collect();
        let sql = format!(
            "SELECT eventid, eventtime, eventsource, eventname, awsregion, recipientaccountid, \
             useridentity.arn AS arn, useridentity.accesskeyid AS accesskeyid, sourceipaddress, \
             useragent, errorcode, errormessage, requestparameters, responseelements \
             FROM cloudtrail WHERE eventid IN ({})",
            list.join(", ")
        );
        let r = engine.query(&sql).await?;
        let names: Vec<String> = r.schema.fields().iter().map(|f| f.name().clone()).collect();
        for row in render::rows(&r.batches)? {
            let mut m = serde_json::Map::new();
            for (name, v) in names.iter().zip(row) {
                let v = match v {
                    None => serde_json::Value::Null,
                    Some(s) if name == "requestparameters" || name == "responseelements" => {
                        serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
                    }
                    Some(s) => serde_json::Value::String(s),
                };
                m.insert(name.clone(), v);
            }
            if let Some(serde_json::Value::String(id)) = m.get("eventid").cloned() {
                out.insert(id, m);
            }
        }
    }
    Ok(out)
}

/// Fill a document's coverage and evidence from the engine it was hunted
/// with (two scans more; a failure leaves them empty and says why).
pub async fn enrich(doc: &mut HuntDocument, engine: &Engine) -> Vec<String> {
    let mut notes = vec![];
    doc.coverage = coverage(engine).await;
    if doc.coverage.is_none() {
        notes.push("no CloudTrail table: the report has no coverage".to_string());
    }
    let ids = doc.evidence_wanted();
    if !ids.is_empty() {
        match evidence(engine, &ids).await {
            Ok(e) => doc.evidence = e,
            Err(e) => notes.push(format!("evidence events not looked up: {e:#}")),
        }
    }
    notes
}

/// The techniques a drill validated: those of the detections that fired on
/// a scenario that passed.
pub fn validated(
    drill: &crate::ops::drill::DrillScore,
    detections: &[DetectionInfo],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in drill
        .scenarios
        .iter()
        .filter(|s| s.result == crate::ops::drill::Verdict::Pass)
    {
        for id in &s.fired {
            if let Some(d) = detections.iter().find(|d| &d.id == id) {
                out.extend(d.attack.iter().cloned());
            }
        }
    }
    out
}
