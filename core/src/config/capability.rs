//! Capabilities compiled in or out by manifold-core's cargo features, and which of them a
//! config needs.
//!
//! Every feature is on by default (`manifold run`, Lambda, the tests). A Worker build derives
//! its feature list from the config it embeds ([`required_features`], used by
//! `edge-worker/build.sh` through `manifold-build`), so a module carries only the code the
//! config can reach. A config that uses a capability this build left out is an error at the
//! key that uses it, naming the feature: never a silent no-op (an auth or validation setting
//! that cannot be enforced must not be served unenforced).
//!
//! The needs are read from the JSON as written, at the few places that select optional code:
//! `extra_config` namespaces (root, endpoints, backends), backend `encoding` and `sd`,
//! `output_encoding` (root and endpoints) and the `auth/validator` `alg`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::{Diagnostic, Diags, Path};
use super::ConfigErrors;

/// One optional capability: its cargo feature, what it brings, and whether this build has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// The cargo feature of manifold-core (and of the adapters that forward it).
    pub name: &'static str,
    /// What the feature compiles in.
    pub what: &'static str,
    /// Whether this build of manifold-core has it.
    pub enabled: bool,
}

/// Every optional capability, in the order `required_features` lists them.
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "jwt",
        what: "`auth/validator` and `auth/signer` (HMAC; the other algorithms are the jwt-* features)",
        enabled: cfg!(feature = "jwt"),
    },
    Feature {
        name: "jwt-rsa",
        what: "RS256/384/512 and PS256/384/512 token signatures (`auth/validator` `alg`, RS256 by default)",
        enabled: cfg!(any(feature = "jwt-rsa", feature = "jwt-platform")),
    },
    Feature {
        name: "jwt-es256",
        what: "ES256 (ECDSA P-256) token signatures (`auth/validator` `alg`)",
        enabled: cfg!(any(feature = "jwt-es256", feature = "jwt-platform")),
    },
    Feature {
        name: "jwt-es384",
        what: "ES384 (ECDSA P-384) token signatures (`auth/validator` `alg`)",
        enabled: cfg!(any(feature = "jwt-es384", feature = "jwt-platform")),
    },
    Feature {
        name: "jwt-eddsa",
        what: "EdDSA (Ed25519) token signatures (`auth/validator` `alg`)",
        enabled: cfg!(any(feature = "jwt-eddsa", feature = "jwt-platform")),
    },
    Feature {
        name: "api-keys",
        what: "`auth/api-keys`",
        enabled: cfg!(feature = "api-keys"),
    },
    Feature {
        name: "ratelimit",
        what: "`qos/ratelimit/router`, `qos/ratelimit/proxy` and their Redis-backed forms",
        enabled: cfg!(feature = "ratelimit"),
    },
    Feature {
        name: "circuit-breaker",
        what: "`qos/circuit-breaker`",
        enabled: cfg!(feature = "circuit-breaker"),
    },
    Feature {
        name: "cel",
        what: "`validation/cel` expressions",
        enabled: cfg!(feature = "cel"),
    },
    Feature {
        name: "json-schema",
        what: "`validation/json-schema` request body validation",
        enabled: cfg!(feature = "json-schema"),
    },
    Feature {
        name: "bot-detector",
        what: "`security/bot-detector`",
        enabled: cfg!(feature = "bot-detector"),
    },
    Feature {
        name: "martian",
        what: "`modifier/martian` request and response modifiers",
        enabled: cfg!(feature = "martian"),
    },
    Feature {
        name: "graphql",
        what: "`backend/graphql`",
        enabled: cfg!(feature = "graphql"),
    },
    Feature {
        name: "lambda",
        what: "`backend/lambda` (AWS Invoke API calls, SigV4)",
        enabled: cfg!(feature = "lambda"),
    },
    Feature {
        name: "client-credentials",
        what: "`auth/client-credentials` (OAuth2 tokens for backends)",
        enabled: cfg!(feature = "client-credentials"),
    },
    Feature {
        name: "http-cache",
        what: "`qos/http-cache`",
        enabled: cfg!(feature = "http-cache"),
    },
    Feature {
        name: "xml",
        what: "the `xml` backend `encoding` and `output_encoding` (and `negotiate`)",
        enabled: cfg!(feature = "xml"),
    },
    Feature {
        name: "rss",
        what: "the `rss` backend `encoding`",
        enabled: cfg!(feature = "rss"),
    },
    Feature {
        name: "yaml",
        what: "the `yaml` `output_encoding` (and `negotiate`)",
        enabled: cfg!(feature = "yaml"),
    },
    Feature {
        name: "cors",
        what: "`security/cors` (and the WebSocket origin check it gives)",
        enabled: cfg!(feature = "cors"),
    },
    Feature {
        name: "security-http",
        what: "`security/http` (allowed hosts, HTTPS redirect, security headers)",
        enabled: cfg!(feature = "security-http"),
    },
    Feature {
        name: "telemetry",
        what: "`telemetry/logging` (the access log itself is always compiled)",
        enabled: cfg!(feature = "telemetry"),
    },
    Feature {
        name: "opentelemetry",
        what: "`telemetry/opentelemetry` (spans and metrics, the OTLP export)",
        enabled: cfg!(feature = "opentelemetry"),
    },
    Feature {
        name: "redis",
        what: "the root `redis` connection pools (shared stores)",
        enabled: cfg!(feature = "redis"),
    },
    Feature {
        name: "websocket",
        what: "`websocket` endpoints (upgrades passed through)",
        enabled: cfg!(feature = "websocket"),
    },
    Feature {
        name: "compression",
        what: "`manifold/compression` (compressed answers)",
        enabled: cfg!(feature = "compression"),
    },
    Feature {
        name: "failure",
        what: "`manifold/failure` (failure policies)",
        enabled: cfg!(feature = "failure"),
    },
    Feature {
        name: "dns-sd",
        what: "`\"sd\": \"dns\"` backends (DNS SRV service discovery; the native resolver)",
        enabled: cfg!(feature = "dns-sd"),
    },
];

/// Namespaces whose code is behind a feature (at any level they are decoded at).
const NAMESPACES: &[(&str, &str)] = &[
    ("validation/cel", "cel"),
    ("validation/json-schema", "json-schema"),
    ("security/bot-detector", "bot-detector"),
    ("modifier/martian", "martian"),
    ("backend/graphql", "graphql"),
    ("backend/lambda", "lambda"),
    ("auth/client-credentials", "client-credentials"),
    ("qos/http-cache", "http-cache"),
    ("auth/validator", "jwt"),
    ("auth/signer", "jwt"),
    ("auth/api-keys", "api-keys"),
    ("qos/ratelimit/router", "ratelimit"),
    ("qos/ratelimit/proxy", "ratelimit"),
    ("qos/ratelimit/router/redis", "ratelimit"),
    ("qos/ratelimit/service/redis", "ratelimit"),
    ("qos/circuit-breaker", "circuit-breaker"),
    ("security/cors", "cors"),
    ("security/http", "security-http"),
    ("telemetry/logging", "telemetry"),
    ("telemetry/opentelemetry", "opentelemetry"),
    ("redis", "redis"),
    (super::extra::WEBSOCKET_NAMESPACE, "websocket"),
    (super::extra::COMPRESSION_NAMESPACE, "compression"),
    (super::extra::FAILURE_NAMESPACE, "failure"),
];

/// One use of an optional capability in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The feature it needs (a name of [`FEATURES`]).
    pub feature: &'static str,
    /// Where, and the setting that needs it (as the message).
    pub at: Diagnostic,
}

/// `value` when the code behind a feature is in this build (`compiled`: `cfg!(feature = ..)`),
/// else `None`. Always inlined, so the condition is a constant and the optimizer drops the
/// code that only runs with `Some` (a closure given to `Option::filter` may stay opaque at
/// `opt-level = "z"`).
#[inline(always)]
pub(crate) fn when<T>(compiled: bool, value: Option<T>) -> Option<T> {
    if compiled {
        value
    } else {
        None
    }
}

/// Whether this build has `opentelemetry`, as a constant: the adapters' sinks test it where a
/// value read from memory (a field set to `None` without the feature) would keep the OTLP
/// export's code linked.
pub const OPENTELEMETRY: bool = cfg!(feature = "opentelemetry");

/// Whether this build has `redis`, as a constant: the native platform attaches its Redis stores
/// only then (a store reachable through the platform keeps the Redis client linked, though
/// no pool can be declared without the feature).
pub const REDIS: bool = cfg!(feature = "redis");

/// Whether this build has `compression`, as a constant: the native encoder tests it before
/// reading the config's (then always absent) `manifold/compression`, so the gzip and brotli
/// encoders are not linked without it.
pub const COMPRESSION: bool = cfg!(feature = "compression");

/// Whether this build leaves token signatures to the platform (`jwt-platform`), as a
/// constant: the Worker attaches its WebCrypto port only then, so a build without JWT
/// signatures does not link it.
pub const PLATFORM_SIGNATURES: bool = cfg!(feature = "jwt-platform");

/// Whether this build has `dns-sd`, as a constant: the native platform attaches its DNS SRV
/// resolver only then (no backend can use `"sd": "dns"` without it), so a build without it
/// has no DNS resolver linked.
pub const DNS_SD: bool = cfg!(feature = "dns-sd");

/// Whether this build has a capability that uses the platform's shared stores (`redis`
/// pools, `qos/http-cache`'s `shared` cache, `auth/api-keys`' KV namespaces), as a constant:
/// the Worker attaches its Durable Object, Cache API and KV stores only then, so a build
/// without them does not link the stores' clients.
pub const SHARED_STORES: bool = cfg!(any(
    feature = "redis",
    feature = "http-cache",
    feature = "api-keys"
));

/// Whether this build of manifold-core has the feature `name` (unknown names: false).
pub fn enabled(name: &str) -> bool {
    FEATURES.iter().any(|f| f.name == name && f.enabled)
}

/// Every use of an optional capability in the config `text` (JSON; placeholders expanded).
pub fn needs(text: &str) -> Result<Vec<Need>, ConfigErrors> {
    let value = super::root::json(text)?;
    let diags = Diags::new(text);
    Ok(uses(&value)
        .into_iter()
        .map(|(feature, path, setting)| Need {
            feature,
            at: diags.make(&path, None, setting),
        })
        .collect())
}

/// The features the config `text` needs, in [`FEATURES`] order (deduplicated).
pub fn required_features(text: &str) -> Result<Vec<&'static str>, ConfigErrors> {
    let used: BTreeSet<&str> = needs(text)?.iter().map(|n| n.feature).collect();
    Ok(FEATURES
        .iter()
        .map(|f| f.name)
        .filter(|f| used.contains(f))
        .collect())
}

/// The error for a use of a feature that `has` says the build lacks, or `None`.
pub fn missing(need: &Need, has: impl Fn(&str) -> bool) -> Option<Diagnostic> {
    if has(need.feature) {
        return None;
    }
    let mut d = need.at.clone();
    d.message = format!(
        "{} needs manifold-core's `{}` feature, which this build leaves out (build with the default features, or add `--features {}`; the Worker build derives them from the config: docs/workers.md)",
        d.message, need.feature, need.feature
    );
    Some(d)
}

/// Report, as errors, every use of a capability this build of manifold-core does not have.
pub(crate) fn check(diags: &mut Diags<'_>, value: &Value) {
    if FEATURES.iter().all(|f| f.enabled) {
        return;
    }
    for (feature, path, setting) in uses(value) {
        if !enabled(feature) {
            let need = Need {
                feature,
                at: diags.make(&path, None, setting),
            };
            if let Some(d) = missing(&need, enabled) {
                diags.out.errors.push(d);
            }
        }
    }
}

/// (feature, where, which setting) for every use in the parsed config.
fn uses(root: &Value) -> Vec<(&'static str, Path, String)> {
    let mut out = Vec::new();
    let top = Path::default();
    extra_config(&mut out, &top, root);
    output_encoding(&mut out, &top, root);
    for (i, endpoint) in items(root, "endpoints") {
        let at = top.key("endpoints").index(i);
        extra_config(&mut out, &at, endpoint);
        output_encoding(&mut out, &at, endpoint);
        if let Some(Value::Object(validator)) = endpoint
            .get("extra_config")
            .and_then(|e| e.get("auth/validator"))
        {
            let alg = validator.get("alg").and_then(Value::as_str);
            // RS256 when not set (as KrakenD).
            let feature = match alg.unwrap_or("RS256") {
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some("jwt-rsa"),
                // One curve each: P-384's arithmetic alone is ~87 KB of a Worker's code.
                "ES256" => Some("jwt-es256"),
                "ES384" => Some("jwt-es384"),
                "EdDSA" => Some("jwt-eddsa"),
                _ => None,
            };
            let validator_at = at.key("extra_config").key("auth/validator");
            if let Some(feature) = feature {
                let (path, what) = match alg {
                    Some(alg) => (validator_at.key("alg"), format!("`alg` {alg}")),
                    None => (validator_at, "`alg` RS256 (the default)".to_owned()),
                };
                out.push((feature, path, what));
            }
        }
        for (j, backend) in items(endpoint, "backend") {
            let at = at.key("backend").index(j);
            extra_config(&mut out, &at, backend);
            match backend.get("encoding").and_then(Value::as_str) {
                Some(e) if e.eq_ignore_ascii_case("xml") => {
                    out.push(("xml", at.key("encoding"), "`encoding` xml".to_owned()));
                }
                Some(e) if e.eq_ignore_ascii_case("rss") => {
                    out.push(("rss", at.key("encoding"), "`encoding` rss".to_owned()));
                }
                _ => {}
            }
            // The values config::discovery resolves through DNS (`dns-shared` as `dns`).
            if let Some(sd @ ("dns" | "dns-shared")) = backend.get("sd").and_then(Value::as_str) {
                out.push(("dns-sd", at.key("sd"), format!("`sd` {sd}")));
            }
        }
    }
    out
}

/// The elements of the array `key` of `value`, with their indexes.
fn items<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = (usize, &'v Value)> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

/// The optional namespaces of `value`'s `extra_config`.
fn extra_config(out: &mut Vec<(&'static str, Path, String)>, at: &Path, value: &Value) {
    let Some(Value::Object(extra)) = value.get("extra_config") else {
        return;
    };
    for name in extra.keys() {
        if let Some((_, feature)) = NAMESPACES.iter().find(|(ns, _)| ns == name) {
            let path = at.key("extra_config").key(name);
            out.push((feature, path, format!("namespace `{name}`")));
        }
    }
}

/// The features `value`'s `output_encoding` needs.
fn output_encoding(out: &mut Vec<(&'static str, Path, String)>, at: &Path, value: &Value) {
    let Some(encoding) = value.get("output_encoding").and_then(Value::as_str) else {
        return;
    };
    let features: &[&str] = match encoding {
        "xml" => &["xml"],
        "yaml" => &["yaml"],
        // Content negotiation may answer in either.
        "negotiate" => &["xml", "yaml"],
        _ => &[],
    };
    for feature in features {
        let what = format!("`output_encoding` {encoding}");
        out.push((feature, at.key("output_encoding"), what));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_features_a_config_needs_are_found_where_they_are_used() {
        let text = r#"{"version": 3, "output_encoding": "negotiate",
  "extra_config": {"security/bot-detector": {}},
  "endpoints": [
    {"endpoint": "/a", "extra_config": {"auth/validator": {"jwk_url": "http://k"}},
     "backend": [{"url_pattern": "/x", "encoding": "RSS",
                  "extra_config": {"modifier/martian": {}, "validation/cel": []}}]},
    {"endpoint": "/b", "output_encoding": "yaml",
     "extra_config": {"auth/validator": {"alg": "ES256"}, "validation/json-schema": {}},
     "backend": [{"url_pattern": "/y", "encoding": "json"}]}
  ]}"#;
        let needs = needs(text).unwrap();
        let found: Vec<(&str, String, usize)> = needs
            .iter()
            .map(|n| (n.feature, n.at.path.clone(), n.at.line))
            .collect();
        assert!(found.contains(&(
            "bot-detector",
            "extra_config.security/bot-detector".to_owned(),
            2
        )));
        assert!(found.contains(&(
            "jwt-rsa",
            "endpoints[0].extra_config.auth/validator".to_owned(),
            4
        )));
        assert!(found.contains(&("rss", "endpoints[0].backend[0].encoding".to_owned(), 5)));
        assert!(found.contains(&(
            "jwt-es256",
            "endpoints[1].extra_config.auth/validator.alg".to_owned(),
            8
        )));
        assert_eq!(
            required_features(text).unwrap(),
            [
                "jwt",
                "jwt-rsa",
                "jwt-es256",
                "cel",
                "json-schema",
                "bot-detector",
                "martian",
                "xml",
                "rss",
                "yaml"
            ]
        );
    }

    #[test]
    fn a_plain_proxy_needs_nothing_optional_and_hmac_only_jwt() {
        let text = r#"{"version": 3, "endpoints": [{"endpoint": "/a", "output_encoding": "json",
          "extra_config": {"proxy": {"sequential": true}},
          "backend": [{"url_pattern": "/x", "encoding": "safejson"}]}]}"#;
        assert_eq!(required_features(text).unwrap(), Vec::<&str>::new());
        let hmac = text.replace(
            r#""proxy": {"sequential": true}"#,
            r#""auth/validator": {"alg": "HS256"}"#,
        );
        assert_eq!(required_features(&hmac).unwrap(), ["jwt"]);
        assert!(needs("{not json").is_err());
    }

    #[test]
    fn each_ecdsa_curve_is_its_own_feature() {
        let config = |alg: &str| {
            format!(
                r#"{{"version": 3, "endpoints": [{{"endpoint": "/a",
          "extra_config": {{"auth/validator": {{"alg": "{alg}"}}}},
          "backend": [{{"url_pattern": "/x"}}]}}]}}"#
            )
        };
        assert_eq!(
            required_features(&config("ES256")).unwrap(),
            ["jwt", "jwt-es256"]
        );
        assert_eq!(
            required_features(&config("ES384")).unwrap(),
            ["jwt", "jwt-es384"]
        );
    }

    #[test]
    fn the_always_present_namespaces_are_features_too() {
        let text = r#"{"version": 3,
  "extra_config": {"security/cors": {}, "security/http": {}, "telemetry/logging": {},
    "telemetry/opentelemetry": {}, "redis": {}, "manifold/compression": {}},
  "endpoints": [{"endpoint": "/a", "extra_config": {"websocket": {}, "manifold/failure": {}},
    "backend": [{"url_pattern": "/x", "extra_config": {"manifold/failure": {}}}]}]}"#;
        assert_eq!(
            required_features(text).unwrap(),
            [
                "cors",
                "security-http",
                "telemetry",
                "opentelemetry",
                "redis",
                "websocket",
                "compression",
                "failure"
            ]
        );
        // The access log's settings alone do not bring the OTLP export.
        let logging = r#"{"version": 3, "extra_config": {"telemetry/logging": {"level": "INFO"}},
  "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/x"}]}]}"#;
        assert_eq!(required_features(logging).unwrap(), ["telemetry"]);
        let at: Vec<String> = needs(text)
            .unwrap()
            .iter()
            .map(|n| n.at.path.clone())
            .collect();
        assert!(at.contains(&"endpoints[0].backend[0].extra_config.manifold/failure".to_owned()));
        assert!(at.contains(&"extra_config.telemetry/opentelemetry".to_owned()));
    }

    #[test]
    fn shared_stores_is_on_exactly_with_a_capability_that_uses_them() {
        // The Worker attaches its stores only `if SHARED_STORES`: a store user missing here
        // would find no store on the Worker.
        let users = ["redis", "http-cache", "api-keys"];
        assert_eq!(SHARED_STORES, users.iter().any(|f| enabled(f)));
        assert!(users.iter().all(|u| FEATURES.iter().any(|f| f.name == *u)));
    }

    #[test]
    fn dns_service_discovery_is_a_feature_at_the_backends_sd() {
        let text = r#"{"version": 3, "host": ["_api._tcp.example.test"], "endpoints": [
  {"endpoint": "/a", "backend": [{"url_pattern": "/x", "sd": "static"},
    {"url_pattern": "/y",
     "sd": "dns"}]},
  {"endpoint": "/b", "backend": [{"url_pattern": "/z", "sd": "dns-shared"}]}]}"#;
        let needs = needs(text).unwrap();
        let found: Vec<(&str, &str, usize)> = needs
            .iter()
            .map(|n| (n.feature, n.at.path.as_str(), n.at.line))
            .collect();
        assert_eq!(
            found,
            [
                ("dns-sd", "endpoints[0].backend[1].sd", 4),
                ("dns-sd", "endpoints[1].backend[0].sd", 5)
            ]
        );
        assert_eq!(required_features(text).unwrap(), ["dns-sd"]);
        let d = missing(&needs[0], |_| false).unwrap();
        assert!(
            d.message
                .starts_with("`sd` dns needs manifold-core's `dns-sd` feature"),
            "{}",
            d.message
        );
        let plain = text
            .replace("\"dns\"", "\"static\"")
            .replace("dns-shared", "static");
        assert_eq!(required_features(&plain).unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn a_missing_feature_is_a_located_error_naming_it() {
        let text = "{\"version\": 3,\n \"output_encoding\": \"xml\"}";
        let need = &needs(text).unwrap()[0];
        assert!(missing(need, |f| f == "xml").is_none());
        let d = missing(need, |_| false).unwrap();
        assert_eq!(
            (d.line, d.column, d.path.as_str()),
            (2, 2, "output_encoding")
        );
        assert!(
            d.message
                .starts_with("`output_encoding` xml needs manifold-core's `xml` feature"),
            "{}",
            d.message
        );
    }

    #[test]
    fn this_build_reports_what_it_lacks_and_nothing_else() {
        // Every feature is on in the test build (default features): no error. With features
        // off, `parse` fails at the key that needs one (checked by the no-default-features
        // build in scripts/test.sh).
        let text = r#"{"version": 3, "output_encoding": "yaml", "endpoints": []}"#;
        let result = crate::config::parse(text);
        assert_eq!(result.is_ok(), enabled("yaml"), "{result:?}");
        if let Err(e) = result {
            assert!(e.errors[0].message.contains("`yaml` feature"), "{e}");
        }
    }
}
