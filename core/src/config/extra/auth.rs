//! The `auth/validator` and `auth/signer` namespaces (krakend-jose), decoded into plans with
//! the algorithm, key source and claim rules fixed at load time.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;
use crate::config::parse_duration;
use crate::jose::{Alg, KeySet};

/// Largest JWK set document accepted from `jwk_url` (AWS API Gateway's limit).
pub const MAX_JWK_BYTES: usize = 150_000;
/// Deadline of one `jwk_url` fetch (AWS API Gateway's).
pub const JWK_FETCH_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long fetched keys are used without `cache: true` (then `cache_duration` applies).
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(15 * 60);
/// Largest `leeway` honoured: a longer one is clamped (with a warning).
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// `auth/validator` as written (krakend-jose's keys, plus Manifold's inline `jwk_keys`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawValidator {
    alg: Option<String>,
    jwk_url: Option<String>,
    jwk_local_path: Option<String>,
    jwk_keys: Option<serde_json::Value>,
    audience: Vec<String>,
    issuer: Option<String>,
    roles_key: Option<String>,
    roles_key_is_nested: bool,
    roles: Vec<String>,
    scopes_key: Option<String>,
    scopes: Vec<String>,
    scopes_matcher: Option<String>,
    propagate_claims: Vec<(String, String)>,
    cache: bool,
    cache_duration: Option<u64>,
    cookie_key: Option<String>,
    auth_header_name: Option<String>,
    leeway: Option<String>,
    disable_jwk_security: bool,
    operation_debug: bool,
    key_identify_strategy: Option<String>,
    jwk_local_ca: Option<serde_json::Value>,
    cipher_suites: Option<serde_json::Value>,
    jwk_fingerprints: Option<serde_json::Value>,
}

/// `auth/signer` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawSigner {
    alg: Option<String>,
    kid: Option<String>,
    keys_to_sign: Vec<String>,
    jwk_url: Option<String>,
    jwk_local_path: Option<String>,
    jwk_keys: Option<serde_json::Value>,
    disable_jwk_security: bool,
    full: bool,
    cache: bool,
    cache_duration: Option<u64>,
    jwk_local_ca: Option<serde_json::Value>,
    cipher_suites: Option<serde_json::Value>,
    jwk_fingerprints: Option<serde_json::Value>,
}

/// The key options both namespaces share.
struct KeyOptions<'a> {
    jwk_url: Option<&'a str>,
    jwk_local_path: Option<&'a str>,
    jwk_keys: Option<&'a serde_json::Value>,
    disable_jwk_security: bool,
    cache: bool,
    cache_duration: Option<u64>,
}

/// Where the keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Fetched from `jwk_url` through the `HttpClient` port and cached.
    Url {
        /// The JWK set URL.
        url: String,
        /// How long a fetched set is used before it is fetched again.
        ttl: Duration,
    },
    /// Given in the config (`jwk_keys`), or read from `jwk_local_path` (at start natively,
    /// embedded at build time on the serverless platforms).
    Inline(Arc<KeySet>),
}

/// How `scopes` are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopesMatcher {
    /// At least one configured scope is in the token (KrakenD's default).
    Any,
    /// Every configured scope is in the token.
    All,
}

/// A validated `auth/validator`.
#[derive(Debug, Clone)]
pub struct JwtValidator {
    /// The one algorithm tokens must use.
    pub alg: Alg,
    /// The verification keys.
    pub keys: KeySource,
    /// Audiences that must all be in the token's `aud`.
    pub audience: Vec<String>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Where the roles are: one claim name, or a dot path with `roles_key_is_nested`.
    pub roles_key: Option<Vec<String>>,
    /// At least one of these roles is required (none: no role check).
    pub roles: Vec<String>,
    /// Where the scopes are (a dot path when the literal claim is absent).
    pub scopes_key: Option<String>,
    /// Required scopes (none: no scope check).
    pub scopes: Vec<String>,
    /// `any` or `all`.
    pub scopes_matcher: ScopesMatcher,
    /// Claims copied to request headers (claim, header), replacing the client's values.
    pub propagate_claims: Vec<(String, HeaderName)>,
    /// Read the token from this cookie first.
    pub cookie_key: Option<String>,
    /// The header carrying `Bearer <token>` (default `Authorization`).
    pub auth_header_name: HeaderName,
    /// Clock skew allowed for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
}

/// A validated `auth/signer`.
#[derive(Debug, Clone)]
pub struct JwtSigner {
    /// The signing algorithm (HMAC only in this build).
    pub alg: Alg,
    /// The key id to sign with (and to write in the header).
    pub kid: String,
    /// The response keys whose object values are replaced by their signed token.
    pub keys_to_sign: Vec<String>,
    /// Where the keys come from.
    pub keys: KeySource,
}

// === impl JwtValidator ===

impl Namespace for JwtValidator {
    type Raw = RawValidator;

    /// Check and type the options.
    fn plan(raw: RawValidator, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mark = cx.mark();
        let alg = alg(cx, raw.alg.as_deref())?;
        let keys = key_source(cx, alg, &raw.key_options());
        raw.warn_unsupported(cx);
        let scopes_matcher = scopes_matcher(cx, raw.scopes_matcher.as_deref());
        if !raw.roles.is_empty() && raw.roles_key.is_none() {
            cx.at("roles_key")
                .error("`roles` needs `roles_key` (the claim holding the roles)");
        }
        if !raw.scopes.is_empty() && raw.scopes_key.is_none() {
            cx.at("scopes_key")
                .error("`scopes` needs `scopes_key` (the claim holding the scopes)");
        }
        let propagate_claims = propagate_claims(cx, raw.propagate_claims);
        let auth_header_name = auth_header_name(cx, raw.auth_header_name.as_deref());
        let leeway = leeway(cx, raw.leeway.as_deref());
        let roles_key = raw.roles_key.map(|k| {
            if raw.roles_key_is_nested {
                k.split('.').map(str::to_owned).collect()
            } else {
                vec![k]
            }
        });
        if cx.failed_since(mark) {
            return None;
        }
        Some(JwtValidator {
            alg,
            keys: keys?,
            audience: raw.audience,
            issuer: raw.issuer,
            roles_key,
            roles: raw.roles,
            scopes_key: raw.scopes_key,
            scopes: raw.scopes,
            scopes_matcher,
            propagate_claims,
            cookie_key: raw.cookie_key,
            auth_header_name,
            leeway,
        })
    }
}

// === impl JwtSigner ===

impl Namespace for JwtSigner {
    type Raw = RawSigner;

    /// Check and type the options.
    fn plan(raw: RawSigner, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mark = cx.mark();
        let alg = alg(cx, raw.alg.as_deref())?;
        if !alg.is_hmac() {
            cx.at("alg").error(format!(
                "`auth/signer` signs with HS256/384/512 only in this build (not {})",
                alg.as_str()
            ));
        }
        let Some(kid) = raw.kid.clone() else {
            cx.at("kid")
                .error("`auth/signer` needs `kid` (the key to sign with)");
            return None;
        };
        if raw.keys_to_sign.is_empty() {
            cx.at("keys_to_sign")
                .warn("`keys_to_sign` is empty; nothing is signed");
        }
        no_effect(cx, "full", raw.full);
        no_effect(cx, "jwk_local_ca", raw.jwk_local_ca.is_some());
        no_effect(cx, "cipher_suites", raw.cipher_suites.is_some());
        no_effect(cx, "jwk_fingerprints", raw.jwk_fingerprints.is_some());
        let keys = key_source(cx, alg, &raw.key_options());
        if cx.failed_since(mark) {
            return None;
        }
        Some(JwtSigner {
            alg,
            kid,
            keys_to_sign: raw.keys_to_sign,
            keys: keys?,
        })
    }
}

// === impl RawValidator ===

impl RawValidator {
    fn key_options(&self) -> KeyOptions<'_> {
        KeyOptions {
            jwk_url: self.jwk_url.as_deref(),
            jwk_local_path: self.jwk_local_path.as_deref(),
            jwk_keys: self.jwk_keys.as_ref(),
            disable_jwk_security: self.disable_jwk_security,
            cache: self.cache,
            cache_duration: self.cache_duration,
        }
    }

    /// Options KrakenD has that Manifold reads but does not implement.
    fn warn_unsupported(&self, cx: &mut Cx<'_, '_>) {
        no_effect(cx, "jwk_local_ca", self.jwk_local_ca.is_some());
        no_effect(cx, "cipher_suites", self.cipher_suites.is_some());
        no_effect(cx, "jwk_fingerprints", self.jwk_fingerprints.is_some());
        no_effect(cx, "operation_debug", self.operation_debug);
        if let Some(s) = self
            .key_identify_strategy
            .as_deref()
            .filter(|s| *s != "kid")
        {
            cx.at("key_identify_strategy").warn(format!(
                "key_identify_strategy {s:?} is not supported; keys are looked up by `kid`"
            ));
        }
    }
}

// === impl RawSigner ===

impl RawSigner {
    fn key_options(&self) -> KeyOptions<'_> {
        KeyOptions {
            jwk_url: self.jwk_url.as_deref(),
            jwk_local_path: self.jwk_local_path.as_deref(),
            jwk_keys: self.jwk_keys.as_ref(),
            disable_jwk_security: self.disable_jwk_security,
            cache: self.cache,
            cache_duration: self.cache_duration,
        }
    }
}

fn alg(cx: &mut Cx<'_, '_>, name: Option<&str>) -> Option<Alg> {
    let name = name.unwrap_or("RS256");
    let alg = Alg::parse(name);
    if alg.is_none() {
        cx.at("alg").error(format!("unsupported `alg` {name:?} (supported: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA; `none` never)"));
    }
    alg
}

fn key_source(cx: &mut Cx<'_, '_>, alg: Alg, o: &KeyOptions<'_>) -> Option<KeySource> {
    if let Some(keys) = o.jwk_keys {
        return inline_keys(&mut cx.at("jwk_keys"), alg, keys, "`jwk_keys`");
    }
    if let Some(url) = o.jwk_url {
        let allowed =
            url.starts_with("https://") || (o.disable_jwk_security && url.starts_with("http://"));
        if !allowed {
            cx.at("jwk_url").error("`jwk_url` must be https:// (set `disable_jwk_security: true` to allow http:// in development)");
            return None;
        }
        if o.jwk_local_path.is_some() {
            cx.at("jwk_local_path")
                .warn("`jwk_local_path` is ignored because `jwk_url` is set");
        }
        let ttl = if o.cache {
            o.cache_duration
                .map_or(DEFAULT_KEY_TTL, Duration::from_secs)
        } else {
            DEFAULT_KEY_TTL
        };
        return Some(KeySource::Url {
            url: url.to_owned(),
            ttl,
        });
    }
    if let Some(path) = o.jwk_local_path {
        // Read at start natively, embedded by the Lambda and Workers builds (`config::files`).
        let mut at = cx.at("jwk_local_path");
        let text = at.file(path)?;
        return match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(keys) => inline_keys(&mut at, alg, &keys, &format!("`{path}`")),
            Err(e) => {
                at.error(format!("`{path}` is not a JWK set: {e}"));
                None
            }
        };
    }
    cx.error("no keys: set `jwk_url` (or Manifold's inline `jwk_keys`)");
    None
}

/// `jwk_keys`: a JWK set written into the config.
fn inline_keys(
    cx: &mut Cx<'_, '_>,
    alg: Alg,
    keys: &serde_json::Value,
    origin: &str,
) -> Option<KeySource> {
    let document = keys.to_string();
    match KeySet::parse(document.as_bytes(), alg).map(|set| set.with_source(alg, &document)) {
        Ok(set) if set.is_empty() => {
            cx.error(format!(
                "no key in {origin} is usable with {}",
                alg.as_str()
            ));
            None
        }
        Ok(set) => Some(KeySource::Inline(Arc::new(set))),
        Err(e) => {
            cx.error(e);
            None
        }
    }
}

fn no_effect(cx: &mut Cx<'_, '_>, key: &str, set: bool) {
    if set {
        cx.at(key).warn(format!(
            "`{key}` is not supported by Manifold; it has no effect"
        ));
    }
}

fn scopes_matcher(cx: &mut Cx<'_, '_>, value: Option<&str>) -> ScopesMatcher {
    match value {
        None | Some("any") => ScopesMatcher::Any,
        Some("all") => ScopesMatcher::All,
        Some(other) => {
            cx.at("scopes_matcher").error(format!(
                "`scopes_matcher` must be \"any\" or \"all\", not {other:?}"
            ));
            ScopesMatcher::Any
        }
    }
}

/// `propagate_claims`: (claim, header) pairs, the header names checked.
fn propagate_claims(
    cx: &mut Cx<'_, '_>,
    pairs: Vec<(String, String)>,
) -> Vec<(String, HeaderName)> {
    let mut out = Vec::new();
    for (i, (claim, header)) in pairs.into_iter().enumerate() {
        match HeaderName::from_bytes(header.as_bytes()) {
            Ok(h) => out.push((claim, h)),
            Err(_) => cx
                .at("propagate_claims")
                .index(i)
                .error(format!("invalid header name {header:?}")),
        }
    }
    out
}

fn auth_header_name(cx: &mut Cx<'_, '_>, name: Option<&str>) -> HeaderName {
    let Some(h) = name else {
        return http::header::AUTHORIZATION;
    };
    HeaderName::from_bytes(h.as_bytes()).unwrap_or_else(|_| {
        cx.at("auth_header_name")
            .error(format!("invalid header name {h:?}"));
        http::header::AUTHORIZATION
    })
}

/// `leeway`, clamped to [`MAX_LEEWAY`].
fn leeway(cx: &mut Cx<'_, '_>, text: Option<&str>) -> Duration {
    let leeway = match text.map(parse_duration) {
        None => Duration::ZERO,
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            cx.at("leeway").error(e);
            Duration::ZERO
        }
    };
    if leeway > MAX_LEEWAY {
        cx.at("leeway").warn("`leeway` is clamped to 60s");
        return MAX_LEEWAY;
    }
    leeway
}
