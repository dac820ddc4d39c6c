//! W3C Trace Context (`traceparent`, `tracestate`): reading the client's, starting a new
//! trace, writing the header a backend call carries.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::http_util::first;
use crate::platform::{hex_into, Random, TraceIds};

/// `traceparent`.
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`.
pub(crate) const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// Longest `tracestate` passed on (W3C: 32 entries; vendors stay far below this).
const MAX_TRACESTATE: usize = 512;

/// The client's trace, when its `traceparent` is valid: trace id, its span, sampled flag.
pub(crate) fn parse(value: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let value = value.trim();
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    // Version 00 has exactly four fields; a later version may append more.
    let later = parts.next().is_some();
    if version.len() != 2 || version == "ff" || (version == "00" && later) {
        return None;
    }
    u8::from_str_radix(version, 16).ok()?;
    let trace_id: [u8; 16] = unhex(trace)?;
    let span_id: [u8; 8] = unhex(parent)?;
    let [flags]: [u8; 1] = unhex(flags)?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some((trace_id, span_id, flags & 1 == 1))
}

/// Fixed-length lower-case hex (W3C forbids upper case).
fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        *out.get_mut(i)? = digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?;
    }
    Some(out)
}

/// A non-zero span id.
pub(crate) fn span_id(random: &dyn Random) -> [u8; 8] {
    let id = random.next_u64();
    (if id == 0 { 1 } else { id }).to_be_bytes()
}

/// A non-zero trace id.
pub(crate) fn trace_id(random: &dyn Random) -> [u8; 16] {
    let mut id = [0u8; 16];
    let (high, low) = id.split_at_mut(8);
    high.copy_from_slice(&random.next_u64().to_be_bytes());
    low.copy_from_slice(&span_id(random));
    id
}

/// The request's ids: the client's trace continued when `continued` and its header is valid,
/// otherwise a new trace, sampled with probability `sample_rate`.
pub(crate) fn ids(
    headers: &HeaderMap,
    continued: bool,
    sample_rate: f64,
    random: &dyn Random,
) -> TraceIds {
    let client = continued
        .then(|| first(headers, &TRACEPARENT)?.to_str().ok().and_then(parse))
        .flatten();
    let (trace_id, parent_span, sampled) = match client {
        Some((trace, span, sampled)) => (trace, Some(span), sampled),
        None => {
            let trace = trace_id(random);
            // 53 random bits against the rate: exact at 0 and 1.
            let draw = (random.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (trace, None, draw < sample_rate)
        }
    };
    let tracestate = client
        .and_then(|_| first(headers, &TRACESTATE)?.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE)
        .map(str::to_owned);
    TraceIds {
        trace_id,
        server_span: span_id(random),
        proxy_span: span_id(random),
        parent_span,
        sampled,
        tracestate,
    }
}

/// A `traceparent`'s text: version, trace id, span id, flags.
pub(crate) type Traceparent = [u8; 55];

/// The `traceparent` text of a call whose span is `span`, on the stack (one per backend call,
/// so no `String` and no per-id copies); [`value`] makes it a header value for each hop.
pub(crate) fn text(ids: &TraceIds, span: &[u8; 8]) -> Traceparent {
    let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let (trace_hex, rest) = text.split_at_mut(35);
    if let Some(hex) = trace_hex.get_mut(3..) {
        hex_into(hex, &ids.trace_id);
    }
    if let Some(hex) = rest.get_mut(1..17) {
        hex_into(hex, span);
    }
    if let (true, Some(flag)) = (ids.sampled, rest.last_mut()) {
        *flag = b'1';
    }
    text
}

/// [`text`] as a header value: made for the hop that sends it, so that it is never cloned (a
/// clone of a value made from bytes allocates to share them).
pub(crate) fn value(text: &Traceparent) -> Option<HeaderValue> {
    HeaderValue::from_bytes(text).ok()
}

/// The `traceparent` of a call whose span is `span`.
#[cfg(test)]
pub(crate) fn header(ids: &TraceIds, span: &[u8; 8]) -> Option<HeaderValue> {
    value(&text(ids, span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_headers_are_read() {
        let (trace, span, sampled) =
            parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(
            crate::platform::hex(&trace),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(crate::platform::hex(&span), "00f067aa0ba902b7");
        assert!(sampled);
        let (_, _, sampled) =
            parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!sampled);
        // A later version may carry more fields.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz").is_some());
    }

    #[test]
    fn invalid_headers_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_header_is_version_trace_span_flags() {
        let mut ids = ids(&HeaderMap::new(), true, 1.0, &|| 0x0102_0304_0506_0708_u64);
        ids.trace_id = *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36";
        let span = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
        let value = header(&ids, &span).unwrap();
        assert_eq!(
            value.to_str().unwrap(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(
            parse(value.to_str().unwrap()),
            Some((ids.trace_id, span, true))
        );
        ids.sampled = false;
        assert!(header(&ids, &span)
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-00"));
    }

    #[test]
    fn sampling_follows_the_rate_for_new_traces() {
        let counter = std::sync::atomic::AtomicU64::new(0);
        let random =
            move || counter.fetch_add(0x1234_5678_9abc_def1, std::sync::atomic::Ordering::Relaxed);
        let headers = HeaderMap::new();
        assert!(!ids(&headers, true, 0.0, &random).sampled);
        assert!(ids(&headers, true, 1.0, &random).sampled);
    }
}
