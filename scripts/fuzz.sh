#!/usr/bin/env bash
# Fuzz every parser irprep has for a bounded time each (not part of CI):
# the CloudTrail, flow-log text, Parquet and Resolver readers, the S3 access,
# load balancer, WAF, GuardDuty and EKS audit readers, the content
# sniffer and key classifier, the JSON scanner, detection YAML, scenario YAML
# (with the run-time safety check), Sigma, the SQL text helpers, the time
# parsers, and a target that builds large files from a small description.
# Needs cargo-fuzz (installed beside the build cache if missing); on a stable
# toolchain RUSTC_BOOTSTRAP enables the sanitizer flags it uses.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60, all targets)
#
# Prints, per target, the executions, the corpus size and whether it crashed;
# crashes are kept under fuzz/artifacts/<target>/ (a reproducer per crash:
# `cargo fuzz run <target> <file>`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${1:-60}
shift || true
ALL=(cloudtrail_reader flow_dns_reader other_log_readers parquet_flow sniffer json_scanner detection_yaml
     scenario_yaml sigma_compile sql_text time_parsers large_inputs integrity)
TARGETS=("${@:-${ALL[@]}}")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
TOOLS=${IRPREP_TOOLS:-${CARGO_TARGET_DIR:-$ROOT/target}/../irprep-tools}
export PATH="$TOOLS/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --quiet --locked cargo-fuzz@0.13.2 --root "$TOOLS"
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${IRPREP_FUZZ_TARGET:-${CARGO_TARGET_DIR:-$ROOT/target}/../fuzz-target}
JOBS=${IRPREP_FUZZ_JOBS:-1}
cd fuzz
cargo fuzz build -O

# Seeds: the repository's own files of each kind, plus fuzz/seeds/<target>.
seed() {
  local t=$1 d=corpus/$1
  mkdir -p "$d" "artifacts/$t"
  # cp -n and head may exit non-zero when a seed is already there or the
  # list is cut short: seeding is best effort.
  {
    [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "$d"/
    case $t in
      detection_yaml) find "$ROOT/content/detections" -name '*.yaml' -exec cp -n {} "$d"/ \; ;;
      scenario_yaml) cp -n "$ROOT"/content/scenarios/*.yaml "$d"/ ;;
      sigma_compile) find "$ROOT/crates/cli/tests" "$ROOT/content" -name '*.yml' -exec cp -n {} "$d"/ \; ;;
      sql_text) for f in "$ROOT"/content/queries/*.yaml "$ROOT"/content/detections/*/*.yaml; do cp -n "$f" "$d/sql-$(basename "$f")"; done ;;
      other_log_readers) for t in s3access alb nlb clb waf guardduty eks_audit; do
          find "$ROOT/tests/fixtures/$t" "$ROOT/tests/fixtures/$t-bad" -type f | while read -r f; do cp -n "$f" "$d/$t-$(basename "$f")"; done
        done ;;
      time_parsers) printf '7d' >"$d/span"; printf '2024-05-01T01:02:03+01:00' >"$d/rfc"; printf '2024-05-01' >"$d/date" ;;
    esac
  } >/dev/null 2>&1 || true
}

printf '%-18s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${TARGETS[@]}"; do
  seed "$t"
  max_len=4194304
  extra=()
  if [ "$t" = large_inputs ]; then max_len=4096; extra=(-timeout=60); fi
  log=$(mktemp -t "fuzz-$t.XXXXXX.log")
  set +e
  cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=4096 \
    -max_len="$max_len" -print_final_stats=1 -jobs="$JOBS" -workers="$JOBS" \
    -artifact_prefix="artifacts/$t/" "${extra[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -ho 'stat::number_of_executed_units: *[0-9]*' "$log" fuzz-*.log 2>/dev/null | awk '{s+=$2} END {print s+0}')
  rate=$(grep -ho 'stat::average_exec_per_sec: *[0-9]*' "$log" fuzz-*.log 2>/dev/null | awk '{s+=$2} END {print s+0}')
  rm -f fuzz-*.log
  n=$(find "corpus/$t" -type f | wc -l)
  if [ $rc -eq 0 ]; then r=ok; else r="CRASH (rc=$rc, see $log and artifacts/$t/)"; fi
  printf '%-18s %12s %10s %8s  %s\n' "$t" "$execs" "$rate" "$n" "$r"
done
