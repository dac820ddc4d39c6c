//! AWS Signature Version 4 (header form), pure: method, URL, headers, body and the time given by
//! the caller (the `Clock` port) in, the headers to add out. Used by `backend/lambda`; checked
//! against AWS's published `get-vanilla` example and against botocore's signer (tests below).

use hmac::{Hmac, Mac};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::platform::{hex, BackendRequest};

/// AWS credentials (the standard environment variables).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub(crate) access_key: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub(crate) secret_key: String,
    /// `AWS_SESSION_TOKEN` (temporary credentials).
    pub(crate) session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (SigV4's UriEncode).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same, keeping `/` (paths).
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";

/// Sign `request` in place for `service` in `region` at `now_ms` (Unix ms): adds `Host` (when
/// missing), `X-Amz-Date`, `X-Amz-Security-Token` (temporary credentials) and `Authorization`.
/// Every header present is signed.
pub(crate) fn sign(
    request: &mut BackendRequest,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now_ms: u64,
) -> Result<(), String> {
    let stamp = amz_date(now_ms);
    let date = stamp.get(..8).unwrap_or_default().to_owned();
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or("the URL has no host")?;
    let headers = request.headers_mut();
    headers.remove(AUTHORIZATION);
    if !headers.contains_key(HOST) {
        headers.insert(HOST, value(&host)?);
    }
    headers.insert(HeaderName::from_static(X_AMZ_DATE), value(&stamp)?);
    if let Some(token) = &credentials.session_token {
        headers.insert(HeaderName::from_static(X_AMZ_SECURITY_TOKEN), value(token)?);
    }

    // Canonical headers: names lower-case and sorted, values trimmed with inner runs of
    // spaces folded, repeated headers joined with commas.
    let mut names: Vec<&str> = request.headers().keys().map(HeaderName::as_str).collect();
    crate::sort::sort(&mut names);
    names.dedup();
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = request
            .headers()
            .get_all(*name)
            .iter()
            .map(|v| fold_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    let signed_headers = names.join(";");

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method().as_str(),
        canonical_uri(request.uri().path()),
        canonical_query(request.uri().query().unwrap_or("")),
        canonical_headers,
        signed_headers,
        hex(&Sha256::digest(request.body()))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key
    );
    request
        .headers_mut()
        .insert(AUTHORIZATION, value(&authorization)?);
    Ok(())
}

fn value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::try_from(text).map_err(|_| format!("`{text}` is not a valid header value"))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; the error branch cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `YYYYMMDD'T'HHMMSS'Z'` of a Unix time in ms.
fn amz_date(now_ms: u64) -> String {
    let secs = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
    let (y, m, d) = crate::time::civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// The path as sent, encoded once more (every service but S3 signs the double-encoded path).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    utf8_percent_encode(path, PATH).to_string()
}

/// Query pairs decoded, re-encoded with SigV4's rules and sorted by key, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let enc = |s: &str| {
                let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
                utf8_percent_encode(&decoded, UNRESERVED).to_string()
            };
            (enc(k), enc(v))
        })
        .collect();
    crate::sort::sort(&mut pairs);
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Trim, and fold runs of spaces into one.
fn fold_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn example_credentials() -> Credentials {
        Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    /// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
    const SUITE_TIME_MS: u64 = 1_440_938_160_000;

    fn header(req: &BackendRequest, name: &str) -> String {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    #[test]
    fn aws_get_vanilla_example() {
        // AWS's SigV4 test suite, `get-vanilla`.
        let mut req = http::Request::builder()
            .uri("https://example.amazonaws.com/")
            .body(Bytes::new())
            .unwrap();
        sign(
            &mut req,
            &example_credentials(),
            "us-east-1",
            "service",
            SUITE_TIME_MS,
        )
        .unwrap();
        assert_eq!(header(&req, "x-amz-date"), "20150830T123600Z");
        assert_eq!(
            header(&req, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn encoded_path_and_unsorted_query_match_botocore() {
        // Reference: botocore 1.43 SigV4Auth on the same request and time.
        let mut req = http::Request::builder()
            .uri("https://example.amazonaws.com/a%20b/c?b=2&a=1&a=0")
            .body(Bytes::new())
            .unwrap();
        sign(
            &mut req,
            &example_credentials(),
            "us-east-1",
            "service",
            SUITE_TIME_MS,
        )
        .unwrap();
        assert!(header(&req, "authorization").ends_with(
            "Signature=bd60d0af0a1c6e407085805c9d312669f14c86c13e4c5e7a7bcff84c92625da0"
        ));
    }

    #[test]
    fn lambda_invoke_with_session_token_matches_botocore() {
        // Reference: botocore 1.43 SigV4Auth, service `lambda`, 2026-12-01T19:30:05Z.
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:9001/2015-03-31/functions/my-fn/invocations")
            .header("content-type", "application/json")
            .body(Bytes::from_static(b"{\"id\":\"1\"}\n"))
            .unwrap();
        let credentials = Credentials {
            access_key: "AKIAEXAMPLE".into(),
            secret_key: "secret/key+x".into(),
            session_token: Some("session-token-1".into()),
        };
        sign(
            &mut req,
            &credentials,
            "eu-west-1",
            "lambda",
            1_796_153_405_000,
        )
        .unwrap();
        assert_eq!(header(&req, "x-amz-date"), "20261201T193005Z");
        assert_eq!(header(&req, "x-amz-security-token"), "session-token-1");
        assert_eq!(
            header(&req, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261201/eu-west-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=7821fa4bd38bced643ec733cea87adae60ee30b1cb87f6c8e268f8129e1d870a"
        );
        assert!(!format!("{credentials:?}").contains("secret"));
    }
}
