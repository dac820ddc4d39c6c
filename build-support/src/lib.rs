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
//! For a Worker, the build also writes `config.rs`, which the entry includes: the checked
//! config compiled in as code (`manifold_core::config::bake`) when it has no run-time
//! placeholder and every part can be written so, else the embedded text decoded at start.
//!
//! Run-time placeholders (`${env:NAME}`) stay in the embedded text: the adapter resolves them
//! when it starts, from the platform (a Worker's vars and secrets, the function's environment).
//! The build never reads them, so a secret given that way is not in the artifact; the config
//! is validated with stand-ins for them, and a warning lists the names the platform must set.

//!
//! Files the config names for the platform (`client_tls` CAs and certificates,
//! `jwk_local_path`) are read at build time, relative to the repository root, validated and
//! embedded with the text (`manifold_core::config::files`), so the function needs no file
//! system. The root `tls` is not: the platform terminates TLS. What the platform cannot do is
//! an error here, with the reason ([`Target::Workers`]: private CAs, client certificates,
//! `"sd": "dns"`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use manifold_core::config::bake::{self, Unbakeable};
use manifold_core::config::compiled_env::{self, VALUES};
use manifold_core::config::load::{self, LoadError};
use manifold_core::config::runtime_env::{self, Unset};
use manifold_core::config::{capability, files};
use manifold_core::Config;

/// The platform the config is embedded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// AWS Lambda: the native client (rustls), so every `client_tls` setting applies.
    Lambda,
    /// Cloudflare Workers: backends are called with the platform's `fetch`.
    Workers,
}

/// Embed and validate the gateway config for the crate whose build script calls this.
/// `docs` names the page that explains build-time variables (for error messages).
pub fn embed_gateway_config(target: Target, docs: &str) {
    println!("cargo::rerun-if-env-changed=MANIFOLD_CONFIG");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();
    let path = match std::env::var_os("MANIFOLD_CONFIG").filter(|v| !v.is_empty()) {
        Some(p) => root.join(p),
        None => root.join("config").join("gateway.json"),
    };
    println!("cargo::rerun-if-changed={}", path.display());
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            println!("cargo::error=cannot read the gateway config {name}: {e} (set MANIFOLD_CONFIG=<path> to embed another file)");
            return;
        }
    };
    let lookup = |var: &str| {
        println!("cargo::rerun-if-env-changed={var}");
        std::env::var(var).ok()
    };
    let read = |path: &str| {
        let file = root.join(path);
        println!("cargo::rerun-if-changed={}", file.display());
        std::fs::read_to_string(&file)
            .map_err(|e| format!("{e} (read at build time from {})", file.display()))
    };
    let embedding = prepare(target, &name, &text, lookup, read, docs);
    for w in &embedding.warnings {
        println!("cargo::warning={w}");
    }
    for e in &embedding.errors {
        println!("cargo::error={e}");
    }
    let Some(expanded) = embedding.text else {
        return;
    };
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let mut files = vec![("gateway.json", expanded)];
    if target == Target::Workers {
        println!("cargo::rerun-if-env-changed={}", load::DECODE_AT_START);
        files.push((
            "config.rs",
            config_source(embedding.plan.as_deref(), &embedding.sites),
        ));
    }
    for (file, content) in files {
        let out = out_dir.join(file);
        if let Err(e) = std::fs::write(&out, content) {
            println!("cargo::error=cannot write {}: {e}", out.display());
        }
    }
    println!("cargo::rustc-env=MANIFOLD_EMBEDDED_CONFIG={name}");
}

/// What the build makes of a config text: the text to embed, or why not, and what to warn about.
#[derive(Debug, Clone, Default)]
pub struct Embedding {
    /// The text to embed: `${VAR}` expanded, the named files read and appended, `${env:NAME}`
    /// kept for the platform. `None` when the build must fail.
    pub text: Option<String>,
    /// The build's errors, `name:line:column: path: message` (the first one may be a summary).
    pub errors: Vec<String>,
    /// The build's warnings and notes, in the same form.
    pub warnings: Vec<String>,
    /// The config as the Rust expression that builds it ([`manifold_core::config::bake`]), for
    /// a Worker: when every part can be written as code (its `${env:NAME}` placeholders read
    /// at start: [`manifold_core::config::compiled_env`]) and the build environment does not
    /// set `MANIFOLD_WORKER_DECODE`.
    pub plan: Option<String>,
    /// The `plan`'s placeholders, each as a Rust `(written, line, column)` tuple
    /// (`compiled_env::Site`).
    pub sites: Vec<String>,
}

/// The Worker's `config.rs` (included by its entry): `gateway_config(lookup)`, the config
/// compiled in when there is a `plan`, else the embedded text decoded at start.
pub fn config_source(plan: Option<&str>, sites: &[String]) -> String {
    const SIGNATURE: &str = "fn gateway_config(lookup: impl Fn(&str) -> Option<String>) -> Result<manifold_core::Config, manifold_core::config::load::LoadError>";
    match plan {
        Some(plan) => format!(
            "/// The embedded config, decoded and checked by the build, as the code that builds it:\n\
             /// no decoder in this module (manifold_core::config::bake).\n\
             #[allow(clippy::all, clippy::pedantic)]\n{SIGNATURE} {{\n    \
             manifold_core::config::load::prebuilt(lookup, &[{}], |{VALUES}| Ok({plan}))\n}}\n",
            sites.join(", ")
        ),
        None => format!(
            "/// The embedded config, decoded at start (`${{env:NAME}}` placeholders, overrides).\n\
             {SIGNATURE} {{\n    \
             manifold_core::config::load::load_expanded(include_str!(concat!(env!(\"OUT_DIR\"), \"/gateway.json\")), lookup)\n}}\n"
        ),
    }
}

/// The embedding of config `text` (named `name` in messages) for `target`, without I/O: `lookup`
/// gives the build environment's variables and `read` a named file's text (relative to the
/// repository root), so what the function gets (its files included) is fixed by the build.
pub fn prepare(
    target: Target,
    name: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    read: impl Fn(&str) -> Result<String, String>,
    docs: &str,
) -> Embedding {
    let mut out = Embedding::default();
    // `${VAR}` comes from the *build* environment; `${env:NAME}` and the `MANIFOLD_*` overrides
    // are the platform's at start, so the text is validated without them: stand-ins for the
    // placeholders, no overrides (as the adapter loads it when none is set).
    let mut runtime = Vec::new();
    let loaded = load::expand(text, &lookup).and_then(|expanded| {
        let expanded = files::read_and_embed(&expanded, files::SERVERLESS, read);
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
            out.errors.push(format!(
                "{name}: invalid gateway config ({} error(s))",
                errors.len()
            ));
            out.errors
                .extend(errors.iter().map(|e| format!("{name}:{e}{hint}")));
            out.warnings
                .extend(e.warnings().iter().map(|w| format!("{name}:{w}")));
            return out;
        }
    };
    out.warnings
        .extend(config.warnings.iter().map(|w| format!("{name}:{w}")));
    let (errors, notes) = platform_limits(target, &config);
    out.warnings
        .extend(notes.iter().map(|n| format!("{name}:{n}")));
    if !errors.is_empty() {
        out.errors
            .extend(errors.iter().map(|e| format!("{name}:{e}")));
        return out;
    }
    // The crate's own features (`CARGO_FEATURE_*` in its build script: the Worker's and the
    // Lambda bootstrap's forward to manifold-core's) are what it is compiled with; the
    // validation above ran with every capability.
    let has = |feature: &str| {
        let var = format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"));
        lookup(&var).is_some()
    };
    let missing = missing_features(&expanded, has);
    if !missing.is_empty() {
        out.errors
            .extend(missing.iter().map(|e| format!("{name}:{e}")));
        return out;
    }
    if !runtime.is_empty() {
        let names: Vec<String> = runtime
            .iter()
            .map(|p| format!("{} ({}:{})", p.name, p.line, p.column))
            .collect();
        out.warnings.push(format!(
            "{name}: read at start, not embedded: set {} on the platform (see {docs})",
            names.join(", ")
        ));
    }
    if target == Target::Workers && lookup(load::DECODE_AT_START).is_none() {
        match compile_in(&config, &expanded) {
            Ok((plan, sites)) => (out.plan, out.sites) = (Some(plan), sites),
            Err(Unbakeable(part)) => out.warnings.push(format!("{name}: note: `{part}` cannot be compiled into the Worker, so it decodes the config at start (a larger module; bench/profile-notes.md)")),
        }
    }
    out.text = Some(expanded);
    out
}

/// `config` (decoded from `expanded`) as the expression that builds it, each `${env:…}`
/// placeholder read at start, and the placeholders' sites. With placeholders, the config is
/// decoded with every placeholder's stand-in instead (a default too, or the build would
/// compile the default in), and again with other stand-ins: the two plans must differ by the
/// stand-ins' text alone, or a value is not kept as text (a digest, a duration) and the config
/// decodes at start.
fn compile_in(config: &Config, expanded: &str) -> Result<(String, Vec<String>), Unbakeable> {
    let placeholders: Vec<runtime_env::Placeholder> =
        match runtime_env::resolve(expanded, |_| None, Unset::StandIn) {
            Ok(resolved) => resolved.placeholders.into_iter().map(|(p, _)| p).collect(),
            Err(_) => return Err(Unbakeable("a `${env:NAME}` placeholder")),
        };
    if placeholders.is_empty() {
        return Ok((bake::bake(config)?, Vec::new()));
    }
    // One stand-in per variable, the same at each of its places: one default per variable.
    let conflicting = placeholders.iter().any(|p| {
        placeholders.iter().any(|q| {
            q.name == p.name && p.default.is_some() && q.default.is_some() && q.default != p.default
        })
    });
    if conflicting {
        return Err(Unbakeable(
            "one variable with two `${env:NAME:-default}` defaults",
        ));
    }
    let names: BTreeSet<&str> = placeholders.iter().map(|p| p.name.as_str()).collect();
    let plan_with = |fill: char| {
        let lookup = |n: &str| {
            names
                .contains(n)
                .then(|| runtime_env::stand_in_with(n, fill))
        };
        let (config, _) = load::check_expanded(expanded, lookup);
        bake::bake(&config.map_err(|_| Unbakeable("a `${env:NAME}` value with a format"))?)
    };
    let plan = plan_with('A')?;
    let expected = names.iter().fold(plan.clone(), |p, n| {
        p.replace(
            &runtime_env::stand_in(n),
            &runtime_env::stand_in_with(n, 'B'),
        )
    });
    if expected != plan_with('B')? {
        return Err(Unbakeable(
            "a `${env:NAME}` value that decoding turns into something else than text",
        ));
    }
    let stand_ins: Vec<String> = names.iter().map(|n| runtime_env::stand_in(n)).collect();
    let plan = compiled_env::rewrite(&plan, &stand_ins)?;
    let sites = placeholders
        .iter()
        .map(|p| {
            let default = p
                .default
                .as_ref()
                .map(|d| format!(":-{d}"))
                .unwrap_or_default();
            let written = format!("${{env:{}{default}}}", p.name);
            format!("({written:?}, {}, {})", p.line, p.column)
        })
        .collect();
    Ok((plan, sites))
}

/// Every use in the config `text` of a manifold-core capability that `has` says the build
/// lacks, as `line:column: path: message` texts naming the feature (empty: the build fits).
pub fn missing_features(text: &str, has: impl Fn(&str) -> bool) -> Vec<String> {
    match capability::needs(text) {
        Ok(needs) => needs
            .iter()
            .filter_map(|n| capability::missing(n, &has))
            .map(|d| d.to_string())
            .collect(),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

/// The manifold-core features the config file at `path` needs (`${VAR}` expanded from the
/// environment, as the build embeds it), for `--no-default-features --features ...`. A
/// variable that is not set stands in as `0` (no feature depends on one; the build itself
/// reports it, located).
pub fn features_for(path: &std::path::Path) -> Result<Vec<&'static str>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let expanded = load::expand(&text, |var| {
        std::env::var(var).ok().or(Some("0".to_owned()))
    })
    .map_err(|e| format!("{}: {}", path.display(), e.errors().join("; ")))?;
    capability::required_features(&expanded).map_err(|e| {
        let errors: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
        format!("{}: {}", path.display(), errors.join("; "))
    })
}

/// What `target` cannot do with this config (errors) or does not need (notes), as
/// `line:column: path: message` texts.
pub fn platform_limits(target: Target, config: &Config) -> (Vec<String>, Vec<String>) {
    let (mut errors, mut notes) = (Vec::new(), Vec::new());
    if let Some(tls) = &config.tls {
        let at = tls
            .keys
            .first()
            .map_or((1, 1), |k| (k.certificate.at.line, k.certificate.at.column));
        notes.push(format!("{}:{}: tls: the platform terminates TLS; `tls` has no effect here (it is `manifold run`'s)", at.0, at.1));
    }
    if config.server != manifold_core::config::ServerTimeouts::default() {
        notes.push("1:1: read_timeout/write_timeout/idle_timeout/read_header_timeout: the platform owns the client connection; these server timeouts have no effect here (the endpoint `timeout` still applies)".to_owned());
    }
    if target == Target::Lambda {
        errors.extend(lambda_websockets(config));
    }
    if target == Target::Workers {
        errors.extend(workers_dns_discovery(config));
    }
    let Some(client) = config
        .client_tls
        .as_ref()
        .filter(|_| target == Target::Workers)
    else {
        return (errors, notes);
    };
    for ca in &client.options.ca_certs {
        errors.push(format!("{}:{}: {}: Workers call backends with Cloudflare's `fetch`, which trusts public CAs only: a backend signed by the private CA `{}` cannot be reached (use a publicly trusted certificate, or run natively or on Lambda)", ca.at.line, ca.at.column, ca.at.path, ca.path));
    }
    for pair in &client.client_certs {
        let at = &pair.certificate.at;
        errors.push(format!("{}:{}: {}: Workers' `fetch` cannot present a client certificate from the config (Cloudflare's mTLS certificate bindings are not supported by Manifold): the backend would refuse every call", at.line, at.column, at.path));
    }
    if client.allow_insecure_connections {
        errors.push("1:1: client_tls.allow_insecure_connections: Workers' `fetch` always verifies backend certificates; it cannot be turned off".to_owned());
    }
    if client.options.disable_system_ca_pool {
        errors.push("1:1: client_tls.disable_system_ca_pool: Workers' `fetch` always trusts the public CAs; it cannot be restricted".to_owned());
    }
    if client.options.cipher_suites.is_some() || client.options.curves.is_some() {
        notes.push("1:1: client_tls: Cloudflare's `fetch` chooses versions, cipher suites and curves itself; these keys have no effect on Workers".to_owned());
    }
    (errors, notes)
}

/// Workers have no DNS SRV lookups (`fetch` resolves host names to addresses itself, A/AAAA
/// only, and no other DNS API is offered), so each `"sd": "dns"` backend is an error at its
/// `sd` key.
pub fn workers_dns_discovery(config: &Config) -> Vec<String> {
    config
        .endpoints
        .iter()
        .flat_map(|e| e.backend.iter().map(move |b| (e, b)))
        .filter_map(|(e, b)| {
            let d = b.discovery.as_ref()?;
            let at = &d.at;
            Some(format!("{}:{}: {} ({}, backend {}): Cloudflare Workers cannot resolve DNS SRV records (`fetch` only resolves a host name to its addresses, and Workers offer no other DNS lookup), so `{}` cannot be discovered: list the hosts statically (`\"sd\": \"static\"`), or run natively or on Lambda", at.line, at.column, at.path, e.label, b.index, d.name))
        })
        .collect()
}

/// Lambda answers each event and returns: it cannot hold a WebSocket connection, so each
/// `websocket` endpoint is an error naming it (serve it natively or on Workers).
pub fn lambda_websockets(config: &Config) -> Vec<String> {
    config
        .endpoints
        .iter()
        .filter_map(|e| {
            let at = &e.websocket.as_ref()?.at;
            Some(format!("{}:{}: {} ({}): AWS Lambda cannot hold a WebSocket connection (each event is one request and one answer): serve this endpoint natively (`manifold run`) or on Workers, or remove its `websocket`", at.line, at.column, at.path, e.label))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";

    fn config(client_tls: &str) -> Config {
        let text = format!(
            r#"{{"version": 3, "endpoints": [], "client_tls": {client_tls},
              "tls": {{"public_key": "c.pem", "private_key": "k.pem"}}}}"#
        );
        load::load_reading(&text, |_| None, files::NATIVE, |_| Ok(PEM.to_owned())).unwrap()
    }

    /// A build environment with no variables but every manifold-core feature switched on
    /// (`CARGO_FEATURE_*`, which the Worker's and the Lambda's feature check reads).
    fn every_feature(var: &str) -> Option<String> {
        var.starts_with("CARGO_FEATURE_").then(String::new)
    }

    const JWK_CONFIG: &str = r#"{"version": 3, "endpoints": [{"endpoint": "/me",
  "backend": [{"host": ["http://b"], "url_pattern": "/me"}],
  "extra_config": {"auth/validator": {"alg": "HS256", "jwk_local_path": "keys/jwks.json"}}}]}"#;

    /// `keys/jwks.json` in a fresh directory, and a reader of files relative to it (the build's
    /// repository root).
    fn jwk_root(
        name: &str,
        jwks: &str,
    ) -> (std::path::PathBuf, impl Fn(&str) -> Result<String, String>) {
        let root =
            std::env::temp_dir().join(format!("manifold-build-{name}-{}", std::process::id()));
        std::fs::create_dir_all(root.join("keys")).unwrap();
        std::fs::write(root.join("keys/jwks.json"), jwks).unwrap();
        let dir = root.clone();
        let read =
            move |path: &str| std::fs::read_to_string(dir.join(path)).map_err(|e| e.to_string());
        (root, read)
    }

    #[test]
    fn jwk_local_path_is_read_at_build_time_and_embedded_for_both_platforms() {
        let jwks = r#"{"keys": [{"kty": "oct", "kid": "build-k1", "alg": "HS256", "k": "XrYSAW2FFfes6SPnWIzsv3494V13dcPWoPZk5TxjlKI"}]}"#;
        for target in [Target::Lambda, Target::Workers] {
            let (root, read) = jwk_root("jwk", jwks);
            let embedding = prepare(target, "gw.json", JWK_CONFIG, every_feature, read, "docs");
            std::fs::remove_dir_all(&root).unwrap();
            assert!(embedding.errors.is_empty(), "{:?}", embedding.errors);
            let text = embedding.text.unwrap();
            assert!(text.contains("build-k1"), "{text}");
            // The adapter loads the embedded text with no file system: the file is gone.
            let config = load::load_expanded(&text, |_| None).unwrap();
            assert_eq!(config.endpoints.len(), 1);
            // Without the embedded copy, the same config is an error at the key.
            let error = load::load_expanded(JWK_CONFIG, |_| None)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("jwk_local_path") && error.contains("was not read"),
                "{error}"
            );
        }
    }

    #[test]
    fn graphql_query_path_is_embedded_like_jwk_local_path() {
        let text = r#"{"version": 3, "endpoints": [{"endpoint": "/hero/{id}",
  "backend": [{"host": ["http://g"], "url_pattern": "/graphql",
    "extra_config": {"backend/graphql": {"type": "query", "query_path": "keys/hero.graphql",
      "variables": {"id": "{id}"}}}}]}]}"#;
        for target in [Target::Lambda, Target::Workers] {
            let root =
                std::env::temp_dir().join(format!("manifold-build-graphql-{}", std::process::id()));
            std::fs::create_dir_all(root.join("keys")).unwrap();
            std::fs::write(
                root.join("keys/hero.graphql"),
                "query Hero($id: ID!) { hero(id: $id) { name } }",
            )
            .unwrap();
            let read = |p: &str| std::fs::read_to_string(root.join(p)).map_err(|e| e.to_string());
            let embedding = prepare(target, "gw.json", text, every_feature, read, "docs");
            std::fs::remove_dir_all(&root).unwrap();
            assert!(embedding.errors.is_empty(), "{:?}", embedding.errors);
            let embedded = embedding.text.unwrap();
            assert!(embedded.contains("hero(id: $id)"), "{embedded}");
            assert!(load::load_expanded(&embedded, |_| None).is_ok());
        }
    }

    #[test]
    fn a_jwk_local_path_that_cannot_be_read_or_used_fails_the_build_at_the_key() {
        let missing = prepare(
            Target::Lambda,
            "gw.json",
            JWK_CONFIG,
            every_feature,
            |p: &str| Err(format!("no such file (read at build time from /repo/{p})")),
            "docs",
        );
        assert!(missing.text.is_none());
        assert!(
            missing.errors.iter().any(|e| e.starts_with("gw.json:3:")
                && e.contains("auth/validator.jwk_local_path")
                && e.contains("cannot read `keys/jwks.json`: no such file (read at build time")),
            "{:?}",
            missing.errors
        );
        let (root, read) = jwk_root("badjwk", "{\"keys\": 42}");
        let bad = prepare(
            Target::Workers,
            "gw.json",
            JWK_CONFIG,
            every_feature,
            read,
            "docs",
        );
        std::fs::remove_dir_all(&root).unwrap();
        assert!(bad.text.is_none());
        assert!(
            bad.errors.iter().any(|e| e.contains("jwk_local_path")),
            "{:?}",
            bad.errors
        );
    }

    #[test]
    fn a_worker_or_lambda_built_without_a_feature_the_config_uses_fails_at_the_key() {
        let jwks = r#"{"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": "XrYSAW2FFfes6SPnWIzsv3494V13dcPWoPZk5TxjlKI"}]}"#;
        for target in [Target::Lambda, Target::Workers] {
            let (root, read) = jwk_root("nofeature", jwks);
            let lacking = prepare(target, "gw.json", JWK_CONFIG, |_| None, read, "docs");
            std::fs::remove_dir_all(&root).unwrap();
            assert!(lacking.text.is_none());
            assert!(
                lacking.errors.iter().any(|e| e.starts_with("gw.json:3:")
                    && e.contains("auth/validator")
                    && e.contains("`jwt` feature")),
                "{:?}",
                lacking.errors
            );
        }
    }

    #[test]
    fn tls_is_accepted_with_a_note_and_its_files_are_not_read() {
        let text = r#"{"version": 3, "endpoints": [],
  "tls": {"public_key": "server.pem", "private_key": "server.key"}}"#;
        for target in [Target::Lambda, Target::Workers] {
            let embedding = prepare(
                target,
                "gw.json",
                text,
                every_feature,
                |p: &str| Err(format!("{p} must not be read")),
                "docs",
            );
            assert!(embedding.errors.is_empty(), "{:?}", embedding.errors);
            assert!(embedding.text.is_some());
            assert!(
                embedding
                    .warnings
                    .iter()
                    .any(|w| w.starts_with("gw.json:2:")
                        && w.contains("the platform terminates TLS")),
                "{:?}",
                embedding.warnings
            );
        }
    }

    #[test]
    fn a_feature_the_build_lacks_is_a_located_error_and_the_list_is_derived_from_the_file() {
        let text = "{\"version\": 3, \"endpoints\": [{\"endpoint\": \"/a\",\n  \"extra_config\": {\"validation/cel\": [{\"check_expr\": \"true\"}]},\n  \"backend\": [{\"url_pattern\": \"/x\", \"encoding\": \"xml\"}]}]}";
        let errors = missing_features(text, |f| f == "xml");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("2:20: endpoints[0].extra_config.validation/cel: namespace `validation/cel` needs manifold-core's `cel` feature"),
            "{errors:?}"
        );
        assert!(missing_features(text, |_| true).is_empty());
        let dir = std::env::temp_dir().join(format!("manifold-build-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gateway.json");
        std::fs::write(&file, text).unwrap();
        let features = features_for(&file);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(features.unwrap(), ["cel", "xml"]);
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        // The demo needs nothing optional: its Worker is the smallest build.
        assert_eq!(
            features_for(&root.join("config/demo.json")).unwrap(),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn workers_refuse_private_cas_and_client_certificates_with_the_reason() {
        let config = config(
            r#"{"ca_certs": ["ca.pem"], "client_certs": [{"certificate": "c.pem", "private_key": "k.pem"}]}"#,
        );
        let (errors, notes) = platform_limits(Target::Workers, &config);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("client_tls.ca_certs[0]") && errors[0].contains("public CAs only")
        );
        assert!(errors[1].contains("client_tls.client_certs[0].certificate"));
        assert!(notes[0].contains("platform terminates TLS"), "{notes:?}");
        let (errors, notes) = platform_limits(Target::Lambda, &config);
        assert!(errors.is_empty(), "Lambda's client is rustls: {errors:?}");
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn workers_refuse_dns_service_discovery_at_the_sd_key_lambda_accepts_it() {
        let text = r#"{"version": 3, "endpoints": [
  {"endpoint": "/plain", "backend": [{"host": ["http://h"], "url_pattern": "/p"}]},
  {"endpoint": "/found", "backend": [
    {"host": ["http://h"], "url_pattern": "/p"},
    {"sd": "dns", "host": ["_api._tcp.example.service.consul"], "url_pattern": "/q"}]}]}"#;
        let config =
            load::load_reading(text, |_| None, files::NATIVE, |_| Ok(String::new())).unwrap();
        let (errors, _) = platform_limits(Target::Workers, &config);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("5:6: endpoints[1].backend[1].sd (GET /found, backend 1): Cloudflare Workers cannot resolve DNS SRV records"),
            "{errors:?}"
        );
        assert!(
            errors[0].contains("`_api._tcp.example.service.consul`"),
            "{errors:?}"
        );
        let (errors, _) = platform_limits(Target::Lambda, &config);
        assert!(
            errors.is_empty(),
            "Lambda resolves with the native resolver: {errors:?}"
        );
    }

    #[test]
    fn a_lambda_built_without_dns_sd_refuses_sd_dns_at_the_key() {
        let text = r#"{"version": 3, "endpoints": [{"endpoint": "/found", "backend": [
    {"sd": "dns", "host": ["_api._tcp.example.service.consul"], "url_pattern": "/q"}]}]}"#;
        let no_fs = |p: &str| Err(format!("{p} must not be read"));
        let every = prepare(
            Target::Lambda,
            "gw.json",
            text,
            every_feature,
            no_fs,
            "docs",
        );
        assert!(every.errors.is_empty(), "{:?}", every.errors);
        // Every feature but `dns-sd`, whose build has no resolver linked (manifold-native).
        let lacking = |var: &str| every_feature(var).filter(|_| var != "CARGO_FEATURE_DNS_SD");
        let built = prepare(Target::Lambda, "gw.json", text, lacking, no_fs, "docs");
        assert!(built.text.is_none());
        assert_eq!(built.errors.len(), 1, "{:?}", built.errors);
        assert!(
            built.errors[0].starts_with(
                "gw.json:2:6: endpoints[0].backend[0].sd: `sd` dns needs manifold-core's `dns-sd` feature"
            ),
            "{:?}",
            built.errors
        );
    }

    #[test]
    fn lambda_refuses_websocket_endpoints_naming_them_workers_accept_them() {
        let text = r#"{"version": 3, "host": ["ws://ws.internal"], "endpoints": [
  {"endpoint": "/plain", "backend": [{"host": ["http://h"], "url_pattern": "/p"}]},
  {"endpoint": "/chat", "output_encoding": "no-op", "backend": [{"url_pattern": "/c"}],
   "extra_config": {"websocket": {"enable_direct_communication": true}}}]}"#;
        let config =
            load::load_reading(text, |_| None, files::NATIVE, |_| Ok(String::new())).unwrap();
        let (errors, _) = platform_limits(Target::Lambda, &config);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("4:21: endpoints[1].extra_config.websocket (GET /chat): AWS Lambda cannot hold a WebSocket"),
            "{errors:?}"
        );
        let (errors, _) = platform_limits(Target::Workers, &config);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_worker_compiles_in_a_config_without_run_time_values_or_unbakeable_parts() {
        let no_fs = |_: &str| Err("no files".to_owned());
        let plain = r#"{"version": 3, "endpoints": [{"endpoint": "/a",
  "backend": [{"host": ["http://b"], "url_pattern": "/a"}]}]}"#;
        let prepare = |target, text, lookup: &dyn Fn(&str) -> Option<String>| {
            prepare(target, "gw.json", text, lookup, no_fs, "docs")
        };
        let compiled = prepare(Target::Workers, plain, &every_feature);
        let plan = compiled.plan.expect("compiled in");
        assert!(plan.contains("UrlPattern::parse(\"/a\")"), "{plan}");
        assert!(compiled.text.is_some(), "the text is embedded too");
        assert!(config_source(Some(&plan), &[]).contains("load::prebuilt(lookup, &[]"));
        assert!(config_source(None, &[]).contains("load::load_expanded(include_str!"));
        // A run-time value as text: read at start, at its place.
        let secret = plain.replace("/a\"}]", "/a?key=${env:B_KEY}\"}]");
        let compiled = prepare(Target::Workers, &secret, &every_feature);
        let plan = compiled.plan.expect("compiled in with its placeholder");
        assert!(
            plan.contains("UrlPattern::parse(&*__env.text(\"/a?key=B_KEY-AAA"),
            "{plan}"
        );
        assert_eq!(compiled.sites, [r#"("${env:B_KEY}", 2, 61)"#]);
        // A run-time value that decoding does not keep as text (an API key's digest).
        let keyed = r#"{"version": 3, "extra_config": {"auth/api-keys": {"keys": [{"key": "${env:K}", "roles": ["r"]}]}},
  "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://b"], "url_pattern": "/a"}],
  "extra_config": {"auth/api-keys": {"roles": ["r"]}}}]}"#;
        let decoded = prepare(Target::Workers, keyed, &every_feature);
        assert!(decoded.plan.is_none() && decoded.text.is_some());
        assert!(
            decoded
                .warnings
                .iter()
                .any(|w| w.contains("decoding turns into something else")),
            "{:?}",
            decoded.warnings
        );
        // Lambda reads its config at start (a run-time override of the file may replace it).
        assert!(prepare(Target::Lambda, plain, &every_feature)
            .plan
            .is_none());
        // A placeholder with a default: compiled in, the default read at start when unset.
        let host = plain.replace("http://b", "${env:B:-http://b}");
        let compiled = prepare(Target::Workers, &host, &every_feature);
        assert!(compiled.plan.is_some(), "{:?}", compiled.warnings);
        assert_eq!(compiled.sites, [r#"("${env:B:-http://b}", 2, 26)"#]);
        // One whose value has a format (a duration) cannot stand in: decoded at start.
        let timeout = plain.replace(
            r#""version": 3,"#,
            r#""version": 3, "timeout": "${env:T:-3s}","#,
        );
        let decoded = prepare(Target::Workers, &timeout, &every_feature);
        assert!(decoded.plan.is_none() && decoded.text.is_some());
        assert!(
            decoded
                .warnings
                .iter()
                .any(|w| w.contains("value with a format")),
            "{:?}",
            decoded.warnings
        );
        // The build's opt-out, for `MANIFOLD_*` overrides at start.
        let decode = |var: &str| match var {
            load::DECODE_AT_START => Some("1".to_owned()),
            _ => every_feature(var),
        };
        assert!(prepare(Target::Workers, plain, &decode).plan.is_none());
        // A part built from code: decoded at start, and the build says why.
        let modified = plain.replacen(
            r#""url_pattern": "/a"}"#,
            r#""url_pattern": "/a", "extra_config": {"modifier/martian": {"header.Modifier":
                {"scope": ["request"], "name": "X-A", "value": "1"}}}}"#,
            1,
        );
        let decoded = prepare(Target::Workers, &modified, &every_feature);
        assert!(decoded.plan.is_none() && decoded.text.is_some());
        assert!(
            decoded
                .warnings
                .iter()
                .any(|w| w.contains("`modifier/martian` cannot be compiled")),
            "{:?}",
            decoded.warnings
        );
        // A cache, with its pool reference's place, is compiled in.
        let cached = plain.replacen(
            r#""url_pattern": "/a"}"#,
            r#""url_pattern": "/a", "extra_config": {"qos/http-cache": {}}}"#,
            1,
        );
        assert!(prepare(Target::Workers, &cached, &every_feature)
            .plan
            .is_some());
    }
}
