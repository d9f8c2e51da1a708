#!/usr/bin/env bash
# The whole test suite, from nothing: the code gates (rustfmt, clippy, docs,
# unused dependencies, the crate graph), a Python venv with the emulator and
# the SQL checker, Debian's chromium, moto_server on a free loopback port, then
# cargo test, which must run every test (none ignored for want of the
# emulator, the venv or the browser).
#
#   scripts/test.sh [extra cargo test args]
#
# Plain `cargo test` runs without any of this; the tests that need the
# emulator, the venv or ../shared/datasets are then reported as ignored.
#
# Environment given to the tests:
#   IRPREP_TEST_MOTO_URL  http://127.0.0.1:<port> of the running moto_server
#   IRPREP_TEST_PYTHON    the venv's python (sqlglot, boto3, the Python reference)
#   IRPREP_TEST_CHROMIUM  Debian's chromium (installed when absent), for the HTML report
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${IRPREP_VENV:-$ROOT/.venv}
PY=python3
CHROMIUM=${IRPREP_CHROMIUM:-/usr/bin/chromium}

# The Python venv and Debian's chromium are provisioned in the background
# while the gates compile (network and disk, little CPU); waited for below.
provision() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating Python venv at $VENV"
    $PY -m venv "$VENV"
  fi
  # Pinned to the versions the project was checked with (see ../shared/reference/feasibility.md).
  # boto3/botocore too: botocore 1.44.18 speaks REST-JSON to
  # Athena, which moto 5.2.5 does not route (every Athena call gets a 404); an
  # existing venv with other versions is brought to these.
  PINS=('moto[server]==5.2.5' 'sqlglot==30.30.0' 'boto3==1.44.13' 'botocore==1.44.13' 'cfn-lint==1.58.0' 'parliament==1.6.4')
  if ! "$VENV/bin/python" - "${PINS[@]}" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    assert version(name.split("[")[0]) == want, pin
PYEOF
  then
    echo "== installing ${PINS[*]}"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
  fi

  # Debian's Chromium, headless, for the HTML report's test.
  if ! "$CHROMIUM" --version >/dev/null 2>&1; then
    echo "== installing Debian's chromium"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
      || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; }
  fi
}
PROV_LOG=$(mktemp -t irprep-provision.XXXXXX.log)
provision >"$PROV_LOG" 2>&1 &
PROV_PID=$!

echo "== gates: rustfmt, unused dependencies, crate graph, clippy, docs"
cargo fmt --all --check
# cargo-machete reads the sources for each declared dependency; installed
# once beside the build cache (pinned).
TOOLS=${IRPREP_TOOLS:-${CARGO_TARGET_DIR:-$ROOT/target}/../irprep-tools}
if ! "$TOOLS/bin/cargo-machete" --version >/dev/null 2>&1; then
  echo "== installing cargo-machete into $TOOLS"
  cargo install --quiet --locked cargo-machete@0.9.1 --root "$TOOLS"
fi
"$TOOLS/bin/cargo-machete" --with-metadata
# The AWS edge depends on core only (ARCHITECTURE.md): no engine, no DataFusion.
if cargo tree -p irprep-aws -e normal --prefix none | grep -E '^(irprep-engine|datafusion) '; then
  echo "irprep-aws must not depend on irprep-engine or DataFusion"; exit 1
fi
cargo clippy --workspace --all-targets --quiet -- -D warnings
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --quiet

# The venv and the browser were provisioned beside the gates (above).
if ! wait "$PROV_PID"; then
  echo "provisioning the venv or chromium failed:"; cat "$PROV_LOG"; exit 1
fi
cat "$PROV_LOG"

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
LOG=$(mktemp -t moto.XXXXXX.log)
echo "== starting moto_server on 127.0.0.1:$PORT (log: $LOG)"
# Run it in a scratch directory: its request recorder writes ./moto_recording.
MOTO_DIR=$(mktemp -d -t moto.XXXXXX)
(cd "$MOTO_DIR" && exec "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT") >"$LOG" 2>&1 &
MOTO_PID=$!
# A second emulator that enforces IAM after the 16 set-up calls of
# tests/emulator/logs_estate.py auth-setup (least-privilege and Organization tests).
AUTH_PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
AUTH_DIR=$(mktemp -d -t moto-auth.XXXXXX)
(cd "$AUTH_DIR" && INITIAL_NO_AUTH_ACTION_COUNT=16 exec "$VENV/bin/moto_server" -H 127.0.0.1 -p "$AUTH_PORT") >"$LOG.auth" 2>&1 &
AUTH_PID=$!
cleanup() { kill "$MOTO_PID" "$AUTH_PID" 2>/dev/null || true; wait "$MOTO_PID" "$AUTH_PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/')" 2>/dev/null; then break; fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then echo "moto_server died:"; cat "$LOG"; exit 1; fi
  sleep 0.2
done

for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $AUTH_PORT), 1)" 2>/dev/null; then break; fi
  sleep 0.2
done
export IRPREP_TEST_MOTO_URL="http://127.0.0.1:$PORT"
export IRPREP_TEST_MOTO_AUTH_URL="http://127.0.0.1:$AUTH_PORT"
export IRPREP_TEST_PYTHON="$VENV/bin/python"
export IRPREP_TEST_CHROMIUM="$CHROMIUM"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN || true

echo "== cargo test"
# Snapshots are compared, never written (unless INSTA_UPDATE=always is given).
export INSTA_UPDATE=${INSTA_UPDATE:-no}
TESTLOG=$(mktemp -t irprep-test.XXXXXX.log)
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$TESTLOG"
# Every test ran: an ignored test here means something this script should
# provide was missing.
if grep -E '^test result: .* [1-9][0-9]* ignored' "$TESTLOG"; then
  echo "some tests were ignored (see above): the suite must run them all"; exit 1
fi
