#!/usr/bin/env bash
# `backend/lambda` end to end (issue 17 point 6), runnable on its own and run by scripts/test.sh:
# `cargo lambda watch` serves a tiny function (tests/lambda-fn/invoke-target.rs) through its
# local Invoke API (`POST /2015-03-31/functions/invoke-target/invocations` on --invoke-port),
# and a Manifold endpoint aggregates it with an HTTP backend (a Python stub), twice:
#
#   1. natively: `manifold run`, the AWS_* variables in its environment;
#   2. from the Lambda adapter: the `bootstrap` of manifold-lambda under a second `cargo lambda
#      watch` (the invoke-target lives in manifold-tests, the gateway in manifold-lambda: one
#      emulator per package), the same gateway.json given at cold start through
#      MANIFOLD_LAMBDA_CONFIG, the AWS_* variables through `--env-file` as a deployed function
#      gets them from its role; requests sent to the emulator's Function-URL endpoint
#      (`/lambda-url/bootstrap/...`).
#
# The gateway signs every call with SigV4 from the AWS_* variables it is given (the emulator does
# not check signatures; the signer is checked against AWS's example and botocore in core's unit
# tests).
#
# Checks, on both: GET sends the endpoint parameters, merged with the HTTP backend's answer; POST
# sends the body; the function name from a parameter; an unknown function and a function error
# are backend failures (500, named in the access log); without AWS credentials the call fails,
# saying so.
#
# A missing tool or a failed build is a failure, never a skip; everything started is stopped.
# The last line is `P passed, F failed` (scripts/lib/harness.sh).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=lib/harness.sh
source scripts/lib/harness.sh

out=$(scripts/tools.sh lambda 2>&1) || abort "tools (cargo-lambda)" "$out"
# shellcheck disable=SC1091
source "${MANIFOLD_CACHE:-$HOME/.cache/manifold}/env.sh"
cargo lambda --version >/dev/null 2>&1 || abort "cargo lambda missing after tools.sh"

manifold_bin
# The bootstrap with the default embedded config: this suite's config comes at cold start.
if out=$(cargo build -p manifold-tests --bin invoke-target 2>&1) &&
  out2=$(cargo build -p manifold-lambda --bin bootstrap 2>&1); then
  ok "build the native server, the Lambda bootstrap and the test function"
else
  abort "build" "${out:-}${out2:-}"
fi

invoke_port=$(free_port)
backend_port=$(free_port)

# The HTTP backend: /users/{id} answers {"name": "user-<id>"}.
cat >"$work/backend.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"name": "user-" + self.path.rsplit("/", 1)[-1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/backend.py" "$backend_port" &
pids+=($!)
wait_port "$backend_port" 10 || abort "HTTP backend did not start"

cargo lambda watch -p manifold-tests --bin invoke-target --ignore-changes \
  -A 127.0.0.1 -P "$invoke_port" >"$work/watch.log" 2>&1 &
pids+=($!)
if wait_port "$invoke_port" 300; then
  ok "cargo lambda watch serves the Invoke API on :$invoke_port"
else
  fail "cargo lambda watch did not start" "$(cat "$work/watch.log")"
  finish
fi

cat >"$work/gateway.json" <<JSON
{"version": 3, "timeout": "30s",
 "endpoints": [
  {"endpoint": "/orders/{id}",
   "backend": [
     {"host": ["http://unused"], "url_pattern": "/unused", "group": "fn",
      "extra_config": {"backend/lambda": {"function_name": "invoke-target", "region": "us-east-1",
                                          "endpoint": "http://127.0.0.1:$invoke_port"}}},
     {"host": ["http://127.0.0.1:$backend_port"], "url_pattern": "/users/{id}", "group": "user"}]},
  {"endpoint": "/orders", "method": "POST",
   "backend": [{"host": ["http://unused"], "url_pattern": "/unused", "method": "POST",
      "extra_config": {"backend/lambda": {"function_name": "invoke-target", "region": "us-east-1",
                                          "endpoint": "http://127.0.0.1:$invoke_port"}}}]},
  {"endpoint": "/fn/{function}/{id}",
   "backend": [{"host": ["http://unused"], "url_pattern": "/unused",
      "extra_config": {"backend/lambda": {"function_param_name": "Function",
                                          "endpoint": "http://127.0.0.1:$invoke_port"}}}]},
  {"endpoint": "/fail/{fail}",
   "backend": [{"host": ["http://unused"], "url_pattern": "/unused",
      "extra_config": {"backend/lambda": {"function_name": "invoke-target", "region": "us-east-1",
                                          "endpoint": "http://127.0.0.1:$invoke_port"}}}]}
 ]}
JSON

# Start `manifold run` with ENV... on PORT; its log in LOG.
start_gateway() { # port log env...
  local port=$1 log=$2
  shift 2
  env "$@" "$bin" run -c "$work/gateway.json" -p "$port" --log-format json >"$log" 2>&1 &
  pids+=($!)
  wait_port "$port" 30
}

# Serve the bootstrap under `cargo lambda watch` on PORT with gateway.json and the variables
# of ENV_FILE (the emulator adds its own AWS_LAMBDA_*); everything it prints goes to LOG.
# The AWS_* credentials are unset in the emulator's own environment, so the function only has
# what ENV_FILE gives it.
start_function() { # port log env_file
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    cargo lambda watch -p manifold-lambda --bin bootstrap --ignore-changes --disable-cors \
    -A 127.0.0.1 -P "$1" --env-var "MANIFOLD_LAMBDA_CONFIG=$work/gateway.json" --env-file "$3" \
    >"$2" 2>&1 &
  pids+=($!)
  wait_port "$1" 300
}

# check NAME EXPECTED_STATUS PYTHON_ASSERTION curl-args...: the JSON body is `b`.
check() {
  local name=$1 want=$2 assertion=$3
  shift 3
  local out status body
  out=$(curl -s -w '\n%{http_code}' "$@")
  status=${out##*$'\n'}
  body=${out%$'\n'*}
  if [ "$status" = "$want" ] && B="$body" python3 -c "import json,os; b=json.loads(os.environ['B'] or 'null'); assert $assertion, b" 2>/dev/null; then
    ok "$name"
  else
    fail "$name (status $status)" "$body"
  fi
}

# logged NAME LOG PATTERN: the gateway's log has a line matching PATTERN.
logged() {
  if grep -q "$3" "$2"; then
    ok "$1"
  else
    fail "$1" "$(tail -5 "$2")"
  fi
}

# The aggregation checks against the gateway at BASE (URL prefix) whose log is LOG; WHERE
# starts every check's name.
aggregation_checks() { # where base log
  local where=$1 base=$2 log=$3
  check "$where: GET: the function gets the parameters, merged with the HTTP backend" 200 \
    "b == {'fn': {'function': 'invoke-target', 'received': {'id': '42'}}, 'user': {'name': 'user-42'}}" \
    "$base/orders/42"
  check "$where: POST: the function gets the request body" 200 \
    "b == {'function': 'invoke-target', 'received': {'qty': 3, 'sku': 'a-1'}}" \
    -X POST -H 'Content-Type: application/json' -d '{"qty": 3, "sku": "a-1"}' "$base/orders"
  check "$where: function_param_name: the function named by the parameter (region from AWS_REGION)" 200 \
    "b == {'function': 'invoke-target', 'received': {'function': 'invoke-target', 'id': '9'}}" \
    "$base/fn/invoke-target/9"
  check "$where: an unknown function is a backend failure" 500 "True" "$base/fn/no-such-function/9"
  logged "$where: the access log names the unknown function's 404" "$log" \
    'aws lambda: bad status code 404: http://127.0.0.1:[0-9]*/2015-03-31/functions/no-such-function/invocations'
  check "$where: a function error is a backend failure" 500 "True" "$base/fail/yes"
  # The emulator answers a function error with 500 (AWS: 200 and X-Amz-Function-Error, covered
  # by tests/scenarios/lambda/function_error_fails_the_backend).
  logged "$where: the access log names the failed invocation" "$log" \
    'aws lambda: bad status code 500: http://127.0.0.1:[0-9]*/2015-03-31/functions/invoke-target/invocations'
}

# Without credentials: the call fails, and the access log says which variable is missing.
no_credentials_checks() { # where base log
  check "$1: without AWS credentials the call fails" 500 "True" \
    -X POST -H 'Content-Type: application/json' -d '{}' "$2/orders"
  logged "$1: the access log says the credentials are missing" "$3" \
    'no AWS credentials: AWS_ACCESS_KEY_ID is not set'
}

# --- 1. natively ------------------------------------------------------------------------
gw=$(free_port)
if start_gateway "$gw" "$work/gw.log" AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
  AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY AWS_SESSION_TOKEN=test-session \
  AWS_REGION=eu-west-1; then
  aggregation_checks native "http://127.0.0.1:$gw" "$work/gw.log"
else
  fail "manifold run" "$(cat "$work/gw.log")"
fi

gw2=$(free_port)
if start_gateway "$gw2" "$work/gw2.log" -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN; then
  no_credentials_checks native "http://127.0.0.1:$gw2" "$work/gw2.log"
else
  fail "manifold run (no credentials)" "$(cat "$work/gw2.log")"
fi

# --- 2. from the Lambda adapter -----------------------------------------------------------
cat >"$work/aws.env" <<'ENV'
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
AWS_SESSION_TOKEN=test-session
AWS_REGION=eu-west-1
ENV
echo "AWS_REGION=eu-west-1" >"$work/none.env" # the region only: no credentials
fn=$(free_port)
if start_function "$fn" "$work/fn.log" "$work/aws.env"; then
  ok "cargo lambda watch serves the bootstrap on :$fn"
  aggregation_checks lambda "http://127.0.0.1:$fn/lambda-url/bootstrap" "$work/fn.log"
else
  fail "cargo lambda watch (bootstrap)" "$(cat "$work/fn.log")"
fi

# Started after the first, which has built the function, so it only runs it.
fn2=$(free_port)
if start_function "$fn2" "$work/fn2.log" "$work/none.env"; then
  no_credentials_checks lambda "http://127.0.0.1:$fn2/lambda-url/bootstrap" "$work/fn2.log"
else
  fail "cargo lambda watch (bootstrap, no credentials)" "$(cat "$work/fn2.log")"
fi

finish
