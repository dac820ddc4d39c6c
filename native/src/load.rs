//! A config file read from disk and loaded with [`manifold_core::config::load`]: the file half
//! that the pure core leaves to its callers, shared by `manifold run`/`check` and the Lambda
//! runtime override.

use std::path::Path;

use manifold_core::config::load::{self, LoadError};
use manifold_core::Config;

/// Read the config file at `path` and load it (placeholders, `MANIFOLD_*` overrides, parse and
/// validate) with `lookup` as the environment.
pub fn load_file(
    path: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Unreadable {
        path: path.to_owned(),
        error,
    })?;
    load::load(&text, lookup)
}
