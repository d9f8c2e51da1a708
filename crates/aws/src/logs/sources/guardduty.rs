//! GuardDuty detectors and the export of their findings.

use super::*;

/// The IAM actions this source's status, enable and cleanup call.
pub(super) const ACTIONS: Actions = Actions {
    status: &["guardduty:ListDetectors", "guardduty:GetDetector"],
    enable: &[
        "guardduty:CreateDetector",
        "guardduty:UpdateDetector",
        "guardduty:TagResource",
        "guardduty:ListPublishingDestinations",
        "guardduty:CreatePublishingDestination",
        "kms:CreateKey",
        "kms:TagResource",
    ],
    cleanup: &[
        "guardduty:DeleteDetector",
        "guardduty:DeletePublishingDestination",
        "kms:ScheduleKeyDeletion",
    ],
};

pub(super) async fn inspect(
    t: &Target,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
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

pub(super) async fn cleanup(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
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
            let partition = crate::logs::partition(&c.region);
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
        _ => bail!("not a change of GuardDuty"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
