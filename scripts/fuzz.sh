#!/usr/bin/env bash
# Runs Manifold's coverage-guided fuzz targets (fuzz/, cargo-fuzz + libFuzzer) one after
# another, each for N seconds, one libFuzzer job at a time. Not part of CI: CI replays the
# committed corpora on stable in `cargo test` (tests/fuzz_replay.rs). See docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [-t SECONDS] [--cmin] [TARGET...]
#   -t SECONDS  time per target (default 600)
#   --cmin      minimize each target's corpus (cargo fuzz cmin) after its run
#   TARGET      targets to run (default: every target in fuzz/Cargo.toml)
#
# Installs cargo-fuzz into the tool cache (idempotent). libFuzzer's instrumentation needs
# nightly compiler flags; on a stable toolchain they are enabled with RUSTC_BOOTSTRAP=1.
# New corpus entries land in fuzz/corpus/<target>/ (commit them after --cmin); crashes in
# fuzz/artifacts/<target>/. Logs and a summary line per target go to $FUZZ_LOG_DIR.
#
# Environment:
#   MANIFOLD_CACHE    tool cache (default $HOME/.cache/manifold)
#   FUZZ_TARGET_DIR   cargo target dir for the instrumented build (default target/fuzz in the
#                     repo's CARGO_TARGET_DIR, or fuzz/target)
#   FUZZ_LOG_DIR      logs (default fuzz/logs, ignored by git)
#   FUZZ_RSS_MB       libFuzzer -rss_limit_mb (default 2048)
#   FUZZ_TIMEOUT      libFuzzer -timeout per input in seconds (default 10)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MANIFOLD_CACHE:-$HOME/.cache/manifold}
CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET=600
CMIN=0
TARGETS=()

while [ $# -gt 0 ]; do
	case "$1" in
	-t)
		SECONDS_PER_TARGET=${2:?-t needs a number of seconds}
		shift 2
		;;
	--cmin)
		CMIN=1
		shift
		;;
	-h | --help)
		sed -n '6,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "fuzz: unknown option $1" >&2
		exit 2
		;;
	*)
		TARGETS+=("$1")
		shift
		;;
	esac
done

say() { printf 'fuzz: %s\n' "$*"; }

# ---- cargo-fuzz, once -------------------------------------------------------
export PATH="$CACHE/cargo/bin:$PATH"
have=$(cargo fuzz --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$CARGO_FUZZ_VERSION" ]; then
	say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $CACHE/cargo (takes a few minutes)"
	mkdir -p "$CACHE/cargo"
	(cd "$CACHE" && cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked -j 1 \
		--root "$CACHE/cargo")
fi

cd "$ROOT"
if [ ${#TARGETS[@]} -eq 0 ]; then
	mapfile -t TARGETS < <(cargo fuzz list)
fi
TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}}
TARGET_DIR=${TARGET_DIR:-$ROOT/fuzz/target}
LOG_DIR=${FUZZ_LOG_DIR:-$ROOT/fuzz/logs}
mkdir -p "$LOG_DIR"
export RUSTC_BOOTSTRAP=1

say "building ${#TARGETS[@]} target(s) into $TARGET_DIR"
cargo fuzz build --target-dir "$TARGET_DIR"

status=0
summary=()
for t in "${TARGETS[@]}"; do
	corpus=fuzz/corpus/$t
	mkdir -p "$corpus"
	# Seeds from the project's own files (python3 fuzz/seed.py) join the corpus; --cmin
	# keeps only those that add coverage.
	if [ -d "fuzz/seeds/$t" ]; then
		cp -n fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
	fi
	extra=()
	[ -f "fuzz/dicts/$t.dict" ] && extra+=("-dict=fuzz/dicts/$t.dict")
	log=$LOG_DIR/$t.log
	say "$t: ${SECONDS_PER_TARGET}s, log $log"
	start=$(date +%s)
	rc=0
	cargo fuzz run --target-dir "$TARGET_DIR" "$t" "$corpus" -- \
		-max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
		-timeout="${FUZZ_TIMEOUT:-10}" -print_final_stats=1 "${extra[@]}" >"$log" 2>&1 || rc=$?
	elapsed=$(($(date +%s) - start))
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
	done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1 || true)
	if [ "$rc" -ne 0 ]; then
		status=1
		line="$t: FAILED (exit $rc) after ${elapsed}s; see $log and fuzz/artifacts/$t/"
	else
		line="$t: ${elapsed}s, ${done_line:-no Done line}; last: ${last:-none}"
	fi
	say "$line"
	summary+=("$line")
	if [ "$CMIN" = 1 ] && [ "$rc" -eq 0 ]; then
		cargo fuzz cmin --target-dir "$TARGET_DIR" "$t" "$corpus" -- \
			-rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout="${FUZZ_TIMEOUT:-10}" \
			>"$LOG_DIR/$t.cmin.log" 2>&1 || status=1
		say "$t: corpus minimized to $(find "$corpus" -type f | wc -l) files"
	fi
done

say "summary"
printf '  %s\n' "${summary[@]}" | tee "$LOG_DIR/summary.txt"
exit $status
