#!/usr/bin/env bash
# `"sd": "dns"` service discovery against a real DNS server (issue 17 point 7,
# docs/service-discovery.md), runnable on its own and run by scripts/test.sh:
#
#   1. dnsmasq: installed by `scripts/tools.sh dns` (Debian's dnsmasq-base) when missing
#   2. build: the `manifold` binary (dev profile), unless MANIFOLD_BIN names one
#   3. tests/dns-sd/e2e.py: dnsmasq on a free loopback port serving SRV records (TTL 1 s),
#      three HTTP backends and `manifold run` with MANIFOLD_DNS_SERVER; weights (exact
#      counts), an unknown name (500, `discovery` in the access log), DNS down (the last good
#      answer serves for a bounded time), changed records picked up after the TTL, `check`
#
# A missing tool or a failed build is a failure, never a skip. Everything started is stopped.
# The last line is `dns sd: P passed, F failed`; the exit status is non-zero on failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

summary() {
  echo "dns sd: $1 passed, $2 failed"
  exit 1
}

if ! command -v dnsmasq >/dev/null 2>&1; then
  if ! scripts/tools.sh dns >/tmp/dns-sd-tools.log 2>&1; then
    echo "FAIL scripts/tools.sh dns (dnsmasq could not be installed)"
    tail -5 /tmp/dns-sd-tools.log | sed 's/^/     /'
    summary 0 1
  fi
fi
dnsmasq=$(command -v dnsmasq) || { echo "FAIL dnsmasq missing after install"; summary 0 1; }

bin=${MANIFOLD_BIN:-}
if [ -z "$bin" ]; then
  if ! out=$(cargo build -p manifold 2>&1); then
    echo "FAIL cargo build -p manifold"
    echo "$out" | tail -20 | sed 's/^/     /'
    summary 0 1
  fi
  target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  # A private copy: the target directory may be shared with builds of other checkouts.
  copy=$(mktemp -d)
  trap 'rm -rf "$copy"' EXIT
  cp "$target/debug/manifold" "$copy/manifold"
  bin="$copy/manifold"
fi

python3 tests/dns-sd/e2e.py "$bin" "$dnsmasq"
