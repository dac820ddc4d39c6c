//! Guards: the checks that answer a client before (or instead of) the endpoint's proxy —
//! KrakenD's gin middlewares. One shape for all of them: [`Guard::check`] runs on the way in
//! and either answers now (`Break`, an answer without the `X-Krakend` headers) or lets the
//! request through, possibly leaving something in the [`GuardState`]; [`Guard::finish`] runs
//! on the way out over whatever answer came back, innermost guard first. Which guards run,
//! and in which order, is written down in `crate::pipeline`.

// A guard compiled out (config::capability) leaves its code unused; the default build, where
// clippy runs, still reports dead code.
#[cfg_attr(not(feature = "api-keys"), allow(dead_code))]
pub(crate) mod api_keys;
pub(crate) mod bot_detector;
#[cfg_attr(not(feature = "ratelimit"), allow(dead_code))]
pub(crate) mod client_ip;
pub(crate) mod cors;
pub(crate) mod jwks;
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) mod jwt;
#[cfg_attr(not(feature = "ratelimit"), allow(dead_code))]
pub(crate) mod ratelimit;
pub(crate) mod secure;
#[cfg_attr(not(feature = "api-keys"), allow(dead_code))]
pub(crate) mod stored_keys;
// Used by the tests of the capabilities a build has (API keys with Redis, platform signatures).
#[cfg(test)]
#[cfg_attr(
    not(any(all(feature = "api-keys", feature = "redis"), feature = "jwt-platform")),
    allow(dead_code)
)]
mod testing;

use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response};

use crate::json::{Map, Value};
use crate::platform::RequestContext;
use crate::url::Params;

/// What a guard sees of one request: the client's head, the routed parameters (decoded and
/// checked, see [`Params`]; none before routing) and the platform's per-request context.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(all(feature = "jwt", feature = "api-keys", feature = "ratelimit")),
    allow(dead_code)
)]
pub(crate) struct Inbound<'a> {
    /// The client's request line and headers.
    pub(crate) parts: &'a Parts,
    /// The endpoint's path parameters.
    pub(crate) params: &'a Params,
    /// Peer address and platform handles.
    pub(crate) context: &'a RequestContext,
}

/// What guards hand on: to the guards after them, to the request building, and to their own
/// `finish`.
#[derive(Debug, Default)]
#[cfg_attr(
    not(all(feature = "jwt", feature = "api-keys", feature = "ratelimit")),
    allow(dead_code)
)]
pub(crate) struct GuardState {
    /// Set by `auth/validator`.
    pub(crate) jwt: Option<Arc<Claims>>,
    /// Headers a guard sets on the client's request (propagated claims): they replace the
    /// client's own values (`None` removes it), then go through the endpoint's
    /// `input_headers` like any other.
    pub(crate) headers: Vec<(HeaderName, Option<HeaderValue>)>,
    /// The CORS headers every answer gets on the way out.
    pub(crate) cors: HeaderMap,
    /// Set by `auth/api-keys`: the identity of the request's key (never the key).
    pub(crate) api_key: Option<Arc<str>>,
    /// The bucket closest to empty, for the opt-in `RateLimit-*` headers.
    pub(crate) ratelimit: Option<ratelimit::Quota>,
}

/// The payload of a validated JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Claims(pub(crate) Map);

/// One check around a handler.
#[derive(Debug)]
#[cfg_attr(
    not(all(feature = "jwt", feature = "api-keys", feature = "ratelimit")),
    allow(dead_code)
)]
pub(crate) enum Guard {
    /// `security/cors`: answers preflights, adds the CORS headers to every answer.
    Cors(cors::Policy),
    /// `security/http`: host allow-list and HTTPS redirect in, security headers out.
    Secure(secure::Secure),
    /// `security/bot-detector`: 403 for a bot.
    Bots(bot_detector::Detector),
    /// `auth/validator`: 401/403, claims for the request.
    Jwt(Box<jwt::Validator>),
    /// `auth/api-keys`: 401/403, the key's identity for rate limits.
    ApiKeys(api_keys::ApiKeyGuard),
    /// `qos/ratelimit/router` (and its Redis forms): 429 for a client over its rate, 503
    /// for the endpoint; `RateLimit-*` headers out when asked for.
    RateLimit(Box<ratelimit::Limiter>),
}

/// Guards in the order they run, outermost first.
#[derive(Debug, Default)]
pub(crate) struct Guards(Vec<Guard>);

// === impl Claims ===

impl Claims {
    /// The claim named exactly `name` (names may contain `.`, `:` and `/`).
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A claim as text for URLs and headers: strings as they are, numbers as written
    /// (`1234`, never `1234.000000`), booleans; `None` for null, arrays and objects.
    pub(crate) fn text(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        match self.get(name)? {
            Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
            Value::Number(n) => Some(std::borrow::Cow::Borrowed(n.as_str())),
            Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
                "true"
            } else {
                "false"
            })),
            _ => None,
        }
    }
}

// === impl Guard ===

impl Guard {
    /// On the way in: answer now, or let the request through.
    async fn check(
        &self,
        req: &Inbound<'_>,
        state: &mut GuardState,
    ) -> ControlFlow<Response<Bytes>> {
        match self {
            Self::Cors(policy) => {
                state.cors = policy.check(req.parts)?;
                ControlFlow::Continue(())
            }
            Self::Secure(secure) => secure.check(req),
            // Behind its cargo feature (config::capability): without it the loader refuses a
            // config with a detector, so none is built; were one built, it refuses (fails closed).
            Self::Bots(detector) if cfg!(feature = "bot-detector") => detector.check(req.parts),
            Self::Bots(_) => ControlFlow::Break(crate::http_util::plain(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "security/bot-detector: not in this build\n",
            )),
            // `#[cfg]` as well as the guard: an `.await` is a state of this future whose resume
            // code is linked even when the arm cannot be entered (the state is read back from
            // memory), so only removing the arm keeps the guard's code out of the module.
            #[cfg(feature = "jwt")]
            Self::Jwt(validator) if cfg!(feature = "jwt") => validator.check(req, state).await,
            #[cfg(feature = "api-keys")]
            Self::ApiKeys(guard) if cfg!(feature = "api-keys") => guard.check(req, state).await,
            #[cfg(feature = "ratelimit")]
            Self::RateLimit(limiter) if cfg!(feature = "ratelimit") => {
                limiter.check(req, state).await
            }
            Self::Jwt(_) | Self::ApiKeys(_) | Self::RateLimit(_) => {
                ControlFlow::Break(crate::http_util::plain(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "guard not in this build\n",
                ))
            }
        }
    }

    /// On the way out, over the answer of everything inside this guard.
    fn finish(&self, req: &Inbound<'_>, state: &mut GuardState, response: &mut Response<Bytes>) {
        match self {
            Self::Cors(_) => cors::apply(std::mem::take(&mut state.cors), response),
            Self::Secure(secure) => secure.decorate(req, response),
            Self::RateLimit(limiter) if cfg!(feature = "ratelimit") => {
                limiter.finish(state, response);
            }
            Self::RateLimit(_) | Self::Bots(_) | Self::Jwt(_) | Self::ApiKeys(_) => {}
        }
    }
}

// === impl Guards ===

impl Guards {
    /// The guards that are configured, in the order given.
    pub(crate) fn new(guards: impl IntoIterator<Item = Option<Guard>>) -> Self {
        Self(guards.into_iter().flatten().collect())
    }

    /// Every guard's check, outermost first. On `Break`, the guards already passed finish the
    /// answer (innermost first), as they would any other.
    pub(crate) async fn check(
        &self,
        req: &Inbound<'_>,
        state: &mut GuardState,
    ) -> ControlFlow<Response<Bytes>> {
        for (i, guard) in self.0.iter().enumerate() {
            if let ControlFlow::Break(mut response) = guard.check(req, state).await {
                finish(&self.0[..i], req, state, &mut response);
                return ControlFlow::Break(response);
            }
        }
        ControlFlow::Continue(())
    }

    /// Every guard's finish over the inner handler's answer, innermost first.
    pub(crate) fn finish(
        &self,
        req: &Inbound<'_>,
        state: &mut GuardState,
        response: &mut Response<Bytes>,
    ) {
        finish(&self.0, req, state, response);
    }
}

fn finish(
    guards: &[Guard],
    req: &Inbound<'_>,
    state: &mut GuardState,
    response: &mut Response<Bytes>,
) {
    for guard in guards.iter().rev() {
        guard.finish(req, state, response);
    }
}
