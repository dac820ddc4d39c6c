//! Request framing checks that the HTTP/1.1 parser leaves to us (docs/security.md, "HTTP/1.1
//! framing").
//!
//! hyper already refuses malformed heads, conflicting or non-numeric `Content-Length`s,
//! obs-fold, bare CR, control bytes, HTTP/1.0 with `Transfer-Encoding`, and a
//! `Transfer-Encoding` whose last coding is not `chunked`. It resolves `Transfer-Encoding` plus
//! `Content-Length` as RFC 9112 §6.1 prescribes (the length is dropped before we see the request,
//! the connection is closed after the answer). What it lets through and must not reach a backend
//! is refused here, before the body is read:
//!
//! - `chunked` applied more than once (`chunked, chunked`, or the header twice): 400. RFC 9112
//!   §6.1 forbids it, and a hop that decodes once and one that decodes twice disagree on where
//!   the request ends.
//! - any transfer coding besides `chunked` (`gzip, chunked`): 501, as RFC 9112 §6.1 says for
//!   codings a server does not implement. Forwarding the still-coded body as plain content
//!   would change what the backend receives.
//! - a header whose name is a framing header spelled another way (`Transfer_Encoding`,
//!   `Content--Length`, `TransferEncoding`): 400. Forwarded, it becomes a second, contradicting
//!   framing at any backend that folds `_` into `-` (CGI-style servers do).
//!
//! A refusal closes the connection (`Connection: close` on HTTP/1): nothing the client sent
//! after a head whose framing is in doubt can be trusted to start a new request.

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use tracing::debug;

/// Why a request's framing is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `chunked` applied more than once.
    ChunkedTwice,
    /// A transfer coding other than `chunked`.
    UnsupportedCoding,
    /// A header name that reads as `Content-Length` or `Transfer-Encoding` once delimiters
    /// are ignored, without being that header.
    FramingLookalike,
}

impl Refusal {
    /// The status and the text of the answer.
    pub fn answer(self) -> (StatusCode, &'static str) {
        match self {
            Refusal::ChunkedTwice => (
                StatusCode::BAD_REQUEST,
                "transfer coding chunked applied more than once",
            ),
            Refusal::UnsupportedCoding => (
                StatusCode::NOT_IMPLEMENTED,
                "only the chunked transfer coding is supported",
            ),
            Refusal::FramingLookalike => (
                StatusCode::BAD_REQUEST,
                "header name imitates Content-Length or Transfer-Encoding",
            ),
        }
    }
}

/// Check a request head's framing headers (see the module docs).
pub fn check(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut chunked = 0;
    let mut other = false;
    for value in headers.get_all(TRANSFER_ENCODING) {
        // Non-UTF-8 bytes (obs-text) cannot spell a coding we implement.
        let Ok(text) = value.to_str() else {
            other = true;
            continue;
        };
        // Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
        for coding in text.split(',').map(|c| c.trim_matches([' ', '\t'])) {
            if coding.eq_ignore_ascii_case("chunked") {
                chunked += 1;
            } else if !coding.is_empty() {
                other = true;
            }
        }
    }
    if chunked > 1 {
        return Err(Refusal::ChunkedTwice);
    }
    if other {
        return Err(Refusal::UnsupportedCoding);
    }
    if headers.keys().any(|name| imitates_framing(name.as_str())) {
        return Err(Refusal::FramingLookalike);
    }
    Ok(())
}

/// `name` (lower case, as `http` stores it) reads as a framing header once everything but
/// letters and digits is ignored, without being one.
fn imitates_framing(name: &str) -> bool {
    let letters = || name.bytes().filter(u8::is_ascii_alphanumeric);
    (name != "content-length" && letters().eq("contentlength".bytes()))
        || (name != "transfer-encoding" && letters().eq("transferencoding".bytes()))
}

/// The answer for a refused request: status, plain text, and `Connection: close` on HTTP/1
/// (HTTP/2 forbids the header; there the refusal ends only the stream).
pub fn refusal_response(refusal: Refusal, version: Version) -> Response<Bytes> {
    let (status, text) = refusal.answer();
    let mut response = Response::new(Bytes::from(format!("{} {text}\n", status.as_u16())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if version < Version::HTTP_2 {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The server's hook: `Some(answer)` when the request must not reach the gateway.
pub fn refuse<B>(request: &Request<B>) -> Option<Response<Bytes>> {
    let refusal = check(request.headers()).err()?;
    debug!(?refusal, "request framing refused");
    Some(refusal_response(refusal, request.version()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(lines: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn one_chunked_is_fine_in_any_case_and_with_empty_list_elements() {
        for value in ["chunked", "CHUNKED", " chunked\t", ", chunked,"] {
            assert_eq!(
                check(&head(&[("transfer-encoding", value)])),
                Ok(()),
                "{value}"
            );
        }
        assert_eq!(check(&head(&[("content-length", "5")])), Ok(()));
        assert_eq!(check(&head(&[])), Ok(()));
    }

    #[test]
    fn chunked_twice_is_refused_however_it_is_spelled() {
        let twice = [
            vec![("transfer-encoding", "chunked, chunked")],
            vec![("transfer-encoding", "chunked,CHUNKED")],
            vec![
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
            vec![("transfer-encoding", "gzip, chunked, chunked")],
        ];
        for lines in twice {
            assert_eq!(
                check(&head(&lines)),
                Err(Refusal::ChunkedTwice),
                "{lines:?}"
            );
        }
    }

    #[test]
    fn other_codings_are_not_implemented() {
        let other = [
            vec![("transfer-encoding", "gzip, chunked")],
            vec![
                ("transfer-encoding", "identity"),
                ("transfer-encoding", "chunked"),
            ],
            vec![("transfer-encoding", "chunked;ext=1")],
            vec![("transfer-encoding", "xchunked")],
        ];
        for lines in other {
            assert_eq!(
                check(&head(&lines)),
                Err(Refusal::UnsupportedCoding),
                "{lines:?}"
            );
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            TRANSFER_ENCODING,
            HeaderValue::from_bytes(b"chunked\xa0").unwrap(),
        );
        assert_eq!(check(&headers), Err(Refusal::UnsupportedCoding));
    }

    #[test]
    fn framing_lookalikes_are_refused_and_neighbours_are_not() {
        for name in [
            "transfer_encoding",
            "transfer---encoding",
            "transferencoding",
            "content_length",
            "content.length",
            "-content-length-",
        ] {
            assert_eq!(
                check(&head(&[(name, "chunked")])),
                Err(Refusal::FramingLookalike),
                "{name}"
            );
        }
        for name in [
            "x-content-length",
            "content-lengths",
            "my_custom_header",
            "te",
        ] {
            assert_eq!(check(&head(&[(name, "1")])), Ok(()), "{name}");
        }
    }

    #[test]
    fn refusals_close_http1_connections_only() {
        let r = refusal_response(Refusal::ChunkedTwice, Version::HTTP_11);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[CONNECTION], "close");
        let r = refusal_response(Refusal::UnsupportedCoding, Version::HTTP_2);
        assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
        assert!(!r.headers().contains_key(CONNECTION));
        let request = Request::post("/")
            .header("transfer_encoding", "chunked")
            .body(())
            .unwrap();
        assert_eq!(refuse(&request).unwrap().status(), StatusCode::BAD_REQUEST);
        assert!(refuse(&Request::get("/").body(()).unwrap()).is_none());
    }
}
