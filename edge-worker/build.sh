#!/usr/bin/env bash
# wrangler's [build] command (see wrangler.toml): checks or installs the pinned tools
# (scripts/tools.sh: idempotent, about a second when they are cached), then runs worker-build,
# which compiles manifold-worker for wasm32 and writes edge-worker/build/index.js + index_bg.wasm.
# The workspace profile `release-small` (opt-level "z", fat LTO) makes the module about 40 %
# smaller than `--release`; see docs/workers.md for the figures. Its `strip = true` is turned
# off here: stripping drops the `target_features` section wasm-bindgen reads (it warns and
# falls back to baseline features), and the name section (kept by worker-build's wasm-opt
# pass) gives readable panic traces in `wrangler tail` for about 38 KB of gzip.
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
exec worker-build --profile release-small "$@"
