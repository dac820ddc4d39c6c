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
#
# Per-config build: manifold-core's optional capabilities (JWT RSA/EC/EdDSA, CEL, json-schema,
# XML, YAML, ...: core/src/config/capability.rs) are cargo features. This script asks
# `manifold-features` (build-support) which ones the embedded config uses and builds with
# exactly those (`--no-default-features --features ...`), so the module carries no code the
# config cannot reach. MANIFOLD_WORKER_FEATURES=all builds every capability (the default
# features); MANIFOLD_WORKER_FEATURES=<a,b> builds that list (build.rs still refuses a config
# that needs more, at the key that needs it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/tools.sh" worker >&2
# shellcheck source=/dev/null
source "${MANIFOLD_CACHE:-$HOME/.cache/manifold}/env.sh"
export CARGO_PROFILE_RELEASE_SMALL_STRIP=false
features=${MANIFOLD_WORKER_FEATURES:-}
if [ -z "$features" ]; then
	config=${MANIFOLD_CONFIG:-config/gateway.json}
	# A host build of build-support (manifold-core only, the dev profile): seconds once built.
	if ! features=$(cd "$root" && cargo run --quiet -p manifold-build --bin manifold-features -- "$config"); then
		# The Worker build below reports the config's own errors, located.
		echo "edge-worker/build.sh: could not derive the features from $config; building all" >&2
		features=all
	fi
fi
cargo_features=()
if [ "$features" != all ]; then
	cargo_features=(--no-default-features --features "$features")
fi
echo "edge-worker/build.sh: manifold-core features: ${features:-(none)}" >&2
cd "$root/edge-worker"
worker-build --profile release-small . "${cargo_features[@]}"
if [ "${MANIFOLD_WORKER_NAMES:-0}" != 1 ]; then
	# The features worker-build enables for its own wasm-opt run (and nothing newer). `-Oz
	# --converge` repeats the size passes until nothing changes (about 0.5 % of the gzip size
	# after worker-build's single `-Oz`, under a minute: bench/profile-notes.md).
	"$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm -Oz --converge --strip-debug --strip-producers \
		--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
		--enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
fi
