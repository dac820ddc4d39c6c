#!/usr/bin/env bash
# Runs KrakenD CE's own integration specs against Manifold (tests/peer/run.py).
# See docs/peer-suite.md.
#
# Usage: scripts/peer-suite.sh [--only NAME] [-v] [--allow-fail-file PATH]
#
# Builds nothing when target/release/manifold (under CARGO_TARGET_DIR when set) exists; otherwise (and only when the
# suite is present and MANIFOLD_BIN is unset) runs `cargo build --release -p manifold`
# first. Exits with the runner's status.
#
# Environment:
#   MANIFOLD_PEER_SUITE  suite directory (default ../shared/peer-suites/krakend-ce)
#   MANIFOLD_BIN         gateway binary (default $CARGO_TARGET_DIR/release/manifold, or
#                        target/release/manifold)
#   CI                   "true" makes a missing suite a failure
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SUITE=${MANIFOLD_PEER_SUITE:-$ROOT/../shared/peer-suites/krakend-ce}
# Where cargo puts the binary, so that the build below and the runner agree.
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/manifold
if [[ -z "${MANIFOLD_BIN:-}" && -d "$SUITE/specs" && ! -x $BIN ]]; then
  echo "peer-suite: $BIN not found; running cargo build --release -p manifold" >&2
  cargo build --release -p manifold >&2
fi
export MANIFOLD_BIN=${MANIFOLD_BIN:-$BIN}

exec python3 tests/peer/run.py "$@"
