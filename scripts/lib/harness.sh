# Shared by the e2e scripts (sourced, not run): the pass/fail counters and the summary line,
# a scratch directory and the processes to stop on exit, free loopback ports, and the
# `manifold` binary under test. One copy, so every suite reports and cleans up the same way.
#
#   source scripts/lib/harness.sh     (after `cd "$ROOT"`)
#   ok NAME / fail NAME [DETAIL]      count a check (DETAIL's last lines are shown)
#   finish                            print `P passed, F failed` and exit (non-zero on failure)
#   abort NAME [DETAIL]               count a failure and finish at once
#   $work, pids+=($!)                 scratch directory and processes, both gone on exit
#   free_port, wait_port PORT [S]     a free loopback TCP port; poll until PORT listens
#   manifold_bin                      sets $bin: MANIFOLD_BIN, or a private copy of a debug build

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL $1"
  [ -n "${2:-}" ] && printf '%s\n' "$2" | tail -20 | sed 's/^/     /'
  return 0
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit $?
}
abort() {
  fail "$@"
  finish
}

work=$(mktemp -d)
pids=()
# shellcheck disable=SC2317 # called by the trap
harness_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ "${KEEP:-}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap harness_cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

manifold_bin() {
  bin=${MANIFOLD_BIN:-}
  [ -n "$bin" ] && return 0
  local out
  out=$(cargo build -q -p manifold 2>&1) || abort "cargo build -p manifold" "$out"
  # A private copy: the target directory may be shared with builds of other checkouts.
  cp "${CARGO_TARGET_DIR:-$ROOT/target}/debug/manifold" "$work/manifold"
  bin=$work/manifold
}

# Wait until something listens on PORT, for at most SECONDS (default 10); fails early when
# the last process started has exited. Polls: no fixed sleeps for synchronisation.
wait_port() { # port [seconds]
  local deadline=$((SECONDS + ${2:-10}))
  while [ "$SECONDS" -le "$deadline" ]; do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    [ "${#pids[@]}" -gt 0 ] && ! kill -0 "${pids[-1]}" 2>/dev/null && return 1
    sleep 0.05
  done
  return 1
}
