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
CORPUS=$OUT/corpus/AWSLogs
[ -d "$CORPUS" ] || { echo "no corpus: run scripts/bench.sh first" >&2; exit 2; }
RUNS=${RUNS:-5}
D2=$(ls -d "$CORPUS"/111122223333/CloudTrail/us-east-1/*/*/* | sort | sed -n 2p | sed 's|.*/us-east-1/||')
D3=$(ls -d "$CORPUS"/111122223333/CloudTrail/us-east-1/*/*/* | sort | sed -n 3p | sed 's|.*/us-east-1/||')
declare -A SQL
SQL[Q1]="SELECT eventname, count(*) AS n FROM cloudtrail WHERE errorcode = 'Client.DryRunOperation' GROUP BY eventname ORDER BY n DESC, eventname"
SQL[Q2]="SELECT useridentity.arn AS arn, eventname, count(*) AS n FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com' AND eventname NOT LIKE 'Get%' AND eventname NOT LIKE 'List%' AND errorcode IS NULL GROUP BY 1, 2 ORDER BY n DESC, arn, eventname"
SQL[Q3]="SELECT eventid, eventtime, json_extract_scalar(responseelements, '\$.accessKey.userName') AS user_name, json_extract_scalar(responseelements, '\$.accessKey.accessKeyId') AS key_id FROM cloudtrail WHERE eventname = 'CreateAccessKey' AND errorcode IS NULL ORDER BY eventtime, eventid"
SQL[Q4]="SELECT useridentity.arn AS arn, count(DISTINCT sourceipaddress) AS ips, count(*) AS n FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1 ORDER BY n DESC, arn LIMIT 20"
SQL[Q5]="SELECT region_partition, count(*) AS n FROM cloudtrail WHERE date_partition BETWEEN '$D2' AND '$D3' GROUP BY 1 ORDER BY 1"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| step | old (s) | new (s) | new / old | old peak RSS (MB) | new peak RSS (MB) | output equal |"
echo "|---|---|---|---|---|---|---|"
for q in Q1 Q2 Q3 Q4 Q5 hunt; do
  ta=(); tb=(); ma=0; mb=0
  for i in $(seq 1 "$RUNS"); do
    for side in a b; do
      bin=$A; [ $side = b ] && bin=$B
      if [ $q = hunt ]; then
        /usr/bin/time -f '%e %M' -o $OUT/ab.t $bin hunt -q --format jsonl --logs "$CORPUS" > $OUT/ab.$q.$side || true
      else
        /usr/bin/time -f '%e %M' -o $OUT/ab.t $bin query -q --format csv --logs "$CORPUS" "${SQL[$q]}" > $OUT/ab.$q.$side
      fi
      read -r s m < $OUT/ab.t
      if [ $side = a ]; then ta+=("$s"); [ "$m" -gt "$ma" ] && ma=$m; else tb+=("$s"); [ "$m" -gt "$mb" ] && mb=$m; fi
    done
  done
  SA=$(printf '%s\n' "${ta[@]}" | median); SB=$(printf '%s\n' "${tb[@]}" | median)
  EQ=$(cmp -s $OUT/ab.$q.a $OUT/ab.$q.b && echo yes || echo NO)
  echo "| $q | $SA | $SB | $(awk -v a="$SA" -v b="$SB" 'BEGIN {printf "%.2f", b/a}') | $((ma/1024)) | $((mb/1024)) | $EQ |"
done
