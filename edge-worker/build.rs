//! Embeds and validates the gateway config at build time.
//!
//! The config is `config/gateway.json` at the repository root, or the file named by the
//! environment variable `MANIFOLD_CONFIG` (absolute, or relative to the repository root).
//! `${VAR}` placeholders are expanded from the *build* environment with the same code as
//! `manifold run` (native/src/env.rs). The text is then parsed and compiled with manifold-core
//! exactly as the Worker will at its first request, so a broken config fails the build
//! (`worker-build`, `wrangler deploy`) with `file:line:column` messages instead of failing in
//! production. The expanded text is written to `$OUT_DIR/gateway.json`, which the Worker
//! embeds with `include_str!`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use manifold_core::platform::{BackendRequest, BackendResponse, ClientError, ClientErrorKind};
use manifold_core::{BoxFuture, Clock, Gateway, HttpClient, Platform, Sleep};

// The placeholder rules live in manifold-native, whose runtime dependencies (tokio, hyper,
// rustls) would be a second full host compile as build-dependencies; the module itself only
// needs std and manifold-core, so it is compiled in from its file (as lambda/build.rs does).
#[path = "../native/src/env.rs"]
#[allow(dead_code, unreachable_pub)]
mod env;

/// Workers allow 6 simultaneous outgoing connections per request; more are queued.
const CONNECTIONS: usize = 6;
/// Subrequests per request on the Workers Free plan.
const FREE_SUBREQUESTS: u64 = 50;

fn main() {
    println!("cargo::rerun-if-env-changed=MANIFOLD_CONFIG");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../native/src/env.rs");
    let manifest_dir = PathBuf::from(env_or_empty("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();
    let path = match std::env::var_os("MANIFOLD_CONFIG").filter(|v| !v.is_empty()) {
        Some(p) => root.join(p),
        None => root.join("config").join("gateway.json"),
    };
    println!("cargo::rerun-if-changed={}", path.display());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            println!(
                "cargo::error=cannot read the gateway config {}: {e} \
                 (set MANIFOLD_CONFIG=<path> to use another file)",
                path.display()
            );
            return;
        }
    };
    let name = path.display();
    let expanded = match env::expand_placeholders(&text, |var| {
        println!("cargo::rerun-if-env-changed={var}");
        std::env::var(var).ok()
    }) {
        Ok(expanded) => expanded,
        Err(errors) => {
            for e in errors {
                println!("cargo::error={name}:{e} (set it when building; see docs/workers.md)");
            }
            return;
        }
    };
    if !validate(&path, &expanded) {
        return;
    }
    let out = PathBuf::from(env_or_empty("OUT_DIR")).join("gateway.json");
    if let Err(e) = std::fs::write(&out, expanded) {
        println!("cargo::error=cannot write {}: {e}", out.display());
    }
}

/// Compile the config as the Worker will; report every error and warning. True when usable.
fn validate(path: &Path, text: &str) -> bool {
    let platform = Platform::new(
        Arc::new(NoNetwork),
        Arc::new(NoNetwork),
        Arc::new(NoNetwork),
    );
    let name = path.display();
    match Gateway::from_json(text, platform) {
        Ok(gateway) => {
            for w in &gateway.config().warnings {
                println!("cargo::warning={name}:{w}");
            }
            for e in &gateway.config().endpoints {
                let calls = e.backend.len() as u64 * u64::from(e.concurrent_calls.max(1));
                if calls > FREE_SUBREQUESTS {
                    println!(
                        "cargo::warning={name}: {} {}: up to {calls} subrequests per request, \
                         above the Workers Free plan limit of {FREE_SUBREQUESTS}",
                        e.method, e.endpoint
                    );
                } else if e.backend.len() > CONNECTIONS {
                    println!(
                        "cargo::warning={name}: {} {}: {} backends, but Workers open at most \
                         {CONNECTIONS} connections per request; the rest wait (see docs/workers.md)",
                        e.method,
                        e.endpoint,
                        e.backend.len()
                    );
                }
            }
            true
        }
        Err(errors) => {
            println!(
                "cargo::error={name}: invalid gateway config ({} error(s))",
                errors.errors.len()
            );
            for e in &errors.errors {
                println!("cargo::error={name}:{e}");
            }
            for w in &errors.warnings {
                println!("cargo::warning={name}:{w}");
            }
            false
        }
    }
}

fn env_or_empty(key: &str) -> String {
    std::env::var(key).unwrap_or_default()
}

/// Ports for compiling the config only: nothing is ever sent or awaited at build time.
struct NoNetwork;

impl HttpClient for NoNetwork {
    fn send(
        &self,
        _: BackendRequest,
        _: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        Box::pin(async { Err(ClientError::new(ClientErrorKind::Connect, "build time")) })
    }
}

impl Clock for NoNetwork {
    fn now_millis(&self) -> u64 {
        0
    }
}

impl Sleep for NoNetwork {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}
