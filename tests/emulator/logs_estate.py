"""An estate for `irprep logs` on moto_server, and its state, with boto3.

    python logs_estate.py seed URL          resources irprep must judge, and foreign ones it must never touch
    python logs_estate.py state URL         everything log-related, as JSON
    python logs_estate.py iam-user URL POLICY_FILE
                                            (on a server with INITIAL_NO_AUTH_ACTION_COUNT) a user holding only
                                            that policy; prints {"key": ..., "secret": ...}
    python logs_estate.py org URL N         create an Organization with N member accounts; prints their ids
    python logs_estate.py plant URL VALUE   irprep's tag (with VALUE) planted on foreign resources, see plant
    python logs_estate.py tag-detector URL VALUE
                                            their us-east-1 detector, tagged irprep:managed=VALUE; prints its id
    python logs_estate.py squat URL BUCKET  BUCKET created first by another account
    python logs_estate.py foreign-trail URL BUCKET
                                            a logging multi-region trail of this account delivering to
                                            BUCKET, which another account owns
    python logs_estate.py bench-seed URL    the 17-region speed estate of issue 5 (scripts/bench_logs.sh)
    python logs_estate.py bench-empty URL REGIONS
                                            regions outside that estate (comma-separated) left with no VPC
    python logs_estate.py auth-setup URL LEAST_POLICY ORG_POLICIES
                                            (on the IAM-enforcing server) users and an Organization, see auth_setup

Used by crates/cli/tests/logs_moto.rs.
"""
import json
import sys

import boto3

ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]


def c(svc, url, region="us-east-1", **kw):
    args = dict(endpoint_url=url, region_name=region, aws_access_key_id=kw.get("key", "testing"),
                aws_secret_access_key=kw.get("secret", "testing"))
    return boto3.client(svc, **args)


def seed(url):
    out = {}
    for region in ["us-east-1", "us-west-2"]:
        ec2 = c("ec2", url, region)
        vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
        out[f"vpc-{region}"] = vpc
        if region == "us-east-1":
            vpc2 = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
            out["vpc2-us-east-1"] = vpc2
            s3 = c("s3", url)
            for b in ["their-data", "their-flow-logs", "their-trail-logs"]:
                s3.create_bucket(Bucket=b)
            # A foreign, REJECT-only flow log: does not count, is never touched.
            fl = ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="REJECT",
                                      LogDestinationType="s3", LogDestination="arn:aws:s3:::their-flow-logs")
            out["their-flow-log"] = fl["FlowLogIds"][0]
            # A stopped single-region trail of theirs.
            ct = c("cloudtrail", url)
            ct.create_trail(Name="their-trail", S3BucketName="their-trail-logs")
            # Subnets in two AZs, a v2 and a classic load balancer.
            s1 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
            s2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
            alb = c("elbv2", url).create_load_balancer(Name="their-alb", Subnets=[s1, s2])["LoadBalancers"][0]
            out["alb"] = alb["LoadBalancerArn"]
            c("elb", url).create_load_balancer(LoadBalancerName="their-clb", AvailabilityZones=["us-east-1a"],
                                                Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}])
            acl = c("wafv2", url).create_web_acl(Name="their-acl", Scope="REGIONAL", DefaultAction={"Allow": {}},
                                                  VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "m"})
            out["acl"] = acl["Summary"]["ARN"]
            cf = c("wafv2", url).create_web_acl(Name="their-cf-acl", Scope="CLOUDFRONT", DefaultAction={"Allow": {}},
                                                 VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "m"})
            out["cf-acl"] = cf["Summary"]["ARN"]
            # A bucket already logged by its owner (to a bucket of theirs).
            s3.create_bucket(Bucket="their-logged")
            s3.create_bucket(Bucket="their-access-target")
            s3.put_bucket_policy(Bucket="their-access-target", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "S3Logs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": "arn:aws:s3:::their-access-target/*"}]}))
            s3.put_bucket_logging(Bucket="their-logged", BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "their-access-target", "TargetPrefix": "logs/"}})
            # The user's central bucket: a policy statement and a short lifecycle rule of theirs.
            s3.create_bucket(Bucket="their-central")
            s3.put_bucket_policy(Bucket="their-central", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "TheirAuditorRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::their-central/*"}]}))
            s3.put_bucket_lifecycle_configuration(Bucket="their-central", LifecycleConfiguration={"Rules": [
                {"ID": "their-tmp-expiry", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 30}}]})
            eks = c("eks", url)
            eks.create_cluster(name="their-cluster", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                               resourcesVpcConfig={"subnetIds": [s1, s2]})
            eks.update_cluster_config(name="their-cluster", logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]})
            # Their own GuardDuty detector.
            out["their-detector"] = c("guardduty", url).create_detector(Enable=True)["DetectorId"]
    print(json.dumps(out))


def state(url):
    out = {}
    s3 = c("s3", url)
    out["buckets"] = {}
    for b in s3.list_buckets()["Buckets"]:
        n = b["Name"]
        d = {}
        try:
            d["policy"] = json.loads(s3.get_bucket_policy(Bucket=n)["Policy"])
        except Exception:
            d["policy"] = None
        try:
            d["lifecycle"] = s3.get_bucket_lifecycle_configuration(Bucket=n)["Rules"]
        except Exception:
            d["lifecycle"] = None
        try:
            d["pab"] = s3.get_public_access_block(Bucket=n)["PublicAccessBlockConfiguration"]
        except Exception:
            d["pab"] = None
        try:
            d["encryption"] = s3.get_bucket_encryption(Bucket=n)["ServerSideEncryptionConfiguration"]["Rules"]
        except Exception:
            d["encryption"] = None
        try:
            d["tags"] = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=n)["TagSet"]}
        except Exception:
            d["tags"] = {}
        d["logging"] = s3.get_bucket_logging(Bucket=n).get("LoggingEnabled")
        d["versioning"] = s3.get_bucket_versioning(Bucket=n).get("Status")
        out["buckets"][n] = d
    for region in REGIONS:
        r = {}
        ec2 = c("ec2", url, region)
        r["flow_logs"] = [{k: f.get(k) for k in ["FlowLogId", "ResourceId", "TrafficType", "LogDestination", "LogFormat", "Tags", "DestinationOptions", "MaxAggregationInterval"]}
                          for f in ec2.describe_flow_logs()["FlowLogs"]]
        ct = c("cloudtrail", url, region)
        trails = []
        for t in ct.describe_trails(includeShadowTrails=False)["trailList"]:
            st = ct.get_trail_status(Name=t["TrailARN"])
            tags = ct.list_tags(ResourceIdList=[t["TrailARN"]])["ResourceTagList"][0].get("TagsList", [])
            trails.append({"Name": t["Name"], "IsMultiRegionTrail": t.get("IsMultiRegionTrail"), "LogFileValidationEnabled": t.get("LogFileValidationEnabled"),
                           "S3BucketName": t.get("S3BucketName"), "IsLogging": st.get("IsLogging"), "Tags": {x["Key"]: x["Value"] for x in tags},
                           "IsOrganizationTrail": t.get("IsOrganizationTrail")})
        r["trails"] = trails
        rr = c("route53resolver", url, region)
        def tags_of(arn):
            try:
                return {t["Key"]: t["Value"] for t in rr.list_tags_for_resource(ResourceArn=arn).get("Tags", [])}
            except Exception:
                return None  # moto cannot list tags of query-log configs
        r["query_log_configs"] = [{"Name": q["Name"], "DestinationArn": q["DestinationArn"], "Tags": tags_of(q["Arn"])}
                                  for q in rr.list_resolver_query_log_configs()["ResolverQueryLogConfigs"]]
        r["query_log_associations"] = sorted(a["ResourceId"] for a in rr.list_resolver_query_log_config_associations()["ResolverQueryLogConfigAssociations"])
        gd = c("guardduty", url, region)
        r["detectors"] = {d: gd.get_detector(DetectorId=d).get("Tags", {}) for d in gd.list_detectors()["DetectorIds"]}
        if region == "us-east-1":
            v2 = c("elbv2", url)
            r["alb_attributes"] = {a["Key"]: a["Value"] for lb in v2.describe_load_balancers()["LoadBalancers"]
                                   for a in v2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"] if a["Key"].startswith("access_logs")}
            r["clb_access_log"] = c("elb", url).describe_load_balancer_attributes(LoadBalancerName="their-clb")["LoadBalancerAttributes"]["AccessLog"]
            w = c("wafv2", url)
            acls = w.list_web_acls(Scope="REGIONAL")["WebACLs"] + w.list_web_acls(Scope="CLOUDFRONT")["WebACLs"]
            r["waf_logging"] = {}
            for a in acls:
                try:
                    r["waf_logging"][a["Name"]] = w.get_logging_configuration(ResourceArn=a["ARN"])["LoggingConfiguration"]["LogDestinationConfigs"]
                except Exception:
                    r["waf_logging"][a["Name"]] = None
            cl = c("eks", url).describe_cluster(name="their-cluster")["cluster"]
            r["eks_logging"] = sorted(t for s in cl["logging"]["clusterLogging"] if s["enabled"] for t in s["types"])
            r["eks_tags"] = cl.get("tags", {})
        out[region] = r
    # irprep's ledger, as SSM holds it (home region).
    ssm = c("ssm", url)
    try:
        inst = ssm.get_parameter(Name="/irprep/installation")["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        inst = None
    parts = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/irprep/ledger/", Recursive=True):
        for p in page["Parameters"]:
            account, n = p["Name"][len("/irprep/ledger/"):].split("/")
            parts.setdefault(account, {})[int(n)] = p["Value"]
    entries = []
    for account, ps in parts.items():
        for region, kind, ident in json.loads("".join(ps[i] for i in sorted(ps))):
            entries.append({"account": account, "region": region, "kind": kind, "id": ident})
    out["ledger"] = {"installation": inst, "entries": sorted(entries, key=lambda e: (e["account"], e["region"], e["kind"], e["id"]))}
    print(json.dumps(out, sort_keys=True, default=str))


def plant(url, value):
    """What an intruder with tagging rights leaves (after `seed`): irprep's tag,
    with `value`, on their production trail, flow log, GuardDuty detector and
    EKS cluster, plus a tagged trail of irprep's name to a bucket of theirs."""
    ct = c("cloudtrail", url)
    s3 = c("s3", url)
    s3.create_bucket(Bucket="prod-trail-logs")
    prod = ct.create_trail(Name="prod-trail", S3BucketName="prod-trail-logs", IsMultiRegionTrail=True)["TrailARN"]
    ct.start_logging(Name=prod)
    ct.add_tags(ResourceId=prod, TagsList=[{"Key": "irprep:managed", "Value": value}])
    # Logging, multi-region, but KMS events left out: not full coverage.
    ct.put_event_selectors(TrailName=prod, EventSelectors=[{
        "ReadWriteType": "All", "IncludeManagementEvents": True,
        "ExcludeManagementEventSources": ["kms.amazonaws.com"]}])
    ec2 = c("ec2", url)
    fl = [f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"] if f["LogDestination"] == "arn:aws:s3:::their-flow-logs"]
    ec2.create_tags(Resources=fl, Tags=[{"Key": "irprep:managed", "Value": value}])
    det = tag_detector(url, value)
    eks = c("eks", url)
    arn = eks.describe_cluster(name="their-cluster")["cluster"]["arn"]
    eks.tag_resource(resourceArn=arn, tags={"irprep:eks-log-types": "api+audit"})
    print(json.dumps({"prod-trail": prod, "flow-logs": fl, "detector": det}))


def tag_detector(url, value):
    """Their us-east-1 detector, carrying irprep's tag with `value` (the
    emulator has no guardduty:TagResource: the detector is made again with
    the tag, as CreateDetector allows)."""
    gd = c("guardduty", url)
    for d in gd.list_detectors()["DetectorIds"]:
        gd.delete_detector(DetectorId=d)
    return gd.create_detector(Enable=True, Tags={"irprep:managed": value})["DetectorId"]


def squat(url, bucket):
    """Another account (999988887777) creates `bucket` first."""
    cr = c("sts", url).assume_role(RoleArn="arn:aws:iam::999988887777:role/attacker", RoleSessionName="squat")["Credentials"]
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=cr["AccessKeyId"],
                      aws_secret_access_key=cr["SecretAccessKey"], aws_session_token=cr["SessionToken"])
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "owner", "Value": "attacker"}]})
    print(json.dumps({"bucket": bucket}))


def foreign_trail(url, bucket):
    """A logging multi-region trail of this account whose bucket another
    account (999988887777) owns: an intruder's destination, or a log archive."""
    squat(url, bucket)
    ct = c("cloudtrail", url)
    ct.create_trail(Name="prod-trail", S3BucketName=bucket, IsMultiRegionTrail=True)
    ct.start_logging(Name="prod-trail")


def iam_user(url, policy_file):
    iam = c("iam", url)
    iam.create_user(UserName="irprep-least")
    with open(policy_file) as f:
        doc = f.read()
    iam.put_user_policy(UserName="irprep-least", PolicyName="irprep", PolicyDocument=doc)
    k = iam.create_access_key(UserName="irprep-least")["AccessKey"]
    print(json.dumps({"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}))


BENCH_REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
                 "eu-central-1", "eu-north-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
                 "ap-northeast-2", "ap-northeast-3", "sa-east-1"]


def bench_seed(url):
    """The speed estate of issue 5: 17 regions, each with 2 VPCs (one is the
    default), 2 buckets, an ALB (access logs explicitly off) and a WAF ACL;
    EKS clusters in 3 regions."""
    s3 = c("s3", url)
    for i, region in enumerate(BENCH_REGIONS):
        ec2 = c("ec2", url, region)
        vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
        azs = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.70.{k}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"] for k, az in enumerate(azs)]
        for b in range(2):
            kw = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=f"bench-{region}-{b}", **kw)
        elbv2 = c("elbv2", url, region)
        alb = elbv2.create_load_balancer(Name=f"alb-{i}", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        # AWS answers access_logs.s3.enabled=false for a new load balancer;
        # moto leaves the key out unless it was set, and the Assisted Log
        # Enabler only acts on an explicit "false".
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=alb, Attributes=[{"Key": "access_logs.s3.enabled", "Value": "false"}])
        c("wafv2", url, region).create_web_acl(Name=f"acl-{i}", Scope="REGIONAL", DefaultAction={"Allow": {}},
                                                VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "m"})
        if i < 3:
            c("eks", url, region).create_cluster(name=f"eks-{i}", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks", resourcesVpcConfig={"subnetIds": subnets})
    print(json.dumps({"regions": BENCH_REGIONS}))


def bench_empty(url, regions):
    """Regions outside the estate with nothing in them: each one's default
    VPC (and its subnets and internet gateway) deleted. The Assisted Log
    Enabler visits a fixed list of 32 regions; the 15 beyond the estate's 17
    are opt-in (or China) regions, off in a real account, so there they must
    hold nothing to log."""
    for region in [r for r in regions.split(",") if r and r not in BENCH_REGIONS]:
        ec2 = c("ec2", url, region)
        for vpc in ec2.describe_vpcs()["Vpcs"]:
            v = vpc["VpcId"]
            for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [v]}])["Subnets"]:
                ec2.delete_subnet(SubnetId=s["SubnetId"])
            for g in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [v]}])["InternetGateways"]:
                ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=v)
                ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
            ec2.delete_vpc(VpcId=v)
        left = ec2.describe_vpcs()["Vpcs"]
        assert not left, f"{region}: VPCs left {left}"
    print(json.dumps({"emptied": [r for r in regions.split(",") if r and r not in BENCH_REGIONS]}))


def auth_setup(url, least_policy_file, org_policy_file):
    """On a server started with INITIAL_NO_AUTH_ACTION_COUNT=16: exactly 16
    unauthenticated calls build two users and an Organization of three
    member accounts, two of which have the member role (IrprepLogsRole with
    the role-template policy); after them every call is authorised."""
    iam = c("iam", url)
    out = {}
    with open(least_policy_file) as f:
        least = f.read()
    with open(org_policy_file) as f:
        org_policy = json.load(f)
    # 1-3: a user with only `irprep iam-policy logs-enable`.
    iam.create_user(UserName="irprep-least")
    iam.put_user_policy(UserName="irprep-least", PolicyName="irprep", PolicyDocument=least)
    k = iam.create_access_key(UserName="irprep-least")["AccessKey"]
    out["least"] = {"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
    # 4-7: the Organization.
    o = c("organizations", url)
    o.create_organization(FeatureSet="ALL")
    members = [o.create_account(AccountName=f"member{i}", Email=f"member{i}@example.com")["CreateAccountStatus"]["AccountId"] for i in range(3)]
    out["members"] = members
    role_doc = org_policy["role_policy"]
    # 8-13: the member role in the first two accounts only.
    sts = c("sts", url)
    for m in members[:2]:
        cr = sts.assume_role(RoleArn=f"arn:aws:iam::{m}:role/OrganizationAccountAccessRole", RoleSessionName="setup")["Credentials"]
        miam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id=cr["AccessKeyId"],
                            aws_secret_access_key=cr["SecretAccessKey"], aws_session_token=cr["SessionToken"])
        miam.create_role(RoleName="IrprepLogsRole", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}))
        miam.put_role_policy(RoleName="IrprepLogsRole", PolicyName="irprep-logs", PolicyDocument=json.dumps(role_doc))
    out["with_role"] = members[:2]
    out["without_role"] = members[2]
    # 14-16: the operator: logs policies plus AssumeRole on the member role.
    iam.create_user(UserName="irprep-org")
    iam.put_user_policy(UserName="irprep-org", PolicyName="irprep", PolicyDocument=json.dumps(org_policy["user_policy"]))
    k = iam.create_access_key(UserName="irprep-org")["AccessKey"]
    out["org"] = {"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
    print(json.dumps(out))


def org(url, n):
    o = c("organizations", url)
    o.create_organization(FeatureSet="ALL")
    ids = []
    for i in range(int(n)):
        a = o.create_account(AccountName=f"member{i}", Email=f"member{i}@example.com")["CreateAccountStatus"]
        ids.append(a["AccountId"])
    print(json.dumps(ids))


if __name__ == "__main__":
    cmd, url = sys.argv[1], sys.argv[2]
    {"seed": lambda: seed(url), "state": lambda: state(url),
     "iam-user": lambda: iam_user(url, sys.argv[3]), "org": lambda: org(url, sys.argv[3]),
     "auth-setup": lambda: auth_setup(url, sys.argv[3], sys.argv[4]), "bench-seed": lambda: bench_seed(url),
     "bench-empty": lambda: bench_empty(url, sys.argv[3]),
     "plant": lambda: plant(url, sys.argv[3]),
     "tag-detector": lambda: print(json.dumps(tag_detector(url, sys.argv[3]))), "squat": lambda: squat(url, sys.argv[3]),
     "foreign-trail": lambda: foreign_trail(url, sys.argv[3])}[cmd]()
