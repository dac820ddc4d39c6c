#!/usr/bin/env bash
# Benchmarks: Manifold native against the direct backend, nginx as reverse proxy and a
# hand-written Node aggregator, on loopback, in one run. Writes BENCHMARKS.md and
# bench/ratios.svg (full mode) or both into $TMPDIR/manifold-bench-quick/ (--quick).
#
# Usage: bench/run.sh [--quick] [--out DIR] [--scenarios abcd]
#   --quick   a few seconds per target, one round (CI smoke run, well under 2 minutes)
#
# Installs what it needs, idempotently: Debian nginx, libnginx-mod-http-echo and wrk
# (apt-get, needs root or sudo), the Node peers' npm packages (bench/package.json + lock,
# into ${MANIFOLD_CACHE:-~/.cache/manifold}/bench-npm), and builds target/release/manifold.
# Exit code: non-zero only on real failures (a peer not starting, wrong or failed
# responses), never on a missed performance target. Last line:
#   bench: N scenarios measured, F failed
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MANIFOLD_CACHE:-$HOME/.cache/manifold}
say() { printf 'bench: %s\n' "$*"; }
fail() {
	say "ERROR: $*" >&2
	echo "bench: 0 scenarios measured, 1 failed"
	exit 1
}

# ---- tools ------------------------------------------------------------------
apt_install() {
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	command -v apt-get >/dev/null || fail "apt-get not found; install $* by hand"
	if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
		$sudo apt-get update -qq || true
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
			fail "apt-get install $* failed"
	fi
}
need=()
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || need+=(libnginx-mod-http-echo)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
if [ "${#need[@]}" -gt 0 ]; then
	say "installing ${need[*]} (apt-get)"
	apt_install "${need[@]}"
fi
command -v node >/dev/null || fail "node not found (Node >= 20 needed for the aggregator peer)"
command -v python3 >/dev/null || fail "python3 not found"

# Node peers: npm ci into the cache when bench/package-lock.json changed.
NPM_DIR=$CACHE/bench-npm
if ! cmp -s "$ROOT/bench/package-lock.json" "$NPM_DIR/package-lock.json" 2>/dev/null; then
	say "npm ci into $NPM_DIR"
	mkdir -p "$NPM_DIR"
	cp "$ROOT/bench/package.json" "$ROOT/bench/package-lock.json" "$NPM_DIR/"
	(cd "$NPM_DIR" && npm ci --no-audit --no-fund --silent) || fail "npm ci failed in $NPM_DIR"
fi
export NODE_PATH=$NPM_DIR/node_modules

# ---- Manifold -----------------------------------------------------------------
if [ -z "${BENCH_NO_BUILD:-}" ]; then
	say "cargo build --release -p manifold"
	(cd "$ROOT" && cargo build --release -q -p manifold) || fail "cargo build --release -p manifold failed"
fi
[ -x "$ROOT/target/release/manifold" ] || fail "target/release/manifold missing"
"$ROOT/target/release/manifold" run --help >/dev/null 2>&1 ||
	fail "target/release/manifold has no working 'run' command yet"

# ---- run ------------------------------------------------------------------------
# bench.py stops everything it started on exit; the trap covers signals sent to this shell.
py_pid=""
cleanup() { [ -n "$py_pid" ] && kill -TERM "$py_pid" 2>/dev/null && wait "$py_pid" 2>/dev/null; true; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
python3 "$ROOT/bench/bench.py" "$@" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=""
exit "$rc"
