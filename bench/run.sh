#!/usr/bin/env bash
# Benchmarks: Manifold native against the direct backend, nginx as reverse proxy and a
# hand-written Node aggregator, on loopback, in one run, plus the cost of a Redis-backed rate
# limit against the in-memory one (scenario e); in the full mode also Manifold's wasm
# Worker against a hand-written JS Worker in workerd, and the Lambda bootstrap's cold start and
# per-invoke latency under `cargo lambda watch`, and the sizes and cold starts of the
# every-capability and the per-config bootstrap (tests/lambda/measure.py --per-config). Writes BENCHMARKS.md, bench/ratios.svg and
# bench/results.json (the raw figures; `python3 bench/report.py` regenerates the other two from
# it) in the full mode, or all three into $TMPDIR/manifold-bench-quick/ (--quick).
#
# Usage: bench/run.sh [--quick] [--out DIR] [--scenarios abcde] [--edge workerd,lambda] [--rounds N]
#        bench/run.sh --telemetry [--quick] [--json FILE]   (telemetry overhead, bench/telemetry.py)
#        bench/run.sh --telemetry --instructions N [--callgrind-dir DIR] [--floor]   (the same A/B as
#                  instructions per request under valgrind's callgrind: repeatable on a busy host)
#                  --floor also counts bench/otel-floor, the same telemetry with the OpenTelemetry SDK
#        bench/run.sh --telemetry --workerd [--quick]   (scenarios a and b in workerd, three Worker builds)
#   --quick   a few seconds per target, one round (CI smoke run, well under 2 minutes);
#             without the workerd and Lambda sections unless --edge names them
#   --edge    which of the workerd (wasm Worker vs JS Worker) and Lambda (cold start, cargo
#             lambda watch) sections to run; default both in the full mode; --edge= for none
#   --rounds  rounds per target (default 2, 1 with --quick)
#
# Installs what it needs, idempotently: Debian nginx, libnginx-mod-http-echo, wrk and
# redis-server (apt-get, needs root or sudo), the Node peers' npm packages (bench/package.json + lock,
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
command -v redis-server >/dev/null || need+=(redis-server)
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
MANIFOLD_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/manifold
[ -x "$MANIFOLD_BIN" ] || fail "$MANIFOLD_BIN missing"
"$MANIFOLD_BIN" run --help >/dev/null 2>&1 ||
	fail "$MANIFOLD_BIN has no working 'run' command yet"

# ---- telemetry overhead (--telemetry) ------------------------------------------------
# bench/telemetry.py: scenarios a and b natively with telemetry off, access log only, and full
# tracing at 100 % sampling (docs/observability.md has the figures).
if [ "${1:-}" = --telemetry ]; then
	shift
	case " $* " in *" --instructions "* | *" --instructions="*)
		command -v valgrind >/dev/null || { say "installing valgrind (apt-get)"; apt_install valgrind; } ;;
	esac
	case " $* " in *" --workerd "*)
		say "scripts/tools.sh worker"
		"$ROOT/scripts/tools.sh" worker >"${TMPDIR:-/tmp}/manifold-bench-tools-worker.log" 2>&1 ||
			fail "scripts/tools.sh worker failed (see ${TMPDIR:-/tmp}/manifold-bench-tools-worker.log)"
		# shellcheck source=/dev/null
		source "$CACHE/env.sh" ;;
	esac
	exec python3 "$ROOT/bench/telemetry.py" --manifold "$MANIFOLD_BIN" "$@"
fi

# ---- workerd and Lambda (full mode, or --edge) ---------------------------------------
# Their tools (scripts/tools.sh: wrangler + miniflare/workerd, cargo-lambda; idempotent, about a
# second when cached); bench.py builds the release Lambda bootstrap itself, right before its
# section. A failure here is not fatal: bench.py then reports the section, with the reason.
edge=1
for a in "$@"; do [ "$a" = --quick ] && edge=0; done
for a in "$@"; do case $a in --edge | --edge=*) edge=1 ;; esac; done
if [ "$edge" = 1 ]; then
	for part in worker lambda; do
		say "scripts/tools.sh $part"
		"$ROOT/scripts/tools.sh" "$part" >"${TMPDIR:-/tmp}/manifold-bench-tools-$part.log" 2>&1 ||
			say "WARNING: scripts/tools.sh $part failed (see ${TMPDIR:-/tmp}/manifold-bench-tools-$part.log)"
	done
	# shellcheck source=/dev/null
	[ -f "$CACHE/env.sh" ] && source "$CACHE/env.sh"
fi

# ---- run ------------------------------------------------------------------------
# bench.py stops everything it started on exit; the trap covers signals sent to this shell.
py_pid=""
# shellcheck disable=SC2317 # called by the traps
cleanup() { [ -n "$py_pid" ] && kill -TERM "$py_pid" 2>/dev/null && wait "$py_pid" 2>/dev/null; true; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
python3 "$ROOT/bench/bench.py" "$@" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=""
exit "$rc"
