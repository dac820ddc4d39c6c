//! Small HTTP helpers shared by every layer above the leaves: header-name canonicalisation,
//! the hop-by-hop list, query-string parsing and the plain answers that checks write.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use percent_encoding::percent_decode_str;

use crate::json::Value;

/// `Content-Type` of every JSON answer.
pub(crate) const JSON: &str = "application/json; charset=utf-8";
/// `Content-Type` of every plain-text answer.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus `Host`,
/// which is always the backend's own.
pub(crate) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Go's `CanonicalMIMEHeaderKey` (`x-forwarded-for` → `X-Forwarded-For`), as KrakenD prints
/// header names (echo endpoints, CEL's `req_headers`, CORS lists).
pub(crate) fn canonical_header(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// `a=1&b=2&b=3` to ordered pairs, form-decoded (`+` is a space).
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// An empty answer with only a status: what KrakenD's gin middlewares write when they abort
/// (no `Content-Type`, no `X-Krakend` headers).
pub(crate) fn empty(status: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}

/// A `text/plain; charset=utf-8` response with status 200.
pub(crate) fn text(body: impl Into<Bytes>) -> Response<Bytes> {
    let mut r = Response::new(body.into());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT));
    r
}

/// A JSON response with status 200.
pub(crate) fn json(v: &Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(v.to_json()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical_header("accept"), "Accept");
    }

    #[test]
    fn query_parsing_keeps_order_and_repeats() {
        assert_eq!(
            parse_query("a=1&b=2&b=3&c&d=x+y%26z&a%5B%5D=q"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("b".into(), "3".into()),
                ("c".into(), "".into()),
                ("d".into(), "x y&z".into()),
                ("a[]".into(), "q".into())
            ]
        );
    }
}
