//! Response compression, the pure part (`manifold/compression`): which coding a client gets
//! (`Accept-Encoding` with its q-values, RFC 9110 §12.5.3), which responses are worth it, and
//! the headers of a compressed answer. The bytes are compressed where the platform needs it
//! (`manifold_native::compress`, for the native server and the Lambda adapter); Cloudflare
//! compresses at its edge, so the Worker does not.

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::config::extra::{Coding, Compression};

/// Media types whose bodies are compressed already: encoding them again only costs CPU.
const COMPRESSED_TYPES: &[&str] = &[
    "image/",
    "audio/",
    "video/",
    "font/woff",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-brotli",
    "application/zstd",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/pdf",
];

/// Image types that are text and do shrink.
const TEXT_IMAGES: &[&str] = &["image/svg+xml"];

/// What to do with one response: compress with `coding` at `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The coding the client gets.
    pub coding: Coding,
    /// Its level (gzip 1–9, brotli 0–11).
    pub level: u32,
}

/// A q-value in thousandths (`q=0.5` → 500); `None` when it is not a valid qvalue.
fn qvalue(text: &str) -> Option<u16> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The coding of `offers` the client prefers, from every `Accept-Encoding` line of
/// `headers`: the highest q-value wins, ties go to the order of `offers`; `q=0` refuses a
/// coding; `*` stands for every coding not named; `x-gzip` is `gzip`. An explicit `identity`
/// with a higher q-value than the best coding keeps the body as it is. No header at all:
/// nothing is compressed (RFC 9110 allows any coding then, but old clients send none).
pub fn negotiate(headers: &HeaderMap, offers: &[Coding]) -> Option<Coding> {
    let mut named: Vec<(String, u16)> = Vec::new();
    let mut any = false;
    for line in headers.get_all(ACCEPT_ENCODING) {
        any = true;
        let Ok(line) = line.to_str() else { continue };
        for entry in line.split(',') {
            let mut parts = entry.split(';');
            let token = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            if token.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in parts {
                if let Some((k, v)) = param.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = qvalue(v);
                    }
                }
            }
            // An unreadable q-value makes the entry unusable, not a preference.
            let Some(q) = q else { continue };
            let token = if token == "x-gzip" {
                "gzip".to_owned()
            } else {
                token
            };
            named.push((token, q));
        }
    }
    if !any {
        return None;
    }
    let q_of = |token: &str| {
        let exact = named
            .iter()
            .filter(|(t, _)| t == token)
            .map(|(_, q)| *q)
            .max();
        exact.or_else(|| named.iter().find(|(t, _)| t == "*").map(|(_, q)| *q))
    };
    let mut best: Option<(Coding, u16)> = None;
    for &coding in offers {
        let q = q_of(coding.token()).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((coding, q));
        }
    }
    let (coding, q) = best?;
    let identity = named.iter().find(|(t, _)| t == "identity").map(|(_, q)| *q);
    match identity {
        Some(iq) if iq > q => None,
        _ => Some(coding),
    }
}

/// Whether `response` to a `method` request could be compressed at all (whatever the client
/// accepts): a body of at least `min_size` bytes that is not encoded already (a `no-op`
/// backend's gzip answer passes untouched), not a range, not `no-transform`, not a media type
/// that is compressed by nature.
pub fn eligible(config: &Compression, method: &Method, response: &Response<Bytes>) -> bool {
    let h = response.headers();
    let status = response.status();
    let media = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let compressed_type = COMPRESSED_TYPES.iter().any(|t| media.starts_with(t))
        && !TEXT_IMAGES.iter().any(|t| media.starts_with(t));
    let no_transform = h
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("no-transform"));
    config.enabled
        && method != Method::HEAD
        && response.body().len() >= config.min_size
        && !matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
        )
        && !status.is_informational()
        && !h.contains_key(CONTENT_ENCODING)
        && !h.contains_key(CONTENT_RANGE)
        && !no_transform
        && !compressed_type
}

/// Decide for one response: `None` when it stays as it is. Whenever the answer could have
/// been compressed for some client, `Vary: Accept-Encoding` is added, so caches keep the
/// variants apart.
pub fn plan(
    config: Option<&Compression>,
    method: &Method,
    request_headers: &HeaderMap,
    response: &mut Response<Bytes>,
) -> Option<Plan> {
    let config = config?;
    if !eligible(config, method, response) {
        return None;
    }
    add_vary(response.headers_mut());
    let coding = negotiate(request_headers, &config.encodings)?;
    let level = match coding {
        Coding::Brotli => config.brotli_level,
        Coding::Gzip => config.gzip_level,
    };
    Some(Plan { coding, level })
}

/// Put the compressed `body` in `response`: `Content-Encoding`, no stale `Content-Length`,
/// and a strong `ETag` made weak (the bytes differ from the identity variant's).
pub fn finish(response: &mut Response<Bytes>, coding: Coding, body: Bytes) {
    *response.body_mut() = body;
    let h = response.headers_mut();
    h.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    h.remove(CONTENT_LENGTH);
    if let Some(tag) = h.get(ETAG).filter(|t| !t.as_bytes().starts_with(b"W/")) {
        let mut weak = b"W/".to_vec();
        weak.extend_from_slice(tag.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&weak) {
            h.insert(ETAG, v);
        }
    }
}

/// Add `Accept-Encoding` to `Vary` unless it is there (or `Vary: *`).
fn add_vary(h: &mut HeaderMap) {
    let present = h
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("accept-encoding"));
    if !present {
        h.append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[Coding] = &[Coding::Brotli, Coding::Gzip];

    fn pick(accept: &[&str]) -> Option<Coding> {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(ACCEPT_ENCODING, HeaderValue::from_str(a).unwrap());
        }
        negotiate(&h, BOTH)
    }

    #[test]
    fn q_values_decide_and_ties_follow_the_offer_order() {
        assert_eq!(pick(&["gzip, deflate, br"]), Some(Coding::Brotli));
        assert_eq!(pick(&["gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br;q=0.5, gzip;q=0.8"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br;q=0.5", "gzip;Q=1.0"]), Some(Coding::Gzip));
        assert_eq!(pick(&["x-gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["*"]), Some(Coding::Brotli));
        assert_eq!(pick(&["*, br;q=0"]), Some(Coding::Gzip));
        assert_eq!(pick(&["gzip;q=0, br;q=0"]), None);
        assert_eq!(pick(&["deflate, identity"]), None);
        assert_eq!(pick(&[""]), None);
        assert_eq!(pick(&[]), None);
        assert_eq!(pick(&["gzip;q=0.5, identity"]), None);
        assert_eq!(pick(&["gzip;q=0.5, identity;q=0.5"]), Some(Coding::Gzip));
        // An unreadable q-value drops that entry only.
        assert_eq!(pick(&["br;q=2, gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br;q=0.0001"]), None);
        assert_eq!(pick(&["br;q=0.001"]), Some(Coding::Brotli));
    }

    fn response(body: usize, headers: &[(&str, &str)]) -> Response<Bytes> {
        let mut r = Response::new(Bytes::from(vec![b'a'; body]));
        for (k, v) in headers {
            r.headers_mut().append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        r
    }

    #[test]
    fn small_encoded_ranged_and_compressed_types_are_left_alone() {
        let c = Compression::default();
        let get = Method::GET;
        let json = ("content-type", "application/json");
        assert!(eligible(&c, &get, &response(1024, &[json])));
        assert!(!eligible(&c, &get, &response(1023, &[json])));
        assert!(!eligible(&c, &Method::HEAD, &response(4096, &[json])));
        assert!(!eligible(
            &c,
            &get,
            &response(4096, &[json, ("content-encoding", "gzip")])
        ));
        assert!(!eligible(
            &c,
            &get,
            &response(4096, &[("content-type", "image/png")])
        ));
        assert!(eligible(
            &c,
            &get,
            &response(4096, &[("content-type", "image/svg+xml")])
        ));
        assert!(!eligible(
            &c,
            &get,
            &response(4096, &[json, ("cache-control", "public, no-transform")])
        ));
        assert!(!eligible(
            &c,
            &get,
            &response(4096, &[json, ("content-range", "bytes 0-9/99")])
        ));
        let off = Compression {
            enabled: false,
            ..Compression::default()
        };
        assert!(!eligible(&off, &get, &response(4096, &[json])));
    }

    #[test]
    fn vary_is_added_once_and_a_strong_etag_becomes_weak() {
        let c = Compression::default();
        let mut accept = HeaderMap::new();
        accept.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let mut r = response(2048, &[("vary", "Origin"), ("etag", "\"abc\"")]);
        let p = plan(Some(&c), &Method::GET, &accept, &mut r).unwrap();
        assert_eq!(
            p,
            Plan {
                coding: Coding::Gzip,
                level: 6
            }
        );
        finish(&mut r, p.coding, Bytes::from_static(b"zz"));
        let vary: Vec<_> = r.headers().get_all(VARY).iter().collect();
        assert_eq!(vary, ["Origin", "Accept-Encoding"]);
        assert_eq!(r.headers()[ETAG], "W/\"abc\"");
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");
        // A client that accepts nothing still gets the Vary header.
        let mut r = response(2048, &[]);
        assert_eq!(
            plan(Some(&c), &Method::GET, &HeaderMap::new(), &mut r),
            None
        );
        assert_eq!(r.headers()[VARY], "Accept-Encoding");
        // Without the namespace nothing changes at all.
        let mut r = response(2048, &[]);
        assert_eq!(plan(None, &Method::GET, &accept, &mut r), None);
        assert!(r.headers().is_empty());
    }
}
