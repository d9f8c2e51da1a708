#!/usr/bin/env bash
# A real-account acceptance run of irprep, for whoever has a sandbox account:
# status -> enable -> logs verify --wait -> analytics deploy -> a query and a
# hunt on Athena over what arrived -> simulate run + verify -> analytics
# destroy -> logs cleanup -> a residue check. Every step is run even when an
# earlier one failed; a Markdown report gives each step's command, exit code,
# time, result and cost (resources changed, Athena bytes scanned).
#
#   scripts/aws-acceptance.sh --profile P --region R [--bin BIN] [--out DIR]
#                             [--sources cloudtrail,vpcflow] [--wait 20m]
#                             [--scenario public-resources] [--endpoint-url URL]
#
# Exit 0 when every step did what it should, 1 otherwise (the report says
# which). What it changes is what `logs enable` and `analytics deploy` plan
# (shown in the report), and all of it is removed again by the last steps;
# irprep's log bucket and the logs in it stay (cleanup keeps buckets).
#
# For an emulator, which delivers no logs and has no LookupEvents:
#   IRPREP_ACCEPTANCE_DELIVER   a command run after the first `logs verify`,
#                               with MARKER BUCKET ACCOUNT REGION, that writes
#                               the files the services would;
#   IRPREP_ACCEPTANCE_DELIVER_EVENTS  a command run after `simulate run`,
#                               with MANIFEST BUCKET, that writes the CloudTrail
#                               records of the simulation's calls;
#   IRPREP_ACCEPTANCE_VERIFY_LOGS  `simulate verify --logs` this instead of
#                               LookupEvents.
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=target/release/irprep
OUT=
PROFILE=
REGION=
ENDPOINT=
SOURCES=cloudtrail,vpcflow
WAIT=20m
SCENARIO=public-resources
DB=irprep_acceptance
WG=irprep-acceptance
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE=$2; shift 2 ;;
    --region) REGION=$2; shift 2 ;;
    --endpoint-url) ENDPOINT=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --sources) SOURCES=$2; shift 2 ;;
    --wait) WAIT=$2; shift 2 ;;
    --scenario) SCENARIO=$2; shift 2 ;;
    -h|--help) sed -n 2,25p "$0"; exit 0 ;;
    *) echo "aws-acceptance: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$REGION" ] || { echo "aws-acceptance: --region is required" >&2; exit 2; }
[ -x "$BIN" ] || { echo "aws-acceptance: no irprep binary at $BIN (cargo build --release, or --bin)" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d -t irprep-acceptance.XXXXXX)}
mkdir -p "$OUT"
REPORT=$OUT/report.md
AWS=(--region "$REGION")
[ -n "$PROFILE" ] && AWS+=(--profile "$PROFILE")
[ -n "$ENDPOINT" ] && AWS+=(--endpoint-url "$ENDPOINT")
SCOPE=(--sources "$SOURCES" --regions "$REGION")
FAILED=0
N=0

{
  echo "# irprep acceptance run"
  echo
  echo "- when: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- binary: $BIN ($("$BIN" --version 2>/dev/null))"
  echo "- region: $REGION; profile: ${PROFILE:-default}; endpoint: ${ENDPOINT:-AWS}"
  echo "- sources: $SOURCES; scenario: $SCENARIO"
  echo
  echo "| # | step | command | exit | seconds | result |"
  echo "|---|---|---|---|---|---|"
} > "$REPORT"

# step NAME EXPECTED_CODES RESULT_CMD -- irprep args...
# Runs irprep with the args, stdout to $OUT/NAME.out, stderr to $OUT/NAME.err;
# EXPECTED_CODES is a comma list of exit codes that count as success;
# RESULT_CMD (evaluated) summarises the step for the report.
step() {
  local name=$1 ok=$2 summary=$3; shift 4
  N=$((N + 1))
  local t0 t1 code
  t0=$(date +%s.%N)
  "$BIN" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  code=$?
  t1=$(date +%s.%N)
  local verdict=ok
  case ",$ok," in *",$code,"*) ;; *) verdict=FAILED; FAILED=1 ;; esac
  local result
  result=$(eval "$summary" 2>/dev/null | tr '\n|' ' /' | cut -c1-300)
  printf '| %d | %s | `irprep %s` | %s %s | %.1f | %s |\n' "$N" "$name" "$*" "$code" "$verdict" \
    "$(echo "$t1 - $t0" | bc)" "$result" >> "$REPORT"
  echo "aws-acceptance: $name: exit $code ($verdict)" >&2
}

jcount() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d) if isinstance(d,list) else len(d.get(sys.argv[2],[])))" "$@"; }
states() { python3 -c "import json,sys,collections; print(dict(collections.Counter(r['state'] for r in json.load(open(sys.argv[1])))))" "$1"; }

step status 0,1 'states $OUT/status.out' -- logs status "${SCOPE[@]}" --format json "${AWS[@]}"
ACCOUNT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['account'])" "$OUT/status.out" 2>/dev/null)
BUCKET=irprep-logs-$ACCOUNT-$REGION
step enable 0 'echo "$(jcount $OUT/enable.out) change(s) applied"' -- logs enable "${SCOPE[@]}" --yes --format json "${AWS[@]}"
step enable-again 0 'echo "$(jcount $OUT/enable-again.out) change(s) planned (0 expected)"; [ "$(jcount $OUT/enable-again.out)" = 0 ]' -- logs enable "${SCOPE[@]}" --dry-run --format json "${AWS[@]}"
step verify-first 0,1 'states $OUT/verify-first.out' -- logs verify "${SCOPE[@]}" --format json "${AWS[@]}"
MARKER=$(sed -n 's/.*irprep-verify-\([0-9a-f]*\).*/\1/p' "$OUT/verify-first.err" | head -1)
if [ -n "${IRPREP_ACCEPTANCE_DELIVER:-}" ]; then
  eval "$IRPREP_ACCEPTANCE_DELIVER \"$MARKER\" \"$BUCKET\" \"$ACCOUNT\" \"$REGION\"" >"$OUT/deliver.log" 2>&1 \
    || { echo "aws-acceptance: the delivery hook failed (see $OUT/deliver.log)" >&2; FAILED=1; }
fi
step verify 0 'states $OUT/verify.out' -- logs verify "${SCOPE[@]}" --marker "$MARKER" --wait "$WAIT" --format json "${AWS[@]}"
DEPLOY=(--cloudtrail "s3://$BUCKET/AWSLogs/" --results "s3://$BUCKET/athena-results/" --database "$DB" --workgroup "$WG")
case ",$SOURCES," in *,vpcflow,*) DEPLOY+=(--vpcflow "s3://$BUCKET/AWSLogs/") ;; esac
step deploy 0 'echo "$(jcount $OUT/deploy.out) change(s)"' -- analytics deploy "${DEPLOY[@]}" --yes --format json "${AWS[@]}"
step query 0 'cat $OUT/query.out; grep -o "scanned[^,;]*" $OUT/query.err | head -1' -- query --engine athena --database "$DB" --workgroup "$WG" --since 1d --format json "SELECT count(*) AS events FROM cloudtrail" "${AWS[@]}"
step hunt 0,1 'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d[\"findings\"]), \"finding(s),\", len(d.get(\"errors\") or []), \"detection error(s)\")" $OUT/hunt.out; grep -o "scanned[^,;]*" $OUT/hunt.err | tail -1' -- hunt --engine athena --database "$DB" --workgroup "$WG" --since 1d --format json "${AWS[@]}"
step simulate 0 'ls $OUT/manifests | head -3' -- simulate run "$SCENARIO" --regions "$REGION" --yes --out "$OUT/manifests" --format json "${AWS[@]}"
MANIFEST=$(ls "$OUT"/manifests/*.json 2>/dev/null | head -1)
if [ -n "${IRPREP_ACCEPTANCE_DELIVER_EVENTS:-}" ] && [ -n "$MANIFEST" ]; then
  eval "$IRPREP_ACCEPTANCE_DELIVER_EVENTS \"$MANIFEST\" \"$BUCKET\"" >>"$OUT/deliver.log" 2>&1 \
    || { echo "aws-acceptance: the events hook failed (see $OUT/deliver.log)" >&2; FAILED=1; }
fi
VERIFY_LOGS=()
[ -n "${IRPREP_ACCEPTANCE_VERIFY_LOGS:-}" ] && VERIFY_LOGS=(--logs "$IRPREP_ACCEPTANCE_VERIFY_LOGS")
step simulate-verify 0 'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d if not isinstance(d,list) else str(len(d))+\" step(s) checked\")" $OUT/simulate-verify.out' -- simulate verify "${MANIFEST:-missing-manifest}" "${VERIFY_LOGS[@]}" --format json "${AWS[@]}"
step destroy 0 'echo "$(jcount $OUT/destroy.out) removal(s)"' -- analytics destroy --database "$DB" --workgroup "$WG" --yes --format json "${AWS[@]}"
step cleanup 0 'echo "$(jcount $OUT/cleanup.out) removal(s)"' -- logs cleanup "${SCOPE[@]}" --yes --format json "${AWS[@]}"
step residue 0 'echo "$(jcount $OUT/residue.out) change(s) left to clean (0 expected)"; [ "$(jcount $OUT/residue.out)" = 0 ]' -- logs cleanup "${SCOPE[@]}" --dry-run --format json "${AWS[@]}"
step residue-analytics 0 'echo "$(jcount $OUT/residue-analytics.out) removal(s) left (0 expected)"; [ "$(jcount $OUT/residue-analytics.out)" = 0 ]' -- analytics destroy --database "$DB" --workgroup "$WG" --dry-run --format json "${AWS[@]}"

# A summary line can fail its own check (the residue counts): the report's
# result column says so; count it as a failure.
for f in enable-again residue residue-analytics; do
  [ "$(jcount "$OUT/$f.out" 2>/dev/null)" = 0 ] || FAILED=1
done
{
  echo
  echo "Kept in $OUT: each step's stdout (.out) and stderr (.err), the run manifests."
  echo "irprep's log bucket s3://$BUCKET and its logs are kept (cleanup keeps buckets)."
  echo
  if [ "$FAILED" = 0 ]; then echo "**Result: every step did what it should.**"; else echo "**Result: some steps FAILED (see the table).**"; fi
} >> "$REPORT"
echo "aws-acceptance: report $REPORT" >&2
exit "$FAILED"
