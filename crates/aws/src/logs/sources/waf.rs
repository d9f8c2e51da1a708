//! WAFv2 web ACL logging, to an `aws-waf-logs-` bucket.

use super::*;

/// The IAM actions this source's status, enable and cleanup call.
pub(super) const ACTIONS: Actions = Actions {
    status: &["wafv2:ListWebACLs", "wafv2:GetLoggingConfiguration"],
    enable: &[
        "wafv2:PutLoggingConfiguration",
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
    ],
    cleanup: &["wafv2:DeleteLoggingConfiguration"],
};

async fn web_acls(t: &Target) -> Result<Vec<(String, String, bool)>> {
    web_acls_in(&t.conf, t.region == "us-east-1").await
}

/// The web ACLs `conf`'s region reaches, (ARN, name, CloudFront): the
/// regional ones, and with `cloudfront` (us-east-1 only) CloudFront's.
pub(crate) async fn web_acls_in(
    conf: &SdkConfig,
    cloudfront: bool,
) -> Result<Vec<(String, String, bool)>> {
    use aws_sdk_wafv2::types::Scope;
    let w = aws_sdk_wafv2::Client::new(conf);
    let mut out = vec![];
    let mut scopes = vec![Scope::Regional];
    if cloudfront {
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

/// Whether the region's web ACLs deliver: the first file under each S3
/// destination's `AWSLogs/<account>/WAFLogs/<region|cloudfront>/<web ACL>/`.
/// Destinations that are not S3 (CloudWatch Logs, Firehose) are named, not
/// checked.
pub(super) async fn verify(t: &Target) -> Result<(Delivery, String)> {
    let mut landings = vec![];
    let mut elsewhere = vec![];
    for (arn, name, cloudfront) in web_acls(t).await? {
        for dest in waf_logging(t, &arn).await?.unwrap_or_default() {
            match s3_arn(&dest) {
                Some((bucket, prefix)) => {
                    let place = if cloudfront {
                        "cloudfront"
                    } else {
                        t.region.as_str()
                    };
                    let key = format!("{prefix}AWSLogs/{}/WAFLogs/{place}/{name}/", t.account);
                    landings.push(Landing::new(bucket, key, name.clone()));
                }
                None => elsewhere.push(format!("{name} -> {dest}")),
            }
        }
    }
    if landings.is_empty() && !elsewhere.is_empty() {
        return Ok((
            Delivery::NotChecked,
            format!(
                "logging to a destination other than S3: {}",
                elsewhere.join(", ")
            ),
        ));
    }
    landed(
        t,
        landings,
        "no web ACL logging to S3 in this region",
        " (WAF writes a file every 5 minutes while the web ACL sees requests)",
    )
    .await
}

pub(super) async fn inspect(
    t: &Target,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
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

pub(super) async fn cleanup(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
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

/// Make one of this source's changes; what it creates or removes goes
/// into `records`.
pub(super) async fn apply(conf: &SdkConfig, c: &Change, records: &mut Vec<Record>) -> Result<()> {
    let entry = |kind: Kind, id: &str| Entry::new(&c.account, &c.region, kind, id);
    match &c.op {
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
        _ => bail!("not a change of WAF logging"),
    }
    Ok(())
}
