//! `irprep logs`: the security log sources of an account or an Organization,
//! judged, planned, enabled and removed.
//!
//! Every command starts with the same read-only inspection of each account ×
//! region (bounded concurrency; a failing account or region is reported and
//! the rest goes on). `status` prints what it found; `enable` turns the gaps
//! into a plan of changes, prints it, and applies it only when asked, so a
//! second `enable` plans nothing; `cleanup` plans the removal of exactly what
//! irprep made, found by its tag (`irprep:managed=true`) or by its log
//! buckets, never anything else.

pub mod bucket;
pub mod iam;
pub mod org;
pub mod sources;

use std::collections::BTreeMap;

use anyhow::Result;
use aws_config::SdkConfig;
use serde::Serialize;

pub use org::{Target, Targets};

/// The tag on everything irprep creates.
pub const TAG_KEY: &str = "irprep:managed";
pub const TAG_VALUE: &str = "true";
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
    CreateFlowLogs {
        vpcs: Vec<String>,
        destination: String,
        log_format: String,
        parquet: bool,
        hive: bool,
        hourly: bool,
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
    // Cleanup.
    /// By name, in the trail's home region (the API takes a name or an ARN).
    DeleteTrail {
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
    DeleteBucket {
        name: String,
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
    pub flow_parquet: bool,
    pub flow_hive: bool,
    pub flow_hourly: bool,
}

impl Default for EnableOptions {
    fn default() -> Self {
        EnableOptions {
            sources: Source::ALL.to_vec(),
            bucket: None,
            kms_key: None,
            retention_days: 400,
            flow_parquet: false,
            flow_hive: false,
            flow_hourly: false,
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

/// The result of inspecting every target.
#[derive(Debug, Default)]
pub struct Inspection {
    pub rows: Vec<StatusRow>,
    pub changes: Vec<Change>,
    pub failures: Vec<Failure>,
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
    pub cache: std::sync::Arc<Cache>,
}

impl Layout {
    pub fn regional_bucket(account: &str, region: &str) -> String {
        format!("irprep-logs-{account}-{region}")
    }
    pub fn waf_bucket(account: &str, region: &str) -> String {
        format!("aws-waf-logs-irprep-{account}-{region}")
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
        // A bucket is planned when some change writes to it; its policy
        // then serves every selected source it is meant for (not only the
        // ones that needed a change this time), so runs agree.
        let has = |s: Source| sources.contains(&s);
        let mut by_name: BTreeMap<String, (sources::BucketNeed, bucket::Roles)> = BTreeMap::new();
        for n in needs {
            by_name
                .entry(n.name.clone())
                .or_insert_with(|| (n.clone(), bucket::Roles::default()));
        }
        for (name, (n, r)) in by_name.iter_mut() {
            let central = *name == layout.central_bucket;
            let regional = *name == Layout::regional_bucket(&n.account, &n.region);
            r.cloudtrail = central && has(Source::CloudTrail);
            r.delivery = central && (has(Source::VpcFlow) || has(Source::Dns));
            r.s3_access = regional && has(Source::S3Access);
            r.elb = regional && has(Source::Elb);
            r.waf = *name == Layout::waf_bucket(&n.account, &n.region);
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
                continue;
            };
            let accounts = if central {
                layout.accounts.clone()
            } else {
                vec![n.account.clone()]
            };
            let owned = o.bucket.as_deref() != Some(name.as_str());
            match bucket::plan(
                &t,
                &name,
                roles,
                &accounts,
                o.kms_key.as_deref(),
                o.retention_days,
                owned,
                n.source,
            )
            .await
            {
                Ok(c) => out.changes.extend(c),
                Err(e) => out.failures.push(Failure {
                    account: t.account.clone(),
                    region: t.region.clone(),
                    error: format!("bucket {name}: {e:#}"),
                }),
            }
        }
    }
    out.changes.extend(source_changes);
    out
}

/// What `cleanup` removes: what irprep made (by tag, or pointing at its
/// buckets); with `delete_buckets`, its buckets too (emptied first).
pub async fn plan_cleanup(
    targets: &Targets,
    sources: &[Source],
    delete_buckets: bool,
    concurrency: usize,
) -> Inspection {
    use futures::StreamExt;
    let mut out = Inspection::default();
    out.failures.extend(targets.failures.iter().cloned());
    let cache = Cache::default();
    let cache = &cache;
    let jobs = targets
        .list
        .iter()
        .map(|t| async move { (t, sources::cleanup_target(t, sources, cache).await) });
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
            }
            Err(e) => out.failures.push(Failure {
                account: t.account.clone(),
                region: t.region.clone(),
                error: format!("{e:#}"),
            }),
        }
    }
    if delete_buckets {
        for t in targets.list.iter().filter(|t| t.home) {
            match bucket::owned_buckets(t).await {
                Ok(names) => {
                    for (name, region) in names {
                        let mut c = change(
                            t,
                            Source::CloudTrail,
                            "delete",
                            format!("s3://{name}"),
                            "irprep's log bucket and every object in it",
                            Op::DeleteBucket { name: name.clone() },
                        );
                        c.source = "bucket".into();
                        c.region = region;
                        out.changes.push(c);
                    }
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

/// Apply changes: every bucket's changes first (buckets in parallel, each
/// bucket's in order), then each account × region's changes in order, the
/// account × regions in parallel (`concurrency` at a time). A failing change
/// is reported and the others still run.
pub async fn apply(targets: &Targets, changes: &[Change], concurrency: usize) -> Vec<Failure> {
    use futures::StreamExt;
    let mut buckets: BTreeMap<String, Vec<&Change>> = BTreeMap::new();
    let mut per_target: BTreeMap<(String, String), Vec<&Change>> = BTreeMap::new();
    for c in changes {
        match &c.op {
            Op::Bucket(b) => buckets.entry(b.name().to_string()).or_default().push(c),
            _ => per_target
                .entry((c.account.clone(), c.region.clone()))
                .or_default()
                .push(c),
        }
    }
    let mut failures: Vec<Failure> =
        futures::stream::iter(buckets.into_values().map(|g| run_group(targets, g)))
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect();
    let rest: Vec<Failure> =
        futures::stream::iter(per_target.into_values().map(|g| run_group(targets, g)))
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect();
    failures.extend(rest);
    failures
}

/// One group of changes, in order.
async fn run_group(targets: &Targets, group: Vec<&Change>) -> Vec<Failure> {
    let mut failures = vec![];
    let mut resolver_ids: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for c in group {
        let Some(conf) = targets.conf_for(&c.account, &c.region) else {
            failures.push(Failure {
                account: c.account.clone(),
                region: c.region.clone(),
                error: "no credentials for this account".into(),
            });
            continue;
        };
        if let Err(e) = sources::apply_op(&conf, c, &mut resolver_ids).await {
            failures.push(Failure {
                account: c.account.clone(),
                region: c.region.clone(),
                error: format!("{} {}: {e:#}", c.action, c.resource),
            });
        }
    }
    failures
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
