//! From a config file to a [`Gateway`]: read the file, apply the environment (`${VAR}`
//! placeholders, `MANIFOLD_*` root overrides), parse and validate with the core, compile.
//! `run`, `check` and `demo` all go through here, so `check` judges exactly what `run` serves.

use std::fmt;
use std::path::{Path, PathBuf};

use manifold_core::config::env::{self, EnvError};
use manifold_core::{Config, ConfigErrors, Gateway, Platform};

/// Why a config could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read (exit code 2).
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A `${VAR}` placeholder or `MANIFOLD_*` override could not be applied (exit code 1).
    Env(Vec<EnvError>),
    /// The config is invalid (exit code 1).
    Invalid(ConfigErrors),
}

impl LoadError {
    /// The process exit code `check` and `run` use for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            LoadError::Unreadable { .. } => 2,
            LoadError::Env(_) | LoadError::Invalid(_) => 1,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Unreadable { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            LoadError::Env(errors) => write!(f, "{} environment error(s)", errors.len()),
            LoadError::Invalid(errors) => write!(f, "{} config error(s)", errors.errors.len()),
        }
    }
}

impl std::error::Error for LoadError {}

/// Read and validate the config file at `path`, with the process environment applied.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Unreadable {
        path: path.to_owned(),
        error,
    })?;
    load_text(&text, |name| std::env::var(name).ok())
}

/// Validate a config text with `lookup` as the environment.
pub fn load_text(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Config, LoadError> {
    let text = env::expand_placeholders(text, &lookup).map_err(LoadError::Env)?;
    let text = env::apply_root_overrides(&text, &lookup).map_err(LoadError::Env)?;
    manifold_core::parse_config(&text).map_err(LoadError::Invalid)
}

/// Compile a validated config into a gateway on `platform`.
pub fn compile(config: Config, platform: Platform) -> Result<Gateway, LoadError> {
    Ok(Gateway::new(config, platform))
}
