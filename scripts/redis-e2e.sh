#!/usr/bin/env bash
# Redis-backed rate limits shared by two native instances (issue 13), runnable on its own and
# run by scripts/test.sh:
#
#   1. redis-server: installed from Debian's package when missing (apt-get update once, then
#      apt-get install -y redis-server; needs root, as on this project's machines)
#   2. build: the `manifold` binary (dev profile)
#   3. tests/redis/e2e.py: one redis-server on a free loopback port (no persistence) and two
#      `manifold run` sharing it; exact counts alternated and under concurrency, Redis stopped
#      mid-run (fail closed / fail open, no hang, one log line) and recovery when it returns;
#      also the shared HTTP cache, API keys in the pool and client-credentials tokens shared
#      by both instances (one token request, a counting token server stub)
#
# A missing tool or a failed build is a failure, never a skip. Everything started is stopped.
# The last line is `redis e2e: P passed, F failed`; the exit status is non-zero on failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

summary() {
  echo "redis e2e: $1 passed, $2 failed"
  exit 1
}

if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (Debian package)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >/tmp/redis-e2e-apt.log 2>&1; then
    echo "FAIL apt-get install redis-server"
    tail -5 /tmp/redis-e2e-apt.log | sed 's/^/     /'
    summary 0 1
  fi
  # The package starts a system service on the default port; the suite runs its own.
  service redis-server stop >/dev/null 2>&1 || true
fi
redis=$(command -v redis-server) || { echo "FAIL redis-server missing after install"; summary 0 1; }

if ! out=$(cargo build -p manifold 2>&1); then
  echo "FAIL cargo build -p manifold"
  echo "$out" | tail -20 | sed 's/^/     /'
  summary 0 1
fi
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

exec python3 tests/redis/e2e.py "$target/debug/manifold" "$redis"
