#!/usr/bin/env bash
# For scripts/aws-acceptance.sh on moto (IRPREP_ACCEPTANCE_DELIVER): write the
# files CloudTrail and VPC Flow Logs would, for `logs verify` to find.
#   deliver_probe.sh MOTO_URL PYTHON MARKER BUCKET ACCOUNT REGION
set -euo pipefail
URL=$1 PY=$2 MARKER=$3 BUCKET=$4 ACCOUNT=$5 REGION=$6
HERE=$(dirname "$0")
DIR=$(mktemp -d)
DAY=$(date -u +%Y/%m/%d)
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf '{"Records":[{"eventVersion":"1.08","eventSource":"ec2.amazonaws.com","eventName":"DescribeRegions","awsRegion":"%s","eventTime":"%s","userAgent":"aws-sdk-rust app/irprep-verify-%s","recipientAccountId":"%s"}]}' \
  "$REGION" "$NOW" "$MARKER" "$ACCOUNT" > "$DIR/trail.json"
printf 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n' > "$DIR/flow.log"
"$PY" "$HERE/deliver.py" "$URL" "$BUCKET" --drop-policy
"$PY" "$HERE/deliver.py" "$URL" "$BUCKET" "AWSLogs/$ACCOUNT/CloudTrail/$REGION/$DAY/${ACCOUNT}_CloudTrail_${REGION}_probe.json.gz" "$DIR/trail.json"
"$PY" "$HERE/deliver.py" "$URL" "$BUCKET" "AWSLogs/$ACCOUNT/vpcflowlogs/$REGION/$DAY/${ACCOUNT}_vpcflowlogs_${REGION}_probe.log.gz" "$DIR/flow.log"
rm -rf "$DIR"
