//! CloudTrail: trails, their status and selectors, an Organization trail.

use super::*;

/// The IAM actions this source's status, enable and cleanup call.
pub(super) const ACTIONS: Actions = Actions {
    status: &[
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:ListTags",
    ],
    enable: &[
        "cloudtrail:CreateTrail",
        "cloudtrail:AddTags",
        "cloudtrail:StartLogging",
        "cloudtrail:UpdateTrail",
        "organizations:DescribeOrganization",
        "organizations:ListAccounts",
        "organizations:ListAWSServiceAccessForOrganization",
        "organizations:EnableAWSServiceAccess",
    ],
    cleanup: &[
        "cloudtrail:DeleteTrail",
        "organizations:ListAWSServiceAccessForOrganization",
        "organizations:DisableAWSServiceAccess",
    ],
};

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
    /// Its key prefix in the bucket, if any.
    prefix: Option<String>,
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
            // Per asking account: what an account may read of a trail (an
            // Organization trail seen from a member) is its own answer, not
            // the first asker's for all.
            .get_or_try(&format!("trail:{}:{arn}", t.account), || async {
                let hc = aws_sdk_cloudtrail::Client::new(&regional(&t.conf, &home));
                let status = hc.get_trail_status().name(arn).send().await.ok();
                let logging = status.as_ref().and_then(|s| s.is_logging());
                // A trail that logs but cannot write its files is not on.
                let delivery_error = status
                    .as_ref()
                    .and_then(|s| s.latest_delivery_error())
                    .filter(|e| !e.is_empty())
                    .map(String::from);
                // Selectors this account may not read are not "no management
                // events": the trail is not judged, and no second is planned.
                let management = match hc.get_event_selectors().trail_name(arn).send().await {
                    Ok(o) => management_events(&o),
                    Err(_) => Some("unreadable"),
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
            Some("unreadable") => Some("unreadable"),
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
            prefix: tr
                .s3_key_prefix()
                .filter(|p| !p.is_empty())
                .map(String::from),
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
                match crate::logs::bucket::ownership(&conf, &bucket, &account).await {
                    Ok(crate::logs::bucket::Ownership::Ours) => serde_json::json!("ours"),
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

/// CloudTrail's service principal, for Organizations trusted access.
const CLOUDTRAIL_SERVICE: &str = "cloudtrail.amazonaws.com";

/// Whether the Organization trusts CloudTrail (None when the caller cannot
/// ask).
async fn trusted(t: &Target) -> Option<bool> {
    let o = aws_sdk_organizations::Client::new(&t.conf);
    let mut next = None;
    loop {
        let p = o
            .list_aws_service_access_for_organization()
            .set_next_token(next)
            .send()
            .await
            .ok()?;
        if p.enabled_service_principals()
            .iter()
            .any(|s| s.service_principal() == Some(CLOUDTRAIL_SERVICE))
        {
            return Some(true);
        }
        next = p.next_token().map(String::from);
        if next.is_none() {
            return Some(false);
        }
    }
}

/// An organization trail made through the API needs CloudTrail's trusted
/// access turned on first (AWS: "If you create an organization trail with
/// the AWS CLI or the CloudTrail API, you must enable trusted access
/// manually"): planned before the trail, when it is off or cannot be read.
async fn plan_trusted_access(t: &Target, f: &mut Found) {
    let state = trusted(t).await;
    if state == Some(true) {
        return;
    }
    f.changes.push(change(
        t,
        Source::CloudTrail,
        "enable",
        format!("organizations:trusted-access/{CLOUDTRAIL_SERVICE}"),
        format!(
            "trusted access for CloudTrail in the Organization (needed before an organization trail{})",
            if state.is_none() {
                "; whether it is on could not be read"
            } else {
                ""
            }
        ),
        Op::EnableTrustedAccess {
            service: CLOUDTRAIL_SERVICE.into(),
        },
    ));
}

pub(super) async fn inspect(
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
    // A logging trail whose event selectors this account cannot read.
    let selectors_unknown = all.iter().find(|tr| {
        covers_here(tr) && tr.logging == Some(true) && tr.management == Some("unreadable")
    });
    let state;
    let mut reason: String;
    if let Some(g) = good {
        // Where the account's management events already go, for `prepare`'s
        // cloudtrail table when no trail of irprep's is planned.
        if let Some(b) = &g.bucket {
            let dest = serde_json::json!({"bucket": b, "prefix": g.prefix, "org": g.org});
            let _ = layout
                .cache
                .get_or_try(&format!("trail-dest:{}", t.account), || async { Ok(dest) })
                .await;
        }
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
    } else if let Some(u) = selectors_unknown {
        state = State::Partial;
        reason = format!(
            "trail {} logs, but its event selectors cannot be read from this account: which management events it records is unknown",
            u.name
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
    if let Some(u) = selectors_unknown {
        f.rows.push(row(
            t,
            Source::CloudTrail,
            State::Error,
            format!(
                "trail {} logs but its event selectors cannot be read: no second trail is planned; grant cloudtrail:GetEventSelectors to judge it",
                u.name
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
            plan_trusted_access(t, f).await;
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
    // An Organization trail belongs to the management account, also when a
    // delegated administrator creates it.
    let owner = match (org, &layout.org_management) {
        (true, Some(m)) => m.as_str(),
        _ => t.account.as_str(),
    };
    let arn = format!(
        "arn:{}:cloudtrail:{}:{owner}:trail/{TRAIL_NAME}",
        t.partition, t.region
    );
    if org {
        plan_trusted_access(t, f).await;
    }
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

pub(super) async fn cleanup(
    t: &Target,
    cache: &Cache,
    ledger: &Ledger,
    f: &mut Found,
) -> Result<()> {
    let all = trails(t, cache).await?;
    // Trusted access irprep turned on goes off again only when no other
    // organization trail (one irprep does not remove) needs it.
    if ledger.has(
        &t.account,
        &t.region,
        Kind::TrustedAccess,
        CLOUDTRAIL_SERVICE,
    ) {
        let others: Vec<&str> = all
            .iter()
            .filter(|tr| {
                tr.org
                    && not_ours(tr.recorded(ledger, &t.account), tr.tag.as_deref(), ledger)
                        .is_some()
            })
            .map(|tr| tr.name.as_str())
            .collect();
        let resource = format!("organizations:trusted-access/{CLOUDTRAIL_SERVICE}");
        if others.is_empty() {
            f.changes.push(change(
                t,
                Source::CloudTrail,
                "disable",
                resource,
                "trusted access for CloudTrail, which irprep turned on",
                Op::DisableTrustedAccess {
                    service: CLOUDTRAIL_SERVICE.into(),
                },
            ));
        } else {
            f.leave(
                t,
                Source::CloudTrail,
                resource,
                &format!(
                    "irprep turned it on, but organization trail(s) {} rely on it",
                    others.join(", ")
                ),
            );
        }
    }
    for tr in all {
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

/// Make one of this source's changes; what it creates or removes goes
/// into `records`.
pub(super) async fn apply(
    conf: &SdkConfig,
    c: &Change,
    installation: &str,
    records: &mut Vec<Record>,
) -> Result<()> {
    let entry = |kind: Kind, id: &str| Entry::new(&c.account, &c.region, kind, id);
    match &c.op {
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
                    crate::logs::partition(&c.region),
                    c.region,
                    c.account
                )
            });
            records.push(Record::Added(entry(Kind::Trail, &arn)));
        }
        Op::EnableTrustedAccess { service } => {
            aws_sdk_organizations::Client::new(conf)
                .enable_aws_service_access()
                .service_principal(service)
                .send()
                .await
                .map_err(|e| err("organizations:EnableAWSServiceAccess", e))?;
            records.push(Record::Added(entry(Kind::TrustedAccess, service)));
        }
        Op::DisableTrustedAccess { service } => {
            aws_sdk_organizations::Client::new(conf)
                .disable_aws_service_access()
                .service_principal(service)
                .send()
                .await
                .map_err(|e| err("organizations:DisableAWSServiceAccess", e))?;
            records.push(Record::Removed(entry(Kind::TrustedAccess, service)));
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
        Op::DeleteTrail { name, arn } => {
            aws_sdk_cloudtrail::Client::new(conf)
                .delete_trail()
                .name(name)
                .send()
                .await
                .map_err(|e| err("cloudtrail:DeleteTrail", e))?;
            records.push(Record::Removed(entry(Kind::Trail, arn)));
        }
        _ => bail!("not a change of CloudTrail"),
    }
    Ok(())
}

/// Prove the trail covering this region delivers: a harmless read-only
/// call (EC2 DescribeRegions, a management event) made once, with the
/// marker in its user agent, then looked for in the trail's delivery files
/// of its day. `sent`: when the marked call went out (None: not yet).
pub(super) async fn verify(
    t: &Target,
    layout: &Layout,
    marker: &str,
    sent: &mut Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(Delivery, String)> {
    let all = trails(t, &layout.cache).await?;
    let covers_here = |tr: &&TrailFacts| tr.multi_region || tr.home_region == t.region;
    let Some(tr) = all
        .iter()
        .filter(covers_here)
        .find(|tr| tr.logging == Some(true) && tr.management == Some("all"))
    else {
        return Ok((
            Delivery::NotOn,
            "no trail logs this region's management events (see `irprep logs status`)".into(),
        ));
    };
    if let Some(e) = &tr.delivery_error {
        return Ok((
            Delivery::Failing,
            format!("trail {}: CloudTrail's last delivery failed: {e}", tr.name),
        ));
    }
    let Some(bucket) = tr.bucket.as_deref() else {
        return Ok((
            Delivery::NotChecked,
            format!("trail {} names no bucket", tr.name),
        ));
    };
    let at = match sent {
        Some(at) => *at,
        None => {
            let app = aws_config::AppName::new(format!("irprep-verify-{marker}"))
                .map_err(|e| anyhow!("marker: {e}"))?;
            let conf = aws_sdk_ec2::config::Builder::from(&t.conf)
                .app_name(app)
                .build();
            aws_sdk_ec2::Client::from_conf(conf)
                .describe_regions()
                .send()
                .await
                .map_err(|e| err("ec2:DescribeRegions (the marked call)", e))?;
            let now = chrono::Utc::now();
            *sent = Some(now);
            now
        }
    };
    let kp = tr
        .prefix
        .as_deref()
        .map(|p| format!("{}/", p.trim_end_matches('/')))
        .unwrap_or_default();
    let mut prefixes = vec![];
    for day in [at, chrono::Utc::now()] {
        let d = day.format("%Y/%m/%d");
        prefixes.push(format!(
            "{kp}AWSLogs/{}/CloudTrail/{}/{d}/",
            t.account, t.region
        ));
        if let Some(org) = &layout.org_id {
            prefixes.push(format!(
                "{kp}AWSLogs/{org}/{}/CloudTrail/{}/{d}/",
                t.account, t.region
            ));
        }
    }
    prefixes.dedup();
    let needle = format!("irprep-verify-{marker}");
    let since = at - chrono::Duration::minutes(1);
    let c = crate::s3::client_for_bucket(&t.conf, t.conf.endpoint_url().is_some(), bucket).await;
    for p in &prefixes {
        if let Some(key) = super::find_in_objects(&c, bucket, p, since, needle.as_bytes()).await? {
            return Ok((
                Delivery::Delivering,
                format!("the marked call is in s3://{bucket}/{key}"),
            ));
        }
    }
    let waited = (chrono::Utc::now() - at).num_seconds().max(0);
    Ok((
        Delivery::Waiting,
        format!(
            "marked call sent {waited} s ago, not yet in s3://{bucket}/{} (CloudTrail delivers within about 15 minutes)",
            prefixes[0]
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;
    use aws_sdk_cloudtrail::types::{AdvancedEventSelector, AdvancedFieldSelector, EventSelector};

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
