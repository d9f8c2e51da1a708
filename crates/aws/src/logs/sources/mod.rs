//! Each log source: how its coverage of one account × region is judged, what
//! `enable` changes, what `cleanup` removes, and how a change is applied.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;

use serde_json::{json, Value};

use super::bucket::{self, Roles};
use super::ledger::{Entry, Kind, Ledger, Record};
use super::{
    change, err, regional, row, Cache, Change, Delivery, DeliveryRow, EnableOptions, Layout,
    LeftAlone, Op, ResolverConfig, Source, State, StatusRow, Target, EKS_TAG, TAG_KEY, TRAIL_NAME,
};

mod cloudtrail;
mod eks;
mod elb;
mod flow_logs;
mod guardduty;
mod resolver;
mod s3_access;
pub(crate) mod waf;

pub use guardduty::guardduty_key_policy;

/// The IAM actions one source's work calls (its status, its enable, its
/// cleanup); `iam` makes the commands' policies from them.
pub struct Actions {
    pub status: &'static [&'static str],
    pub enable: &'static [&'static str],
    pub cleanup: &'static [&'static str],
}

/// Every source's actions.
pub const ACTIONS: [&Actions; 8] = [
    &cloudtrail::ACTIONS,
    &flow_logs::ACTIONS,
    &resolver::ACTIONS,
    &s3_access::ACTIONS,
    &elb::ACTIONS,
    &waf::ACTIONS,
    &eks::ACTIONS,
    &guardduty::ACTIONS,
];

/// A bucket some change of a target writes to.
#[derive(Debug, Clone)]
pub struct BucketNeed {
    pub account: String,
    pub region: String,
    pub name: String,
    pub roles: Roles,
    pub source: Source,
}

/// What inspecting one target found.
#[derive(Debug, Default)]
pub struct Found {
    pub rows: Vec<StatusRow>,
    pub changes: Vec<Change>,
    pub buckets: Vec<BucketNeed>,
    /// Looks like irprep's work, is not in its ledger: reported, untouched.
    pub left_alone: Vec<LeftAlone>,
}

impl Found {
    fn leave(&mut self, t: &Target, source: Source, resource: impl Into<String>, reason: &str) {
        self.left_alone.push(LeftAlone {
            account: t.account.clone(),
            region: t.region.clone(),
            source: source.name().into(),
            resource: resource.into(),
            reason: reason.into(),
        });
    }
}

fn need(t: &Target, name: &str, roles: Roles, source: Source) -> BucketNeed {
    BucketNeed {
        account: t.account.clone(),
        region: t.region.clone(),
        name: name.into(),
        roles,
        source,
    }
}

/// Inspect one account × region: a row per source, and with `enable` the
/// changes that would close the gaps.
pub async fn inspect_target(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    sources: &[Source],
) -> Result<Found> {
    let mut f = Found::default();
    for &s in sources {
        let r = match s {
            Source::CloudTrail => cloudtrail::inspect(t, layout, enable, &mut f).await,
            Source::VpcFlow => flow_logs::inspect(t, layout, enable, &mut f).await,
            Source::Dns => resolver::inspect(t, layout, enable, &mut f).await,
            Source::S3Access => s3_access::inspect(t, layout, enable, &mut f).await,
            Source::Elb => elb::inspect(t, enable, &mut f).await,
            Source::Waf => waf::inspect(t, enable, &mut f).await,
            Source::Eks => eks::inspect(t, enable, &mut f).await,
            Source::GuardDuty => guardduty::inspect(t, enable, &mut f).await,
        };
        if let Err(e) = r {
            f.rows.push(row(t, s, State::Error, format!("{e:#}")));
        }
    }
    Ok(f)
}

/// On when nothing is missing, off when everything is, partial between.
fn coverage(missing: usize, total: usize) -> State {
    match missing {
        0 => State::On,
        m if m == total => State::Off,
        _ => State::Partial,
    }
}

/// The value of irprep's tag among `tags`, if it is there (whoever set it).
fn irprep_tag<'a>(mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> Option<&'a str> {
    tags.find(|(k, _)| *k == TAG_KEY).map(|(_, v)| v)
}

/// Why a resource that looks like irprep's is not treated as irprep's, or
/// None when both the ledger and the tag say it is.
fn not_ours(recorded: bool, tag: Option<&str>, ledger: &Ledger) -> Option<&'static str> {
    match (recorded, tag == Some(ledger.installation.as_str())) {
        (true, true) => None,
        (true, false) => Some(
            "recorded in irprep's ledger, but its irprep:managed tag is missing or names another installation",
        ),
        (false, _) => Some("tagged irprep:managed, but irprep's ledger does not record it"),
    }
}

/// Flow logs and Resolver query logs go to the bucket's root: AWS adds
/// `AWSLogs/<account>/vpcflowlogs|vpcdnsquerylogs/…`, beside CloudTrail's
/// `AWSLogs/<account>/CloudTrail/…`, so one `s3://bucket/AWSLogs/` holds
/// every table's layout.
fn central_dest(layout: &Layout, partition: &str) -> String {
    format!("arn:{partition}:s3:::{}", layout.central_bucket)
}

/// What irprep made in one account × region, to remove.
pub async fn cleanup_target(
    t: &Target,
    sources: &[Source],
    cache: &Cache,
    ledger: &Ledger,
) -> Result<Found> {
    let mut f = Found::default();
    for &s in sources {
        let r = match s {
            Source::CloudTrail => cloudtrail::cleanup(t, cache, ledger, &mut f).await,
            Source::VpcFlow => flow_logs::cleanup(t, ledger, &mut f).await,
            Source::Dns => resolver::cleanup(t, ledger, &mut f).await,
            Source::S3Access => s3_access::cleanup(t, cache, ledger, &mut f).await,
            Source::Elb => elb::cleanup(t, ledger, &mut f).await,
            Source::Waf => waf::cleanup(t, ledger, &mut f).await,
            Source::Eks => eks::cleanup(t, ledger, &mut f).await,
            Source::GuardDuty => guardduty::cleanup(t, ledger, &mut f).await,
        };
        if let Err(e) = r {
            f.rows.push(row(t, s, State::Error, format!("{e:#}")));
        }
    }
    Ok(f)
}

fn ec2_tag_spec(
    rt: aws_sdk_ec2::types::ResourceType,
    installation: &str,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(rt)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(TAG_KEY)
                .value(installation)
                .build(),
        )
        .build()
}

/// The items EC2 reports as not done, as `id: message` lines.
fn unsuccessful(items: &[aws_sdk_ec2::types::UnsuccessfulItem]) -> Vec<String> {
    items
        .iter()
        .map(|u| {
            format!(
                "{}: {}",
                u.resource_id().unwrap_or("?"),
                u.error().and_then(|e| e.message()).unwrap_or("failed")
            )
        })
        .collect()
}
/// Make one change, tagging what it creates with `installation`; what it
/// creates or removes goes into `records` (for the ledger) as soon as it is
/// done.
pub async fn apply_op(
    conf: &SdkConfig,
    c: &Change,
    installation: &str,
    resolver_ids: &mut BTreeMap<(String, String, String), String>,
    records: &mut Vec<Record>,
) -> Result<()> {
    let entry = |kind: Kind, id: &str| Entry::new(&c.account, &c.region, kind, id);
    match &c.op {
        Op::Bucket(b) => bucket::apply(conf, b, &c.account, installation, records).await?,
        Op::DeleteBucket { name, min_age_days } => {
            bucket::delete_bucket(conf, name, &c.account, *min_age_days).await?;
            records.push(Record::Removed(entry(Kind::Bucket, name)));
        }
        Op::CreateTrail { .. }
        | Op::TrailToOrganization { .. }
        | Op::EnableTrustedAccess { .. }
        | Op::DisableTrustedAccess { .. }
        | Op::StartLogging { .. }
        | Op::DeleteTrail { .. } => cloudtrail::apply(conf, c, installation, records).await?,
        Op::CreateFlowLogs { .. } | Op::DeleteFlowLogs { .. } => {
            flow_logs::apply(conf, c, installation, records).await?
        }
        Op::CreateResolverConfig { .. }
        | Op::AssociateResolver { .. }
        | Op::DisassociateResolver { .. }
        | Op::DeleteResolverConfig { .. } => {
            resolver::apply(conf, c, installation, resolver_ids, records).await?
        }
        Op::PutBucketLogging { .. } | Op::DisableBucketLogging { .. } => {
            s3_access::apply(conf, c, records).await?
        }
        Op::ElbV2Logs { .. }
        | Op::ElbV2LogsOff { .. }
        | Op::ElbClassicLogs { .. }
        | Op::ElbClassicLogsOff { .. } => elb::apply(conf, c, records).await?,
        Op::WafLogging { .. } | Op::DeleteWafLogging { .. } => waf::apply(conf, c, records).await?,
        Op::EksLogging { .. } => eks::apply(conf, c, records).await?,
        Op::CreateDetector
        | Op::EnableDetector { .. }
        | Op::GuardDutyExport { .. }
        | Op::DeletePublishingDestination { .. }
        | Op::ScheduleKeyDeletion { .. }
        | Op::DeleteDetector { .. } => guardduty::apply(conf, c, installation, records).await?,
    }
    Ok(())
}

/// Why delivery into irprep's bucket that the ledger does not record is
/// left on.
const LOGS_NOT_RECORDED: &str =
    "delivers into irprep's bucket, but irprep's ledger does not record turning it on";

/// A target's VPCs: its own, and those other accounts share with it
/// through RAM. A participant can neither see nor make flow logs of a
/// shared VPC, nor associate it with its own Resolver query-log config:
/// those logs are its owner's to turn on.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
struct Vpcs {
    own: Vec<String>,
    /// `vpc-id (owner account)`.
    shared: Vec<String>,
}

impl Vpcs {
    fn of(vpcs: &[aws_sdk_ec2::types::Vpc], account: &str) -> Vpcs {
        let mut out = Vpcs::default();
        for v in vpcs {
            let Some(id) = v.vpc_id() else { continue };
            match v.owner_id() {
                Some(o) if o != account => out.shared.push(format!("{id} (owner {o})")),
                _ => out.own.push(id.to_string()),
            }
        }
        out.own.sort();
        out.shared.sort();
        out
    }

    /// What to add to a row's reason about the shared ones.
    fn shared_note(&self) -> String {
        match self.shared.len() {
            0 => String::new(),
            n => format!(
                "; {n} VPC(s) shared with this account through RAM left to their owners: {}",
                self.shared.join(", ")
            ),
        }
    }
}

/// Check that one target's logs arrive, source by source. `sent`: when the
/// target's marked CloudTrail call went out (kept across `--wait` rounds).
pub async fn verify_target(
    t: &Target,
    layout: &Layout,
    sources: &[Source],
    marker: &str,
    sent: &mut Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<DeliveryRow> {
    let mut out = vec![];
    for &s in sources {
        let r = match s {
            Source::CloudTrail => cloudtrail::verify(t, layout, marker, sent).await,
            Source::VpcFlow => flow_logs::verify(t).await,
            Source::Dns => resolver::verify(t).await,
            Source::S3Access => s3_access::verify(t, layout).await,
            Source::Elb => elb::verify(t).await,
            Source::Waf => waf::verify(t).await,
            Source::Eks | Source::GuardDuty => Ok((
                Delivery::NotChecked,
                "irprep does not check this source's delivery (it is not written to S3 by enable)"
                    .into(),
            )),
        };
        let (state, detail) =
            r.unwrap_or_else(|e| (Delivery::NotChecked, format!("could not check: {e:#}")));
        out.push(DeliveryRow {
            account: t.account.clone(),
            region: t.region.clone(),
            source: s,
            state,
            detail,
        });
    }
    out
}

/// Where one configured source's files land: a bucket, the key prefix of
/// its layout, and what writes there (for the detail).
struct Landing {
    bucket: String,
    prefix: String,
    what: String,
}

impl Landing {
    fn new(bucket: impl Into<String>, prefix: impl Into<String>, what: impl Into<String>) -> Self {
        Landing {
            bucket: bucket.into(),
            prefix: prefix.into(),
            what: what.into(),
        }
    }
}

/// A destination's key prefix as the services write it: empty, or ending
/// in exactly one `/`.
fn key_prefix(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// `arn:aws:s3:::bucket[/prefix]` as (bucket, key prefix).
fn s3_arn(arn: &str) -> Option<(String, String)> {
    let rest = arn.split_once(":s3:::")?.1;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    Some((bucket.to_string(), key_prefix(prefix)))
}

/// Delivering when every landing holds a file (one listing of one key
/// each; landings that share a bucket and prefix are listed once); else
/// waiting, naming those with nothing yet. No landing: not on (`none`).
/// `hint` says when the service writes its first file.
async fn landed(
    t: &Target,
    mut landings: Vec<Landing>,
    none: &str,
    hint: &str,
) -> Result<(Delivery, String)> {
    if landings.is_empty() {
        return Ok((Delivery::NotOn, none.to_string()));
    }
    landings.sort_by(|a, b| (&a.bucket, &a.prefix, &a.what).cmp(&(&b.bucket, &b.prefix, &b.what)));
    let mut groups: Vec<(String, String, Vec<String>)> = vec![];
    for l in landings {
        match groups.last_mut() {
            Some((b, p, w)) if *b == l.bucket && *p == l.prefix => w.push(l.what),
            _ => groups.push((l.bucket, l.prefix, vec![l.what])),
        }
    }
    let mut found = vec![];
    let mut missing = vec![];
    for (bucket, prefix, what) in &groups {
        let c =
            crate::s3::client_for_bucket(&t.conf, t.conf.endpoint_url().is_some(), bucket).await;
        match first_object(&c, bucket, prefix).await? {
            Some(k) => found.push(format!("s3://{bucket}/{k}")),
            None => missing.push(format!("{} (s3://{bucket}/{prefix})", what.join(", "))),
        }
    }
    let n = groups.len();
    if missing.is_empty() {
        let more = if n > 1 {
            format!(" and {} more", n - 1)
        } else {
            String::new()
        };
        return Ok((Delivery::Delivering, format!("{}{more}", found[0])));
    }
    let shown: Vec<&String> = missing.iter().take(5).collect();
    let rest = if missing.len() > 5 {
        format!(" and {} more", missing.len() - 5)
    } else {
        String::new()
    };
    Ok((
        Delivery::Waiting,
        format!(
            "{} of {n} delivering; nothing yet for {}{rest}{hint}",
            found.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    ))
}

/// The first object under `prefix`, if any (one listing of one key).
async fn first_object(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Option<String>> {
    let p = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| bucket::s3err(&format!("s3:ListBucket s3://{bucket}/{prefix}"), e))?;
    Ok(p.contents().first().and_then(|o| o.key()).map(String::from))
}

/// The key of an object under `prefix`, written at or after `since`, whose
/// content (gunzipped) holds `needle`. At most the 200 newest objects are
/// read, each up to the reader's size cap.
async fn find_in_objects(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    since: chrono::DateTime<chrono::Utc>,
    needle: &[u8],
) -> Result<Option<String>> {
    let mut keys = vec![];
    let mut pages = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(p) = pages.next().await {
        let p =
            p.map_err(|e| bucket::s3err(&format!("s3:ListBucket s3://{bucket}/{prefix}"), e))?;
        for o in p.contents() {
            let recent = o
                .last_modified()
                .map(|m| m.secs() >= since.timestamp())
                .unwrap_or(true);
            if let (Some(k), true) = (o.key(), recent) {
                keys.push((
                    o.last_modified().map(|m| m.secs()).unwrap_or(0),
                    k.to_string(),
                ));
            }
        }
    }
    keys.sort();
    for (_, key) in keys.into_iter().rev().take(200) {
        let obj = c
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| bucket::s3err(&format!("s3:GetObject s3://{bucket}/{key}"), e))?;
        if obj.content_length().unwrap_or(0) > irprep_core::decompress::MAX_FILE_BYTES as i64 {
            continue;
        }
        let raw = obj
            .body
            .collect()
            .await
            .map_err(|e| anyhow!("reading s3://{bucket}/{key}: {e}"))?
            .into_bytes();
        let Ok(text) = irprep_core::decompress::maybe_gunzip(&raw) else {
            continue;
        };
        if !needle.is_empty() && text.windows(needle.len()).any(|w| w == needle) {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// The target's own VPCs and the note on those shared with it, or None
/// when it has none of its own (its row is then pushed, for `source`).
async fn own_vpcs(
    t: &Target,
    layout: &Layout,
    source: Source,
    f: &mut Found,
) -> Result<Option<(Vec<String>, String)>> {
    let all = vpcs(t, &layout.cache).await?;
    let shared = all.shared_note();
    if all.own.is_empty() {
        let why = if shared.is_empty() {
            "no VPCs".to_string()
        } else {
            format!("no VPCs of its own{shared}")
        };
        f.rows.push(row(t, source, State::None, why));
        return Ok(None);
    }
    Ok(Some((all.own, shared)))
}

/// The VPCs of a target (cached: flow logs and Resolver both ask).
async fn vpcs(t: &Target, cache: &Cache) -> Result<Vpcs> {
    let v = cache
        .get_or_try(&format!("vpcs:{}:{}", t.account, t.region), || async {
            Ok(serde_json::to_value(list_vpcs(t).await?)?)
        })
        .await?;
    Ok(serde_json::from_value(v)?)
}

async fn list_vpcs(t: &Target) -> Result<Vpcs> {
    let ec2 = aws_sdk_ec2::Client::new(&t.conf);
    let mut all = vec![];
    let mut next = None;
    loop {
        let p = ec2
            .describe_vpcs()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("ec2:DescribeVpcs", e))?;
        all.extend(p.vpcs().iter().cloned());
        next = p.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    Ok(Vpcs::of(&all, &t.account))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Destination ARNs and prefixes as services write under them: a
    /// prefix with or without slashes gives one `prefix/` before AWSLogs/.
    #[test]
    fn destinations_become_the_prefixes_services_write_under() {
        assert_eq!(
            s3_arn("arn:aws:s3:::aws-waf-logs-x"),
            Some(("aws-waf-logs-x".into(), "".into()))
        );
        assert_eq!(
            s3_arn("arn:aws-us-gov:s3:::b/team/logs/"),
            Some(("b".into(), "team/logs/".into()))
        );
        assert_eq!(s3_arn("arn:aws:logs:us-east-1:1:log-group:g"), None);
        for (p, want) in [("", ""), ("/", ""), ("elb", "elb/"), ("/elb/", "elb/")] {
            assert_eq!(key_prefix(p), want, "{p:?}");
        }
    }

    /// Review finding 11: a VPC another account shares through RAM is not
    /// this account's to log.
    #[test]
    fn shared_vpcs_are_left_to_their_owners() {
        let vpc = |id: &str, owner: &str| {
            aws_sdk_ec2::types::Vpc::builder()
                .vpc_id(id)
                .owner_id(owner)
                .build()
        };
        let v = Vpcs::of(
            &[
                vpc("vpc-b", "111122223333"),
                vpc("vpc-shared", "999988887777"),
                vpc("vpc-a", "111122223333"),
            ],
            "111122223333",
        );
        assert_eq!(v.own, vec!["vpc-a", "vpc-b"]);
        assert_eq!(v.shared, vec!["vpc-shared (owner 999988887777)"]);
        assert!(v.shared_note().contains("vpc-shared (owner 999988887777)"));
    }
}
