#!/usr/bin/env bash
# Fuzz the record readers (CloudTrail, flow logs, DNS), the JSON scanner and the Sigma compiler for a bounded
# time each (not part of CI). Needs cargo-fuzz (installed here if missing);
# on a stable toolchain RUSTC_BOOTSTRAP enables the sanitizer flags it uses.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export RUSTC_BOOTSTRAP=1
cd fuzz
for t in cloudtrail_reader flow_dns_reader json_scanner sigma_compile; do
  mkdir -p corpus/$t
  [ -d seeds/$t ] && cp -n seeds/$t/* corpus/$t/ 2>/dev/null || true
  echo "== fuzzing $t for ${SECS}s"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=4096 -max_len=262144
done
