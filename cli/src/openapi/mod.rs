//! `manifold openapi`: the gateway as an OpenAPI 3.1 document (`export`, from the parsed
//! plan), and a KrakenD config skeleton from an OpenAPI 3.0/3.1 file (`import`). See
//! docs/openapi.md. The two commands here read and write files; the mapping rules are in
//! `export` and `import`, which do no I/O.

pub mod export;
pub mod import;
pub mod spec;

use std::path::{Path, PathBuf};

use manifold_core::Gateway;

use crate::check::Report;

/// Arguments of `manifold openapi export`.
#[derive(Debug, Clone)]
pub struct ExportArgs {
    /// The gateway's config.
    pub config: PathBuf,
    /// Where to write the document (stdout when `None`).
    pub output: Option<PathBuf>,
    /// `info.title` (default: the config's file name).
    pub title: Option<String>,
    /// `info.version`.
    pub version: String,
    /// `servers[0].url`.
    pub server: Option<String>,
}

/// Arguments of `manifold openapi import`.
#[derive(Debug, Clone)]
pub struct ImportArgs {
    /// The OpenAPI file (JSON or YAML).
    pub spec: PathBuf,
    /// Where to write the config (stdout when `None`).
    pub output: Option<PathBuf>,
    /// The mapping options.
    pub options: import::Options,
}

/// `manifold openapi export`: 0 written, 1 the config is invalid, 2 unreadable or unwritable.
#[allow(clippy::print_stderr)]
pub fn run_export(args: &ExportArgs) -> u8 {
    // As `check`: run-time `${env:NAME}` values stand in; the routes are compiled too.
    let (result, standing_in) =
        manifold_native::check_file(&args.config, |name| std::env::var(name).ok());
    let platform = match manifold_native::platform() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("manifold: {e}");
            return 2;
        }
    };
    let result = result.map(|config| Gateway::new(config, platform));
    let config = match &result {
        Ok(gateway) => gateway.config(),
        Err(e) => {
            let report = Report {
                file: &args.config,
                result: Err(e),
                standing_in: &standing_in,
            };
            eprint!("{}", report.text());
            return report.exit_code();
        }
    };
    let title = args.title.clone().unwrap_or_else(|| {
        args.config.file_name().map_or_else(
            || "gateway".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        )
    });
    let info = export::Info {
        title,
        version: args.version.clone(),
        server: args.server.clone(),
    };
    let doc = export::document(config, &info);
    write(args.output.as_deref(), &doc)
}

/// `manifold openapi import`: 0 written (notes on stderr), 1 the spec cannot be imported or
/// the result does not pass `manifold check`, 2 unreadable or unwritable.
#[allow(clippy::print_stderr)]
pub fn run_import(args: &ImportArgs) -> u8 {
    let text = match std::fs::read_to_string(&args.spec) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", args.spec.display());
            return 2;
        }
    };
    let value = match spec::parse(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}: {e}", args.spec.display());
            return 1;
        }
    };
    let imported = match import::import(&value, &args.options) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {}: {e}", args.spec.display());
            return 1;
        }
    };
    let file = args.spec.display();
    for note in &imported.notes {
        match &note.operation {
            Some(op) => eprintln!("unmapped: {file}: {op}: {}", note.message),
            None => eprintln!("unmapped: {file}: {}", note.message),
        }
    }
    let code = write(args.output.as_deref(), &imported.config);
    // The skeleton must be a config the gateway accepts; say so loudly when it is not.
    let text = serde_json::to_string_pretty(&imported.config).unwrap_or_default();
    let checked = manifold_core::parse_config(&text);
    eprintln!(
        "imported {} operation{} ({} note{})",
        imported.operations.len(),
        if imported.operations.len() == 1 {
            ""
        } else {
            "s"
        },
        imported.notes.len(),
        if imported.notes.len() == 1 { "" } else { "s" },
    );
    match checked {
        Ok(_) => code,
        Err(errors) => {
            for e in &errors.errors {
                eprintln!("error: the generated config: {e}");
            }
            code.max(1)
        }
    }
}

/// Pretty JSON to `path`, or stdout.
#[allow(clippy::print_stderr, clippy::print_stdout)]
fn write(path: Option<&Path>, value: &serde_json::Value) -> u8 {
    let text = match serde_json::to_string_pretty(value) {
        Ok(t) => t + "\n",
        Err(e) => {
            eprintln!("manifold: {e}");
            return 2;
        }
    };
    match path {
        None => {
            print!("{text}");
            0
        }
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {}: {e}", p.display());
                2
            }
        },
    }
}
