//! Route 53 Resolver query logs: one config per region, associated with each VPC.

use super::*;

/// The IAM actions this source's status, enable and cleanup call.
pub(super) const ACTIONS: Actions = Actions {
    status: &[
        "ec2:DescribeVpcs",
        "route53resolver:ListResolverQueryLogConfigAssociations",
        "route53resolver:ListResolverQueryLogConfigs",
    ],
    enable: &[
        "route53resolver:CreateResolverQueryLogConfig",
        "route53resolver:AssociateResolverQueryLogConfig",
        "route53resolver:TagResource",
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
    ],
    cleanup: &[
        "route53resolver:ListTagsForResource",
        "route53resolver:DisassociateResolverQueryLogConfig",
        "route53resolver:DeleteResolverQueryLogConfig",
    ],
};

fn resolver_config_name(region: &str) -> String {
    format!("irprep-query-logs-{region}")
}

pub(super) async fn inspect(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let Some((vpcs, shared)) = own_vpcs(t, layout, Source::Dns, f).await? else {
        return Ok(());
    };
    let r = aws_sdk_route53resolver::Client::new(&t.conf);
    let mut covered = BTreeSet::new();
    for a in associations(&r).await? {
        let live = a
            .status()
            .is_none_or(|s| matches!(s.as_str(), "ACTIVE" | "CREATING"));
        if let (true, Some(v)) = (live, a.resource_id()) {
            covered.insert(v.to_string());
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
    f.rows
        .push(row(t, Source::Dns, state, format!("{reason}{shared}")));
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

/// Every query-log config of the region (paginated).
async fn configs(
    r: &aws_sdk_route53resolver::Client,
) -> Result<Vec<aws_sdk_route53resolver::types::ResolverQueryLogConfig>> {
    let mut out = vec![];
    let mut next = None;
    loop {
        let p = r
            .list_resolver_query_log_configs()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("route53resolver:ListResolverQueryLogConfigs", e))?;
        out.extend(p.resolver_query_log_configs().iter().cloned());
        next = p.next_token().map(String::from);
        if next.is_none() {
            return Ok(out);
        }
    }
}

/// Every query-log config association of the region (paginated).
async fn associations(
    r: &aws_sdk_route53resolver::Client,
) -> Result<Vec<aws_sdk_route53resolver::types::ResolverQueryLogConfigAssociation>> {
    let mut out = vec![];
    let mut next = None;
    loop {
        let p = r
            .list_resolver_query_log_config_associations()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("route53resolver:ListResolverQueryLogConfigAssociations", e))?;
        out.extend(p.resolver_query_log_config_associations().iter().cloned());
        next = p.next_token().map(String::from);
        if next.is_none() {
            return Ok(out);
        }
    }
}

/// Whether the region's Resolver query logs deliver: the service's status
/// of each query-log config to S3 and of each VPC association (FAILED or
/// ACTION_NEEDED, with its error, is failing), then the first file under
/// `AWSLogs/<account>/vpcdnsquerylogs/<vpc>/` for each associated VPC.
pub(super) async fn verify(t: &Target) -> Result<(Delivery, String)> {
    let r = aws_sdk_route53resolver::Client::new(&t.conf);
    let mut to_s3: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut failing = vec![];
    for c in configs(&r).await? {
        let (Some(id), Some(dest)) = (c.id(), c.destination_arn()) else {
            continue;
        };
        let Some((bucket, prefix)) = s3_arn(dest) else {
            continue;
        };
        if c.status().is_some_and(|s| s.as_str() == "FAILED") {
            failing.push(format!(
                "query-log config {}: FAILED",
                c.name().unwrap_or(id)
            ));
        }
        to_s3.insert(id.to_string(), (bucket, prefix));
    }
    let mut landings = vec![];
    for a in associations(&r).await? {
        let (Some(cid), Some(vpc)) = (a.resolver_query_log_config_id(), a.resource_id()) else {
            continue;
        };
        let Some((bucket, prefix)) = to_s3.get(cid) else {
            continue;
        };
        match a.status().map(|s| s.as_str().to_string()).as_deref() {
            Some("FAILED") | Some("ACTION_NEEDED") => failing.push(format!(
                "{vpc}: {} {}",
                a.error().map(|e| e.as_str()).unwrap_or("delivery error"),
                a.error_message().unwrap_or("")
            )),
            Some("DELETING") => {}
            _ => landings.push(Landing::new(
                bucket.clone(),
                format!("{prefix}AWSLogs/{}/vpcdnsquerylogs/{vpc}/", t.account),
                vpc.to_string(),
            )),
        }
    }
    if !failing.is_empty() {
        return Ok((Delivery::Failing, failing.join("; ").trim().to_string()));
    }
    landed(
        t,
        landings,
        "no VPC associated with a query-log config to S3 in this region",
        " (Resolver writes within minutes of the VPC's first DNS query)",
    )
    .await
}

async fn find_resolver_config(
    r: &aws_sdk_route53resolver::Client,
    name: &str,
) -> Result<Option<String>> {
    Ok(configs(r)
        .await?
        .iter()
        .find(|c| c.name() == Some(name))
        .and_then(|c| c.id().map(String::from)))
}

pub(super) async fn cleanup(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    let r = aws_sdk_route53resolver::Client::new(&t.conf);
    let configs = configs(&r).await?;
    // Every association of the region, every page, read once for all configs.
    let assocs = if configs.is_empty() {
        vec![]
    } else {
        associations(&r).await?
    };
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
                    && c.creator_request_id()
                        .is_some_and(|r| r.starts_with(&format!("irprep-{name}")));
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
        for a in &assocs {
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

/// Make one of this source's changes; what it creates or removes goes
/// into `records`.
pub(super) async fn apply(
    conf: &SdkConfig,
    c: &Change,
    installation: &str,
    resolver_ids: &mut BTreeMap<(String, String, String), String>,
    records: &mut Vec<Record>,
) -> Result<()> {
    let entry = |kind: Kind, id: &str| Entry::new(&c.account, &c.region, kind, id);
    match &c.op {
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
                // An idempotency token: one per request, so a config made
                // again after cleanup is not refused or replayed as the old
                // one (review finding 21).
                .creator_request_id(format!(
                    "irprep-{name}-{:016x}",
                    crate::logs::ledger::random_u64()
                ))
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
        _ => bail!("not a change of Resolver query logs"),
    }
    Ok(())
}
