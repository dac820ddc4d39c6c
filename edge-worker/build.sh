#!/usr/bin/env bash
# wrangler's [build] command (see wrangler.toml): checks or installs the pinned tools
# (scripts/tools.sh: idempotent, about a second when they are cached), then runs worker-build,
# which compiles manifold-worker for wasm32 and writes edge-worker/build/index.js + index_bg.wasm.
#
# Size (figures in docs/workers.md):
# * the workspace profile `release-small` (opt-level "z", fat LTO) makes the module about 40 %
#   smaller than `--release`. Its `strip = true` is turned off here, because stripping also
#   drops the `target_features` section wasm-bindgen reads (it warns and falls back to baseline
#   features);
# * worker-build's wasm-opt pass keeps the name section (`--debuginfo`), about 12 % of the
#   gzip size; a last wasm-opt run without `--debuginfo` drops it. MANIFOLD_WORKER_NAMES=1
#   keeps it, for symbolised panic traces in `wrangler tail`.
#
# The gateway config is embedded and validated at build time: config/gateway.json, or
# MANIFOLD_CONFIG=<path> (absolute or relative to the repository root).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/tools.sh" worker >&2
# shellcheck source=/dev/null
source "${MANIFOLD_CACHE:-$HOME/.cache/manifold}/env.sh"
export CARGO_PROFILE_RELEASE_SMALL_STRIP=false
cd "$root/edge-worker"
worker-build --profile release-small
if [ "${MANIFOLD_WORKER_NAMES:-0}" != 1 ]; then
	# The features worker-build enables for its own wasm-opt run (and nothing newer).
	"$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
		--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
		--enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
fi
