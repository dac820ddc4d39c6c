//! AWS Lambda adapter for Manifold: converts API Gateway REST (v1), HTTP API (v2), Function URL
//! and ALB events to `http::Request<Bytes>` for [`Gateway::handle`] and its answer back.
//!
//! Everything a request needs happens in manifold-core; this crate only knows the platform:
//! where the client address and the real path are, which bodies must be base64, how big an
//! answer Lambda accepts. The config is embedded and validated at build time (`build.rs`);
//! see docs/lambda.md for deployment, the runtime override and the measurements.

use std::fmt;
use std::future::{ready, Future};
use std::net::IpAddr;
use std::pin::Pin;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri};
use lambda_http::request::{LambdaRequest, RequestContext as EventContext};
use lambda_http::{Body, IntoResponse, RequestExt};
use manifold_core::config::env::{self, EnvError};
use manifold_core::{ConfigErrors, Gateway, Platform, RequestContext, X_KRAKEND_COMPLETED};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

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

/// Characters an event's path may hold that a URI path must not (WHATWG's path percent-encode
/// set plus `|`, `\`, `^`). `%` is not in it: escapes the client sent stay as they are, while
/// REST v1, which hands the path over decoded, gets its spaces and the like encoded again.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^');

/// Why the gateway could not be built at cold start.
#[derive(Debug)]
pub enum InitError {
    /// The override file named by [`CONFIG_OVERRIDE_VAR`] could not be read.
    Unreadable(String, std::io::Error),
    /// A `${VAR}` placeholder or `MANIFOLD_*` override could not be applied.
    Env(Vec<EnvError>),
    /// The config is invalid (only possible with an override or a `MANIFOLD_*` value).
    Invalid(String, ConfigErrors),
}

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

// === impl InitError ===

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(path, e) => write!(f, "cannot read {CONFIG_OVERRIDE_VAR}={path}: {e}"),
            Self::Env(errors) => {
                write!(f, "environment error(s)")?;
                errors.iter().try_for_each(|e| write!(f, "\n  error: {e}"))
            }
            Self::Invalid(source, errors) => write!(f, "{source}: {errors}"),
        }
    }
}

impl std::error::Error for InitError {}

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

/// Build the gateway at cold start: the embedded config, or the file named by
/// [`CONFIG_OVERRIDE_VAR`] with `${VAR}` placeholders expanded, then the `MANIFOLD_*` root
/// overrides, all read through `lookup`. Returns the gateway and where its config came from.
pub fn load(
    lookup: &dyn Fn(&str) -> Option<String>,
    platform: Platform,
) -> Result<(Gateway, String), InitError> {
    let (source, text) = match lookup(CONFIG_OVERRIDE_VAR).filter(|p| !p.is_empty()) {
        Some(path) => {
            let raw = std::fs::read_to_string(&path)
                .map_err(|e| InitError::Unreadable(path.clone(), e))?;
            let text = env::expand_placeholders(&raw, lookup).map_err(InitError::Env)?;
            (path, text)
        }
        None => (
            EMBEDDED_CONFIG_SOURCE.to_owned(),
            EMBEDDED_CONFIG.to_owned(),
        ),
    };
    let text = env::apply_root_overrides(&text, lookup).map_err(InitError::Env)?;
    match Gateway::from_json(&text, platform) {
        Ok(gateway) => Ok((gateway, source)),
        Err(errors) => Err(InitError::Invalid(source, errors)),
    }
}

/// Parse an event as the runtime does, with [`keep_multi_value_headers`] applied.
pub fn parse_event(json: &str) -> Result<lambda_http::Request, serde_json::Error> {
    let mut event: LambdaRequest = serde_json::from_str(json)?;
    keep_multi_value_headers(&mut event);
    Ok(event.into())
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

/// Answer one event: convert, let the gateway handle it, convert back for the event's origin.
pub async fn handle(gateway: &Gateway, event: lambda_http::Request) -> Reply {
    let origin = Origin::of(&event);
    let Some((request, context)) = to_core(event) else {
        return Reply(plain(
            StatusCode::BAD_REQUEST,
            "manifold: malformed request path\n".into(),
        ));
    };
    Reply(to_lambda(gateway.handle(request, context).await, origin))
}

/// The event as the client sent it: the path without API Gateway's stage prefix, the query,
/// headers (cookies included), the decoded body, and the client address. `None` when the
/// path cannot form a URI.
pub fn to_core(event: lambda_http::Request) -> Option<(http::Request<Bytes>, RequestContext)> {
    let peer = client_ip(&event);
    // raw_http_path() is the event's own path: v1 and ALB never include the stage; an HTTP API
    // on a named stage puts it in rawPath (a `$default` stage and Function URLs do not).
    let mut path = event.raw_http_path();
    if let Some(EventContext::ApiGatewayV2(ctx)) = event.request_context_ref() {
        if let Some(stage) = ctx.stage.as_deref().filter(|s| *s != "$default") {
            let rest = path.strip_prefix('/').and_then(|p| p.strip_prefix(stage));
            if let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('/')) {
                path = rest;
            }
        }
    }
    let mut target = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        target.push('/');
    }
    target.extend(utf8_percent_encode(path, PATH_ESCAPES));
    if let Some(query) = event.uri().query().filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(query);
    }
    let uri: Uri = target.parse().ok()?;
    let (mut parts, body) = event.into_parts();
    parts.uri = uri;
    let body = match body {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    // No after-response work: the sandbox freezes once the answer is returned.
    let context = RequestContext::new().with_peer(peer);
    Some((http::Request::from_parts(parts, body), context))
}

/// The client address from the request context; behind an ALB, which has none, the last
/// `X-Forwarded-For` entry, which the load balancer itself appended.
fn client_ip(event: &lambda_http::Request) -> Option<IpAddr> {
    let text = match event.request_context_ref()? {
        EventContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.clone()?,
        EventContext::ApiGatewayV2(ctx) => ctx.http.source_ip.clone()?,
        EventContext::Alb(_) => {
            let last = event
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .next_back()?;
            last.to_str().ok()?.rsplit(',').next()?.to_owned()
        }
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
        reply
            .headers_mut()
            .insert(X_KRAKEND_COMPLETED, HeaderValue::from_static("false"));
        return reply;
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
        let values: Vec<&HeaderValue> = headers
            .get_all(name)
            .iter()
            .filter(|v| std::str::from_utf8(v.as_bytes()).is_ok())
            .collect();
        if origin == Origin::HttpApi && name != SET_COOKIE && values.len() > 1 {
            let joined: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
            if let Ok(value) = HeaderValue::from_bytes(&joined.join(&b", "[..])) {
                out.insert(name.clone(), value);
            }
        } else {
            for value in values {
                out.append(name.clone(), value.clone());
            }
        }
    }
    out
}

/// An upper bound of the JSON Lambda serialises: headers counted twice (ALB sends both
/// `headers` and `multiValueHeaders`), text JSON-escaped, binary base64, plus the fixed keys.
fn encoded_size(headers: &HeaderMap, body: &Body) -> usize {
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 8)
        .sum();
    let body_bytes = match body {
        Body::Text(text) => text
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
                0..=0x1f => 6,
                _ => 1,
            })
            .sum(),
        Body::Binary(bytes) => bytes.len().div_ceil(3) * 4,
        _ => 0,
    };
    2 * header_bytes + body_bytes + 256
}

/// A text answer produced by the adapter itself.
fn plain(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
