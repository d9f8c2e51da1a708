//! Attack scenarios as data, and the safety rules every step must pass to
//! load (see `content/scenarios/README.md`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a step is kept harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Safety {
    /// EC2 with `DryRun=true`: permission checked, nothing done.
    DryRun,
    /// A read-only API call.
    ReadOnly,
    /// A call built to fail: it names a resource that cannot exist.
    HarmlessFailure,
}

/// Where a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionRule {
    Home,
    Each,
    Unused,
    Global,
}

/// How AWS logs the call (drives the synthesiser and `simulate verify`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CloudTrailShape {
    pub event_source: String,
    /// When the eventName differs from the operation (Lambda's versioned names).
    #[serde(default)]
    pub event_name: Option<String>,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub request_parameters: Value,
    #[serde(default)]
    pub response_elements: Value,
    #[serde(default)]
    pub additional_event_data: Value,
    #[serde(default)]
    pub resources: Value,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub service: String,
    pub operation: String,
    pub safety: Safety,
    #[serde(deserialize_with = "region_rule")]
    pub region: RegionRule,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub expect_error: Vec<String>,
    pub cloudtrail: CloudTrailShape,
    #[serde(default)]
    pub repeat: Option<u32>,
    #[serde(default)]
    pub foreach: Option<String>,
    #[serde(default)]
    pub values: Option<Value>,
}

fn region_rule<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RegionRule, D::Error> {
    let s = String::deserialize(d)?;
    Ok(match s.as_str() {
        "home" | "{region}" => RegionRule::Home,
        "each" => RegionRule::Each,
        "unused" => RegionRule::Unused,
        "global" => RegionRule::Global,
        other => {
            return Err(serde::de::Error::custom(format!(
                "unknown region rule '{other}' (home, each, unused, global)"
            )))
        }
    })
}

impl Step {
    pub fn event_name(&self) -> &str {
        self.cloudtrail
            .event_name
            .as_deref()
            .unwrap_or(&self.operation)
    }
    pub fn times(&self) -> u32 {
        self.repeat.unwrap_or(1).max(1)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub attack: Vec<String>,
    #[serde(default)]
    pub tactics: Vec<String>,
    #[serde(default)]
    pub expected_detections: Vec<String>,
    #[serde(default)]
    pub iam_actions: Vec<String>,
    pub steps: Vec<Step>,
}

/// Operation names that only read.
pub const READ_ONLY_PREFIXES: [&str; 8] = [
    "Describe", "List", "Get", "Lookup", "Search", "BatchGet", "Head", "Check",
];
/// Report calls allowed as read-only: they create no resource an attacker keeps.
pub const READ_ONLY_ALLOWED: [&str; 2] = [
    "GenerateCredentialReport",
    "GenerateServiceLastAccessedDetails",
];
/// Read-only calls that nevertheless return secret material; allowed only on
/// names that cannot exist.
pub const SECRET_READS: [&str; 4] = [
    "GetSecretValue",
    "BatchGetSecretValue",
    "GetPasswordData",
    "GetParameters",
];

fn contains_nonexistent(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{nonexistent"),
        Value::Array(a) => a.iter().any(contains_nonexistent),
        Value::Object(o) => o.values().any(contains_nonexistent),
        _ => false,
    }
}

/// Why a step is not safe, if it is not.
pub fn check_step(s: &Step) -> Result<(), String> {
    let op = s.operation.as_str();
    match s.safety {
        Safety::DryRun => {
            if s.service != "ec2" {
                return Err(format!("{}:{op}: dry-run is only for EC2", s.service));
            }
        }
        Safety::ReadOnly => {
            let ro = READ_ONLY_PREFIXES.iter().any(|p| op.starts_with(p))
                || READ_ONLY_ALLOWED.contains(&op);
            if !ro {
                return Err(format!("{}:{op}: not a read-only operation", s.service));
            }
            if s.service == "s3"
                && s.params
                    .get("method")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m != "GET" && m != "HEAD")
            {
                return Err(format!("s3:{op}: read-only S3 calls must use GET or HEAD"));
            }
            if SECRET_READS.contains(&op) && !contains_nonexistent(&s.params) && s.service != "ssm"
            {
                return Err(format!(
                    "{}:{op}: reads secrets; allowed only on names that cannot exist",
                    s.service
                ));
            }
        }
        Safety::HarmlessFailure => {
            if !contains_nonexistent(&s.params) {
                return Err(format!("{}:{op}: a harmless failure must name a resource that cannot exist ({{nonexistent…}})", s.service));
            }
        }
    }
    if s.cloudtrail.event_source.is_empty() {
        return Err(format!(
            "{}:{op}: cloudtrail.event_source is empty",
            s.service
        ));
    }
    Ok(())
}

/// Parse and check a scenario file.
pub fn parse_scenario(text: &str, path: &str) -> Result<Scenario, String> {
    let s: Scenario = serde_yaml::from_str(text).map_err(|e| format!("{path}: {e}"))?;
    if s.steps.is_empty() {
        return Err(format!("{path}: no steps"));
    }
    for (i, st) in s.steps.iter().enumerate() {
        check_step(st).map_err(|e| format!("{path}: step {}: {e}", i + 1))?;
    }
    Ok(s)
}

/// The built-in scenarios (README.md and other non-scenario files aside).
pub fn builtin() -> Result<Vec<Scenario>, String> {
    let mut out = vec![];
    for (path, text) in crate::content::SCENARIOS {
        out.push(parse_scenario(text, path)?);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The built-in scenarios named by `ids` (all of them when `ids` is empty),
/// in the order given; an unknown id is an error naming it.
pub fn select(ids: &[String]) -> Result<Vec<Scenario>, String> {
    let all = builtin()?;
    if ids.is_empty() {
        return Ok(all);
    }
    ids.iter()
        .map(|id| {
            all.iter()
                .find(|s| &s.id == id)
                .cloned()
                .ok_or_else(|| format!("no scenario '{id}' (see `irprep simulate list`)"))
        })
        .collect()
}

/// Substitute `{name}` placeholders in every string of a JSON value.
pub fn fill(v: &Value, vars: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            if out.contains('{') {
                for (k, val) in vars {
                    out = out.replace(&format!("{{{k}}}"), val);
                }
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, vars)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), fill(x, vars))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scenarios_load_and_are_safe() {
        let all = builtin().unwrap();
        assert!(all.len() >= 15, "{} scenarios", all.len());
        for s in &all {
            for st in &s.steps {
                check_step(st).unwrap();
            }
        }
    }

    fn step(yaml: &str) -> Result<Scenario, String> {
        let text = format!("id: x\ntitle: t\nsteps:\n{yaml}");
        parse_scenario(&text, "x.yaml")
    }

    #[test]
    fn unsafe_steps_do_not_load() {
        let ct = "    cloudtrail: {event_source: x.amazonaws.com}\n";
        assert!(step(
            "  - {service: ec2, operation: CreateVpc, safety: read-only, region: home}\n"
        )
        .is_err());
        assert!(step(&format!("  - service: iam\n    operation: CreateUser\n    safety: read-only\n    region: global\n{ct}")).unwrap_err().contains("not a read-only"));
        assert!(step(&format!("  - service: iam\n    operation: DeleteUser\n    safety: harmless-failure\n    region: global\n    params: {{UserName: alice}}\n{ct}")).unwrap_err().contains("cannot exist"));
        assert!(step(&format!("  - service: s3\n    operation: PutBucketPolicy\n    safety: dry-run\n    region: home\n{ct}")).unwrap_err().contains("only for EC2"));
        assert!(step(&format!("  - service: iam\n    operation: DeleteUser\n    safety: delete\n    region: global\n{ct}")).is_err());
        assert!(step(&format!("  - service: secretsmanager\n    operation: GetSecretValue\n    safety: read-only\n    region: home\n    params: {{SecretId: prod/db}}\n{ct}")).unwrap_err().contains("secrets"));
        assert!(step(&format!("  - service: iam\n    operation: DeleteUser\n    safety: harmless-failure\n    region: global\n    params: {{UserName: \"{{nonexistent_user}}\"}}\n{ct}")).is_ok());
    }
}
