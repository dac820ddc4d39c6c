//! The request limits every front end applies, the same on all platforms: the request head
//! (→ 431) and the request body (→ 413). The native server hands the head limit to hyper's
//! parser; the serverless adapters receive a parsed request and check it with
//! [`RequestLimits::check_head`] before reading any of the body (`Gateway::serve`).
//!
//! Configured by KrakenD's root `max_header_bytes` and `extra_config.router.max_payload`.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};

use crate::http_util::plain;

/// The request body limit when none is configured: 10 MiB.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;
/// The request head limit (request line plus headers) when none is configured: 64 KiB,
/// Envoy's order of magnitude.
pub const DEFAULT_MAX_HEAD: usize = 64 * 1024;
/// Most header lines in one request.
pub const MAX_HEADERS: usize = 100;

/// Largest request head and body a front end accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Largest request head in bytes (request line, header lines, their line ends).
    pub max_head: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_head: DEFAULT_MAX_HEAD,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

impl RequestLimits {
    /// The 431 answer for a head over the limit (or with too many header lines), measured as
    /// HTTP/1.1 would carry it, so it means the same whatever protocol the platform spoke;
    /// `None` for a head within the limits.
    pub fn check_head(&self, parts: &Parts) -> Option<Response<Bytes>> {
        let target = parts.uri.path_and_query().map_or(1, |p| p.as_str().len());
        let line = parts.method.as_str().len() + target + " HTTP/1.1\r\n".len() + 1;
        let headers: usize = parts
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        if line + headers > self.max_head || parts.headers.len() > MAX_HEADERS {
            return Some(head_too_large());
        }
        None
    }
}

/// The 431 answer to a request head over the limit (also what an adapter answers when the
/// platform hands it a URL too long to represent).
pub fn head_too_large() -> Response<Bytes> {
    plain(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "431 request header fields too large\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(header_len: usize, count: usize) -> Parts {
        let mut request = http::Request::get("/p?q=1").body(()).unwrap();
        for i in 0..count {
            let name = http::HeaderName::try_from(format!("x-h{i}")).unwrap();
            let value = http::HeaderValue::try_from("v".repeat(header_len)).unwrap();
            request.headers_mut().append(name, value);
        }
        request.into_parts().0
    }

    #[test]
    fn head_at_the_limit_passes_one_byte_more_is_431() {
        // "GET /p?q=1 HTTP/1.1\r\n" is 21 bytes, "x-h0: " + value + "\r\n" is 8 + value.
        let exact = RequestLimits {
            max_head: 21 + 8 + 100,
            max_body: 0,
        };
        assert!(exact.check_head(&parts(100, 1)).is_none());
        let answer = exact.check_head(&parts(101, 1)).unwrap();
        assert_eq!(answer.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[test]
    fn too_many_header_lines_is_431() {
        let limits = RequestLimits::default();
        assert!(limits.check_head(&parts(1, MAX_HEADERS)).is_none());
        assert!(limits.check_head(&parts(1, MAX_HEADERS + 1)).is_some());
    }
}
