"""A small AWS estate on moto_server, and a snapshot of its state, with boto3.

    python estate.py seed URL        create the estate (idempotent enough for one run)
    python estate.py snapshot URL    print the estate's state as JSON (sorted, stable)
    python estate.py recording URL start|stop|download

Used by crates/cli/tests/simulate_moto.rs to prove that scenarios change nothing.
"""
import base64
import json
import sys
import urllib.request

import boto3

REGIONS = ["us-east-1", "us-west-2"]


def c(svc, url, region="us-east-1"):
    return boto3.client(svc, endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def seed(url):
    for region in REGIONS:
        ec2 = c("ec2", url, region)
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")
        if region == "us-east-1":
            images = ec2.describe_images(Owners=["amazon"])["Images"]
            ami = images[0]["ImageId"]
            inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                     MetadataOptions={"HttpTokens": "optional"},
                                     UserData="#!/bin/bash\necho hello\n")["Instances"][0]["InstanceId"]
            vol = ec2.create_volume(AvailabilityZone=f"{region}a", Size=8)["VolumeId"]
            ec2.create_snapshot(VolumeId=vol, Description="estate snapshot")
            ec2.create_image(InstanceId=inst, Name="estate-image")
            ec2.create_security_group(GroupName="estate-sg", Description="estate", VpcId=vpc)
    s3 = c("s3", url)
    for b in ["estate-trail-bucket", "estate-data-bucket"]:
        s3.create_bucket(Bucket=b)
    s3.put_bucket_policy(Bucket="estate-data-bucket", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Own", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                       "Action": "s3:GetObject", "Resource": "arn:aws:s3:::estate-data-bucket/*"}]}))
    ct = c("cloudtrail", url)
    ct.create_trail(Name="estate-trail", S3BucketName="estate-trail-bucket", IsMultiRegionTrail=True)
    ct.start_logging(Name="estate-trail")
    c("secretsmanager", url).create_secret(Name="prod/db/password", SecretString="s3cr3t")
    c("ssm", url).put_parameter(Name="/prod/api/key", Value="k3y", Type="SecureString")
    iam = c("iam", url)
    iam.create_user(UserName="estate-admin")
    iam.create_role(RoleName="estate-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    c("kms", url).create_key(Description="estate key")
    c("logs", url).create_log_group(logGroupName="/estate/app")
    c("guardduty", url).create_detector(Enable=True)


def snapshot(url):
    out = {}
    for region in REGIONS:
        ec2 = c("ec2", url, region)
        r = {}
        r["vpcs"] = sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"])
        r["subnets"] = sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"])
        r["security_groups"] = sorted(
            (g["GroupId"], json.dumps(g.get("IpPermissions", []), sort_keys=True)) for g in ec2.describe_security_groups()["SecurityGroups"])
        insts = [i for res in ec2.describe_instances()["Reservations"] for i in res["Instances"]]
        r["instances"] = sorted((i["InstanceId"], i["State"]["Name"], i["InstanceType"]) for i in insts)
        r["user_data"] = sorted(
            (i["InstanceId"], json.dumps(ec2.describe_instance_attribute(InstanceId=i["InstanceId"], Attribute="userData").get("UserData", {})))
            for i in insts)
        snaps = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        r["snapshots"] = sorted(
            (s["SnapshotId"], json.dumps(ec2.describe_snapshot_attribute(SnapshotId=s["SnapshotId"], Attribute="createVolumePermission").get("CreateVolumePermissions", [])))
            for s in snaps)
        imgs = ec2.describe_images(Owners=["self"])["Images"]
        r["images"] = sorted(
            (i["ImageId"], json.dumps(ec2.describe_image_attribute(ImageId=i["ImageId"], Attribute="launchPermission").get("LaunchPermissions", [])))
            for i in imgs)
        r["flow_logs"] = sorted(f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"])
        r["key_pairs"] = sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"])
        r["volumes"] = sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"])
        r["guardduty"] = sorted(c("guardduty", url, region).list_detectors()["DetectorIds"])
        r["log_groups"] = sorted(g["logGroupName"] for g in c("logs", url, region).describe_log_groups()["logGroups"])
        r["kms"] = sorted((k["KeyId"], c("kms", url, region).describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]) for k in c("kms", url, region).list_keys()["Keys"])
        r["secrets"] = sorted(s["Name"] for s in c("secretsmanager", url, region).list_secrets()["SecretList"])
        # AWS public parameters (/aws/service/...) are loaded by moto on first read: not estate.
        r["parameters"] = sorted(p["Name"] for p in c("ssm", url, region).describe_parameters()["Parameters"] if not p["Name"].startswith("/aws/"))
        r["ssm_commands"] = sorted(x["CommandId"] for x in c("ssm", url, region).list_commands()["Commands"])
        r["resolver_configs"] = sorted(x["Id"] for x in c("route53resolver", url, region).list_resolver_query_log_configs()["ResolverQueryLogConfigs"])
        r["rds_snapshots"] = sorted(x["DBSnapshotIdentifier"] for x in c("rds", url, region).describe_db_snapshots()["DBSnapshots"])
        r["config_recorders"] = sorted(x["name"] for x in c("config", url, region).describe_configuration_recorders()["ConfigurationRecorders"])
        out[region] = r
    ct = c("cloudtrail", url)
    out["trails"] = sorted(
        (t["Name"], ct.get_trail_status(Name=t["Name"])["IsLogging"], json.dumps(ct.get_event_selectors(TrailName=t["Name"]).get("EventSelectors", []), sort_keys=True, default=str))
        for t in ct.describe_trails()["trailList"])
    s3 = c("s3", url)
    buckets = []
    for b in s3.list_buckets()["Buckets"]:
        name = b["Name"]
        try:
            pol = s3.get_bucket_policy(Bucket=name)["Policy"]
        except Exception:
            pol = None
        try:
            pab = json.dumps(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"], sort_keys=True)
        except Exception:
            pab = None
        try:
            lc = json.dumps(s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"], sort_keys=True, default=str)
        except Exception:
            lc = None
        buckets.append((name, pol, pab, lc))
    out["buckets"] = sorted(buckets, key=lambda x: x[0])
    iam = c("iam", url)
    users = []
    for u in iam.list_users()["Users"]:
        n = u["UserName"]
        keys = sorted(k["AccessKeyId"] for k in iam.list_access_keys(UserName=n)["AccessKeyMetadata"])
        try:
            iam.get_login_profile(UserName=n)
            lp = True
        except Exception:
            lp = False
        pols = sorted(p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=n)["AttachedPolicies"])
        inline = sorted(iam.list_user_policies(UserName=n)["PolicyNames"])
        users.append((n, keys, lp, pols, inline))
    out["iam_users"] = sorted(users)
    out["iam_roles"] = sorted((r["RoleName"], json.dumps(r["AssumeRolePolicyDocument"], sort_keys=True)) for r in iam.list_roles()["Roles"])
    print(json.dumps(out, sort_keys=True, indent=1, default=str))


def recording(url, action):
    if action == "download":
        with urllib.request.urlopen(f"{url}/moto-api/recorder/download-recording") as r:
            for line in r.read().decode().splitlines():
                if not line.strip():
                    continue
                rec = json.loads(line)
                body = rec.get("body") or ""
                if rec.get("body_encoded") and body:
                    body = base64.b64decode(body).decode("utf-8", "replace")
                print(json.dumps({"method": rec["method"], "url": rec["url"], "headers": rec["headers"], "body": body}))
        return
    req = urllib.request.Request(f"{url}/moto-api/recorder/{action}-recording", method="POST")
    urllib.request.urlopen(req).read()


if __name__ == "__main__":
    cmd, url = sys.argv[1], sys.argv[2]
    if cmd == "seed":
        seed(url)
    elif cmd == "snapshot":
        snapshot(url)
    elif cmd == "recording":
        recording(url, sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
