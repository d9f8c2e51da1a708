"""Write a log object into a bucket the way a delivering service would.

    python deliver.py URL BUCKET KEY FILE     put FILE's bytes, gzipped, at s3://BUCKET/KEY
    python deliver.py URL BUCKET --drop-policy

moto applies a bucket policy's Deny without its conditions, so irprep's
TLS-only statement (`aws:SecureTransport` false) refuses every object request
there; `--drop-policy` removes the policy first (on AWS the services write
over TLS and the statement does not apply to them). Used by
crates/cli/tests/it/logs_moto.rs (`logs verify`).
"""
import gzip
import sys

import boto3


def main():
    url, bucket = sys.argv[1], sys.argv[2]
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    if sys.argv[3] == "--drop-policy":
        s3.delete_bucket_policy(Bucket=bucket)
        return
    key, path = sys.argv[3], sys.argv[4]
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(f.read()))


if __name__ == "__main__":
    main()
