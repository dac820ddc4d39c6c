//! Small HTTP helpers shared by every layer above the leaves: header-name canonicalisation,
//! the hop-by-hop list, query-string parsing, the peer a proxy in front reports, and the plain
//! answers that checks and front ends write.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
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

/// The first value of the header `name` (as `HeaderMap::get` gives it), found by walking the
/// map: a lookup by a custom name hashes the name first, which costs more than walking the
/// few headers of a request or an answer.
pub(crate) fn first<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

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

/// The client address a proxy in front reported in header `name` (`X-Forwarded-For` behind a
/// load balancer, `CF-Connecting-IP` on Workers): the last entry of its last value, the one the
/// nearest proxy appended; earlier entries are the client's own word.
pub fn forwarded_peer(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    let last = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    last.rsplit(',').next()?.trim().parse().ok()
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

/// A `text/plain; charset=utf-8` answer with `status`: what a front end writes itself when a
/// request never reaches the gateway (413, 431, a malformed request) or its answer cannot be
/// delivered (Lambda's size limit).
pub fn plain(status: StatusCode, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut r = text(body);
    *r.status_mut() = status;
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
    fn the_forwarded_peer_is_the_last_entry_of_the_last_value() {
        let mut headers = HeaderMap::new();
        assert_eq!(forwarded_peer(&headers, "x-forwarded-for"), None);
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 2.2.2.2"),
        );
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("10.0.0.1 , 192.0.2.44"),
        );
        headers.append(
            "cf-connecting-ip",
            HeaderValue::from_static(" 2001:db8::1 "),
        );
        assert_eq!(
            forwarded_peer(&headers, "x-forwarded-for"),
            "192.0.2.44".parse().ok()
        );
        assert_eq!(
            forwarded_peer(&headers, "cf-connecting-ip"),
            "2001:db8::1".parse().ok()
        );
        headers.insert("cf-connecting-ip", HeaderValue::from_static("unknown"));
        assert_eq!(forwarded_peer(&headers, "cf-connecting-ip"), None);
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
