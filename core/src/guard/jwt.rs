//! `auth/validator`: the JWT guard of an endpoint (krakend-jose's validator).
//!
//! Every rejection is an empty 401 (no, bad or expired token) or 403 (valid token, missing
//! role or scope). Reasons are never sent to the client and the token is never logged.

use crate::config::capability::when;
use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::jwks::KeyCache;
use super::{Claims, GuardState, Inbound};
use crate::cel::Activation;
use crate::config::extra::{CelChecks, JwtValidator, ScopesMatcher};
#[cfg(feature = "jwt-platform")]
use crate::jose::Key;
use crate::jose::Token;
use crate::json::Value;
use crate::platform::Platform;

/// Largest `exp`/`nbf`/`iat` accepted (9999-12-31T23:59:59Z); beyond is a malformed token.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// The `auth/validator` guard of one endpoint.
pub(crate) struct Validator {
    cfg: Arc<JwtValidator>,
    /// The endpoint's `validation/cel`, when it has JWT-only expressions.
    rejecter: Option<Arc<CelChecks>>,
    keys: KeyCache,
    platform: Platform,
}

fn reject(status: StatusCode) -> ControlFlow<Response<Bytes>> {
    ControlFlow::Break(crate::http_util::empty(status))
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
    let x = crate::float::parse(n.as_str())?;
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

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("alg", &self.cfg.alg)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// The guard for `cfg`, with the endpoint's JWT-only CEL expressions (krakend-jose's
    /// rejecter).
    pub(crate) fn new(
        cfg: Arc<JwtValidator>,
        cel: Option<Arc<CelChecks>>,
        platform: &Platform,
    ) -> Self {
        Self {
            rejecter: cel.filter(|c| !c.jwt.is_empty()),
            keys: KeyCache::new(cfg.keys.clone(), cfg.alg, platform.clone()),
            cfg,
            platform: platform.clone(),
        }
    }

    /// Checkpoint: 401 without a valid token, 403 without the roles or scopes; a token that
    /// passes hands its claims (and the propagated headers) to the request.
    pub(crate) async fn check(
        &self,
        req: &Inbound<'_>,
        state: &mut GuardState,
    ) -> ControlFlow<Response<Bytes>> {
        let Some(token) = extract(&self.cfg, &req.parts.headers) else {
            return reject(StatusCode::UNAUTHORIZED);
        };
        let Some(claims) = self.authenticate(&token).await else {
            return reject(StatusCode::UNAUTHORIZED);
        };
        // krakend-jose's rejecter: the endpoint's JWT-only CEL expressions, before roles.
        // Behind the `cel` feature (config::capability): no feature, no CEL code here; the
        // loader refused a config with expressions then.
        if let Some(cel) = when(cfg!(feature = "cel"), self.rejecter.as_ref()) {
            let vars = Activation::new(self.platform.clock.now_millis()).with_jwt(&claims.0);
            if cel.jwt.iter().any(|p| !p.check(&vars)) {
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
    }

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
        let verified = match key {
            #[cfg(feature = "jwt-platform")]
            Key::Platform(key) => {
                let (input, signature) = token.signed();
                let port = self.platform.signatures.as_ref()?;
                let verify = port.verify(cfg.alg, key, input, signature);
                verify.await.then(|| token.into_verified())?
            }
            _ => token.verify_with(cfg.alg, key).ok()?,
        };
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
                Value::String(s) => Some(s.to_string()),
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

/// The platform's signature port on the validator's path: the families a build leaves to the
/// platform (here EdDSA) are verified by `Platform::signatures`, after the same header checks.
#[cfg(all(test, feature = "jwt-platform", not(feature = "jwt-eddsa")))]
mod platform_tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use bytes::Bytes;

    use crate::guard::testing::World;
    use crate::jose::{Alg, PlatformKey};
    use crate::platform::{BoxFuture, Platform, Signatures};
    use crate::{Gateway, RequestContext};

    /// What the port was asked: algorithm, key, signing input, signature.
    type Asked = (Alg, PlatformKey, Vec<u8>, Vec<u8>);

    /// A port that answers `verdict` and records what it was asked.
    #[derive(Default)]
    struct Recording {
        verdict: bool,
        asked: Mutex<Vec<Asked>>,
    }

    impl Signatures for Recording {
        fn verify(
            &self,
            alg: Alg,
            key: &PlatformKey,
            input: &[u8],
            signature: &[u8],
        ) -> BoxFuture<'static, bool> {
            let asked = (alg, key.clone(), input.to_vec(), signature.to_vec());
            self.asked.lock().unwrap().push(asked);
            let verdict = self.verdict;
            Box::pin(async move { verdict })
        }
    }

    const X: [u8; 32] = [7; 32];

    fn gateway(port: Option<Arc<Recording>>) -> Gateway {
        let x = URL_SAFE_NO_PAD.encode(X);
        let config = format!(
            r#"{{"version":3,"host":["http://b.internal"],"endpoints":[{{"endpoint":"/a",
            "backend":[{{"url_pattern":"/x"}}],"extra_config":{{"auth/validator":{{"alg":"EdDSA",
            "jwk_keys":{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","use":"sig","x":"{x}="}}]}}}}}}}}]}}"#
        );
        let world = Arc::new(World::default());
        let mut platform = Platform::new(world.clone(), world.clone(), world);
        if let Some(port) = port {
            platform = platform.with_signatures(port);
        }
        Gateway::from_json(&config, platform).unwrap()
    }

    fn token(alg: &str) -> (String, String, Vec<u8>) {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"k1"}}"#));
        let claims = URL_SAFE_NO_PAD.encode(r#"{"exp":4102444800,"sub":"u"}"#);
        let input = format!("{header}.{claims}");
        let signature: Vec<u8> = (0..64).collect();
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&signature));
        (token, input, signature)
    }

    fn status(gateway: &Gateway, token: &str) -> u16 {
        let request = http::Request::get("/a")
            .header("Authorization", format!("Bearer {token}"))
            .body(Bytes::new())
            .unwrap();
        let answer = gateway.handle(request, RequestContext::new());
        futures_executor::block_on(answer).status().as_u16()
    }

    #[test]
    fn the_port_verifies_the_signing_input_with_the_rebuilt_key() {
        let port = Arc::new(Recording {
            verdict: true,
            ..Recording::default()
        });
        let (token, input, signature) = token("EdDSA");
        assert_eq!(status(&gateway(Some(port.clone())), &token), 200);
        let asked = port.asked.lock().unwrap();
        let key = format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(X)
        );
        assert_eq!(
            *asked,
            [(
                Alg::EdDSA,
                PlatformKey(key.into()),
                input.into_bytes(),
                signature
            )]
        );
    }

    #[test]
    fn a_signature_the_port_refuses_is_401() {
        let port = Arc::new(Recording::default());
        assert_eq!(status(&gateway(Some(port.clone())), &token("EdDSA").0), 401);
        assert_eq!(port.asked.lock().unwrap().len(), 1);
    }

    #[test]
    fn without_a_port_no_platform_key_verifies() {
        assert_eq!(status(&gateway(None), &token("EdDSA").0), 401);
    }

    #[test]
    fn another_algorithm_is_refused_before_the_port_is_asked() {
        let port = Arc::new(Recording {
            verdict: true,
            ..Recording::default()
        });
        for alg in ["HS256", "none", "RS256"] {
            assert_eq!(status(&gateway(Some(port.clone())), &token(alg).0), 401);
        }
        assert!(port.asked.lock().unwrap().is_empty());
    }
}
