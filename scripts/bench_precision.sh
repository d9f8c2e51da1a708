#!/usr/bin/env bash
# The catalogue's precision on every labelled set in ../shared/datasets and on
# `simulate synth` background (issue 21): per detection, evidence events by
# label; medium+ findings on benign events; Panther's rule tests for the rules
# bench/precision/panther-map.yaml maps. Debug build (precision, not speed);
# not part of CI. The report is written to bench/out/precision.md.
#
#   scripts/bench_precision.sh [--background N]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${IRPREP_VENV:-$PWD/.venv}
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install --quiet pyyaml; }
"$VENV/bin/python" -c 'import yaml' 2>/dev/null || "$VENV/bin/pip" install --quiet pyyaml
cargo build -q -p irprep --bin irprep >&2
export IRPREP_BIN=${IRPREP_BIN:-${CARGO_TARGET_DIR:-target}/debug/irprep}
exec "$VENV/bin/python" scripts/bench_precision.py "$@"
