//! Running scenarios against AWS, safely, and the run manifest.
//!
//! Safety is enforced here as well as at load time: every EC2 call of a
//! `dry-run` step is sent with `DryRun=true`; a `harmless-failure` call that
//! succeeds, or a dry-run the endpoint performs anyway, stops the scenario and
//! is reported as a safety violation. Every request's user agent carries
//! `irprep-sim/<run-id>` so its CloudTrail events can be found again.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use irprep_core::scenario::{fill, RegionRule, Safety, Scenario, Step};
use irprep_core::synth::{placeholders, Rng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::wire::{xml_all, WireClient};

/// One call as sent and answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    pub step: usize,
    pub service: String,
    pub operation: String,
    pub region: String,
    pub safety: Safety,
    /// The wire parameters sent (after placeholders and DryRun).
    pub params: Value,
    pub time: String,
    pub http_status: u16,
    pub error_code: Option<String>,
    pub request_id: Option<String>,
    /// expected | ok | denied | unexpected-error | safety-violation
    pub outcome: String,
}

/// An event the run should leave in CloudTrail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExpectedEvent {
    pub event_source: String,
    pub event_name: String,
    pub error_code: Option<String>,
    pub region: String,
    pub call_time: String,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: String,
    pub marker: String,
    pub scenario: String,
    pub account: String,
    pub regions: Vec<String>,
    pub started: String,
    pub ended: String,
    pub calls: Vec<CallRecord>,
    pub expected_events: Vec<ExpectedEvent>,
    pub safety_violations: Vec<String>,
    /// The access key id the calls were signed with: verification asks
    /// LookupEvents for that key's events only (absent in older manifests).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Every access key id the calls were signed with, when credentials were
    /// refreshed during the run (the first is `access_key_id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_key_ids: Vec<String>,
}

impl Manifest {
    /// The keys whose events verification looks up: every key the run
    /// signed with, or none (look up every event) for a manifest without.
    pub fn lookup_keys(&self) -> Vec<Option<String>> {
        let mut keys: Vec<Option<String>> = self.access_key_ids.iter().cloned().map(Some).collect();
        if let Some(k) = &self.access_key_id {
            if !self.access_key_ids.contains(k) {
                keys.insert(0, Some(k.clone()));
            }
        }
        if keys.is_empty() {
            keys.push(None);
        }
        keys
    }
}

/// What a run needs to know about the estate.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub account: String,
    pub home: String,
    pub regions: Vec<String>,
}

pub fn new_run_id() -> String {
    let now = Utc::now();
    let mut rng =
        Rng::new(now.timestamp_nanos_opt().unwrap_or(0) as u64 ^ std::process::id() as u64);
    // Lower case, no double hyphen: it goes into S3 bucket and RDS names.
    format!("{}-{}", now.format("%Y%m%d%H%M%S"), rng.hex(6))
}

pub fn marker(run_id: &str) -> String {
    format!("irprep-sim/{run_id}")
}

/// The caller's account (STS) and the enabled regions (EC2 DescribeRegions).
pub async fn discover(
    client: &WireClient,
    conf: &SdkConfig,
    regions: &[String],
) -> Result<RunContext> {
    let home = conf
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let id = client
        .call("sts", "GetCallerIdentity", &home, &json!({}))
        .await?;
    if !id.ok() {
        anyhow::bail!(
            "sts:GetCallerIdentity failed: {} {}",
            id.error_code.unwrap_or_default(),
            id.error_message.unwrap_or_default()
        );
    }
    let account = xml_all(&id.body, "Account")
        .into_iter()
        .next()
        .unwrap_or_default();
    let regions = if regions.is_empty() {
        let r = client
            .call("ec2", "DescribeRegions", &home, &json!({}))
            .await?;
        let mut names = xml_all(&r.body, "regionName");
        names.sort();
        names.dedup();
        if names.is_empty() {
            vec![home.clone()]
        } else {
            names
        }
    } else {
        regions.to_vec()
    };
    Ok(RunContext {
        account,
        home,
        regions,
    })
}

fn cloudtrail_code(step: &Step, returned: Option<&str>, outcome: &str) -> Option<String> {
    if outcome == "expected" {
        if let Some(c) = &step.cloudtrail.error_code {
            return Some(c.clone());
        }
    }
    let c = returned?;
    // EC2 logs client errors with a "Client." prefix.
    Some(
        if step.service == "ec2" && !c.starts_with("Client.") && !c.starts_with("Server.") {
            format!("Client.{c}")
        } else {
            c.to_string()
        },
    )
}

fn classify(step: &Step, ok: bool, code: Option<&str>) -> &'static str {
    let denied = matches!(
        code,
        Some(
            "UnauthorizedOperation"
                | "AccessDenied"
                | "AccessDeniedException"
                | "Client.UnauthorizedOperation"
        )
    );
    match step.safety {
        Safety::DryRun => match code {
            Some("DryRunOperation") => "expected",
            _ if denied => "denied",
            // A read call that ignored DryRun changed nothing either.
            None if ok
                && irprep_core::scenario::READ_ONLY_PREFIXES
                    .iter()
                    .any(|p| step.operation.starts_with(p)) =>
            {
                "ok"
            }
            None if ok => "safety-violation",
            _ => "unexpected-error",
        },
        Safety::HarmlessFailure => match code {
            None if ok => "safety-violation",
            Some(c) if step.expect_error.iter().any(|e| e == c) => "expected",
            _ if denied => "denied",
            _ => "unexpected-error",
        },
        Safety::ReadOnly => {
            if ok {
                "ok"
            } else if denied {
                "denied"
            } else if code.is_some_and(|c| step.expect_error.iter().any(|e| e == c)) {
                "expected"
            } else {
                "unexpected-error"
            }
        }
    }
}

/// Run one scenario.
///
/// A safety violation stops the scenario unless `keep_going` (meant for
/// emulators that ignore DryRun on some actions; the violation is still
/// reported).
pub async fn run_scenario(
    client: &WireClient,
    ctx: &RunContext,
    s: &Scenario,
    run_id: &str,
    keep_going: bool,
    mut progress: impl FnMut(&CallRecord),
) -> Result<Manifest> {
    let started = Utc::now();
    let mut rng = Rng::new(started.timestamp_nanos_opt().unwrap_or(1) as u64);
    let mut calls = vec![];
    let mut expected = vec![];
    let mut violations = vec![];
    // Regions with no instances ("unused"), computed once if a step needs it.
    let mut unused: Option<Vec<String>> = None;
    let mut ami_cache: BTreeMap<String, String> = BTreeMap::new();
    'steps: for (si, step) in s.steps.iter().enumerate() {
        let regions: Vec<String> = match step.region {
            RegionRule::Home => vec![ctx.home.clone()],
            RegionRule::Global => vec!["us-east-1".into()],
            RegionRule::Each => ctx.regions.clone(),
            RegionRule::Unused => {
                if unused.is_none() {
                    let mut u = vec![];
                    for r in &ctx.regions {
                        let resp = client
                            .call("ec2", "DescribeInstances", r, &json!({}))
                            .await?;
                        if resp.ok() && xml_all(&resp.body, "instanceId").is_empty() {
                            u.push(r.clone());
                        }
                    }
                    unused = Some(u);
                }
                unused.clone().unwrap_or_default()
            }
        };
        for region in regions {
            let mut base: BTreeMap<String, String> = BTreeMap::new();
            let needs_ami = serde_json::to_string(&step.params)
                .unwrap_or_default()
                .contains("{ami}");
            if needs_ami {
                if !ami_cache.contains_key(&region) {
                    let r = client.call("ssm", "GetParameter", &region, &json!({"Name": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"})).await?;
                    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                    let ami = v["Parameter"]["Value"]
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| "ami-0123456789abcdef0".into());
                    ami_cache.insert(region.clone(), ami);
                }
                base.insert("ami".into(), ami_cache[&region].clone());
            }
            let items: Vec<(String, String)> = match step.foreach.as_deref() {
                Some("vpcs") => {
                    let r = client
                        .call("ec2", "DescribeVpcs", &region, &json!({}))
                        .await?;
                    xml_all(&r.body, "vpcId")
                        .into_iter()
                        .map(|v| ("vpc".to_string(), v))
                        .collect()
                }
                Some("instances") => {
                    let r = client
                        .call("ec2", "DescribeInstances", &region, &json!({}))
                        .await?;
                    let mut ids = xml_all(&r.body, "instanceId");
                    ids.dedup();
                    ids.into_iter()
                        .map(|v| ("instance".to_string(), v))
                        .collect()
                }
                Some(other) => anyhow::bail!("scenario {}: unknown foreach '{other}'", s.id),
                None => vec![(String::new(), String::new())],
            };
            for (k, v) in items {
                let mut vars = base.clone();
                if !k.is_empty() {
                    vars.insert(k, v);
                }
                for _ in 0..step.times() {
                    // Fresh placeholders per call ({random}, nonexistent ids), then
                    // the per-region and per-item values.
                    let mut call_vars = placeholders(&mut rng, run_id, &ctx.account, &region);
                    call_vars.extend(vars.clone());
                    let mut params = fill(&step.params, &call_vars);
                    if step.safety == Safety::DryRun {
                        if let Value::Object(m) = &mut params {
                            m.insert("DryRun".into(), Value::String("true".into()));
                        } else {
                            params = json!({"DryRun": "true"});
                        }
                    }
                    // The load-time rules once more, on what is about to be sent.
                    let fakes: Vec<String> = call_vars
                        .iter()
                        .filter(|(k, _)| k.starts_with("nonexistent"))
                        .map(|(_, v)| v.clone())
                        .collect();
                    if let Err(why) = irprep_core::scenario::check_call(step, &params, &fakes) {
                        violations.push(format!(
                            "step {} {}:{} in {region} was not sent: {why}",
                            si + 1,
                            step.service,
                            step.operation
                        ));
                        break 'steps;
                    }
                    let t = Utc::now();
                    let resp = client
                        .call(&step.service, &step.operation, &region, &params)
                        .await?;
                    let outcome = classify(step, resp.ok(), resp.error_code.as_deref());
                    let rec = CallRecord {
                        step: si + 1,
                        service: step.service.clone(),
                        operation: step.operation.clone(),
                        region: region.clone(),
                        safety: step.safety,
                        params: params.clone(),
                        time: t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        http_status: resp.status,
                        error_code: resp.error_code.clone(),
                        request_id: resp.request_id.clone(),
                        outcome: outcome.into(),
                    };
                    progress(&rec);
                    let ev_region = if crate::wire::service(&step.service).is_some_and(|d| d.global)
                    {
                        "us-east-1".to_string()
                    } else {
                        region.clone()
                    };
                    expected.push(ExpectedEvent {
                        event_source: step.cloudtrail.event_source.clone(),
                        event_name: step.event_name().to_string(),
                        error_code: cloudtrail_code(step, resp.error_code.as_deref(), outcome),
                        region: ev_region,
                        call_time: rec.time.clone(),
                        request_id: resp.request_id.clone(),
                    });
                    calls.push(rec);
                    if outcome == "safety-violation" {
                        violations.push(format!(
                            "step {} {}:{} in {region} succeeded (HTTP {}); a {:?} step must not{}",
                            si + 1,
                            step.service,
                            step.operation,
                            resp.status,
                            step.safety,
                            if keep_going {
                                ""
                            } else {
                                ". Scenario stopped."
                            }
                        ));
                        if !keep_going {
                            break 'steps;
                        }
                    }
                }
            }
        }
    }
    Ok(Manifest {
        run_id: run_id.to_string(),
        marker: marker(run_id),
        scenario: s.id.clone(),
        account: ctx.account.clone(),
        regions: ctx.regions.clone(),
        started: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ended: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        calls,
        expected_events: expected,
        safety_violations: violations,
        access_key_id: Some(client.access_key_id()),
        access_key_ids: match client.access_key_ids() {
            k if k.len() > 1 => k,
            _ => vec![],
        },
    })
}

/// Events found in CloudTrail for a run: (eventsource, eventname, errorcode, region, eventtime).
pub type FoundEvent = (String, String, Option<String>, String, String);

/// Look the run's events up with CloudTrail LookupEvents in each region.
pub async fn lookup_events(client: &WireClient, m: &Manifest) -> Result<Vec<FoundEvent>> {
    Ok(lookup_raw_events(client, m)
        .await?
        .iter()
        .map(|raw| {
            let ev: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
            (
                ev["eventSource"].as_str().unwrap_or("").to_string(),
                ev["eventName"].as_str().unwrap_or("").to_string(),
                ev["errorCode"].as_str().map(String::from),
                ev["awsRegion"].as_str().unwrap_or("").to_string(),
                ev["eventTime"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect())
}

/// The run's events as CloudTrail records them (`CloudTrailEvent`, whole),
/// from LookupEvents in each region of the run, every page since a minute
/// before it started; only events whose user agent carries the run's marker.
pub async fn lookup_raw_events(client: &WireClient, m: &Manifest) -> Result<Vec<String>> {
    let mut regions: Vec<String> = m.expected_events.iter().map(|e| e.region.clone()).collect();
    regions.sort();
    regions.dedup();
    let start = DateTime::parse_from_rfc3339(&m.started)
        .map(|t| t.timestamp() - 60)
        .unwrap_or(0);
    let mut out = vec![];
    // LookupEvents allows two requests a second per account and region, and
    // answers ThrottlingException past that: pace, and back off on it.
    let mut pacer = crate::wire::Pacer::lookup_events();
    for (r, key) in regions
        .iter()
        .flat_map(|r| m.lookup_keys().into_iter().map(move |k| (r.clone(), k)))
    {
        let mut token: Option<String> = None;
        loop {
            let mut p = json!({"StartTime": start, "MaxResults": 50});
            // Only the run's own keys' events, not every event of a busy account.
            if let Some(k) = &key {
                p["LookupAttributes"] =
                    json!([{"AttributeKey": "AccessKeyId", "AttributeValue": k}]);
            }
            if let Some(t) = &token {
                p["NextToken"] = Value::String(t.clone());
            }
            let resp = pacer
                .call(client, "cloudtrail", "LookupEvents", &r, &p)
                .await?;
            if !resp.ok() {
                anyhow::bail!(
                    "cloudtrail:LookupEvents in {r}: {} {}",
                    resp.error_code.unwrap_or_default(),
                    resp.error_message.unwrap_or_default()
                );
            }
            let v: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
            for e in v["Events"].as_array().into_iter().flatten() {
                let Some(raw) = e["CloudTrailEvent"].as_str() else {
                    continue;
                };
                let ev: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                if ev["userAgent"]
                    .as_str()
                    .is_some_and(|ua| ua.contains(&m.marker))
                {
                    out.push(raw.to_string());
                }
            }
            token = v["NextToken"].as_str().map(String::from);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

/// Per expected event: found or not (each found event matches one expected).
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub event: ExpectedEvent,
    pub seen: bool,
    pub event_time: Option<String>,
    /// Seconds from the call to the moment the event was found (LookupEvents
    /// polling), when known.
    pub delay_seconds: Option<i64>,
}

pub fn match_events(
    m: &Manifest,
    found: &[FoundEvent],
    found_at: Option<DateTime<Utc>>,
) -> Vec<Verification> {
    let mut pool: Vec<Option<&FoundEvent>> = found.iter().map(Some).collect();
    m.expected_events
        .iter()
        .map(|e| {
            let hit = pool.iter_mut().find(|f| {
                f.is_some_and(|f| {
                    f.0 == e.event_source
                        && f.1 == e.event_name
                        && f.3 == e.region
                        && (e.error_code.is_none() || f.2 == e.error_code)
                })
            });
            let got = hit.and_then(|h| h.take());
            let delay = match (got, found_at) {
                (Some(_), Some(at)) => DateTime::parse_from_rfc3339(&e.call_time)
                    .ok()
                    .map(|c| (at - c.with_timezone(&Utc)).num_seconds()),
                _ => None,
            };
            Verification {
                event: e.clone(),
                seen: got.is_some(),
                event_time: got.map(|g| g.4.clone()),
                delay_seconds: delay,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(first: Option<&str>, all: &[&str]) -> Manifest {
        Manifest {
            run_id: "r".into(),
            marker: marker("r"),
            scenario: "s".into(),
            account: "111111111111".into(),
            regions: vec!["us-east-1".into()],
            started: "2026-01-01T00:00:00Z".into(),
            ended: "2026-01-01T00:01:00Z".into(),
            calls: vec![],
            expected_events: vec![],
            safety_violations: vec![],
            access_key_id: first.map(String::from),
            access_key_ids: all.iter().map(|k| k.to_string()).collect(),
        }
    }

    /// A run whose credentials were refreshed is looked up under each key it
    /// signed with; an old manifest without a key looks up every event.
    #[test]
    fn verification_looks_up_every_key_the_run_signed_with() {
        let some = |k: &str| Some(k.to_string());
        assert_eq!(manifest(Some("A"), &[]).lookup_keys(), [some("A")]);
        assert_eq!(
            manifest(Some("A"), &["A", "B"]).lookup_keys(),
            [some("A"), some("B")]
        );
        assert_eq!(manifest(None, &[]).lookup_keys(), [None]);
        let old: Manifest = serde_json::from_value(serde_json::json!({
            "run_id": "r", "marker": "m", "scenario": "s", "account": "a",
            "regions": [], "started": "", "ended": "", "calls": [],
            "expected_events": [], "safety_violations": []
        }))
        .unwrap();
        assert_eq!(old.lookup_keys(), [None]);
    }
}
