//! The target-independent half of the ports: header text conversions and small decisions,
//! kept apart from the JS calls so they are unit-tested on the host.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

/// A JS header pair as an `http` header; `None` (skipped) if either part is invalid. JS header
/// values are WebIDL `ByteString`s: every char is one byte, U+0000..=U+00FF.
pub fn header(name: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    let bytes: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
    let value = HeaderValue::from_bytes(&bytes?).ok()?;
    Some((HeaderName::from_bytes(name.as_bytes()).ok()?, value))
}

/// A header value as a JS `ByteString` (the inverse of [`header`]: lossless).
pub fn byte_string(value: &HeaderValue) -> String {
    value.as_bytes().iter().map(|&b| char::from(b)).collect()
}

/// Whether a header is handed to `fetch` or `new Response`: the headers that describe the
/// connection rather than the message are the runtime's, which frames bodies itself (incoming
/// requests keep them all).
pub fn crosses(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "host" | "upgrade"
    )
}

/// Statuses whose response must not carry a body (the JS `Response` constructor rejects one).
pub fn null_body(status: StatusCode) -> bool {
    matches!(status.as_u16(), 101 | 204 | 205 | 304)
}

/// Whether the runtime already decoded a fetched body that says `Content-Encoding: {value}`.
/// workerd decodes gzip and br while the body is read but keeps the header (so a response
/// passed through unchanged gets encoded again); deflate and others arrive as sent. A gzip body
/// that still starts with the gzip magic bytes was not decoded, and keeps its header.
pub fn runtime_decoded(content_encoding: Option<&str>, body: &[u8]) -> bool {
    let encoding = content_encoding.map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        Some("gzip" | "x-gzip") => !body.starts_with(&[0x1f, 0x8b]),
        Some("br") => true,
        _ => false,
    }
}

/// A timer length `setTimeout` accepts: it takes an `i32` of milliseconds.
pub fn timer(duration: Duration) -> Duration {
    duration.min(Duration::from_millis(i32::MAX as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_strings_round_trip_latin1() {
        let (_, v) = header("x-name", "caf\u{e9}").unwrap();
        assert_eq!(v.as_bytes(), b"caf\xe9");
        assert_eq!(byte_string(&v), "caf\u{e9}");
    }

    #[test]
    fn invalid_headers_are_skipped() {
        assert!(header("x-ok", "\u{20ac}").is_none());
        assert!(header("x-ok", "a\nb").is_none());
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
        assert_eq!(timer(Duration::from_secs(2)), Duration::from_secs(2));
        assert_eq!(timer(Duration::MAX).as_millis(), i32::MAX as u128);
    }
}
