#!/usr/bin/env bash
# Two builds of irprep in one run on the benchmark corpus (made by
# scripts/bench.sh): the five queries of bench.sh and the hunt, the two
# binaries alternating RUNS times, medians side by side; the outputs of the
# two must be identical. For "did this change make anything slower?".
# Release builds; not part of CI.
#
#   RUNS=5 scripts/bench_ab.sh OLD_BINARY NEW_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2
OUT=bench/out
CORPUS=$OUT/corpus
[ -d "$CORPUS/AWSLogs" ] || { echo "no corpus: run scripts/bench.sh first" >&2; exit 2; }
RUNS=${RUNS:-5}
. scripts/bench_queries.sh
echo "| step | old (s) | new (s) | new / old | old peak RSS (MB) | new peak RSS (MB) | output equal |"
echo "|---|---|---|---|---|---|---|"
for q in Q1 Q2 Q3 Q4 Q5 hunt; do
  ta=(); tb=(); ma=0; mb=0
  for i in $(seq 1 "$RUNS"); do
    for side in a b; do
      bin=$A; [ $side = b ] && bin=$B
      if [ $q = hunt ]; then
        /usr/bin/time -f '%e %M' -o $OUT/ab.t $bin hunt -q --format jsonl --logs "$CORPUS/AWSLogs" > $OUT/ab.$q.$side || true
      else
        /usr/bin/time -f '%e %M' -o $OUT/ab.t $bin query -q --format csv --logs "$CORPUS/AWSLogs" "${SQL[$q]}" > $OUT/ab.$q.$side
      fi
      read -r s m < $OUT/ab.t
      if [ $side = a ]; then ta+=("$s"); [ "$m" -gt "$ma" ] && ma=$m; else tb+=("$s"); [ "$m" -gt "$mb" ] && mb=$m; fi
    done
  done
  SA=$(printf '%s\n' "${ta[@]}" | median); SB=$(printf '%s\n' "${tb[@]}" | median)
  EQ=$(cmp -s $OUT/ab.$q.a $OUT/ab.$q.b && echo yes || echo NO)
  echo "| $q | $SA | $SB | $(awk -v a="$SA" -v b="$SB" 'BEGIN {printf "%.2f", b/a}') | $((ma/1024)) | $((mb/1024)) | $EQ |"
done
