//! From a config text to a validated [`Config`], the one way every front end loads one:
//! `${VAR}` placeholders ([`expand`]), then the `MANIFOLD_*` root overrides, then parse and
//! validate ([`load_expanded`]); [`load`] is both. `manifold run`/`check`, the Lambda runtime
//! override, the adapters' embedded configs and their build-time validation all go through
//! here, with one error type, so `check` judges exactly what every platform serves.
//!
//! Reading the file is the caller's (the core does no I/O); a file that cannot be read is
//! still a [`LoadError`], so callers report every failure the same way.

use std::fmt;
use std::path::PathBuf;

use super::env::{self, EnvError};
use super::{parse, Config, ConfigErrors, Diagnostic};

/// Why a config could not be loaded (or a gateway compiled from it).
#[derive(Debug)]
pub enum LoadError {
    /// The config file could not be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A `${VAR}` placeholder or a `MANIFOLD_*` override could not be applied.
    Env(Vec<EnvError>),
    /// The config is invalid (also what compiling it into a gateway reports).
    Invalid(ConfigErrors),
}

impl LoadError {
    /// The errors as `line:column: ...` texts (an unreadable file has one, unlocated).
    pub fn errors(&self) -> Vec<String> {
        match self {
            Self::Unreadable { .. } => vec![self.to_string()],
            Self::Env(errors) => errors.iter().map(ToString::to_string).collect(),
            Self::Invalid(errors) => errors.errors.iter().map(ToString::to_string).collect(),
        }
    }

    /// The warnings found along the way (only validation has any).
    pub fn warnings(&self) -> &[Diagnostic] {
        match self {
            Self::Invalid(errors) => &errors.warnings,
            Self::Unreadable { .. } | Self::Env(_) => &[],
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            Self::Env(errors) => {
                write!(f, "{} environment error(s)", errors.len())?;
                errors.iter().try_for_each(|e| write!(f, "\n  error: {e}"))
            }
            Self::Invalid(errors) => errors.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<ConfigErrors> for LoadError {
    fn from(errors: ConfigErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// Expand the `${VAR}` placeholders of a config text with `lookup` as the environment (the
/// step a build script runs alone, with the build environment, before embedding the text).
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, LoadError> {
    env::expand_placeholders(text, lookup).map_err(LoadError::Env)
}

/// Load a config text whose placeholders are already expanded (a config embedded at build
/// time): the `MANIFOLD_*` root overrides from `lookup`, then parse and validate.
pub fn load_expanded(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, LoadError> {
    let text = env::apply_root_overrides(text, lookup).map_err(LoadError::Env)?;
    Ok(parse(&text)?)
}

/// Load a config text as written: placeholders, overrides, parse and validate, all with
/// `lookup` as the environment (`|name| std::env::var(name).ok()` for the process's).
pub fn load(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Config, LoadError> {
    load_expanded(&expand(text, &lookup)?, lookup)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TIMEOUT" => Some("1500ms".into()),
            "MANIFOLD_PORT" => Some("9000".into()),
            _ => None,
        }
    }

    const TEXT: &str = r#"{"version": 3, "timeout": "${TIMEOUT}", "endpoints": []}"#;

    #[test]
    fn placeholders_then_overrides_then_parse() {
        let config = load(TEXT, env).unwrap();
        assert_eq!(config.port, 9000);
        assert_eq!(config.timeout, std::time::Duration::from_millis(1500));
    }

    #[test]
    fn expanded_text_is_not_expanded_again() {
        // `$${` became a literal `${` at build time; a second expansion would look it up.
        let embedded = expand(r#"{"version": 3, "name": "$${HOME}"}"#, env).unwrap();
        assert!(embedded.contains("${HOME}"));
        let config = load_expanded(&embedded, env).unwrap();
        assert_eq!(config.port, 9000);
        assert!(matches!(load(&embedded, env), Err(LoadError::Env(_))));
    }

    #[test]
    fn every_step_fails_as_a_load_error_with_its_locations() {
        let error = load("{\n  \"timeout\": \"${NOPE}\"}", env).unwrap_err();
        assert!(matches!(&error, LoadError::Env(e) if e.len() == 1));
        assert!(error.errors()[0].starts_with("2:15: "), "{error}");
        assert!(error.to_string().contains("`NOPE`"), "{error}");

        let bad_port = load_expanded("{}", |_| Some("not a port".into())).unwrap_err();
        assert!(bad_port.to_string().contains("MANIFOLD_PORT"), "{bad_port}");

        let invalid = load(r#"{"version": 2}"#, env).unwrap_err();
        assert!(matches!(invalid, LoadError::Invalid(_)));
        assert!(!invalid.errors().is_empty());
        assert!(invalid.to_string().starts_with("invalid configuration"));
    }
}
