"""For scripts/aws-acceptance.sh on moto (IRPREP_ACCEPTANCE_DELIVER_EVENTS):
write the CloudTrail records a simulation's calls would have made, as
CloudTrail would deliver them, so `simulate verify --logs` can find them.

    python deliver_events.py URL MANIFEST BUCKET

Each expected event of the run manifest becomes a record with its source,
name, error code, region, time and request id, and the run's marker in its
user agent (as the calls carried it), in one delivery file per region under
AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/.
"""
import gzip
import json
import sys

import boto3


def main():
    url, manifest, bucket = sys.argv[1:4]
    m = json.load(open(manifest))
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    by_region = {}
    for e in m["expected_events"]:
        by_region.setdefault(e["region"], []).append({
            "eventVersion": "1.08",
            "eventSource": e["event_source"],
            "eventName": e["event_name"],
            "errorCode": e["error_code"],
            "awsRegion": e["region"],
            "eventTime": e["call_time"][:19] + "Z",
            "requestID": e["request_id"],
            "eventID": e["request_id"],
            "userAgent": f"irprep {m['marker']}",
            "recipientAccountId": m["account"],
            "userIdentity": {"type": "IAMUser", "accountId": m["account"]},
        })
    for region, records in by_region.items():
        day = records[0]["eventTime"][:10].replace("-", "/")
        key = f"AWSLogs/{m['account']}/CloudTrail/{region}/{day}/{m['account']}_CloudTrail_{region}_{m['run_id']}.json.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps({"Records": records}).encode()))
    print(json.dumps({"files": len(by_region)}))


if __name__ == "__main__":
    main()
