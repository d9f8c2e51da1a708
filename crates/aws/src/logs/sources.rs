//! Each log source: how its coverage of one account × region is judged, what
//! `enable` changes, what `cleanup` removes, and how a change is applied.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;

use serde_json::{json, Value};

use super::bucket::{self, Roles};
use super::ledger::{Entry, Kind, Ledger, Record};
use super::{
    change, err, regional, row, Cache, Change, EnableOptions, Layout, LeftAlone, Op,
    ResolverConfig, Source, State, StatusRow, Target, EKS_TAG, TAG_KEY, TRAIL_NAME,
};

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
            Source::CloudTrail => cloudtrail(t, layout, enable, &mut f).await,
            Source::VpcFlow => flow_logs(t, layout, enable, &mut f).await,
            Source::Dns => resolver(t, layout, enable, &mut f).await,
            Source::S3Access => s3_access(t, layout, enable, &mut f).await,
            Source::Elb => elb(t, enable, &mut f).await,
            Source::Waf => waf(t, enable, &mut f).await,
            Source::Eks => eks(t, enable, &mut f).await,
            Source::GuardDuty => guardduty(t, enable, &mut f).await,
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

// ---------------------------------------------------------------- CloudTrail

struct TrailFacts {
    name: String,
    arn: String,
    multi_region: bool,
    org: bool,
    home_region: String,
    logging: Option<bool>,
    management: Option<&'static str>,
    /// The value of its irprep:managed tag, if any.
    tag: Option<String>,
    /// Where it delivers.
    bucket: Option<String>,
    /// `LatestDeliveryError` of its status, when it has one.
    delivery_error: Option<String>,
}

impl TrailFacts {
    fn recorded(&self, ledger: &Ledger, account: &str) -> bool {
        ledger.has(account, &self.home_region, Kind::Trail, &self.arn)
    }
}

/// How a trail's event selectors treat management events: Some("all"),
/// Some("read-only")/Some("write-only"), or None (not recorded).
fn management_events(
    out: &aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput,
) -> Option<&'static str> {
    use aws_sdk_cloudtrail::types::ReadWriteType;
    if out.event_selectors().is_empty() && out.advanced_event_selectors().is_empty() {
        // No selectors reported: the trail's default, management read+write.
        return Some("all");
    }
    let mut best: Option<&'static str> = None;
    for s in out.event_selectors() {
        if s.include_management_events() == Some(false) {
            continue;
        }
        let kind = match s.read_write_type() {
            Some(ReadWriteType::ReadOnly) => "read-only",
            Some(ReadWriteType::WriteOnly) => "write-only",
            // Read and write, but some event sources (KMS, RDS Data API)
            // left out: not every management event.
            _ if !s.exclude_management_event_sources().is_empty() => "filtered",
            _ => "all",
        };
        if kind == "all" {
            return Some("all");
        }
        best = best.or(Some(kind));
    }
    for a in out.advanced_event_selectors() {
        let fields = a.field_selectors();
        let mgmt = fields
            .iter()
            .any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"));
        if !mgmt {
            continue;
        }
        // Any condition beyond the category (an event source or name left
        // out, a principal excluded) filters the management events.
        let filtered = fields
            .iter()
            .any(|f| f.field() != "eventCategory" && f.field() != "readOnly");
        match fields.iter().find(|f| f.field() == "readOnly") {
            None if !filtered => return Some("all"),
            None => best = best.or(Some("filtered")),
            Some(f) => {
                best = Some(if f.equals().iter().any(|v| v == "true") {
                    "read-only"
                } else {
                    "write-only"
                })
            }
        }
    }
    best
}

async fn trails(t: &Target, cache: &Cache) -> Result<Vec<TrailFacts>> {
    let ct = aws_sdk_cloudtrail::Client::new(&t.conf);
    let d = ct
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| err("cloudtrail:DescribeTrails", e))?;
    let mut out = vec![];
    for tr in d.trail_list() {
        let (Some(name), Some(arn)) = (tr.name(), tr.trail_arn()) else {
            continue;
        };
        let home = tr.home_region().unwrap_or(&t.region).to_string();
        // A multi-region trail shows in every region: ask about it once.
        let facts = cache
            .get_or_try(&format!("trail:{arn}"), || async {
                let hc = aws_sdk_cloudtrail::Client::new(&regional(&t.conf, &home));
                let status = hc.get_trail_status().name(arn).send().await.ok();
                let logging = status.as_ref().and_then(|s| s.is_logging());
                // A trail that logs but cannot write its files is not on.
                let delivery_error = status
                    .as_ref()
                    .and_then(|s| s.latest_delivery_error())
                    .filter(|e| !e.is_empty())
                    .map(String::from);
                let management = match hc.get_event_selectors().trail_name(arn).send().await {
                    Ok(o) => management_events(&o),
                    Err(_) => None,
                };
                let tag = match hc.list_tags().resource_id_list(arn).send().await {
                    Ok(o) => o.resource_tag_list().iter().find_map(|r| {
                        irprep_tag(
                            r.tags_list()
                                .iter()
                                .map(|t| (t.key(), t.value().unwrap_or(""))),
                        )
                        .map(String::from)
                    }),
                    Err(_) => None,
                };
                Ok(serde_json::json!({"logging": logging, "management": management, "tag": tag, "delivery_error": delivery_error}))
            })
            .await?;
        let management = match facts["management"].as_str() {
            Some("all") => Some("all"),
            Some("read-only") => Some("read-only"),
            Some("write-only") => Some("write-only"),
            Some("filtered") => Some("filtered"),
            _ => None,
        };
        out.push(TrailFacts {
            name: name.into(),
            arn: arn.into(),
            multi_region: tr.is_multi_region_trail().unwrap_or(false),
            org: tr.is_organization_trail().unwrap_or(false),
            home_region: home,
            logging: facts["logging"].as_bool(),
            management,
            tag: facts["tag"].as_str().map(String::from),
            bucket: tr.s3_bucket_name().map(String::from),
            delivery_error: facts["delivery_error"].as_str().map(String::from),
        });
    }
    Ok(out)
}

/// Where a trail that counts as on delivers, when that is not provably the
/// estate's: a bucket outside this account that is not irprep's central one.
/// S3 does not tell an account who owns a bucket it cannot read, so a log
/// archive of the Organization and an intruder's bucket look the same from
/// here; the status says so instead of vouching for it.
async fn destination_note(t: &Target, layout: &Layout, tr: &TrailFacts) -> String {
    let Some(b) = tr.bucket.as_deref() else {
        return String::new();
    };
    if b == layout.central_bucket {
        return String::new();
    }
    let key = format!("owner:{}:{b}", t.account);
    let conf = t.conf.clone();
    let (bucket, account) = (b.to_string(), t.account.clone());
    let owned = layout
        .cache
        .get_or_try(&key, || async move {
            Ok(
                match super::bucket::ownership(&conf, &bucket, &account).await {
                    Ok(super::bucket::Ownership::Ours) => serde_json::json!("ours"),
                    Ok(_) => serde_json::json!("other"),
                    Err(_) => serde_json::json!("unknown"),
                },
            )
        })
        .await
        .ok();
    match owned.as_ref().and_then(|v| v.as_str()) {
        Some("ours") => String::new(),
        Some("other") => format!(
            "; delivers to s3://{b}, a bucket outside this account whose owner S3 does not reveal: confirm it is your log archive"
        ),
        _ => format!("; delivers to s3://{b} (its owner could not be checked)"),
    }
}

async fn cloudtrail(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let all = trails(t, &layout.cache).await?;
    let covers_here = |tr: &TrailFacts| tr.multi_region || tr.home_region == t.region;
    // A trail counts when it logs, records management events read and write,
    // and covers this region (an Organization trail counts for members).
    let good = all.iter().find(|tr| {
        covers_here(tr)
            && tr.management == Some("all")
            && tr.logging == Some(true)
            && tr.delivery_error.is_none()
    });
    // An Organization trail whose status this account cannot read: neither
    // on nor off, and never a reason to plan a second trail.
    let org_unknown = all
        .iter()
        .find(|tr| covers_here(tr) && tr.org && tr.logging.is_none());
    let state;
    let mut reason: String;
    if let Some(g) = good {
        state = State::On;
        reason = format!(
            "{}trail {}{}{}",
            if g.org { "organization " } else { "" },
            g.name,
            if g.multi_region {
                " (multi-region)"
            } else {
                ""
            },
            destination_note(t, layout, g).await
        );
    } else if let Some(f) = all
        .iter()
        .find(|tr| covers_here(tr) && tr.logging == Some(true) && tr.delivery_error.is_some())
    {
        state = State::Partial;
        reason = format!(
            "trail {} logs, but its last delivery to s3://{} failed: {}",
            f.name,
            f.bucket.as_deref().unwrap_or("?"),
            f.delivery_error.as_deref().unwrap_or("")
        );
    } else if let Some(o) = org_unknown {
        state = State::Partial;
        reason = format!(
            "organization trail {}: status unknown from this account (run irprep from the management account, or with --org, to judge it)",
            o.name
        );
    } else if let Some(p) = all
        .iter()
        .find(|tr| covers_here(tr) && tr.logging == Some(true) && tr.management.is_some())
    {
        state = State::Partial;
        reason = match p.management {
            Some("filtered") => format!(
                "trail {} leaves some management events out (excluded event sources or selector conditions)",
                p.name
            ),
            m => format!(
                "trail {} records {} management events only",
                p.name,
                m.unwrap_or("no")
            ),
        };
    } else if let Some(s) = all
        .iter()
        .find(|tr| covers_here(tr) && tr.logging == Some(false))
    {
        state = State::Off;
        reason = format!("trail {} stopped", s.name);
    } else if let Some(n) = all
        .iter()
        .find(|tr| covers_here(tr) && tr.management.is_none())
    {
        state = State::Off;
        reason = format!("trail {} records no management events", n.name);
    } else if !all.is_empty() {
        state = State::Off;
        reason = format!(
            "no trail covers {} ({} single-region trail(s) elsewhere)",
            t.region,
            all.len()
        );
    } else {
        state = State::Off;
        reason = "no trail".into();
    }
    // Without a trail the account still keeps 90 days of management events.
    if state == State::Off && reason.starts_with("no trail") {
        reason.push_str(
            "; the last 90 days of management events: `irprep logs collect --event-history`",
        );
    }
    f.rows.push(row(t, Source::CloudTrail, state, reason));
    let Some(o) = enable else { return Ok(()) };
    // One multi-region trail per account, planned in its home region; with
    // --org one Organization trail in the management account covers all.
    let org = layout.org_id.is_some();
    if !t.home || (org && !t.management) {
        return Ok(());
    }
    if let Some(ot) = org_unknown.filter(|_| !org) {
        f.rows.push(row(
            t,
            Source::CloudTrail,
            State::Error,
            format!(
                "organization trail {} covers this account but its status is unknown from here: no second trail is planned; judge it from the management account",
                ot.name
            ),
        ));
        return Ok(());
    }
    let good_multi = all.iter().any(|tr| {
        tr.multi_region
            && tr.management == Some("all")
            && tr.logging == Some(true)
            && tr.delivery_error.is_none()
            && (!org || tr.org)
    });
    if good_multi {
        return Ok(());
    }
    // irprep's trail: recorded in its ledger, tagged with its installation,
    // and delivering to the central bucket. A trail that only looks like it
    // (its name or tag) is never started, converted or replaced.
    let here: Vec<&TrailFacts> = all.iter().filter(|tr| tr.home_region == t.region).collect();
    let ledger = &layout.ledger;
    let central = Some(layout.central_bucket.as_str());
    let mine = here.iter().find(|tr| {
        tr.recorded(ledger, &t.account)
            && tr.tag.as_deref() == Some(ledger.installation.as_str())
            && tr.bucket.as_deref() == central
    });
    if mine.is_none() {
        if let Some(fake) = here
            .iter()
            .find(|tr| tr.name == TRAIL_NAME || tr.tag.is_some() || tr.recorded(ledger, &t.account))
        {
            let why = if fake.recorded(ledger, &t.account) && fake.bucket.as_deref() != central {
                format!(
                    "delivers to s3://{}, not to the central bucket s3://{}",
                    fake.bucket.as_deref().unwrap_or("?"),
                    layout.central_bucket
                )
            } else {
                not_ours(
                    fake.recorded(ledger, &t.account),
                    fake.tag.as_deref(),
                    ledger,
                )
                .unwrap_or("not irprep's")
                .to_string()
            };
            f.leave(t, Source::CloudTrail, &fake.arn, &why);
            if fake.name == TRAIL_NAME {
                f.rows.push(row(
                    t,
                    Source::CloudTrail,
                    State::Error,
                    format!(
                        "a trail named {TRAIL_NAME} exists that irprep did not make ({why}; it delivers to s3://{}): \
                         not started, converted or replaced; remove or rename it to let irprep create its own",
                        fake.bucket.as_deref().unwrap_or("?")
                    ),
                ));
                return Ok(());
            }
        }
    }
    if let Some(mine) = mine {
        if org && !mine.org {
            f.changes.push(change(
                t,
                Source::CloudTrail,
                "update",
                &mine.arn,
                format!(
                    "organization multi-region trail: irprep's trail (to s3://{}) becomes the Organization's",
                    layout.central_bucket
                ),
                Op::TrailToOrganization {
                    name: mine.name.clone(),
                },
            ));
        }
        if mine.logging != Some(true) {
            f.changes.push(change(
                t,
                Source::CloudTrail,
                "enable",
                &mine.arn,
                format!(
                    "start logging (irprep's trail to s3://{} is stopped)",
                    layout.central_bucket
                ),
                Op::StartLogging {
                    trail_arn: mine.arn.clone(),
                },
            ));
        }
        return Ok(());
    }
    let arn = format!(
        "arn:{}:cloudtrail:{}:{}:trail/{TRAIL_NAME}",
        t.partition, t.region, t.account
    );
    f.changes.push(change(
        t,
        Source::CloudTrail,
        "create",
        &arn,
        format!(
            "{}multi-region trail, management events read+write, log file validation, to s3://{}/AWSLogs/{}",
            if org { "organization " } else { "" },
            layout.central_bucket,
            if o.kms_key.is_some() { ", SSE-KMS" } else { "" }
        ),
        Op::CreateTrail { name: TRAIL_NAME.into(), bucket: layout.central_bucket.clone(), org, kms_key: o.kms_key.clone() },
    ));
    f.changes.push(change(
        t,
        Source::CloudTrail,
        "enable",
        &arn,
        "start logging",
        Op::StartLogging {
            trail_arn: arn.clone(),
        },
    ));
    f.buckets.push(need(
        t,
        &layout.central_bucket,
        Roles {
            cloudtrail: true,
            ..Default::default()
        },
        Source::CloudTrail,
    ));
    Ok(())
}

// ----------------------------------------------------------- VPC Flow Logs

async fn vpcs(t: &Target, cache: &Cache) -> Result<Vec<String>> {
    let v = cache
        .get_or_try(&format!("vpcs:{}:{}", t.account, t.region), || async {
            Ok(serde_json::json!(list_vpcs(t).await?))
        })
        .await?;
    Ok(serde_json::from_value(v)?)
}

async fn list_vpcs(t: &Target) -> Result<Vec<String>> {
    let ec2 = aws_sdk_ec2::Client::new(&t.conf);
    let mut out = vec![];
    let mut next = None;
    loop {
        let p = ec2
            .describe_vpcs()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("ec2:DescribeVpcs", e))?;
        out.extend(p.vpcs().iter().filter_map(|v| v.vpc_id().map(String::from)));
        next = p.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    out.sort();
    Ok(out)
}

async fn flow_logs_of(
    t: &Target,
    filter: Option<aws_sdk_ec2::types::Filter>,
) -> Result<Vec<aws_sdk_ec2::types::FlowLog>> {
    let ec2 = aws_sdk_ec2::Client::new(&t.conf);
    let mut out = vec![];
    let mut next = None;
    loop {
        let p = ec2
            .describe_flow_logs()
            .set_filter(filter.clone().map(|f| vec![f]))
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("ec2:DescribeFlowLogs", e))?;
        out.extend(p.flow_logs().iter().cloned());
        next = p.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Which VPCs lack a delivering ALL flow log: (uncovered, failing delivery,
/// a reason per VPC that is not covered).
fn judge_flow_logs(
    vpcs: &[String],
    logs: &[aws_sdk_ec2::types::FlowLog],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    use aws_sdk_ec2::types::TrafficType;
    let mut uncovered = vec![];
    let mut failing: Vec<String> = vec![];
    let mut why = vec![];
    for v in vpcs {
        let mine: Vec<_> = logs
            .iter()
            .filter(|l| l.resource_id() == Some(v.as_str()))
            .collect();
        let all_active: Vec<_> = mine
            .iter()
            .filter(|l| {
                l.traffic_type() == Some(&TrafficType::All)
                    && l.flow_log_status().is_none_or(|s| s == "ACTIVE")
            })
            .collect();
        // Active but failing to deliver (a destination policy, a deleted
        // bucket) is not on; a second flow log would fail the same way, so
        // none is planned for it.
        let delivering = all_active
            .iter()
            .any(|l| l.deliver_logs_status().is_none_or(|s| s != "FAILED"));
        if delivering {
            continue;
        }
        if let Some(l) = all_active.first() {
            failing.push(v.clone());
            why.push(format!(
                "{v}: flow log {} fails to deliver: {}",
                l.flow_log_id().unwrap_or("?"),
                l.deliver_logs_error_message()
                    .unwrap_or("DeliverLogsStatus FAILED")
            ));
            continue;
        }
        uncovered.push(v.clone());
        why.push(if mine.is_empty() {
            format!("{v}: no flow log")
        } else if mine
            .iter()
            .any(|l| l.traffic_type() == Some(&TrafficType::Reject))
        {
            format!("{v}: REJECT-only flow log")
        } else if mine
            .iter()
            .any(|l| l.traffic_type() == Some(&TrafficType::Accept))
        {
            format!("{v}: ACCEPT-only flow log")
        } else {
            format!("{v}: flow log not active")
        });
    }
    (uncovered, failing, why)
}

async fn flow_logs(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let vpcs = vpcs(t, &layout.cache).await?;
    if vpcs.is_empty() {
        f.rows.push(row(t, Source::VpcFlow, State::None, "no VPCs"));
        return Ok(());
    }
    let logs = flow_logs_of(t, None).await?;
    let (uncovered, failing, why) = judge_flow_logs(&vpcs, &logs);
    let state = coverage(uncovered.len() + failing.len(), vpcs.len());
    let reason = if uncovered.is_empty() && failing.is_empty() {
        format!("{} VPC(s), all with an active ALL flow log", vpcs.len())
    } else {
        why.join("; ")
    };
    f.rows.push(row(t, Source::VpcFlow, state, reason));
    let Some(o) = enable else { return Ok(()) };
    if uncovered.is_empty() {
        return Ok(());
    }
    let fmt = irprep_core::table::default_flow_log_format();
    f.changes.push(change(
        t,
        Source::VpcFlow,
        "create",
        format!("flow logs for {}", uncovered.join(", ")),
        format!(
            "traffic ALL, {} to s3://{}/AWSLogs/{}{}, every field v2-v8 (the vpcflow table's order)",
            if o.flow_parquet { "Parquet" } else { "text" },
            layout.central_bucket,
            if o.flow_hive { ", Hive-compatible" } else { "" },
            if o.flow_hourly { ", hourly" } else { "" }
        ),
        Op::CreateFlowLogs {
            vpcs: uncovered,
            destination: central_dest(layout, &t.partition),
            log_format: fmt,
            parquet: o.flow_parquet,
            hive: o.flow_hive,
            hourly: o.flow_hourly,
        },
    ));
    f.buckets.push(need(
        t,
        &layout.central_bucket,
        Roles {
            delivery: true,
            ..Default::default()
        },
        Source::VpcFlow,
    ));
    Ok(())
}

// ----------------------------------------------- Route 53 Resolver query logs

fn resolver_config_name(region: &str) -> String {
    format!("irprep-query-logs-{region}")
}

async fn resolver(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let vpcs = vpcs(t, &layout.cache).await?;
    if vpcs.is_empty() {
        f.rows.push(row(t, Source::Dns, State::None, "no VPCs"));
        return Ok(());
    }
    let r = aws_sdk_route53resolver::Client::new(&t.conf);
    let mut covered = BTreeSet::new();
    let mut next = None;
    loop {
        let p = r
            .list_resolver_query_log_config_associations()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("route53resolver:ListResolverQueryLogConfigAssociations", e))?;
        for a in p.resolver_query_log_config_associations() {
            let live = a
                .status()
                .is_none_or(|s| matches!(s.as_str(), "ACTIVE" | "CREATING"));
            if live {
                if let Some(v) = a.resource_id() {
                    covered.insert(v.to_string());
                }
            }
        }
        next = p.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    let uncovered: Vec<String> = vpcs
        .iter()
        .filter(|v| !covered.contains(*v))
        .cloned()
        .collect();
    let state = coverage(uncovered.len(), vpcs.len());
    let reason = if uncovered.is_empty() {
        format!("{} VPC(s) associated with a query-log config", vpcs.len())
    } else {
        format!("not logged: {}", uncovered.join(", "))
    };
    f.rows.push(row(t, Source::Dns, state, reason));
    if enable.is_none() || uncovered.is_empty() {
        return Ok(());
    }
    // One config per region, and only where a VPC needs it: reuse irprep's.
    let name = resolver_config_name(&t.region);
    let existing = find_resolver_config(&r, &name).await?;
    let config = match existing {
        Some(id) => ResolverConfig::Existing(id),
        None => {
            let dest = central_dest(layout, &t.partition);
            f.changes.push(change(
                t,
                Source::Dns,
                "create",
                format!("query-log config {name}"),
                format!("to {dest}"),
                Op::CreateResolverConfig {
                    name: name.clone(),
                    destination: dest,
                },
            ));
            ResolverConfig::Planned(name.clone())
        }
    };
    for v in uncovered {
        f.changes.push(change(
            t,
            Source::Dns,
            "associate",
            format!("{v} -> {name}"),
            "log this VPC's DNS queries",
            Op::AssociateResolver {
                config: config.clone(),
                vpc: v,
            },
        ));
    }
    f.buckets.push(need(
        t,
        &layout.central_bucket,
        Roles {
            delivery: true,
            ..Default::default()
        },
        Source::Dns,
    ));
    Ok(())
}

async fn find_resolver_config(
    r: &aws_sdk_route53resolver::Client,
    name: &str,
) -> Result<Option<String>> {
    let mut next = None;
    loop {
        let p = r
            .list_resolver_query_log_configs()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("route53resolver:ListResolverQueryLogConfigs", e))?;
        for c in p.resolver_query_log_configs() {
            if c.name() == Some(name) {
                return Ok(c.id().map(String::from));
            }
        }
        next = p.next_token().map(String::from);
        if next.is_none() {
            return Ok(None);
        }
    }
}

// ------------------------------------------------------- S3 server access

fn is_irprep_bucket(name: &str) -> bool {
    name.starts_with("irprep-logs-") || name.starts_with("aws-waf-logs-irprep-")
}

/// The account's buckets in this target's region (the account's bucket list
/// and each bucket's region are asked once per run, not once per region).
async fn buckets_here(t: &Target, cache: &Cache) -> Result<Vec<String>> {
    let all = cache
        .get_or_try(&format!("buckets:{}", t.account), || async {
            Ok(serde_json::json!(bucket_regions(t).await?))
        })
        .await?;
    let all: Vec<(String, String)> = serde_json::from_value(all)?;
    Ok(all
        .into_iter()
        .filter(|(_, r)| *r == t.region)
        .map(|(n, _)| n)
        .collect())
}

async fn bucket_regions(t: &Target) -> Result<Vec<(String, String)>> {
    let c = crate::s3::client(&t.conf, t.conf.endpoint_url().is_some());
    let list = c
        .list_buckets()
        .send()
        .await
        .map_err(|e| bucket::s3err("s3:ListBuckets", e))?;
    let mut out = vec![];
    for b in list.buckets() {
        let Some(name) = b.name() else { continue };
        let region = match b.bucket_region() {
            Some(r) => r.to_string(),
            None => {
                let loc = c
                    .get_bucket_location()
                    .bucket(name)
                    .send()
                    .await
                    .map_err(|e| bucket::s3err(&format!("s3:GetBucketLocation {name}"), e))?;
                match loc.location_constraint().map(|l| l.as_str().to_string()) {
                    None => "us-east-1".into(),
                    Some(s) if s.is_empty() => "us-east-1".into(),
                    Some(s) if s == "EU" => "eu-west-1".into(),
                    Some(s) => s,
                }
            }
        };
        out.push((name.to_string(), region));
    }
    out.sort();
    Ok(out)
}

async fn s3_access(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let c = crate::s3::client(&t.conf, t.conf.endpoint_url().is_some());
    let all = buckets_here(t, &layout.cache).await?;
    let subjects: Vec<&String> = all
        .iter()
        .filter(|b| !is_irprep_bucket(b) && **b != layout.central_bucket)
        .collect();
    if subjects.is_empty() {
        f.rows.push(row(
            t,
            Source::S3Access,
            State::None,
            "no buckets (log buckets are not logged into themselves)",
        ));
        return Ok(());
    }
    let mut missing = vec![];
    for b in &subjects {
        let l = c
            .get_bucket_logging()
            .bucket(b.as_str())
            .send()
            .await
            .map_err(|e| bucket::s3err(&format!("s3:GetBucketLogging {b}"), e))?;
        if l.logging_enabled().is_none() {
            missing.push((*b).clone());
        }
    }
    let state = coverage(missing.len(), subjects.len());
    let reason = if missing.is_empty() {
        format!("{} bucket(s) logged", subjects.len())
    } else {
        format!("not logged: {}", missing.join(", "))
    };
    f.rows.push(row(t, Source::S3Access, state, reason));
    if enable.is_none() || missing.is_empty() {
        return Ok(());
    }
    // The target must be in the same account and region.
    let target = Layout::regional_bucket(&t.account, &t.region);
    for b in missing {
        f.changes.push(change(
            t,
            Source::S3Access,
            "enable",
            format!("s3://{b}"),
            format!("server access logs to s3://{target}/s3-access/{b}/"),
            Op::PutBucketLogging {
                prefix: format!("s3-access/{b}/"),
                bucket: b,
                target_bucket: target.clone(),
            },
        ));
    }
    f.buckets.push(need(
        t,
        &target,
        Roles {
            s3_access: true,
            ..Default::default()
        },
        Source::S3Access,
    ));
    Ok(())
}

// ------------------------------------------------------------------- ELB

async fn elb(t: &Target, enable: Option<&EnableOptions>, f: &mut Found) -> Result<()> {
    let v2 = aws_sdk_elasticloadbalancingv2::Client::new(&t.conf);
    let classic = aws_sdk_elasticloadbalancing::Client::new(&t.conf);
    let mut lbs: Vec<(String, String, bool)> = vec![]; // (id, name, classic)
    let mut marker = None;
    loop {
        let p = v2
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers (v2)", e))?;
        for lb in p.load_balancers() {
            // Gateway Load Balancers have no access logs.
            if lb.r#type().is_some_and(|ty| ty.as_str() == "gateway") {
                continue;
            }
            if let (Some(arn), Some(name)) = (lb.load_balancer_arn(), lb.load_balancer_name()) {
                lbs.push((arn.into(), name.into(), false));
            }
        }
        marker = p.next_marker().map(String::from);
        if marker.is_none() {
            break;
        }
    }
    let mut marker = None;
    loop {
        let p = classic
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers (classic)", e))?;
        for lb in p.load_balancer_descriptions() {
            if let Some(name) = lb.load_balancer_name() {
                lbs.push((name.into(), name.into(), true));
            }
        }
        marker = p.next_marker().map(String::from);
        if marker.is_none() {
            break;
        }
    }
    if lbs.is_empty() {
        f.rows
            .push(row(t, Source::Elb, State::None, "no load balancers"));
        return Ok(());
    }
    let mut missing = vec![];
    for (id, name, is_classic) in &lbs {
        let on = if *is_classic {
            let a = classic
                .describe_load_balancer_attributes()
                .load_balancer_name(id)
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
            a.load_balancer_attributes()
                .and_then(|x| x.access_log())
                .is_some_and(|l| l.enabled())
        } else {
            let a = v2
                .describe_load_balancer_attributes()
                .load_balancer_arn(id)
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
            a.attributes()
                .iter()
                .any(|x| x.key() == Some("access_logs.s3.enabled") && x.value() == Some("true"))
        };
        if !on {
            missing.push((id.clone(), name.clone(), *is_classic));
        }
    }
    let state = coverage(missing.len(), lbs.len());
    let names: Vec<&str> = missing.iter().map(|m| m.1.as_str()).collect();
    let reason = if missing.is_empty() {
        format!("{} load balancer(s) logging", lbs.len())
    } else {
        format!("not logging: {}", names.join(", "))
    };
    f.rows.push(row(t, Source::Elb, state, reason));
    if enable.is_none() || missing.is_empty() {
        return Ok(());
    }
    let bucket = Layout::regional_bucket(&t.account, &t.region);
    for (id, name, is_classic) in missing {
        let op = if is_classic {
            Op::ElbClassicLogs {
                name: id,
                bucket: bucket.clone(),
                prefix: "elb".into(),
            }
        } else {
            Op::ElbV2Logs {
                arn: id,
                bucket: bucket.clone(),
                prefix: "elb".into(),
            }
        };
        f.changes.push(change(
            t,
            Source::Elb,
            "enable",
            format!("load balancer {name}"),
            format!("access logs to s3://{bucket}/elb/"),
            op,
        ));
    }
    f.buckets.push(need(
        t,
        &bucket,
        Roles {
            elb: true,
            ..Default::default()
        },
        Source::Elb,
    ));
    Ok(())
}

// ------------------------------------------------------------------- WAF

async fn web_acls(t: &Target) -> Result<Vec<(String, String, bool)>> {
    use aws_sdk_wafv2::types::Scope;
    let w = aws_sdk_wafv2::Client::new(&t.conf);
    let mut out = vec![];
    let mut scopes = vec![Scope::Regional];
    if t.region == "us-east-1" {
        scopes.push(Scope::Cloudfront);
    }
    for scope in scopes {
        let mut marker = None;
        loop {
            let p = w
                .list_web_acls()
                .scope(scope.clone())
                .set_next_marker(marker)
                .limit(100)
                .send()
                .await
                .map_err(|e| err("wafv2:ListWebACLs", e))?;
            for a in p.web_acls() {
                if let (Some(arn), Some(name)) = (a.arn(), a.name()) {
                    out.push((
                        arn.to_string(),
                        name.to_string(),
                        scope == Scope::Cloudfront,
                    ));
                }
            }
            marker = p.next_marker().map(String::from);
            if marker.is_none() || p.web_acls().is_empty() {
                break;
            }
        }
    }
    Ok(out)
}

async fn waf_logging(t: &Target, arn: &str) -> Result<Option<Vec<String>>> {
    let w = aws_sdk_wafv2::Client::new(&t.conf);
    match w.get_logging_configuration().resource_arn(arn).send().await {
        Ok(o) => Ok(o
            .logging_configuration()
            .map(|c| c.log_destination_configs().to_vec())),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_waf_nonexistent_item_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(err("wafv2:GetLoggingConfiguration", e)),
    }
}

async fn waf(t: &Target, enable: Option<&EnableOptions>, f: &mut Found) -> Result<()> {
    let acls = web_acls(t).await?;
    if acls.is_empty() {
        f.rows.push(row(t, Source::Waf, State::None, "no web ACLs"));
        return Ok(());
    }
    let mut missing = vec![];
    for (arn, name, cf) in &acls {
        if waf_logging(t, arn).await?.is_none() {
            missing.push((arn.clone(), name.clone(), *cf));
        }
    }
    let state = coverage(missing.len(), acls.len());
    let names: Vec<&str> = missing.iter().map(|m| m.1.as_str()).collect();
    let reason = if missing.is_empty() {
        format!("{} web ACL(s) logging", acls.len())
    } else {
        format!("not logging: {}", names.join(", "))
    };
    f.rows.push(row(t, Source::Waf, state, reason));
    if enable.is_none() || missing.is_empty() {
        return Ok(());
    }
    // WAF needs an `aws-waf-logs-` bucket; CloudFront ACLs live in us-east-1.
    let bucket = Layout::waf_bucket(&t.account, &t.region);
    for (arn, name, cf) in missing {
        f.changes.push(change(
            t,
            Source::Waf,
            "enable",
            format!("web ACL {name}{}", if cf { " (CloudFront)" } else { "" }),
            format!("logging to s3://{bucket}/"),
            Op::WafLogging {
                acl_arn: arn,
                destination: format!("arn:{}:s3:::{bucket}", t.partition),
            },
        ));
    }
    f.buckets.push(need(
        t,
        &bucket,
        Roles {
            waf: true,
            ..Default::default()
        },
        Source::Waf,
    ));
    Ok(())
}

// ------------------------------------------------------------------- EKS

const EKS_TYPES: [&str; 2] = ["audit", "authenticator"];

async fn eks_clusters(t: &Target) -> Result<Vec<aws_sdk_eks::types::Cluster>> {
    let e = aws_sdk_eks::Client::new(&t.conf);
    let mut names = vec![];
    let mut next = None;
    loop {
        let p = e
            .list_clusters()
            .set_next_token(next)
            .send()
            .await
            .map_err(|x| err("eks:ListClusters", x))?;
        names.extend(p.clusters().iter().cloned());
        next = p.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    let mut out = vec![];
    for n in names {
        let d = e
            .describe_cluster()
            .name(&n)
            .send()
            .await
            .map_err(|x| err("eks:DescribeCluster", x))?;
        if let Some(c) = d.cluster() {
            out.push(c.clone());
        }
    }
    Ok(out)
}

fn eks_enabled(c: &aws_sdk_eks::types::Cluster) -> BTreeSet<String> {
    c.logging()
        .map(|l| {
            l.cluster_logging()
                .iter()
                .filter(|s| s.enabled() == Some(true))
                .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

async fn eks(t: &Target, enable: Option<&EnableOptions>, f: &mut Found) -> Result<()> {
    let clusters = eks_clusters(t).await?;
    if clusters.is_empty() {
        f.rows.push(row(t, Source::Eks, State::None, "no clusters"));
        return Ok(());
    }
    let mut gaps: Vec<(String, Vec<String>, Vec<String>)> = vec![];
    for c in &clusters {
        let on = eks_enabled(c);
        let want: Vec<String> = EKS_TYPES
            .iter()
            .filter(|ty| !on.contains(**ty))
            .map(|s| s.to_string())
            .collect();
        if !want.is_empty() {
            let after: Vec<String> = on
                .iter()
                .cloned()
                .chain(want.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            gaps.push((c.name().unwrap_or_default().to_string(), want, after));
        }
    }
    let state = if gaps.is_empty() {
        State::On
    } else if gaps.len() == clusters.len() && gaps.iter().all(|g| g.1.len() == EKS_TYPES.len()) {
        State::Off
    } else {
        State::Partial
    };
    let reason = if gaps.is_empty() {
        format!(
            "{} cluster(s) with audit and authenticator logs",
            clusters.len()
        )
    } else {
        gaps.iter()
            .map(|(n, w, _)| format!("{n}: {} off", w.join("+")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    f.rows.push(row(t, Source::Eks, state, reason));
    if enable.is_none() {
        return Ok(());
    }
    // Only the types not already on; the cluster is tagged with them so
    // cleanup turns off exactly those.
    for (name, types, after) in gaps {
        f.changes.push(change(
            t,
            Source::Eks,
            "enable",
            format!("EKS cluster {name}"),
            format!(
                "control-plane logs {} (to CloudWatch Logs /aws/eks/{name}/cluster)",
                types.join(", ")
            ),
            Op::EksLogging {
                cluster: name,
                types,
                enable: true,
                after,
            },
        ));
    }
    Ok(())
}

// ------------------------------------------------------------- GuardDuty

async fn guardduty(t: &Target, enable: Option<&EnableOptions>, f: &mut Found) -> Result<()> {
    let g = aws_sdk_guardduty::Client::new(&t.conf);
    let ids = g
        .list_detectors()
        .send()
        .await
        .map_err(|e| err("guardduty:ListDetectors", e))?
        .detector_ids()
        .to_vec();
    let Some(id) = ids.first() else {
        f.rows
            .push(row(t, Source::GuardDuty, State::Off, "no detector"));
        if enable.is_some() {
            f.changes.push(change(
                t,
                Source::GuardDuty,
                "create",
                "GuardDuty detector",
                format!("enabled, tagged {TAG_KEY}=<installation id>, recorded in irprep's ledger"),
                Op::CreateDetector,
            ));
            if let Some(o) = enable.filter(|o| o.guardduty_export) {
                plan_guardduty_export(t, o, f);
            }
        }
        return Ok(());
    };
    let d = g
        .get_detector()
        .detector_id(id)
        .send()
        .await
        .map_err(|e| err("guardduty:GetDetector", e))?;
    let enabled = d.status().is_some_and(|s| s.as_str() == "ENABLED");
    if enabled {
        f.rows.push(row(
            t,
            Source::GuardDuty,
            State::On,
            format!("detector {id}"),
        ));
    } else {
        f.rows.push(row(
            t,
            Source::GuardDuty,
            State::Off,
            format!("detector {id} suspended"),
        ));
        if enable.is_some() {
            f.changes.push(change(
                t,
                Source::GuardDuty,
                "enable",
                format!("GuardDuty detector {id}"),
                "resume the suspended detector",
                Op::EnableDetector { id: id.clone() },
            ));
        }
    }
    // The findings export, when asked for: only where the detector has none.
    if let Some(o) = enable.filter(|o| o.guardduty_export) {
        let dests = g
            .list_publishing_destinations()
            .detector_id(id)
            .send()
            .await
            .map_err(|e| err("guardduty:ListPublishingDestinations", e))?;
        if dests.destinations().is_empty() {
            plan_guardduty_export(t, o, f);
        }
    }
    Ok(())
}

/// The findings export of one region: to the region's log bucket (GuardDuty
/// writes where its detector is), with the user's key or one made for it.
fn plan_guardduty_export(t: &Target, o: &EnableOptions, f: &mut Found) {
    let bucket = Layout::regional_bucket(&t.account, &t.region);
    let key = match &o.guardduty_kms_key {
        Some(k) => format!("encrypted with {k} (its policy must let guardduty.amazonaws.com use kms:GenerateDataKey)"),
        None => "encrypted with a KMS key created for it (policy: this account administers it, GuardDuty may only kms:GenerateDataKey for this account's detectors), recorded in irprep's ledger".into(),
    };
    f.changes.push(change(
        t,
        Source::GuardDuty,
        "create",
        "GuardDuty findings export",
        format!(
            "to s3://{bucket}/AWSLogs/{}/GuardDuty/{}/, {key}",
            t.account, t.region
        ),
        Op::GuardDutyExport {
            bucket: bucket.clone(),
            kms_key: o.guardduty_kms_key.clone(),
        },
    ));
    f.buckets.push(need(
        t,
        &bucket,
        Roles {
            guardduty: true,
            ..Default::default()
        },
        Source::GuardDuty,
    ));
}

/// The policy of the KMS key irprep makes for the findings export: the
/// account administers it (as a default key policy does); GuardDuty may
/// only generate data keys, for this account's detectors in this region.
pub fn guardduty_key_policy(partition: &str, account: &str, region: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "IrprepAccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "IrprepGuardDutyEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": "guardduty.amazonaws.com"},
                "Action": "kms:GenerateDataKey",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": format!("arn:{partition}:guardduty:{region}:{account}:detector/*")}
                }
            }
        ]
    })
}

// ------------------------------------------------------------------ cleanup

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
            Source::CloudTrail => cleanup_trails(t, cache, ledger, &mut f).await,
            Source::VpcFlow => cleanup_flow_logs(t, ledger, &mut f).await,
            Source::Dns => cleanup_resolver(t, ledger, &mut f).await,
            Source::S3Access => cleanup_s3_access(t, cache, ledger, &mut f).await,
            Source::Elb => cleanup_elb(t, ledger, &mut f).await,
            Source::Waf => cleanup_waf(t, ledger, &mut f).await,
            Source::Eks => cleanup_eks(t, ledger, &mut f).await,
            Source::GuardDuty => cleanup_guardduty(t, ledger, &mut f).await,
        };
        if let Err(e) = r {
            f.rows.push(row(t, s, State::Error, format!("{e:#}")));
        }
    }
    Ok(f)
}

async fn cleanup_trails(t: &Target, cache: &Cache, ledger: &Ledger, f: &mut Found) -> Result<()> {
    for tr in trails(t, cache).await? {
        if tr.home_region != t.region {
            continue;
        }
        let recorded = tr.recorded(ledger, &t.account);
        if !recorded && tr.tag.is_none() {
            continue;
        }
        match not_ours(recorded, tr.tag.as_deref(), ledger) {
            None => f.changes.push(change(
                t,
                Source::CloudTrail,
                "delete",
                &tr.arn,
                format!(
                    "irprep's trail (to s3://{}; its logs stay in the bucket)",
                    tr.bucket.as_deref().unwrap_or("?")
                ),
                Op::DeleteTrail {
                    name: tr.name.clone(),
                    arn: tr.arn.clone(),
                },
            )),
            Some(why) => f.leave(t, Source::CloudTrail, &tr.arn, why),
        }
    }
    Ok(())
}

async fn cleanup_flow_logs(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    // Every flow log here: the ledger's ids, and the tagged ones, are
    // looked up among them.
    let mut ours: Vec<String> = vec![];
    for l in flow_logs_of(t, None).await? {
        let Some(id) = l.flow_log_id() else { continue };
        let tag = irprep_tag(
            l.tags()
                .iter()
                .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
        );
        let recorded = ledger.has(&t.account, &t.region, Kind::FlowLog, id);
        if !recorded && tag.is_none() {
            continue;
        }
        match not_ours(recorded, tag, ledger) {
            None => ours.push(id.to_string()),
            Some(why) => f.leave(t, Source::VpcFlow, format!("flow log {id}"), why),
        }
    }
    if !ours.is_empty() {
        f.changes.push(change(
            t,
            Source::VpcFlow,
            "delete",
            format!("flow logs {}", ours.join(", ")),
            "irprep's flow logs",
            Op::DeleteFlowLogs { ids: ours },
        ));
    }
    Ok(())
}

async fn cleanup_resolver(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    let r = aws_sdk_route53resolver::Client::new(&t.conf);
    let mut configs = vec![];
    let mut next = None;
    loop {
        let p = r
            .list_resolver_query_log_configs()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("route53resolver:ListResolverQueryLogConfigs", e))?;
        configs.extend(p.resolver_query_log_configs().iter().cloned());
        next = p.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    for c in configs {
        let (Some(id), Some(arn)) = (c.id(), c.arn()) else {
            continue;
        };
        // Ours: in the ledger, and tagged with the installation; where the
        // tag cannot be read (some emulators), in the ledger with irprep's
        // name for the region and the creator request id irprep gave it.
        let recorded = ledger.has(&t.account, &t.region, Kind::ResolverConfig, id);
        let name = resolver_config_name(&t.region);
        let irprep_like = c.name() == Some(name.as_str());
        let why = match r.list_tags_for_resource().resource_arn(arn).send().await {
            Ok(tags) => {
                let tag = irprep_tag(tags.tags().iter().map(|t| (t.key(), t.value())));
                if !recorded && tag.is_none() && !irprep_like {
                    continue;
                }
                not_ours(recorded, tag, ledger)
            }
            Err(_) => {
                if !recorded && !irprep_like {
                    continue;
                }
                let made = irprep_like
                    && c.creator_request_id() == Some(format!("irprep-{name}").as_str());
                match (recorded, made) {
                    (true, true) => None,
                    (true, false) => {
                        Some("recorded in irprep's ledger, but not named as irprep names it")
                    }
                    (false, _) => Some("has irprep's name, but irprep's ledger does not record it"),
                }
            }
        };
        if let Some(why) = why {
            f.leave(
                t,
                Source::Dns,
                format!("query-log config {}", c.name().unwrap_or(id)),
                why,
            );
            continue;
        }
        let assoc = r
            .list_resolver_query_log_config_associations()
            .filters(
                aws_sdk_route53resolver::types::Filter::builder()
                    .name("ResolverQueryLogConfigId")
                    .values(id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("route53resolver:ListResolverQueryLogConfigAssociations", e))?;
        for a in assoc.resolver_query_log_config_associations() {
            if a.resolver_query_log_config_id() != Some(id) {
                continue;
            }
            if let Some(v) = a.resource_id() {
                f.changes.push(change(
                    t,
                    Source::Dns,
                    "disassociate",
                    format!("{v} -> {}", c.name().unwrap_or(id)),
                    "",
                    Op::DisassociateResolver {
                        config_id: id.into(),
                        vpc: v.into(),
                    },
                ));
            }
        }
        f.changes.push(change(
            t,
            Source::Dns,
            "delete",
            format!("query-log config {}", c.name().unwrap_or(id)),
            "irprep's config",
            Op::DeleteResolverConfig { id: id.into() },
        ));
    }
    Ok(())
}

async fn cleanup_s3_access(
    t: &Target,
    cache: &Cache,
    ledger: &Ledger,
    f: &mut Found,
) -> Result<()> {
    let c = crate::s3::client(&t.conf, t.conf.endpoint_url().is_some());
    for b in buckets_here(t, cache).await? {
        let l = c
            .get_bucket_logging()
            .bucket(&b)
            .expected_bucket_owner(&t.account)
            .send()
            .await
            .map_err(|e| bucket::s3err(&format!("s3:GetBucketLogging {b}"), e))?;
        if let Some(le) = l.logging_enabled() {
            // Logging irprep turned on points at irprep's bucket, under s3-access/.
            if le.target_bucket() == Layout::regional_bucket(&t.account, &t.region)
                && le.target_prefix().starts_with("s3-access/")
            {
                if !ledger.has(&t.account, &t.region, Kind::BucketLogging, &b) {
                    f.leave(t, Source::S3Access, format!("s3://{b}"), LOGS_NOT_RECORDED);
                    continue;
                }
                f.changes.push(change(
                    t,
                    Source::S3Access,
                    "disable",
                    format!("s3://{b}"),
                    "server access logging irprep turned on",
                    Op::DisableBucketLogging { bucket: b.clone() },
                ));
            }
        }
    }
    Ok(())
}

/// Why delivery into irprep's bucket that the ledger does not record is
/// left on.
const LOGS_NOT_RECORDED: &str =
    "delivers into irprep's bucket, but irprep's ledger does not record turning it on";

async fn cleanup_elb(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    let ours = Layout::regional_bucket(&t.account, &t.region);
    let v2 = aws_sdk_elasticloadbalancingv2::Client::new(&t.conf);
    let classic = aws_sdk_elasticloadbalancing::Client::new(&t.conf);
    let p = v2
        .describe_load_balancers()
        .send()
        .await
        .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers (v2)", e))?;
    for lb in p.load_balancers() {
        let Some(arn) = lb.load_balancer_arn() else {
            continue;
        };
        let a = v2
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
        let get = |k: &str| {
            a.attributes()
                .iter()
                .find(|x| x.key() == Some(k))
                .and_then(|x| x.value())
                .unwrap_or("")
        };
        if get("access_logs.s3.enabled") == "true" && get("access_logs.s3.bucket") == ours {
            if !ledger.has(&t.account, &t.region, Kind::ElbLogs, arn) {
                f.leave(
                    t,
                    Source::Elb,
                    format!("load balancer {}", lb.load_balancer_name().unwrap_or(arn)),
                    LOGS_NOT_RECORDED,
                );
                continue;
            }
            f.changes.push(change(
                t,
                Source::Elb,
                "disable",
                format!("load balancer {}", lb.load_balancer_name().unwrap_or(arn)),
                "access logs irprep turned on",
                Op::ElbV2LogsOff { arn: arn.into() },
            ));
        }
    }
    let p = classic
        .describe_load_balancers()
        .send()
        .await
        .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers (classic)", e))?;
    for lb in p.load_balancer_descriptions() {
        let Some(name) = lb.load_balancer_name() else {
            continue;
        };
        let a = classic
            .describe_load_balancer_attributes()
            .load_balancer_name(name)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
        let log = a.load_balancer_attributes().and_then(|x| x.access_log());
        if log.is_some_and(|l| l.enabled() && l.s3_bucket_name() == Some(ours.as_str())) {
            if !ledger.has(&t.account, &t.region, Kind::ElbClassicLogs, name) {
                f.leave(
                    t,
                    Source::Elb,
                    format!("load balancer {name}"),
                    LOGS_NOT_RECORDED,
                );
                continue;
            }
            f.changes.push(change(
                t,
                Source::Elb,
                "disable",
                format!("load balancer {name}"),
                "access logs irprep turned on",
                Op::ElbClassicLogsOff { name: name.into() },
            ));
        }
    }
    Ok(())
}

async fn cleanup_waf(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    let ours = format!(
        "arn:{}:s3:::{}",
        t.partition,
        Layout::waf_bucket(&t.account, &t.region)
    );
    for (arn, name, _) in web_acls(t).await? {
        if let Some(dests) = waf_logging(t, &arn).await? {
            if !dests.is_empty() && dests.iter().all(|d| *d == ours) {
                if !ledger.has(&t.account, &t.region, Kind::WafLogging, &arn) {
                    f.leave(
                        t,
                        Source::Waf,
                        format!("web ACL {name} logging"),
                        LOGS_NOT_RECORDED,
                    );
                    continue;
                }
                f.changes.push(change(
                    t,
                    Source::Waf,
                    "delete",
                    format!("web ACL {name} logging"),
                    "logging irprep turned on",
                    Op::DeleteWafLogging {
                        acl_arn: arn.clone(),
                    },
                ));
            }
        }
    }
    Ok(())
}

async fn cleanup_eks(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    for c in eks_clusters(t).await? {
        let name = c.name().unwrap_or_default().to_string();
        // The types irprep turned on are the ledger's; the cluster's tag is
        // only a hint (anyone may write it) and is reported when it differs.
        let prefix = format!("{name}/");
        let on = eks_enabled(&c);
        let types: Vec<String> = ledger
            .of(&t.account, &t.region, Kind::EksLogType)
            .filter_map(|e| e.id.strip_prefix(&prefix))
            .filter(|ty| on.contains(*ty))
            .map(String::from)
            .collect();
        let tagged: Vec<&str> = c
            .tags()
            .and_then(|tags| tags.get(EKS_TAG))
            .map(|v| v.split(['+', ',', ' ']).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        if tagged.iter().any(|ty| !types.iter().any(|x| x == ty)) {
            f.leave(
                t,
                Source::Eks,
                format!("EKS cluster {name}"),
                "its irprep:eks-log-types tag names log types irprep's ledger does not record: those stay on",
            );
        }
        if types.is_empty() {
            continue;
        }
        let after: Vec<String> = eks_enabled(&c)
            .into_iter()
            .filter(|x| !types.contains(x))
            .collect();
        f.changes.push(change(
            t,
            Source::Eks,
            "disable",
            format!("EKS cluster {name}"),
            format!("control-plane logs irprep turned on: {}", types.join(", ")),
            Op::EksLogging {
                cluster: name,
                types,
                enable: false,
                after,
            },
        ));
    }
    Ok(())
}

async fn cleanup_guardduty(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    let g = aws_sdk_guardduty::Client::new(&t.conf);
    // The findings exports and keys irprep made (the ledger is the proof: a
    // destination or key carries no tag irprep could trust).
    for e in ledger.of(&t.account, &t.region, Kind::PublishingDestination) {
        if let Some((detector, destination)) = e.id.split_once('/') {
            f.changes.push(change(
                t,
                Source::GuardDuty,
                "delete",
                format!("GuardDuty findings export {destination}"),
                format!("of detector {detector}, made by irprep (the exported findings stay)"),
                Op::DeletePublishingDestination {
                    detector: detector.into(),
                    destination: destination.into(),
                },
            ));
        }
    }
    for e in ledger.of(&t.account, &t.region, Kind::KmsKey) {
        f.changes.push(change(
            t,
            Source::GuardDuty,
            "delete",
            format!("KMS key {}", e.id),
            "the findings export's key irprep made: deletion scheduled in 7 days (kms:CancelKeyDeletion undoes it); exported findings need it to be read",
            Op::ScheduleKeyDeletion {
                key_arn: e.id.clone(),
            },
        ));
    }
    for id in g
        .list_detectors()
        .send()
        .await
        .map_err(|e| err("guardduty:ListDetectors", e))?
        .detector_ids()
    {
        let d = g
            .get_detector()
            .detector_id(id)
            .send()
            .await
            .map_err(|e| err("guardduty:GetDetector", e))?;
        let tag = d
            .tags()
            .and_then(|tags| tags.get(TAG_KEY))
            .map(String::as_str);
        let recorded = ledger.has(&t.account, &t.region, Kind::Detector, id);
        if !recorded && tag.is_none() {
            continue;
        }
        if let Some(why) = not_ours(recorded, tag, ledger) {
            f.leave(
                t,
                Source::GuardDuty,
                format!("GuardDuty detector {id}"),
                why,
            );
            continue;
        }
        {
            f.changes.push(change(
                t,
                Source::GuardDuty,
                "delete",
                format!("GuardDuty detector {id}"),
                "the detector irprep created",
                Op::DeleteDetector { id: id.clone() },
            ));
        }
    }
    Ok(())
}

// -------------------------------------------------------------------- apply

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
        Op::CreateTrail {
            name,
            bucket,
            org,
            kms_key,
        } => {
            let ct = aws_sdk_cloudtrail::Client::new(conf);
            let tag = aws_sdk_cloudtrail::types::Tag::builder()
                .key(TAG_KEY)
                .value(installation)
                .build()
                .map_err(|e| anyhow!("{e}"))?;
            let out = ct
                .create_trail()
                .name(name)
                .s3_bucket_name(bucket)
                .is_multi_region_trail(true)
                .include_global_service_events(true)
                .enable_log_file_validation(true)
                .is_organization_trail(*org)
                .set_kms_key_id(kms_key.clone())
                .tags_list(tag)
                .send()
                .await
                .map_err(|e| err("cloudtrail:CreateTrail", e))?;
            let arn = out.trail_arn().map(String::from).unwrap_or_else(|| {
                format!(
                    "arn:{}:cloudtrail:{}:{}:trail/{name}",
                    super::partition(&c.region),
                    c.region,
                    c.account
                )
            });
            records.push(Record::Added(entry(Kind::Trail, &arn)));
        }
        Op::TrailToOrganization { name } => {
            aws_sdk_cloudtrail::Client::new(conf)
                .update_trail()
                .name(name)
                .is_organization_trail(true)
                .is_multi_region_trail(true)
                .send()
                .await
                .map_err(|e| err("cloudtrail:UpdateTrail", e))?;
        }
        Op::StartLogging { trail_arn } => {
            aws_sdk_cloudtrail::Client::new(conf)
                .start_logging()
                .name(trail_arn)
                .send()
                .await
                .map_err(|e| err("cloudtrail:StartLogging", e))?;
        }
        Op::CreateFlowLogs {
            vpcs,
            destination,
            log_format,
            parquet,
            hive,
            hourly,
        } => {
            use aws_sdk_ec2::types::{
                DestinationFileFormat, DestinationOptionsRequest, FlowLogsResourceType,
                LogDestinationType, ResourceType, TrafficType,
            };
            let ec2 = aws_sdk_ec2::Client::new(conf);
            let opts = DestinationOptionsRequest::builder()
                .file_format(if *parquet {
                    DestinationFileFormat::Parquet
                } else {
                    DestinationFileFormat::PlainText
                })
                .hive_compatible_partitions(*hive)
                .per_hour_partition(*hourly)
                .build();
            let out = ec2
                .create_flow_logs()
                .set_resource_ids(Some(vpcs.clone()))
                .resource_type(FlowLogsResourceType::Vpc)
                .traffic_type(TrafficType::All)
                .log_destination_type(LogDestinationType::S3)
                .log_destination(destination)
                .log_format(log_format)
                .max_aggregation_interval(60)
                .destination_options(opts)
                .tag_specifications(ec2_tag_spec(ResourceType::VpcFlowLog, installation))
                .send()
                .await
                .map_err(|e| err("ec2:CreateFlowLogs", e))?;
            for id in out.flow_log_ids() {
                records.push(Record::Added(entry(Kind::FlowLog, id)));
            }
            let failed = unsuccessful(out.unsuccessful());
            if !failed.is_empty() {
                bail!("ec2:CreateFlowLogs: {}", failed.join("; "));
            }
        }
        Op::CreateResolverConfig { name, destination } => {
            let r = aws_sdk_route53resolver::Client::new(conf);
            let tag = aws_sdk_route53resolver::types::Tag::builder()
                .key(TAG_KEY)
                .value(installation)
                .build()
                .map_err(|e| anyhow!("{e}"))?;
            let out = r
                .create_resolver_query_log_config()
                .name(name)
                .destination_arn(destination)
                .creator_request_id(format!("irprep-{name}"))
                .tags(tag)
                .send()
                .await
                .map_err(|e| err("route53resolver:CreateResolverQueryLogConfig", e))?;
            let id = out
                .resolver_query_log_config()
                .and_then(|c| c.id())
                .context("no config id returned")?;
            records.push(Record::Added(entry(Kind::ResolverConfig, id)));
            resolver_ids.insert(
                (c.account.clone(), c.region.clone(), name.clone()),
                id.to_string(),
            );
        }
        Op::AssociateResolver { config, vpc } => {
            let id = match config {
                ResolverConfig::Existing(id) => id.clone(),
                ResolverConfig::Planned(name) => resolver_ids
                    .get(&(c.account.clone(), c.region.clone(), name.clone()))
                    .cloned()
                    .context("the query-log config was not created")?,
            };
            aws_sdk_route53resolver::Client::new(conf)
                .associate_resolver_query_log_config()
                .resolver_query_log_config_id(id)
                .resource_id(vpc)
                .send()
                .await
                .map_err(|e| err("route53resolver:AssociateResolverQueryLogConfig", e))?;
        }
        Op::PutBucketLogging {
            bucket,
            target_bucket,
            prefix,
        } => {
            use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled};
            let s = crate::s3::client(conf, conf.endpoint_url().is_some());
            let le = LoggingEnabled::builder()
                .target_bucket(target_bucket)
                .target_prefix(prefix)
                .build()
                .map_err(|e| anyhow!("{e}"))?;
            s.put_bucket_logging()
                .bucket(bucket)
                .bucket_logging_status(BucketLoggingStatus::builder().logging_enabled(le).build())
                .expected_bucket_owner(&c.account)
                .send()
                .await
                .map_err(|e| bucket::s3err(&format!("s3:PutBucketLogging {bucket}"), e))?;
            records.push(Record::Added(entry(Kind::BucketLogging, bucket)));
        }
        Op::DisableBucketLogging { bucket } => {
            let s = crate::s3::client(conf, conf.endpoint_url().is_some());
            s.put_bucket_logging()
                .bucket(bucket)
                .bucket_logging_status(aws_sdk_s3::types::BucketLoggingStatus::builder().build())
                .expected_bucket_owner(&c.account)
                .send()
                .await
                .map_err(|e| bucket::s3err(&format!("s3:PutBucketLogging {bucket}"), e))?;
            records.push(Record::Removed(entry(Kind::BucketLogging, bucket)));
        }
        Op::ElbV2Logs {
            arn,
            bucket,
            prefix,
        } => {
            use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute as A;
            aws_sdk_elasticloadbalancingv2::Client::new(conf)
                .modify_load_balancer_attributes()
                .load_balancer_arn(arn)
                .attributes(
                    A::builder()
                        .key("access_logs.s3.enabled")
                        .value("true")
                        .build(),
                )
                .attributes(
                    A::builder()
                        .key("access_logs.s3.bucket")
                        .value(bucket)
                        .build(),
                )
                .attributes(
                    A::builder()
                        .key("access_logs.s3.prefix")
                        .value(prefix)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:ModifyLoadBalancerAttributes", e))?;
            records.push(Record::Added(entry(Kind::ElbLogs, arn)));
        }
        Op::ElbV2LogsOff { arn } => {
            use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute as A;
            aws_sdk_elasticloadbalancingv2::Client::new(conf)
                .modify_load_balancer_attributes()
                .load_balancer_arn(arn)
                .attributes(
                    A::builder()
                        .key("access_logs.s3.enabled")
                        .value("false")
                        .build(),
                )
                .attributes(A::builder().key("access_logs.s3.bucket").value("").build())
                .attributes(A::builder().key("access_logs.s3.prefix").value("").build())
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:ModifyLoadBalancerAttributes", e))?;
            records.push(Record::Removed(entry(Kind::ElbLogs, arn)));
        }
        Op::ElbClassicLogs {
            name,
            bucket,
            prefix,
        } => {
            use aws_sdk_elasticloadbalancing::types::{AccessLog, LoadBalancerAttributes};
            let log = AccessLog::builder()
                .enabled(true)
                .s3_bucket_name(bucket)
                .s3_bucket_prefix(prefix)
                .emit_interval(5)
                .build();
            aws_sdk_elasticloadbalancing::Client::new(conf)
                .modify_load_balancer_attributes()
                .load_balancer_name(name)
                .load_balancer_attributes(LoadBalancerAttributes::builder().access_log(log).build())
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:ModifyLoadBalancerAttributes", e))?;
            records.push(Record::Added(entry(Kind::ElbClassicLogs, name)));
        }
        Op::ElbClassicLogsOff { name } => {
            use aws_sdk_elasticloadbalancing::types::{AccessLog, LoadBalancerAttributes};
            let log = AccessLog::builder().enabled(false).build();
            aws_sdk_elasticloadbalancing::Client::new(conf)
                .modify_load_balancer_attributes()
                .load_balancer_name(name)
                .load_balancer_attributes(LoadBalancerAttributes::builder().access_log(log).build())
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:ModifyLoadBalancerAttributes", e))?;
            records.push(Record::Removed(entry(Kind::ElbClassicLogs, name)));
        }
        Op::WafLogging {
            acl_arn,
            destination,
        } => {
            let lc = aws_sdk_wafv2::types::LoggingConfiguration::builder()
                .resource_arn(acl_arn)
                .log_destination_configs(destination)
                .build()
                .map_err(|e| anyhow!("{e}"))?;
            aws_sdk_wafv2::Client::new(conf)
                .put_logging_configuration()
                .logging_configuration(lc)
                .send()
                .await
                .map_err(|e| err("wafv2:PutLoggingConfiguration", e))?;
            records.push(Record::Added(entry(Kind::WafLogging, acl_arn)));
        }
        Op::DeleteWafLogging { acl_arn } => {
            aws_sdk_wafv2::Client::new(conf)
                .delete_logging_configuration()
                .resource_arn(acl_arn)
                .send()
                .await
                .map_err(|e| err("wafv2:DeleteLoggingConfiguration", e))?;
            records.push(Record::Removed(entry(Kind::WafLogging, acl_arn)));
        }
        Op::EksLogging {
            cluster,
            types,
            enable,
            after,
        } => {
            use aws_sdk_eks::types::{LogSetup, LogType, Logging};
            const ALL: [&str; 5] = [
                "api",
                "audit",
                "authenticator",
                "controllerManager",
                "scheduler",
            ];
            let e = aws_sdk_eks::Client::new(conf);
            let on: Vec<LogType> = after.iter().map(|t| LogType::from(t.as_str())).collect();
            let off: Vec<LogType> = ALL
                .iter()
                .filter(|t| !after.iter().any(|a| a == *t))
                .map(|t| LogType::from(*t))
                .collect();
            let mut logging = Logging::builder();
            if !on.is_empty() {
                logging = logging.cluster_logging(
                    LogSetup::builder()
                        .set_types(Some(on))
                        .enabled(true)
                        .build(),
                );
            }
            if !off.is_empty() {
                logging = logging.cluster_logging(
                    LogSetup::builder()
                        .set_types(Some(off))
                        .enabled(false)
                        .build(),
                );
            }
            e.update_cluster_config()
                .name(cluster)
                .logging(logging.build())
                .send()
                .await
                .map_err(|x| err("eks:UpdateClusterConfig", x))?;
            for ty in types {
                let e = entry(Kind::EksLogType, &format!("{cluster}/{ty}"));
                records.push(if *enable {
                    Record::Added(e)
                } else {
                    Record::Removed(e)
                });
            }
            let desc = e
                .describe_cluster()
                .name(cluster)
                .send()
                .await
                .map_err(|x| err("eks:DescribeCluster", x))?
                .cluster()
                .cloned()
                .context("no cluster described")?;
            let arn = desc.arn().map(String::from).context("cluster has no ARN")?;
            // The tag (a hint for people; the ledger is the record) names
            // every type irprep turned on, earlier runs' too.
            let mut tagged: BTreeSet<String> = desc
                .tags()
                .and_then(|t| t.get(EKS_TAG))
                .map(|v| {
                    v.split(['+', ',', ' '])
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            for ty in types {
                if *enable {
                    tagged.insert(ty.clone());
                } else {
                    tagged.remove(ty);
                }
            }
            if tagged.is_empty() {
                e.untag_resource()
                    .resource_arn(&arn)
                    .tag_keys(EKS_TAG)
                    .send()
                    .await
                    .map_err(|x| err("eks:UntagResource", x))?;
            } else {
                e.tag_resource()
                    .resource_arn(&arn)
                    .tags(EKS_TAG, tagged.into_iter().collect::<Vec<_>>().join("+"))
                    .send()
                    .await
                    .map_err(|x| err("eks:TagResource", x))?;
            }
        }
        Op::CreateDetector => {
            let out = aws_sdk_guardduty::Client::new(conf)
                .create_detector()
                .enable(true)
                .tags(TAG_KEY, installation)
                .send()
                .await
                .map_err(|e| err("guardduty:CreateDetector", e))?;
            if let Some(id) = out.detector_id() {
                records.push(Record::Added(entry(Kind::Detector, id)));
            }
        }
        Op::EnableDetector { id } => {
            aws_sdk_guardduty::Client::new(conf)
                .update_detector()
                .detector_id(id)
                .enable(true)
                .send()
                .await
                .map_err(|e| err("guardduty:UpdateDetector", e))?;
        }
        Op::GuardDutyExport { bucket, kms_key } => {
            let g = aws_sdk_guardduty::Client::new(conf);
            let detector = g
                .list_detectors()
                .send()
                .await
                .map_err(|e| err("guardduty:ListDetectors", e))?
                .detector_ids()
                .first()
                .cloned()
                .ok_or_else(|| anyhow!("no GuardDuty detector in {} to export from", c.region))?;
            let partition = super::partition(&c.region);
            let key = match kms_key {
                Some(k) => k.clone(),
                None => {
                    let wire = crate::wire::WireClient::new(
                        conf,
                        conf.endpoint_url().map(String::from),
                        None,
                    )
                    .await?;
                    let policy = guardduty_key_policy(partition, &c.account, &c.region);
                    let r = wire
                        .call(
                            "kms",
                            "CreateKey",
                            &c.region,
                            &json!({
                                "Description": "GuardDuty findings export (made by irprep)",
                                "Policy": policy.to_string(),
                                "Tags": [{"TagKey": TAG_KEY, "TagValue": installation}],
                            }),
                        )
                        .await?;
                    if !r.ok() {
                        bail!(
                            "kms:CreateKey: {} {}",
                            r.error_code.unwrap_or_default(),
                            r.error_message.unwrap_or_default()
                        );
                    }
                    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                    let arn = v["KeyMetadata"]["Arn"]
                        .as_str()
                        .ok_or_else(|| anyhow!("kms:CreateKey: no key ARN in the answer"))?
                        .to_string();
                    records.push(Record::Added(entry(Kind::KmsKey, &arn)));
                    arn
                }
            };
            let out = g
                .create_publishing_destination()
                .detector_id(&detector)
                .destination_type(aws_sdk_guardduty::types::DestinationType::S3)
                .destination_properties(
                    aws_sdk_guardduty::types::DestinationProperties::builder()
                        .destination_arn(format!("arn:{partition}:s3:::{bucket}"))
                        .kms_key_arn(&key)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| err("guardduty:CreatePublishingDestination", e))?;
            if let Some(d) = out.destination_id() {
                records.push(Record::Added(entry(
                    Kind::PublishingDestination,
                    &format!("{detector}/{d}"),
                )));
            }
        }
        Op::DeletePublishingDestination {
            detector,
            destination,
        } => {
            aws_sdk_guardduty::Client::new(conf)
                .delete_publishing_destination()
                .detector_id(detector)
                .destination_id(destination)
                .send()
                .await
                .map_err(|e| err("guardduty:DeletePublishingDestination", e))?;
            records.push(Record::Removed(entry(
                Kind::PublishingDestination,
                &format!("{detector}/{destination}"),
            )));
        }
        Op::ScheduleKeyDeletion { key_arn } => {
            let wire =
                crate::wire::WireClient::new(conf, conf.endpoint_url().map(String::from), None)
                    .await?;
            let r = wire
                .call(
                    "kms",
                    "ScheduleKeyDeletion",
                    &c.region,
                    &json!({"KeyId": key_arn, "PendingWindowInDays": 7}),
                )
                .await?;
            if !r.ok() && r.error_code.as_deref() != Some("NotFoundException") {
                bail!(
                    "kms:ScheduleKeyDeletion {key_arn}: {} {}",
                    r.error_code.unwrap_or_default(),
                    r.error_message.unwrap_or_default()
                );
            }
            records.push(Record::Removed(entry(Kind::KmsKey, key_arn)));
        }
        Op::DeleteDetector { id } => {
            aws_sdk_guardduty::Client::new(conf)
                .delete_detector()
                .detector_id(id)
                .send()
                .await
                .map_err(|e| err("guardduty:DeleteDetector", e))?;
            records.push(Record::Removed(entry(Kind::Detector, id)));
        }
        Op::DeleteBucket { name, min_age_days } => {
            bucket::delete_bucket(conf, name, &c.account, *min_age_days).await?;
            records.push(Record::Removed(entry(Kind::Bucket, name)));
        }
        Op::DeleteTrail { name, arn } => {
            aws_sdk_cloudtrail::Client::new(conf)
                .delete_trail()
                .name(name)
                .send()
                .await
                .map_err(|e| err("cloudtrail:DeleteTrail", e))?;
            records.push(Record::Removed(entry(Kind::Trail, arn)));
        }
        Op::DeleteFlowLogs { ids } => {
            let out = aws_sdk_ec2::Client::new(conf)
                .delete_flow_logs()
                .set_flow_log_ids(Some(ids.clone()))
                .send()
                .await
                .map_err(|e| err("ec2:DeleteFlowLogs", e))?;
            let failed = unsuccessful(out.unsuccessful());
            for id in ids {
                if !out
                    .unsuccessful()
                    .iter()
                    .any(|u| u.resource_id() == Some(id))
                {
                    records.push(Record::Removed(entry(Kind::FlowLog, id)));
                }
            }
            if !failed.is_empty() {
                bail!("ec2:DeleteFlowLogs: {}", failed.join("; "));
            }
        }
        Op::DisassociateResolver { config_id, vpc } => {
            aws_sdk_route53resolver::Client::new(conf)
                .disassociate_resolver_query_log_config()
                .resolver_query_log_config_id(config_id)
                .resource_id(vpc)
                .send()
                .await
                .map_err(|e| err("route53resolver:DisassociateResolverQueryLogConfig", e))?;
        }
        Op::DeleteResolverConfig { id } => {
            aws_sdk_route53resolver::Client::new(conf)
                .delete_resolver_query_log_config()
                .resolver_query_log_config_id(id)
                .send()
                .await
                .map_err(|e| err("route53resolver:DeleteResolverQueryLogConfig", e))?;
            records.push(Record::Removed(entry(Kind::ResolverConfig, id)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;
    use aws_sdk_cloudtrail::types::{AdvancedEventSelector, AdvancedFieldSelector, EventSelector};

    #[test]
    fn guardduty_export_key_and_bucket_let_only_this_accounts_detectors_in() {
        let k = guardduty_key_policy("aws", "111122223333", "eu-west-1");
        let gd = &k["Statement"][1];
        assert_eq!(gd["Principal"]["Service"], "guardduty.amazonaws.com");
        assert_eq!(gd["Action"], "kms:GenerateDataKey");
        assert_eq!(
            gd["Condition"]["StringEquals"]["aws:SourceAccount"],
            "111122223333"
        );
        assert_eq!(
            gd["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws:guardduty:eu-west-1:111122223333:detector/*"
        );
        assert_eq!(
            k["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::111122223333:root"
        );
        let st = bucket::statements(
            "irprep-logs-111122223333-eu-west-1",
            "aws",
            "eu-west-1",
            Roles {
                guardduty: true,
                ..Default::default()
            },
            &["111122223333".to_string()],
            None,
        );
        let write = st
            .iter()
            .find(|s| s["Sid"] == "IrprepGuardDutyWrite")
            .unwrap();
        assert_eq!(
            write["Resource"],
            json!([
                "arn:aws:s3:::irprep-logs-111122223333-eu-west-1/AWSLogs/111122223333/GuardDuty/*"
            ])
        );
        assert!(st.iter().any(
            |s| s["Sid"] == "IrprepGuardDutyLocation" && s["Action"] == "s3:GetBucketLocation"
        ));
        // The export's prefix is the guardduty table's layout.
        let key = "AWSLogs/111122223333/GuardDuty/eu-west-1/2024/03/05/f.jsonl.gz";
        assert_eq!(
            irprep_core::layout::classify(key).kind,
            irprep_core::layout::KeyKind::Log(irprep_core::tables::LogTable::GuardDuty)
        );
    }

    fn adv(fields: &[(&str, &[&str], &[&str])]) -> GetEventSelectorsOutput {
        let mut sel = AdvancedEventSelector::builder().name("s");
        for (field, eq, ne) in fields {
            let mut f = AdvancedFieldSelector::builder().field(*field);
            for v in *eq {
                f = f.equals(*v);
            }
            for v in *ne {
                f = f.not_equals(*v);
            }
            sel = sel.field_selectors(f.build().unwrap());
        }
        GetEventSelectorsOutput::builder()
            .advanced_event_selectors(sel.build().unwrap())
            .build()
    }

    #[test]
    fn a_flow_log_that_fails_to_deliver_is_not_coverage() {
        use aws_sdk_ec2::types::{FlowLog, TrafficType};
        let log = |vpc: &str, status: &str| {
            FlowLog::builder()
                .flow_log_id(format!("fl-{vpc}"))
                .resource_id(vpc)
                .traffic_type(TrafficType::All)
                .flow_log_status("ACTIVE")
                .deliver_logs_status(status)
                .deliver_logs_error_message("Access error")
                .build()
        };
        let vpcs = vec![
            "vpc-a".to_string(),
            "vpc-b".to_string(),
            "vpc-c".to_string(),
        ];
        let logs = vec![log("vpc-a", "SUCCESS"), log("vpc-b", "FAILED")];
        let (uncovered, failing, why) = judge_flow_logs(&vpcs, &logs);
        assert_eq!(uncovered, vec!["vpc-c"]);
        assert_eq!(failing, vec!["vpc-b"], "failing, and not planned again");
        assert!(
            why.iter()
                .any(|w| w.contains("fails to deliver: Access error")),
            "{why:?}"
        );
    }

    #[test]
    fn management_events_that_leave_something_out_are_not_all() {
        assert_eq!(
            management_events(&adv(&[("eventCategory", &["Management"], &[])])),
            Some("all")
        );
        assert_eq!(
            management_events(&adv(&[
                ("eventCategory", &["Management"], &[]),
                ("eventSource", &[], &["iam.amazonaws.com"]),
            ])),
            Some("filtered")
        );
        assert_eq!(
            management_events(&adv(&[
                ("eventCategory", &["Management"], &[]),
                ("readOnly", &["true"], &[]),
            ])),
            Some("read-only")
        );
        let basic = GetEventSelectorsOutput::builder()
            .event_selectors(
                EventSelector::builder()
                    .include_management_events(true)
                    .exclude_management_event_sources("kms.amazonaws.com")
                    .build(),
            )
            .build();
        assert_eq!(management_events(&basic), Some("filtered"));
    }
}
