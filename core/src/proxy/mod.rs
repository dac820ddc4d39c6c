//! The pipeline vocabulary, after lura: one small [`Proxy`] contract (request in, response or
//! error out), middlewares that take N next proxies, and [`stack`], the one place where the
//! order of the stack is written down.

mod backend;
mod cel;
mod circuit_breaker;
mod client_credentials;
mod concurrent;
mod deadline;
// Without `dns-sd` no backend has a discovery (`HttpBackend::new`) and the lookup's arm is
// compiled out, which leaves the rest of the module unused.
#[cfg_attr(not(feature = "dns-sd"), allow(dead_code))]
mod discovery;
mod error_details;
mod failure;
mod flatmap;
mod graphql;
mod http_cache;
mod json_schema;
mod lambda;
mod martian;
mod merge;
mod problem;
mod ratelimit;
mod redirect;
mod sequential;
mod shadow;
mod shape;
mod signer;
mod sigv4;
pub(crate) mod stack;
mod static_response;
mod stream;
#[cfg(test)]
mod testing;
pub(crate) mod websocket;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::guard::Claims;
use crate::json::{Encoded, Map};
use crate::platform::{BoxFuture, MaybeSend, MaybeSync, RequestContext};

/// Message of a deadline error (KrakenD's text).
pub(crate) const DEADLINE_EXCEEDED: &str = "context deadline exceeded";

/// Request in, response or error out. Implemented by the HTTP backend and by every middleware.
pub(crate) trait Proxy: MaybeSend + MaybeSync {
    /// Handle one request.
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>>;
}

/// A proxy shared between the stacks that call it.
pub(crate) type SharedProxy = Arc<dyn Proxy>;

/// What flows down the pipeline: the client's request after endpoint-level filtering.
#[derive(Debug, Clone)]
pub(crate) struct ProxyRequest {
    /// The endpoint's method.
    pub(crate) method: Method,
    /// The client's request target; its `path()` is what CEL's `req_path` reads. Shares the
    /// request's text (a copy of the path cost an allocation per request).
    pub(crate) target: PathAndQuery,
    /// Endpoint path parameters (names as declared, decoded and checked values).
    pub(crate) params: Arc<[(String, String)]>,
    /// Client query parameters that passed `input_query_strings`, in request order.
    pub(crate) query: Arc<[(String, String)]>,
    /// Client headers that passed `input_headers`, plus the forwarding headers. Shared: a
    /// merge clones the request once per backend, and none of them changes it.
    pub(crate) headers: Arc<HeaderMap>,
    /// The request body.
    pub(crate) body: Bytes,
    /// Sequential endpoints: the formatted data of the backends already called, by position
    /// (what `{resp<N>_<path>}` reads). Empty otherwise.
    pub(crate) previous: Arc<[Arc<Map>]>,
    /// Wildcard endpoints (`/api/*`, a Manifold extension): the rest of the client's path,
    /// already checked and re-encoded segment by segment; appended to the backend path.
    pub(crate) rest: Option<String>,
    /// The claims of the token `auth/validator` accepted (what `{JWT.claim}` reads).
    pub(crate) jwt: Option<Arc<Claims>>,
    /// The platform's per-request handles (client address, after-response work).
    pub(crate) context: RequestContext,
}

/// What flows back up: decoded, shaped data plus completeness.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxyResponse {
    /// The response object (merged and filtered).
    pub(crate) data: Map,
    /// Every backend answered successfully and completely.
    pub(crate) is_complete: bool,
    /// Some backend failed and the response is what the others gave (lura returns the error
    /// next to the partial response; the static strategies look at it).
    pub(crate) errored: bool,
    /// For `no-op` backends: the backend's answer, untouched.
    pub(crate) raw: Option<RawResponse>,
    /// The answer already written as JSON (`data` is then empty): a backend answer that is
    /// only filtered, grouped and merged is transcoded, not decoded ([`json::transcode`];
    /// `stack::transcoding` decides).
    ///
    /// [`json::transcode`]: crate::json::transcode
    pub(crate) json: Option<Encoded>,
    /// Bytes of the backend bodies `data` was decoded from: the JSON written back is about as
    /// long, so render sizes its buffer once instead of doubling it from empty (scenario c: a
    /// dozen reallocations and 128 KB of copies per 100 KB answer).
    pub(crate) size_hint: usize,
}

/// A backend answer passed through byte-for-byte (`no-op`).
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    /// The backend's status.
    pub(crate) status: StatusCode,
    /// The backend's headers (several `Set-Cookie` included).
    pub(crate) headers: HeaderMap,
    /// The backend's body (empty when `streamed`).
    pub(crate) body: Bytes,
    /// The body streams to the client (`stream`): it waits in the request's stream slot.
    pub(crate) streamed: bool,
}

/// Whose fault an error is; decides status codes and logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorSource {
    /// A backend failed (status, body, transport).
    Backend,
    /// A deadline passed.
    Timeout,
    /// The gateway could not do its job (a URL could not be built, ...).
    Internal,
    /// The client's request was refused by a validation step (`validation/json-schema`): 400.
    Request,
    /// A required backend failed (`manifold/failure`): the error's status (500 without one)
    /// and body are the endpoint's answer.
    Required,
}

/// A failed call, with what `return_error_code`/`return_error_details` need.
#[derive(Debug, Clone)]
pub(crate) struct ProxyError {
    /// Whose fault it is.
    pub(crate) source: ErrorSource,
    /// The error text (`router.return_error_msg` shows it to the client).
    pub(crate) message: String,
    /// The backend's status, when it answered with a non-success status.
    pub(crate) status: Option<StatusCode>,
    /// The backend's body, when it answered.
    pub(crate) body: Bytes,
    /// The backend's `Content-Type`, when it answered.
    pub(crate) content_type: Option<HeaderValue>,
}

// === impl ProxyError ===

impl ProxyError {
    /// An error without a backend answer.
    pub(crate) fn new(source: ErrorSource, message: impl Into<String>) -> Self {
        Self {
            source,
            message: message.into(),
            status: None,
            body: Bytes::new(),
            content_type: None,
        }
    }

    /// A deadline error.
    pub(crate) fn timeout() -> Self {
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
pub(crate) fn proxy_fn<F>(f: F) -> SharedProxy
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
