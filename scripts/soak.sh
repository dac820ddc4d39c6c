#!/usr/bin/env bash
# Soak test (issue 16, docs/soak.md): bounded hostile load against `manifold run` on loopback,
# with a misbehaving backend (random latency, resets mid-body, 5xx, trickled and oversized
# bodies, refused connections, malformed JSON, broken HTTP) and clients that send slowly or go
# away early. Fails on an answer outside its fault's documented statuses, a panic, RSS or open
# fds growing by 10 % or more after warm-up, or an unhealthy /__health at the end.
#
# Usage: scripts/soak.sh [--quick] [--duration SECONDS] [--seed N]
#   --quick     60 s (what scripts/test.sh and CI run); the default is 300 s
#   --duration  any other length
#   --seed      the random seed (printed at the start; the default changes every run)
#
# Builds target/release/manifold first (`cargo build --release -p manifold`, honouring
# CARGO_TARGET_DIR) unless MANIFOLD_BIN names a binary. Everything started is stopped on exit.
# Last line: `soak: N requests, U unexpected, RSS A→B MB, fds C→D`; exit status non-zero on
# any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

args=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) args+=(--duration 60) ;;
    --duration | --seed) args+=("$1" "${2:?$1 needs a value}") && shift ;;
    *)
      echo "soak: unknown argument $1 (usage: scripts/soak.sh [--quick] [--duration S] [--seed N])" >&2
      echo "soak: 0 requests, 0 unexpected, RSS 0.0→0.0 MB, fds 0→0"
      exit 2
      ;;
  esac
  shift
done

bin=${MANIFOLD_BIN:-}
if [ -z "$bin" ]; then
  echo "soak: cargo build --release -p manifold" >&2
  if ! cargo build --release -q -p manifold >&2; then
    echo "soak: FAILED: cargo build --release -p manifold"
    echo "soak: 0 requests, 0 unexpected, RSS 0.0→0.0 MB, fds 0→0"
    exit 1
  fi
  bin=${CARGO_TARGET_DIR:-$ROOT/target}/release/manifold
fi

# soak.py stops its children itself; the trap covers signals sent to this shell.
py_pid=""
# shellcheck disable=SC2317 # called by the traps
cleanup() { [ -n "$py_pid" ] && kill -TERM "$py_pid" 2>/dev/null && wait "$py_pid" 2>/dev/null; true; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
python3 tests/soak/soak.py --bin "$bin" "${args[@]}" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=""
exit "$rc"
