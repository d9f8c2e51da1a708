//! `--kms-key`: a customer managed key only works for log delivery when its
//! key policy lets the delivering service use it. CloudTrail encrypts its
//! files with the trail's key (and writes into a bucket whose default is
//! SSE-KMS); VPC Flow Logs, Resolver query logs and WAF deliver as
//! `delivery.logs.amazonaws.com` and need the key of an SSE-KMS bucket. A
//! key whose policy does not say so makes CreateTrail fail, or delivery fail
//! silently; irprep never edits a key policy, so the plan is refused with the
//! statement to add instead.

use anyhow::{anyhow, Result};
use aws_config::SdkConfig;
use serde_json::{json, Value};

use super::bucket::BucketOp;
use super::{Change, Op};

/// A service that must be allowed to use a key, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub key: String,
    /// Where a key named by id or alias lives (a bucket's key is in the
    /// bucket's region); a key ARN names its own.
    pub region: Option<String>,
    pub service: &'static str,
    pub why: String,
}

/// What the planned changes need of their KMS keys.
pub fn needs(changes: &[Change], delivery: bool, cloudtrail: bool) -> Vec<Need> {
    let mut out = vec![];
    for c in changes {
        match &c.op {
            Op::CreateTrail {
                kms_key: Some(k), ..
            } => out.push(Need {
                key: k.clone(),
                region: None,
                service: "cloudtrail.amazonaws.com",
                why: "the trail's log files".into(),
            }),
            Op::Bucket(BucketOp::PutEncryption {
                name,
                kms_key: Some(k),
            }) => {
                if delivery {
                    out.push(Need {
                        key: k.clone(),
                        region: None,
                        service: "delivery.logs.amazonaws.com",
                        why: format!("flow, Resolver and WAF logs into s3://{name} (SSE-KMS)"),
                    });
                }
                if cloudtrail {
                    out.push(Need {
                        key: k.clone(),
                        region: None,
                        service: "cloudtrail.amazonaws.com",
                        why: format!("trail files into s3://{name} (SSE-KMS)"),
                    });
                }
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| (&a.key, a.service).cmp(&(&b.key, b.service)));
    out.dedup_by(|a, b| a.key == b.key && a.service == b.service);
    out
}

/// What a user's `--bucket` needs of its own default key (SSE-KMS): every
/// object written without a key of its own is encrypted with it, so each
/// service that this plan points at the bucket must be allowed to use it:
/// `delivery.logs` for the flow logs and Resolver query logs it creates
/// there, CloudTrail for a trail it creates there without `--kms-key`. What
/// already delivers there is not the plan's to judge. `key` is `None` for
/// the AWS managed key `aws/s3`; `region` is the bucket's.
pub fn bucket_needs(
    changes: &[Change],
    bucket: &str,
    key: Option<&str>,
    region: Option<&str>,
) -> Vec<Need> {
    let key = key.unwrap_or(AWS_S3_KEY).to_string();
    let into_it = |d: &str| {
        d.strip_prefix("arn:")
            .and_then(|d| d.split_once(":::"))
            .is_some_and(|(_, rest)| rest.split('/').next() == Some(bucket))
    };
    let delivery = changes.iter().any(|c| match &c.op {
        Op::CreateFlowLogs { destination, .. } | Op::CreateResolverConfig { destination, .. } => {
            into_it(destination)
        }
        _ => false,
    });
    let cloudtrail = changes
        .iter()
        .any(|c| matches!(&c.op, Op::CreateTrail { bucket: b, kms_key: None, .. } if b == bucket));
    let need = |service: &'static str, what: &str| Need {
        key: key.clone(),
        region: region.map(String::from),
        service,
        why: format!("{what} into s3://{bucket} (its default encryption)"),
    };
    let mut out = vec![];
    if delivery {
        out.push(need(
            "delivery.logs.amazonaws.com",
            "flow and Resolver logs",
        ));
    }
    if cloudtrail {
        out.push(need("cloudtrail.amazonaws.com", "trail files"));
    }
    out
}

/// The AWS managed key S3 uses for SSE-KMS when a bucket names none.
pub const AWS_S3_KEY: &str = "alias/aws/s3";

/// Whether a key policy lets `service` call `action`: an Allow statement
/// naming the service as principal (or `*`), with the action or a wildcard
/// that covers it. Conditions are not judged (they narrow, and AWS's own
/// examples carry source conditions).
pub fn allows(policy: &Value, service: &str, action: &str) -> bool {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => vec![],
        }
    };
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => vec![],
    };
    statements.iter().any(|s| {
        let principal = match &s["Principal"] {
            Value::String(p) => p == "*",
            p => {
                list(&p["Service"]).iter().any(|x| x == service)
                    || list(&p["AWS"]).iter().any(|x| x == "*")
            }
        };
        let action_ok = list(&s["Action"]).iter().any(|a| {
            let a = a.to_ascii_lowercase();
            let want = action.to_ascii_lowercase();
            a == "*" || a == want || a.strip_suffix('*').is_some_and(|p| want.starts_with(p))
        });
        s["Effect"] == "Allow" && principal && action_ok
    })
}

/// The statement AWS documents for a service's use of a key.
pub fn statement(service: &str) -> Value {
    json!({
        "Sid": format!("Allow{}", service.split('.').next().unwrap_or("Service")),
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt", "kms:DescribeKey"],
        "Resource": "*",
    })
}

/// Why a key cannot serve a need, and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Remedy {
    /// Add this statement to the key policy.
    Statement(Value),
    /// An AWS managed key: its policy cannot be changed, and it serves only
    /// its own service for the account's own principals.
    AwsManaged,
}

/// The needs a key's policy does not meet, each with its remedy. A key
/// given by ARN is read in its own region. An AWS managed key (`aws/s3`,
/// which S3 uses for SSE-KMS when a bucket names no key) meets none:
/// delivery services cannot use it (AWS's vended-logs documentation asks for
/// a customer managed key), and its policy cannot be edited.
pub async fn unmet(conf: &SdkConfig, needs: &[Need]) -> Result<Vec<(Need, Remedy)>> {
    let mut out = vec![];
    let mut keys: Vec<&str> = needs.iter().map(|n| n.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    let wire =
        crate::wire::WireClient::new(conf, conf.endpoint_url().map(String::from), None).await?;
    let home = conf
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_else(|| "us-east-1".into());
    for key in keys {
        let of_key = || needs.iter().filter(move |n| n.key == key);
        if key == AWS_S3_KEY {
            out.extend(of_key().map(|n| (n.clone(), Remedy::AwsManaged)));
            continue;
        }
        // A key ARN is read in its own region, a key id or alias in the
        // region the need names (a bucket's), else the home region.
        let hint = needs
            .iter()
            .find(|n| n.key == key)
            .and_then(|n| n.region.clone());
        let region_of = |k: &str| {
            k.split(':')
                .nth(3)
                .filter(|r| k.starts_with("arn:") && !r.is_empty())
                .map(String::from)
        };
        let region = region_of(key).or(hint).unwrap_or_else(|| home.clone());
        let call = |op: &'static str, body: Value, region: String| {
            let wire = &wire;
            async move {
                let r = wire.call("kms", op, &region, &body).await?;
                if !r.ok() {
                    return Err(anyhow!(
                        "kms:{op} {key}: {} {}",
                        r.error_code.unwrap_or_default(),
                        r.error_message.unwrap_or_default()
                    ));
                }
                Ok::<Value, anyhow::Error>(serde_json::from_str(&r.body).unwrap_or(Value::Null))
            }
        };
        // DescribeKey takes an id, an alias or an ARN; GetKeyPolicy only the
        // first and last, so it is asked with the ARN DescribeKey gives.
        let described = call("DescribeKey", json!({"KeyId": key}), region.clone()).await?;
        if described["KeyMetadata"]["KeyManager"] == "AWS" {
            out.extend(of_key().map(|n| (n.clone(), Remedy::AwsManaged)));
            continue;
        }
        let arn = described["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap_or(key)
            .to_string();
        let at = region_of(&arn).unwrap_or(region);
        let answer = call(
            "GetKeyPolicy",
            json!({"KeyId": arn, "PolicyName": "default"}),
            at,
        )
        .await?;
        let policy: Value = serde_json::from_str(answer["Policy"].as_str().unwrap_or("{}"))
            .map_err(|e| anyhow!("the key policy of {key} is not JSON: {e}"))?;
        for n in of_key() {
            if !allows(&policy, n.service, "kms:GenerateDataKey") {
                out.push((n.clone(), Remedy::Statement(statement(n.service))));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_policy_allows_a_service_only_when_it_says_so() {
        let root = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]});
        assert!(!allows(
            &root,
            "cloudtrail.amazonaws.com",
            "kms:GenerateDataKey"
        ));
        let ct = json!({"Statement": [statement("cloudtrail.amazonaws.com")]});
        assert!(allows(
            &ct,
            "cloudtrail.amazonaws.com",
            "kms:GenerateDataKey"
        ));
        assert!(!allows(
            &ct,
            "delivery.logs.amazonaws.com",
            "kms:GenerateDataKey"
        ));
        let listed = json!({"Statement": {"Effect": "Allow", "Principal": {"Service": ["delivery.logs.amazonaws.com"]}, "Action": ["kms:Encrypt", "kms:GenerateDataKey*"]}});
        assert!(allows(
            &listed,
            "delivery.logs.amazonaws.com",
            "kms:GenerateDataKey"
        ));
        let denied = json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*"}]});
        assert!(!allows(
            &denied,
            "cloudtrail.amazonaws.com",
            "kms:GenerateDataKey"
        ));
    }
}
