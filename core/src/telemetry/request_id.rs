//! `X-Request-Id`: the client's, when it is safe to log and to send back, or a new one.

use http::{HeaderMap, HeaderName};

use crate::platform::{hex, Random};

/// `x-request-id` (a constant name: looking a header up by `&str` parses the name first).
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id accepted from a client.
pub(crate) const MAX_REQUEST_ID: usize = 128;

/// The client's request id when it is 1 to [`MAX_REQUEST_ID`] characters from a small safe set
/// (letters, digits, `-_.:+/=@`: UUIDs, ULIDs, base64, hex...), so it cannot break a log line or
/// a header; otherwise 32 new hex digits.
pub(crate) fn request_id(headers: &HeaderMap, random: &dyn Random) -> String {
    crate::http_util::first(headers, &X_REQUEST_ID)
        .map(|v| v.as_bytes())
        .filter(|v| is_safe(v))
        .and_then(|v| std::str::from_utf8(v).ok())
        .map_or_else(|| generate(random), str::to_owned)
}

fn is_safe(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&value.len())
        && value
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:+/=@".contains(c))
}

fn generate(random: &dyn Random) -> String {
    let mut bytes = [0u8; 16];
    let (high, low) = bytes.split_at_mut(8);
    high.copy_from_slice(&random.next_u64().to_be_bytes());
    low.copy_from_slice(&random.next_u64().to_be_bytes());
    hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, http::HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn a_safe_id_is_kept_and_anything_else_replaced() {
        let random = || 0x0102_0304_0506_0708_u64;
        let uuid = b"3f1c7c8e-2b7a-4e0e-9d4c-1f2a3b4c5d6e";
        assert_eq!(request_id(&with(uuid), &random).as_bytes(), uuid);
        let generated = "01020304050607080102030405060708";
        for bad in [
            &b"a b"[..],
            b"x\"y",
            b"a;b",
            b"\xc3\xa9t\xc3\xa9",
            &[b'a'; 129],
        ] {
            assert_eq!(request_id(&with(bad), &random), generated, "{bad:?}");
        }
        assert_eq!(request_id(&with(&[b'a'; 128]), &random).len(), 128);
        assert_eq!(request_id(&HeaderMap::new(), &random), generated);
    }
}
