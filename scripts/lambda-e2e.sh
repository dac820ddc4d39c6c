#!/usr/bin/env bash
# The AWS Lambda adapter suite (issue 6), runnable on its own and run by scripts/test.sh:
#
#   1. tools: scripts/tools.sh lambda (cargo-lambda with zig, cfn-lint; cached venv)
#   2. template: cfn-lint template.yaml, and `sam validate --lint` when the SAM CLI is installed
#   3. build-time validation: an invalid config and an undefined ${VAR} must fail the build of
#      manifold-lambda with located messages (file:line:column)
#   4. builds: the native server (release) and the bootstrap (dev, what cargo lambda watch runs)
#   5. tests/lambda/e2e.py: cargo lambda watch + invoke for four event kinds and the
#      Function-URL emulation, compared with the native server on the same scenarios; and a
#      third watch with tests/lambda/telemetry.e2e.json: spans at a real OTLP receiver before
#      the answer, the access log's JSON line checked field by field
#   6. tests/lambda/redis.py: shared state through one redis-server (Debian package
#      `redis-server`, installed when missing) on a free loopback port, with two `cargo lambda
#      watch` of the function (two sandboxes each): client_max_rate 10/h alternated and under
#      5 concurrent clients (exactly 10 pass), the shared HTTP cache, a quota per API key (key A
#      exhausts it, key B passes, RateLimit-* headers), a key written to Redis at run time
#      (`keys_from`: accepted, its own quota, refused once deleted), Redis stopped (the
#      configured policy, no hang)
#   7. tests/lambda/secrets.py: the bootstrap built with tests/lambda/secrets.e2e.json (its JWT
#      key and backend credential are `${env:NAME}` placeholders, read at cold start): neither
#      secret is in the binary, they work when given with --env-var, a missing one fails the init
#
# A missing tool or a failed build is a failure, never a skip. Everything started is stopped.
# The last line is `lambda e2e: P passed, F failed`; the exit status is non-zero on failure.
#
# Usage: scripts/lambda-e2e.sh [--measure]
#   --measure  afterwards, also build the release bootstraps (x86_64 and arm64) and measure
#              size, cold start and peak RSS (tests/lambda/measure.py; figures in docs/lambda.md)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

measure=0
[ "${1:-}" = "--measure" ] && measure=1

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
finish() {
  echo "lambda e2e: $passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit $?
}

# Runs "$@", keeps its output in $out, and reports under $name.
run() {
  local name=$1
  shift
  if out=$("$@" 2>&1); then
    ok "$name"
  else
    fail "$name"
    echo "$out" | tail -25 | sed 's/^/     /'
    return 1
  fi
}

# --- 1. tools ---------------------------------------------------------------------------
if ! run "tools (cargo-lambda, cfn-lint)" scripts/tools.sh lambda; then
  finish
fi
# The OTLP receiver of the telemetry check (tests/telemetry/receiver.py, opentelemetry-proto).
if ! run "tools (opentelemetry-proto)" scripts/tools.sh telemetry; then
  finish
fi
# shellcheck disable=SC1091
source "${MANIFOLD_CACHE:-$HOME/.cache/manifold}/env.sh"
for tool in "cargo lambda --version" "cfn-lint --version"; do
  if ! $tool >/dev/null 2>&1; then
    fail "tool missing after tools.sh: $tool"
    finish
  fi
done

# --- 2. template ----------------------------------------------------------------------
run "cfn-lint template.yaml" cfn-lint template.yaml
if command -v sam >/dev/null 2>&1; then
  SAM_CLI_TELEMETRY=0 run "sam validate --lint" sam validate --lint -t template.yaml
else
  echo "note sam validate --lint not run: the SAM CLI is not installed (optional; cfn-lint ran)"
fi

# --- 3. build-time validation -----------------------------------------------------------
# Must fail, and say where. These run before the normal build so the last build script run is
# the default config's.
expect_build_failure() {
  local name=$1 config=$2 pattern=$3
  shift 3
  local out status
  out=$(env "$@" MANIFOLD_CONFIG="$config" cargo build -p manifold-lambda --bin bootstrap 2>&1)
  status=$?
  if [ "$status" != 0 ] && echo "$out" | grep -Eq "$pattern"; then
    ok "$name"
    echo "$out" | grep -E "$pattern" | head -3 | sed 's/^/     /'
  else
    fail "$name (exit $status, expected a failure matching /$pattern/)"
    echo "$out" | tail -15 | sed 's/^/     /'
  fi
}
expect_build_failure "invalid config fails the build with line:column" \
  tests/lambda/invalid.json 'invalid\.json:8:11: .*unknown key `url_patern`'
expect_build_failure "undefined \${VAR} fails the build with line:column" \
  tests/lambda/gateway.e2e.json 'gateway\.e2e\.json:6:30: environment variable `E2E_BACKEND_PORT` is not set' \
  -u E2E_BACKEND_PORT
expect_build_failure "a websocket endpoint fails the build, named (Lambda cannot hold a socket)" \
  tests/lambda/websocket.json 'websocket\.json:9:9: endpoints\[0\]\.extra_config\.websocket \(GET /chat\): AWS Lambda cannot hold a WebSocket'

# --- 4. builds -------------------------------------------------------------------------
built=1
run "build the native server (release)" cargo build --release -p manifold || built=0
run "build the bootstrap (default config embedded)" cargo build -p manifold-lambda --bin bootstrap || built=0

# --- 5. end to end ---------------------------------------------------------------------
if [ "$built" = 1 ]; then
  counts=$(mktemp)
  # The driver stops its own processes; forward a TERM so it gets the chance.
  python3 tests/lambda/e2e.py --counts "$counts" &
  driver=$!
  trap 'kill -TERM "$driver" 2>/dev/null' TERM INT
  wait "$driver"
  trap - TERM INT
  if read -r p f <"$counts" 2>/dev/null && [ -n "${p:-}" ]; then
    passed=$((passed + p))
    failed=$((failed + f))
  else
    fail "tests/lambda/e2e.py did not report (crashed?)"
  fi
  rm -f "$counts"
else
  fail "end-to-end not run: a build failed"
fi

# --- 6. shared state through Redis ---------------------------------------------------------
# Runs the default build of step 4 (its config comes at run time, MANIFOLD_LAMBDA_CONFIG).
if ! command -v redis-server >/dev/null 2>&1; then
  run "install redis-server (Debian package)" \
    sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server'
  # The package may start a system service on the default port; the suite runs its own.
  service redis-server stop >/dev/null 2>&1 || true
fi
if [ "$built" = 1 ] && command -v redis-server >/dev/null 2>&1; then
  counts=$(mktemp)
  python3 tests/lambda/redis.py "$(command -v redis-server)" --counts "$counts" &
  driver=$!
  trap 'kill -TERM "$driver" 2>/dev/null' TERM INT
  wait "$driver"
  trap - TERM INT
  if read -r p f <"$counts" 2>/dev/null && [ -n "${p:-}" ]; then
    passed=$((passed + p))
    failed=$((failed + f))
  else
    fail "tests/lambda/redis.py did not report (crashed?)"
  fi
  rm -f "$counts"
else
  fail "shared state through Redis not run: a build failed or redis-server is missing"
fi

# --- 7. secrets read at cold start -----------------------------------------------------------
# In the build's environment too: the build must not read them. Built after steps 5 and 6, so e2e.py
# and redis.py ran the default build; the next run's step 4 rebuilds it.
E2E_JWT_K=$(python3 -c 'import json; print(json.load(open("tests/e2e-jwt/tokens.json"))["jwk"]["k"])')
E2E_BACKEND_KEY="e2e-key-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
export E2E_JWT_K E2E_BACKEND_KEY
if run "build the bootstrap with secrets.e2e.json (secrets in the build environment)" \
  env MANIFOLD_CONFIG=tests/lambda/secrets.e2e.json cargo build -p manifold-lambda --bin bootstrap; then
  counts=$(mktemp)
  python3 tests/lambda/secrets.py --counts "$counts" \
    --bootstrap "${CARGO_TARGET_DIR:-$ROOT/target}/debug/bootstrap"
  if read -r p f <"$counts" 2>/dev/null && [ -n "${p:-}" ]; then
    passed=$((passed + p))
    failed=$((failed + f))
  else
    fail "tests/lambda/secrets.py did not report (crashed?)"
  fi
  rm -f "$counts"
fi

# --- measurements (opt-in) ----------------------------------------------------------------
if [ "$measure" = 1 ]; then
  run "measure (sizes, cold start, RSS)" python3 tests/lambda/measure.py && echo "$out"
fi

finish
