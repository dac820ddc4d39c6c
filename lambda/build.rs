//! Embeds the gateway config into the bootstrap and validates it at build time.
//!
//! The config is `config/gateway.json` at the repository root, or the file named by the
//! environment variable `MANIFOLD_CONFIG` (absolute, or relative to the repository root).
//! `${VAR}` placeholders are expanded from the *build* environment with the same code as
//! `manifold run` (native/src/env.rs), then the text is parsed and compiled with manifold-core
//! exactly as the function will at cold start. Any problem fails `cargo build`,
//! `cargo lambda build` and `sam build` with `file:line:column` messages, so a broken config
//! never reaches a cold start. The expanded text is written to `$OUT_DIR/gateway.json`, which
//! `src/lib.rs` embeds with `include_str!`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use manifold_core::platform::{BackendRequest, BackendResponse, ClientError, ClientErrorKind};
use manifold_core::{BoxFuture, Clock, Gateway, HttpClient, Platform, Sleep};

// The placeholder rules live in manifold-native, whose runtime dependencies (tokio, hyper,
// rustls with ring's C code) would cost a second full compile as build-dependencies; the
// module itself only needs std and manifold-core, so it is compiled in here from its file.
#[path = "../native/src/env.rs"]
#[allow(dead_code, unreachable_pub)]
mod env;

fn main() {
    println!("cargo::rerun-if-env-changed=MANIFOLD_CONFIG");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../native/src/env.rs");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();
    let path = match std::env::var_os("MANIFOLD_CONFIG").filter(|v| !v.is_empty()) {
        Some(p) => root.join(p),
        None => root.join("config").join("gateway.json"),
    };
    println!("cargo::rerun-if-changed={}", path.display());
    let name = path.display();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            println!(
                "cargo::error=cannot read the gateway config {name}: {e} \
                 (set MANIFOLD_CONFIG=<path> to embed another file)"
            );
            return;
        }
    };
    let expanded = match env::expand_placeholders(&text, |var| {
        println!("cargo::rerun-if-env-changed={var}");
        std::env::var(var).ok()
    }) {
        Ok(expanded) => expanded,
        Err(errors) => {
            for e in errors {
                println!("cargo::error={name}:{e} (set it when building; see docs/lambda.md)");
            }
            return;
        }
    };
    if !validate(&path, &expanded) {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("gateway.json");
    if let Err(e) = std::fs::write(&out, expanded) {
        println!("cargo::error=cannot write {}: {e}", out.display());
    }
    println!(
        "cargo::rustc-env=MANIFOLD_EMBEDDED_CONFIG={}",
        path.display()
    );
}

/// Compile the config as the function will; report every error and warning. True when usable.
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
