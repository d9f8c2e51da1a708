#!/usr/bin/env bash
# `irprep logs` speed on an emulator estate (issue 5): 17 regions, each with
# 2 VPCs, 2 buckets, an ALB and a WAF ACL, EKS in 3. Times `logs status`,
# the first `logs enable --yes` on the fresh estate, and the second
# `logs enable --dry-run`, and counts the requests each sent (moto's
# request recorder). Not part of CI.
#
#   scripts/bench_logs.sh [BIN]     (default target/release/irprep)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/irprep}
VENV=${IRPREP_VENV:-$PWD/.venv}
[ -x "$VENV/bin/moto_server" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install --quiet 'moto[server]==5.2.5' boto3; }
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
DIR=$(mktemp -d -t bench-logs.XXXXXX)
(cd "$DIR" && exec "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT") >"$DIR/moto.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; echo "recordings: $DIR" >&2' EXIT
URL=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('$URL/moto-api/')" 2>/dev/null && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
"$VENV/bin/python" tests/emulator/logs_estate.py bench-seed "$URL" >/dev/null
REGIONS=us-east-1,us-east-2,us-west-1,us-west-2,ca-central-1,eu-west-1,eu-west-2,eu-west-3,eu-central-1,eu-north-1,ap-south-1,ap-southeast-1,ap-southeast-2,ap-northeast-1,ap-northeast-2,ap-northeast-3,sa-east-1
rec() { curl -s -X POST "$URL/moto-api/recorder/$1-recording" >/dev/null; }
count() { curl -s "$URL/moto-api/recorder/download-recording" | grep -c '"method"' || true; }
run() {
  local name=$1; shift
  rec reset; rec start
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" logs "$@" --endpoint-url "$URL" --region us-east-1 --regions "$REGIONS" --quiet >/dev/null 2>"$DIR/$name.err" || true
  t1=$(date +%s.%N)
  rec stop
  curl -s "$URL/moto-api/recorder/download-recording" > "$DIR/$(echo "$name" | tr -c 'a-z0-9' '_').rec"
  printf '| %s | %.2f s | %s |\n' "$name" "$(echo "$t1 - $t0" | bc)" "$(count)"
}
echo "| command | wall time | requests |"
echo "|---|---|---|"
run "logs status" status --format json
run "logs enable --yes (fresh estate)" enable --yes --format json
run "logs enable --dry-run (second run)" enable --dry-run --format json
run "logs status (after enable)" status --format json
