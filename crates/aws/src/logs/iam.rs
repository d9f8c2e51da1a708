//! Least privilege: the IAM actions each command calls, as data. `irprep
//! iam-policy <command>` prints them as a policy; `logs role-template` puts
//! the logs ones in the member-account role; a test runs `logs status` and
//! `logs enable` on the emulator as a user holding only these.

use serde_json::{json, Value};

const LOGS_STATUS: &[&str] = &[
    "sts:GetCallerIdentity",
    "ec2:DescribeRegions",
    "ec2:DescribeVpcs",
    "ec2:DescribeFlowLogs",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "cloudtrail:ListTags",
    "route53resolver:ListResolverQueryLogConfigAssociations",
    "route53resolver:ListResolverQueryLogConfigs",
    "s3:ListAllMyBuckets",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "wafv2:ListWebACLs",
    "wafv2:GetLoggingConfiguration",
    "eks:ListClusters",
    "eks:DescribeCluster",
    "guardduty:ListDetectors",
    "guardduty:GetDetector",
];

const LOGS_ENABLE: &[&str] = &[
    // Log buckets.
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
    // Sources.
    "cloudtrail:CreateTrail",
    "cloudtrail:AddTags",
    "cloudtrail:StartLogging",
    "cloudtrail:UpdateTrail",
    "ec2:CreateFlowLogs",
    "ec2:CreateTags",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "route53resolver:CreateResolverQueryLogConfig",
    "route53resolver:AssociateResolverQueryLogConfig",
    "route53resolver:TagResource",
    "s3:PutBucketLogging",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "wafv2:PutLoggingConfiguration",
    "eks:UpdateClusterConfig",
    "eks:TagResource",
    "guardduty:CreateDetector",
    "guardduty:UpdateDetector",
    "guardduty:TagResource",
    // Organization trails; service-linked roles the services create on first use.
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "iam:CreateServiceLinkedRole",
    "iam:GetRole",
];

const LOGS_CLEANUP: &[&str] = &[
    "cloudtrail:DeleteTrail",
    "ec2:DeleteFlowLogs",
    "route53resolver:ListTagsForResource",
    "route53resolver:DisassociateResolverQueryLogConfig",
    "route53resolver:DeleteResolverQueryLogConfig",
    "s3:PutBucketLogging",
    "s3:GetBucketTagging",
    "s3:ListBucketVersions",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "wafv2:DeleteLoggingConfiguration",
    "eks:UpdateClusterConfig",
    "eks:UntagResource",
    "guardduty:DeleteDetector",
];

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
    "sts:AssumeRole",
];

const ANALYTICS_DEPLOY: &[&str] = &[
    "sts:GetCallerIdentity",
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
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "athena:GetWorkGroup",
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetPartitions",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:PutObject",
];

const S3_LOGS: &[&str] = &["s3:ListBucket", "s3:GetObject"];

/// The commands with a policy, and what each needs.
pub fn commands() -> Vec<(&'static str, &'static str)> {
    vec![
        ("logs-status", "irprep logs status"),
        (
            "logs-enable",
            "irprep logs enable (its plan is a status run)",
        ),
        ("logs-cleanup", "irprep logs cleanup"),
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
    ]
}

pub fn actions(command: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&'static str> = match command {
        "logs-status" => LOGS_STATUS.to_vec(),
        "logs-enable" => [LOGS_STATUS, LOGS_ENABLE, LEDGER].concat(),
        "logs-cleanup" => [LOGS_STATUS, LOGS_CLEANUP, LEDGER].concat(),
        "logs-org" => ORG.to_vec(),
        "analytics-deploy" => [ANALYTICS_DEPLOY, LEDGER].concat(),
        "analytics-destroy" => [ANALYTICS_DESTROY, LEDGER].concat(),
        "athena-engine" => ATHENA_QUERY.to_vec(),
        "s3-logs" => S3_LOGS.to_vec(),
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

/// The member-account role for `--org` (CloudFormation, StackSet-ready): the
/// management account assumes it to inspect, enable and clean up.
pub fn role_template(role_name: &str) -> Value {
    let mut actions: Vec<&str> = [LOGS_STATUS, LOGS_ENABLE, LOGS_CLEANUP].concat();
    actions.retain(|a| !a.starts_with("organizations:"));
    actions.sort_unstable();
    actions.dedup();
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Role that irprep (logs status/enable/cleanup --org) assumes in each member account. Deploy with a StackSet to the Organization.",
        "Parameters": {
            "ManagementAccountId": {"Type": "String", "AllowedPattern": "^[0-9]{12}$", "Description": "The account irprep runs from"},
        },
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
                            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ManagementAccountId}:root"}},
                            "Action": "sts:AssumeRole",
                        }],
                    },
                    "Policies": [{
                        "PolicyName": "irprep-logs",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]},
                    }],
                    "Tags": [{"Key": super::TAG_KEY, "Value": "member-role"}],
                },
            },
        },
        "Outputs": {"RoleArn": {"Value": {"Fn::GetAtt": ["IrprepLogsRole", "Arn"]}}},
    })
}
