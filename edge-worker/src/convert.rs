//! The target-independent half of the adapter: header text conversions and small decisions,
//! kept apart from the JS calls so they are unit-tested on the host.

use std::net::IpAddr;

use http::{HeaderName, HeaderValue, StatusCode};

/// Headers that describe the connection, not the message: the runtime frames bodies itself, so
/// these are never handed to `fetch` or to `new Response` (incoming requests keep them all).
const FRAMING: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "upgrade",
];

/// A JS header string (a WebIDL `ByteString`: every char is one byte, U+0000..=U+00FF) as a
/// header value; `None` if it is not a valid one.
pub(crate) fn header_value(text: &str) -> Option<HeaderValue> {
    let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
    HeaderValue::from_bytes(&bytes?).ok()
}

/// A JS header pair as an `http` header; `None` (skipped) if either part is invalid.
pub(crate) fn header(name: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_bytes(name.as_bytes()).ok()?,
        header_value(value)?,
    ))
}

/// A header value as a JS `ByteString` (the inverse of [`header_value`]: lossless).
pub(crate) fn byte_string(value: &HeaderValue) -> String {
    value.as_bytes().iter().map(|&b| char::from(b)).collect()
}

/// Whether a header is handed to `fetch` or `new Response` (framing headers are the runtime's).
pub(crate) fn crosses(name: &HeaderName) -> bool {
    !FRAMING.contains(&name.as_str())
}

/// The client address Cloudflare reports in `CF-Connecting-IP`.
pub(crate) fn client_ip(value: Option<&str>) -> Option<IpAddr> {
    value?.trim().parse().ok()
}

/// Statuses whose response must not carry a body (the JS `Response` constructor rejects one).
pub(crate) fn null_body(status: StatusCode) -> bool {
    matches!(status.as_u16(), 101 | 204 | 205 | 304)
}

/// Whether a declared `Content-Length` is already over the limit, so the body is never read.
pub(crate) fn declared_too_large(content_length: Option<&str>, max_body: usize) -> bool {
    content_length
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > max_body as u64)
}

/// Whether the runtime already decoded a fetched body that says `Content-Encoding: {value}`.
/// workerd decodes gzip and br while the body is read but keeps the header (so a response
/// passed through unchanged gets encoded again); deflate and others arrive as sent. A gzip body
/// that still starts with the gzip magic bytes was not decoded, and keeps its header.
pub(crate) fn runtime_decoded(content_encoding: Option<&str>, body: &[u8]) -> bool {
    match content_encoding
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("gzip" | "x-gzip") => !body.starts_with(&[0x1f, 0x8b]),
        Some("br") => true,
        _ => false,
    }
}

/// A timer length `setTimeout` accepts: it takes an `i32` of milliseconds.
pub(crate) fn timer_millis(duration: std::time::Duration) -> u64 {
    duration.as_millis().min(i32::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn byte_strings_round_trip_latin1() {
        let v = header_value("caf\u{e9}").unwrap();
        assert_eq!(v.as_bytes(), b"caf\xe9");
        assert_eq!(byte_string(&v), "caf\u{e9}");
    }

    #[test]
    fn invalid_headers_are_skipped() {
        assert!(header_value("\u{20ac}").is_none());
        assert!(header_value("a\nb").is_none());
        assert!(header("bad name", "x").is_none());
        assert!(header("x-ok", "fine").is_some());
    }

    #[test]
    fn framing_stays_with_the_runtime() {
        assert!(!crosses(&HeaderName::from_static("content-length")));
        assert!(!crosses(&HeaderName::from_static("host")));
        assert!(crosses(&HeaderName::from_static("content-type")));
    }

    #[test]
    fn client_ip_parses_v4_and_v6() {
        assert_eq!(client_ip(Some("203.0.113.9")), "203.0.113.9".parse().ok());
        assert_eq!(client_ip(Some("2001:db8::1")), "2001:db8::1".parse().ok());
        assert_eq!(client_ip(Some("unknown")), None);
        assert_eq!(client_ip(None), None);
    }

    #[test]
    fn runtime_decoding() {
        assert!(runtime_decoded(Some("gzip"), b"{\"a\":1}"));
        assert!(!runtime_decoded(Some("gzip"), &[0x1f, 0x8b, 8, 0]));
        assert!(runtime_decoded(Some(" BR "), b"x"));
        assert!(!runtime_decoded(Some("deflate"), b"x"));
        assert!(!runtime_decoded(None, b"x"));
    }

    #[test]
    fn limits() {
        assert!(null_body(StatusCode::NO_CONTENT));
        assert!(!null_body(StatusCode::OK));
        assert!(declared_too_large(Some("11"), 10));
        assert!(!declared_too_large(Some("10"), 10));
        assert!(!declared_too_large(Some("junk"), 10));
        assert_eq!(timer_millis(Duration::from_secs(2)), 2000);
        assert_eq!(timer_millis(Duration::MAX), i32::MAX as u64);
    }
}
