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

/// The account's buckets, each with its region, and those whose region
/// could not be read (with why). Asked once per account and run.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Buckets {
    located: Vec<(String, String)>,
    unknown: Vec<(String, String)>,
}

/// The account's buckets in this target's region, and (in the home region
/// only, so each is said once) those whose region could not be read.
async fn buckets_here(t: &Target, cache: &Cache) -> Result<(Vec<String>, Vec<(String, String)>)> {
    let all = cache
        .get_or_try(&format!("buckets:{}", t.account), || async {
            Ok(serde_json::to_value(bucket_regions(t).await?)?)
        })
        .await?;
    let all: Buckets = serde_json::from_value(all)?;
    let here = all
        .located
        .into_iter()
        .filter(|(_, r)| *r == t.region)
        .map(|(n, _)| n)
        .collect();
    Ok((here, if t.home { all.unknown } else { vec![] }))
}

/// Every bucket of the account (ListBuckets, paginated: S3 refuses the
/// unpaginated call in accounts allowed more than 10,000 buckets) and its
/// region. A bucket whose location cannot be read (a policy that denies
/// GetBucketLocation) is set aside with the reason; it does not make the
/// account's check fail.
async fn bucket_regions(t: &Target) -> Result<Buckets> {
    let c = crate::s3::client(&t.conf, t.conf.endpoint_url().is_some());
    let mut out = Buckets::default();
    let mut pages = c.list_buckets().max_buckets(1000).into_paginator().send();
    while let Some(p) = pages.next().await {
        let p = p.map_err(|e| bucket::s3err("s3:ListBuckets", e))?;
        for b in p.buckets() {
            let Some(name) = b.name() else { continue };
            if let Some(r) = b.bucket_region() {
                out.located.push((name.to_string(), r.to_string()));
                continue;
            }
            match c.get_bucket_location().bucket(name).send().await {
                Ok(loc) => {
                    let region = match loc.location_constraint().map(|l| l.as_str().to_string()) {
                        None => "us-east-1".into(),
                        Some(s) if s.is_empty() => "us-east-1".into(),
                        Some(s) if s == "EU" => "eu-west-1".into(),
                        Some(s) => s,
                    };
                    out.located.push((name.to_string(), region));
                }
                Err(e) => out.unknown.push((
                    name.to_string(),
                    format!("{:#}", bucket::s3err("s3:GetBucketLocation", e)),
                )),
            }
        }
    }
    out.located.sort();
    Ok(out)
}

pub(super) async fn inspect(
    t: &Target,
    layout: &Layout,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let c = crate::s3::client(&t.conf, t.conf.endpoint_url().is_some());
    let (all, unknown) = buckets_here(t, &layout.cache).await?;
    let subjects: Vec<&String> = all
        .iter()
        .filter(|b| !bucket::is_irprep_name(b) && **b != layout.central_bucket)
        .collect();
    // Buckets irprep could not read (their region, their logging): named,
    // counted as not covered, and never a reason to fail the others.
    let mut unreadable: Vec<String> = unknown
        .iter()
        .map(|(b, why)| format!("{b} (region unknown: {why})"))
        .collect();
    if subjects.is_empty() && unreadable.is_empty() {
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
        match c.get_bucket_logging().bucket(b.as_str()).send().await {
            Ok(l) if l.logging_enabled().is_none() => missing.push((*b).clone()),
            Ok(_) => {}
            Err(e) => unreadable.push(format!(
                "{b} ({:#})",
                bucket::s3err("s3:GetBucketLogging", e)
            )),
        }
    }
    let state = coverage(
        missing.len() + unreadable.len(),
        subjects.len() + unknown.len(),
    );
    let mut reason = if missing.is_empty() {
        format!(
            "{} bucket(s) logged",
            subjects.len() + unknown.len() - unreadable.len()
        )
    } else {
        format!("not logged: {}", missing.join(", "))
    };
    if !unreadable.is_empty() {
        reason.push_str(&format!("; could not be read: {}", unreadable.join(", ")));
    }
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
            // Date-based keys (<prefix><account>/<region>/<bucket>/<yyyy>/<mm>/<dd>/),
            // the layout the s3access table over s3://<target>/s3-access/ projects.
            format!(
                "server access logs to s3://{target}/s3-access/{}/{}/{b}/yyyy/mm/dd/ (date-based keys)",
                t.account, t.region
            ),
            Op::PutBucketLogging {
                prefix: "s3-access/".into(),
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

/// Whether the region's buckets deliver server access logs: the first file
/// under each target (date-based keys: `<prefix><account>/<region>/<bucket>/`;
/// simple keys: the target prefix). S3 reports no delivery status, and
/// delivers on a best-effort basis, usually within hours of a request.
pub(super) async fn verify(t: &Target, layout: &Layout) -> Result<(Delivery, String)> {
    let c = crate::s3::client(&t.conf, t.conf.endpoint_url().is_some());
    let (here, _) = buckets_here(t, &layout.cache).await?;
    let mut landings = vec![];
    let mut unreadable = vec![];
    for b in &here {
        let l = match c.get_bucket_logging().bucket(b.as_str()).send().await {
            Ok(l) => l,
            Err(e) => {
                unreadable.push(format!(
                    "{b} ({:#})",
                    bucket::s3err("s3:GetBucketLogging", e)
                ));
                continue;
            }
        };
        let Some(on) = l.logging_enabled() else {
            continue;
        };
        let prefix = on.target_prefix();
        let date_based = on
            .target_object_key_format()
            .is_some_and(|f| f.partitioned_prefix().is_some());
        let key = if date_based {
            format!("{prefix}{}/{}/{b}/", t.account, t.region)
        } else {
            prefix.to_string()
        };
        landings.push(Landing::new(on.target_bucket(), key, b.clone()));
    }
    if landings.is_empty() && !unreadable.is_empty() {
        return Ok((
            Delivery::NotChecked,
            format!("could not be read: {}", unreadable.join(", ")),
        ));
    }
    let (state, mut detail) = landed(
        t,
        landings,
        "no bucket with server access logs in this region",
        " (S3 writes access logs on a best-effort basis, usually within a few hours of a request to the bucket)",
    )
    .await?;
    if !unreadable.is_empty() {
        detail.push_str(&format!("; could not be read: {}", unreadable.join(", ")));
    }
    Ok((state, detail))
}

pub(super) async fn cleanup(
    t: &Target,
    cache: &Cache,
    ledger: &Ledger,
    f: &mut Found,
) -> Result<()> {
    let c = crate::s3::client(&t.conf, t.conf.endpoint_url().is_some());
    for b in buckets_here(t, cache).await?.0 {
        // One bucket whose logging cannot be read (a policy that denies the
        // caller) costs itself alone (review finding 19): irprep's own
        // change there is named, the other buckets are cleaned up.
        let l = match c
            .get_bucket_logging()
            .bucket(&b)
            .expected_bucket_owner(&t.account)
            .send()
            .await
        {
            Ok(l) => l,
            Err(e) => {
                if ledger.has(&t.account, &t.region, Kind::BucketLogging, &b) {
                    let why = bucket::s3err("s3:GetBucketLogging", e);
                    f.leave(
                        t,
                        Source::S3Access,
                        format!("s3://{b}"),
                        &format!(
                            "irprep turned its access logging on, but its logging cannot be read now ({why}): left as it is"
                        ),
                    );
                }
                continue;
            }
        };
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
            use aws_sdk_s3::types::{
                BucketLoggingStatus, LoggingEnabled, PartitionDateSource, PartitionedPrefix,
                TargetObjectKeyFormat,
            };
            let s = crate::s3::client(conf, conf.endpoint_url().is_some());
            // Date-based keys, dated by the request's time: the layout whose
            // partitions the s3access table projects (one prefix for every
            // bucket; the key names the source bucket).
            let format = TargetObjectKeyFormat::builder()
                .partitioned_prefix(
                    PartitionedPrefix::builder()
                        .partition_date_source(PartitionDateSource::EventTime)
                        .build(),
                )
                .build();
            let le = LoggingEnabled::builder()
                .target_bucket(target_bucket)
                .target_prefix(prefix)
                .target_object_key_format(format)
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
