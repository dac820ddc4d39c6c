#!/usr/bin/env bash
# The whole test suite, in one command: what CI runs (.ci/run) and the README's second
# quick-start command. Every step runs even when an earlier one failed; the last line is
# the summary and the exit code is non-zero when any step failed.
#
# Usage: scripts/test.sh [--quick]
#   --quick   skip the slow suites (Workers, Lambda, benchmarks); CI never passes it.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A fresh checkout builds everything once: incremental artefacts would only double the disk the
# target dir takes (CI once ran out of disk) and slow the cold build.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ "${CI:-}" = "true" ] && [ "$quick" = 1 ]; then
  echo "test.sh: --quick is not allowed in CI" >&2
  exit 2
fi

passed=0
failed=0
failures=()
step() {
  local name=$1
  shift
  echo
  echo "==> $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "<== $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "<== $name: FAILED ($((SECONDS - start)) s)"
  fi
}

core_is_runtime_free() {
  # The core must build for wasm32 and stay free of runtimes and I/O crates.
  local bad
  bad=$(cargo tree -p manifold-core -e normal --prefix none 2>/dev/null | grep -E '^(tokio|hyper|reqwest|mio|socket2) ' || true)
  if [ -n "$bad" ]; then
    echo "manifold-core depends on runtime crates:"
    echo "$bad"
    return 1
  fi
}

step "toolchain (wasm32 target)" scripts/tools.sh wasm
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy -D warnings" cargo clippy --workspace --all-targets -- -D warnings
# The smallest per-config build (a Worker whose config needs no optional capability:
# core/src/config/capability.rs) must build, warning-free, too.
step "manifold-core without optional features" cargo clippy -p manifold-core --no-default-features -- -D warnings
step "manifold-core's tests without optional features" cargo test -q -p manifold-core --no-default-features --lib
# The signature features' cfg branches that the full build does not take (no P-256, no RSA).
step "manifold-core with ES384 and EdDSA only" cargo clippy -p manifold-core --no-default-features --features jwt-es384,jwt-eddsa -- -D warnings
# The Worker's build: every asymmetric signature family verified by the platform's port.
step "manifold-core with platform signatures" cargo clippy -p manifold-core --no-default-features --features jwt-platform --all-targets -- -D warnings
step "manifold-core's tests with platform signatures" cargo test -q -p manifold-core --no-default-features --features jwt-platform --lib
step "core has no runtime deps" core_is_runtime_free
step "adapter line budget" scripts/adapter-lines.sh
step "cargo test --workspace" cargo test --workspace
step "wasm32 build (core + worker)" cargo build -p manifold-core -p manifold-worker --target wasm32-unknown-unknown
step "release build" cargo build --release -p manifold
step "peer runner unit tests" python3 -m unittest discover -s tests/peer -q
step "krakend-ce peer suite" scripts/peer-suite.sh
step "redis e2e (two instances, one Redis)" scripts/redis-e2e.sh
step "openapi import/export" scripts/openapi.sh
step "tls (server and client)" scripts/tls.sh
step "streaming passthrough (native)" scripts/streaming.sh
step "websocket passthrough" scripts/websocket.sh
step "dns service discovery (dnsmasq)" scripts/dns-sd.sh
if [ "$quick" = 0 ]; then
  for suite in scripts/lambda-e2e.sh scripts/lambda-backend.sh scripts/worker-e2e.sh scripts/telemetry-e2e.sh; do
    [ -x "$suite" ] && step "$(basename "$suite" .sh)" "$suite"
  done
  [ -x bench/run.sh ] && step "benchmarks (--quick)" bench/run.sh --quick
fi
step "soak (--quick)" scripts/soak.sh --quick

echo
for f in "${failures[@]}"; do echo "failed step: $f"; done
echo "test.sh: $passed passed, $failed failed"
[ "$failed" = 0 ]
