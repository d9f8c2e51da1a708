#!/usr/bin/env bash
# The one-pass hunt against the Q4 full-scan query, in the same run: the two
# alternate RUNS times on the benchmark corpus (made by scripts/bench.sh), and
# the medians and their ratio are printed. Release build; not part of CI.
#
#   RUNS=5 scripts/bench_hunt.sh
#
# The findings of every run must be identical (compared line by line); the
# last run's profile (hunt --timings) is kept in bench/out/hunt.profile.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
CORPUS=$OUT/corpus/AWSLogs
[ -d "$CORPUS" ] || { echo "no corpus: run scripts/bench.sh first" >&2; exit 2; }
cargo build --release -p irprep --bin irprep >&2
BIN=${CARGO_TARGET_DIR:-target}/release/irprep
Q4="SELECT useridentity.arn AS arn, count(DISTINCT sourceipaddress) AS ips, count(*) AS n FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1 ORDER BY n DESC, arn LIMIT 20"
RUNS=${RUNS:-5}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
qs=(); hs=(); hm=0
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f '%e' -o $OUT/q.t $BIN query -q --format csv --logs "$CORPUS" "$Q4" > /dev/null
  qs+=("$(cat $OUT/q.t)")
  /usr/bin/time -f '%e %M' -o $OUT/h.t $BIN hunt -q --timings --format jsonl --logs "$CORPUS" > $OUT/hunt.$i.jsonl 2> $OUT/hunt.profile || true
  read -r s m < $OUT/h.t; hs+=("$s"); [ "$m" -gt "$hm" ] && hm=$m
  if [ "$i" -gt 1 ] && ! cmp -s $OUT/hunt.1.jsonl $OUT/hunt.$i.jsonl; then echo "run $i: findings differ from run 1" >&2; exit 1; fi
done
Q=$(printf '%s\n' "${qs[@]}" | median); H=$(printf '%s\n' "${hs[@]}" | median)
echo "Q4 runs: ${qs[*]} s (median $Q)"
echo "hunt runs: ${hs[*]} s (median $H), peak RSS $((hm/1024)) MB, $(wc -l < $OUT/hunt.1.jsonl) findings, identical in every run"
echo "hunt / Q4 = $(awk -v h="$H" -v q="$Q" 'BEGIN {printf "%.2f", h/q}')x"
grep -E "hunt: (scan|total)" $OUT/hunt.profile
grep -E "evidence for|rows in memory" $OUT/hunt.profile | sort -t" " -k2 -rn | head -6
