#!/usr/bin/env bash
# The OpenAPI suite: `manifold openapi import` and `export` on real specs (the shared test
# vectors and GitHub's REST API description from npm, read at test time), `manifold check`
# on every import, openapi-spec-validator on every export, operation sets compared; and the
# export of every valid config in the repository. See docs/openapi.md.
#
# Usage: scripts/openapi.sh
#
# Environment:
#   MANIFOLD_TEST_VECTORS  shared test vectors (default ../shared/test-vectors)
#   MANIFOLD_CACHE         tools cache (default ~/.cache/manifold; scripts/tools.sh openapi)
# The last line is `P passed, F failed`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE=${MANIFOLD_CACHE:-$HOME/.cache/manifold}
VECTORS=${MANIFOLD_TEST_VECTORS:-$ROOT/../shared/test-vectors}

# The validator and the GitHub description; a failed install fails the suite loudly.
if ! scripts/tools.sh openapi >&2; then
  echo "openapi: scripts/tools.sh openapi failed (see above)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
# shellcheck source=/dev/null
source "$CACHE/env.sh"

cargo build -q -p manifold >&2
# A private copy: the target directory may be shared with builds of other checkouts.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target=${CARGO_TARGET_DIR:-$ROOT/target}
cp "$target/debug/manifold" "$work/manifold"

"$CACHE/openapi-venv/bin/python" tests/openapi/suite.py "$work/manifold" "$VECTORS" "${MANIFOLD_GITHUB_OPENAPI:-}"
