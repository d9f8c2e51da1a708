//! `irprep logs`: the security log sources of an account or an Organization,
//! judged, planned, enabled and removed.
//!
//! Every command starts with the same read-only inspection of each account ×
//! region (bounded concurrency; a failing account or region is reported and
//! the rest goes on). `status` prints what it found; `enable` turns the gaps
//! into a plan of changes, prints it, and applies it only when asked, so a
//! second `enable` plans nothing; `cleanup` plans the removal of exactly what
//! irprep made: what its ledger (`ledger`) records *and* the live resource
//! confirms (the tag `irprep:managed=<installation id>`, or a destination
//! that is irprep's bucket). Whatever only looks like irprep's work is
//! reported and left alone.

pub mod bucket;
pub mod iam;
pub mod kms;
pub mod ledger;
pub mod org;
pub mod sources;

use std::collections::BTreeMap;

use anyhow::Result;
use aws_config::SdkConfig;
use serde::Serialize;

pub use org::{Target, Targets};

/// The tag on everything irprep creates; its value is the installation id
/// of the ledger (`ledger::Ledger::installation`).
pub const TAG_KEY: &str = "irprep:managed";
/// On an EKS cluster: the log types irprep turned on (so cleanup turns off
/// only those).
pub const EKS_TAG: &str = "irprep:eks-log-types";
/// Names irprep gives what it creates.
pub const TRAIL_NAME: &str = "irprep-trail";

/// A log source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Source {
    #[serde(rename = "cloudtrail")]
    CloudTrail,
    #[serde(rename = "vpcflow")]
    VpcFlow,
    #[serde(rename = "dns")]
    Dns,
    #[serde(rename = "s3-access")]
    S3Access,
    #[serde(rename = "elb")]
    Elb,
    #[serde(rename = "waf")]
    Waf,
    #[serde(rename = "eks")]
    Eks,
    #[serde(rename = "guardduty")]
    GuardDuty,
}

impl Source {
    pub const ALL: [Source; 8] = [
        Source::CloudTrail,
        Source::VpcFlow,
        Source::Dns,
        Source::S3Access,
        Source::Elb,
        Source::Waf,
        Source::Eks,
        Source::GuardDuty,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::CloudTrail => "cloudtrail",
            Source::VpcFlow => "vpcflow",
            Source::Dns => "dns",
            Source::S3Access => "s3-access",
            Source::Elb => "elb",
            Source::Waf => "waf",
            Source::Eks => "eks",
            Source::GuardDuty => "guardduty",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.iter().copied().find(|x| {
            x.name() == s
                || (s == "s3" && *x == Source::S3Access)
                || (s == "flowlogs" && *x == Source::VpcFlow)
                || (s == "route53" && *x == Source::Dns)
        })
    }
}

/// How well one source covers one account × region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    On,
    Partial,
    Off,
    /// Nothing to log here (no VPCs, no load balancers…).
    None,
    /// The inspection failed (access denied, throttled after retries…).
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::On => "on",
            State::Partial => "partial",
            State::Off => "off",
            State::None => "none",
            State::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    pub account: String,
    pub region: String,
    pub source: Source,
    pub state: State,
    pub reason: String,
}

/// Whether a source's logs arrive where they should (`logs verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Its logs are in the bucket.
    Delivering,
    /// Configured, nothing has arrived yet.
    Waiting,
    /// The service reports that it cannot deliver.
    Failing,
    /// Not turned on here (see `logs status`).
    NotOn,
    /// Not checked (irprep cannot for this source yet, or the check failed).
    NotChecked,
}

impl Delivery {
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Delivering => "delivering",
            Delivery::Waiting => "waiting",
            Delivery::Failing => "failing",
            Delivery::NotOn => "not-on",
            Delivery::NotChecked => "not-checked",
        }
    }
}

/// One account × region × source of `logs verify`.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub account: String,
    pub region: String,
    pub source: Source,
    pub state: Delivery,
    pub detail: String,
}

/// `logs verify`, round after round (`--wait`): the marked CloudTrail call
/// goes out once per account and region, and what was found delivering is
/// not asked about again.
pub struct Verifier {
    /// The id in the marked calls' user agent (`irprep-verify-<id>`).
    pub marker: String,
    sent: BTreeMap<(String, String), chrono::DateTime<chrono::Utc>>,
    done: BTreeMap<(String, String, Source), DeliveryRow>,
    reused: bool,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            marker: format!("{:016x}", ledger::random_u64()),
            sent: BTreeMap::new(),
            done: BTreeMap::new(),
            reused: false,
        }
    }

    /// Look for the marked calls of an earlier run (`marker`) instead of
    /// making new ones: in the delivery files of the last day.
    pub fn reuse(&mut self, marker: String) {
        self.marker = marker;
        self.reused = true;
    }

    /// One round over every target; the rows of every target and source.
    pub async fn round(
        &mut self,
        targets: &Targets,
        layout: &Layout,
        sources: &[Source],
        concurrency: usize,
    ) -> Vec<DeliveryRow> {
        use futures::StreamExt;
        let jobs = targets.list.iter().map(|t| {
            let key = (t.account.clone(), t.region.clone());
            let mut sent = self.sent.get(&key).copied().or(self
                .reused
                .then(|| chrono::Utc::now() - chrono::Duration::days(1)));
            let todo: Vec<Source> = sources
                .iter()
                .copied()
                .filter(|s| !self.done.contains_key(&(key.0.clone(), key.1.clone(), *s)))
                .collect();
            let marker = self.marker.clone();
            async move {
                let rows = sources::verify_target(t, layout, &todo, &marker, &mut sent).await;
                (key, sent, rows)
            }
        });
        let results: Vec<_> = futures::stream::iter(jobs)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut out: Vec<DeliveryRow> = vec![];
        for (key, sent, rows) in results {
            if let Some(s) = sent {
                self.sent.insert(key, s);
            }
            for r in rows {
                if matches!(r.state, Delivery::Delivering | Delivery::NotOn) {
                    self.done
                        .insert((r.account.clone(), r.region.clone(), r.source), r.clone());
                }
                out.push(r);
            }
        }
        out.extend(
            self.done
                .values()
                .filter(|d| {
                    !out.iter().any(|r| {
                        r.account == d.account && r.region == d.region && r.source == d.source
                    })
                })
                .cloned()
                .collect::<Vec<_>>(),
        );
        out.sort_by(|a, b| {
            (&a.account, &a.region, a.source.name()).cmp(&(&b.account, &b.region, b.source.name()))
        });
        out
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

/// One change of a plan: what people read (and `--format json` prints) plus
/// the operation that makes it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub account: String,
    pub region: String,
    pub source: String,
    pub action: String,
    pub resource: String,
    pub detail: String,
    #[serde(skip)]
    pub op: Op,
}

/// The bucket named by an S3 ARN (`arn:aws:s3:::name/prefix`).
fn bucket_of_arn(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":s3:::")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

impl Op {
    /// The log bucket this change makes a service deliver to.
    pub fn writes_to(&self) -> Option<&str> {
        match self {
            Op::CreateTrail { bucket, .. } => Some(bucket),
            Op::CreateFlowLogs { destination, .. }
            | Op::CreateResolverConfig { destination, .. }
            | Op::WafLogging { destination, .. } => bucket_of_arn(destination),
            Op::PutBucketLogging { target_bucket, .. } => Some(target_bucket),
            Op::ElbV2Logs { bucket, .. } | Op::ElbClassicLogs { bucket, .. } => Some(bucket),
            _ => None,
        }
    }
}

/// For each change, whether it depends on a bucket of `failed`: it writes
/// to one, or it needs a change that does (starting a trail the plan
/// creates, associating VPCs with a config it creates).
pub fn blocked_by(changes: &[&Change], failed: &[String]) -> Vec<bool> {
    let failed_bucket = |b: &str| failed.iter().any(|f| f == b);
    // A trail by the target that creates it, its region and its name: its
    // ARN's account is the Organization's management account when a
    // delegated administrator makes an organization trail, not the
    // target's (review finding 21e).
    let dropped_trails: Vec<(&str, &str, &str)> = changes
        .iter()
        .filter_map(|c| match &c.op {
            Op::CreateTrail { name, bucket, .. } if failed_bucket(bucket) => {
                Some((c.account.as_str(), c.region.as_str(), name.as_str()))
            }
            _ => None,
        })
        .collect();
    // `arn:<partition>:cloudtrail:<region>:<account>:trail/<name>`.
    let trail_of = |arn: &str| -> Option<(String, String)> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let name = parts.get(5)?.strip_prefix("trail/")?;
        Some((parts.get(3)?.to_string(), name.to_string()))
    };
    let dropped_configs: Vec<(&str, &str, &str)> = changes
        .iter()
        .filter_map(|c| match &c.op {
            Op::CreateResolverConfig { name, destination }
                if bucket_of_arn(destination).is_some_and(failed_bucket) =>
            {
                Some((c.account.as_str(), c.region.as_str(), name.as_str()))
            }
            _ => None,
        })
        .collect();
    changes
        .iter()
        .map(|c| {
            c.op.writes_to().is_some_and(failed_bucket)
                || match &c.op {
                    Op::StartLogging { trail_arn } => trail_of(trail_arn).is_some_and(|(r, n)| {
                        dropped_trails.contains(&(c.account.as_str(), r.as_str(), n.as_str()))
                    }),
                    Op::AssociateResolver {
                        config: ResolverConfig::Planned(name),
                        ..
                    } => dropped_configs.contains(&(
                        c.account.as_str(),
                        c.region.as_str(),
                        name.as_str(),
                    )),
                    _ => false,
                }
        })
        .collect()
}

/// What applying a change does.
#[derive(Debug, Clone)]
pub enum Op {
    Bucket(bucket::BucketOp),
    CreateTrail {
        name: String,
        bucket: String,
        org: bool,
        kms_key: Option<String>,
    },
    StartLogging {
        trail_arn: String,
    },
    TrailToOrganization {
        name: String,
    },
    /// Organizations trusted access for a service (CloudTrail, before an
    /// organization trail is made through the API).
    EnableTrustedAccess {
        service: String,
    },
    DisableTrustedAccess {
        service: String,
    },
    CreateFlowLogs {
        vpcs: Vec<String>,
        destination: String,
        log_format: String,
        parquet: bool,
        hive: bool,
        hourly: bool,
        /// Seconds a flow is aggregated over before its record is written.
        interval: i32,
    },
    CreateResolverConfig {
        name: String,
        destination: String,
    },
    AssociateResolver {
        config: ResolverConfig,
        vpc: String,
    },
    PutBucketLogging {
        bucket: String,
        target_bucket: String,
        prefix: String,
    },
    ElbV2Logs {
        arn: String,
        bucket: String,
        prefix: String,
    },
    ElbClassicLogs {
        name: String,
        bucket: String,
        prefix: String,
    },
    WafLogging {
        acl_arn: String,
        destination: String,
    },
    /// `types`: irprep's (tagged on the cluster); `after`: every type enabled
    /// once applied (the whole set is sent, which both EKS and emulators honour).
    EksLogging {
        cluster: String,
        types: Vec<String>,
        enable: bool,
        after: Vec<String>,
    },
    CreateDetector,
    EnableDetector {
        id: String,
    },
    /// Export the region's detector's findings to `bucket` (under
    /// `AWSLogs/<account>/GuardDuty/<region>/`), encrypted with `kms_key`,
    /// or with a key created for it (its policy lets GuardDuty use it).
    GuardDutyExport {
        bucket: String,
        kms_key: Option<String>,
    },
    // Cleanup.
    /// By name, in the trail's home region (the API takes a name or an ARN).
    DeleteTrail {
        name: String,
        arn: String,
    },
    DeleteFlowLogs {
        ids: Vec<String>,
    },
    DisassociateResolver {
        config_id: String,
        vpc: String,
    },
    DeleteResolverConfig {
        id: String,
    },
    DisableBucketLogging {
        bucket: String,
    },
    ElbV2LogsOff {
        arn: String,
    },
    ElbClassicLogsOff {
        name: String,
    },
    DeleteWafLogging {
        acl_arn: String,
    },
    DeleteDetector {
        id: String,
    },
    DeletePublishingDestination {
        detector: String,
        destination: String,
    },
    /// KMS keys cannot be deleted at once: scheduled for deletion in 7 days
    /// (the shortest wait), cancellable until then.
    ScheduleKeyDeletion {
        key_arn: String,
    },
    DeleteBucket {
        name: String,
        /// Refuse when an object was written less than this many days ago
        /// (recent logs are an investigation's evidence).
        min_age_days: u32,
    },
}

/// A query-log config that exists, or the one this plan creates.
#[derive(Debug, Clone)]
pub enum ResolverConfig {
    Existing(String),
    Planned(String),
}

/// What `enable` was asked to do.
#[derive(Debug, Clone)]
pub struct EnableOptions {
    pub sources: Vec<Source>,
    /// The central log bucket (the user's); default `irprep-logs-<account>-<home region>`.
    pub bucket: Option<String>,
    pub kms_key: Option<String>,
    pub retention_days: u32,
    /// Object Lock (governance mode) on buckets irprep creates, with this
    /// default retention in days.
    pub object_lock_days: Option<u32>,
    pub flow_parquet: bool,
    pub flow_hive: bool,
    pub flow_hourly: bool,
    /// Flow-log aggregation interval in seconds: 600 (AWS's default, fewer
    /// records for long flows) or 60 (finer timing, up to ten times the
    /// records and their cost).
    pub flow_interval: i32,
    /// Export GuardDuty findings to the region's log bucket (asked for:
    /// it needs a KMS key, created when `guardduty_kms_key` names none).
    pub guardduty_export: bool,
    pub guardduty_kms_key: Option<String>,
}

impl Default for EnableOptions {
    fn default() -> Self {
        EnableOptions {
            sources: Source::ALL.to_vec(),
            bucket: None,
            kms_key: None,
            retention_days: 400,
            object_lock_days: None,
            flow_parquet: false,
            flow_hive: false,
            flow_hourly: false,
            flow_interval: 600,
            guardduty_export: false,
            guardduty_kms_key: None,
        }
    }
}

/// An account or region that could not be inspected or changed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub account: String,
    pub region: String,
    pub error: String,
}

impl Failure {
    /// The failure of one change, where it was to be made.
    pub fn of(c: &Change, error: String) -> Failure {
        Failure {
            account: c.account.clone(),
            region: c.region.clone(),
            error,
        }
    }
}

/// Something that looks like irprep's work but that its ledger does not
/// name: reported, never changed.
#[derive(Debug, Clone, Serialize)]
pub struct LeftAlone {
    pub account: String,
    pub region: String,
    pub source: String,
    pub resource: String,
    pub reason: String,
}

/// The result of inspecting every target.
#[derive(Debug, Default)]
pub struct Inspection {
    pub rows: Vec<StatusRow>,
    pub changes: Vec<Change>,
    pub failures: Vec<Failure>,
    pub left_alone: Vec<LeftAlone>,
}

impl Inspection {
    /// Everything that could not be inspected: failed targets, and source
    /// checks that ended in an error.
    pub fn problems(&self) -> Vec<Failure> {
        self.rows
            .iter()
            .filter(|r| r.state == State::Error)
            .map(|r| Failure {
                account: r.account.clone(),
                region: r.region.clone(),
                error: format!("{}: {}", r.source.name(), r.reason),
            })
            .chain(self.failures.iter().cloned())
            .collect()
    }
}

/// An SDK error as one line: the service's code and message when it sent
/// them, else the whole error context (timeouts, credentials, DNS…).
pub(crate) fn err<E>(
    what: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> anyhow::Error
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_ec2::error::ProvideErrorMetadata as _;
    let status = e.raw_response().map(|r| r.status().as_u16());
    match (e.code(), status) {
        (Some(c), _) => anyhow::anyhow!("{what}: {c} {}", e.message().unwrap_or("")),
        (None, Some(s)) => anyhow::anyhow!("{what}: HTTP {s} with no error code"),
        (None, None) => anyhow::anyhow!("{what}: {}", aws_sdk_ec2::error::DisplayErrorContext(&e)),
    }
}

/// The partition of a region, for ARNs.
pub fn partition(region: &str) -> &'static str {
    crate::analytics::partition_of(region)
}

/// Answers shared by every account × region of a run, so that no request
/// is sent twice (a bucket's region, a trail's status and selectors).
#[derive(Debug, Default)]
pub struct Cache {
    cells: std::sync::Mutex<
        BTreeMap<String, std::sync::Arc<tokio::sync::OnceCell<serde_json::Value>>>,
    >,
}

impl Cache {
    /// Every value computed under a key with this prefix.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, serde_json::Value)> {
        let m = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, c)| c.get().map(|v| (k.clone(), v.clone())))
            .collect()
    }

    /// The value under `key`, computed once (concurrent callers wait for it).
    pub async fn get_or_try<F, Fut>(&self, key: &str, f: F) -> Result<serde_json::Value>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<serde_json::Value>>,
    {
        let cell = {
            let mut m = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(key.to_string()).or_default().clone()
        };
        cell.get_or_try_init(f).await.cloned()
    }
}

/// Everything a run needs to know about where logs go.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The account that owns the central bucket (the caller).
    pub home_account: String,
    pub home_region: String,
    pub central_bucket: String,
    /// Accounts whose deliveries the central bucket accepts.
    pub accounts: Vec<String>,
    /// The Organization id, with `--org`.
    pub org_id: Option<String>,
    /// The Organization's management account, with `--org`: it owns the
    /// Organization trail, also when a delegated administrator runs irprep.
    pub org_management: Option<String>,
    pub cache: std::sync::Arc<Cache>,
    /// irprep's record of what it made (a fresh one until `open_ledger`
    /// finds the stored one).
    pub ledger: ledger::Ledger,
    /// Whether `ledger` was read from (or written to) Parameter Store.
    pub ledger_stored: bool,
}

impl Layout {
    pub fn regional_bucket(account: &str, region: &str) -> String {
        format!("irprep-logs-{account}-{region}")
    }
    pub fn waf_bucket(account: &str, region: &str) -> String {
        format!("aws-waf-logs-irprep-{account}-{region}")
    }
}

/// Read irprep's ledger (SSM Parameter Store of the caller's account, home
/// region) into `layout`; a fresh one stays when there is none yet.
pub async fn open_ledger(targets: &Targets, layout: &mut Layout) -> Result<()> {
    let Some(home) = targets.target(&layout.home_account, &layout.home_region) else {
        anyhow::bail!(
            "no credentials for the home account {}",
            layout.home_account
        );
    };
    if let Some(l) = ledger::load(&home.conf).await? {
        layout.ledger = l;
        layout.ledger_stored = true;
    }
    Ok(())
}

/// Write what an apply did into the ledger (and `layout.ledger`); nothing is
/// written when nothing changed. A ledger that cannot be written is a
/// failure naming how much it misses: cleanup will leave that alone.
pub async fn record(
    targets: &Targets,
    layout: &mut Layout,
    records: &[ledger::Record],
) -> Option<Failure> {
    let mut next = layout.ledger.clone();
    if !next.apply(records) {
        return None;
    }
    let saved = match targets.target(&layout.home_account, &layout.home_region) {
        Some(home) => {
            let before = layout.ledger_stored.then_some(&layout.ledger);
            ledger::save(&home.conf, before, &next).await
        }
        None => Err(anyhow::anyhow!("no credentials for the home account")),
    };
    match saved {
        Ok(()) => {
            layout.ledger = next;
            layout.ledger_stored = true;
            None
        }
        Err(e) => Some(Failure {
            account: layout.home_account.clone(),
            region: layout.home_region.clone(),
            error: format!(
                "irprep's ledger ({}* in SSM Parameter Store, {}) could not be updated with {} change(s): {e:#}; \
                 cleanup will leave what they made alone",
                ledger::LEDGER_PATH,
                layout.home_region,
                records.len()
            ),
        }),
    }
}

/// [`apply`], then [`record`]: the failures of both.
pub async fn apply_and_record(
    targets: &Targets,
    layout: &mut Layout,
    changes: &[Change],
    concurrency: usize,
) -> Vec<Failure> {
    let done = apply(targets, changes, &layout.ledger.installation, concurrency).await;
    let mut failures = done.failures;
    failures.extend(record(targets, layout, &done.records).await);
    failures
}

/// The roles a bucket's policy serves. A bucket is planned when some change
/// writes to it, and its policy then serves every selected source it is
/// meant for (not only the ones that needed a change this time), so runs
/// agree. What it is for follows from its name alone: `irprep-logs-<account>-
/// <region>` is the regional bucket of that account and region when they are
/// in the run (`in_run`), whichever change needed it; the default central
/// bucket is also the home region's regional bucket, and keeps the S3
/// access and load balancer statements whatever wrote to it first.
fn bucket_roles(
    name: &str,
    central_bucket: &str,
    in_run: impl Fn(&str, &str) -> bool,
    sources: &[Source],
    guardduty_export: bool,
) -> bucket::Roles {
    let has = |s: Source| sources.contains(&s);
    let central = name == central_bucket;
    let place = |prefix: &str| {
        let rest = name.strip_prefix(prefix)?;
        let (account, region) = rest.split_once('-')?;
        in_run(account, region).then_some(())
    };
    let regional = place("irprep-logs-").is_some();
    bucket::Roles {
        cloudtrail: central && has(Source::CloudTrail),
        delivery: central && (has(Source::VpcFlow) || has(Source::Dns)),
        s3_access: regional && has(Source::S3Access),
        elb: regional && has(Source::Elb),
        waf: place("aws-waf-logs-irprep-").is_some(),
        guardduty: regional && has(Source::GuardDuty) && guardduty_export,
    }
}

/// Inspect every target (and plan, when `enable` is given). Buckets are
/// planned last, once each, and only when some change writes to them; their
/// changes go first in the plan.
pub async fn inspect(
    targets: &Targets,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    sources: &[Source],
    concurrency: usize,
) -> Inspection {
    use futures::StreamExt;
    let mut out = Inspection::default();
    out.failures.extend(targets.failures.iter().cloned());
    let jobs = targets
        .list
        .iter()
        .map(|t| async move { (t, sources::inspect_target(t, layout, enable, sources).await) });
    let mut results: Vec<_> = futures::stream::iter(jobs)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.sort_by(|a, b| (&a.0.account, &a.0.region).cmp(&(&b.0.account, &b.0.region)));
    let mut needs: Vec<sources::BucketNeed> = vec![];
    let mut source_changes = vec![];
    for (t, r) in results {
        match r {
            Ok(f) => {
                out.rows.extend(f.rows);
                source_changes.extend(f.changes);
                needs.extend(f.buckets);
            }
            Err(e) => out.failures.push(Failure {
                account: t.account.clone(),
                region: t.region.clone(),
                error: format!("{e:#}"),
            }),
        }
    }
    if let Some(o) = enable {
        // The buckets irprep's ledger records are checked too, so one that
        // drifted (lost its tag, its policy) is repaired by the next enable.
        for e in layout
            .ledger
            .entries
            .iter()
            .filter(|e| e.kind == ledger::Kind::Bucket)
        {
            if targets.target(&e.account, &e.region).is_some()
                && !needs.iter().any(|n| n.name == e.id)
            {
                needs.push(sources::BucketNeed {
                    account: e.account.clone(),
                    region: e.region.clone(),
                    name: e.id.clone(),
                    roles: bucket::Roles::default(),
                    source: if e.id.starts_with("aws-waf-logs-") {
                        Source::Waf
                    } else {
                        Source::S3Access
                    },
                });
            }
        }
        let mut failed_buckets: Vec<String> = vec![];
        // A bucket is planned when some change writes to it; its policy
        // then serves every selected source it is meant for (not only the
        // ones that needed a change this time), so runs agree.
        let mut by_name: BTreeMap<String, (sources::BucketNeed, bucket::Roles)> = BTreeMap::new();
        let in_run = |a: &str, r: &str| targets.target(a, r).is_some();
        for n in needs {
            let roles = bucket_roles(
                &n.name,
                &layout.central_bucket,
                in_run,
                sources,
                o.guardduty_export,
            );
            by_name.entry(n.name.clone()).or_insert((n, roles));
        }
        for (name, (n, roles)) in by_name {
            let central = name == layout.central_bucket;
            let (account, region) = if central {
                (layout.home_account.clone(), layout.home_region.clone())
            } else {
                (n.account.clone(), n.region.clone())
            };
            let Some(t) = targets.target(&account, &region) else {
                out.failures.push(Failure {
                    account,
                    region,
                    error: format!("no credentials to set up bucket {name}"),
                });
                failed_buckets.push(name);
                continue;
            };
            let accounts = if central {
                layout.accounts.clone()
            } else {
                vec![n.account.clone()]
            };
            let owned = o.bucket.as_deref() != Some(name.as_str());
            // A bucket irprep made (its ledger says so) gets its tag back if
            // it lost it (tagging failed after CreateBucket, or someone removed it).
            let retag = layout
                .ledger
                .has(&t.account, &t.region, ledger::Kind::Bucket, &name)
                .then_some(layout.ledger.installation.as_str());
            match bucket::plan(
                &t,
                &name,
                roles,
                &accounts,
                o.kms_key.as_deref(),
                o.retention_days,
                o.object_lock_days,
                owned,
                n.source,
                retag,
                // The central bucket of an Organization run: bound to the
                // Organization, not to a list of accounts.
                match (&layout.org_id, central) {
                    (Some(id), true) => Some(bucket::OrgWriters {
                        id,
                        management: layout
                            .org_management
                            .as_deref()
                            .unwrap_or(&layout.home_account),
                    }),
                    _ => None,
                },
            )
            .await
            {
                Ok(c) => out.changes.extend(c),
                Err(e) => {
                    out.failures.push(Failure {
                        account: t.account.clone(),
                        region: t.region.clone(),
                        error: format!("bucket {name}: {e:#}"),
                    });
                    failed_buckets.push(name);
                }
            }
        }
        // Nothing is pointed at a bucket that could not be planned (it may
        // be someone else's): those changes leave the plan, and say so.
        if !failed_buckets.is_empty() {
            let blocked = blocked_by(&source_changes.iter().collect::<Vec<_>>(), &failed_buckets);
            let mut kept = vec![];
            for (c, b) in source_changes.into_iter().zip(blocked) {
                if b {
                    out.failures.push(Failure::of(
                        &c,
                        format!(
                            "not planned: {} {} ({}), because its log bucket could not be planned",
                            c.action, c.resource, c.source
                        ),
                    ));
                } else {
                    kept.push(c);
                }
            }
            source_changes = kept;
        }
    }
    out.changes.extend(source_changes);
    out
}

/// What `cleanup` removes: what irprep's ledger records and the live
/// resource confirms; with `delete_buckets` (the minimum age, in days, of
/// the newest object of a bucket that may go), its buckets too (emptied
/// first). What only looks like irprep's work is listed in `left_alone`.
pub async fn plan_cleanup(
    targets: &Targets,
    layout: &Layout,
    sources: &[Source],
    delete_buckets: Option<u32>,
    concurrency: usize,
) -> Inspection {
    use futures::StreamExt;
    let mut out = Inspection::default();
    out.failures.extend(targets.failures.iter().cloned());
    let cache = Cache::default();
    let cache = &cache;
    let ledger = &layout.ledger;
    let jobs = targets
        .list
        .iter()
        .map(|t| async move { (t, sources::cleanup_target(t, sources, cache, ledger).await) });
    let mut results: Vec<_> = futures::stream::iter(jobs)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.sort_by(|a, b| (&a.0.account, &a.0.region).cmp(&(&b.0.account, &b.0.region)));
    for (t, r) in results {
        match r {
            Ok(f) => {
                out.rows.extend(f.rows);
                out.changes.extend(f.changes);
                out.left_alone.extend(f.left_alone);
            }
            Err(e) => out.failures.push(Failure {
                account: t.account.clone(),
                region: t.region.clone(),
                error: format!("{e:#}"),
            }),
        }
    }
    if let Some(min_age_days) = delete_buckets {
        for t in targets.list.iter().filter(|t| t.home) {
            match bucket::owned_buckets(t, ledger).await {
                Ok((names, foreign)) => {
                    for (name, region) in names {
                        let mut c = change(
                            t,
                            Source::CloudTrail,
                            "delete",
                            format!("s3://{name}"),
                            "irprep's log bucket and every object in it",
                            Op::DeleteBucket {
                                name: name.clone(),
                                min_age_days,
                            },
                        );
                        c.source = "bucket".into();
                        c.region = region;
                        out.changes.push(c);
                    }
                    out.left_alone.extend(foreign);
                }
                Err(e) => out.failures.push(Failure {
                    account: t.account.clone(),
                    region: t.region.clone(),
                    error: format!("{e:#}"),
                }),
            }
        }
    }
    out
}

/// What an apply did: the changes that failed (or were not tried), and what
/// the ledger must now record.
#[derive(Debug, Default)]
pub struct Applied {
    pub failures: Vec<Failure>,
    pub records: Vec<ledger::Record>,
}

/// Apply changes: every bucket's changes first (buckets in parallel, each
/// bucket's in order), then each account × region's changes in order, the
/// account × regions in parallel (`concurrency` at a time). A failing change
/// is reported and the others still run, except those that write to a
/// bucket whose own changes failed: they are not tried.
pub async fn apply(
    targets: &Targets,
    changes: &[Change],
    installation: &str,
    concurrency: usize,
) -> Applied {
    use futures::StreamExt;
    let mut buckets: BTreeMap<String, Vec<&Change>> = BTreeMap::new();
    let mut rest: Vec<&Change> = vec![];
    for c in changes {
        match &c.op {
            Op::Bucket(b) => buckets.entry(b.name().to_string()).or_default().push(c),
            _ => rest.push(c),
        }
    }
    let mut done = Applied::default();
    let mut failed_buckets = vec![];
    for (name, (f, r)) in futures::stream::iter(
        buckets
            .into_iter()
            .map(|(name, g)| async move { (name, run_group(targets, g, installation).await) }),
    )
    .buffer_unordered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await
    {
        if !f.is_empty() {
            failed_buckets.push(name);
        }
        done.failures.extend(f);
        done.records.extend(r);
    }
    // What depends on a bucket whose own changes failed is not tried.
    let blocked = blocked_by(&rest, &failed_buckets);
    let mut groups: BTreeMap<(String, String), Vec<&Change>> = BTreeMap::new();
    for (c, b) in rest.into_iter().zip(blocked) {
        if b {
            done.failures.push(Failure::of(
                c,
                format!(
                    "{} {}: not tried, because its log bucket's changes failed",
                    c.action, c.resource
                ),
            ));
        } else {
            groups
                .entry((c.account.clone(), c.region.clone()))
                .or_default()
                .push(c);
        }
    }
    for (f, r) in futures::stream::iter(
        groups
            .into_values()
            .map(|g| run_group(targets, g, installation)),
    )
    .buffer_unordered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await
    {
        done.failures.extend(f);
        done.records.extend(r);
    }
    done
}

/// One group of changes, in order.
async fn run_group(
    targets: &Targets,
    group: Vec<&Change>,
    installation: &str,
) -> (Vec<Failure>, Vec<ledger::Record>) {
    let mut failures = vec![];
    let mut records = vec![];
    let mut resolver_ids: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for c in group {
        let Some(conf) = targets.conf_for(&c.account, &c.region) else {
            failures.push(Failure::of(c, "no credentials for this account".into()));
            continue;
        };
        // Records are kept even when the change fails half-way (a bucket
        // created but not tagged is still irprep's).
        if let Err(e) =
            sources::apply_op(&conf, c, installation, &mut resolver_ids, &mut records).await
        {
            failures.push(Failure::of(
                c,
                format!("{} {}: {e:#}", c.action, c.resource),
            ));
        }
    }
    (failures, records)
}

pub(crate) fn change(
    t: &Target,
    source: Source,
    action: &str,
    resource: impl Into<String>,
    detail: impl Into<String>,
    op: Op,
) -> Change {
    Change {
        account: t.account.clone(),
        region: t.region.clone(),
        source: source.name().into(),
        action: action.into(),
        resource: resource.into(),
        detail: detail.into(),
        op,
    }
}

pub(crate) fn row(
    t: &Target,
    source: Source,
    state: State,
    reason: impl Into<String>,
) -> StatusRow {
    StatusRow {
        account: t.account.clone(),
        region: t.region.clone(),
        source,
        state,
        reason: reason.into(),
    }
}

/// A config for one account's credentials in one region.
pub fn regional(conf: &SdkConfig, region: &str) -> SdkConfig {
    conf.to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review finding 21e: a delegated administrator's organization trail
    /// has the management account's ARN. When its bucket cannot be set up,
    /// the trail is not created, and its StartLogging must not be tried
    /// either.
    #[test]
    fn a_trail_whose_bucket_failed_is_not_started_whoever_owns_its_arn() {
        let change = |op: Op| Change {
            account: "222233334444".into(),
            region: "us-east-1".into(),
            source: "cloudtrail".into(),
            action: "create".into(),
            resource: "irprep-trail".into(),
            detail: String::new(),
            op,
        };
        let create = change(Op::CreateTrail {
            name: "irprep-trail".into(),
            bucket: "central".into(),
            org: true,
            kms_key: None,
        });
        // The ARN the delegated administrator's plan gives the trail.
        let start = change(Op::StartLogging {
            trail_arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/irprep-trail".into(),
        });
        let other = change(Op::StartLogging {
            trail_arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/their-trail".into(),
        });
        let blocked = blocked_by(&[&create, &start, &other], &["central".into()]);
        assert_eq!(blocked, [true, true, false]);
        assert_eq!(
            blocked_by(&[&create, &start], &["elsewhere".into()]),
            [false, false]
        );
    }

    /// Review finding 1: the default central bucket is the home region's
    /// regional bucket too. Its roles used to come from the first change
    /// that needed it, in (account, region) order, so a flow log in
    /// eu-west-1 made the us-east-1 bucket lose its S3 access and load
    /// balancer statements.
    #[test]
    fn the_central_bucket_keeps_its_regional_roles() {
        let all = [
            Source::CloudTrail,
            Source::VpcFlow,
            Source::S3Access,
            Source::Elb,
            Source::Waf,
        ];
        let in_run =
            |a: &str, r: &str| a == "111122223333" && (r == "us-east-1" || r == "eu-west-1");
        let central = Layout::regional_bucket("111122223333", "us-east-1");
        let r = bucket_roles(&central, &central, in_run, &all, false);
        assert!(
            r.cloudtrail && r.delivery && r.s3_access && r.elb && !r.waf,
            "{r:?}"
        );
        let eu = Layout::regional_bucket("111122223333", "eu-west-1");
        let r = bucket_roles(&eu, &central, in_run, &all, false);
        assert!(
            !r.cloudtrail && !r.delivery && r.s3_access && r.elb,
            "{r:?}"
        );
        let waf = Layout::waf_bucket("111122223333", "eu-west-1");
        assert!(bucket_roles(&waf, &central, in_run, &all, false).waf);
        // A user's --bucket as the central one: no regional role.
        let r = bucket_roles("their-central", "their-central", in_run, &all, false);
        assert!(
            r.cloudtrail && r.delivery && !r.s3_access && !r.elb,
            "{r:?}"
        );
        // A name of a place outside the run: nothing regional.
        let other = Layout::regional_bucket("111122223333", "ap-south-1");
        assert!(!bucket_roles(&other, &central, in_run, &all, false).s3_access);
    }
}
