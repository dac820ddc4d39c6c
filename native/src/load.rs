//! A config file read from disk and loaded with [`manifold_core::config::load`]: the file half
//! that the pure core leaves to its callers, shared by `manifold run`/`check` and the Lambda
//! runtime override.

use std::path::Path;

use manifold_core::config::files;
use manifold_core::config::load::{self, LoadError};
use manifold_core::config::runtime_env::Placeholder;
use manifold_core::Config;

/// Read the config file at `path` and load it (`${VAR}` and `${env:NAME}` placeholders,
/// `MANIFOLD_*` overrides, parse and validate) with `lookup` as the environment; the files it
/// names (TLS keys and CAs, `jwk_local_path`) are read too.
pub fn load_file(
    path: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, LoadError> {
    load::load_reading(&read(path)?, lookup, files::NATIVE, read_named)
}

/// Read the config file at `path` and validate it as `manifold check` does
/// ([`load::check`]): a `${env:NAME}` that `lookup` does not set stands in, and is returned.
pub fn check_file(
    path: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> (Result<Config, LoadError>, Vec<Placeholder>) {
    match read(path) {
        Ok(text) => load::check_reading(&text, lookup, read_named),
        Err(e) => (Err(e), Vec::new()),
    }
}

/// A file the config names (relative paths from the working directory, as KrakenD).
fn read_named(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|error| LoadError::Unreadable {
        path: path.to_owned(),
        error,
    })
}

/// The config a serverless function starts with: the file named by the environment variable
/// `override_var` (its placeholders expanded) when it is set and not empty, else the text
/// embedded at build time (`${VAR}` already expanded, its `${env:NAME}` resolved now from
/// `lookup`), given with the file it came from.
/// Returns where the config came from and the config, or why there is none.
pub fn load_or_embedded(
    override_var: &str,
    (embedded, embedded_source): (&str, &str),
    lookup: impl Fn(&str) -> Option<String>,
) -> (String, Result<Config, LoadError>) {
    match lookup(override_var).filter(|p| !p.is_empty()) {
        Some(path) => {
            // The platform terminates TLS: the override's server `tls` files are not read.
            let config = read(Path::new(&path))
                .and_then(|text| load::load_reading(&text, lookup, files::SERVERLESS, read_named))
                .and_then(no_websockets);
            (path, config)
        }
        None => (
            embedded_source.to_owned(),
            load::load_expanded(embedded, lookup),
        ),
    }
}

/// A function answers each event and returns, so it cannot hold a WebSocket: an overriding
/// config with `websocket` endpoints is refused at start, naming them (the embedded config was
/// refused by the build already: `manifold_build::platform_limits`).
fn no_websockets(config: Config) -> Result<Config, LoadError> {
    let errors: Vec<_> = config
        .endpoints
        .iter()
        .filter_map(|e| {
            let mut at = e.websocket.as_ref()?.at.clone();
            at.context = Some(e.label.clone());
            at.message = "a serverless function cannot hold a WebSocket connection (each event is one request and one answer): serve this endpoint natively (`manifold run`) or on Workers, or remove its `websocket`".to_owned();
            Some(at)
        })
        .collect();
    if errors.is_empty() {
        return Ok(config);
    }
    let warnings = config.warnings;
    Err(LoadError::Invalid(manifold_core::ConfigErrors {
        errors,
        warnings,
    }))
}
