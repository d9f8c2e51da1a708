"""A CloudTrail trail with log file validation on, made as CloudTrail makes it,
and the changes an intruder would make to it, for `irprep logs validate`.

    python trail_digests.py make DIR          a trail under DIR/AWSLogs/... (4 hours, one log file an hour,
                                              signed digests) and DIR/public-keys.json (the shape of
                                              `aws cloudtrail list-public-keys`); DIR/signatures.json maps
                                              each digest key to its x-amz-meta-signature
    python trail_digests.py tamper DIR        edit one log file, delete another, plant a third, delete a
                                              middle digest; prints what was done as JSON
    python trail_digests.py upload DIR URL BUCKET
                                              put the tree into BUCKET on moto, digests with their signature
                                              metadata as CloudTrail sets it
    python trail_digests.py s3-tamper URL BUCKET
                                              on S3: overwrite one log file and delete another

Digests follow AWS's "custom implementation" of log file validation: the
SHA-256 of each log file's uncompressed content, the previous digest's
SHA-256 and signature, and an RSA PKCS #1 v1.5 SHA-256 signature over
"digestEndTime\\nbucket/object\\nhex(sha256(digest))\\nprevious signature"
("null" first). The key is made here, each run. Used by
crates/cli/tests/it/integrity.rs.
"""
import base64
import gzip
import hashlib
import json
import os
import sys

ACCOUNT = "111122223333"
REGION = "eu-west-1"
TRAIL_BUCKET = "org-trail-bucket"
ROOT = f"AWSLogs/{ACCOUNT}"
HOURS = [9, 10, 11, 12]


def log_key(h):
    return (f"{ROOT}/CloudTrail/{REGION}/2024/05/01/"
            f"{ACCOUNT}_CloudTrail_{REGION}_20240501T{h:02d}20Z_log{h}.json.gz")


def digest_key(h):
    return (f"{ROOT}/CloudTrail-Digest/{REGION}/2024/05/01/"
            f"{ACCOUNT}_CloudTrail-Digest_{REGION}_main_{REGION}_20240501T{h + 1:02d}0000Z.json.gz")


def event(h, i):
    return {"eventVersion": "1.08", "eventTime": f"2024-05-01T{h:02d}:1{i}:00Z",
            "eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.15",
            "eventID": f"ev-{h}-{i}", "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                             "accountId": ACCOUNT}}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def make(d):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    fingerprint = hashlib.md5(der).hexdigest()
    prev = None
    signatures = {}
    for h in HOURS:
        content = json.dumps({"Records": [event(h, i) for i in range(3)]}).encode()
        write(os.path.join(d, log_key(h)), gzip.compress(content))
        digest = {
            "awsAccountId": ACCOUNT,
            "digestStartTime": f"2024-05-01T{h:02d}:00:00Z",
            "digestEndTime": f"2024-05-01T{h + 1:02d}:00:00Z",
            "digestS3Bucket": TRAIL_BUCKET,
            "digestS3Object": digest_key(h),
            "digestPublicKeyFingerprint": fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": f"2024-05-01T{h:02d}:12:00Z",
            "oldestEventTime": f"2024-05-01T{h:02d}:10:00Z",
            "previousDigestS3Bucket": TRAIL_BUCKET if prev else None,
            "previousDigestS3Object": prev[0] if prev else None,
            "previousDigestHashValue": prev[1] if prev else None,
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev[2] if prev else None,
            "logFiles": [{"s3Bucket": TRAIL_BUCKET, "s3Object": log_key(h),
                          "hashValue": hashlib.sha256(content).hexdigest(), "hashAlgorithm": "SHA-256",
                          "newestEventTime": f"2024-05-01T{h:02d}:12:00Z",
                          "oldestEventTime": f"2024-05-01T{h:02d}:10:00Z"}],
        }
        body = json.dumps(digest).encode()
        sha = hashlib.sha256(body).hexdigest()
        to_sign = "%s\n%s/%s\n%s\n%s" % (digest["digestEndTime"], TRAIL_BUCKET, digest_key(h), sha,
                                         digest["previousDigestSignature"] or "null")
        sig = key.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
        write(os.path.join(d, digest_key(h)), gzip.compress(body))
        signatures[digest_key(h)] = sig
        prev = (digest_key(h), sha, sig)
    keys = {"PublicKeyList": [{"Value": base64.b64encode(der).decode(),
                               "ValidityStartTime": "2024-01-01T00:00:00Z",
                               "ValidityEndTime": "2025-01-01T00:00:00Z",
                               "Fingerprint": fingerprint}]}
    write(os.path.join(d, "public-keys.json"), json.dumps(keys).encode())
    write(os.path.join(d, "signatures.json"), json.dumps(signatures).encode())


def tamper(d):
    # An event removed from hour 9's file (recompressed, as an editor would).
    p = os.path.join(d, log_key(9))
    content = json.loads(gzip.decompress(open(p, "rb").read()))
    content["Records"] = content["Records"][1:]
    write(p, gzip.compress(json.dumps(content).encode()))
    # Hour 10's file deleted, and hour 11's digest with its file.
    os.remove(os.path.join(d, log_key(10)))
    os.remove(os.path.join(d, digest_key(11)))
    os.remove(os.path.join(d, log_key(11)))
    # A file planted in hour 10, named as CloudTrail names them.
    planted = log_key(10).replace("T1020Z_log10", "T1035Z_planted")
    write(os.path.join(d, planted), gzip.compress(json.dumps({"Records": [event(10, 5)]}).encode()))
    print(json.dumps({"modified": log_key(9), "deleted": log_key(10), "planted": planted,
                      "deleted_digest": digest_key(11)}))


def client(url):
    import boto3
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def upload(d, url, bucket):
    s3 = client(url)
    s3.create_bucket(Bucket=bucket)
    signatures = json.load(open(os.path.join(d, "signatures.json")))
    for base, _, files in os.walk(os.path.join(d, "AWSLogs")):
        for f in files:
            path = os.path.join(base, f)
            key = os.path.relpath(path, d)
            extra = {"Metadata": {"signature": signatures[key]}} if key in signatures else {}
            s3.put_object(Bucket=bucket, Key=key, Body=open(path, "rb").read(), **extra)


def s3_tamper(url, bucket):
    s3 = client(url)
    s3.put_object(Bucket=bucket, Key=log_key(12),
                  Body=gzip.compress(json.dumps({"Records": [event(12, 0)]}).encode()))
    s3.delete_object(Bucket=bucket, Key=log_key(9))
    print(json.dumps({"modified": log_key(12), "deleted": log_key(9)}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "tamper":
        tamper(sys.argv[2])
    elif cmd == "upload":
        upload(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "s3-tamper":
        s3_tamper(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
