#!/usr/bin/env bash
# Runs KrakenD CE's own integration specs against Manifold (tests/peer/run.py).
# See docs/peer-suite.md.
#
# Usage: scripts/peer-suite.sh [--only NAME] [-v] [--allow-fail-file PATH]
#
# Builds nothing when target/release/manifold exists; otherwise (and only when the
# suite is present and MANIFOLD_BIN is unset) runs `cargo build --release -p manifold`
# first. Exits with the runner's status.
#
# Environment:
#   MANIFOLD_PEER_SUITE  suite directory (default ../shared/peer-suites/krakend-ce)
#   MANIFOLD_BIN         gateway binary (default target/release/manifold)
#   CI                   "true" makes a missing suite a failure
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SUITE=${MANIFOLD_PEER_SUITE:-$ROOT/../shared/peer-suites/krakend-ce}
if [[ -z "${MANIFOLD_BIN:-}" && -d "$SUITE/specs" && ! -x target/release/manifold ]]; then
  echo "peer-suite: target/release/manifold not found; running cargo build --release -p manifold" >&2
  cargo build --release -p manifold >&2
fi

exec python3 tests/peer/run.py "$@"
