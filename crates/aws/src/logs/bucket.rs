//! Log buckets: the central one (CloudTrail, flow logs, Resolver query logs;
//! the user's with `--bucket`), and, only where a source needs one, a bucket
//! per account × region for S3 server access logs and ELB logs (both must be
//! in the same region as what they log) and one for WAF (`aws-waf-logs-…`).
//!
//! Each is set up the same way, and checked the same way on the next run:
//! Block Public Access on; default encryption (SSE-S3, or SSE-KMS with
//! `--kms-key` where every writer supports it); a bucket policy whose
//! statements irprep owns by their `Irprep` Sid prefix, *merged* into
//! whatever policy is there; a TLS-only deny; `aws:SourceAccount` (and
//! `aws:SourceArn` where the service sets it) on every delivery principal,
//! or `aws:SourceOrgID` on an Organization's central bucket;
//! lifecycle: Intelligent-Tiering after 90 days, expiry after
//! `--retention-days`, added beside existing rules, and an existing rule
//! that expires sooner is reported, never changed.

use anyhow::{anyhow, Result};
use aws_config::SdkConfig;
use aws_sdk_s3::types as st;
use serde_json::{json, Value};

use super::ledger::{Entry, Kind, Ledger, Record};
use super::{change, Change, LeftAlone, Op, Source, Target, TAG_KEY};

/// What a bucket is for (a bucket can be several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    pub cloudtrail: bool,
    pub delivery: bool,
    pub s3_access: bool,
    pub elb: bool,
    pub waf: bool,
    /// GuardDuty's findings export.
    pub guardduty: bool,
}

#[derive(Debug, Clone)]
pub enum BucketOp {
    Create {
        name: String,
        region: String,
        /// Created with Object Lock enabled (only possible, and then
        /// permanent, for the bucket's whole life).
        object_lock: bool,
    },
    PutPolicy {
        name: String,
        policy: String,
    },
    PutPublicAccessBlock {
        name: String,
    },
    PutEncryption {
        name: String,
        kms_key: Option<String>,
    },
    PutLifecycle {
        name: String,
        rules: Vec<st::LifecycleRule>,
        /// The bucket's `x-amz-transition-default-minimum-object-size`, as
        /// read: a PUT without it sets S3's default again, undoing a user's
        /// `varies_by_storage_class`.
        min_size: Option<st::TransitionDefaultMinimumObjectSize>,
    },
    /// Versioning on: a deleted or overwritten log file stays recoverable.
    PutVersioning {
        name: String,
    },
    /// Object Lock's default retention, governance mode: no object version
    /// can be deleted or overwritten for `days` without
    /// s3:BypassGovernanceRetention.
    PutObjectLock {
        name: String,
        days: u32,
    },
    /// irprep's tag set again (other tags kept).
    Tag {
        name: String,
        value: String,
    },
}

impl BucketOp {
    pub fn name(&self) -> &str {
        match self {
            BucketOp::Create { name, .. }
            | BucketOp::PutPolicy { name, .. }
            | BucketOp::PutVersioning { name }
            | BucketOp::PutObjectLock { name, .. }
            | BucketOp::Tag { name, .. }
            | BucketOp::PutPublicAccessBlock { name }
            | BucketOp::PutEncryption { name, .. }
            | BucketOp::PutLifecycle { name, .. } => name,
        }
    }
}

pub const SID_PREFIX: &str = "Irprep";
pub const LIFECYCLE_ID: &str = "irprep-retention";

/// The ELB account of regions that predate the ELB log-delivery service
/// principal (AWS documentation, "Enable access logs for your load balancer").
fn elb_account(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "127311923021",
        "us-east-2" => "033677994240",
        "us-west-1" => "027434742980",
        "us-west-2" => "797873946194",
        "af-south-1" => "098369216593",
        "ap-east-1" => "754344448648",
        "ap-southeast-3" => "589379963580",
        "ap-south-1" => "718504428378",
        "ap-northeast-3" => "383597477331",
        "ap-northeast-2" => "600734575887",
        "ap-southeast-1" => "114774131450",
        "ap-southeast-2" => "783225319266",
        "ap-northeast-1" => "582318560864",
        "ca-central-1" => "985666609251",
        "eu-central-1" => "054676820928",
        "eu-west-1" => "156460612806",
        "eu-west-2" => "652711504416",
        "eu-south-1" => "635631232127",
        "eu-west-3" => "009996457667",
        "eu-north-1" => "897822967062",
        "me-south-1" => "076674570225",
        "sa-east-1" => "507241528517",
        "us-gov-west-1" => "048591011584",
        "us-gov-east-1" => "190560391635",
        "cn-north-1" => "638102146993",
        "cn-northwest-1" => "037604701340",
        _ => return None,
    })
}

/// An Organization's central bucket: its id and the management account
/// (where the Organization trail is).
#[derive(Debug, Clone, Copy)]
pub struct OrgWriters<'a> {
    pub id: &'a str,
    pub management: &'a str,
}

/// The statements irprep needs on a bucket. With `org`, the delivery
/// principals are bound to the Organization (`aws:SourceOrgID`) instead of
/// a list of its accounts, so the policy keeps one size at any number of
/// accounts (a bucket policy holds at most 20 KB), and CloudTrail to the
/// management account's (Organization) trails.
pub fn statements(
    bucket: &str,
    partition: &str,
    region: &str,
    roles: Roles,
    accounts: &[String],
    org: Option<OrgWriters>,
) -> Vec<Value> {
    let b = format!("arn:{partition}:s3:::{bucket}");
    let accts: Value = accounts.to_vec().into();
    let management = org.map(|o| vec![o.management.to_string()]);
    let trail_accounts: &[String] = management.as_deref().unwrap_or(accounts);
    let mut out = vec![json!({
        "Sid": "IrprepDenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [b, format!("{b}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    })];
    if roles.cloudtrail {
        let trails: Vec<String> = trail_accounts
            .iter()
            .map(|a| format!("arn:{partition}:cloudtrail:*:{a}:trail/*"))
            .collect();
        out.push(json!({
            "Sid": "IrprepCloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": b,
            "Condition": {"ArnLike": {"aws:SourceArn": trails}},
        }));
        out.push(json!({
            "Sid": "IrprepCloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": format!("{b}/AWSLogs/*"),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}, "ArnLike": {"aws:SourceArn": trails}},
        }));
    }
    if let (true, Some(o)) = (roles.delivery, org) {
        // Every account of the Organization writes under AWSLogs/<account>/.
        out.push(json!({
            "Sid": "IrprepLogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": b,
            "Condition": {"StringEquals": {"aws:SourceOrgID": o.id}},
        }));
        out.push(json!({
            "Sid": "IrprepLogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": format!("{b}/AWSLogs/*"),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceOrgID": o.id}},
        }));
    } else if roles.delivery || roles.waf {
        // Flow logs, Resolver query logs and WAF write under AWSLogs/<account>/,
        // and flow logs with Hive-compatible prefixes under
        // AWSLogs/aws-account-id=<account>/ (review finding 8a).
        let resources: Vec<String> = accounts
            .iter()
            .flat_map(|a| {
                [
                    format!("{b}/AWSLogs/{a}/*"),
                    format!("{b}/AWSLogs/aws-account-id={a}/*"),
                ]
            })
            .collect();
        let logs_arns: Vec<String> = accounts
            .iter()
            .map(|a| format!("arn:{partition}:logs:*:{a}:*"))
            .collect();
        out.push(json!({
            "Sid": "IrprepLogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": b,
            "Condition": {"StringEquals": {"aws:SourceAccount": accts}, "ArnLike": {"aws:SourceArn": logs_arns}},
        }));
        out.push(json!({
            "Sid": "IrprepLogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": resources,
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": accts}, "ArnLike": {"aws:SourceArn": logs_arns}},
        }));
    }
    if roles.s3_access {
        out.push(json!({
            "Sid": "IrprepS3ServerAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            // The bucket's objects (the AWS documentation's form); the
            // source-account condition binds the writer to this account's
            // own buckets. (No aws:SourceArn list: it would change with
            // every bucket the account creates.)
            "Resource": format!("{b}/*"),
            "Condition": {"StringEquals": {"aws:SourceAccount": accts}},
        }));
    }
    if roles.guardduty {
        // The findings export, as GuardDuty documents it: the bucket's
        // location, and objects under the account's GuardDuty prefix, only
        // for this account's detectors.
        let detectors: Vec<String> = accounts
            .iter()
            .map(|a| format!("arn:{partition}:guardduty:{region}:{a}:detector/*"))
            .collect();
        let resources: Vec<String> = accounts
            .iter()
            .map(|a| format!("{b}/AWSLogs/{a}/GuardDuty/*"))
            .collect();
        out.push(json!({
            "Sid": "IrprepGuardDutyLocation",
            "Effect": "Allow",
            "Principal": {"Service": "guardduty.amazonaws.com"},
            "Action": "s3:GetBucketLocation",
            "Resource": b,
            "Condition": {"StringEquals": {"aws:SourceAccount": accts.clone()}, "ArnLike": {"aws:SourceArn": detectors.clone()}},
        }));
        out.push(json!({
            "Sid": "IrprepGuardDutyWrite",
            "Effect": "Allow",
            "Principal": {"Service": "guardduty.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": resources,
            "Condition": {"StringEquals": {"aws:SourceAccount": accts.clone()}, "ArnLike": {"aws:SourceArn": detectors}},
        }));
    }
    if roles.elb {
        let resources: Vec<String> = accounts
            .iter()
            .map(|a| format!("{b}/elb/AWSLogs/{a}/*"))
            .collect();
        // Older regions deliver as the regional ELB account (which carries no
        // source-account context; the resource path binds the account);
        // newer ones as the log-delivery service principal.
        out.push(match elb_account(region) {
            Some(acct) => json!({
                "Sid": "IrprepElbAccessLogs",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:{partition}:iam::{acct}:root")},
                "Action": "s3:PutObject",
                "Resource": resources,
            }),
            None => json!({
                "Sid": "IrprepElbAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": resources,
                "Condition": {"StringEquals": {"aws:SourceAccount": accts.clone()}},
            }),
        });
        // Network Load Balancers deliver as the log-delivery service, in
        // every region (ELB's "access logs for your Network Load Balancer"):
        // the bucket's ACL, and objects under the same prefix.
        let logs_arns: Vec<String> = accounts
            .iter()
            .map(|a| format!("arn:{partition}:logs:{region}:{a}:*"))
            .collect();
        out.push(json!({
            "Sid": "IrprepNlbAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": b,
            "Condition": {"StringEquals": {"aws:SourceAccount": accts.clone()}, "ArnLike": {"aws:SourceArn": logs_arns.clone()}},
        }));
        out.push(json!({
            "Sid": "IrprepNlbAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": resources,
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": accts}, "ArnLike": {"aws:SourceArn": logs_arns}},
        }));
    }
    out
}

/// Merge irprep's statements into a policy: every other statement stays as
/// it is, in order (the user's, and irprep's from runs for other sources);
/// a statement with the same Sid as one of ours is replaced.
pub fn merge_policy(existing: Option<&str>, ours: &[Value]) -> Result<Value> {
    let mut doc: Value = match existing {
        Some(s) if !s.trim().is_empty() => {
            serde_json::from_str(s).map_err(|e| anyhow!("the bucket's policy is not JSON: {e}"))?
        }
        _ => json!({"Version": "2012-10-17", "Statement": []}),
    };
    let stmts = match doc.get_mut("Statement") {
        Some(Value::Array(a)) => a,
        Some(single @ Value::Object(_)) => {
            let one = single.take();
            *single = Value::Array(vec![one]);
            single.as_array_mut().expect("just made")
        }
        _ => {
            doc["Statement"] = json!([]);
            doc["Statement"].as_array_mut().expect("just made")
        }
    };
    let ours_sids: Vec<&str> = ours
        .iter()
        .filter_map(|s| s.get("Sid").and_then(|v| v.as_str()))
        .collect();
    stmts.retain(|s| {
        !s.get("Sid")
            .and_then(|v| v.as_str())
            .is_some_and(|sid| ours_sids.contains(&sid))
    });
    stmts.extend(ours.iter().cloned());
    if doc.get("Version").is_none() {
        doc["Version"] = json!("2012-10-17");
    }
    Ok(doc)
}

fn s3(conf: &SdkConfig) -> aws_sdk_s3::Client {
    crate::s3::client(conf, conf.endpoint_url().is_some())
}

/// Whether a bucket name is one irprep gives its own buckets.
pub fn is_irprep_name(name: &str) -> bool {
    name.starts_with("irprep-logs-") || name.starts_with("aws-waf-logs-irprep-")
}

/// A client for bucket `name`. irprep's own buckets are in the region their
/// name carries, the target's; a bucket the user names (`--bucket`) may be
/// in any region, and S3 redirects a request sent elsewhere rather than
/// serving it.
async fn s3_for(conf: &SdkConfig, name: &str) -> aws_sdk_s3::Client {
    if is_irprep_name(name) {
        s3(conf)
    } else {
        crate::s3::client_for_bucket(conf, conf.endpoint_url().is_some(), name).await
    }
}

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("").to_string()
}

/// An S3 error as one line: code and message, or the HTTP status.
pub(crate) fn s3err<E, R>(
    what: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    let status = e.raw_response().map(|r| r.status_code()).unwrap_or(0);
    match e.code() {
        Some(c) => anyhow!("{what}: {c} {}", e.message().unwrap_or("")),
        None if status > 0 => anyhow!("{what}: HTTP {status} with no error code"),
        None => anyhow!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)),
    }
}

pub(crate) trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Days after which irprep's rule moves logs to Intelligent-Tiering.
const TIERING_DAYS: u32 = 90;

/// irprep's lifecycle rule: Intelligent-Tiering after 90 days, expiry after
/// `days`. S3 refuses a rule whose expiry is not after its transition, so
/// logs kept 90 days or less only expire.
fn our_rule(days: u32) -> Result<st::LifecycleRule> {
    let mut r = st::LifecycleRule::builder()
        .id(LIFECYCLE_ID)
        .status(st::ExpirationStatus::Enabled)
        .filter(st::LifecycleRuleFilter::builder().prefix("").build());
    if days > TIERING_DAYS {
        r = r.transitions(
            st::Transition::builder()
                .days(TIERING_DAYS as i32)
                .storage_class(st::TransitionStorageClass::IntelligentTiering)
                .build(),
        );
    }
    r.expiration(st::LifecycleExpiration::builder().days(days as i32).build())
        .build()
        .map_err(|e| anyhow!("{e}"))
}

/// What irprep's rule does, for the plan.
fn rule_text(days: u32) -> String {
    if days > TIERING_DAYS {
        format!(
            "lifecycle: Intelligent-Tiering after {TIERING_DAYS} days, expiry after {days} days"
        )
    } else {
        format!("lifecycle: expiry after {days} days")
    }
}

/// Whether a rule is irprep's rule for `days`, as S3 returns it.
fn is_our_rule(r: &st::LifecycleRule, days: u32) -> bool {
    let tiering = r
        .transitions()
        .iter()
        .any(|t| t.days() == Some(TIERING_DAYS as i32));
    r.expiration().and_then(|e| e.days()) == Some(days as i32)
        && tiering == (days > TIERING_DAYS)
        && r.status() == &st::ExpirationStatus::Enabled
}

/// Who owns a bucket of a given name, as far as the caller can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Absent,
    /// Owned by the expected account.
    Ours,
    /// It exists and is someone else's (or denies the caller): why.
    Foreign(String),
}

/// Whether bucket `name` exists and belongs to `account` (whose credentials
/// `conf` holds). Two checks, because either alone can be fooled: S3 refuses
/// a request whose `ExpectedBucketOwner` is not the owner (403), and the
/// caller's own `ListBuckets` must list the bucket (emulators ignore the
/// header; a bucket another account owns is never in the caller's list).
pub async fn ownership(conf: &SdkConfig, name: &str, account: &str) -> Result<Ownership> {
    let c = s3_for(conf, name).await;
    // GetBucketLocation rather than HeadBucket: same answer (404 absent, 403
    // someone else's), and its IAM action is one the policy already grants.
    match c
        .get_bucket_location()
        .bucket(name)
        .expected_bucket_owner(account)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            return match (status, code(&e).as_str()) {
                (Some(404), _) | (_, "NoSuchBucket") => Ok(Ownership::Absent),
                (Some(403), _) | (_, "AccessDenied") => Ok(Ownership::Foreign(format!(
                    "exists but is not account {account}'s, or denies it (403): nothing is pointed at it"
                ))),
                _ => Err(s3err(&format!("s3:GetBucketLocation {name}"), e)),
            };
        }
    }
    let mut pages = c.list_buckets().prefix(name).into_paginator().send();
    while let Some(p) = pages.next().await {
        let p = p.map_err(|e| s3err("s3:ListBuckets", e))?;
        if p.buckets().iter().any(|b| b.name() == Some(name)) {
            return Ok(Ownership::Ours);
        }
    }
    Ok(Ownership::Foreign(format!(
        "exists but account {account} does not own it (it is not in the account's ListBuckets): \
         someone else holds this name, so nothing is pointed at it"
    )))
}

/// A bucket's default encryption rule, `None` when it has none (or, for a
/// name the plan is to create, when there is no such bucket yet).
async fn encryption_default(
    c: &aws_sdk_s3::Client,
    name: &str,
    owner: &str,
) -> Result<Option<st::ServerSideEncryptionByDefault>> {
    match c
        .get_bucket_encryption()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
    {
        Ok(o) => Ok(o
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first().cloned())
            .and_then(|r| r.apply_server_side_encryption_by_default().cloned())),
        Err(e) if code(&e) == "ServerSideEncryptionConfigurationNotFoundError" => Ok(None),
        Err(e) if code(&e) == "NoSuchBucket" => Ok(None),
        Err(e) => Err(s3err(&format!("s3:GetBucketEncryption {name}"), e)),
    }
}

/// A bucket's default encryption when it is SSE-KMS, with the bucket's
/// region: `Some((Some(key), region))` for a key named in the configuration
/// (an id, an alias or an ARN, as it was given), `Some((None, region))` for
/// SSE-KMS with no key named (S3 then uses the AWS managed key `aws/s3`),
/// `None` for SSE-S3, no default, or no such bucket yet. Read in the
/// bucket's own region, from its owner `account`.
pub async fn default_kms_key(
    conf: &SdkConfig,
    name: &str,
    account: &str,
) -> Result<Option<(Option<String>, Option<String>)>> {
    let c = s3_for(conf, name).await;
    let region = c.config().region().map(|r| r.to_string());
    let rule = encryption_default(&c, name, account).await?;
    Ok(rule.and_then(|d| {
        matches!(
            d.sse_algorithm(),
            st::ServerSideEncryption::AwsKms | st::ServerSideEncryption::AwsKmsDsse
        )
        .then(|| (d.kms_master_key_id().map(String::from), region))
    }))
}

/// The changes that bring one bucket to its desired state (empty when it is
/// there already). `owned`: a bucket irprep names and may create.
#[allow(clippy::too_many_arguments)]
pub async fn plan(
    t: &Target,
    name: &str,
    roles: Roles,
    accounts: &[String],
    kms_key: Option<&str>,
    retention_days: u32,
    object_lock_days: Option<u32>,
    owned: bool,
    source: Source,
    retag: Option<&str>,
    org: Option<OrgWriters<'_>>,
) -> Result<Vec<Change>> {
    let c = s3_for(&t.conf, name).await;
    let mut out = vec![];
    let op = |o: BucketOp| Op::Bucket(o);
    let owner = t.account.as_str();
    let exists = match ownership(&t.conf, name, owner).await? {
        Ownership::Absent => false,
        Ownership::Ours => true,
        Ownership::Foreign(why) => return Err(anyhow!("bucket {name} {why}")),
    };
    let kms = if roles.s3_access || roles.elb {
        None
    } else {
        kms_key
    };
    let policy = statements(name, &t.partition, &t.region, roles, accounts, org);
    if !exists {
        if !owned {
            return Err(anyhow!(
                "--bucket {name} does not exist (irprep creates only its own buckets)"
            ));
        }
        out.push(change(
            t,
            source,
            "create",
            format!("s3://{name}"),
            format!(
                "log bucket in {}, tagged {TAG_KEY}=<installation id>, recorded in irprep's ledger",
                t.region
            ),
            op(BucketOp::Create {
                name: name.into(),
                region: t.region.clone(),
                object_lock: object_lock_days.is_some(),
            }),
        ));
        if let Some(days) = object_lock_days {
            out.push(lock_change(t, source, name, days));
        }
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            "Block Public Access: all four settings on",
            op(BucketOp::PutPublicAccessBlock { name: name.into() }),
        ));
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            "versioning on (a deleted or overwritten log file stays recoverable)",
            op(BucketOp::PutVersioning { name: name.into() }),
        ));
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            format!(
                "default encryption {}",
                if kms.is_some() { "SSE-KMS" } else { "SSE-S3" }
            ),
            op(BucketOp::PutEncryption {
                name: name.into(),
                kms_key: kms.map(String::from),
            }),
        ));
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            rule_text(retention_days),
            op(BucketOp::PutLifecycle {
                name: name.into(),
                rules: vec![our_rule(retention_days)?],
                min_size: None,
            }),
        ));
        let doc = merge_policy(None, &policy)?;
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            format!("bucket policy: {} irprep statement(s)", policy.len()),
            op(BucketOp::PutPolicy {
                name: name.into(),
                policy: doc.to_string(),
            }),
        ));
        for c in out.iter_mut() {
            c.source = "bucket".into();
        }
        return Ok(out);
    }
    // Block Public Access.
    let pab_on = match c
        .get_public_access_block()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
    {
        Ok(o) => o.public_access_block_configuration().is_some_and(|p| {
            p.block_public_acls() == Some(true)
                && p.ignore_public_acls() == Some(true)
                && p.block_public_policy() == Some(true)
                && p.restrict_public_buckets() == Some(true)
        }),
        Err(e) if code(&e) == "NoSuchPublicAccessBlockConfiguration" => false,
        Err(e) => return Err(s3err(&format!("s3:GetPublicAccessBlock {name}"), e)),
    };
    if !pab_on {
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            "Block Public Access: all four settings on",
            op(BucketOp::PutPublicAccessBlock { name: name.into() }),
        ));
    }
    // irprep's tag, on a bucket its ledger records.
    if let Some(value) = retag {
        let tags = tags_of(&c, name, owner).await?;
        if !tags
            .iter()
            .any(|x| x.key() == TAG_KEY && x.value() == value)
        {
            out.push(change(
                t,
                source,
                "update",
                format!("s3://{name}"),
                format!(
                    "tag {TAG_KEY}=<installation id> again (irprep's ledger records this bucket)"
                ),
                op(BucketOp::Tag {
                    name: name.into(),
                    value: value.into(),
                }),
            ));
        }
    }
    // Object Lock, when asked, on irprep's own bucket (never on the user's
    // --bucket: it cannot be turned off).
    if let (Some(days), true) = (object_lock_days, owned) {
        let current = match c
            .get_object_lock_configuration()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send()
            .await
        {
            Ok(o) => o
                .object_lock_configuration()
                .and_then(|l| l.rule())
                .and_then(|r| r.default_retention())
                .and_then(|d| d.days().map(|n| (d.mode().cloned(), n))),
            Err(e) if code(&e) == "ObjectLockConfigurationNotFoundError" => None,
            Err(e) => return Err(s3err(&format!("s3:GetObjectLockConfiguration {name}"), e)),
        };
        let enough = current.is_some_and(|(mode, n)| n >= days as i32 && mode.is_some());
        if !enough {
            out.push(lock_change(t, source, name, days));
        }
    }
    // Versioning is turned on when irprep creates a bucket and not judged
    // afterwards: the emulator answers GetBucketVersioning with a document
    // the SDK refuses (root element GetBucketVersioningResponse, where S3
    // sends VersioningConfiguration), so a check here could not be tested.
    // Default encryption: only set when absent, or when --kms-key asks for
    // another key on irprep's own bucket.
    let enc = encryption_default(&c, name, owner).await?;
    // The user's own --bucket keeps the encryption it has: --kms-key
    // encrypts the trail's files (CloudTrail writes them SSE-KMS itself),
    // and rewriting a bucket's default could break what else writes to it.
    let enc_ok = match (&enc, kms) {
        (None, _) => false,
        (Some(_), _) if !owned => true,
        (Some(_), None) => true,
        (Some(d), Some(k)) => d.kms_master_key_id() == Some(k),
    };
    if !enc_ok {
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            format!(
                "default encryption {}",
                if kms.is_some() { "SSE-KMS" } else { "SSE-S3" }
            ),
            op(BucketOp::PutEncryption {
                name: name.into(),
                kms_key: kms.map(String::from),
            }),
        ));
    }
    // Lifecycle, merged.
    let (rules, min_size): (Vec<st::LifecycleRule>, _) = match c
        .get_bucket_lifecycle_configuration()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
    {
        Ok(o) => (
            o.rules().to_vec(),
            o.transition_default_minimum_object_size().cloned(),
        ),
        Err(e) if code(&e) == "NoSuchLifecycleConfiguration" => (vec![], None),
        Err(e) => {
            return Err(s3err(
                &format!("s3:GetBucketLifecycleConfiguration {name}"),
                e,
            ))
        }
    };
    let ours = rules.iter().find(|r| r.id() == Some(LIFECYCLE_ID));
    let want = our_rule(retention_days)?;
    let ours_ok = ours.is_some_and(|r| is_our_rule(r, retention_days));
    if !ours_ok {
        let mut detail = rule_text(retention_days);
        if let Some(old) = ours.and_then(|r| r.expiration()).and_then(|e| e.days()) {
            if old > retention_days as i32 {
                detail.push_str(&format!(" (SHORTENS irprep's rule from {old} days)"));
            }
        }
        for r in rules.iter().filter(|r| r.id() != Some(LIFECYCLE_ID)) {
            if let Some(d) = r.expiration().and_then(|e| e.days()) {
                if d < retention_days as i32 && r.status() == &st::ExpirationStatus::Enabled {
                    detail.push_str(&format!("; note: existing rule {} expires objects after {d} days and is left as it is", r.id().unwrap_or("(unnamed)")));
                }
            }
        }
        let mut new_rules: Vec<st::LifecycleRule> = rules
            .iter()
            .filter(|r| r.id() != Some(LIFECYCLE_ID))
            .cloned()
            .collect();
        new_rules.push(want);
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            detail,
            op(BucketOp::PutLifecycle {
                name: name.into(),
                rules: new_rules,
                min_size,
            }),
        ));
    }
    // Policy, merged.
    let current = match c
        .get_bucket_policy()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
    {
        Ok(o) => o.policy().map(String::from),
        Err(e) if code(&e) == "NoSuchBucketPolicy" => None,
        Err(e) => return Err(s3err(&format!("s3:GetBucketPolicy {name}"), e)),
    };
    let merged = merge_policy(current.as_deref(), &policy)?;
    let same = current
        .as_deref()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .is_some_and(|c| c == merged);
    if !same {
        let kept = merged["Statement"].as_array().map(|a| a.len()).unwrap_or(0) - policy.len();
        out.push(change(
            t,
            source,
            "update",
            format!("s3://{name}"),
            format!(
                "bucket policy: {} irprep statement(s) merged, {kept} existing statement(s) kept",
                policy.len()
            ),
            op(BucketOp::PutPolicy {
                name: name.into(),
                policy: merged.to_string(),
            }),
        ));
    }
    // Shown as the bucket's own lines of the plan, whichever source needed it.
    for c in out.iter_mut() {
        c.source = "bucket".into();
    }
    Ok(out)
}

/// The change that sets Object Lock's default retention.
fn lock_change(t: &Target, source: Source, name: &str, days: u32) -> Change {
    change(
        t,
        source,
        "update",
        format!("s3://{name}"),
        format!("Object Lock, governance mode, {days} days: no log can be deleted or overwritten for {days} days without s3:BypassGovernanceRetention (Object Lock cannot be turned off on a bucket)"),
        Op::Bucket(BucketOp::PutObjectLock {
            name: name.into(),
            days,
        }),
    )
}

/// Make one bucket change in `account`'s bucket (checked on every request
/// with `ExpectedBucketOwner`); a bucket it creates goes into `records` as
/// soon as it exists, and is tagged with `installation`.
pub async fn apply(
    conf: &SdkConfig,
    o: &BucketOp,
    account: &str,
    installation: &str,
    records: &mut Vec<Record>,
) -> Result<()> {
    let c = s3_for(conf, o.name()).await;
    match o {
        BucketOp::Create {
            name,
            region,
            object_lock,
        } => {
            let mut req = c.create_bucket().bucket(name);
            if *object_lock {
                req = req.object_lock_enabled_for_bucket(true);
            }
            if region != "us-east-1" {
                req = req.create_bucket_configuration(
                    st::CreateBucketConfiguration::builder()
                        .location_constraint(st::BucketLocationConstraint::from(region.as_str()))
                        .build(),
                );
            }
            req.send()
                .await
                .map_err(|x| s3err(&format!("s3:CreateBucket {name}"), x))?;
            records.push(Record::Added(Entry::new(
                account,
                region,
                Kind::Bucket,
                name,
            )));
            let tag = st::Tag::builder()
                .key(TAG_KEY)
                .value(installation)
                .build()
                .map_err(|x| anyhow!("{x}"))?;
            c.put_bucket_tagging()
                .bucket(name)
                .expected_bucket_owner(account)
                .tagging(
                    st::Tagging::builder()
                        .tag_set(tag)
                        .build()
                        .map_err(|x| anyhow!("{x}"))?,
                )
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:PutBucketTagging {name}"), x))?;
        }
        BucketOp::PutPublicAccessBlock { name } => {
            let pab = st::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build();
            c.put_public_access_block()
                .bucket(name)
                .expected_bucket_owner(account)
                .public_access_block_configuration(pab)
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:PutPublicAccessBlock {name}"), x))?;
        }
        BucketOp::PutEncryption { name, kms_key } => {
            let d = match kms_key {
                Some(k) => st::ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(st::ServerSideEncryption::AwsKms)
                    .kms_master_key_id(k)
                    .build(),
                None => st::ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(st::ServerSideEncryption::Aes256)
                    .build(),
            }
            .map_err(|x| anyhow!("{x}"))?;
            let rule = st::ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(d)
                .bucket_key_enabled(kms_key.is_some())
                .build();
            let conf = st::ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|x| anyhow!("{x}"))?;
            c.put_bucket_encryption()
                .bucket(name)
                .expected_bucket_owner(account)
                .server_side_encryption_configuration(conf)
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:PutBucketEncryption {name}"), x))?;
        }
        BucketOp::PutLifecycle {
            name,
            rules,
            min_size,
        } => {
            let conf = st::BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules.clone()))
                .build()
                .map_err(|x| anyhow!("{x}"))?;
            c.put_bucket_lifecycle_configuration()
                .bucket(name)
                .expected_bucket_owner(account)
                .set_transition_default_minimum_object_size(min_size.clone())
                .lifecycle_configuration(conf)
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:PutBucketLifecycleConfiguration {name}"), x))?;
        }
        BucketOp::Tag { name, value } => {
            let mut tags = tags_of(&c, name, account).await?;
            tags.retain(|x| x.key() != TAG_KEY);
            tags.push(
                st::Tag::builder()
                    .key(TAG_KEY)
                    .value(value)
                    .build()
                    .map_err(|x| anyhow!("{x}"))?,
            );
            c.put_bucket_tagging()
                .bucket(name)
                .expected_bucket_owner(account)
                .tagging(
                    st::Tagging::builder()
                        .set_tag_set(Some(tags))
                        .build()
                        .map_err(|x| anyhow!("{x}"))?,
                )
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:PutBucketTagging {name}"), x))?;
        }
        BucketOp::PutVersioning { name } => {
            c.put_bucket_versioning()
                .bucket(name)
                .expected_bucket_owner(account)
                .versioning_configuration(
                    st::VersioningConfiguration::builder()
                        .status(st::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:PutBucketVersioning {name}"), x))?;
        }
        BucketOp::PutObjectLock { name, days } => {
            let rule = st::ObjectLockRule::builder()
                .default_retention(
                    st::DefaultRetention::builder()
                        .mode(st::ObjectLockRetentionMode::Governance)
                        .days(*days as i32)
                        .build(),
                )
                .build();
            c.put_object_lock_configuration()
                .bucket(name)
                .expected_bucket_owner(account)
                .object_lock_configuration(
                    st::ObjectLockConfiguration::builder()
                        .object_lock_enabled(st::ObjectLockEnabled::Enabled)
                        .rule(rule)
                        .build(),
                )
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:PutObjectLockConfiguration {name}"), x))?;
        }
        BucketOp::PutPolicy { name, policy } => {
            c.put_bucket_policy()
                .bucket(name)
                .expected_bucket_owner(account)
                .policy(policy)
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:PutBucketPolicy {name}"), x))?;
        }
    }
    Ok(())
}

/// A bucket's tags (none when it has no tag set).
async fn tags_of(c: &aws_sdk_s3::Client, name: &str, owner: &str) -> Result<Vec<st::Tag>> {
    match c
        .get_bucket_tagging()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
    {
        Ok(o) => Ok(o.tag_set().to_vec()),
        Err(e) if code(&e) == "NoSuchTagSet" => Ok(vec![]),
        Err(e) => Err(s3err(&format!("s3:GetBucketTagging {name}"), e)),
    }
}

/// irprep's buckets in the target's account, with their regions: those its
/// ledger records and that carry its tag; and the buckets with irprep's
/// names or tag that the ledger does not record (left alone).
pub async fn owned_buckets(
    t: &Target,
    ledger: &Ledger,
) -> Result<(Vec<(String, String)>, Vec<LeftAlone>)> {
    let c = s3(&t.conf);
    let mut out = vec![];
    let mut foreign = vec![];
    let mut pages = c.list_buckets().max_buckets(1000).into_paginator().send();
    let mut names = vec![];
    while let Some(p) = pages.next().await {
        let p = p.map_err(|e| s3err("s3:ListBuckets", e))?;
        names.extend(
            p.buckets()
                .iter()
                .filter_map(|b| b.name().map(String::from)),
        );
    }
    for name in names {
        let irprep_name = name.starts_with(&format!("irprep-logs-{}-", t.account))
            || name.starts_with(&format!("aws-waf-logs-irprep-{}-", t.account));
        let recorded: Option<&Entry> = ledger
            .entries
            .iter()
            .find(|e| e.kind == Kind::Bucket && e.account == t.account && e.id == name);
        // S3 serves a bucket only in its own region (elsewhere: 301, which
        // the SDK does not follow): a recorded bucket is read where the
        // ledger says it is, any other where S3 says. A bucket whose tags
        // cannot be read counts as untagged.
        let here = match recorded {
            Some(e) if Some(e.region.as_str()) != t.conf.region().map(|r| r.as_ref()) => s3(&t
                .conf
                .to_builder()
                .region(aws_config::Region::new(e.region.clone()))
                .build()),
            Some(_) => c.clone(),
            None => {
                crate::s3::client_for_bucket(&t.conf, t.conf.endpoint_url().is_some(), &name).await
            }
        };
        let tag = tags_of(&here, &name, &t.account)
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|x| x.key() == TAG_KEY)
            .map(|x| x.value().to_string());
        if !irprep_name && recorded.is_none() {
            // Not by name: only a tag could make it look like irprep's.
            if tag.is_some() {
                foreign.push(left_alone(
                    t,
                    &name,
                    "tagged irprep:managed, but irprep's ledger does not record it",
                ));
            }
            continue;
        }
        match recorded {
            Some(e) if tag.as_deref() == Some(ledger.installation.as_str()) => {
                out.push((name, e.region.clone()));
            }
            Some(_) => foreign.push(left_alone(
                t,
                &name,
                "recorded in irprep's ledger, but its irprep:managed tag is missing or names another installation",
            )),
            None => foreign.push(left_alone(
                t,
                &name,
                "has irprep's name, but irprep's ledger does not record it",
            )),
        }
    }
    out.sort();
    Ok((out, foreign))
}

fn left_alone(t: &Target, name: &str, reason: &str) -> LeftAlone {
    LeftAlone {
        account: t.account.clone(),
        region: t.region.clone(),
        source: "bucket".into(),
        resource: format!("s3://{name}"),
        reason: reason.into(),
    }
}

/// The newest object (or version, or delete marker) of a bucket, if any.
async fn newest_object(
    c: &aws_sdk_s3::Client,
    name: &str,
    account: &str,
) -> Result<Option<aws_sdk_s3::primitives::DateTime>> {
    let mut newest: Option<aws_sdk_s3::primitives::DateTime> = None;
    let (mut key, mut version): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = c
            .list_object_versions()
            .bucket(name)
            .expected_bucket_owner(account)
            .set_key_marker(key.clone())
            .set_version_id_marker(version.clone())
            .send()
            .await
            .map_err(|x| s3err(&format!("s3:ListObjectVersions {name}"), x))?;
        let times = page
            .versions()
            .iter()
            .filter_map(|v| v.last_modified())
            .chain(
                page.delete_markers()
                    .iter()
                    .filter_map(|m| m.last_modified()),
            );
        for t in times {
            if newest.is_none_or(|n| t.secs() > n.secs()) {
                newest = Some(*t);
            }
        }
        let next = (
            page.next_key_marker().map(String::from),
            page.next_version_id_marker().map(String::from),
        );
        if !page.is_truncated().unwrap_or(false) || next == (key.clone(), version.clone()) {
            break;
        }
        (key, version) = next;
    }
    Ok(newest)
}

/// Empty and delete an irprep bucket (cleanup --delete-buckets), unless an
/// object in it is younger than `min_age_days` (recent logs are evidence:
/// the bucket is then left whole and the change fails with the reason).
pub async fn delete_bucket(
    conf: &SdkConfig,
    name: &str,
    account: &str,
    min_age_days: u32,
) -> Result<()> {
    let c = s3_for(conf, name).await;
    if min_age_days > 0 {
        if let Some(t) = newest_object(&c, name, account).await? {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let age_days = (now - t.secs()) / 86_400;
            if age_days < min_age_days as i64 {
                return Err(anyhow!(
                    "s3 {name}: its newest log was written {} ({age_days} day(s) ago), less than --min-log-age-days {min_age_days}: not deleted (recent logs are evidence; --min-log-age-days 0 deletes them)",
                    t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).unwrap_or_default()
                ));
            }
        }
    }
    // Versions (and delete markers) of a versioned bucket; objects of an
    // unversioned one carry the version id "null", which is left out. A
    // round that deletes nothing stops the loop with an error.
    let mut last_count = usize::MAX;
    loop {
        let v = c
            .list_object_versions()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await
            .map_err(|x| s3err(&format!("s3:ListObjectVersions {name}"), x))?;
        let mut ids = vec![];
        let entries = v
            .versions()
            .iter()
            .map(|o| (o.key(), o.version_id()))
            .chain(v.delete_markers().iter().map(|o| (o.key(), o.version_id())));
        for (key, version) in entries {
            let version = version.filter(|v| *v != "null").map(String::from);
            ids.push(
                st::ObjectIdentifier::builder()
                    .key(key.unwrap_or_default())
                    .set_version_id(version)
                    .build()
                    .map_err(|x| anyhow!("{x}"))?,
            );
        }
        if ids.is_empty() {
            break;
        }
        if ids.len() >= last_count && !v.is_truncated().unwrap_or(false) {
            return Err(anyhow!(
                "s3 {name}: objects remain after deleting them; the bucket was left in place"
            ));
        }
        last_count = ids.len();
        for chunk in ids.chunks(1000) {
            let del = st::Delete::builder()
                .set_objects(Some(chunk.to_vec()))
                .quiet(true)
                .build()
                .map_err(|x| anyhow!("{x}"))?;
            let out = c
                .delete_objects()
                .bucket(name)
                .expected_bucket_owner(account)
                .delete(del)
                .send()
                .await
                .map_err(|x| s3err(&format!("s3:DeleteObjects {name}"), x))?;
            if let Some(e) = out.errors().first() {
                return Err(anyhow!(
                    "s3:DeleteObjects {name}: {} of {} object(s) not deleted, e.g. {}: {} {}; the bucket was left in place",
                    out.errors().len(),
                    chunk.len(),
                    e.key().unwrap_or("?"),
                    e.code().unwrap_or(""),
                    e.message().unwrap_or("")
                ));
            }
        }
    }
    c.delete_bucket()
        .bucket(name)
        .expected_bucket_owner(account)
        .send()
        .await
        .map_err(|x| s3err(&format!("s3:DeleteBucket {name}"), x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_foreign_statements_and_replaces_ours() {
        let existing = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TheirRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},{"Sid":"IrprepCloudTrailWrite","Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"},{"Sid":"IrprepElbAccessLogs","Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let ours = statements(
            "b",
            "aws",
            "eu-west-1",
            Roles {
                cloudtrail: true,
                delivery: true,
                ..Default::default()
            },
            &["111122223333".into()],
            None,
        );
        let merged = merge_policy(Some(existing), &ours).unwrap();
        let sids: Vec<&str> = merged["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids[0], "TheirRead");
        // An irprep statement of another source (an earlier run) stays; ours replace theirs by Sid.
        assert_eq!(sids[1], "IrprepElbAccessLogs");
        assert_eq!(
            sids.iter()
                .filter(|s| **s == "IrprepCloudTrailWrite")
                .count(),
            1
        );
        let ct = merged["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "IrprepCloudTrailWrite")
            .unwrap();
        assert_eq!(ct["Principal"]["Service"], "cloudtrail.amazonaws.com");
        assert!(
            sids.contains(&"IrprepDenyInsecureTransport")
                && sids.contains(&"IrprepCloudTrailWrite")
                && sids.contains(&"IrprepLogDeliveryWrite")
        );
        // Every delivery principal is bound to the accounts.
        for s in ours.iter().filter(|s| s["Effect"] == "Allow") {
            let cond = s["Condition"].to_string();
            assert!(cond.contains("111122223333"), "{s}");
        }
        // Merging again changes nothing.
        let again = merge_policy(Some(&merged.to_string()), &ours).unwrap();
        assert_eq!(again, merged);
    }

    /// Over generated plans (every combination of roles, 1 to 1,000
    /// accounts, an Organization or not, regions old and new): each Allow is
    /// bound to the accounts or the Organization (or, for the legacy ELB
    /// accounts, to the account's own prefix), each delivery principal gets
    /// exactly the prefixes it writes, and the policy stays under the 20 KB
    /// a bucket policy may hold.
    #[test]
    fn policies_stay_bound_and_small_at_any_size() {
        let mut checked = 0;
        for n in [1usize, 2, 7, 100, 1000] {
            let accounts: Vec<String> = (0..n)
                .map(|i| format!("{:012}", 100000000000u64 + i as u64))
                .collect();
            let org = (n > 1).then_some(OrgWriters {
                id: "o-a1b2c3d4e5",
                management: &accounts[0],
            });
            for bits in 0u8..32 {
                let roles = Roles {
                    cloudtrail: bits & 1 != 0,
                    delivery: bits & 2 != 0,
                    s3_access: bits & 4 != 0,
                    elb: bits & 8 != 0,
                    guardduty: bits & 16 != 0,
                    waf: false,
                };
                // Regional roles only ever serve one account's bucket.
                if n > 1 && (roles.s3_access || roles.elb || roles.guardduty) {
                    continue;
                }
                for region in ["eu-west-1", "ap-southeast-5"] {
                    let st =
                        statements("irprep-logs-central", "aws", region, roles, &accounts, org);
                    let doc = merge_policy(None, &st).unwrap().to_string();
                    assert!(
                        doc.len() < 20 * 1024,
                        "{n} accounts, {roles:?}: {} bytes",
                        doc.len()
                    );
                    for s in st.iter().filter(|s| s["Effect"] == "Allow") {
                        let bound = s["Condition"]["StringEquals"]["aws:SourceAccount"].is_array()
                            || s["Condition"]["StringEquals"]["aws:SourceOrgID"] == "o-a1b2c3d4e5"
                            || s["Condition"]["ArnLike"]["aws:SourceArn"].is_array()
                            || (s["Principal"]["AWS"].is_string()
                                && s["Resource"]
                                    .to_string()
                                    .contains(&format!("/AWSLogs/{}/", accounts[0])));
                        assert!(bound, "{n} accounts: unbound {s}");
                    }
                    let write = st.iter().find(|s| s["Sid"] == "IrprepLogDeliveryWrite");
                    assert_eq!(write.is_some(), roles.delivery);
                    if let Some(w) = write {
                        let want = match org {
                            Some(_) => json!("arn:aws:s3:::irprep-logs-central/AWSLogs/*"),
                            None => json!(accounts
                                .iter()
                                .flat_map(|a| {
                                    [
                                        format!("arn:aws:s3:::irprep-logs-central/AWSLogs/{a}/*"),
                                        format!("arn:aws:s3:::irprep-logs-central/AWSLogs/aws-account-id={a}/*"),
                                    ]
                                })
                                .collect::<Vec<_>>()),
                        };
                        assert_eq!(w["Resource"], want);
                    }
                    // The log-delivery service writes flow and Resolver logs
                    // under AWSLogs/, and NLB logs under elb/AWSLogs/; nothing else.
                    let mut delivered: Vec<String> = st
                        .iter()
                        .filter(|s| {
                            s["Principal"]["Service"] == "delivery.logs.amazonaws.com"
                                && s["Action"] == "s3:PutObject"
                        })
                        .flat_map(|s| match &s["Resource"] {
                            Value::Array(a) => {
                                a.iter().map(|r| r.as_str().unwrap().to_string()).collect()
                            }
                            r => vec![r.as_str().unwrap().to_string()],
                        })
                        .collect();
                    delivered.sort();
                    let mut want: Vec<String> = vec![];
                    if roles.delivery {
                        match org {
                            Some(_) => {
                                want.push("arn:aws:s3:::irprep-logs-central/AWSLogs/*".into())
                            }
                            None => want.extend(accounts.iter().flat_map(|a| {
                                [
                                    format!("arn:aws:s3:::irprep-logs-central/AWSLogs/{a}/*"),
                                    format!("arn:aws:s3:::irprep-logs-central/AWSLogs/aws-account-id={a}/*"),
                                ]
                            })),
                        }
                    }
                    if roles.elb {
                        want.extend(accounts.iter().map(|a| {
                            format!("arn:aws:s3:::irprep-logs-central/elb/AWSLogs/{a}/*")
                        }));
                    }
                    want.sort();
                    assert_eq!(delivered, want, "{n} accounts, {roles:?}, {region}");
                    if let Some(ct) = st.iter().find(|s| s["Sid"] == "IrprepCloudTrailWrite") {
                        let trails = ct["Condition"]["ArnLike"]["aws:SourceArn"]
                            .as_array()
                            .unwrap();
                        // With an Organization, only the management account's (Organization) trails.
                        assert_eq!(trails.len(), if org.is_some() { 1 } else { n });
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 60, "{checked}");
        // Listing 1,000 accounts instead would not fit: why the
        // Organization condition is used.
        let many: Vec<String> = (0..1000)
            .map(|i| format!("{:012}", 200000000000u64 + i))
            .collect();
        let roles = Roles {
            cloudtrail: true,
            delivery: true,
            ..Default::default()
        };
        let listed = statements("b", "aws", "eu-west-1", roles, &many, None);
        assert!(merge_policy(None, &listed).unwrap().to_string().len() > 20 * 1024);
    }

    /// Review finding 21: S3 refuses a lifecycle rule whose expiry is not
    /// after its transition, so `--retention-days 90` or less used to fail.
    #[test]
    fn short_retention_only_expires() {
        let r = our_rule(30).unwrap();
        assert!(r.transitions().is_empty());
        assert_eq!(r.expiration().and_then(|e| e.days()), Some(30));
        assert!(is_our_rule(&r, 30) && !is_our_rule(&r, 400));
        let r = our_rule(400).unwrap();
        assert_eq!(r.transitions()[0].days(), Some(90));
        assert!(is_our_rule(&r, 400));
        assert_eq!(rule_text(90), "lifecycle: expiry after 90 days");
        for days in [1, 30, 90, 91, 400] {
            let r = our_rule(days).unwrap();
            let first = r.transitions().iter().filter_map(|t| t.days()).min();
            assert!(first.is_none_or(|t| t < days as i32), "{days}");
        }
    }

    #[test]
    fn nlb_logs_are_granted_to_the_log_delivery_service_in_every_region() {
        for region in ["eu-west-1", "ap-southeast-5"] {
            let st = statements(
                "b",
                "aws",
                region,
                Roles {
                    elb: true,
                    ..Default::default()
                },
                &["111122223333".into()],
                None,
            );
            let by = |action: &str| {
                st.iter()
                    .find(|s| {
                        s["Principal"]["Service"] == "delivery.logs.amazonaws.com"
                            && s["Action"] == action
                    })
                    .unwrap_or_else(|| panic!("{region}: no delivery.logs {action}"))
            };
            let w = by("s3:PutObject");
            assert_eq!(
                w["Resource"],
                json!(["arn:aws:s3:::b/elb/AWSLogs/111122223333/*"])
            );
            assert_eq!(
                w["Condition"]["StringEquals"]["s3:x-amz-acl"],
                "bucket-owner-full-control"
            );
            assert_eq!(
                w["Condition"]["ArnLike"]["aws:SourceArn"],
                json!([format!("arn:aws:logs:{region}:111122223333:*")])
            );
            assert_eq!(by("s3:GetBucketAcl")["Resource"], "arn:aws:s3:::b");
        }
    }

    #[test]
    fn elb_principal_by_region_age() {
        let old = statements(
            "b",
            "aws",
            "eu-west-1",
            Roles {
                elb: true,
                ..Default::default()
            },
            &["1".into()],
            None,
        );
        assert!(old
            .to_owned()
            .iter()
            .any(|s| s["Principal"]["AWS"] == "arn:aws:iam::156460612806:root"));
        let new = statements(
            "b",
            "aws",
            "ap-southeast-5",
            Roles {
                elb: true,
                ..Default::default()
            },
            &["1".into()],
            None,
        );
        assert!(
            new.iter()
                .any(|s| s["Principal"]["Service"]
                    == "logdelivery.elasticloadbalancing.amazonaws.com")
        );
    }
}
