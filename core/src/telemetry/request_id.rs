//! `X-Request-Id`: the client's, when it is safe to log and to send back, or a new one.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::platform::{hex_into, Random};

/// `x-request-id` (a constant name: looking a header up by `&str` parses the name first).
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id accepted from a client.
pub(crate) const MAX_REQUEST_ID: usize = 128;

/// The client's request id when it is 1 to [`MAX_REQUEST_ID`] characters from a small safe set
/// (letters, digits, `-_.:+/=@`: UUIDs, ULIDs, base64, hex...), so it cannot break a log line or
/// a header; otherwise 32 new hex digits. As a header value: the answer's header and the
/// record share it.
pub(crate) fn request_id(headers: &HeaderMap, random: &dyn Random) -> HeaderValue {
    crate::http_util::first(headers, &X_REQUEST_ID)
        .filter(|v| is_safe(v.as_bytes()))
        .cloned()
        .unwrap_or_else(|| generate(random))
}

fn is_safe(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&value.len())
        && value
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:+/=@".contains(c))
}

fn generate(random: &dyn Random) -> HeaderValue {
    let mut digits = [0u8; 32];
    let (high, low) = digits.split_at_mut(16);
    hex_into(high, &random.next_u64().to_be_bytes());
    hex_into(low, &random.next_u64().to_be_bytes());
    // The digits are their own owner: one allocation, and each clone (the answer's header,
    // the record) counts a reference (`Bytes` from a vector would allocate again when first
    // cloned).
    HeaderValue::from_maybe_shared(Bytes::from_owner(digits))
        .unwrap_or_else(|_| HeaderValue::from_static("0"))
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
