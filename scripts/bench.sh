#!/usr/bin/env bash
# Benchmarks (not tests): irprep against DuckDB on the same generated corpus,
# in one run on this machine. Release build; not part of CI.
#
#   scripts/bench.sh [EVENTS]      (default 1,000,000 background events, >= 1 GB of JSON)
#
# Prints a Markdown table for BENCHMARKS.md and writes bench/out/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-1000000}
OUT=bench/out
CORPUS=$OUT/corpus
mkdir -p "$OUT"
VENV=${IRPREP_BENCH_VENV:-$PWD/.venv-bench}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null || "$VENV/bin/pip" install --quiet 'duckdb==2.0.1'

echo "== release build" >&2
# One invocation, so features unify and DataFusion is built once.
cargo build --release -p irprep -p irprep-engine --bin irprep --example decompress_floor >&2
BIN=${CARGO_TARGET_DIR:-target}/release/irprep

if [ ! -f "$CORPUS/labels.csv" ]; then
  echo "== generating the corpus ($EVENTS background events)" >&2
  rm -rf "$CORPUS"
  /usr/bin/time -f '%e s %M KB' -o $OUT/synth.time \
    $BIN simulate synth --out "$CORPUS" --background "$EVENTS" --days 7 \
      --accounts 111122223333,222233334444,333344445555 --regions us-east-1,eu-west-1,us-west-2,ap-southeast-2 \
      --background-regions 4 --file-minutes 15 --seed 42 --scenario all
fi
UNCOMP=$(${CARGO_TARGET_DIR:-target}/release/examples/decompress_floor "$CORPUS/AWSLogs")
echo "floor: $UNCOMP" >&2
ZCAT=$( { /usr/bin/time -f '%e' find "$CORPUS/AWSLogs" -name '*.gz' -exec cat {} + | gzip -dc > /dev/null; } 2>&1 | tail -1 )
. scripts/bench_queries.sh
RUNS=${RUNS:-3}
echo "| query | irprep (s) | irprep peak RSS (MB) | DuckDB (s) | DuckDB peak RSS (MB) | DuckDB / irprep | rows equal |" > $OUT/table.md
echo "|---|---|---|---|---|---|---|" >> $OUT/table.md
Q4_IRPREP=""
for q in Q1 Q2 Q3 Q4 Q5; do
  it=(); dt=(); irss=0; drss=0
  for i in $(seq 1 $RUNS); do
    /usr/bin/time -f '%e %M' -o $OUT/t.txt $BIN query -q --format csv --logs "$CORPUS/AWSLogs" "${SQL[$q]}" > $OUT/$q.irprep.csv
    read -r s m < $OUT/t.txt; it+=("$s"); [ "$m" -gt "$irss" ] && irss=$m
    /usr/bin/time -f '%e %M' -o $OUT/t2.txt "$VENV/bin/python" bench/duckdb_queries.py "$CORPUS" "$D2" "$D3" $q $OUT/$q.duckdb.csv > $OUT/d.txt
    read -r s2 m2 < $OUT/t2.txt; dt+=("$(cat $OUT/d.txt)"); [ "$m2" -gt "$drss" ] && drss=$m2
  done
  I=$(printf '%s\n' "${it[@]}" | median); D=$(printf '%s\n' "${dt[@]}" | median)
  tail -n +2 $OUT/$q.irprep.csv > $OUT/$q.a; cp $OUT/$q.duckdb.csv $OUT/$q.b
  EQ=$(cmp -s $OUT/$q.a $OUT/$q.b && echo yes || echo NO)
  R=$(awk -v d="$D" -v i="$I" 'BEGIN {printf "%.2f", d/i}')
  echo "| $q | $I | $((irss/1024)) | $D | $((drss/1024)) | ${R}x | $EQ ($(wc -l < $OUT/$q.a) rows) |" >> $OUT/table.md
  [ $q = Q4 ] && Q4_IRPREP=$I
done
/usr/bin/time -f '%e %M' -o $OUT/h.txt $BIN hunt -q --format jsonl --logs "$CORPUS/AWSLogs" > $OUT/hunt.jsonl || true
read -r HS HM < $OUT/h.txt
echo "" >> $OUT/table.md
echo "- decompression floor (libdeflate, all cores): $UNCOMP; gzip -dc on one core: ${ZCAT} s" >> $OUT/table.md
echo "- hunt, all detections in one pass: ${HS} s, peak RSS $((HM/1024)) MB = $(awk -v h="$HS" -v q="$Q4_IRPREP" 'BEGIN {printf "%.2f", h/q}')x the Q4 full scan; $(wc -l < $OUT/hunt.jsonl) findings" >> $OUT/table.md
[ -f $OUT/synth.time ] && echo "- corpus synthesis ($EVENTS background events + every scenario): $(cat $OUT/synth.time)" >> $OUT/table.md
echo "- corpus: $(find "$CORPUS/AWSLogs" -name '*.gz' | wc -l) files, $(du -sh "$CORPUS/AWSLogs" | cut -f1) gzipped; days compared in Q5: $D2 .. $D3" >> $OUT/table.md
cat $OUT/table.md
