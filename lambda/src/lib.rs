//! AWS Lambda adapter for Manifold: converts API Gateway REST (v1), HTTP API (v2), Function URL
//! and ALB events to `http::Request<Bytes>` for [`Gateway::handle`] and its answer back.
//!
//! Everything a request needs happens in manifold-core, and loading the config too
//! (`manifold_core::config::load`, the file read by `manifold_native::load_file`); this crate
//! only knows the platform: where the client address and the real path are, which bodies must
//! be base64, how big an answer Lambda accepts. The config is embedded and validated at build
//! time (`build.rs`); see docs/lambda.md for deployment, the runtime override and the
//! measurements.

use std::{future::ready, future::Future, net::IpAddr, pin::Pin, sync::Arc};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use lambda_http::request::{LambdaRequest, RequestContext as EventContext};
use lambda_http::{Body, Error, IntoResponse, RequestExt};
use manifold_core::{forwarded_peer, over_limit, plain, url, whole_body, Gateway, RequestContext};

/// The config text embedded at build time: `${VAR}` placeholders already expanded, run-time
/// `${env:NAME}` ones left for the cold start, which resolves them from the function's
/// environment (`manifold_native::load_or_embedded`), so no secret is in the `bootstrap`.
pub const EMBEDDED_CONFIG: &str = include_str!(concat!(env!("OUT_DIR"), "/gateway.json"));
/// The file [`EMBEDDED_CONFIG`] was read from (for the cold-start log line).
pub const EMBEDDED_CONFIG_SOURCE: &str = env!("MANIFOLD_EMBEDDED_CONFIG");
/// The embedded config with its source, as `manifold_native::load_or_embedded` takes it.
pub const EMBEDDED: (&str, &str) = (EMBEDDED_CONFIG, EMBEDDED_CONFIG_SOURCE);
/// Runtime override: a config file read at cold start instead of the embedded one.
pub const CONFIG_OVERRIDE_VAR: &str = "MANIFOLD_LAMBDA_CONFIG";
/// Lambda's synchronous response payload limit (6 MB), applied to the encoded JSON answer.
pub const RESPONSE_LIMIT: usize = 6 * 1024 * 1024;
/// ALB's limit on a Lambda target's response JSON, documented as "1 MB"; the decimal reading is
/// the conservative one.
pub const ALB_RESPONSE_LIMIT: usize = 1_000_000;

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

/// The answer to an event whose path cannot form a URI.
const MALFORMED_PATH: &str = "manifold: malformed request path\n";

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
}

// === impl Reply ===

impl IntoResponse for Reply {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(ready(self.0))
    }
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

/// Answer one event: convert, let the gateway apply the request limits and handle it,
/// compress as `manifold/compression` says (API Gateway HTTP APIs and Function URLs do not),
/// convert back for the event's origin.
pub async fn handle(gateway: Arc<Gateway>, event: lambda_http::Request) -> Result<Reply, Error> {
    let accepts = manifold_native::accepts(gateway.config(), &event);
    let origin = Origin::of(&event);
    let response = match to_core(event) {
        Some((request, context)) => gateway.serve(request.map(whole_body), context).await,
        None => plain(StatusCode::BAD_REQUEST, MALFORMED_PATH),
    };
    let response = manifold_native::compress(gateway.config(), &accepts, response);
    Ok(Reply(to_lambda(response, origin)))
}

/// The event as the client sent it: the path without API Gateway's stage prefix, the query,
/// headers (cookies included), the decoded body; the client address and scheme (API Gateway
/// and Function URLs are HTTPS-only, an ALB says in `X-Forwarded-Proto`, which it sets itself).
/// No after-response work: the sandbox freezes once the answer is returned. `None` when the
/// path cannot form a URI.
pub fn to_core(event: lambda_http::Request) -> Option<(http::Request<Bytes>, RequestContext)> {
    let proto = event.headers().get("x-forwarded-proto");
    let https = Origin::of(&event) != Origin::Alb || proto.is_some_and(|p| p == "https");
    let context = RequestContext::new().with_https(https);
    let context = context.with_peer(client_ip(&event));
    // raw_http_path() is the event's own path: v1 and ALB never include the stage; an HTTP API
    // on a named stage puts it in rawPath (a `$default` stage and Function URLs do not).
    let mut path = event.raw_http_path();
    if let Some(EventContext::ApiGatewayV2(ctx)) = event.request_context_ref() {
        let stage = ctx.stage.as_deref().filter(|s| *s != "$default");
        let rest = stage.and_then(|s| path.strip_prefix('/')?.strip_prefix(s));
        path = rest
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .unwrap_or(path);
    }
    // REST v1 hands the path over decoded: request_target encodes its spaces and the like again.
    let uri = url::request_target(path, event.uri().query())?;
    let (mut parts, body) = event.into_parts();
    parts.uri = uri;
    Some((
        http::Request::from_parts(parts, Bytes::from(body.to_vec())),
        context,
    ))
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
    let alb = Some(ALB_RESPONSE_LIMIT).filter(|_| origin == Origin::Alb);
    let limit = alb.unwrap_or(RESPONSE_LIMIT);
    match over_limit(encoded_size(&parts.headers, &body), limit, "AWS Lambda") {
        Some(answer) => to_lambda(answer, origin),
        None => Response::from_parts(parts, body),
    }
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
        if origin == Origin::HttpApi && name != http::header::SET_COOKIE && values.len() > 1 {
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
