//! `auth/validator` (a [`Guard`] before the endpoint handler) and `auth/signer` (a layer on the
//! endpoint's response), with the JWK set cache they share.
//!
//! Every rejection is an empty 401 (no, bad or expired token) or 403 (valid token, missing
//! role or scope). Reasons are never sent to the client and the token is never logged.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, COOKIE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::{
    Claims, ErrorSource, Guard, Proxy, ProxyError, ProxyRequest, ProxyResponse, RequestState,
    SharedGuard, SharedProxy,
};
use crate::cel::Activation;
use crate::config::extra::CelChecks;
use crate::config::extra::{
    JwtSigner, JwtValidator, KeySource, ScopesMatcher, JWK_FETCH_TIMEOUT, MAX_JWK_BYTES,
};
use crate::jose::{Alg, KeySet, Token};
use crate::json::Value;
use crate::platform::{BoxFuture, Platform};

/// Least time between two fetches of a JWK set that still has fresh keys (a token with an
/// unknown `kid` can trigger one): random `kid`s cannot amplify into outbound traffic.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// Least time between two fetches while no fresh key is held (JWKS down or garbage).
pub const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(5);
/// How often a request waiting for another request's fetch looks again.
const WAIT_STEP: Duration = Duration::from_millis(20);
/// Largest `exp`/`nbf`/`iat` accepted (9999-12-31T23:59:59Z); beyond is a malformed token.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// A JWK set from config, or fetched from `jwk_url` and cached.
pub(crate) struct KeyCache {
    source: KeySource,
    alg: Alg,
    platform: Platform,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    keys: Option<Arc<KeySet>>,
    fetched_at_ms: u64,
    last_attempt_ms: Option<u64>,
    in_flight: bool,
}

/// Clears `in_flight` even when the fetching request is dropped mid-fetch.
struct InFlight<'a>(&'a Mutex<CacheState>);

struct Validator {
    cfg: Arc<JwtValidator>,
    /// The endpoint's `validation/cel`, when it has JWT-only expressions.
    rejecter: Option<Arc<CelChecks>>,
    keys: KeyCache,
    platform: Platform,
}

struct Signer {
    cfg: Arc<JwtSigner>,
    keys: KeyCache,
    next: SharedProxy,
}

// === impl KeyCache ===

fn lock(m: &Mutex<CacheState>) -> MutexGuard<'_, CacheState> {
    // The state stays consistent at every await point, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(self.0).in_flight = false;
    }
}

impl KeyCache {
    pub(crate) fn new(source: KeySource, alg: Alg, platform: Platform) -> Self {
        Self {
            source,
            alg,
            platform,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// The keys to verify a token with this `kid` against. Fetches when nothing fresh is
    /// held, or when the `kid` is unknown (rotation), within the refetch limits; waits for a
    /// fetch another request already started. `None`: no usable keys (fail closed).
    pub(crate) async fn keys(&self, kid: Option<&str>) -> Option<Arc<KeySet>> {
        let (url, ttl) = match &self.source {
            KeySource::Inline(set) => return Some(set.clone()),
            KeySource::Url { url, ttl } => (url, millis(*ttl)),
        };
        let mut waited = Duration::ZERO;
        loop {
            let now = self.platform.clock.now_millis();
            let fetch = {
                let mut s = lock(&self.state);
                let fresh = s
                    .keys
                    .clone()
                    .filter(|_| now < s.fetched_at_ms.saturating_add(ttl));
                if let Some(k) = &fresh {
                    if kid.is_none_or(|id| k.has_kid(id)) {
                        return fresh;
                    }
                }
                let gap = millis(if fresh.is_some() {
                    MIN_REFETCH
                } else {
                    RETRY_WITHOUT_KEYS
                });
                let may_fetch = s
                    .last_attempt_ms
                    .is_none_or(|last| now >= last.saturating_add(gap));
                if s.in_flight {
                    if waited >= JWK_FETCH_TIMEOUT {
                        return fresh;
                    }
                    false
                } else if may_fetch {
                    s.in_flight = true;
                    s.last_attempt_ms = Some(now);
                    true
                } else {
                    return fresh;
                }
            };
            if fetch {
                let _in_flight = InFlight(&self.state);
                if let Some(set) = self.fetch(url).await {
                    let mut s = lock(&self.state);
                    s.keys = Some(Arc::new(set));
                    s.fetched_at_ms = self.platform.clock.now_millis();
                }
            } else {
                self.platform.sleep.sleep(WAIT_STEP).await;
                waited += WAIT_STEP;
            }
        }
    }

    /// One bounded fetch: timeout, size cap, status 200, a set with at least one usable key.
    async fn fetch(&self, url: &str) -> Option<KeySet> {
        let mut request = http::Request::builder()
            .method(Method::GET)
            .uri(url)
            .body(Bytes::new())
            .ok()?;
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
        let send = self.platform.client.send(request, MAX_JWK_BYTES);
        let response = self.platform.timeout(JWK_FETCH_TIMEOUT, send).await?.ok()?;
        if response.status() != StatusCode::OK || response.body().len() > MAX_JWK_BYTES {
            return None;
        }
        KeySet::parse(response.body(), self.alg)
            .ok()
            .filter(|set| !set.is_empty())
    }
}

// === impl Validator ===

/// The `auth/validator` guard of one endpoint.
pub(crate) fn guard(
    cfg: Arc<JwtValidator>,
    cel: Option<Arc<CelChecks>>,
    platform: &Platform,
) -> SharedGuard {
    Arc::new(Validator {
        rejecter: cel.filter(|c| !c.jwt.is_empty()),
        keys: KeyCache::new(cfg.keys.clone(), cfg.alg, platform.clone()),
        cfg,
        platform: platform.clone(),
    })
}

fn reject(status: StatusCode) -> ControlFlow<Response<Bytes>> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    ControlFlow::Break(r)
}

/// The token from `cookie_key` (first, as krakend-jose) or the auth header, with an optional
/// `Bearer ` prefix.
fn extract(cfg: &JwtValidator, headers: &HeaderMap) -> Option<String> {
    if let Some(name) = &cfg.cookie_key {
        let from_cookie = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim_matches('"').to_owned());
        if from_cookie.is_some() {
            return from_cookie;
        }
    }
    let raw = headers.get(&cfg.auth_header_name)?.to_str().ok()?.trim();
    let token = match raw.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => raw.get(7..)?.trim(),
        _ => raw,
    };
    (!token.is_empty()).then(|| token.to_owned())
}

/// An RFC 7519 NumericDate; anything else (strings, arrays, 1e300, NaN) is `None`.
fn numeric_date(v: &Value) -> Option<f64> {
    let Value::Number(n) = v else { return None };
    let x: f64 = n.as_str().parse().ok()?;
    (x.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&x)).then_some(x)
}

/// The claim at `path` (one key, or nested objects).
fn at_path<'a>(claims: &'a Claims, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut v = claims.get(first)?;
    for k in rest {
        v = v.as_object()?.get(k)?;
    }
    Some(v)
}

impl Validator {
    /// Signature and registered claims: any failure is 401.
    async fn authenticate(&self, token: &str) -> Option<Claims> {
        let cfg = &self.cfg;
        // The same steps as `jose::verify_compact` (which the Wycheproof vectors exercise),
        // with the key set fetched in between: the configured algorithm only and no `crit`
        // before a key is chosen, then the signature.
        let token = Token::decode(token)?;
        let kid = token.accept(cfg.alg).ok()?;
        let keys = self.keys.keys(kid).await?;
        let key = keys.select(kid)?;
        let verified = token.verify_with(cfg.alg, key).ok()?;
        // A JWT's claims set is a JSON object (RFC 7519 §7.2), parsed only once signed.
        let Ok(Value::Object(claims)) = crate::json::parse(&verified.payload) else {
            return None;
        };
        let claims = Claims(claims);
        let now = self.platform.clock.now_millis() as f64 / 1000.0;
        let leeway = cfg.leeway.as_secs_f64();
        let exp = numeric_date(claims.get("exp")?)?;
        if now >= exp + leeway {
            return None;
        }
        for name in ["nbf", "iat"] {
            if let Some(v) = claims.get(name) {
                if numeric_date(v)? > now + leeway {
                    return None;
                }
            }
        }
        if let Some(iss) = &cfg.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(iss.as_str()) {
                return None;
            }
        }
        if !cfg.audience.is_empty() {
            let aud: Vec<&str> = match claims.get("aud")? {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => return None,
            };
            // Every configured audience (go-jose's check, which krakend-jose uses).
            if !cfg.audience.iter().all(|want| aud.contains(&want.as_str())) {
                return None;
            }
        }
        Some(claims)
    }

    /// Roles and scopes: exact string matches only; failure is 403.
    fn authorize(&self, claims: &Claims) -> bool {
        let cfg = &self.cfg;
        if !cfg.roles.is_empty() {
            // Roles must be an array of strings (as krakend-jose): `"admin"` is not `["admin"]`.
            let held = cfg.roles_key.as_deref().and_then(|p| at_path(claims, p));
            let Some(Value::Array(held)) = held else {
                return false;
            };
            if !held
                .iter()
                .filter_map(Value::as_str)
                .any(|r| cfg.roles.iter().any(|want| want == r))
            {
                return false;
            }
        }
        if !cfg.scopes.is_empty() {
            let key = cfg.scopes_key.as_deref().unwrap_or_default();
            let path: Vec<String> = key.split('.').map(str::to_owned).collect();
            let held: Vec<&str> = match claims.get(key).or_else(|| at_path(claims, &path)) {
                // OAuth 2.0 `scope`: space-separated.
                Some(Value::String(s)) => s.split_whitespace().collect(),
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => return false,
            };
            let has = |want: &String| held.contains(&want.as_str());
            let ok = match cfg.scopes_matcher {
                ScopesMatcher::Any => cfg.scopes.iter().any(has),
                ScopesMatcher::All => cfg.scopes.iter().all(has),
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// A claim as a header value: text as [`Claims::text`], arrays of scalars joined by `,`,
/// objects as compact JSON.
fn header_value(claims: &Claims, name: &str) -> Option<HeaderValue> {
    let text = match claims.get(name)? {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.as_str().to_owned()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?
            .join(","),
        obj @ Value::Object(_) => obj.to_json(),
        _ => claims.text(name)?.into_owned(),
    };
    HeaderValue::from_str(&text).ok()
}

impl Guard for Validator {
    fn check<'a>(
        &'a self,
        request: &'a http::request::Parts,
        state: &'a mut RequestState,
    ) -> BoxFuture<'a, ControlFlow<Response<Bytes>>> {
        Box::pin(async move {
            let Some(token) = extract(&self.cfg, &request.headers) else {
                return reject(StatusCode::UNAUTHORIZED);
            };
            let Some(claims) = self.authenticate(&token).await else {
                return reject(StatusCode::UNAUTHORIZED);
            };
            // krakend-jose's rejecter: the endpoint's JWT-only CEL expressions, before roles.
            if let Some(cel) = &self.rejecter {
                let vars = Activation::new(self.platform.clock.now_millis()).with_jwt(&claims.0);
                if super::cel::first_refusal(&cel.jwt, &vars).is_some() {
                    return reject(StatusCode::UNAUTHORIZED);
                }
            }
            if !self.authorize(&claims) {
                return reject(StatusCode::FORBIDDEN);
            }
            // The token's value replaces whatever the client sent; a missing claim removes it.
            for (claim, header) in &self.cfg.propagate_claims {
                state
                    .headers
                    .push((header.clone(), header_value(&claims, claim)));
            }
            state.jwt = Some(Arc::new(claims));
            ControlFlow::Continue(())
        })
    }
}

// === impl Signer ===

/// The `auth/signer` layer: replaces each `keys_to_sign` object of the response with its JWS.
pub(crate) fn signer(cfg: Arc<JwtSigner>, next: SharedProxy, platform: &Platform) -> SharedProxy {
    Arc::new(Signer {
        keys: KeyCache::new(cfg.keys.clone(), cfg.alg, platform.clone()),
        cfg,
        next,
    })
}

impl Proxy for Signer {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let mut response = self.next.call(request).await?;
            let fail = || ProxyError::new(ErrorSource::Internal, "cannot sign the response");
            let kid = self.cfg.kid.as_str();
            for name in &self.cfg.keys_to_sign {
                let Some(value) = response.data.get_mut(name) else {
                    continue;
                };
                if !matches!(value, Value::Object(_)) {
                    return Err(fail());
                }
                let keys = self.keys.keys(Some(kid)).await.ok_or_else(fail)?;
                let key = keys.select(Some(kid)).ok_or_else(fail)?;
                let signed =
                    crate::jose::sign_hmac(self.cfg.alg, key, Some(kid), value).ok_or_else(fail)?;
                *value = Value::String(signed);
            }
            Ok(response)
        })
    }
}
