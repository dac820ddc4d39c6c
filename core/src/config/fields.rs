//! Field decoders shared by the root, endpoints and backends: durations, methods, encodings,
//! header and query filters. Each reports at the `Cx` it is given (the field's own place).

use std::time::Duration;

use http::header::HeaderName;
use http::Method;

use super::decode::Cx;
use super::extra::CelChecks;
use super::parse_duration;
use super::plan::{Encoding, HeaderFilter, OutputEncoding, QueryFilter};

/// Methods the router serves (KrakenD's set).
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A Go duration, if set.
pub(crate) fn duration(cx: &mut Cx<'_, '_>, text: Option<&str>) -> Option<Duration> {
    match parse_duration(text?) {
        Ok(v) => Some(v),
        Err(e) => {
            cx.error(e);
            None
        }
    }
}

/// An endpoint's method: one the router serves.
pub(crate) fn method(cx: &mut Cx<'_, '_>, m: &str) -> Option<Method> {
    let upper = m.to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        cx.error(format!(
            "unsupported method `{m}` (supported: {})",
            METHODS.join(", ")
        ));
        return None;
    }
    method_token(cx, &upper)
}

/// A backend's method: any valid HTTP method token.
pub(crate) fn method_token(cx: &mut Cx<'_, '_>, m: &str) -> Option<Method> {
    match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
        Ok(m) => Some(m),
        Err(_) => {
            cx.error(format!("`{m}` is not a valid HTTP method"));
            None
        }
    }
}

/// `output_encoding`; an unknown one renders JSON (with a warning).
pub(crate) fn output_encoding(cx: &mut Cx<'_, '_>, e: &str) -> OutputEncoding {
    match e {
        "json" => OutputEncoding::Json,
        "json-collection" => OutputEncoding::JsonCollection,
        "string" => OutputEncoding::String,
        "no-op" => OutputEncoding::NoOp,
        "negotiate" => OutputEncoding::Negotiate,
        "xml" => OutputEncoding::Xml,
        "yaml" => OutputEncoding::Yaml,
        other => {
            cx.warn(format!(
                "output_encoding `{other}` is not supported; rendering json"
            ));
            OutputEncoding::Json
        }
    }
}

/// A backend's `encoding`; an unknown one decodes as JSON (KrakenD's fallback, with a warning).
pub(crate) fn encoding(cx: &mut Cx<'_, '_>, e: &str) -> Encoding {
    match e.to_ascii_lowercase().as_str() {
        "json" | "" => Encoding::Json,
        "safejson" => Encoding::SafeJson,
        "string" => Encoding::String,
        "no-op" => Encoding::NoOp,
        "xml" => Encoding::Xml,
        "rss" => Encoding::Rss,
        other => {
            cx.warn(format!(
                "encoding `{other}` is not supported; decoding as json (KrakenD's fallback)"
            ));
            Encoding::Json
        }
    }
}

/// `input_headers`, if set: `["*"]` or valid header names.
pub(crate) fn header_filter(cx: &mut Cx<'_, '_>, list: Option<&[String]>) -> Option<HeaderFilter> {
    let list = list?;
    if list.iter().any(|h| h == "*") {
        return Some(HeaderFilter::All);
    }
    let mut names = Vec::new();
    for (i, h) in list.iter().enumerate() {
        match HeaderName::from_bytes(h.as_bytes()) {
            Ok(n) => names.push(n),
            Err(_) => cx
                .item(i)
                .error(format!("`{h}` is not a valid header name")),
        }
    }
    Some(HeaderFilter::Only(names))
}

/// `input_query_strings`, if set.
pub(crate) fn query_filter(list: Option<&[String]>) -> Option<QueryFilter> {
    let list = list?;
    if list.iter().any(|q| q == "*") {
        Some(QueryFilter::All)
    } else {
        Some(QueryFilter::Only(list.to_vec()))
    }
}

/// A dot path (`a.b.c`) as its segments.
pub(crate) fn dot_path(p: &str) -> Vec<String> {
    p.split('.').map(str::to_owned).collect()
}

/// A `validation/cel` expression that reads `JWT` can only be true behind an `auth/validator`.
pub(crate) fn cel_needs_validator(
    cx: &mut Cx<'_, '_>,
    cel: Option<&CelChecks>,
    has_validator: bool,
) {
    if let Some(at) = cel.and_then(|c| c.jwt_at.clone()) {
        if !has_validator {
            cx.at_path(at).error("this expression reads `JWT`, but the endpoint has no `auth/validator`: it could never be true");
        }
    }
}
