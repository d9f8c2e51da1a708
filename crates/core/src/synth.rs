//! Synthetic CloudTrail: background activity modelled on real accounts, plus
//! the events each scenario's calls would leave, written as gzipped delivery
//! files in the real S3 layout with a `labels.csv`. Deterministic for a seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use serde_json::{json, Map, Value};

use crate::scenario::{fill, RegionRule, Scenario, Step};

/// A small, fast, deterministic PRNG (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            (a & 0xfff) as u16,
            ((b >> 48) as u16 & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
    pub fn upper_alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
}

/// What to synthesise.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub seed: u64,
    pub accounts: Vec<String>,
    /// The first region is the home region; background activity uses the
    /// first two, so the rest are "unused" regions.
    pub regions: Vec<String>,
    pub days: u32,
    /// Background events in total.
    pub background: usize,
    /// How many of the regions carry background activity (the rest stay
    /// unused, as attackers like them).
    pub background_regions: usize,
    /// Minutes of events per delivery file (CloudTrail delivers about every 5).
    pub file_minutes: u32,
    pub start: DateTime<Utc>,
    pub scenarios: Vec<Scenario>,
    /// The background's shape: as an account's days look, or one of the
    /// adversarial shapes the hunt's costs are tested with.
    pub shape: Shape,
}

/// The shape of the background activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// People, pipelines, applications and services, as in an account.
    #[default]
    Normal,
    /// One principal (one role session, open the whole time) makes every
    /// call.
    OnePrincipal,
    /// Every call of a delivery window falls in its first minute.
    OneMinute,
    /// Every call is made by a principal of its own (a new role session).
    ManyPrincipals,
}

impl Shape {
    pub const NAMES: [&'static str; 4] =
        ["normal", "one-principal", "one-minute", "many-principals"];

    pub fn parse(s: &str) -> Option<Shape> {
        Some(match s {
            "normal" => Shape::Normal,
            "one-principal" => Shape::OnePrincipal,
            "one-minute" => Shape::OneMinute,
            "many-principals" => Shape::ManyPrincipals,
            _ => return None,
        })
    }
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            accounts: vec!["111122223333".into()],
            regions: [
                "us-east-1",
                "us-west-2",
                "eu-west-1",
                "ap-southeast-2",
                "eu-central-1",
                "ap-northeast-1",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            days: 1,
            background: 5000,
            background_regions: 2,
            file_minutes: 5,
            start: Utc
                .with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
                .single()
                .expect("valid date"),
            scenarios: vec![],
            shape: Shape::Normal,
        }
    }
}

/// What was written.
#[derive(Debug, Default)]
pub struct SynthSummary {
    pub files: usize,
    pub events: usize,
    pub background_events: usize,
    /// scenario id -> event ids
    pub scenario_events: BTreeMap<String, Vec<String>>,
    pub out_dir: PathBuf,
}

/// A synthetic event with where it goes and its label.
struct Ev {
    account: String,
    region: String,
    time: DateTime<Utc>,
    label: String,
    json: Packed,
}

/// An event serialised as soon as it is made (a tree of JSON values per
/// event would cost several KB each for a million events).
struct Packed {
    bytes: Vec<u8>,
    id: String,
}

impl Packed {
    fn new(v: &Value) -> Self {
        Packed {
            bytes: serde_json::to_vec(v).unwrap_or_default(),
            id: v["eventID"].as_str().unwrap_or("").to_string(),
        }
    }
}

/// Actor identities.
#[derive(Clone)]
struct Actor {
    identity: Value,
    ip: String,
    ua: String,
    console: bool,
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn iam_user(
    rng: &mut Rng,
    account: &str,
    name: &str,
    long_term: bool,
    console: bool,
    mfa: bool,
    start: DateTime<Utc>,
) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), "IAMUser".into());
    m.insert(
        "principalId".into(),
        format!("AIDA{}", rng.upper_alnum(17)).into(),
    );
    m.insert(
        "arn".into(),
        format!("arn:aws:iam::{account}:user/{name}").into(),
    );
    m.insert("accountId".into(), account.into());
    m.insert(
        "accessKeyId".into(),
        format!(
            "{}{}",
            if long_term { "AKIA" } else { "ASIA" },
            rng.upper_alnum(16)
        )
        .into(),
    );
    m.insert("userName".into(), name.into());
    if console {
        m.insert(
            "sessionContext".into(),
            json!({"sessionIssuer": {}, "webIdFederationData": {}, "attributes": {"creationDate": ts(start), "mfaAuthenticated": if mfa {"true"} else {"false"}}}),
        );
    }
    Value::Object(m)
}

fn assumed_role(
    rng: &mut Rng,
    account: &str,
    role: &str,
    session: &str,
    start: DateTime<Utc>,
) -> Value {
    let rid = format!("AROA{}", rng.upper_alnum(17));
    json!({
        "type": "AssumedRole",
        "principalId": format!("{rid}:{session}"),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        "accountId": account,
        "accessKeyId": format!("ASIA{}", rng.upper_alnum(16)),
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": rid, "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role},
            "webIdFederationData": {},
            "attributes": {"creationDate": ts(start), "mfaAuthenticated": "false"}
        }
    })
}

fn tls(host: &str) -> Value {
    json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": host})
}

fn host_of(source: &str, region: &str) -> String {
    let svc = source.trim_end_matches(".amazonaws.com");
    match svc {
        "iam" => "iam.amazonaws.com".into(),
        "sts" => "sts.amazonaws.com".into(),
        "s3" => format!("s3.{region}.amazonaws.com"),
        "signin" => "signin.aws.amazon.com".into(),
        "lambda" => format!("lambda.{region}.amazonaws.com"),
        other => format!("{other}.{region}.amazonaws.com"),
    }
}

/// A management API call event, with CloudTrail's key order.
#[allow(clippy::too_many_arguments)]
fn api_event(
    rng: &mut Rng,
    actor: &Actor,
    t: DateTime<Utc>,
    account: &str,
    region: &str,
    source: &str,
    name: &str,
    read_only: bool,
    request: Value,
    response: Value,
    error: Option<(&str, &str)>,
    extra: &[(&str, Value)],
) -> Value {
    let mut m = Map::new();
    m.insert("eventVersion".into(), "1.09".into());
    m.insert("userIdentity".into(), actor.identity.clone());
    m.insert("eventTime".into(), ts(t).into());
    m.insert("eventSource".into(), source.into());
    m.insert("eventName".into(), name.into());
    m.insert("awsRegion".into(), region.into());
    m.insert("sourceIPAddress".into(), actor.ip.clone().into());
    m.insert("userAgent".into(), actor.ua.clone().into());
    if let Some((code, msg)) = error {
        m.insert("errorCode".into(), code.into());
        m.insert("errorMessage".into(), msg.into());
    }
    m.insert("requestParameters".into(), request);
    m.insert("responseElements".into(), response);
    let auto = service_extras(rng, source, name, &m["requestParameters"], account, region);
    let pick = |key: &str| {
        extra
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| auto.get(key).cloned())
    };
    if let Some(v) = pick("additionalEventData") {
        m.insert("additionalEventData".into(), v);
    }
    m.insert("requestID".into(), rng.uuid().into());
    m.insert("eventID".into(), rng.uuid().into());
    m.insert("readOnly".into(), read_only.into());
    if let Some(v) = pick("resources") {
        m.insert("resources".into(), v);
    }
    m.insert("eventType".into(), "AwsApiCall".into());
    if let Some(v) = pick("apiVersion") {
        m.insert("apiVersion".into(), v);
    }
    m.insert("managementEvent".into(), true.into());
    m.insert("recipientAccountId".into(), account.into());
    m.insert("eventCategory".into(), "Management".into());
    // Console calls are made by the console's own servers, and calls a
    // service makes on a principal's behalf come from the service: no client
    // TLS details then (the console sets its session flag instead).
    if actor.identity.get("invokedBy").is_some() {
    } else if actor.console {
        m.insert("sessionCredentialFromConsole".into(), "true".into());
    } else {
        m.insert("tlsDetails".into(), tls(&host_of(source, region)));
    }
    Value::Object(m)
}

/// The fields a service always adds to its events, when the template or
/// scenario does not give them: S3's request details and bucket resource,
/// KMS's key, SSM's parameter, CloudWatch Logs' API version.
fn service_extras(
    rng: &mut Rng,
    source: &str,
    name: &str,
    req: &Value,
    account: &str,
    region: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    match source {
        "s3.amazonaws.com" => {
            m.insert(
                "additionalEventData".into(),
                json!({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": format!("{}=", rng.alnum(76)), "bytesTransferredOut": 0}),
            );
            if let Some(b) = req.get("bucketName").and_then(Value::as_str) {
                m.insert("resources".into(), json!([{"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{b}")}]));
            }
        }
        "kms.amazonaws.com" => {
            let key = req
                .get("keyId")
                .and_then(Value::as_str)
                .filter(|k| k.starts_with("arn:"))
                .map(String::from)
                .unwrap_or_else(|| format!("arn:aws:kms:{region}:{account}:key/{}", rng.uuid()));
            m.insert(
                "resources".into(),
                json!([{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}]),
            );
        }
        "ssm.amazonaws.com" if name == "GetParameter" || name == "GetParameters" => {
            let names: Vec<String> = match (req.get("name"), req.get("names")) {
                (Some(Value::String(n)), _) => vec![n.clone()],
                (_, Some(Value::Array(a))) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                _ => vec![],
            };
            let res: Vec<Value> = names.iter().map(|n| json!({"accountId": account, "ARN": format!("arn:aws:ssm:{region}:{account}:parameter/{}", n.trim_start_matches('/'))})).collect();
            if !res.is_empty() {
                m.insert("resources".into(), Value::Array(res));
            }
        }
        "logs.amazonaws.com" => {
            m.insert("apiVersion".into(), "20140328".into());
        }
        _ => {}
    }
    m
}

/// Background call templates: (eventSource, eventName, readOnly, request parameters).
fn background_calls(rng: &mut Rng, region: &str, account: &str) -> (String, String, bool, Value) {
    let bucket = format!(
        "{}-{}",
        rng.pick(&["app-assets", "build-artifacts", "data-lake", "web-logs"]),
        account
    );
    let choices: [(&str, &str, bool, Value); 15] = [
        (
            "ec2.amazonaws.com",
            "DescribeInstances",
            true,
            json!({"instancesSet": {}, "filterSet": {}}),
        ),
        (
            "ec2.amazonaws.com",
            "DescribeVpcs",
            true,
            json!({"vpcSet": {}, "filterSet": {}}),
        ),
        (
            "ec2.amazonaws.com",
            "DescribeSecurityGroups",
            true,
            json!({"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
        ),
        (
            "ec2.amazonaws.com",
            "DescribeSubnets",
            true,
            json!({"subnetSet": {}, "filterSet": {}}),
        ),
        (
            "ec2.amazonaws.com",
            "DescribeRouteTables",
            true,
            json!({"routeTableIdSet": {}, "filterSet": {}}),
        ),
        (
            "ec2.amazonaws.com",
            "DescribeAvailabilityZones",
            true,
            json!({"availabilityZoneSet": {}, "availabilityZoneIdSet": {}}),
        ),
        (
            "s3.amazonaws.com",
            "GetBucketAcl",
            true,
            json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "acl": ""}),
        ),
        (
            "s3.amazonaws.com",
            "GetBucketPolicy",
            true,
            json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "policy": ""}),
        ),
        (
            "s3.amazonaws.com",
            "ListBuckets",
            true,
            json!({"Host": format!("s3.{region}.amazonaws.com")}),
        ),
        ("iam.amazonaws.com", "GetUser", true, Value::Null),
        ("iam.amazonaws.com", "ListRoles", true, Value::Null),
        (
            "ssm.amazonaws.com",
            "DescribeParameters",
            true,
            json!({"maxResults": 50}),
        ),
        (
            "ssm.amazonaws.com",
            "GetParameter",
            true,
            json!({"name": format!("/app/{}/config", rng.pick(&["web", "api", "worker"]))}),
        ),
        (
            "rds.amazonaws.com",
            "DescribeDBInstances",
            true,
            Value::Null,
        ),
        (
            "secretsmanager.amazonaws.com",
            "DescribeSecret",
            true,
            json!({"secretId": format!("prod/{}/db", rng.pick(&["web", "api"]))}),
        ),
    ];
    let (s, n, r, p) = rng.pick(&choices).clone();
    (s.to_string(), n.to_string(), r, p)
}

fn with_invoked_by(identity: &Value, by: &str) -> Value {
    let mut i = identity.clone();
    if let Some(o) = i.as_object_mut() {
        o.insert("invokedBy".into(), by.into());
    }
    i
}

/// What an analyst's console session calls (the console's read pattern).
fn console_calls(rng: &mut Rng) -> (String, String, bool, Value) {
    let (s, n, p): (&str, &str, Value) = rng
        .pick(&[
            (
                "ec2.amazonaws.com",
                "DescribeVpcs",
                json!({"vpcSet": {}, "filterSet": {}}),
            ),
            (
                "ec2.amazonaws.com",
                "DescribeRouteTables",
                json!({"routeTableIdSet": {}, "filterSet": {}}),
            ),
            (
                "ec2.amazonaws.com",
                "DescribeSubnets",
                json!({"subnetSet": {}, "filterSet": {}}),
            ),
            (
                "ec2.amazonaws.com",
                "DescribeSecurityGroups",
                json!({"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
            ),
            (
                "ec2.amazonaws.com",
                "DescribeInstances",
                json!({"instancesSet": {}, "filterSet": {}}),
            ),
            (
                "ec2.amazonaws.com",
                "DescribeRegions",
                json!({"regionSet": {}}),
            ),
            ("rds.amazonaws.com", "DescribeDBInstances", Value::Null),
            (
                "cloudtrail.amazonaws.com",
                "DescribeTrails",
                json!({"includeShadowTrails": false}),
            ),
            (
                "monitoring.amazonaws.com",
                "DescribeAlarms",
                json!({"maxRecords": 100}),
            ),
        ])
        .clone();
    (s.to_string(), n.to_string(), true, p)
}

fn service_assume_role(rng: &mut Rng, t: DateTime<Utc>, account: &str, region: &str) -> Value {
    let svc = rng
        .pick(&[
            "lambda.amazonaws.com",
            "ec2.amazonaws.com",
            "config.amazonaws.com",
            "ecs-tasks.amazonaws.com",
        ])
        .to_string();
    let role = format!(
        "arn:aws:iam::{account}:role/{}",
        svc.split('.').next().unwrap_or("svc")
    );
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AWSService", "invokedBy": svc},
        "eventTime": ts(t),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": region,
        "sourceIPAddress": svc,
        "userAgent": svc,
        "requestParameters": {"roleArn": role, "roleSessionName": rng.alnum(12), "durationSeconds": 3600},
        "responseElements": {"credentials": {"accessKeyId": format!("ASIA{}", rng.upper_alnum(16)), "sessionToken": rng.alnum(64), "expiration": (t + Duration::hours(1)).format("%b %-d, %Y, %-I:%M:%S %p").to_string()}},
        "requestID": rng.uuid(),
        "eventID": rng.uuid(),
        "readOnly": true,
        "resources": [{"accountId": account, "type": "AWS::IAM::Role", "ARN": role}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "sharedEventID": rng.uuid(),
        "eventCategory": "Management"
    })
}

fn service_event(rng: &mut Rng, t: DateTime<Utc>, account: &str, region: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"accountId": account, "invokedBy": "secretsmanager.amazonaws.com"},
        "eventTime": ts(t),
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": "RotationSucceeded",
        "awsRegion": region,
        "sourceIPAddress": "secretsmanager.amazonaws.com",
        "userAgent": "secretsmanager.amazonaws.com",
        "requestParameters": null,
        "responseElements": null,
        "eventID": rng.uuid(),
        "readOnly": false,
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "recipientAccountId": account,
        "serviceEventDetails": {"arn": format!("arn:aws:secretsmanager:{region}:{account}:secret:prod/api/db-{}", rng.alnum(6))},
        "eventCategory": "Management"
    })
}

fn console_login(rng: &mut Rng, actor: &Actor, t: DateTime<Utc>, account: &str) -> Value {
    let mut identity = actor.identity.clone();
    if let Some(o) = identity.as_object_mut() {
        o.remove("accessKeyId");
        o.remove("sessionContext");
    }
    json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": ts(t),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": actor.ip,
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "requestParameters": null,
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAIdentifier": format!("arn:aws:iam::{account}:mfa/phone"), "MFAUsed": "Yes"},
        "eventID": rng.uuid(),
        "readOnly": false,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": tls("signin.aws.amazon.com")
    })
}

/// The actors of one account's background activity, made once (their ids
/// drawn from the run's generator) and then used for every slice of time.
struct Background {
    account: String,
    used: Vec<String>,
    home: String,
    analyst: Actor,
    terraform: Actor,
    app: Actor,
    agent: Actor,
    deployer_session: Value,
    lambda: Actor,
    shape: Shape,
}

impl Background {
    fn new(rng: &mut Rng, cfg: &SynthConfig, account: &str) -> Self {
        let used: Vec<String> = cfg
            .regions
            .iter()
            .take(cfg.background_regions.max(1))
            .cloned()
            .collect();
        let home = cfg
            .regions
            .first()
            .cloned()
            .unwrap_or_else(|| "us-east-1".into());
        let start = cfg.start;
        let analyst = Actor {
            identity: iam_user(rng, account, "alice", false, true, true, start),
            ip: "198.51.100.24".into(),
            ua: "AWS Internal".into(),
            console: true,
        };
        let terraform = Actor {
        identity: iam_user(rng, account, "ci-deploy", true, false, false, start),
        ip: "198.51.100.77".into(),
        ua: "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.51.0 (go1.22.1; linux; amd64)".into(),
        console: false,
    };
        let app = Actor {
        identity: assumed_role(rng, account, "app-server-role", "i-0a1b2c3d4e5f60718", start),
        ip: "10.20.1.15".into(),
        ua: "aws-sdk-java/2.25.6 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. md/internal exec-env/AWS_EC2".into(),
        console: false,
    };
        let agent = Actor {
            ua: "amazon-ssm-agent/3.3.40.0".into(),
            ..app.clone()
        };
        // The deployer's temporary session, on whose behalf Secrets Manager calls KMS.
        let deployer_session = iam_user(rng, account, "ci-deploy", false, true, false, start);
        let lambda = Actor {
        identity: assumed_role(rng, account, "report-builder-lambda", "report-builder", start),
        ip: "3.80.12.34".into(),
        ua: "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.214-223.836.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.51".into(),
        console: false,
    };
        Background {
            account: account.to_string(),
            used,
            home,
            analyst,
            terraform,
            app,
            agent,
            deployer_session,
            lambda,
            shape: cfg.shape,
        }
    }

    /// The analyst's console login, once a day.
    fn logins(&self, rng: &mut Rng, cfg: &SynthConfig, out: &mut Vec<Ev>) {
        let account = self.account.as_str();
        for d in 0..cfg.days.max(1) {
            let t = cfg.start
                + Duration::seconds(d as i64 * 86_400 + 8 * 3600 + rng.below(3600) as i64);
            out.push(Ev {
                account: account.into(),
                region: "us-east-1".into(),
                time: t,
                label: "benign".into(),
                json: Packed::new(&console_login(rng, &self.analyst, t, account)),
            });
        }
    }

    /// `n` background events at times in `[from, from + secs)` (a burst may
    /// run a few seconds past the end).
    fn slice(&self, rng: &mut Rng, from: DateTime<Utc>, secs: i64, n: usize, out: &mut Vec<Ev>) {
        let account = self.account.as_str();
        let (used, home) = (&self.used, &self.home);
        let (analyst, terraform, app, agent, lambda) = (
            &self.analyst,
            &self.terraform,
            &self.app,
            &self.agent,
            &self.lambda,
        );
        let deployer_session = &self.deployer_session;
        let shape = self.shape;
        // (A burst that starts in the first 50 seconds ends within 7.)
        let secs = if shape == Shape::OneMinute {
            secs.min(50)
        } else {
            secs
        };
        let mut produced = 0;
        while produced < n {
            let t = from + Duration::seconds(rng.below(secs.max(1) as u64) as i64);
            let region = rng.pick(used).to_string();
            let kind = match shape {
                // The application's calls only.
                Shape::OnePrincipal | Shape::ManyPrincipals => 26 + rng.below(24),
                _ => rng.below(100),
            };
            if kind < 8 {
                out.push(Ev {
                    account: account.into(),
                    region: region.clone(),
                    time: t,
                    label: "benign".into(),
                    json: Packed::new(&service_assume_role(rng, t, account, &region)),
                });
                produced += 1;
                continue;
            }
            if kind < 10 {
                out.push(Ev {
                    account: account.into(),
                    region: region.clone(),
                    time: t,
                    label: "benign".into(),
                    json: Packed::new(&service_event(rng, t, account, &region)),
                });
                produced += 1;
                continue;
            }
            if kind < 14 {
                // A Terraform plan: a burst of reads.
                let burst = 10 + rng.below(25) as usize;
                for i in 0..burst.min(n - produced) {
                    let (src, name, ro, req) = background_calls(rng, &region, account);
                    let ev = api_event(
                        rng,
                        terraform,
                        t + Duration::milliseconds(i as i64 * 180),
                        account,
                        &region,
                        &src,
                        &name,
                        ro,
                        req,
                        Value::Null,
                        None,
                        &[],
                    );
                    out.push(Ev {
                        account: account.into(),
                        region: region.clone(),
                        time: t + Duration::milliseconds(i as i64 * 180),
                        label: "benign".into(),
                        json: Packed::new(&ev),
                    });
                    produced += 1;
                }
                continue;
            }
            if kind < 20 {
                let ev = api_event(
                    rng,
                    agent,
                    t,
                    account,
                    home,
                    "ssm.amazonaws.com",
                    "UpdateInstanceInformation",
                    false,
                    json!({"instanceId": "i-0a1b2c3d4e5f60718", "agentVersion": "3.3.40.0", "agentStatus": "Active", "platformType": "Linux", "platformName": "Amazon Linux", "platformVersion": "2023"}),
                    Value::Null,
                    None,
                    &[],
                );
                out.push(Ev {
                    account: account.into(),
                    region: home.clone(),
                    time: t,
                    label: "benign".into(),
                    json: Packed::new(&ev),
                });
                produced += 1;
                continue;
            }
            if kind == 25 && rng.chance(0.3) {
                // Infrastructure changes by the deploy pipeline: IAM writes, and a
                // compliance tool's DryRun permission checks.
                let (src, name, ro, req, resp, err): (
                    &str,
                    &str,
                    bool,
                    Value,
                    Value,
                    Option<(&str, &str)>,
                ) = match rng.below(4) {
                    0 => {
                        let key = format!("AKIA{}", rng.upper_alnum(16));
                        (
                            "iam.amazonaws.com",
                            "CreateAccessKey",
                            false,
                            Value::Null,
                            json!({"accessKey": {"userName": "ci-deploy", "accessKeyId": key, "status": "Active", "createDate": t.format("%b %-d, %Y, %-I:%M:%S %p").to_string()}}),
                            None,
                        )
                    }
                    1 => (
                        "iam.amazonaws.com",
                        "PutRolePolicy",
                        false,
                        json!({"roleName": "app-server-role", "policyName": "app-s3-read", "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::app-assets/*\"}]}"}),
                        Value::Null,
                        None,
                    ),
                    2 => (
                        "iam.amazonaws.com",
                        "TagRole",
                        false,
                        json!({"roleName": "app-server-role", "tags": [{"key": "team", "value": "platform"}]}),
                        Value::Null,
                        None,
                    ),
                    _ => (
                        "ec2.amazonaws.com",
                        "StopInstances",
                        false,
                        json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718"}]}, "force": false}),
                        Value::Null,
                        Some((
                            "Client.DryRunOperation",
                            "Request would have succeeded, but DryRun flag is set.",
                        )),
                    ),
                };
                let region = if src == "iam.amazonaws.com" {
                    "us-east-1".to_string()
                } else {
                    region.clone()
                };
                let ev = api_event(
                    rng,
                    terraform,
                    t,
                    account,
                    &region,
                    src,
                    name,
                    ro,
                    req,
                    resp,
                    err,
                    &[],
                );
                out.push(Ev {
                    account: account.into(),
                    region,
                    time: t,
                    label: "benign".into(),
                    json: Packed::new(&ev),
                });
                produced += 1;
                continue;
            }
            if kind < 26 {
                // Secrets Manager decrypting for the app: KMS calls a service makes on its behalf.
                let name = if rng.chance(0.7) {
                    "Decrypt"
                } else {
                    "GenerateDataKey"
                };
                let via = Actor {
                    identity: with_invoked_by(deployer_session, "secretsmanager.amazonaws.com"),
                    ip: "secretsmanager.amazonaws.com".into(),
                    ua: "secretsmanager.amazonaws.com".into(),
                    console: false,
                };
                let key = format!("arn:aws:kms:{region}:{account}:key/{}", rng.uuid());
                let req = if name == "Decrypt" {
                    json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"SecretARN": format!("arn:aws:secretsmanager:{region}:{account}:secret:prod/api/db"), "SecretVersionId": rng.uuid()}})
                } else {
                    json!({"keyId": key, "keySpec": "AES_256"})
                };
                let ev = api_event(
                    rng,
                    &via,
                    t,
                    account,
                    &region,
                    "kms.amazonaws.com",
                    name,
                    true,
                    req,
                    Value::Null,
                    None,
                    &[],
                );
                out.push(Ev {
                    account: account.into(),
                    region,
                    time: t,
                    label: "benign".into(),
                    json: Packed::new(&ev),
                });
                produced += 1;
                continue;
            }
            let fresh;
            let actor = match kind {
                26..=49 if shape == Shape::ManyPrincipals => {
                    let session = rng.alnum(16);
                    fresh = Actor {
                        identity: assumed_role(rng, account, "worker-role", &session, t),
                        ..app.clone()
                    };
                    &fresh
                }
                26..=49 => app,
                50..=69 => lambda,
                _ => analyst,
            };
            let (src, name, ro, req) = if actor.console {
                console_calls(rng)
            } else {
                background_calls(rng, &region, account)
            };
            let denied = rng.chance(0.02);
            let err = if denied {
                let a = actor.identity["arn"].as_str().unwrap_or("").to_string();
                Some(("AccessDenied".to_string(), format!("User: {a} is not authorized to perform: {}:{name} because no identity-based policy allows the action", src.trim_end_matches(".amazonaws.com"))))
            } else {
                None
            };
            let ev = api_event(
                rng,
                actor,
                t,
                account,
                &region,
                &src,
                &name,
                ro,
                req,
                Value::Null,
                err.as_ref().map(|(c, m)| (c.as_str(), m.as_str())),
                &[],
            );
            out.push(Ev {
                account: account.into(),
                region,
                time: t,
                label: "benign".into(),
                json: Packed::new(&ev),
            });
            produced += 1;
        }
    }
}

/// Placeholder values for one scenario in one account and region.
pub fn placeholders(
    rng: &mut Rng,
    run_id: &str,
    account: &str,
    region: &str,
) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("account".into(), account.into());
    v.insert("region".into(), region.into());
    v.insert("run_id".into(), run_id.into());
    v.insert("foreign_account".into(), "999999999999".into());
    v.insert(
        "random".into(),
        (0..8)
            .map(|_| (b'a' + rng.below(26) as u8) as char)
            .collect(),
    );
    v.insert(
        "nonexistent".into(),
        format!("irprep-sim-{run_id}-does-not-exist"),
    );
    let h = |rng: &mut Rng, n| rng.hex(n);
    v.insert(
        "nonexistent_snapshot".into(),
        format!("snap-0{}", h(rng, 16)),
    );
    v.insert("nonexistent_ami".into(), format!("ami-0{}", h(rng, 16)));
    v.insert("nonexistent_detector".into(), h(rng, 32));
    v.insert(
        "nonexistent_resolver_config".into(),
        format!("rqlc-{}", h(rng, 16)),
    );
    v.insert("nonexistent_flow_log".into(), format!("fl-0{}", h(rng, 16)));
    v.insert("nonexistent_key".into(), rng.uuid());
    v.insert(
        "nonexistent_user".into(),
        format!("irprep-sim-{run_id}-nouser"),
    );
    v.insert("nonexistent_sg".into(), format!("sg-0{}", h(rng, 16)));
    v.insert("nonexistent_instance".into(), format!("i-0{}", h(rng, 16)));
    v
}

/// The CloudTrail event one step's call leaves.
#[allow(clippy::too_many_arguments)]
pub fn step_event(
    rng: &mut Rng,
    step: &Step,
    vars: &BTreeMap<String, String>,
    identity: &Value,
    ip: &str,
    ua: &str,
    t: DateTime<Utc>,
    account: &str,
    region: &str,
) -> Value {
    let ct = &step.cloudtrail;
    let actor = Actor {
        identity: identity.clone(),
        ip: ip.into(),
        ua: ua.into(),
        console: false,
    };
    let req = fill(&ct.request_parameters, vars);
    let resp = fill(&ct.response_elements, vars);
    let read_only = ct
        .read_only
        .unwrap_or(matches!(step.safety, crate::scenario::Safety::ReadOnly));
    let err = ct.error_code.as_ref().map(|c| {
        (
            fill(&Value::String(c.clone()), vars),
            fill(
                &Value::String(ct.error_message.clone().unwrap_or_default()),
                vars,
            ),
        )
    });
    let err_ref = err
        .as_ref()
        .map(|(c, m)| (c.as_str().unwrap_or(""), m.as_str().unwrap_or("")));
    let mut extra: Vec<(&str, Value)> = vec![];
    if !ct.additional_event_data.is_null() {
        extra.push(("additionalEventData", fill(&ct.additional_event_data, vars)));
    }
    if !ct.resources.is_null() {
        extra.push(("resources", fill(&ct.resources, vars)));
    }
    if let Some(v) = &ct.api_version {
        extra.push(("apiVersion", Value::String(v.clone())));
    }
    api_event(
        rng,
        &actor,
        t,
        account,
        region,
        &ct.event_source,
        step.event_name(),
        read_only,
        req,
        resp,
        err_ref,
        &extra,
    )
}

/// The events of one scenario, as the compromised identity performs it.
fn scenario_events(
    rng: &mut Rng,
    cfg: &SynthConfig,
    s: &Scenario,
    account: &str,
    at: DateTime<Utc>,
    out: &mut Vec<Ev>,
) {
    let home = cfg
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| "us-east-1".into());
    let identity = iam_user(rng, account, "svc-backup", true, false, false, at);
    let ip = format!("203.0.113.{}", 10 + rng.below(200));
    let ua = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off"
        .to_string();
    let run_id = format!("synth{}", rng.hex(6));
    let mut t = at;
    for step in &s.steps {
        let regions: Vec<String> = match step.region {
            RegionRule::Home => vec![home.clone()],
            RegionRule::Global => vec!["us-east-1".into()],
            RegionRule::Each => cfg.regions.clone(),
            RegionRule::Unused => cfg
                .regions
                .iter()
                .skip(cfg.background_regions.max(1))
                .cloned()
                .collect(),
        };
        let fanout = if step.foreach.is_some() { 2 } else { 1 };
        for region in regions {
            for k in 0..fanout {
                for _ in 0..step.times() {
                    let mut vars = placeholders(rng, &run_id, account, &region);
                    vars.insert("ami".into(), format!("ami-0{}", rng.hex(16)));
                    vars.insert("vpc".into(), format!("vpc-0{}{k}", rng.hex(15)));
                    vars.insert("instance".into(), format!("i-0{}{k}", rng.hex(15)));
                    t += Duration::milliseconds(300 + rng.below(1500) as i64);
                    let ev = step_event(rng, step, &vars, &identity, &ip, &ua, t, account, &region);
                    out.push(Ev {
                        account: account.into(),
                        region: region.clone(),
                        time: t,
                        label: s.id.clone(),
                        json: Packed::new(&ev),
                    });
                }
            }
        }
    }
}

fn file_name(rng: &mut Rng, account: &str, region: &str, t: DateTime<Utc>) -> String {
    format!(
        "{account}_CloudTrail_{region}_{}_{}.json.gz",
        t.format("%Y%m%dT%H%MZ"),
        rng.alnum(16)
    )
}

/// Synthesise into `out_dir`, which must be new or empty: synthetic attack
/// events must never land beside real evidence (a later hunt over the tree
/// would report them). Files are created, never overwritten or followed
/// through a planted symlink.
pub fn synthesize(cfg: &SynthConfig, out_dir: &Path) -> std::io::Result<SynthSummary> {
    use std::io::{Error, ErrorKind};
    for a in &cfg.accounts {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("account '{a}' is not a 12-digit account id"),
            ));
        }
    }
    for r in &cfg.regions {
        let ok = r.len() <= 40
            && r.split('-').count() >= 3
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !r.starts_with('-');
        if !ok {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("region '{r}' is not a region name"),
            ));
        }
    }
    if let Ok(mut entries) = std::fs::read_dir(out_dir) {
        if entries.next().is_some() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{} is not empty: synthetic logs go into a new or empty directory, never beside other files",
                    out_dir.display()
                ),
            ));
        }
    }
    let mut rng = Rng::new(cfg.seed);
    let span = (cfg.days.max(1) as i64) * 86_400;
    let window = (cfg.file_minutes.max(1) as i64) * 60;
    let accounts: Vec<Background> = cfg
        .accounts
        .iter()
        .map(|a| Background::new(&mut rng, cfg, a))
        .collect();
    // Events made ahead of their delivery window (logins, scenarios, bursts
    // that run past a slice), by account and window.
    let mut pending: BTreeMap<(usize, i64), Vec<Ev>> = BTreeMap::new();
    let mut early = vec![];
    for b in &accounts {
        b.logins(&mut rng, cfg, &mut early);
    }
    let logins_per_account = cfg.days.max(1) as usize;
    for (i, s) in cfg.scenarios.iter().enumerate() {
        let account = &cfg.accounts[i % cfg.accounts.len().max(1)];
        // Spread scenarios over the window, away from its edges.
        let offset =
            span / 10 + (span * 8 / 10) * (i as i64 + 1) / (cfg.scenarios.len() as i64 + 1);
        scenario_events(
            &mut rng,
            cfg,
            s,
            account,
            cfg.start + Duration::seconds(offset),
            &mut early,
        );
    }
    let account_index = |a: &str| cfg.accounts.iter().position(|x| x == a).unwrap_or(0);
    for e in early {
        let k = (
            account_index(&e.account),
            e.time.timestamp().div_euclid(window),
        );
        pending.entry(k).or_default().push(e);
    }
    std::fs::create_dir_all(out_dir)?;
    let mut summary = SynthSummary {
        out_dir: out_dir.to_path_buf(),
        ..Default::default()
    };
    let mut labels = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(out_dir.join("labels.csv"))?,
    );
    {
        use std::io::Write;
        labels.write_all(b"eventid,label\n")?;
    }
    // One delivery window of one account at a time: memory holds a window's
    // events, whatever the total (the order and labels depend on the seed only).
    let per_account = cfg.background / cfg.accounts.len().max(1);
    let first = cfg.start.timestamp().div_euclid(window);
    let last = (cfg.start.timestamp() + span - 1).div_euclid(window);
    let slices = (last - first + 1) as usize;
    let generated = per_account.saturating_sub(logins_per_account);
    // Files are compressed and written on another thread while the next
    // window is generated (a few windows in flight at most).
    let (tx, rx) = std::sync::mpsc::sync_channel::<(PathBuf, Vec<u8>)>(4);
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut comp =
            libdeflater::Compressor::new(libdeflater::CompressionLvl::new(4).unwrap_or_default());
        let mut out: Vec<u8> = Vec::new();
        for (path, body) in rx {
            out.resize(comp.gzip_compress_bound(body.len()), 0);
            let n = comp
                .gzip_compress(&body, &mut out)
                .map_err(|e| std::io::Error::other(format!("gzip: {e:?}")))?;
            write_new(&path, &out[..n])?;
        }
        Ok(())
    });
    let written = (|| -> std::io::Result<()> {
        for (ai, b) in accounts.iter().enumerate() {
            for (ci, bucket) in (first..=last).enumerate() {
                let n = generated / slices + usize::from(ci < generated % slices);
                let mut srng = Rng::new(
                    cfg.seed
                        ^ (ai as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ (ci as u64 + 1).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
                );
                let from = Utc
                    .timestamp_opt(bucket * window, 0)
                    .single()
                    .unwrap_or(cfg.start)
                    .max(cfg.start);
                let secs = ((bucket + 1) * window - from.timestamp())
                    .min(cfg.start.timestamp() + span - from.timestamp());
                let mut evs = pending.remove(&(ai, bucket)).unwrap_or_default();
                let mut made = Vec::with_capacity(n);
                b.slice(&mut srng, from, secs, n, &mut made);
                summary.background_events += made.len();
                for e in made {
                    let k = e.time.timestamp().div_euclid(window);
                    if k == bucket {
                        evs.push(e);
                    } else {
                        pending.entry((ai, k)).or_default().push(e);
                    }
                }
                write_window(
                    &mut rng,
                    &tx,
                    out_dir,
                    &cfg.accounts[ai],
                    bucket,
                    window,
                    evs,
                    &mut labels,
                    &mut summary,
                )?;
            }
        }
        // What lies past the last slice (a scenario's tail, a burst's end).
        for ((ai, bucket), evs) in std::mem::take(&mut pending) {
            write_window(
                &mut rng,
                &tx,
                out_dir,
                &cfg.accounts[ai],
                bucket,
                window,
                evs,
                &mut labels,
                &mut summary,
            )?;
        }
        Ok(())
    })();
    drop(tx);
    let wrote = writer
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the file writer panicked")));
    // The writer's own error first: a failed write is why sending stopped.
    wrote?;
    written?;
    summary.background_events += logins_per_account * accounts.len();
    {
        use std::io::Write;
        labels.flush()?;
    }
    Ok(summary)
}

/// Write one account's events of one delivery window: a file per region,
/// events in time order, their labels appended.
#[allow(clippy::too_many_arguments)]
fn write_window(
    rng: &mut Rng,
    files: &std::sync::mpsc::SyncSender<(PathBuf, Vec<u8>)>,
    out_dir: &Path,
    account: &str,
    bucket: i64,
    window: i64,
    evs: Vec<Ev>,
    labels: &mut impl std::io::Write,
    summary: &mut SynthSummary,
) -> std::io::Result<()> {
    let mut by_region: BTreeMap<String, Vec<Ev>> = BTreeMap::new();
    for e in evs {
        by_region.entry(e.region.clone()).or_default().push(e);
    }
    let t0 = Utc
        .timestamp_opt(bucket * window, 0)
        .single()
        .unwrap_or_default();
    let deliver = t0 + Duration::seconds(window);
    for (region, mut evs) in by_region {
        evs.sort_by_key(|e| e.time);
        let dir = out_dir.join(format!(
            "AWSLogs/{account}/CloudTrail/{region}/{}",
            t0.format("%Y/%m/%d")
        ));
        std::fs::create_dir_all(&dir)?;
        let name = file_name(
            rng,
            account,
            &region,
            deliver.with_second(0).unwrap_or(deliver),
        );
        let mut body: Vec<u8> =
            Vec::with_capacity(evs.iter().map(|e| e.json.bytes.len() + 1).sum::<usize>() + 16);
        body.extend_from_slice(b"{\"Records\":[");
        for (k, e) in evs.iter().enumerate() {
            if k > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&e.json.bytes);
            labels.write_all(e.json.id.as_bytes())?;
            labels.write_all(b",")?;
            labels.write_all(e.label.as_bytes())?;
            labels.write_all(b"\n")?;
            if e.label != "benign" {
                summary
                    .scenario_events
                    .entry(e.label.clone())
                    .or_default()
                    .push(e.json.id.clone());
            }
        }
        body.extend_from_slice(b"]}");
        summary.files += 1;
        summary.events += evs.len();
        drop(evs);
        files
            .send((dir.join(name), body))
            .map_err(|_| std::io::Error::other("the file writer stopped"))?;
    }
    Ok(())
}

/// Create `path` and write `bytes`; an existing file (or symlink) is an error.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of a synthesized tree (files decompressed and parsed).
    fn events_of(dir: &Path) -> Vec<serde_json::Value> {
        let mut out = vec![];
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "gz") {
                    let raw = std::fs::read(&p).unwrap();
                    let text = crate::decompress::maybe_gunzip(&raw).unwrap().into_owned();
                    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
                    out.extend(v["Records"].as_array().unwrap().iter().cloned());
                }
            }
        }
        out
    }

    #[test]
    fn the_adversarial_shapes_are_what_they_say() {
        let base = SynthConfig {
            background: 2000,
            file_minutes: 15,
            ..Default::default()
        };
        let arns = |evs: &[serde_json::Value]| -> std::collections::BTreeSet<String> {
            evs.iter()
                .filter(|e| e["eventName"] != "ConsoleLogin")
                .filter_map(|e| e["userIdentity"]["arn"].as_str().map(String::from))
                .collect()
        };
        let one = tempdir("shape-one");
        synthesize(
            &SynthConfig {
                shape: Shape::OnePrincipal,
                ..base.clone()
            },
            &one,
        )
        .unwrap();
        let evs = events_of(&one);
        assert!(evs.len() >= 1900, "{}", evs.len());
        assert_eq!(arns(&evs).len(), 1, "{:?}", arns(&evs));
        let many = tempdir("shape-many");
        synthesize(
            &SynthConfig {
                shape: Shape::ManyPrincipals,
                ..base.clone()
            },
            &many,
        )
        .unwrap();
        let evs = events_of(&many);
        assert!(
            arns(&evs).len() * 10 >= evs.len() * 9,
            "{} of {}",
            arns(&evs).len(),
            evs.len()
        );
        let minute = tempdir("shape-minute");
        synthesize(
            &SynthConfig {
                shape: Shape::OneMinute,
                ..base.clone()
            },
            &minute,
        )
        .unwrap();
        for e in events_of(&minute)
            .iter()
            .filter(|e| e["eventName"] != "ConsoleLogin")
        {
            let t = chrono::DateTime::parse_from_rfc3339(e["eventTime"].as_str().unwrap()).unwrap();
            assert!(
                t.timestamp() % 900 < 60,
                "{t} is past its window's first minute"
            );
        }
        for d in [one, many, minute] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn deterministic_and_laid_out() {
        let cfg = SynthConfig {
            background: 300,
            scenarios: crate::scenario::builtin()
                .unwrap()
                .into_iter()
                .take(2)
                .collect(),
            ..Default::default()
        };
        let a = tempdir("a");
        let b = tempdir("b");
        let sa = synthesize(&cfg, &a).unwrap();
        let sb = synthesize(&cfg, &b).unwrap();
        assert_eq!(
            std::fs::read_to_string(a.join("labels.csv")).unwrap(),
            std::fs::read_to_string(b.join("labels.csv")).unwrap()
        );
        assert_eq!(sa.files, sb.files);
        assert!(sa.scenario_events.len() == 2);
        let mut found = 0;
        let mut stack = vec![a.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "gz") {
                    let c = crate::layout::classify(&p.to_string_lossy());
                    assert_eq!(
                        c.kind,
                        crate::layout::KeyKind::Log(crate::tables::LogTable::CloudTrail)
                    );
                    assert!(c.partitions.is_some());
                    found += 1;
                }
            }
        }
        assert_eq!(found, sa.files);
        // Never into a tree that already holds files, never with path
        // parts that are not an account or a region.
        let again = synthesize(&cfg, &a).unwrap_err();
        assert!(again.to_string().contains("not empty"), "{again}");
        let c = tempdir("c");
        for (accounts, regions) in [
            (vec!["../../x".to_string()], vec!["us-east-1".to_string()]),
            (
                vec!["111122223333".to_string()],
                vec!["../../etc".to_string()],
            ),
        ] {
            let bad = SynthConfig {
                accounts,
                regions,
                ..cfg.clone()
            };
            assert!(synthesize(&bad, &c).is_err());
        }
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
        let _ = std::fs::remove_dir_all(&c);
    }

    fn tempdir(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("irprep-synth-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }
}
