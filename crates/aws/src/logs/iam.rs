//! Least privilege: the IAM actions each command calls, as data. `irprep
//! iam-policy <command>` prints them as a policy; `logs role-template` puts
//! the logs ones in the member-account role; a test runs `logs status` and
//! `logs enable` on the emulator as a user holding only these.

use serde_json::{json, Value};

use super::sources::{Actions, ACTIONS};

/// What every `logs` command calls besides its sources: the caller, its
/// regions.
const LOGS_COMMON: &[&str] = &["sts:GetCallerIdentity", "ec2:DescribeRegions"];

/// The log buckets `enable` makes and configures, and the service-linked
/// roles the services create on first use.
const LOGS_ENABLE_COMMON: &[&str] = &[
    "s3:CreateBucket",
    "s3:PutBucketTagging",
    "s3:GetBucketTagging",
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:GetBucketObjectLockConfiguration",
    // --kms-key, or the default key of the user's --bucket: its policy must
    // let the delivering services use it (and an AWS managed key cannot).
    "kms:GetKeyPolicy",
    "kms:DescribeKey",
    // HeadBucket: the region of a bucket the user names (--bucket).
    "s3:ListBucket",
    "iam:CreateServiceLinkedRole",
    "iam:GetRole",
];

/// Removing irprep's log buckets (`cleanup --delete-buckets`).
const LOGS_CLEANUP_COMMON: &[&str] = &[
    "s3:GetBucketTagging",
    "s3:ListBucketVersions",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
];

/// A `logs` command's actions: the common ones, and each source's share.
fn logs(
    common: &[&'static str],
    part: fn(&Actions) -> &'static [&'static str],
) -> Vec<&'static str> {
    let mut v = common.to_vec();
    for a in ACTIONS {
        v.extend_from_slice(part(a));
    }
    v
}

/// irprep's ledger of what it made (SSM Parameter Store, home account and
/// region, under `/irprep/`).
const LEDGER: &[&str] = &[
    "ssm:GetParameter",
    "ssm:GetParametersByPath",
    "ssm:PutParameter",
    "ssm:DeleteParameters",
];

const ORG: &[&str] = &[
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "organizations:ListAWSServiceAccessForOrganization",
    "sts:AssumeRole",
];

const ANALYTICS_DEPLOY: &[&str] = &[
    "sts:GetCallerIdentity",
    // --flow-log-id: the flow log's own format and layout.
    "ec2:DescribeFlowLogs",
    // Partition values of a table whose logs have not arrived yet, read off
    // the estate (analytics::estate_values).
    "ec2:DescribeRegions",
    "ec2:DescribeVpcs",
    "organizations:ListAccounts",
    "s3:ListAllMyBuckets",
    "wafv2:ListWebACLs",
    "eks:ListClusters",
    "s3:ListBucket",
    "glue:GetDatabase",
    "glue:CreateDatabase",
    "glue:GetTable",
    "glue:CreateTable",
    "glue:UpdateTable",
    "athena:GetWorkGroup",
    "athena:CreateWorkGroup",
    "athena:UpdateWorkGroup",
    "athena:TagResource",
    "athena:ListTagsForResource",
    "athena:ListNamedQueries",
    "athena:GetNamedQuery",
    "athena:CreateNamedQuery",
    "athena:UpdateNamedQuery",
];

const ANALYTICS_DESTROY: &[&str] = &[
    "sts:GetCallerIdentity",
    "glue:GetDatabase",
    "glue:GetTables",
    "glue:DeleteTable",
    "glue:DeleteDatabase",
    "athena:GetWorkGroup",
    "athena:ListTagsForResource",
    "athena:DeleteWorkGroup",
];

const ATHENA_QUERY: &[&str] = &[
    // Results Athena writes in parts, and logs or results under SSE-KMS.
    "s3:ListBucketMultipartUploads",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "athena:GetWorkGroup",
    "glue:GetDatabase",
    "glue:GetTable",
    // The tables' date-partition formats, for the time window.
    "glue:GetTables",
    "glue:GetPartitions",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:PutObject",
];

// Log objects under SSE-KMS (a trail with a KMS key, a bucket whose default
// encryption is SSE-KMS) are read only with kms:Decrypt on their key.
const S3_LOGS: &[&str] = &["s3:ListBucket", "s3:GetObject", "kms:Decrypt"];

const LOGS_VALIDATE: &[&str] = &[
    "s3:ListBucket",
    "s3:GetObject",
    "kms:Decrypt",
    "cloudtrail:ListPublicKeys",
];

/// `logs collect`: the caller and its regions (as `logs status` finds them),
/// event history, EKS clusters and their audit log groups.
const LOGS_COLLECT: &[&str] = &[
    "sts:GetCallerIdentity",
    "ec2:DescribeRegions",
    "cloudtrail:LookupEvents",
    "eks:ListClusters",
    "logs:FilterLogEvents",
];

/// The bucket-configuration writes of `logs enable`, which in a member
/// account only ever concern irprep's own buckets.
const MEMBER_BUCKET_CONFIG: &[&str] = &[
    "s3:CreateBucket",
    "s3:PutBucketTagging",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
];

/// The commands with a policy, and what each needs.
pub fn commands() -> Vec<(&'static str, &'static str)> {
    vec![
        ("logs-status", "irprep logs status"),
        (
            "logs-enable",
            "irprep logs enable (its plan is a status run)",
        ),
        ("logs-cleanup", "irprep logs cleanup"),
        (
            "logs-verify",
            "irprep logs verify (status reads, the marked call, the delivery files)",
        ),
        ("logs-org", "the management-account extras of --org"),
        ("analytics-deploy", "irprep analytics deploy"),
        ("analytics-destroy", "irprep analytics destroy"),
        (
            "athena-engine",
            "irprep query|hunt|queries run --engine athena",
        ),
        (
            "s3-logs",
            "irprep query|hunt --logs s3://… (reading logs from S3)",
        ),
        (
            "logs-validate",
            "irprep logs validate --logs s3://… (digests, log files, CloudTrail's public keys)",
        ),
        (
            "logs-collect",
            "irprep logs collect --event-history --eks (LookupEvents, EKS audit log groups)",
        ),
    ]
}

pub fn actions(command: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&'static str> = match command {
        "logs-status" => logs(LOGS_COMMON, |a| a.status),
        "logs-enable" => [
            logs(LOGS_COMMON, |a| a.status),
            logs(LOGS_ENABLE_COMMON, |a| a.enable),
            LEDGER.to_vec(),
        ]
        .concat(),
        "logs-cleanup" => [
            logs(LOGS_COMMON, |a| a.status),
            logs(LOGS_CLEANUP_COMMON, |a| a.cleanup),
            LEDGER.to_vec(),
        ]
        .concat(),
        "logs-verify" => [
            logs(LOGS_COMMON, |a| a.status),
            // The delivered files (SSE-KMS ones too: a trail with --kms-key).
            vec!["s3:ListBucket", "s3:GetObject", "kms:Decrypt"],
        ]
        .concat(),
        "logs-org" => ORG.to_vec(),
        "analytics-deploy" => [ANALYTICS_DEPLOY, LEDGER].concat(),
        "analytics-destroy" => [ANALYTICS_DESTROY, LEDGER].concat(),
        "athena-engine" => ATHENA_QUERY.to_vec(),
        "s3-logs" => S3_LOGS.to_vec(),
        "logs-validate" => LOGS_VALIDATE.to_vec(),
        "logs-collect" => LOGS_COLLECT.to_vec(),
        _ => return None,
    };
    v.sort_unstable();
    v.dedup();
    Some(v)
}

/// An IAM policy document for a command.
pub fn policy(command: &str) -> Option<Value> {
    let a = actions(command)?;
    Some(json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": format!("Irprep{}", command.split('-').map(|p| p[..1].to_uppercase() + &p[1..]).collect::<String>()), "Effect": "Allow", "Action": a, "Resource": "*"}],
    }))
}

/// Cleanup actions that delete something, with the resources they may touch
/// in a member account: irprep's trail and buckets by name, flow logs and
/// detectors only when they carry irprep's tag. `None`: the action has no
/// resource-level scoping that fits (it is still only in the cleanup policy).
fn cleanup_scope(action: &str) -> Option<(Value, Option<Value>)> {
    let buckets = json!([
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::irprep-logs-${AWS::AccountId}-*"},
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::aws-waf-logs-irprep-${AWS::AccountId}-*"},
    ]);
    let objects = json!([
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::irprep-logs-${AWS::AccountId}-*/*"},
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::aws-waf-logs-irprep-${AWS::AccountId}-*/*"},
    ]);
    let tagged = json!({"StringLike": {"aws:ResourceTag/irprep:managed": "irp-*"}});
    match action {
        "cloudtrail:DeleteTrail" => Some((
            json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:cloudtrail:*:${{AWS::AccountId}}:trail/{}", super::TRAIL_NAME)}),
            None,
        )),
        "s3:DeleteBucket" | "s3:ListBucketVersions" => Some((buckets, None)),
        "s3:DeleteObject" | "s3:DeleteObjectVersion" => Some((objects, None)),
        "ec2:DeleteFlowLogs" | "guardduty:DeleteDetector" => Some((json!("*"), Some(tagged))),
        "kms:ScheduleKeyDeletion" => Some((
            json!({"Fn::Sub": "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"}),
            Some(tagged),
        )),
        _ => None,
    }
}

/// The member-account role for `--org` (CloudFormation, StackSet-ready): the
/// principal irprep runs as in the management account assumes it to inspect
/// and enable; the actions that delete (cleanup) are a second policy, only
/// when the stack is deployed with `AllowCleanup=true`, scoped to irprep's
/// own trail and buckets and to resources carrying its tag.
pub fn role_template(role_name: &str) -> Value {
    let mut actions: Vec<&str> = [
        logs(LOGS_COMMON, |a| a.status),
        logs(LOGS_ENABLE_COMMON, |a| a.enable),
    ]
    .concat();
    actions.retain(|a| !a.starts_with("organizations:"));
    actions.sort_unstable();
    actions.dedup();
    // In a member account irprep writes the configuration of its own
    // buckets only (the central bucket lives in the management account): a
    // bucket's policy, lifecycle, encryption and the rest are scoped to
    // irprep's bucket names, so the role cannot rewrite another bucket's
    // policy (parliament's resource-policy escalation finding).
    let (bucket_config, rest): (Vec<&str>, Vec<&str>) = actions
        .iter()
        .partition(|a| MEMBER_BUCKET_CONFIG.contains(a));
    let enable_statements = json!([
        {"Sid": "IrprepInspectEnable", "Effect": "Allow", "Action": rest, "Resource": "*"},
        {"Sid": "IrprepOwnBuckets", "Effect": "Allow", "Action": bucket_config, "Resource": [
            {"Fn::Sub": "arn:${AWS::Partition}:s3:::irprep-logs-${AWS::AccountId}-*"},
            {"Fn::Sub": "arn:${AWS::Partition}:s3:::aws-waf-logs-irprep-${AWS::AccountId}-*"},
        ]},
    ]);
    let mut cleanup: Vec<&str> = logs(LOGS_CLEANUP_COMMON, |a| a.cleanup);
    cleanup.retain(|a| !a.starts_with("organizations:"));
    cleanup.sort_unstable();
    cleanup.dedup();
    let mut statements = vec![];
    let unscoped: Vec<&str> = cleanup
        .iter()
        .copied()
        .filter(|a| cleanup_scope(a).is_none())
        .collect();
    statements.push(
        json!({"Sid": "IrprepCleanup", "Effect": "Allow", "Action": unscoped, "Resource": "*"}),
    );
    for a in cleanup.iter().filter(|a| cleanup_scope(a).is_some()) {
        let (resource, condition) = cleanup_scope(a).expect("scoped");
        let sid = format!("IrprepCleanup{}", a.replace([':', '-'], ""));
        let mut st = json!({"Sid": sid, "Effect": "Allow", "Action": a, "Resource": resource});
        if let Some(c) = condition {
            st["Condition"] = c;
        }
        statements.push(st);
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Role that irprep (logs status/enable/cleanup --org) assumes in each member account. Deploy with a StackSet to the Organization.",
        "Parameters": {
            "IrprepPrincipalArn": {
                "Type": "String",
                "AllowedPattern": "^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$",
                "Description": "The role (or user) irprep runs as in the management account; only it may assume this role",
            },
            "AllowCleanup": {
                "Type": "String",
                "AllowedValues": ["false", "true"],
                "Default": "false",
                "Description": "true: also allow `irprep logs cleanup --org` to remove what irprep made",
            },
        },
        "Conditions": {"Cleanup": {"Fn::Equals": [{"Ref": "AllowCleanup"}, "true"]}},
        "Resources": {
            "IrprepLogsRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": role_name,
                    "Description": "Assumed by irprep to check and enable security logs",
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Ref": "IrprepPrincipalArn"}},
                            "Action": "sts:AssumeRole",
                        }],
                    },
                    "Policies": [
                        {
                            "PolicyName": "irprep-logs",
                            "PolicyDocument": {"Version": "2012-10-17", "Statement": enable_statements},
                        },
                        {"Fn::If": ["Cleanup", {
                            "PolicyName": "irprep-logs-cleanup",
                            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                        }, {"Ref": "AWS::NoValue"}]},
                    ],
                    "Tags": [{"Key": super::TAG_KEY, "Value": "member-role"}],
                },
            },
        },
        "Outputs": {"RoleArn": {"Value": {"Fn::GetAtt": ["IrprepLogsRole", "Arn"]}}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands that read delivered log objects can read SSE-KMS ones
    /// (a trail with --kms-key writes nothing else): kms:Decrypt.
    #[test]
    fn log_readers_can_decrypt_sse_kms_objects() {
        for c in ["s3-logs", "logs-validate", "logs-verify", "athena-engine"] {
            let a = actions(c).unwrap();
            assert!(a.contains(&"kms:Decrypt"), "{c}: {a:?}");
            assert!(a.contains(&"s3:GetObject"), "{c}: {a:?}");
        }
    }

    #[test]
    fn the_member_role_trusts_one_principal_and_deletes_only_when_asked() {
        let t = role_template("IrprepLogsRole");
        let role = &t["Resources"]["IrprepLogsRole"]["Properties"];
        assert_eq!(
            role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"],
            json!({"Ref": "IrprepPrincipalArn"}),
            "no account-wide :root trust"
        );
        let main = role["Policies"][0]["PolicyDocument"]["Statement"][0]["Action"]
            .as_array()
            .unwrap();
        assert!(
            main.iter().all(|a| {
                let a = a.as_str().unwrap();
                // logs:DeleteLogDelivery is what CreateFlowLogs to S3 requires
                // of its caller (AWS's flow-log permissions), not a cleanup.
                a == "logs:DeleteLogDelivery"
                    || (!a.contains(":Delete") && !a.contains("Disassociate"))
            }),
            "the always-on policy deletes nothing: {main:?}"
        );
        let cleanup = &role["Policies"][1]["Fn::If"];
        assert_eq!(cleanup[0], "Cleanup");
        let sts = cleanup[1]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let of = |action: &str| {
            sts.iter()
                .find(|s| s["Action"] == action)
                .unwrap_or_else(|| panic!("{action}"))
        };
        assert!(of("cloudtrail:DeleteTrail")["Resource"]
            .to_string()
            .contains("trail/irprep-trail"));
        assert!(of("s3:DeleteBucket")["Resource"]
            .to_string()
            .contains("irprep-logs-"));
        assert!(of("guardduty:DeleteDetector")["Condition"]
            .to_string()
            .contains("aws:ResourceTag/irprep:managed"));
        // Every cleanup action is somewhere in the cleanup policy.
        let text = cleanup.to_string();
        for a in logs(LOGS_CLEANUP_COMMON, |a| a.cleanup)
            .into_iter()
            .filter(|a| !a.starts_with("organizations:"))
        {
            assert!(text.contains(a), "{a}");
        }
    }
}
