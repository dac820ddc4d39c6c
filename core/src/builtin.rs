//! Routes the gateway serves itself: `/__health`, and `/__debug/*` / `/__echo/*` when enabled.
//! They live in the core so every adapter has them.

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, StatusCode};

use crate::config::Config;
use crate::http_util::{canonical_header, json, text};
use crate::json::{Map, Value};
use crate::platform::Platform;

/// Answer a built-in route, or `None` to let the router handle the request.
pub(crate) fn handle(
    config: &Config,
    platform: &Platform,
    parts: &Parts,
    body: &Bytes,
) -> Option<Response<Bytes>> {
    let path = parts.uri.path();
    let health = config.router.health_path.as_deref().unwrap_or("/__health");
    if !config.router.disable_health && path == health {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let mut r = text("405 method not allowed");
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            return Some(r);
        }
        let mut m = Map::new();
        m.insert("agents".into(), Value::Object(Map::new()));
        m.insert(
            "now".into(),
            Value::String(crate::time::rfc3339(platform.clock.now_millis(), true).into()),
        );
        m.insert("status".into(), "ok".into());
        return Some(json(&Value::Object(m)));
    }
    if config.debug_endpoint && under(path, "/__debug") {
        let mut m = Map::new();
        m.insert("message".into(), "pong".into());
        return Some(json(&Value::Object(m)));
    }
    if config.echo_endpoint && under(path, "/__echo") {
        return Some(json(&echo(parts, body)));
    }
    None
}

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn echo(parts: &Parts, body: &Bytes) -> Value {
    let uri = &parts.uri;
    let mut details = Map::new();
    details.insert("user".into(), "".into());
    details.insert("host".into(), uri.host().unwrap_or("").into());
    details.insert("path".into(), uri.path().into());
    details.insert("query".into(), uri.query().unwrap_or("").into());
    details.insert("fragment".into(), "".into());
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned().into()))
            .collect();
        headers.insert(canonical_header(name.as_str()).into(), Value::Array(values));
    }
    let mut m = Map::new();
    m.insert("req_uri".into(), uri.to_string().into());
    m.insert("req_uri_details".into(), Value::Object(details));
    m.insert("req_method".into(), parts.method.as_str().into());
    m.insert(
        "req_querystring".into(),
        Value::Object(query_map(uri.query().unwrap_or(""))),
    );
    m.insert(
        "req_body".into(),
        String::from_utf8_lossy(body).into_owned().into(),
    );
    m.insert("req_headers".into(), Value::Object(headers));
    Value::Object(m)
}

fn query_map(raw: &str) -> Map {
    let mut m = Map::new();
    for (k, v) in crate::http_util::parse_query(raw) {
        if let Value::Array(list) = m
            .entry(k.into())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(Value::String(v.into()));
        }
    }
    m
}
