#!/usr/bin/env bash
# The WebSocket passthrough suite (issue 19 point 3, docs/websockets.md): the real `manifold`
# binary in front of a Python echo backend (PyPI `websockets`, tests/websocket/backend.py),
# driven by a Python client (tests/websocket/client.py): text and binary messages echo both
# ways, closes propagate in both directions, the handshake's subprotocol and forwarded headers,
# the endpoint's guards on the upgrade (no JWT / no API key: 401, a foreign Origin: 403, over
# the rate: 429, never a socket), the backend's own refusal, and a non-upgrade GET on the
# endpoint answered as before.
#
# Usage: scripts/websocket.sh       Needs python3; `websockets` comes from scripts/tools.sh
# (the cached venv). Builds `manifold` (debug) unless MANIFOLD_BIN names a binary. Every
# process started is on a free loopback port and stopped on exit. Last line: `P passed, F failed`.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/harness.sh

out=$(scripts/tools.sh websocket 2>&1) || abort "scripts/tools.sh websocket (PyPI websockets)" "$out"
PY=${MANIFOLD_CACHE:-$HOME/.cache/manifold}/venv/bin/python

manifold_bin

backend_port=$(free_port)
"$PY" tests/websocket/backend.py "$backend_port" >"$work/backend.log" 2>&1 &
pids+=($!)
if ! wait_port "$backend_port"; then
  fail "echo backend starts" "$(cat "$work/backend.log")"
  finish
fi

secret=websocket-suite-secret-of-at-least-32-bytes
api_key=9a1f3c52-websocket-suite-key
k=$(python3 -c "import base64,sys; print(base64.urlsafe_b64encode(sys.argv[1].encode()).rstrip(b'=').decode())" "$secret")
port=$(free_port)
ws='"websocket": {"enable_direct_communication": true}'
cat >"$work/gateway.json" <<JSON
{"version": 3, "host": ["ws://127.0.0.1:$backend_port"],
 "read_header_timeout": "300ms",
 "extra_config": {
   "security/cors": {"allow_origins": ["https://app.example"]},
   "auth/api-keys": {"keys": [{"key": "$api_key", "roles": ["user"]}]}},
 "endpoints": [
  {"endpoint": "/ws/echo", "output_encoding": "no-op",
   "backend": [{"url_pattern": "/echo"}], "extra_config": {$ws}},
  {"endpoint": "/ws/close", "output_encoding": "no-op",
   "backend": [{"url_pattern": "/close"}], "extra_config": {$ws}},
  {"endpoint": "/ws/refuse", "output_encoding": "no-op",
   "backend": [{"url_pattern": "/refuse"}], "extra_config": {$ws}},
  {"endpoint": "/ws/headers", "output_encoding": "no-op", "input_query_strings": ["room"],
   "input_headers": ["X-Trace", "X-Secret"],
   "backend": [{"url_pattern": "/headers"}],
   "extra_config": {"websocket": {"enable_direct_communication": true, "input_headers": ["X-Trace"],
                                  "max_retries": 3, "ping_period": "30s"}}},
  {"endpoint": "/ws/jwt", "output_encoding": "no-op", "input_headers": ["X-User"],
   "backend": [{"url_pattern": "/headers"}],
   "extra_config": {$ws, "auth/validator": {"alg": "HS256",
     "jwk_keys": {"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": "$k"}]},
     "propagate_claims": [["sub", "X-User"]]}}},
  {"endpoint": "/ws/key", "output_encoding": "no-op",
   "backend": [{"url_pattern": "/echo"}],
   "extra_config": {$ws, "auth/api-keys": {"roles": ["user"]}}},
  {"endpoint": "/ws/limited", "output_encoding": "no-op",
   "backend": [{"url_pattern": "/echo"}],
   "extra_config": {$ws, "qos/ratelimit/router": {"client_max_rate": 1, "strategy": "ip"}}},
  {"endpoint": "/plain", "output_encoding": "no-op",
   "backend": [{"host": ["http://127.0.0.1:$backend_port"], "url_pattern": "/echo"}]}
 ]}
JSON

if "$bin" check -c "$work/gateway.json" >"$work/check.log" 2>&1; then
  ok "manifold check accepts the websocket config"
else
  fail "manifold check accepts the websocket config" "$(cat "$work/check.log")"
fi
grep -q "max_retries" "$work/check.log" && ok "a no-effect key (max_retries) is a warning" ||
  fail "a no-effect key (max_retries) is a warning" "$(cat "$work/check.log")"

"$bin" run -c "$work/gateway.json" -p "$port" >"$work/gateway.log" 2>&1 &
pids+=($!)
if ! wait_port "$port"; then
  fail "manifold run starts" "$(cat "$work/gateway.log")"
  finish
fi

while IFS= read -r line; do
  case "$line" in
  "ok   "*) ok "${line#ok   }" ;;
  "FAIL "*) name=${line#FAIL }; fail "${name%%: *}" "${name#*: }" ;;
  *) echo "$line" ;;
  esac
done < <("$PY" tests/websocket/client.py "$port" "$secret" "$api_key" 2>&1)

# Config errors, located at the key: multiplexing, max_message_size, a non-no-op endpoint, a
# ws:// host on an endpoint without `websocket`.
config_error() { # name key-pattern websocket-options endpoint-options
  cat >"$work/bad.json" <<JSON
{"version": 3, "host": ["ws://127.0.0.1:1"], "endpoints": [
  {"endpoint": "/a", "backend": [{"url_pattern": "/a"}], $4
   "extra_config": {"websocket": $3}}]}
JSON
  local out
  if out=$("$bin" check -c "$work/bad.json" 2>&1); then
    fail "$1" "accepted"
  elif grep -q "^error: .*$2" <<<"$out"; then
    ok "$1"
  else
    fail "$1" "$out"
  fi
}
config_error "multiplexing is a config error" 'extra_config.websocket (GET /a): .*enable_direct_communication' '{}' '"output_encoding": "no-op",'
config_error "max_message_size is a config error" 'extra_config.websocket.max_message_size' \
  '{"enable_direct_communication": true, "max_message_size": 512}' '"output_encoding": "no-op",'
config_error "a websocket endpoint must be no-op" 'extra_config.websocket (GET /a): .*no-op' \
  '{"enable_direct_communication": true}' ''
cat >"$work/bad.json" <<JSON
{"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["ws://127.0.0.1:1"], "url_pattern": "/a"}]}]}
JSON
out=$("$bin" check -c "$work/bad.json" 2>&1)
grep -q "host\[0\].*ws:// and wss:// hosts belong to endpoints with the \`websocket\` namespace" <<<"$out" &&
  ok "a ws:// host without websocket is a located error" || fail "a ws:// host without websocket is a located error" "$out"

finish
