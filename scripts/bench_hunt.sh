#!/usr/bin/env bash
# The one-pass hunt against the Q4 full-scan query, in the same run, at
# several sizes and on adversarial corpus shapes. Release build; not part of
# CI.
#
#   scripts/bench_hunt.sh                       (the benchmark corpus of scripts/bench.sh, RUNS times)
#   SIZES="1000000 3000000 10000000" SHAPES="normal one-principal one-minute many-principals" scripts/bench_hunt.sh scale
#
# Default mode: Q4 and `irprep hunt` alternate RUNS times on bench/out/corpus;
# the medians and their ratio are printed, and the findings of every run must
# be identical.
#
# Scale mode: for each shape and size, a corpus is synthesised once into
# bench/out/hunt/<shape>-<size> (`simulate synth --shape`, in bounded
# memory), then in one run: Q4, the hunt at the default memory limit, the
# hunt at `--memory-limit 512M`, and (up to UNBOUNDED_MAX events, where it
# fits) the hunt at 64G. Time, peak RSS and the findings are recorded; the
# findings must be identical at every limit. A Markdown table goes to
# bench/out/hunt/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
cargo build --release -p irprep --bin irprep >&2
BIN=${CARGO_TARGET_DIR:-target}/release/irprep
Q4="SELECT useridentity.arn AS arn, count(DISTINCT sourceipaddress) AS ips, count(*) AS n FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1 ORDER BY n DESC, arn LIMIT 20"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [ "${1:-}" != scale ]; then
  CORPUS=$OUT/corpus/AWSLogs
  [ -d "$CORPUS" ] || { echo "no corpus: run scripts/bench.sh first" >&2; exit 2; }
  RUNS=${RUNS:-5}
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
  exit 0
fi

SIZES=${SIZES:-"1000000 3000000 10000000"}
SHAPES=${SHAPES:-"normal one-principal one-minute many-principals"}
UNBOUNDED_MAX=${UNBOUNDED_MAX:-3000000}
DIR=$OUT/hunt
mkdir -p "$DIR"
TABLE=$DIR/table.md
echo "| shape | events | files | Q4 (s) | hunt (s) | hunt / Q4 | peak RSS (MB) | spilled rows | hunt 512M (s) | peak RSS 512M (MB) | unbounded: peak RSS (MB) | findings | identical |" > "$TABLE"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|" >> "$TABLE"
# One hunt: seconds, peak RSS (KB), spilled rows; findings to $2.
hunt() {
  local logs=$1 out=$2; shift 2
  /usr/bin/time -f '%e %M' -o $DIR/h.t $BIN hunt -q --timings --format jsonl --logs "$logs" "$@" > "$out" 2> "$out.profile" || true
  local spilled
  spilled=$(grep -oE 'hunt: [0-9]+ rows \(' "$out.profile" | grep -oE '[0-9]+' || true)
  echo "$(cat $DIR/h.t) ${spilled:-0}"
}
for shape in $SHAPES; do
  for n in $SIZES; do
    C=$DIR/$shape-$n
    if [ ! -f "$C/labels.csv" ]; then
      rm -rf "$C"
      /usr/bin/time -f '%e s %M KB' -o "$C.synth" \
        $BIN simulate synth -q --out "$C" --background "$n" --days 7 \
          --accounts 111122223333,222233334444,333344445555 --regions us-east-1,eu-west-1,us-west-2,ap-southeast-2 \
          --background-regions 4 --file-minutes 15 --seed 42 --scenario all --shape "$shape"
      echo "synth $shape $n: $(cat "$C.synth")" >&2
    fi
    L=$C/AWSLogs
    /usr/bin/time -f '%e' -o $DIR/q.t $BIN query -q --format csv --logs "$L" "$Q4" > /dev/null
    Q=$(cat $DIR/q.t)
    read -r HS HM HSP < <(hunt "$L" $DIR/f.default.jsonl)
    read -r LS LM _ < <(hunt "$L" $DIR/f.512.jsonl --memory-limit 512M)
    SAME=yes
    cmp -s $DIR/f.default.jsonl $DIR/f.512.jsonl || SAME="NO (512M differs)"
    UM="—"
    if [ "$n" -le "$UNBOUNDED_MAX" ]; then
      read -r _ UK _ < <(hunt "$L" $DIR/f.free.jsonl --memory-limit 64G)
      UM=$((UK/1024))
      cmp -s $DIR/f.default.jsonl $DIR/f.free.jsonl || SAME="NO (unbounded differs)"
    fi
    R=$(awk -v h="$HS" -v q="$Q" 'BEGIN {printf "%.2f", h/q}')
    FILES=$(find "$L" -name '*.gz' | wc -l)
    echo "| $shape | $n | $FILES | $Q | $HS | ${R}x | $((HM/1024)) | $HSP | $LS | $((LM/1024)) | $UM | $(wc -l < $DIR/f.default.jsonl) | $SAME |" | tee -a "$TABLE"
    cp $DIR/f.default.jsonl.profile "$C.hunt.profile"
  done
done
cat "$TABLE"
