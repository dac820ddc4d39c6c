#!/usr/bin/env bash
# Observability end to end, natively (issue 14, point 5), with real receivers: `manifold run`
# with telemetry/opentelemetry exports to an OTLP/HTTP receiver built on the official protobuf
# definitions (PyPI opentelemetry-proto, tests/telemetry/receiver.py), and Debian's
# `prometheus`, started here with a scrape config pointing at the gateway's /metrics, answers
# PromQL with the exact request counts sent. Everything runs on free loopback ports and is
# stopped on exit; readiness is polled, never slept for.
#
# Usage: scripts/telemetry-e2e.sh          Last line: `P passed, F failed`.
# Tools: scripts/tools.sh telemetry (prometheus, the opentelemetry-proto venv); a missing tool
# fails the suite loudly.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
CACHE=${MANIFOLD_CACHE:-$HOME/.cache/manifold}
PY="$CACHE/otel-venv/bin/python"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

if ! scripts/tools.sh telemetry >/dev/null; then
	bad "tools: scripts/tools.sh telemetry failed (prometheus, opentelemetry-proto)"
	finish
fi
[ -x "$PY" ] && command -v prometheus >/dev/null || { bad "tools: prometheus or $PY missing"; finish; }

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${MANIFOLD_BIN:-$TARGET/debug/manifold}
if [ -z "${MANIFOLD_BIN:-}" ]; then
	cargo build -q -p manifold || { bad "cargo build -p manifold"; finish; }
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
read -r OTLP BACKEND GATEWAY METRICS PROM GRPC <<<"$(free_ports 6)"

# Poll `cmd` until it succeeds, at most `tries` times 0.2 s apart (readiness, not timing).
poll() {
	local tries=$1
	shift
	for _ in $(seq "$tries"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

"$PY" tests/telemetry/receiver.py "$OTLP" "$BACKEND" "$GRPC" &
PIDS+=($!)
poll 50 curl -sf "http://127.0.0.1:$OTLP/spans" || { bad "OTLP receiver did not start"; finish; }

cat >"$WORK/gateway.json" <<EOF
{
  "version": 3,
  "listen_ip": "127.0.0.1",
  "extra_config": {
    "telemetry/opentelemetry": {
      "service_name": "manifold-e2e",
      "metric_reporting_period": 1,
      "trace_sample_rate": 1,
      "skip_paths": ["/__health"],
      "histograms": { "time_buckets": [0.25, 5], "size_buckets": [16, 4096] },
      "exporters": {
        "otlp": [
          { "name": "receiver", "host": "127.0.0.1", "port": $OTLP, "use_http": true },
          { "name": "grpc", "host": "127.0.0.1", "port": $GRPC }
        ],
        "prometheus": [{ "name": "local", "port": $METRICS, "listen_ip": "127.0.0.1", "process_metrics": true }]
      },
      "layers": {
        "global": {
          "traces_static_attributes": [{ "key": "owner", "value": "team-charlie" }],
          "metrics_static_attributes": [{ "key": "deploy.zone", "value": "eu-1" }],
          "report_headers": true, "skip_headers": ["X-Skip"]
        },
        "proxy": { "report_headers": true },
        "backend": {
          "traces": { "static_attributes": [{ "key": "tier", "value": "edge" }], "report_headers": true },
          "metrics": { "static_attributes": [{ "key": "tier", "value": "db" }] }
        }
      }
    }
  },
  "endpoints": [
    { "endpoint": "/a", "backend": [{ "host": ["http://127.0.0.1:$BACKEND"], "url_pattern": "/one" }] },
    { "endpoint": "/b", "backend": [
      { "host": ["http://127.0.0.1:$BACKEND"], "url_pattern": "/x", "group": "x" },
      { "host": ["http://127.0.0.1:$BACKEND"], "url_pattern": "/y", "group": "y" } ] },
    { "endpoint": "/c",
      "extra_config": { "telemetry/opentelemetry": {
        "global": {
          "traces_static_attributes": [{ "key": "product", "value": "c" }],
          "metrics_static_attributes": [{ "key": "product", "value": "c" }]
        },
        "proxy": { "disable_traces": true }
      } },
      "backend": [
      { "host": ["http://127.0.0.1:$BACKEND"], "url_pattern": "/own", "group": "own",
        "extra_config": { "telemetry/opentelemetry": { "backend": {
          "traces": { "disable_stage": true },
          "metrics": { "static_attributes": [{ "key": "tier", "value": "cache" }] } } } } },
      { "host": ["http://127.0.0.1:$BACKEND"], "url_pattern": "/service", "group": "service" } ] }
  ]
}
EOF
"$BIN" run -c "$WORK/gateway.json" -p "$GATEWAY" --log-format json 2>"$WORK/gateway.log" &
PIDS+=($!)
poll 100 curl -sf "http://127.0.0.1:$GATEWAY/__health" || { bad "gateway did not start: $(tail -5 "$WORK/gateway.log")"; finish; }
poll 50 curl -sf "http://127.0.0.1:$METRICS/metrics" || { bad "gateway /metrics did not answer"; finish; }

cat >"$WORK/prometheus.yml" <<EOF
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: manifold
    static_configs: [{ targets: ["127.0.0.1:$METRICS"] }]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
	--web.listen-address="127.0.0.1:$PROM" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
poll 100 curl -sf "http://127.0.0.1:$PROM/-/ready" || { bad "prometheus did not start: $(tail -5 "$WORK/prometheus.log")"; finish; }

# The traffic: 3 x /a, 2 x /b (one of them with the client's trace), 1 x /c (with another
# trace), 1 x an unknown path.
TRACE=4bf92f3577b34da6a3ce929d0e0e4736
PARENT=00f067aa0ba902b7
TRACE_C=5c0f92f3577b34da6a3ce929d0e0e473
for _ in 1 2 3; do curl -sf -o "$WORK/a.json" "http://127.0.0.1:$GATEWAY/a" || bad "GET /a"; done
A_BYTES=$(wc -c <"$WORK/a.json")
curl -sf -o /dev/null "http://127.0.0.1:$GATEWAY/b" || bad "GET /b"
curl -sf -D "$WORK/traced.headers" -o "$WORK/traced.json" -H "traceparent: 00-$TRACE-$PARENT-01" \
	-H "X-Request-Id: e2e-req-1" -H "X-Team: a" -H "X-Team: b" -H "X-Skip: 1" \
	-H "Authorization: Bearer e2e-secret" "http://127.0.0.1:$GATEWAY/b" || bad "GET /b (traced)"
curl -sf -o "$WORK/overridden.json" -H "traceparent: 00-$TRACE_C-$PARENT-01" \
	"http://127.0.0.1:$GATEWAY/c" || bad "GET /c (traced)"
curl -s -o /dev/null "http://127.0.0.1:$GATEWAY/missing"

# Prometheus scraped the exact counts.
promql() {
	curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'
}
expect_count() {
	local query=$1 want=$2 got
	for _ in $(seq 100); do
		got=$(promql "$query")
		[ "$got" = "$want" ] && { ok "prometheus: $query = $want"; return; }
		sleep 0.2
	done
	bad "prometheus: $query = $got, expected $want"
}
expect_count 'manifold_http_server_requests_total{route="/a",status="200"}' 3
expect_count 'manifold_http_server_requests_total{route="/b",status="200"}' 2
expect_count 'manifold_http_server_requests_total{route="unmatched",status="404"}' 1
expect_count "sum(manifold_http_client_requests_total{host=\"http://127.0.0.1:$BACKEND\",status=\"200\"})" 9
expect_count 'manifold_http_server_request_duration_seconds_count{route="/a"}' 3
# histograms.time_buckets: two bounds and +Inf.
expect_count 'count(manifold_http_server_request_duration_seconds_bucket{route="/a"})' 3
expect_count 'manifold_http_server_request_duration_seconds_bucket{route="/a",le=~"5(\\.0)?"}' 3
# histograms.size_buckets: the answers' body sizes, to the byte.
expect_count 'manifold_http_server_response_body_size_bytes_sum{route="/a"}' $((3 * A_BYTES))
expect_count 'manifold_http_server_response_body_size_bytes_bucket{route="/a",le="4096"}' 3
expect_count 'manifold_http_server_response_body_size_bytes_bucket{route="/a",le="16"}' \
	$((A_BYTES <= 16 ? 3 : 0))
expect_count "sum(manifold_http_client_response_body_size_bytes_count{host=\"http://127.0.0.1:$BACKEND\",status=\"200\"})" 9
# The layers' static attributes are labels of their series.
expect_count 'sum(manifold_http_server_requests_total{deploy_zone="eu-1"})' 7
expect_count 'sum(manifold_http_client_requests_total{tier="db"})' 8
# An endpoint's own static labels are added to the service's; a backend's own replace them.
expect_count 'manifold_http_server_requests_total{route="/c",product="c",deploy_zone="eu-1"}' 1
expect_count 'sum(manifold_http_client_requests_total{tier="cache"})' 1
# process_metrics: the gateway's own process series (one each, plausible values).
expect_count 'count(process_resident_memory_bytes > 1e6) + count(process_open_fds > 0) + count(process_cpu_seconds_total >= 0) + count(process_start_time_seconds > 1.7e9)' 4

# The OTLP receiver got the client's trace: server -> proxy -> one span per backend call.
check_spans() {
	curl -sf "http://127.0.0.1:$OTLP/spans" >"$WORK/spans.json" || return 1
	python3 - "$WORK/spans.json" "$TRACE" "$PARENT" "$WORK/traced.json" <<'PY'
import json, sys
spans = [s for s in json.load(open(sys.argv[1])) if s["trace_id"] == sys.argv[2] and s["via"] == "http"]
parent = sys.argv[3]
server = [s for s in spans if s["kind"] == 2]
proxy = [s for s in spans if s["kind"] == 1]
client = [s for s in spans if s["kind"] == 3]
assert len(server) == 1 and len(proxy) == 1 and len(client) == 2, [(s["name"], s["kind"]) for s in spans]
assert server[0]["parent"] == parent, server[0]
assert server[0]["name"] == "GET /b", server[0]["name"]
assert server[0]["service"] == "manifold-e2e"
assert server[0]["attributes"]["http.route"] == "/b"
assert server[0]["attributes"]["http.response.status_code"] == 200
assert server[0]["attributes"]["manifold.request_id"] == "e2e-req-1"
# Each layer's static attributes, on its own spans only.
assert server[0]["attributes"]["owner"] == "team-charlie", server[0]["attributes"]
assert "owner" not in proxy[0]["attributes"] and "tier" not in proxy[0]["attributes"]
assert all(c["attributes"]["tier"] == "edge" and "owner" not in c["attributes"] for c in client)
# report_headers: the client's on the server span (but the skipped one and the credentials),
# what the endpoint passed on on the proxy span, what each backend got on its span.
attrs = server[0]["attributes"]
assert attrs["http.request.header.x-team"] == ["a", "b"], attrs
assert "http.request.header.x-skip" not in attrs and "http.request.header.authorization" not in attrs, attrs
assert "e2e-secret" not in json.dumps(spans)
assert proxy[0]["attributes"]["http.request.header.x-forwarded-for"] == ["127.0.0.1"], proxy[0]
for c in client:
    assert c["attributes"]["http.request.header.x-forwarded-for"] == ["127.0.0.1"], c
    assert "http.request.header.x-team" not in c["attributes"], c  # not in input_headers
assert proxy[0]["parent"] == server[0]["span_id"], proxy[0]
for c in client:
    assert c["parent"] == proxy[0]["span_id"], c
    assert c["attributes"]["http.response.status_code"] == 200, c
# The backend saw a traceparent whose span is one of the backend spans.
seen = json.load(open(sys.argv[4]))
ids = {c["span_id"] for c in client}
for key in ("x", "y"):
    tp = seen[key]["traceparent"]
    version, trace, span, flags = tp.split("-")
    assert (version, trace, flags) == ("00", sys.argv[2], "01"), tp
    assert span in ids, (tp, ids)
PY
}
if poll 100 check_spans; then
	ok "otlp: client trace $TRACE: server span (parent $PARENT) -> proxy span -> 2 backend spans; backends got their span in traceparent; each layer's static attributes and reported headers"
else
	bad "otlp: spans of trace $TRACE: $(check_spans 2>&1 | tail -3)"
fi
# The endpoint's and its first backend's own layers: no proxy span, no span for that backend
# (its traceparent names the server span), the endpoint's attribute added to the service's.
check_overridden() {
	curl -sf "http://127.0.0.1:$OTLP/spans" >"$WORK/spans-c.json" || return 1
	python3 - "$WORK/spans-c.json" "$TRACE_C" "$WORK/overridden.json" <<'PY'
import json, sys
spans = [s for s in json.load(open(sys.argv[1])) if s["trace_id"] == sys.argv[2] and s["via"] == "http"]
kinds = sorted(s["kind"] for s in spans)
assert kinds == [2, 3], [(s["name"], s["kind"]) for s in spans]
server = next(s for s in spans if s["kind"] == 2)
client = next(s for s in spans if s["kind"] == 3)
assert server["attributes"]["owner"] == "team-charlie" and server["attributes"]["product"] == "c", server
assert client["parent"] == server["span_id"], client
assert client["attributes"]["manifold.backend"] == "service" and client["attributes"]["tier"] == "edge", client
seen = json.load(open(sys.argv[3]))
assert seen["own"]["traceparent"] == "00-%s-%s-01" % (sys.argv[2], server["span_id"]), seen
assert seen["service"]["traceparent"] == "00-%s-%s-01" % (sys.argv[2], client["span_id"]), seen
PY
}
if poll 100 check_overridden; then
	ok "otlp: an endpoint's and a backend's own layers (no proxy span, no span for one backend, the endpoint's attribute added)"
else
	bad "otlp: spans of trace $TRACE_C: $(check_overridden 2>&1 | tail -3)"
fi
untraced() {
	curl -sf "http://127.0.0.1:$OTLP/spans" | python3 -c '
import json, sys
spans = [s for s in json.load(sys.stdin) if s["via"] == "http"]
servers = [s for s in spans if s["kind"] == 2]
assert len(servers) == 7, len(servers)
assert len({s["trace_id"] for s in servers}) == 7'
}
poll 50 untraced && ok "otlp: one server span, each in its own trace, for each of the 7 requests" ||
	bad "otlp: expected 7 server spans in 7 traces: $(untraced 2>&1 | tail -1)"
# The second collector takes OTLP/gRPC (KrakenD's default, `use_http` unset): every span the
# HTTP one got, through grpcio and opentelemetry-proto's service definitions.
over_grpc() {
	curl -sf "http://127.0.0.1:$OTLP/spans" | python3 -c '
import json, sys
spans = json.load(sys.stdin)
ids = lambda via: sorted((s["trace_id"], s["span_id"], s["parent"], s["name"]) for s in spans if s["via"] == via)
assert ids("grpc") == ids("http") and len(ids("grpc")) >= 20, (len(ids("grpc")), len(ids("http")))'
}
poll 50 over_grpc && ok "otlp/grpc: the gRPC collector got the same spans as the HTTP one" ||
	bad "otlp/grpc: spans differ: $(over_grpc 2>&1 | tail -1)"
grpc_metrics() {
	curl -sf "http://127.0.0.1:$OTLP/grpc-metrics-names" | python3 -c '
import json, sys
names = set(json.load(sys.stdin))
assert {"http.server.request.duration", "http.client.request.duration"} <= names, names'
}
poll 50 grpc_metrics && ok "otlp/grpc: metrics pushed over gRPC" ||
	bad "otlp/grpc: metrics not received: $(grpc_metrics 2>&1 | tail -1)"
# Both collectors took every export: a gRPC answer is read as gRPC's status, not HTTP's.
failures=$(curl -sf "http://127.0.0.1:$METRICS/metrics" | sed -n 's/^manifold_telemetry_export_failures_total //p')
[ "$failures" = 0 ] && ok "otlp: no export failed (HTTP and gRPC)" || bad "otlp: $failures exports failed"
[ "$(curl -sf "http://127.0.0.1:$OTLP/payload-errors")" = 0 ] && ok "otlp: every payload parsed with the official definitions" ||
	bad "otlp: some payloads did not parse"
metric_names() {
	curl -sf "http://127.0.0.1:$OTLP/metrics-names" | python3 -c '
import json, sys
names = set(json.load(sys.stdin))
assert {"http.server.request.duration", "http.client.request.duration", "http.server.active_requests",
        "http.server.response.body.size", "http.client.response.body.size"} <= names, names'
}
poll 50 metric_names && ok "otlp: metrics pushed (request durations, body sizes, active requests)" ||
	bad "otlp: metrics not received: $(metric_names 2>&1 | tail -1)"

# The answer carries the request id; the access log line has the record's fields.
grep -qi '^x-request-id: e2e-req-1' "$WORK/traced.headers" && ok "X-Request-Id returned" || bad "X-Request-Id not returned"
access() {
	python3 - "$WORK/gateway.log" "$TRACE" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"manifold::access"' in l]
traced = [l["fields"] for l in lines if l["fields"].get("trace_id") == sys.argv[2]]
assert len(lines) == 8, len(lines)  # the 7 requests and the first /__health poll that answered
f = traced[0]
assert (f["request_id"], f["method"], f["endpoint"], f["path"], f["status"], f["backends"]) == ("e2e-req-1", "GET", "/b", "/b", 200, 2), f
calls = json.loads(f["calls"])
assert sorted(c["path"] for c in calls) == ["/x", "/y"] and all(c["status"] == 200 for c in calls), calls
PY
}
poll 25 access && ok "access log (JSON): the traced request with request id, trace id, endpoint, 2 backend calls" ||
	bad "access log: $(access 2>&1 | tail -2)"
finish
