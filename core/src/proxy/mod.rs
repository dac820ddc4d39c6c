//! The pipeline vocabulary, after lura: one small [`Proxy`] contract (request in, response or
//! error out), middlewares that take N next proxies, and [`stack`], the one place where the
//! order of the stack is written down.

mod backend;
mod cel;
mod circuit_breaker;
mod concurrent;
mod deadline;
mod error_details;
mod flatmap;
mod http_cache;
mod json_schema;
pub(crate) mod jwt;
mod merge;
mod ratelimit;
mod redirect;
mod sequential;
mod shadow;
mod shape;
pub(crate) mod stack;
mod static_response;

pub use circuit_breaker::{OPEN_STATE, TOO_MANY_REQUESTS};
pub use concurrent::CONCURRENT_TIMEOUT_PERCENT;
pub use http_cache::{CacheStore, CachedResponse, MemoryCache};
pub use jwt::{MIN_REFETCH, RETRY_WITHOUT_KEYS};
pub use merge::MERGE_TIMEOUT_PERCENT;
pub use ratelimit::RATE_LIMITED;
pub use redirect::MAX_REDIRECTS;
pub use stack::DEFAULT_MAX_BACKEND_BODY;

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::json::{Map, Value};
use crate::platform::{BoxFuture, MaybeSend, MaybeSync, RequestContext};

/// Message of a deadline error (KrakenD's text).
pub const DEADLINE_EXCEEDED: &str = "context deadline exceeded";

/// Request in, response or error out. Implemented by the HTTP backend and by every middleware.
pub trait Proxy: MaybeSend + MaybeSync {
    /// Handle one request.
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>>;
}

/// A proxy shared between the stacks that call it.
pub type SharedProxy = Arc<dyn Proxy>;

/// What flows down the pipeline: the client's request after endpoint-level filtering.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// The endpoint's method.
    pub method: Method,
    /// The client's request path (what CEL's `req_path` reads).
    pub path: Arc<str>,
    /// Endpoint path parameters (names as declared, decoded and checked values).
    pub params: Arc<[(String, String)]>,
    /// Client query parameters that passed `input_query_strings`, in request order.
    pub query: Arc<[(String, String)]>,
    /// Client headers that passed `input_headers`, plus the forwarding headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// Sequential endpoints: the formatted data of the backends already called, by position
    /// (what `{resp<N>_<path>}` reads). Empty otherwise.
    pub previous: Arc<[Arc<Map>]>,
    /// Wildcard endpoints (`/api/*`, a Manifold extension): the rest of the client's path,
    /// already checked and re-encoded segment by segment; appended to the backend path.
    pub rest: Option<String>,
    /// The claims of the token `auth/validator` accepted (what `{JWT.claim}` reads).
    pub jwt: Option<Arc<Claims>>,
    /// The platform's per-request handles (client address, after-response work).
    pub context: RequestContext,
}

/// The payload of a validated JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims(pub Map);

/// Typed per-request state that the guards hand to the proxy stack.
#[derive(Debug, Clone, Default)]
pub struct RequestState {
    /// Set by `auth/validator`.
    pub jwt: Option<Arc<Claims>>,
    /// Headers a guard sets on the client's request (propagated claims): they replace the
    /// client's own values (`None` removes it), then go through the endpoint's
    /// `input_headers` like any other.
    pub headers: Vec<(http::HeaderName, Option<http::HeaderValue>)>,
}

/// A check that runs before the endpoint handler (KrakenD's gin middlewares: bot detector,
/// JWT, rate limit) on the client's own request. `Break` answers the client directly, without
/// the `X-Krakend*` headers; `Continue` lets the request through, possibly changed.
pub trait Guard: MaybeSend + MaybeSync {
    /// Check (and possibly adjust) one client request.
    fn check<'a>(
        &'a self,
        request: &'a http::request::Parts,
        state: &'a mut RequestState,
    ) -> BoxFuture<'a, ControlFlow<Response<Bytes>>>;
}

/// A guard shared by the requests of one endpoint.
pub type SharedGuard = Arc<dyn Guard>;

// === impl Claims ===

impl Claims {
    /// The claim named exactly `name` (names may contain `.`, `:` and `/`).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A claim as text for URLs and headers: strings as they are, numbers as written
    /// (`1234`, never `1234.000000`), booleans; `None` for null, arrays and objects.
    pub fn text(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
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

/// What flows back up: decoded, shaped data plus completeness.
#[derive(Debug, Clone, Default)]
pub struct ProxyResponse {
    /// The response object (merged and filtered).
    pub data: Map,
    /// Every backend answered successfully and completely.
    pub is_complete: bool,
    /// Some backend failed and the response is what the others gave (lura returns the error
    /// next to the partial response; the static strategies look at it).
    pub errored: bool,
    /// For `no-op` backends: the backend's answer, untouched.
    pub raw: Option<RawResponse>,
}

/// A backend answer passed through byte-for-byte (`no-op`).
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The backend's status.
    pub status: StatusCode,
    /// The backend's headers (several `Set-Cookie` included).
    pub headers: HeaderMap,
    /// The backend's body.
    pub body: Bytes,
}

/// Whose fault an error is; decides status codes and logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// A backend failed (status, body, transport).
    Backend,
    /// A deadline passed.
    Timeout,
    /// The gateway could not do its job (a URL could not be built, ...).
    Internal,
    /// The client's request was refused by a validation step (`validation/json-schema`): 400.
    Request,
}

/// A failed call, with what `return_error_code`/`return_error_details` need.
#[derive(Debug, Clone)]
pub struct ProxyError {
    /// Whose fault it is.
    pub source: ErrorSource,
    /// The error text (`router.return_error_msg` shows it to the client).
    pub message: String,
    /// The backend's status, when it answered with a non-success status.
    pub status: Option<StatusCode>,
    /// The backend's body, when it answered.
    pub body: Bytes,
    /// The backend's `Content-Type`, when it answered.
    pub content_type: Option<HeaderValue>,
}

// === impl ProxyError ===

impl ProxyError {
    /// An error without a backend answer.
    pub fn new(source: ErrorSource, message: impl Into<String>) -> Self {
        Self {
            source,
            message: message.into(),
            status: None,
            body: Bytes::new(),
            content_type: None,
        }
    }

    /// A deadline error.
    pub fn timeout() -> Self {
        Self::new(ErrorSource::Timeout, DEADLINE_EXCEEDED)
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProxyError {}

/// A proxy made from a closure (tests, small adapters); lura's `FactoryFunc`.
pub fn proxy_fn<F>(f: F) -> SharedProxy
where
    F: Fn(ProxyRequest) -> BoxFuture<'static, Result<ProxyResponse, ProxyError>>
        + MaybeSend
        + MaybeSync
        + 'static,
{
    struct FnProxy<F>(F);
    impl<F> Proxy for FnProxy<F>
    where
        F: Fn(ProxyRequest) -> BoxFuture<'static, Result<ProxyResponse, ProxyError>>
            + MaybeSend
            + MaybeSync,
    {
        fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
            (self.0)(request)
        }
    }
    Arc::new(FnProxy(f))
}
