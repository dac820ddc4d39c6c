//! The target-independent half of the ports: header text conversions and small decisions,
//! kept apart from the JS calls so they are unit-tested on the host.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use manifold_core::platform::ReadHeaders;

/// A JS header pair as an `http` header; `None` (skipped) if either part is invalid. JS header
/// values are WebIDL `ByteString`s: every char is one byte, U+0000..=U+00FF.
pub fn header(name: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    let value = if value.is_ascii() {
        // Its chars are its bytes: one copy, no vector of them first.
        HeaderValue::from_str(value).ok()?
    } else {
        let bytes: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(c).ok()).collect();
        HeaderValue::from_bytes(&bytes?).ok()?
    };
    Some((HeaderName::from_bytes(name.as_bytes()).ok()?, value))
}

/// A header value as a JS `ByteString` (the inverse of [`header`]: lossless).
pub fn byte_string(value: &HeaderValue) -> String {
    value.as_bytes().iter().map(|&b| char::from(b)).collect()
}

/// A JS `Headers` read with one call, `Array.from(headers).join("\n")`, as a `HeaderMap`:
/// one `name,value` line per entry, split at the first comma (a header name has none; a value
/// has no line break: `Headers` refuses CR, LF and NUL). Entries that are not valid HTTP are
/// skipped, as [`header`] does. Reading entry by entry took seven JS calls per header.
pub fn headers_from_lines(lines: &str) -> HeaderMap {
    headers_kept(lines, |_| true).0
}

/// [`headers_from_lines`] keeping only the entries whose name `keep` accepts, and the number
/// of entries there were (kept or not, valid or not).
pub fn headers_kept(lines: &str, keep: impl Fn(&str) -> bool) -> (HeaderMap, usize) {
    let mut map = HeaderMap::new();
    let mut count = 0;
    for line in lines.split('\n').filter(|l| !l.is_empty()) {
        count += 1;
        let (name, value) = line.split_once(',').unwrap_or((line, ""));
        if keep(name) {
            map.extend(header(name, value));
        }
    }
    (map, count)
}

/// Whether a backend answer's header `name` is kept when its caller reads `read`: those it
/// names, and the length and coding the client itself reads the body by.
pub fn reads(read: ReadHeaders, name: &str) -> bool {
    read.reads(name.as_bytes())
        || name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("content-encoding")
}

/// The headers of `map` that [`cross`](crosses) to the runtime, as the JSON text of a
/// `[[name, value], ...]` sequence: `JSON.parse` of it is a `HeadersInit` that `fetch` and
/// `new Response` take as it is, so a whole head crosses as one string instead of one
/// `Headers.append` call (two strings) per header. Values are `ByteString`s as in
/// [`byte_string`].
pub fn headers_json(map: &HeaderMap) -> String {
    let mut out = String::with_capacity(16 + map.len() * 48);
    out.push('[');
    for (name, value) in map.iter().filter(|(name, _)| crosses(name)) {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str("[\"");
        json_escaped(&mut out, name.as_str().bytes());
        out.push_str("\",\"");
        json_escaped(&mut out, value.as_bytes().iter().copied());
        out.push_str("\"]");
    }
    out.push(']');
    out
}

/// `fetch`'s `RequestInit` for a request without a body as JSON text: the method, the headers
/// of [`headers_json`] and `redirect: "manual"` (the core follows redirects itself); the caller
/// adds the objects (the abort signal, the body). A method is a token: no JSON escapes.
pub fn request_init_json(method: &str, headers: &HeaderMap) -> String {
    let headers = headers_json(headers);
    format!("{{\"method\":\"{method}\",\"redirect\":\"manual\",\"headers\":{headers}}}")
}

/// `new Response`'s `ResponseInit` as JSON text: the status, the headers of [`headers_json`]
/// and `encodeBody: "manual"` (the runtime must not compress the body again because of a
/// `Content-Encoding` the core passed through).
pub fn response_init_json(status: StatusCode, headers: &HeaderMap) -> String {
    let (status, headers) = (status.as_u16(), headers_json(headers));
    format!("{{\"status\":{status},\"encodeBody\":\"manual\",\"headers\":{headers}}}")
}

/// `bytes` as the content of a JSON string, each byte one char (U+0000..=U+00FF).
fn json_escaped(out: &mut String, bytes: impl Iterator<Item = u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0..=0x1f => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            _ => out.push(char::from(b)),
        }
    }
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
    use manifold_core::platform::Listed;

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
    fn headers_read_from_joined_lines() {
        let map = headers_from_lines("content-type,application/json\nx-list,a, b,c\nx-empty,\nset-cookie,a=1\nset-cookie,b=2\nbad name,x\nx-latin,caf\u{e9}");
        assert_eq!(map["content-type"], "application/json");
        assert_eq!(map["x-list"], "a, b,c");
        assert_eq!(map["x-empty"], "");
        let cookies: Vec<_> = map.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(map["x-latin"].as_bytes(), b"caf\xe9");
        assert_eq!(map.len(), 6);
        assert!(headers_from_lines("").is_empty());
    }

    #[test]
    fn only_the_headers_read_are_kept_and_every_line_counts() {
        let lines =
            "content-type,application/json\nx-other,1\ncontent-length,2\nLocation,/x\nbad name,x";
        static READ: [Listed; 2] = [Listed::new("content-type"), Listed::new("location")];
        let only = ReadHeaders::Only(&READ);
        let (map, count) = headers_kept(lines, |n| reads(only, n));
        assert_eq!(count, 5);
        let names: Vec<_> = map.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type", "content-length", "location"]);
        let (all, count) = headers_kept(lines, |n| reads(ReadHeaders::All, n));
        assert_eq!((all.len(), count), (4, 5));
    }

    #[test]
    fn headers_cross_as_one_json_sequence() {
        let mut map = HeaderMap::new();
        map.insert("content-type", HeaderValue::from_static("text/plain"));
        map.insert("content-length", HeaderValue::from_static("5"));
        map.append("x-q", HeaderValue::from_static("say \"hi\" \\ there"));
        map.append("x-q", HeaderValue::from_bytes(b"caf\xe9\t").unwrap());
        let json = headers_json(&map);
        assert_eq!(
            json,
            "[[\"content-type\",\"text/plain\"],[\"x-q\",\"say \\\"hi\\\" \\\\ there\"],[\"x-q\",\"caf\u{e9}\\u0009\"]]"
        );
        // What JSON.parse gives the runtime: the ByteString of each value.
        let parsed: Vec<(String, String)> = serde_json::from_str(&json).unwrap();
        assert_eq!(
            parsed[2].1,
            byte_string(&HeaderValue::from_bytes(b"caf\xe9\t").unwrap())
        );
        assert_eq!(headers_json(&HeaderMap::new()), "[]");
    }

    #[test]
    fn inits_are_json_objects() {
        let mut map = HeaderMap::new();
        map.insert("x-a", HeaderValue::from_static("1"));
        map.insert("host", HeaderValue::from_static("example.com"));
        let init: serde_json::Value =
            serde_json::from_str(&request_init_json("PATCH", &map)).unwrap();
        assert_eq!(
            init,
            serde_json::json!({"method": "PATCH", "redirect": "manual", "headers": [["x-a", "1"]]})
        );
        let init: serde_json::Value =
            serde_json::from_str(&response_init_json(StatusCode::NOT_FOUND, &map)).unwrap();
        assert_eq!(
            init,
            serde_json::json!({"status": 404, "encodeBody": "manual", "headers": [["x-a", "1"]]})
        );
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
