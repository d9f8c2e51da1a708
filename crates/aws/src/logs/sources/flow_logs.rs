//! VPC Flow Logs, per VPC.

use super::*;

/// The IAM actions this source's status, enable and cleanup call.
pub(super) const ACTIONS: Actions = Actions {
    status: &["ec2:DescribeVpcs", "ec2:DescribeFlowLogs"],
    enable: &[
        "ec2:CreateFlowLogs",
        "ec2:CreateTags",
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
    ],
    cleanup: &["ec2:DeleteFlowLogs"],
};

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

pub(super) async fn inspect(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let Some((vpcs, shared)) = own_vpcs(t, layout, Source::VpcFlow, f).await? else {
        return Ok(());
    };
    let logs = flow_logs_of(t, None).await?;
    let (uncovered, failing, why) = judge_flow_logs(&vpcs, &logs);
    let state = coverage(uncovered.len() + failing.len(), vpcs.len());
    let reason = if uncovered.is_empty() && failing.is_empty() {
        format!("{} VPC(s), all with an active ALL flow log", vpcs.len())
    } else {
        why.join("; ")
    };
    f.rows
        .push(row(t, Source::VpcFlow, state, format!("{reason}{shared}")));
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
            "traffic ALL, {} s aggregation, {} to s3://{}/AWSLogs/{}{}, every field v2-v8 (the vpcflow table's order)",
            o.flow_interval,
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
            interval: o.flow_interval,
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

pub(super) async fn cleanup(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
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
        Op::CreateFlowLogs {
            vpcs,
            destination,
            log_format,
            parquet,
            hive,
            hourly,
            interval,
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
                .max_aggregation_interval(*interval)
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
        _ => bail!("not a change of VPC flow logs"),
    }
    Ok(())
}

/// Whether this region's flow logs deliver: EC2's own delivery status,
/// then the first object under the layout's prefix in each destination.
pub(super) async fn verify(t: &Target) -> Result<(Delivery, String)> {
    let logs: Vec<aws_sdk_ec2::types::FlowLog> = flow_logs_of(t, None)
        .await?
        .into_iter()
        .filter(|l| l.log_destination_type().map(|d| d.as_str()) == Some("s3"))
        .collect();
    if logs.is_empty() {
        return Ok((Delivery::NotOn, "no flow log to S3 in this region".into()));
    }
    let failing: Vec<String> = logs
        .iter()
        .filter(|l| l.deliver_logs_status() == Some("FAILED"))
        .map(|l| {
            format!(
                "{}: {}",
                l.flow_log_id().unwrap_or("?"),
                l.deliver_logs_error_message().unwrap_or("delivery failed")
            )
        })
        .collect();
    if !failing.is_empty() {
        return Ok((Delivery::Failing, failing.join("; ")));
    }
    let mut waiting = vec![];
    let mut dests: Vec<(String, String, bool)> = logs
        .iter()
        .filter_map(|l| {
            let (bucket, prefix) = super::s3_arn(l.log_destination()?)?;
            let hive = l
                .destination_options()
                .and_then(|o| o.hive_compatible_partitions())
                .unwrap_or(false);
            Some((bucket, prefix, hive))
        })
        .collect();
    dests.sort();
    dests.dedup();
    for (bucket, p, hive) in dests {
        let key = if hive {
            format!(
                "{p}AWSLogs/aws-account-id={}/aws-service=vpcflowlogs/aws-region={}/",
                t.account, t.region
            )
        } else {
            format!("{p}AWSLogs/{}/vpcflowlogs/{}/", t.account, t.region)
        };
        let c =
            crate::s3::client_for_bucket(&t.conf, t.conf.endpoint_url().is_some(), &bucket).await;
        match super::first_object(&c, &bucket, &key).await? {
            Some(k) => return Ok((Delivery::Delivering, format!("s3://{bucket}/{k}"))),
            None => waiting.push(format!("s3://{bucket}/{key}")),
        }
    }
    let oldest = logs
        .iter()
        .filter_map(|l| l.creation_time())
        .map(|t| t.secs())
        .min();
    let since = oldest
        .map(|s| format!(" (the oldest flow log was made {} min ago; the first file comes within about 10 minutes)", (chrono::Utc::now().timestamp() - s).max(0) / 60))
        .unwrap_or_default();
    Ok((
        Delivery::Waiting,
        format!("nothing yet under {}{since}", waiting.join(", ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
