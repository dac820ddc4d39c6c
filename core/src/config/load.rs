//! From a config text to a validated [`Config`], the one way every front end loads one:
//! `${VAR}` placeholders ([`expand`], what a build embeds), then, when the gateway starts, the
//! run-time `${env:NAME}` placeholders ([`super::runtime_env`]), the `MANIFOLD_*` root
//! overrides, parse and validate ([`load_expanded`]); [`load`] is both. Before start, [`check`]
//! and [`check_expanded`] validate with stand-ins for the run-time values that are not set.
//! `manifold run`/`check`, the Lambda runtime override, the adapters' embedded configs and their
//! build-time validation all go through here, with one error type, so `check` judges exactly
//! what every platform serves.
//!
//! Reading the file is the caller's (the core does no I/O); a file that cannot be read is
//! still a [`LoadError`], so callers report every failure the same way.

use std::fmt;
use std::path::PathBuf;

use super::compiled_env::{Site, Values};
use super::env::{self, EnvError};
use super::files::{self, FileKind};
use super::runtime_env::{self, Placeholder, Unset};
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
    /// A `${VAR}` or `${env:NAME}` placeholder or a `MANIFOLD_*` override could not be
    /// applied.
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

/// Load a config text whose build-time placeholders are already expanded (a config embedded
/// at build time) as a gateway starts: its `${env:NAME}` placeholders and the `MANIFOLD_*` root
/// overrides from `lookup` (an unset placeholder is an error naming it), then parse and
/// validate. Messages name a run-time value by its placeholder, never by the value.
pub fn load_expanded(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, LoadError> {
    resolve_and_parse(text, lookup, Unset::Error).0
}

/// The build-time variable that keeps the run-time decoder in a build that could compile its
/// config in ([`prebuilt`]): then the `MANIFOLD_*` overrides apply at start.
pub const DECODE_AT_START: &str = "MANIFOLD_WORKER_DECODE";

/// Start with a config compiled in when it was built ([`super::bake`]): `build` makes it,
/// reading the values of its `${env:NAME}` placeholders (`sites`, [`super::compiled_env`])
/// from `lookup`. A `MANIFOLD_*` root override set on the platform is an error naming it, never
/// ignored: a compiled config cannot apply one. No message shows a placeholder's value.
pub fn prebuilt(
    lookup: impl Fn(&str) -> Option<String>,
    sites: &[Site],
    build: impl FnOnce(&Values) -> Result<Config, String>,
) -> Result<Config, LoadError> {
    let set: Vec<EnvError> = env::ROOT_OVERRIDES
        .iter()
        .flat_map(|(ours, theirs, _)| [*ours, *theirs])
        .filter(|name| lookup(name).is_some())
        .map(|name| EnvError {
            line: 1,
            column: 1,
            variable: name.to_owned(),
            message: format!("{name} is set, but this build compiled its config in, and an override applies only to a config decoded at start: put the value in the config, or build with {DECODE_AT_START}=1"),
        })
        .collect();
    if !set.is_empty() {
        return Err(LoadError::Env(set));
    }
    let values = Values::resolve(sites, &lookup).map_err(LoadError::Env)?;
    build(&values).map_err(|message| {
        LoadError::Invalid(ConfigErrors {
            errors: vec![Diagnostic {
                path: String::new(),
                context: None,
                message: values.redact(message),
                line: 1,
                column: 1,
            }],
            warnings: Vec::new(),
        })
    })
}

/// Load a config text as written: placeholders, overrides, parse and validate, all with
/// `lookup` as the environment (`|name| std::env::var(name).ok()` for the process's).
pub fn load(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Config, LoadError> {
    load_expanded(&expand(text, &lookup)?, lookup)
}

/// [`load`] for a front end that reads the files of `kinds` the config names (TLS keys and
/// CAs, `jwk_local_path`) with `read` (path → text, or why not) before parsing: `manifold run`
/// ([`files::NATIVE`]) and the Lambda runtime override ([`files::SERVERLESS`]). See
/// [`super::files`].
pub fn load_reading(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    kinds: &[FileKind],
    read: impl Fn(&str) -> Result<String, String>,
) -> Result<Config, LoadError> {
    let expanded = expand(text, &lookup)?;
    load_expanded(&files::read_and_embed(&expanded, kinds, read), lookup)
}

/// [`check`] reading the files the config names, as [`load_reading`]: `manifold check`.
pub fn check_reading(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    read: impl Fn(&str) -> Result<String, String>,
) -> (Result<Config, LoadError>, Vec<Placeholder>) {
    match expand(text, &lookup) {
        Ok(expanded) => check_expanded(
            &files::read_and_embed(&expanded, files::NATIVE, read),
            lookup,
        ),
        Err(e) => (Err(e), Vec::new()),
    }
}

/// Validate an expanded text before start, as [`load_expanded`] would load it, except that a
/// `${env:NAME}` that `lookup` does not set stands in as [`runtime_env::stand_in`] instead of
/// failing. Also returns those placeholders (empty when they could not be resolved). A build
/// script passes `|_| None`: no run-time value is read, none is embedded.
pub fn check_expanded(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> (Result<Config, LoadError>, Vec<Placeholder>) {
    resolve_and_parse(text, lookup, Unset::StandIn)
}

/// [`check_expanded`] of a config text as written (`${VAR}` expanded from `lookup` first):
/// what `manifold check` runs, so a config validates without its run-time secrets.
pub fn check(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> (Result<Config, LoadError>, Vec<Placeholder>) {
    match expand(text, &lookup) {
        Ok(expanded) => check_expanded(&expanded, lookup),
        Err(e) => (Err(e), Vec::new()),
    }
}

fn resolve_and_parse(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    unset: Unset,
) -> (Result<Config, LoadError>, Vec<Placeholder>) {
    let resolved = match runtime_env::resolve(text, &lookup, unset) {
        Ok(resolved) => resolved,
        Err(errors) => return (Err(LoadError::Env(errors)), Vec::new()),
    };
    let standing_in = resolved.standing_in().cloned().collect();
    let notes = env::override_notes(&lookup);
    let text = match env::apply_root_overrides(&resolved.text, lookup) {
        Ok(text) => text,
        Err(errors) => return (Err(LoadError::Env(errors)), standing_in),
    };
    let restore = |d: &mut Diagnostic| resolved.restore(d);
    let result = match parse(&text) {
        Ok(mut config) => {
            config.warnings.iter_mut().for_each(restore);
            config
                .warnings
                .extend(notes.into_iter().map(|(key, message)| Diagnostic {
                    path: key.to_owned(),
                    context: None,
                    message,
                    line: 1,
                    column: 1,
                }));
            Ok(config)
        }
        Err(mut errors) => {
            errors.errors.iter_mut().for_each(restore);
            errors.warnings.iter_mut().for_each(restore);
            Err(LoadError::Invalid(errors))
        }
    };
    (result, standing_in)
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

    /// A JWT secret and a backend credential from run-time placeholders, the backend port from
    /// one with a default; `k` is 32 bytes, base64url.
    const RUNTIME: &str = r#"{
  "version": 3,
  "host": ["http://127.0.0.1:${env:BACKEND_PORT:-8080}"],
  "endpoints": [{
    "endpoint": "/a",
    "backend": [{"url_pattern": "/a?key=${env:API_KEY}"}],
    "extra_config": {"auth/validator": {"alg": "HS256", "jwk_keys": {"keys": [
      {"kty": "oct", "kid": "k1", "alg": "HS256", "k": "${env:JWT_K}"}]}}}
  }]
}"#;
    const JWT_K: &str = "XrYSAW2FFfes6SPnWIzsv3494V13dcPWoPZk5TxjlKI";

    fn runtime(name: &str) -> Option<String> {
        match name {
            "JWT_K" => Some(JWT_K.into()),
            "API_KEY" => Some("key-123".into()),
            "BACKEND_PORT" => Some("9999".into()),
            _ => None,
        }
    }

    // An `auth/validator` (RS256) is refused by a build without `jwt` and `jwt-rsa`.
    #[cfg(all(feature = "jwt", feature = "jwt-rsa"))]
    #[test]
    fn runtime_placeholders_resolve_when_the_gateway_starts() {
        // A build leaves them as written (nothing to look up), then the platform fills them.
        let embedded = expand(RUNTIME, |_| Some("from the build".into())).unwrap();
        assert_eq!(embedded, RUNTIME);
        let config = load_expanded(&embedded, runtime).unwrap();
        assert_eq!(
            config.endpoints[0].backend[0].host,
            ["http://127.0.0.1:9999"]
        );
        let without_port = |n: &str| runtime(n).filter(|_| n != "BACKEND_PORT");
        let config = load_expanded(&embedded, without_port).unwrap();
        assert_eq!(
            config.endpoints[0].backend[0].host,
            ["http://127.0.0.1:8080"]
        );
    }

    #[test]
    fn a_missing_runtime_value_is_named_and_located() {
        let only_key = |n: &str| runtime(n).filter(|_| n == "API_KEY");
        let error = load_expanded(RUNTIME, only_key).unwrap_err();
        let LoadError::Env(errors) = &error else {
            panic!("{error}");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].variable, "JWT_K");
        assert!(
            error.errors()[0].starts_with("8:57: run-time variable `JWT_K` is not set"),
            "{error}"
        );
        assert!(!error.to_string().contains("key-123"), "{error}");
    }

    #[test]
    fn an_invalid_runtime_value_is_reported_by_its_placeholder_never_its_value() {
        let text = r#"{"version": 3, "host": ["${env:HOST}"], "timeout": "soon", "endpoints": [
  {"endpoint": "/a", "backend": [{"url_pattern": "/a"}]}]}"#;
        let secret = "ftp://user:hunter2-secret@api.example";
        let error = load_expanded(text, |n| (n == "HOST").then(|| secret.into())).unwrap_err();
        let all = error.to_string();
        assert!(!all.contains("hunter2"), "{all}");
        assert!(
            all.contains("1:25: host[0] (GET /a, backend 0): host `${env:HOST}`: only http"),
            "{all}"
        );
        // `timeout` comes after the (longer) value on the same line: its column as written.
        assert!(all.contains("1:41: timeout"), "{all}");
    }

    // An `auth/validator` (RS256) is refused by a build without `jwt` and `jwt-rsa`.
    #[cfg(all(feature = "jwt", feature = "jwt-rsa"))]
    #[test]
    fn check_validates_without_runtime_values() {
        let (config, standing_in) = check_expanded(RUNTIME, |_| None);
        assert!(config.is_ok(), "{:?}", config.err().map(|e| e.to_string()));
        let names: Vec<_> = standing_in.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["API_KEY", "JWT_K"]);
        // What is set is used: a bad key is caught before start too.
        let (config, standing_in) = check(RUNTIME, |n| (n == "JWT_K").then(|| "AA".into()));
        assert!(config.unwrap_err().to_string().contains("jwk_keys"));
        assert_eq!(standing_in.len(), 1);
    }

    #[test]
    fn check_says_how_to_check_a_value_with_a_format() {
        let text = r#"{"version": 3, "timeout": "${env:TIMEOUT}", "endpoints": []}"#;
        let (config, _) = check_expanded(text, |_| None);
        let error = config.unwrap_err().to_string();
        assert!(
            error.contains("1:16: timeout: invalid duration \"${env:TIMEOUT}\""),
            "{error}"
        );
        assert!(error.contains("`${env:TIMEOUT:-value}`"), "{error}");
        assert!(!error.contains("TIMEOUT-AAAA"), "{error}");
        let with_default = text.replace("${env:TIMEOUT}", "${env:TIMEOUT:-3s}");
        assert!(check_expanded(&with_default, |_| None).0.is_ok());
    }

    // An `auth/validator` (RS256) is refused by a build without `jwt` and `jwt-rsa`.
    #[cfg(all(feature = "jwt", feature = "jwt-rsa"))]
    #[test]
    fn a_named_file_that_cannot_be_read_is_an_error_at_its_key() {
        let text = "{\"version\": 3, \"endpoints\": [{\"endpoint\": \"/a\",\n  \"backend\": [{\"host\": [\"http://b\"], \"url_pattern\": \"/\"}],\n  \"extra_config\": {\"auth/validator\": {\"jwk_local_path\": \"keys.json\"}}}]}";
        let err = load_reading(
            text,
            |_| None,
            files::NATIVE,
            |p| Err(format!("{p}: no such file")),
        )
        .unwrap_err();
        let errors = err.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("3:39: endpoints[0].extra_config.auth/validator.jwk_local_path")
                && errors[0].contains("cannot read `keys.json`: keys.json: no such file"),
            "{errors:?}"
        );
    }

    #[test]
    fn serverless_loads_do_not_read_the_server_tls_files() {
        let text = r#"{"version": 3, "tls": {"public_key": "c.pem", "private_key": "k.pem"}}"#;
        let read = |p: &str| Err(format!("{p}: no such file"));
        let config = load_reading(text, |_| None, files::SERVERLESS, read).unwrap();
        assert!(config.tls.is_some(), "accepted, for the platform's note");
        let err = load_reading(text, |_| None, files::NATIVE, read).unwrap_err();
        assert!(err.errors()[0].contains("cannot read `c.pem`"), "{err}");
    }

    #[test]
    fn a_prebuilt_config_refuses_any_override_set_at_start() {
        let built =
            |_: &Values| parse(r#"{"version": 3, "endpoints": []}"#).map_err(|e| e.to_string());
        assert_eq!(prebuilt(|_| None, &[], built).unwrap().port, 8080);
        for set in [
            "MANIFOLD_TIMEOUT",
            "KRAKEND_CACHE_TTL",
            "MANIFOLD_MAX_HEADER_BYTES",
        ] {
            let lookup = |name: &str| (name == set).then(|| "5s".to_owned());
            let Err(LoadError::Env(errors)) = prebuilt(lookup, &[], built) else {
                panic!("{set} set at start was not refused");
            };
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].variable, set);
            assert!(errors[0].message.contains(DECODE_AT_START), "{}", errors[0]);
        }
        let failed = prebuilt(|_| None, &[], |_| Err("no route".to_owned())).unwrap_err();
        assert!(failed.to_string().contains("no route"), "{failed}");
    }

    #[test]
    fn a_prebuilt_config_reads_its_placeholders_at_start_and_never_shows_them() {
        let sites: &[Site] = &[("${env:SECRET}", 4, 17)];
        let unset = prebuilt(|_| None, sites, |_| unreachable!()).unwrap_err();
        assert!(
            unset
                .to_string()
                .contains("4:17: run-time variable `SECRET` is not set"),
            "{unset}"
        );
        let lookup = |name: &str| (name == "SECRET").then(|| "hunter22".to_owned());
        let stood_in = runtime_env::stand_in("SECRET");
        let failed = prebuilt(lookup, sites, |values| {
            Err(values.text(&format!("bad `{stood_in}`")))
        })
        .unwrap_err()
        .to_string();
        assert!(
            failed.contains("bad `${env:SECRET}`") && !failed.contains("hunter22"),
            "{failed}"
        );
    }
}
