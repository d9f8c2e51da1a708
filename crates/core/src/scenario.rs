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
/// Read-only calls that nevertheless return secret material, with the
/// parameters that name what they read: allowed only when each of those
/// names a resource that cannot exist.
pub const SECRET_READS: [(&str, &[&str]); 9] = [
    ("GetSecretValue", &["SecretId"]),
    // Attribute=userData returns the instance's user data, which often
    // holds bootstrap secrets: read-only only on an instance that cannot
    // exist (a scenario reads real instances with DryRun instead).
    ("DescribeInstanceAttribute", &["InstanceId"]),
    ("BatchGetSecretValue", &["SecretIdList"]),
    ("GetPasswordData", &["InstanceId"]),
    ("GetParameters", &["Names"]),
    ("GetParameter", &["Name"]),
    ("GetParametersByPath", &["Path"]),
    ("GetLaunchTemplateData", &["InstanceId"]),
    ("GetFunction", &["FunctionName"]),
];
/// "Get" calls that mint credentials: never a scenario step.
pub const MINTS_CREDENTIALS: [&str; 8] = [
    "GetSessionToken",
    "GetFederationToken",
    "GetRoleCredentials",
    "GetCredentialsForIdentity",
    "GetOpenIdToken",
    "GetAuthorizationToken",
    "GetClusterCredentials",
    "GetTemporaryGlueTableCredentials",
];
/// The operations a harmless-failure step may call (JSON and Query
/// protocols), with the parameters that name the existing resource they act
/// on. The `{nonexistent…}` placeholder must be in each of those (in every
/// element of a list); a placeholder anywhere else (a policy name, a
/// condition value, a token) does not make a call fail. An operation that is
/// not listed does not load: add it here, reviewed, with its identifier.
pub const IDENTIFIERS: &[(&str, &str, &[&str])] = &[
    ("cloudtrail", "DeleteTrail", &["Name"]),
    ("cloudtrail", "StopLogging", &["Name"]),
    ("cloudtrail", "UpdateTrail", &["Name"]),
    ("cloudtrail", "PutEventSelectors", &["TrailName"]),
    (
        "config",
        "DeleteConfigurationRecorder",
        &["ConfigurationRecorderName"],
    ),
    (
        "config",
        "StopConfigurationRecorder",
        &["ConfigurationRecorderName"],
    ),
    ("config", "DeleteDeliveryChannel", &["DeliveryChannelName"]),
    ("iam", "AttachUserPolicy", &["UserName"]),
    ("iam", "AttachRolePolicy", &["RoleName"]),
    ("iam", "CreateAccessKey", &["UserName"]),
    ("iam", "CreateLoginProfile", &["UserName"]),
    ("iam", "UpdateLoginProfile", &["UserName"]),
    ("iam", "PutUserPolicy", &["UserName"]),
    ("iam", "PutRolePolicy", &["RoleName"]),
    ("iam", "DeleteUser", &["UserName"]),
    ("iam", "UpdateAssumeRolePolicy", &["RoleName"]),
    ("kms", "DisableKey", &["KeyId"]),
    ("kms", "ScheduleKeyDeletion", &["KeyId"]),
    ("logs", "DeleteLogGroup", &["logGroupName"]),
    ("logs", "DeleteLogStream", &["logGroupName"]),
    ("logs", "PutRetentionPolicy", &["logGroupName"]),
    (
        "rds",
        "ModifyDBSnapshotAttribute",
        &["DBSnapshotIdentifier"],
    ),
    (
        "rds",
        "ModifyDBClusterSnapshotAttribute",
        &["DBClusterSnapshotIdentifier"],
    ),
    (
        "route53resolver",
        "DeleteResolverQueryLogConfig",
        &["ResolverQueryLogConfigId"],
    ),
    (
        "route53resolver",
        "DisassociateResolverQueryLogConfig",
        &["ResolverQueryLogConfigId"],
    ),
    ("secretsmanager", "GetSecretValue", &["SecretId"]),
    ("ssm", "SendCommand", &["DocumentName"]),
];
/// The REST calls a scenario may make: service, operation, method and the
/// path; `{id}` marks the segment that names the resource, which must hold
/// the `{nonexistent…}` placeholder (for a harmless failure). Nothing else
/// is sent to a REST service.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("s3", "ListBuckets", "GET", "/"),
    (
        "s3",
        "DeletePublicAccessBlock",
        "DELETE",
        "/{id}?publicAccessBlock",
    ),
    (
        "s3",
        "PutBucketLifecycleConfiguration",
        "PUT",
        "/{id}?lifecycle",
    ),
    ("s3", "PutBucketPolicy", "PUT", "/{id}?policy"),
    ("lambda", "ListFunctions", "GET", "/2015-03-31/functions/"),
    (
        "lambda",
        "AddPermission",
        "POST",
        "/2015-03-31/functions/{id}/policy",
    ),
    (
        "lambda",
        "CreateFunctionUrlConfig",
        "POST",
        "/2021-10-31/functions/{id}/url",
    ),
    (
        "lambda",
        "UpdateFunctionCode",
        "PUT",
        "/2015-03-31/functions/{id}/code",
    ),
    (
        "lambda",
        "UpdateFunctionConfiguration",
        "PUT",
        "/2015-03-31/functions/{id}/configuration",
    ),
    ("guardduty", "ListDetectors", "GET", "/detector"),
    ("guardduty", "CreateFilter", "POST", "/detector/{id}/filter"),
    ("guardduty", "CreateIPSet", "POST", "/detector/{id}/ipset"),
    ("guardduty", "DeleteDetector", "DELETE", "/detector/{id}"),
    ("guardduty", "UpdateDetector", "POST", "/detector/{id}"),
];
/// Services spoken with a REST protocol (`method`, `path`, `body`).
pub const REST_SERVICES: [&str; 4] = ["s3", "lambda", "guardduty", "securityhub"];
/// Query-protocol parameters the runner sets itself.
pub const RESERVED_PARAMS: [&str; 3] = ["Action", "Version", "DryRun"];

fn has_placeholder(s: &str) -> bool {
    s.contains("{nonexistent}") || s.contains("{nonexistent_")
}

/// Every string of `v` (each element of a list) satisfies `f`, and there is
/// at least one.
fn all_strings(v: &Value, f: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => !a.is_empty() && a.iter().all(|x| all_strings(x, f)),
        _ => false,
    }
}

/// The parameters of a step that name what it acts on, for its safety class.
fn identifiers(s: &Step) -> Option<&'static [&'static str]> {
    if s.safety == Safety::ReadOnly {
        return SECRET_READS
            .iter()
            .find(|(op, _)| *op == s.operation)
            .map(|(_, ids)| *ids);
    }
    IDENTIFIERS
        .iter()
        .find(|(svc, op, _)| *svc == s.service && *op == s.operation)
        .map(|(_, _, ids)| *ids)
}

/// A path that stays a path: starts with `/`, no authority, no `..`.
pub fn safe_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains("/../")
        && !p.ends_with("/..")
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_.-~{}?=&%".contains(&b))
}

/// Whether `path` follows `template`; `id` tells what the `{id}` segment must
/// satisfy.
fn route_matches(template: &str, path: &str, id: &dyn Fn(&str) -> bool) -> bool {
    let (t_path, t_query) = template.split_once('?').unwrap_or((template, ""));
    let (p_path, p_query) = path.split_once('?').unwrap_or((path, ""));
    if t_query != p_query {
        return false;
    }
    let t: Vec<&str> = t_path.split('/').collect();
    let p: Vec<&str> = p_path.split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(a, b)| {
            if *a == "{id}" {
                !b.is_empty() && id(b)
            } else {
                a == b
            }
        })
}

/// Why a step is not safe, if it is not.
pub fn check_step(s: &Step) -> Result<(), String> {
    let op = s.operation.as_str();
    let name = format!("{}:{op}", s.service);
    if s.values.is_some() {
        return Err(format!(
            "{name}: `values:` is not supported (one step per value)"
        ));
    }
    if MINTS_CREDENTIALS.contains(&op) {
        return Err(format!("{name}: mints credentials; never a scenario step"));
    }
    let rest = REST_SERVICES.contains(&s.service.as_str());
    let params = match &s.params {
        Value::Null => serde_json::Map::new(),
        Value::Object(m) => m.clone(),
        _ => return Err(format!("{name}: params must be a mapping")),
    };
    match s.safety {
        Safety::DryRun => {
            if s.service != "ec2" {
                return Err(format!("{name}: dry-run is only for EC2"));
            }
        }
        Safety::ReadOnly => {
            let ro = READ_ONLY_PREFIXES.iter().any(|p| op.starts_with(p))
                || READ_ONLY_ALLOWED.contains(&op);
            if !ro {
                return Err(format!("{name}: not a read-only operation"));
            }
        }
        Safety::HarmlessFailure => {
            if s.service == "ec2" {
                return Err(format!(
                    "{name}: EC2 steps are dry-run (DryRun=true is what keeps them harmless)"
                ));
            }
        }
    }
    if rest {
        for k in params.keys() {
            if !["method", "path", "body"].contains(&k.as_str()) {
                return Err(format!(
                    "{name}: a REST step takes method, path and body only (not {k})"
                ));
            }
        }
        let method = params
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET");
        let path = params.get("path").and_then(Value::as_str).unwrap_or("/");
        if !safe_path(path) {
            return Err(format!(
                "{name}: path {path:?} must start with / and hold only letters, digits and / _ . - ~ {{ }} ? = & %"
            ));
        }
        let Some((_, _, want_method, template)) = ROUTES
            .iter()
            .find(|(svc, o, _, _)| *svc == s.service && *o == op)
        else {
            return Err(format!(
                "{name}: not a declared REST route (scenario::ROUTES)"
            ));
        };
        if !method.eq_ignore_ascii_case(want_method) {
            return Err(format!("{name}: is {want_method} {template}, not {method}"));
        }
        let harmless = s.safety == Safety::HarmlessFailure;
        if harmless && !template.contains("{id}") {
            return Err(format!(
                "{name}: names no resource, so it cannot fail harmlessly"
            ));
        }
        if !route_matches(template, path, &|seg| !harmless || has_placeholder(seg)) {
            return Err(format!(
                "{name}: path {path:?} does not follow {want_method} {template}{}",
                if harmless {
                    " with {nonexistent…} in the {id} segment"
                } else {
                    ""
                }
            ));
        }
    } else {
        if let Some(k) = params
            .keys()
            .find(|k| RESERVED_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(k)))
        {
            return Err(format!("{name}: {k} is set by the runner, never by a step"));
        }
        let needs_ids = s.safety == Safety::HarmlessFailure
            || (s.safety == Safety::ReadOnly && SECRET_READS.iter().any(|(o, _)| *o == op));
        if needs_ids {
            let Some(ids) = identifiers(s) else {
                return Err(format!(
                    "{name}: a harmless failure must be declared with the parameter that names its target (scenario::IDENTIFIERS)"
                ));
            };
            for id in ids {
                let ok = params
                    .get(*id)
                    .is_some_and(|v| all_strings(v, &has_placeholder));
                if !ok {
                    return Err(format!(
                        "{name}: {id} must name a resource that cannot exist ({{nonexistent…}}){}",
                        if s.safety == Safety::ReadOnly {
                            "; this call reads secrets"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
    }
    if s.cloudtrail.event_source.is_empty() {
        return Err(format!("{name}: cloudtrail.event_source is empty"));
    }
    Ok(())
}

/// The same rules on the call about to be sent (placeholders filled):
/// every identifier holds one of this run's `nonexistent` values, and a REST
/// call goes exactly where its route says. The runner refuses to send a call
/// that fails this.
pub fn check_call(s: &Step, params: &Value, nonexistent: &[String]) -> Result<(), String> {
    let name = format!("{}:{}", s.service, s.operation);
    let fake = |v: &str| {
        nonexistent
            .iter()
            .any(|n| !n.is_empty() && v.contains(n.as_str()))
    };
    if REST_SERVICES.contains(&s.service.as_str()) {
        let method = params
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET");
        let path = params.get("path").and_then(Value::as_str).unwrap_or("/");
        let (_, _, want, template) = ROUTES
            .iter()
            .find(|(svc, o, _, _)| *svc == s.service && *o == s.operation)
            .ok_or_else(|| format!("{name}: not a declared REST route"))?;
        let harmless = s.safety == Safety::HarmlessFailure;
        if !method.eq_ignore_ascii_case(want)
            || !safe_path(path)
            || !route_matches(template, path, &|seg| !harmless || fake(seg))
        {
            return Err(format!("{name}: {method} {path} is not {want} {template}"));
        }
        return Ok(());
    }
    let reserved = |m: &serde_json::Map<String, Value>| {
        m.iter().any(|(k, v)| {
            RESERVED_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(k))
                && !(s.safety == Safety::DryRun && k == "DryRun" && v == "true")
        })
    };
    match params {
        Value::Object(m) if reserved(m) => {
            return Err(format!("{name}: a reserved parameter is set"))
        }
        Value::Object(m)
            if s.safety == Safety::DryRun && m.get("DryRun") != Some(&Value::from("true")) =>
        {
            return Err(format!("{name}: a dry-run call without DryRun=true"))
        }
        _ => {}
    }
    let needs_ids = s.safety == Safety::HarmlessFailure
        || (s.safety == Safety::ReadOnly && SECRET_READS.iter().any(|(o, _)| *o == s.operation));
    if needs_ids {
        let ids = identifiers(s).ok_or_else(|| format!("{name}: no declared identifier"))?;
        for id in ids {
            if !params.get(*id).is_some_and(|v| all_strings(v, &fake)) {
                return Err(format!(
                    "{name}: {id} does not name this run's nonexistent resource"
                ));
            }
        }
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

    fn one(yaml_step: &str) -> Result<Scenario, String> {
        step(&format!(
            "  - {}\n    cloudtrail: {{event_source: x.amazonaws.com}}\n",
            yaml_step.trim().replace('\n', "\n    ")
        ))
    }

    /// Each bypass of the security review (H5), as a file that must not load.
    #[test]
    fn every_known_bypass_is_refused() {
        let refused = [
            // The placeholder in a policy name, not in the role it changes:
            // PutRolePolicy would add an inline policy to a real role.
            ("service: iam\noperation: PutRolePolicy\nsafety: harmless-failure\nregion: global\nparams: {RoleName: OrganizationAccountAccessRole, PolicyName: \"{nonexistent}\", PolicyDocument: '{}'}", "RoleName"),
            // A REST call whose placeholder sits in the body's StatementId.
            ("service: lambda\noperation: AddPermission\nsafety: harmless-failure\nregion: home\nparams: {method: POST, path: /2015-03-31/functions/prod-payments/policy, body: {StatementId: \"{nonexistent}\", Principal: \"*\"}}", "{id}"),
            // The placeholder inside a condition value of a real bucket's policy.
            ("service: s3\noperation: PutBucketPolicy\nsafety: harmless-failure\nregion: home\nparams: {method: PUT, path: /real-bucket?policy, body: '{\"Condition\":\"{nonexistent}\"}'}", "{id}"),
            // A token, not the secret it writes.
            ("service: secretsmanager\noperation: PutSecretValue\nsafety: harmless-failure\nregion: home\nparams: {SecretId: prod/db, ClientRequestToken: \"{nonexistent}\"}", "IDENTIFIERS"),
            // An EC2 call that is not a dry run.
            ("service: ec2\noperation: TerminateInstances\nsafety: harmless-failure\nregion: home\nparams: {InstanceId.1: \"{nonexistent}\"}", "dry-run"),
            // A read-only name with a deleting method (every REST service).
            ("service: lambda\noperation: GetFunction\nsafety: read-only\nregion: home\nparams: {method: DELETE, path: /2015-03-31/functions/prod-payments}", "REST route"),
            ("service: guardduty\noperation: ListDetectors\nsafety: read-only\nregion: home\nparams: {method: DELETE, path: /detector}", "not DELETE"),
            // Overriding the Query action.
            ("service: iam\noperation: GetUser\nsafety: read-only\nregion: global\nparams: {Action: DeleteUser, UserName: bob}", "set by the runner"),
            ("service: ec2\noperation: DescribeVpcs\nsafety: read-only\nregion: home\nparams: {version: '2010-01-01'}", "set by the runner"),
            // Secret reads on real names, SSM included.
            ("service: ssm\noperation: GetParameters\nsafety: read-only\nregion: home\nparams: {Names: [/prod/db-password], WithDecryption: true}", "secrets"),
            ("service: ssm\noperation: GetParametersByPath\nsafety: read-only\nregion: home\nparams: {Path: /prod}", "secrets"),
            ("service: secretsmanager\noperation: BatchGetSecretValue\nsafety: read-only\nregion: home\nparams: {SecretIdList: [prod/db, \"{nonexistent}\"]}", "secrets"),
            // Credentials minted by a \"Get\".
            ("service: sts\noperation: GetSessionToken\nsafety: read-only\nregion: global\nparams: {}", "mints credentials"),
            // Authority injection through the path.
            ("service: s3\noperation: ListBuckets\nsafety: read-only\nregion: home\nparams: {method: GET, path: \"@evil.example/x\"}", "must start with /"),
            ("service: s3\noperation: ListBuckets\nsafety: read-only\nregion: home\nparams: {method: GET, path: \"//evil.example/x\"}", "must start with /"),
            ("service: s3\noperation: ListBuckets\nsafety: read-only\nregion: home\nparams: {method: GET, path: /, host: evil.example}", "method, path and body only"),
            // A documented-but-ignored repetition.
            ("service: iam\noperation: ListUsers\nsafety: read-only\nregion: global\nvalues: {MaxItems: [1, 2]}", "values"),
        ];
        for (yaml, why) in refused {
            let e = one(yaml).expect_err(yaml);
            assert!(e.contains(why), "{yaml}\n -> {e}");
        }
    }

    #[test]
    fn the_call_about_to_be_sent_is_checked_again() {
        let s = one("service: iam\noperation: DeleteUser\nsafety: harmless-failure\nregion: global\nparams: {UserName: \"{nonexistent_user}\"}").unwrap();
        let st = &s.steps[0];
        let fake = vec!["irprep-sim-user-abc".to_string()];
        assert!(check_call(
            st,
            &serde_json::json!({"UserName": "irprep-sim-user-abc"}),
            &fake
        )
        .is_ok());
        // A placeholder filled with something else (a clashing variable) is refused.
        assert!(check_call(st, &serde_json::json!({"UserName": "alice"}), &fake).is_err());
        let s = one("service: s3\noperation: PutBucketPolicy\nsafety: harmless-failure\nregion: home\nparams: {method: PUT, path: \"/{nonexistent}?policy\"}").unwrap();
        let st = &s.steps[0];
        let fake = vec!["irprep-sim-x-does-not-exist".to_string()];
        assert!(check_call(
            st,
            &serde_json::json!({"method": "PUT", "path": "/irprep-sim-x-does-not-exist?policy"}),
            &fake
        )
        .is_ok());
        assert!(check_call(
            st,
            &serde_json::json!({"method": "PUT", "path": "/prod?policy"}),
            &fake
        )
        .is_err());
        let s = one("service: ec2\noperation: RunInstances\nsafety: dry-run\nregion: home\nparams: {ImageId: ami-1}").unwrap();
        let st = &s.steps[0];
        assert!(check_call(
            st,
            &serde_json::json!({"ImageId": "ami-1", "DryRun": "true"}),
            &[]
        )
        .is_ok());
        assert!(check_call(st, &serde_json::json!({"ImageId": "ami-1"}), &[]).is_err());
    }
}
