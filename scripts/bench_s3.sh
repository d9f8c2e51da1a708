#!/usr/bin/env bash
# Benchmark (not a test): reading the corpus from S3 against reading the same
# files from disk, in one run on this machine (issue 18, item 6).
#
#   scripts/bench_s3.sh            (needs the corpus of scripts/bench.sh)
#
# S3 is moto_server on 127.0.0.1 (the test venv's, at the suite's pinned
# version), so the network is a loopback and the server is one Python
# process: the figures bound what irprep's side costs, not what AWS's S3
# gives. For each query the runs alternate disk and S3 (RUNS, default 3) and
# the medians are compared; the rows must be equal. Also measured:
#   - listing alone: a query whose partition filter keeps no file, so irprep
#     lists the prefix and reads nothing;
#   - the server alone: every object fetched by boto3 with 32 threads;
#   - BASELINE=path/to/irprep: an older build, alternated with this one on S3
#     (how much the prefetch changed).
# Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
CORPUS=$OUT/corpus
RUNS=${RUNS:-3}
VENV=${IRPREP_VENV:-${CARGO_TARGET_DIR:-$PWD/target}/../irprep-venv}
[ -f "$CORPUS/labels.csv" ] || { echo "no corpus: run scripts/bench.sh first" >&2; exit 2; }
[ -x "$VENV/bin/moto_server" ] || { echo "no moto_server in $VENV: run scripts/test.sh once (it makes the venv)" >&2; exit 2; }

echo "== release build" >&2
cargo build --release -p irprep --bin irprep >&2
BIN=${CARGO_TARGET_DIR:-target}/release/irprep

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
MOTO_DIR=$(mktemp -d)
(cd "$MOTO_DIR" && exec "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT") > "$MOTO_DIR/log" 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null; rm -rf "$MOTO_DIR"' EXIT
URL=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do
  "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('$URL/moto-api/')" 2>/dev/null && break
  sleep 0.2
done
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

echo "== uploading the corpus to s3://bench-corpus" >&2
"$VENV/bin/python" - "$URL" "$CORPUS" <<'PY' >&2
import boto3, os, sys, time
from concurrent.futures import ThreadPoolExecutor
url, corpus = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
s3.create_bucket(Bucket="bench-corpus")
root = os.path.join(corpus, "AWSLogs")
files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
t = time.time()
with ThreadPoolExecutor(16) as ex:
    list(ex.map(lambda p: s3.upload_file(p, "bench-corpus", os.path.relpath(p, corpus)), files))
print(f"{len(files)} objects in {time.time() - t:.1f} s", file=sys.stderr)
PY

. scripts/bench_queries.sh
S3=s3://bench-corpus/AWSLogs/
q() { # BIN LOGS SQL OUT -> seconds on stdout
  /usr/bin/time -f '%e %M' -o $OUT/s3t.txt "$1" query -q --format csv --logs "$2" "$3" \
    --endpoint-url "$URL" --region us-east-1 > "$4"
  cat $OUT/s3t.txt
}

SERVER=$("$VENV/bin/python" - "$URL" <<'PY'
import boto3, sys, time
from concurrent.futures import ThreadPoolExecutor
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=boto3.session.Config(max_pool_connections=32))
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="bench-corpus") for o in p.get("Contents", [])]
t = time.time()
with ThreadPoolExecutor(32) as ex:
    n = sum(ex.map(lambda k: len(s3.get_object(Bucket="bench-corpus", Key=k)["Body"].read()), keys))
print(f"{time.time() - t:.2f}")
PY
)
LIST=()
for i in $(seq 1 $RUNS); do
  read -r s _ < <(q "$BIN" "$S3" "SELECT count(*) FROM cloudtrail WHERE account_partition = 'none'" $OUT/list.csv)
  LIST+=("$s")
done
L=$(printf '%s\n' "${LIST[@]}" | median)

echo "| query | disk (s) | S3 (s) | S3 / disk | S3 peak RSS (MB) | rows equal |${BASELINE:+ baseline on S3 (s) | baseline / this |}" > $OUT/s3.md
echo "|---|---|---|---|---|---|${BASELINE:+---|---|}" >> $OUT/s3.md
for name in Q1 Q4 Q5; do
  dt=(); st=(); bt=(); rss=0
  for i in $(seq 1 $RUNS); do
    read -r s _ < <(q "$BIN" "$CORPUS/AWSLogs" "${SQL[$name]}" $OUT/$name.disk.csv); dt+=("$s")
    read -r s m < <(q "$BIN" "$S3" "${SQL[$name]}" $OUT/$name.s3.csv); st+=("$s"); [ "$m" -gt "$rss" ] && rss=$m
    if [ -n "${BASELINE:-}" ]; then
      read -r s _ < <(q "$BASELINE" "$S3" "${SQL[$name]}" $OUT/$name.base.csv); bt+=("$s")
    fi
  done
  D=$(printf '%s\n' "${dt[@]}" | median); S=$(printf '%s\n' "${st[@]}" | median)
  EQ=$(cmp -s $OUT/$name.disk.csv $OUT/$name.s3.csv && echo yes || echo NO)
  ROW="| $name | $D | $S | $(awk -v s="$S" -v d="$D" 'BEGIN {printf "%.2f", s/d}')x | $((rss/1024)) | $EQ ($(($(wc -l < $OUT/$name.disk.csv) - 1)) rows) |"
  if [ -n "${BASELINE:-}" ]; then
    B=$(printf '%s\n' "${bt[@]}" | median)
    ROW="$ROW $B | $(awk -v b="$B" -v s="$S" 'BEGIN {printf "%.2f", b/s}')x |"
  fi
  echo "$ROW" >> $OUT/s3.md
done
{
  echo ""
  echo "- listing the prefix alone ($(find "$CORPUS/AWSLogs" -type f | wc -l) objects, every file pruned): $L s"
  echo "- the server alone: every object fetched by boto3, 32 threads: $SERVER s"
  echo "- corpus: $(du -sh "$CORPUS/AWSLogs" | cut -f1) gzipped; moto_server $("$VENV/bin/python" -c 'import moto; print(moto.__version__)') on 127.0.0.1"
} >> $OUT/s3.md
cat $OUT/s3.md
