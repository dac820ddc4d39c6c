#!/usr/bin/env bash
# Streaming passthrough natively (issue 19 point 2, docs/streaming.md), runnable on its own and
# run by scripts/test.sh: the `manifold` binary (dev profile) and tests/streaming/e2e.py, which
# starts a scripted Python backend and `manifold run` on free loopback ports and stops both:
# an SSE event reaches the client before the backend finishes, 200 MB pass with flat gateway
# memory, a stalled stream is aborted after the endpoint timeout.
#
# A failed build is a failure, never a skip. The last line is `streaming: P passed, F failed`;
# the exit status is non-zero on failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

command -v python3 >/dev/null || { echo "FAIL python3 is required"; echo "streaming: 0 passed, 1 failed"; exit 1; }
if ! out=$(cargo build -p manifold 2>&1); then
  echo "FAIL cargo build -p manifold"
  echo "$out" | tail -20 | sed 's/^/     /'
  echo "streaming: 0 passed, 1 failed"
  exit 1
fi
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# A private copy: the target directory may be rebuilt by another checkout meanwhile.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cp "$target/debug/manifold" "$bin/manifold"
python3 tests/streaming/e2e.py "$bin/manifold"
