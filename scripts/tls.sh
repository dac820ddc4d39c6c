#!/usr/bin/env bash
# The TLS suite (issue 17 points 1-2, docs/tls.md): the real `manifold` binary with a CA and
# certificates generated here by the openssl CLI.
#
#   server `tls`:  curl --cacert over HTTP/1.1 and h2 (ALPN), no plain HTTP on the TLS port,
#                  TLS 1.3 only by default, mTLS (no certificate refused, a certificate from
#                  another CA refused, a CA-signed one served), unusable settings stop `run`
#                  and are located by `check` (missing file, a key that is not a key, a
#                  cipher suite rustls lacks);
#   `client_tls`:  a backend signed by a private CA (refused without `ca_certs`, served with
#                  it, or with `allow_insecure_connections`), a backend that requires a client
#                  certificate (refused without `client_certs`, served with them).
#
# Usage: scripts/tls.sh        Needs openssl, curl and python3 (Debian 12 has them).
# Builds `manifold` (debug) unless MANIFOLD_BIN names a binary. Every process started is on
# a free loopback port and stopped on exit. The last line is `P passed, F failed`.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/harness.sh

for tool in openssl curl python3; do
  command -v "$tool" >/dev/null || abort "$tool is required (apt-get install $tool)"
done

manifold_bin

# --- certificates -------------------------------------------------------------------------
cd "$work"
ca() { # name
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$1.key" -out "$1.pem" -subj "/CN=Manifold test $1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null
}
leaf() { # name ca usage
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
ca ca && ca other-ca && leaf server ca serverAuth && leaf client ca clientAuth &&
  leaf stranger other-ca clientAuth && leaf backend ca serverAuth && leaf gateway ca clientAuth
[ -s gateway.pem ] || abort "generating certificates with openssl"
echo "this is not a key" >garbage.pem

# Start `manifold run` on CONFIG and PORT; wait until the port answers (TLS or not).
start() { # config port
  "$bin" run -c "$1" -p "$2" >"$1.log" 2>&1 &
  pids+=($!)
  wait_port "$2"
}
stop_last() { kill "${pids[-1]}" 2>/dev/null && wait "${pids[-1]}" 2>/dev/null; unset 'pids[-1]'; }

# --- server tls ---------------------------------------------------------------------------
port=$(free_port)
cat >https.json <<JSON
{"version": 3, "tls": {"keys": [{"public_key": "server.pem", "private_key": "server.key"}]},
 "endpoints": []}
JSON
if start https.json "$port"; then
  url=https://localhost:$port/__health
  v=$(curl -s --cacert ca.pem --http1.1 -o /dev/null -w '%{http_code} %{http_version}' "$url")
  [ "$v" = "200 1.1" ] && ok "HTTPS over HTTP/1.1 with the test CA" || fail "HTTPS over HTTP/1.1" "$v"
  v=$(curl -s --cacert ca.pem --http2 -o /dev/null -w '%{http_code} %{http_version}' "$url")
  [ "$v" = "200 2" ] && ok "HTTPS over h2 (ALPN)" || fail "HTTPS over h2" "$v"
  curl -s -o /dev/null "$url" && fail "an unknown CA is refused by curl" || ok "an unknown CA is refused by curl"
  v=$(curl -s -o /dev/null -w '%{http_code}' "http://localhost:$port/__health")
  [ "$v" != "200" ] && ok "no plain HTTP on the TLS port ($v)" || fail "no plain HTTP on the TLS port" "$v"
  curl -s --cacert ca.pem --tls-max 1.2 -o /dev/null "$url" &&
    fail "TLS 1.2 refused by default (KrakenD: TLS 1.3 only)" || ok "TLS 1.2 refused by default (KrakenD: TLS 1.3 only)"
  grep -q "listening on https://" https.json.log && ok "the log says https" || fail "the log says https" "$(cat https.json.log)"
  stop_last
else
  fail "manifold run with tls" "$(cat https.json.log)"
fi

port=$(free_port)
cat >tls12.json <<JSON
{"version": 3, "tls": {"public_key": "server.pem", "private_key": "server.key",
 "min_version": "TLS12", "cipher_suites": [49195]}, "endpoints": []}
JSON
if start tls12.json "$port"; then
  v=$(curl -s --cacert ca.pem --tls-max 1.2 -o /dev/null -w '%{http_code}' "https://localhost:$port/__health")
  [ "$v" = "200" ] && ok "min_version TLS12 + cipher_suites accept TLS 1.2" || fail "min_version TLS12" "$v"
  stop_last
else
  fail "manifold run with min_version TLS12" "$(cat tls12.json.log)"
fi

port=$(free_port)
cat >mtls.json <<JSON
{"version": 3, "tls": {"keys": [{"public_key": "server.pem", "private_key": "server.key"}],
 "enable_mtls": true, "ca_certs": ["ca.pem"], "disable_system_ca_pool": true}, "endpoints": []}
JSON
if start mtls.json "$port"; then
  url=https://localhost:$port/__health
  curl -s --cacert ca.pem -o /dev/null "$url" &&
    fail "mTLS: a client without a certificate is refused" || ok "mTLS: a client without a certificate is refused"
  curl -s --cacert ca.pem --cert stranger.pem --key stranger.key -o /dev/null "$url" &&
    fail "mTLS: a certificate from another CA is refused" || ok "mTLS: a certificate from another CA is refused"
  v=$(curl -s --cacert ca.pem --cert client.pem --key client.key -o /dev/null -w '%{http_code} %{http_version}' "$url")
  [ "$v" = "200 2" ] && ok "mTLS: a CA-signed client certificate is served (h2)" || fail "mTLS: CA-signed client" "$v"
  stop_last
else
  fail "manifold run with mTLS" "$(cat mtls.json.log)"
fi

# Settings that cannot be served: `run` stops (never plain HTTP), `check` locates them.
refused() { # name json expected-message
  printf '%s\n' "$2" >"$1.json"
  local port out rc
  port=$(free_port)
  out=$(timeout 10 "$bin" run -c "$1.json" -p "$port" 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF -- "$3" <<<"$out"; then
    ok "run refuses $1 (exit $rc)"
  else
    fail "run refuses $1" "exit $rc: $out"
  fi
  out=$("$bin" check -c "$1.json" 2>&1)
  rc=$?
  if [ "$rc" -eq 1 ] && grep -qE "$1.json:[0-9]+:[0-9]+: tls" <<<"$out" && grep -qF -- "$3" <<<"$out"; then
    ok "check locates $1"
  else
    fail "check locates $1" "exit $rc: $out"
  fi
}
refused missing-key '{"version": 3, "endpoints": [],
  "tls": {"public_key": "server.pem", "private_key": "nowhere.key"}}' "cannot read \`nowhere.key\`"
refused garbage-key '{"version": 3, "endpoints": [],
  "tls": {"public_key": "server.pem", "private_key": "garbage.pem"}}' "is not a PEM file"
refused wrong-key '{"version": 3, "endpoints": [],
  "tls": {"public_key": "server.pem", "private_key": "client.key"}}' "rustls refuses"
refused cbc-suite '{"version": 3, "endpoints": [],
  "tls": {"public_key": "server.pem", "private_key": "server.key", "min_version": "TLS12", "cipher_suites": [47]}}' "TLS_RSA_WITH_AES_128_CBC_SHA"
refused tls10 '{"version": 3, "endpoints": [],
  "tls": {"public_key": "server.pem", "private_key": "server.key", "min_version": "TLS10"}}' "TLS 1.2 and 1.3 only"

out=$("$bin" check -c https.json 2>&1)
grep -q "note: .*platform terminates TLS" <<<"$out" && ok "check notes that Lambda and Workers terminate TLS" ||
  fail "check notes the platforms" "$out"

# --- client_tls ---------------------------------------------------------------------------
bport=$(free_port)
python3 "$ROOT/tests/tls/backend.py" "$bport" backend.pem backend.key &
pids+=($!)
mport=$(free_port)
python3 "$ROOT/tests/tls/backend.py" "$mport" backend.pem backend.key ca.pem &
pids+=($!)
for p in "$bport" "$mport"; do
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $p), 0.2)" 2>/dev/null && break
    sleep 0.05
  done
done

gateway() { # name client_tls-json
  cat >"$1.json" <<JSON
{"version": 3, "timeout": "3s", ${2:+\"client_tls\": $2,}
 "endpoints": [
  {"endpoint": "/ca", "backend": [{"host": ["https://localhost:$bport"], "url_pattern": "/x"}]},
  {"endpoint": "/mtls", "backend": [{"host": ["https://localhost:$mport"], "url_pattern": "/y"}]}]}
JSON
}
call() { # config path -> "STATUS BODY"
  local port
  port=$(free_port)
  start "$1" "$port" || { echo "START FAILED: $(cat "$1.log")"; return; }
  curl -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$port$2"
  stop_last
}
gateway none ""
body=$(call none.json /ca)
[ "${body##* }" = 500 ] && ok "a private-CA backend fails without ca_certs (500)" ||
  fail "a private-CA backend fails without ca_certs" "$body"
gateway with-ca '{"ca_certs": ["ca.pem"]}'
body=$(call with-ca.json /ca)
grep -q '"backend":"ok"' <<<"$body" && ok "client_tls.ca_certs: the private-CA backend answers" ||
  fail "client_tls.ca_certs" "$body"
gateway insecure '{"allow_insecure_connections": true}'
body=$(call insecure.json /ca)
grep -q '"backend":"ok"' <<<"$body" && ok "allow_insecure_connections: the backend answers" ||
  fail "allow_insecure_connections" "$body"
body=$(call with-ca.json /mtls)
[ "${body##* }" = 500 ] && ok "a backend requiring a client certificate fails without client_certs (500)" ||
  fail "a backend requiring a client certificate fails without client_certs" "$body"
gateway with-cert '{"ca_certs": ["ca.pem"], "client_certs": [{"certificate": "gateway.pem", "private_key": "gateway.key"}]}'
body=$(call with-cert.json /mtls)
grep -q '"client":"gateway"' <<<"$body" && ok "client_tls.client_certs: the mTLS backend sees the gateway's certificate" ||
  fail "client_tls.client_certs" "$body"

finish
