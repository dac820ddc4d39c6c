//! Build-script helper shared by the Lambda and Workers adapters.
//!
//! [`embed_gateway_config`] takes `config/gateway.json` at the repository root, or the file
//! named by `MANIFOLD_CONFIG` (absolute, or relative to the repository root), expands its
//! `${VAR}` placeholders from the *build* environment and validates it, both with
//! `manifold_core::config::load` (the loader `manifold run` and the adapters use), and writes the
//! expanded text to `$OUT_DIR/gateway.json` for `include_str!`. A broken config therefore fails
//! `cargo build` (and `cargo lambda build`, `sam build`, `worker-build`, `wrangler deploy`) with
//! `file:line:column` messages instead of failing a cold start or a first request.

use std::path::PathBuf;

use manifold_core::config::load::{self, LoadError};

/// Embed and validate the gateway config for the crate whose build script calls this.
/// `docs` names the page that explains build-time variables (for error messages).
pub fn embed_gateway_config(docs: &str) {
    println!("cargo::rerun-if-env-changed=MANIFOLD_CONFIG");
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
            println!("cargo::error=cannot read the gateway config {name}: {e} (set MANIFOLD_CONFIG=<path> to embed another file)");
            return;
        }
    };
    // Placeholders come from the *build* environment; the `MANIFOLD_*` overrides are the
    // runtime's, so the text is validated without them, as the adapter loads it when none is set.
    let lookup = |var: &str| {
        println!("cargo::rerun-if-env-changed={var}");
        std::env::var(var).ok()
    };
    let loaded = load::expand(&text, lookup)
        .and_then(|expanded| Ok((load::load_expanded(&expanded, |_| None)?, expanded)));
    let (config, expanded) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            let hint = match e {
                LoadError::Env(_) => format!(" (set it when building; see {docs})"),
                _ => String::new(),
            };
            let errors = e.errors();
            println!(
                "cargo::error={name}: invalid gateway config ({} error(s))",
                errors.len()
            );
            for e in errors {
                println!("cargo::error={name}:{e}{hint}");
            }
            for w in e.warnings() {
                println!("cargo::warning={name}:{w}");
            }
            return;
        }
    };
    for w in &config.warnings {
        println!("cargo::warning={name}:{w}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("gateway.json");
    if let Err(e) = std::fs::write(&out, expanded) {
        println!("cargo::error=cannot write {}: {e}", out.display());
    }
    println!("cargo::rustc-env=MANIFOLD_EMBEDDED_CONFIG={name}");
}
