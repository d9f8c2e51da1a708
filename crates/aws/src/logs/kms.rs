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
                        service: "delivery.logs.amazonaws.com",
                        why: format!("flow, Resolver and WAF logs into s3://{name} (SSE-KMS)"),
                    });
                }
                if cloudtrail {
                    out.push(Need {
                        key: k.clone(),
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

/// The needs a key's policy does not meet, each with the statement to add.
/// A key given by ARN is read in its own region.
pub async fn unmet(conf: &SdkConfig, needs: &[Need]) -> Result<Vec<(Need, Value)>> {
    let mut out = vec![];
    let mut keys: Vec<&str> = needs.iter().map(|n| n.key.as_str()).collect();
    keys.dedup();
    let wire =
        crate::wire::WireClient::new(conf, conf.endpoint_url().map(String::from), None).await?;
    let home = conf
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_else(|| "us-east-1".into());
    for key in keys {
        // A key given by ARN is read in its own region.
        let region = key
            .split(':')
            .nth(3)
            .filter(|r| key.starts_with("arn:") && !r.is_empty())
            .unwrap_or(&home);
        let r = wire
            .call(
                "kms",
                "GetKeyPolicy",
                region,
                &json!({"KeyId": key, "PolicyName": "default"}),
            )
            .await?;
        if !r.ok() {
            return Err(anyhow!(
                "kms:GetKeyPolicy {key}: {} {}",
                r.error_code.unwrap_or_default(),
                r.error_message.unwrap_or_default()
            ));
        }
        let answer: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        let policy: Value = serde_json::from_str(answer["Policy"].as_str().unwrap_or("{}"))
            .map_err(|e| anyhow!("the key policy of {key} is not JSON: {e}"))?;
        for n in needs.iter().filter(|n| n.key == key) {
            if !allows(&policy, n.service, "kms:GenerateDataKey") {
                out.push((n.clone(), statement(n.service)));
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
