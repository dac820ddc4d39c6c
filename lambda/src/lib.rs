//! AWS Lambda adapter for Manifold: converts API Gateway REST (v1), HTTP API (v2), Function URL
//! and ALB events to `http::Request<Bytes>` for [`Gateway::handle`] and its answer back.
//!
//! Everything a request needs happens in manifold-core, and loading the config too
//! (`manifold_core::config::load`, the file read by `manifold_native::load_file`); this crate
//! only knows the platform: where the client address and the real path are, which bodies must
//! be base64, how big an answer Lambda accepts. The config is embedded and validated at build
//! time (`build.rs`); see docs/lambda.md for deployment, the runtime override and the
//! measurements.

use std::future::{ready, Future};
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use lambda_http::request::{LambdaRequest, RequestContext as EventContext};
use lambda_http::{Body, Error, IntoResponse, RequestExt};
use manifold_core::config::load::{self, LoadError};
use manifold_core::X_KRAKEND_COMPLETED;
use manifold_core::{forwarded_peer, plain, url, Gateway, Platform, RequestContext};

/// The config text embedded at build time, `${VAR}` placeholders already expanded.
pub const EMBEDDED_CONFIG: &str = include_str!(concat!(env!("OUT_DIR"), "/gateway.json"));
/// The file [`EMBEDDED_CONFIG`] was read from (for the cold-start log line).
pub const EMBEDDED_CONFIG_SOURCE: &str = env!("MANIFOLD_EMBEDDED_CONFIG");
/// Runtime override: a config file read at cold start instead of the embedded one.
pub const CONFIG_OVERRIDE_VAR: &str = "MANIFOLD_LAMBDA_CONFIG";
/// Lambda's synchronous response payload limit (6 MB), applied to the encoded JSON answer.
pub const RESPONSE_LIMIT: usize = 6 * 1024 * 1024;
/// ALB's limit on a Lambda target's response JSON, documented as "1 MB"; the decimal reading is
/// the conservative one.
pub const ALB_RESPONSE_LIMIT: usize = 1_000_000;

/// The answer to an event whose path cannot form a URI.
const MALFORMED_PATH: &str = "manifold: malformed request path\n";

/// Which front end sent the event: it decides the answer's shape and size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// API Gateway REST API (payload v1).
    RestApi,
    /// API Gateway HTTP API (payload v2), and Function URLs, which send the same payload.
    HttpApi,
    /// Application Load Balancer.
    Alb,
}

/// A finished Lambda answer whose body is already `Text` or `Binary`. lambda_http would
/// re-decode a `Response<Body>` by its content type (lossy for non-UTF-8 text); this keeps the
/// gateway's bytes exact.
#[derive(Debug)]
pub struct Reply(pub Response<Body>);

// === impl Origin ===

impl Origin {
    /// The origin of a converted event (REST when the context is missing, the most lenient).
    pub fn of(event: &lambda_http::Request) -> Self {
        match event.request_context_ref() {
            Some(EventContext::ApiGatewayV2(_)) => Self::HttpApi,
            Some(EventContext::Alb(_)) => Self::Alb,
            _ => Self::RestApi,
        }
    }

    /// The largest encoded answer this origin accepts.
    pub fn response_limit(self) -> usize {
        match self {
            Self::Alb => ALB_RESPONSE_LIMIT,
            Self::RestApi | Self::HttpApi => RESPONSE_LIMIT,
        }
    }
}

// === impl Reply ===

impl IntoResponse for Reply {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(ready(self.0))
    }
}

/// Build the gateway at cold start from the embedded config, or from the file named by
/// [`CONFIG_OVERRIDE_VAR`] (its placeholders expanded), with the `MANIFOLD_*` root overrides:
/// the core's loader with `lookup` as the environment. Returns where the config came from and
/// the gateway, or why there is none.
pub fn load(
    lookup: &dyn Fn(&str) -> Option<String>,
    platform: Platform,
) -> (String, Result<Gateway, LoadError>) {
    let path = lookup(CONFIG_OVERRIDE_VAR).filter(|p| !p.is_empty());
    let config = match &path {
        Some(path) => manifold_native::load_file(Path::new(path), lookup),
        None => load::load_expanded(EMBEDDED_CONFIG, lookup),
    };
    let source = path.unwrap_or_else(|| EMBEDDED_CONFIG_SOURCE.to_owned());
    (source, config.map(|c| Gateway::new(c, platform)))
}

/// REST v1 events carry every header twice: `multiValueHeaders` (all values) and `headers`
/// (the last value). lambda_http 1.3 merges the second over the first, which drops all but
/// the last value of a repeated header; removing the duplicates first keeps them all. ALB
/// events have the same two fields (one of them empty), so they get the same treatment.
pub fn keep_multi_value_headers(event: &mut LambdaRequest) {
    let (single, multi) = match event {
        LambdaRequest::ApiGatewayV1(e) => (&mut e.headers, &e.multi_value_headers),
        LambdaRequest::Alb(e) => (&mut e.headers, &e.multi_value_headers),
        _ => return,
    };
    for name in multi.keys() {
        single.remove(name);
    }
}

/// lambda_http's conversion panics on a body marked `isBase64Encoded` that is not base64
/// (found by fuzzing): such an event fails the invocation before it. API Gateway and ALB encode
/// bodies themselves, so only a forged or broken event gets here.
pub fn check_base64_body(event: &LambdaRequest) -> Result<(), Error> {
    let (encoded, body) = match event {
        LambdaRequest::ApiGatewayV1(e) => (e.is_base64_encoded, &e.body),
        LambdaRequest::ApiGatewayV2(e) => (e.is_base64_encoded, &e.body),
        LambdaRequest::Alb(e) => (e.is_base64_encoded, &e.body),
        _ => return Ok(()),
    };
    if encoded && body.as_deref().is_some_and(|b| STANDARD.decode(b).is_err()) {
        return Err("the event body is marked isBase64Encoded but is not base64".into());
    }
    Ok(())
}

/// Answer one event: convert, let the gateway handle it, convert back for the event's origin.
pub async fn handle(gateway: Arc<Gateway>, event: lambda_http::Request) -> Result<Reply, Error> {
    let origin = Origin::of(&event);
    let response = match to_core(event) {
        Some((request, context)) => gateway.handle(request, context).await,
        None => plain(StatusCode::BAD_REQUEST, MALFORMED_PATH),
    };
    Ok(Reply(to_lambda(response, origin)))
}

/// The event as the client sent it: the path without API Gateway's stage prefix, the query,
/// headers (cookies included), the decoded body, and the client address (no after-response
/// work: the sandbox freezes once the answer is returned). `None` when the path cannot form a
/// URI.
pub fn to_core(event: lambda_http::Request) -> Option<(http::Request<Bytes>, RequestContext)> {
    let context = RequestContext::new().with_peer(client_ip(&event));
    // raw_http_path() is the event's own path: v1 and ALB never include the stage; an HTTP API
    // on a named stage puts it in rawPath (a `$default` stage and Function URLs do not).
    let mut path = event.raw_http_path();
    if let Some(EventContext::ApiGatewayV2(ctx)) = event.request_context_ref() {
        let stage = ctx.stage.as_deref().filter(|s| *s != "$default");
        let rest = stage.and_then(|s| path.strip_prefix('/')?.strip_prefix(s));
        if let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('/')) {
            path = rest;
        }
    }
    // REST v1 hands the path over decoded: request_target encodes its spaces and the like again.
    let uri = url::request_target(path, event.uri().query())?;
    let (mut parts, body) = event.into_parts();
    parts.uri = uri;
    let request = http::Request::from_parts(parts, Bytes::copy_from_slice(&body));
    Some((request, context))
}

/// The client address from the request context; behind an ALB, which has none, the last
/// `X-Forwarded-For` entry, which the load balancer itself appended.
fn client_ip(event: &lambda_http::Request) -> Option<IpAddr> {
    let text = match event.request_context_ref()? {
        EventContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.as_deref()?,
        EventContext::ApiGatewayV2(ctx) => ctx.http.source_ip.as_deref()?,
        EventContext::Alb(_) => return forwarded_peer(event.headers(), "x-forwarded-for"),
        _ => return None,
    };
    text.trim().parse().ok()
}

/// The gateway's answer as a Lambda answer: UTF-8 bodies as text, anything else base64,
/// headers in a form the origin keeps, and a 502 instead of an answer over the size limit.
pub fn to_lambda(response: Response<Bytes>, origin: Origin) -> Response<Body> {
    let (mut parts, bytes) = response.into_parts();
    parts.headers = lambda_headers(&parts.headers, origin);
    let body = match String::from_utf8(Vec::from(bytes)) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    let (size, limit) = (encoded_size(&parts.headers, &body), origin.response_limit());
    if size > limit {
        let message = format!(
            "manifold: the response is {size} bytes once encoded for AWS Lambda, above the \
             platform limit of {limit} bytes; filter the backend response (deny/allow, \
             mapping) or serve this endpoint from the native server\n"
        );
        let mut reply = plain(StatusCode::BAD_GATEWAY, message);
        let incomplete = HeaderValue::from_static("false");
        reply.headers_mut().insert(X_KRAKEND_COMPLETED, incomplete);
        return to_lambda(reply, origin);
    }
    Response::from_parts(parts, body)
}

/// Headers as the origin can carry them. lambda_http fails the whole invocation on a value
/// that is not UTF-8, so such values are dropped; the v2 payload has one string per header
/// and lambda_http 1.3 keeps only the first, so repeats are comma-joined (RFC 9110 §5.3;
/// Set-Cookie travels apart, in `cookies`).
fn lambda_headers(headers: &HeaderMap, origin: Origin) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for name in headers.keys() {
        let utf8 = |v: &&HeaderValue| std::str::from_utf8(v.as_bytes()).is_ok();
        let values: Vec<&HeaderValue> = headers.get_all(name).iter().filter(utf8).collect();
        if origin == Origin::HttpApi && name != SET_COOKIE && values.len() > 1 {
            let joined = values.iter().map(|v| v.as_bytes()).collect::<Vec<_>>();
            let joined = HeaderValue::from_bytes(&joined.join(&b", "[..]));
            out.extend(joined.map(|value| (name.clone(), value)));
        } else {
            out.extend(values.into_iter().map(|v| (name.clone(), v.clone())));
        }
    }
    out
}

/// An upper bound of the JSON Lambda serialises: headers counted twice (ALB sends both
/// `headers` and `multiValueHeaders`), the body exactly as it goes out (JSON-escaped text or
/// base64), plus the fixed keys.
fn encoded_size(headers: &HeaderMap, body: &Body) -> usize {
    let each = |(name, value): (&HeaderName, &HeaderValue)| name.as_str().len() + value.len() + 8;
    let header_bytes: usize = headers.iter().map(each).sum();
    let body_bytes = serde_json::to_vec(body).map_or(usize::MAX, |json| json.len());
    (2 * header_bytes + 256).saturating_add(body_bytes)
}
