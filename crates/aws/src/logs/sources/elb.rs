//! Elastic Load Balancing access logs (ALB, NLB, CLB), to a bucket in the same region.

use super::*;

/// The IAM actions this source's status, enable and cleanup call.
pub(super) const ACTIONS: Actions = Actions {
    status: &[
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
    ],
    enable: &["elasticloadbalancing:ModifyLoadBalancerAttributes"],
    cleanup: &["elasticloadbalancing:ModifyLoadBalancerAttributes"],
};

/// The region's load balancers with access logs: (id, name, classic);
/// gateway load balancers have none.
async fn load_balancers(t: &Target) -> Result<Vec<(String, String, bool)>> {
    let v2 = aws_sdk_elasticloadbalancingv2::Client::new(&t.conf);
    let classic = aws_sdk_elasticloadbalancing::Client::new(&t.conf);
    let mut lbs: Vec<(String, String, bool)> = vec![];
    let mut marker = None;
    loop {
        let p = v2
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers (v2)", e))?;
        for lb in p.load_balancers() {
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
    Ok(lbs)
}

/// Where a load balancer's access logs go, `(bucket, prefix)`, or None
/// when they are off.
async fn access_log(t: &Target, id: &str, is_classic: bool) -> Result<Option<(String, String)>> {
    if is_classic {
        let classic = aws_sdk_elasticloadbalancing::Client::new(&t.conf);
        let a = classic
            .describe_load_balancer_attributes()
            .load_balancer_name(id)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
        Ok(a.load_balancer_attributes()
            .and_then(|x| x.access_log())
            .filter(|l| l.enabled())
            .map(|l| {
                (
                    l.s3_bucket_name().unwrap_or("").to_string(),
                    l.s3_bucket_prefix().unwrap_or("").to_string(),
                )
            }))
    } else {
        let v2 = aws_sdk_elasticloadbalancingv2::Client::new(&t.conf);
        let a = v2
            .describe_load_balancer_attributes()
            .load_balancer_arn(id)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
        let attr = |k: &str| {
            a.attributes()
                .iter()
                .find(|x| x.key() == Some(k))
                .and_then(|x| x.value())
                .unwrap_or("")
                .to_string()
        };
        Ok((attr("access_logs.s3.enabled") == "true")
            .then(|| (attr("access_logs.s3.bucket"), attr("access_logs.s3.prefix"))))
    }
}

/// Whether the region's load balancers deliver: the first access-log file
/// under each destination's `AWSLogs/<account>/elasticloadbalancing/<region>/`.
pub(super) async fn verify(t: &Target) -> Result<(Delivery, String)> {
    let mut landings: Vec<Landing> = vec![];
    for (id, name, is_classic) in load_balancers(t).await? {
        if let Some((bucket, prefix)) = access_log(t, &id, is_classic).await? {
            let key = format!(
                "{}AWSLogs/{}/elasticloadbalancing/{}/",
                key_prefix(&prefix),
                t.account,
                t.region
            );
            landings.push(Landing::new(bucket, key, name));
        }
    }
    landed(
        t,
        landings,
        "no load balancer with access logs in this region",
        " (a file every 5 minutes while the load balancer has traffic)",
    )
    .await
}

pub(super) async fn inspect(
    t: &Target,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let lbs = load_balancers(t).await?;
    if lbs.is_empty() {
        f.rows
            .push(row(t, Source::Elb, State::None, "no load balancers"));
        return Ok(());
    }
    let mut missing = vec![];
    for (id, name, is_classic) in &lbs {
        if access_log(t, id, *is_classic).await?.is_none() {
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

pub(super) async fn cleanup(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    let ours = Layout::regional_bucket(&t.account, &t.region);
    // Every page of load balancers (the first page alone left the logs of
    // the rest on after cleanup).
    for (id, name, is_classic) in load_balancers(t).await? {
        let Some((bucket, _)) = access_log(t, &id, is_classic).await? else {
            continue;
        };
        if bucket != ours {
            continue;
        }
        let kind = if is_classic {
            Kind::ElbClassicLogs
        } else {
            Kind::ElbLogs
        };
        if !ledger.has(&t.account, &t.region, kind, &id) {
            f.leave(
                t,
                Source::Elb,
                format!("load balancer {name}"),
                LOGS_NOT_RECORDED,
            );
            continue;
        }
        let op = if is_classic {
            Op::ElbClassicLogsOff { name: id }
        } else {
            Op::ElbV2LogsOff { arn: id }
        };
        f.changes.push(change(
            t,
            Source::Elb,
            "disable",
            format!("load balancer {name}"),
            "access logs irprep turned on",
            op,
        ));
    }
    Ok(())
}

/// Make one of this source's changes; what it creates or removes goes
/// into `records`.
pub(super) async fn apply(conf: &SdkConfig, c: &Change, records: &mut Vec<Record>) -> Result<()> {
    let entry = |kind: Kind, id: &str| Entry::new(&c.account, &c.region, kind, id);
    match &c.op {
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
        _ => bail!("not a change of load balancer logs"),
    }
    Ok(())
}
