//! Endpoint responses: `output_encoding`, the `X-Krakend*` and `Cache-Control` headers, and
//! the error and router answers, exactly as KrakenD writes them.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::config::extra::RouterOptions;
use crate::config::{Endpoint, OutputEncoding};
use crate::json::{Map, Value};
use crate::proxy::{ErrorSource, ProxyError, ProxyResponse};

/// `X-Krakend`: the gateway's version header (name kept for KrakenD clients).
pub const X_KRAKEND: HeaderName = HeaderName::from_static("x-krakend");
/// `X-Krakend-Completed`: whether every backend answered completely.
pub const X_KRAKEND_COMPLETED: HeaderName = HeaderName::from_static("x-krakend-completed");

use crate::http_util::{json, text, JSON, TEXT};
const XML: &str = "application/xml";
const YAML: &str = "application/yaml; charset=utf-8";

/// gin's `NegotiateFormat` over KrakenD's offers (json, text/plain, xml, yaml): the first
/// `Accept` entry that matches an offer decides (q-values are ignored, as gin does);
/// `text/plain` means YAML; nothing matching means JSON.
fn negotiate(accept: Option<&HeaderValue>) -> OutputEncoding {
    const OFFERS: &[(&str, OutputEncoding)] = &[
        ("application/json", OutputEncoding::Json),
        ("text/plain", OutputEncoding::Yaml),
        ("application/xml", OutputEncoding::Xml),
        ("text/xml", OutputEncoding::Xml),
        ("application/x-yaml", OutputEncoding::Yaml),
        ("application/yaml", OutputEncoding::Yaml),
        ("text/yaml", OutputEncoding::Yaml),
    ];
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return OutputEncoding::Json;
    };
    for entry in accept.split(',') {
        let media = entry
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let prefix = media.split_once('*').map(|(p, _)| p);
        for (offer, encoding) in OFFERS {
            let hit = match prefix {
                Some(p) => offer.starts_with(p),
                None => *offer == media,
            };
            if hit {
                return *encoding;
            }
        }
    }
    OutputEncoding::Json
}

/// Render the pipeline's outcome for `endpoint`.
pub(crate) fn endpoint(
    endpoint: &Endpoint,
    router: &RouterOptions,
    heads: &Heads,
    accept: Option<&HeaderValue>,
    result: Result<ProxyResponse, ProxyError>,
) -> Response<Bytes> {
    let version = &heads.version;
    let mut response = match result {
        Ok(ProxyResponse { raw: Some(raw), .. })
            if endpoint.output_encoding == OutputEncoding::NoOp =>
        {
            let mut r = Response::new(raw.body);
            *r.status_mut() = raw.status;
            if raw.streamed {
                // The body follows as a stream; a declared length still frames it.
                let length = raw.headers.get(CONTENT_LENGTH).cloned();
                *r.headers_mut() = passthrough_headers(raw.headers);
                if let Some(length) = length {
                    r.headers_mut().insert(CONTENT_LENGTH, length);
                }
                r.extensions_mut().insert(crate::platform::Streamed);
            } else {
                *r.headers_mut() = passthrough_headers(raw.headers);
            }
            r.headers_mut()
                .insert(X_KRAKEND_COMPLETED, HeaderValue::from_static("false"));
            r
        }
        Ok(ok) => {
            let (completed, body) = match ok.json {
                // Transcoded only for `output_encoding: json` (`stack::transcoding`): the
                // endpoint's headers for it are made already, `X-Krakend` included.
                Some(json) => {
                    let completed = ok.is_complete && !json.is_empty();
                    let mut r = Response::new(Bytes::from(json.bytes));
                    *r.headers_mut() = heads.json[usize::from(completed)].clone();
                    return partial_status(r, endpoint, ok.is_complete);
                }
                None => (ok.is_complete && !ok.data.is_empty(), ok.data),
            };
            let (content_type, body) = encode(endpoint.output_encoding, accept, body, ok.size_hint);
            let mut r = Response::new(Bytes::from(body));
            answer_headers(r.headers_mut(), endpoint, content_type, completed);
            partial_status(r, endpoint, ok.is_complete)
        }
        Err(e) => error(endpoint, router, e),
    };
    response.headers_mut().insert(X_KRAKEND, version.clone());
    response
}

/// `manifold/failure.partial_status`: a partial answer says so in its status.
fn partial_status(mut r: Response<Bytes>, endpoint: &Endpoint, complete: bool) -> Response<Bytes> {
    if let (false, Some(status)) = (complete, endpoint.failure.partial_status) {
        *r.status_mut() = status;
    }
    r
}

/// The headers of an endpoint's successful answer of `content_type`: `X-Krakend-Completed`
/// and, for a complete one, its `Cache-Control` (neither for a token signer's answer).
fn answer_headers(
    h: &mut HeaderMap,
    endpoint: &Endpoint,
    content_type: &'static str,
    completed: bool,
) {
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // krakend-jose's signer writes its response itself, without these two (jwt_4).
    if endpoint.auth_signer.is_some() {
        return;
    }
    h.insert(
        X_KRAKEND_COMPLETED,
        HeaderValue::from_static(if completed { "true" } else { "false" }),
    );
    let ttl = endpoint.cache_ttl.as_secs();
    if completed && ttl > 0 {
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={ttl}")) {
            h.insert(CACHE_CONTROL, v);
        }
    }
}

/// An endpoint's answer headers, made once: `X-Krakend` (the gateway's version, or
/// `Version undefined`) and, for its transcoded JSON answers, the whole head, incomplete and
/// complete. Each answer clones one: a copy of three entries costs less than inserting them,
/// which hashes each name (custom ones byte by byte) and allocates the map.
#[derive(Debug, Clone)]
pub(crate) struct Heads {
    /// `X-Krakend`.
    version: HeaderValue,
    /// A transcoded answer's headers, by whether it is complete.
    json: [HeaderMap; 2],
}

impl Heads {
    /// The heads of `endpoint`'s answers, with `version` as `X-Krakend`.
    pub(crate) fn new(endpoint: &Endpoint, version: HeaderValue) -> Self {
        let head = |completed| {
            let mut h = HeaderMap::new();
            answer_headers(&mut h, endpoint, JSON, completed);
            h.insert(X_KRAKEND, version.clone());
            h
        };
        Self {
            json: [head(false), head(true)],
            version,
        }
    }
}

/// `X-Krakend`'s value for `router`: the gateway's version, unless `hide_version_header`.
pub(crate) fn version(router: &RouterOptions) -> HeaderValue {
    if router.hide_version_header {
        HeaderValue::from_static("Version undefined")
    } else {
        HeaderValue::from_static(crate::USER_AGENT)
    }
}

fn error(endpoint: &Endpoint, router: &RouterOptions, e: ProxyError) -> Response<Bytes> {
    // Only a single answering backend passes its status through; shadow copies never count.
    let mut answering = endpoint.backend.iter().filter(|b| !b.shadow);
    let pass_status = match (answering.next(), answering.next()) {
        (Some(only), None) => only.http.return_error_code,
        _ => false,
    };
    let mut r = match (pass_status, e.status) {
        // `manifold/failure`: a required backend's failure, or a problem+json rejection,
        // already decided the status and the body.
        _ if e.source == ErrorSource::Required
            || (e.source == ErrorSource::Request && !e.body.is_empty()) =>
        {
            let status = match e.source {
                ErrorSource::Request => StatusCode::BAD_REQUEST,
                _ => e.status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            };
            let mut r = match (e.body.is_empty(), router.return_error_msg) {
                (true, true) => text(e.message),
                (true, false) => Response::new(Bytes::new()),
                (false, _) => {
                    let mut r = Response::new(e.body);
                    if let Some(ct) = e.content_type {
                        r.headers_mut().insert(CONTENT_TYPE, ct);
                    }
                    r
                }
            };
            *r.status_mut() = status;
            r
        }
        (true, Some(status)) => {
            let mut r = Response::new(if router.return_error_msg {
                e.body
            } else {
                Bytes::new()
            });
            *r.status_mut() = status;
            if router.return_error_msg {
                if let Some(ct) = e.content_type {
                    r.headers_mut().insert(CONTENT_TYPE, ct);
                }
            }
            r
        }
        _ => {
            let mut r = if router.return_error_msg {
                text(e.message)
            } else {
                Response::new(Bytes::new())
            };
            *r.status_mut() = if e.source == ErrorSource::Request {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            r
        }
    };
    r.headers_mut()
        .insert(X_KRAKEND_COMPLETED, HeaderValue::from_static("false"));
    r
}

/// Encode the data by output encoding: (content type, body).
fn encode(
    encoding: OutputEncoding,
    accept: Option<&HeaderValue>,
    mut data: Map,
    size_hint: usize,
) -> (&'static str, Vec<u8>) {
    let encoding = match encoding {
        OutputEncoding::Negotiate => negotiate(accept),
        other => other,
    };
    match encoding {
        OutputEncoding::Json | OutputEncoding::NoOp | OutputEncoding::Negotiate => {
            (JSON, Value::Object(data).to_json_bytes(size_hint))
        }
        // Behind cargo features (config::capability): the loader refuses a config that
        // renders (or negotiates) an encoding this build left out; JSON is the fallback.
        OutputEncoding::Xml if cfg!(feature = "xml") => {
            (XML, crate::xml::encode(&data).into_bytes())
        }
        OutputEncoding::Yaml if cfg!(feature = "yaml") => {
            (YAML, crate::yaml::encode(&data).into_bytes())
        }
        OutputEncoding::Xml | OutputEncoding::Yaml => {
            (JSON, Value::Object(data).to_json().into_bytes())
        }
        OutputEncoding::JsonCollection => match data.remove("collection") {
            Some(v @ Value::Array(_)) => (JSON, v.to_json().into_bytes()),
            _ => (JSON, b"[]".to_vec()),
        },
        OutputEncoding::String => match data.remove("content") {
            Some(Value::String(s)) => (TEXT, String::from(s).into_bytes()),
            _ => (TEXT, Vec::new()),
        },
    }
}

/// Backend headers for `no-op`, minus hop-by-hop ones and the length (recomputed on send).
fn passthrough_headers(mut headers: HeaderMap) -> HeaderMap {
    for name in crate::http_util::HOP_BY_HOP {
        headers.remove(*name);
    }
    headers.remove(CONTENT_LENGTH);
    headers
}

/// 404 or 405 from the router (custom body from `router.error_body` when configured).
pub(crate) fn router_error(
    status: StatusCode,
    router: &RouterOptions,
    version: &HeaderValue,
) -> Response<Bytes> {
    let custom = match status {
        StatusCode::METHOD_NOT_ALLOWED => router.error_body.method_not_allowed.as_ref(),
        _ => router.error_body.not_found.as_ref(),
    };
    let mut r = match custom {
        Some(body) => json(&crate::json::from_serde(body)),
        None => {
            let mut r = Response::new(Bytes::from(match status {
                StatusCode::METHOD_NOT_ALLOWED => "405 method not allowed",
                _ => "404 page not found",
            }));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
    };
    *r.status_mut() = status;
    r.headers_mut()
        .insert(X_KRAKEND_COMPLETED, HeaderValue::from_static("false"));
    r.headers_mut().insert(X_KRAKEND, version.clone());
    r
}

/// lura's auto OPTIONS answer (`router.auto_options`): 200, no body, `Allow` with the path's
/// methods.
pub(crate) fn auto_options(methods: &[http::Method], version: &HeaderValue) -> Response<Bytes> {
    let allow: Vec<&str> = methods.iter().map(http::Method::as_str).collect();
    let mut r = Response::new(Bytes::new());
    if let Ok(allow) = HeaderValue::from_str(&allow.join(", ")) {
        r.headers_mut().insert(http::header::ALLOW, allow);
    }
    r.headers_mut().insert(X_KRAKEND, version.clone());
    r
}

/// The 502 a front end answers instead of a response of `size` bytes when that is over the
/// payload `limit` of `platform` (`None`: within it): marked incomplete, saying how to get
/// under the limit.
pub fn over_limit(size: usize, limit: usize, platform: &str) -> Option<Response<Bytes>> {
    if size <= limit {
        return None;
    }
    let message = format!(
        "manifold: the response is {size} bytes once encoded for {platform}, above the \
         platform limit of {limit} bytes; filter the backend response (deny/allow, mapping) \
         or serve this endpoint from the native server\n"
    );
    let mut r = crate::http_util::plain(StatusCode::BAD_GATEWAY, message);
    r.headers_mut()
        .insert(X_KRAKEND_COMPLETED, HeaderValue::from_static("false"));
    Some(r)
}

/// 400 for path parameters that could change the backend URL (always written, as KrakenD).
pub(crate) fn encoded_params() -> Response<Bytes> {
    let mut r = text("error: encoded url params");
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

/// gin's router redirect: 301 for GET, 307 (method and body kept) otherwise; the query is
/// kept. GET and HEAD get Go's small HTML body, as `http.Redirect` writes it.
pub(crate) fn redirect(method: &http::Method, path: &str, query: Option<&str>) -> Response<Bytes> {
    let location = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let get = method == http::Method::GET;
    let status = if get {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::TEMPORARY_REDIRECT
    };
    let mut r = if get || method == http::Method::HEAD {
        let mut href = String::new();
        for c in location.chars() {
            match c {
                '&' => href.push_str("&amp;"),
                '<' => href.push_str("&lt;"),
                '>' => href.push_str("&gt;"),
                '"' => href.push_str("&#34;"),
                '\'' => href.push_str("&#39;"),
                c => href.push(c),
            }
        }
        let reason = status.canonical_reason().unwrap_or_default();
        let mut r = Response::new(Bytes::from(format!("<a href=\"{href}\">{reason}</a>.\n\n")));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    } else {
        Response::new(Bytes::new())
    };
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer's headers, in order, for `result` on the config's one endpoint; checked to
    /// be the same when the answer comes transcoded (the endpoint's prepared heads).
    fn headers(config: &str, result: Result<ProxyResponse, ProxyError>) -> Vec<(String, String)> {
        let config = crate::config::parse(config).unwrap();
        let e = &config.endpoints[0];
        let heads = Heads::new(e, version(&config.router));
        let transcoded = match &result {
            Ok(ok) if e.output_encoding == OutputEncoding::Json => Some(Ok(ProxyResponse {
                json: Some(crate::json::Encoded::from_map(ok.data.clone())),
                is_complete: ok.is_complete,
                ..Default::default()
            })),
            _ => None,
        };
        let r = endpoint(e, &config.router, &heads, None, result);
        let listed = |r: &Response<Bytes>| -> Vec<(String, String)> {
            r.headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                .collect()
        };
        if let Some(transcoded) = transcoded {
            let t = endpoint(e, &config.router, &heads, None, transcoded);
            assert_eq!(
                (listed(&t), t.status(), t.body()),
                (listed(&r), r.status(), r.body())
            );
        }
        listed(&r)
    }

    fn answer(complete: bool) -> Result<ProxyResponse, ProxyError> {
        let mut data = Map::new();
        data.insert("a".into(), Value::Bool(true));
        Ok(ProxyResponse {
            data,
            is_complete: complete,
            ..Default::default()
        })
    }

    #[test]
    fn answers_carry_their_type_completeness_version_and_cache_headers() {
        let plain = r#"{"version":3,"endpoints":[{"endpoint":"/a","backend":[{"host":["http://b"],"url_pattern":"/a"}]}]}"#;
        let h = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let version = h("x-krakend", crate::USER_AGENT);
        assert_eq!(
            headers(plain, answer(true)),
            [
                h("content-type", JSON),
                h("x-krakend-completed", "true"),
                version.clone()
            ]
        );
        assert_eq!(
            headers(plain, answer(false)),
            [
                h("content-type", JSON),
                h("x-krakend-completed", "false"),
                version.clone()
            ]
        );
        let cached = r#"{"version":3,"endpoints":[{"endpoint":"/a","cache_ttl":"60s","backend":[{"host":["http://b"],"url_pattern":"/a"}]}]}"#;
        let expected = [
            h("content-type", JSON),
            h("x-krakend-completed", "true"),
            h("cache-control", "public, max-age=60"),
            version,
        ];
        assert_eq!(headers(cached, answer(true)), expected);
        let yaml = r#"{"version":3,"endpoints":[{"endpoint":"/a","output_encoding":"string","backend":[{"host":["http://b"],"url_pattern":"/a"}]}]}"#;
        let names: Vec<String> = headers(yaml, answer(true))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, ["content-type", "x-krakend-completed", "x-krakend"]);
        // A partial answer's status (`manifold/failure` is a feature of its own).
        if cfg!(feature = "failure") {
            let partial = r#"{"version":3,"endpoints":[{"endpoint":"/a","backend":[{"host":["http://b"],"url_pattern":"/a"}],
                "extra_config":{"manifold/failure":{"partial_status":206}}}]}"#;
            assert_eq!(
                headers(partial, answer(false))[1],
                h("x-krakend-completed", "false")
            );
        }
        let hidden = r#"{"version":3,"extra_config":{"router":{"hide_version_header":true}},
            "endpoints":[{"endpoint":"/a","backend":[{"host":["http://b"],"url_pattern":"/a"}]}]}"#;
        assert_eq!(
            headers(hidden, answer(true))[2],
            h("x-krakend", "Version undefined")
        );
    }
}
