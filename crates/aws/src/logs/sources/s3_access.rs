//! S3 server access logs, per bucket, to a bucket in the same region.

use super::*;

/// The IAM actions this source's status, enable and cleanup call.
pub(super) const ACTIONS: Actions = Actions {
    status: &[
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
        "s3:GetBucketLogging",
    ],
    enable: &["s3:PutBucketLogging"],
    cleanup: &["s3:PutBucketLogging"],
};

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

pub(super) async fn inspect(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let c = crate::s3::client(&t.conf, t.conf.endpoint_url().is_some());
    let all = buckets_here(t, &layout.cache).await?;
    let subjects: Vec<&String> = all
        .iter()
        .filter(|b| !bucket::is_irprep_name(b) && **b != layout.central_bucket)
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

pub(super) async fn cleanup(
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

/// Make one of this source's changes; what it creates or removes goes
/// into `records`.
pub(super) async fn apply(conf: &SdkConfig, c: &Change, records: &mut Vec<Record>) -> Result<()> {
    let entry = |kind: Kind, id: &str| Entry::new(&c.account, &c.region, kind, id);
    match &c.op {
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
        _ => bail!("not a change of S3 server access logs"),
    }
    Ok(())
}
