//! Build-script helper shared by the Lambda and Workers adapters.
//!
//! [`embed_gateway_config`] takes `config/gateway.json` at the repository root, or the file
//! named by `MANIFOLD_CONFIG` (absolute, or relative to the repository root), expands its
//! `${VAR}` placeholders from the *build* environment and validates it, both with
//! `manifold_core::config::load` (the loader `manifold run` and the adapters use), and writes the
//! expanded text to `$OUT_DIR/gateway.json` for `include_str!`. A broken config therefore fails
//! `cargo build` (and `cargo lambda build`, `sam build`, `worker-build`, `wrangler deploy`) with
//! `file:line:column` messages instead of failing a cold start or a first request.
//!
//! Run-time placeholders (`${env:NAME}`) stay in the embedded text: the adapter resolves them
//! when it starts, from the platform (a Worker's vars and secrets, the function's environment).
//! The build never reads them, so a secret given that way is not in the artifact; the config
//! is validated with stand-ins for them, and a warning lists the names the platform must set.

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
    // `${VAR}` comes from the *build* environment; `${env:NAME}` and the `MANIFOLD_*` overrides
    // are the platform's at start, so the text is validated without them: stand-ins for the
    // placeholders, no overrides (as the adapter loads it when none is set).
    let lookup = |var: &str| {
        println!("cargo::rerun-if-env-changed={var}");
        std::env::var(var).ok()
    };
    let mut runtime = Vec::new();
    let loaded = load::expand(&text, lookup).and_then(|expanded| {
        let (config, standing_in) = load::check_expanded(&expanded, |_| None);
        runtime = standing_in;
        Ok((config?, expanded))
    });
    let (config, expanded) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            let hint = match e {
                // A missing `${VAR}` (a malformed `${env:..}` names no variable).
                LoadError::Env(ref errors) if errors.iter().all(|e| !e.variable.is_empty()) => {
                    format!(" (set it when building; see {docs})")
                }
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
    if !runtime.is_empty() {
        let names: Vec<String> = runtime
            .iter()
            .map(|p| format!("{} ({}:{})", p.name, p.line, p.column))
            .collect();
        println!("cargo::warning={name}: read at start, not embedded: set {} on the platform (see {docs})", names.join(", "));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("gateway.json");
    if let Err(e) = std::fs::write(&out, expanded) {
        println!("cargo::error=cannot write {}: {e}", out.display());
    }
    println!("cargo::rustc-env=MANIFOLD_EMBEDDED_CONFIG={name}");
}
