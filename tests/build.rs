//! Compiles every config the Worker build could compile in (manifold_core::config::bake) into
//! the `prebuilt` test, which checks each against the decoder: `config/`, `config/examples/`,
//! the Worker e2e configs in `tests/worker/` and the scenario configs under `tests/scenarios/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use manifold_build::{prepare, Target};

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = here.parent().unwrap_or(&here).to_path_buf();
    let mut configs = Vec::new();
    for dir in [
        "config",
        "config/examples",
        "tests/worker",
        "tests/scenarios",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(dir).display());
        collect(
            &root,
            &root.join(dir),
            dir != "tests/scenarios",
            &mut configs,
        );
    }
    configs.sort();
    let mut out = String::new();
    let mut table = String::new();
    for (i, name) in configs.iter().enumerate() {
        let Some((text, plan, sites)) = embed(&root, name) else {
            continue;
        };
        let _ = writeln!(
            out,
            "#[allow(unused_variables, clippy::all, clippy::pedantic)]\nfn baked_{i}(__env: &Values) -> Result<manifold_core::Config, String> {{ Ok({plan}) }}"
        );
        let sites = sites.join(", ");
        let _ = writeln!(table, "    ({name:?}, {text:?}, &[{sites}], baked_{i}),");
    }
    out.push_str("/// Builds a config compiled in, with its placeholders' values.\n");
    out.push_str("type Baked = fn(&Values) -> Result<manifold_core::Config, String>;\n");
    out.push_str(
        "/// (config file, the text the build embeds, its placeholders, the config compiled in),\n",
    );
    out.push_str("/// for every config that can be.\n");
    out.push_str("const BAKED: &[(&str, &str, &[Site], Baked)] = &[\n");
    out.push_str(&table);
    out.push_str("];\n");
    let file = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("baked.rs");
    if let Err(e) = std::fs::write(&file, out) {
        println!("cargo::error=cannot write {}: {e}", file.display());
    }
}

/// The config files under `dir` (its `*.json` when `flat`, else every `config.json` below it),
/// relative to `root`.
fn collect(root: &Path, dir: &Path, flat: bool, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() && !flat {
            collect(root, &path, flat, out);
        } else if (flat && path.extension().is_some_and(|e| e == "json"))
            || (!flat && path.file_name().is_some_and(|n| n == "config.json"))
        {
            if let Ok(relative) = path.strip_prefix(root) {
                out.push(relative.display().to_string());
            }
        }
    }
}

/// The config at `name` as the Worker build embeds it and compiles it in, with every
/// capability: (embedded text, expression, its placeholders' sites).
fn embed(root: &Path, name: &str) -> Option<(String, String, Vec<String>)> {
    let text = std::fs::read_to_string(root.join(name)).ok()?;
    // Every capability; the Worker e2e configs' build-time ports (tests/worker/ssl.json).
    let lookup = |var: &str| match var {
        _ if var.starts_with("CARGO_FEATURE_") => Some(String::new()),
        _ if var.starts_with("MANIFOLD_E2E_") => Some("9".to_owned()),
        _ => None,
    };
    let read = |path: &str| std::fs::read_to_string(root.join(path)).map_err(|e| e.to_string());
    let embedding = prepare(
        Target::Workers,
        name,
        &text,
        lookup,
        read,
        "docs/workers.md",
    );
    Some((embedding.text?, embedding.plan?, embedding.sites))
}
