//! [`Value`] to JSON text exactly as Go's `encoding/json` writes it.
//!
//! The text is built as bytes: every piece is copied from a `str` or is ASCII, so it is UTF-8
//! by construction, and copying bytes needs no per-string check. Where the caller wants a
//! `String` it is checked once at the end (one vectorised pass, which cannot fail); an
//! answer's body stays bytes ([`Value::to_json_bytes`]). Strings the parser marked verbatim
//! ([`Str`]) are copied whole; others are scanned for what Go escapes.

use super::{Str, Value};

/// Append the compact JSON of `v` to `out`.
///
/// The whole of `out` is checked as UTF-8 afterwards: build large documents with one call, not
/// by appending many small ones to a growing buffer.
pub fn write_json(out: &mut String, v: &Value) {
    let mut buf = std::mem::take(out).into_bytes();
    write_value(&mut buf, v);
    *out = into_text(buf);
}

/// Append `s` as a JSON string with Go's escaping (HTML-safe: `<`, `>`, `&`, U+2028, U+2029).
pub fn write_string(out: &mut String, s: &str) {
    let mut buf = std::mem::take(out).into_bytes();
    escape(&mut buf, s.as_bytes());
    *out = into_text(buf);
}

/// The written bytes as text.
pub(super) fn into_text(buf: Vec<u8>) -> String {
    // Never the fallback: every byte came from a `str` or is ASCII, written whole.
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub(super) fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            let mut items = items.iter();
            if let Some(first) = items.next() {
                write_value(out, first);
                for item in items {
                    out.push(b',');
                    write_value(out, item);
                }
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            let mut members = map.iter();
            if let Some((k, item)) = members.next() {
                write_str(out, k);
                out.push(b':');
                write_value(out, item);
                for (k, item) in members {
                    out.push(b',');
                    write_str(out, k);
                    out.push(b':');
                    write_value(out, item);
                }
            }
            out.push(b'}');
        }
    }
}

/// A string or key: copied whole when the parser found nothing to escape in it. Inlined, and
/// the escaping kept out of line: a call per string that saves and restores the escaper's
/// registers cost more than the copy itself.
#[inline(always)]
pub(super) fn write_str(out: &mut Vec<u8>, s: &Str) {
    if s.is_verbatim() {
        s.write_quoted(out);
    } else {
        escape(out, s.as_bytes());
    }
}

/// `bytes` (UTF-8) as a JSON string with Go's escaping.
///
/// Every byte that may need escaping is ASCII, or the lead byte 0xE2 of U+2028/U+2029, so runs
/// of ordinary text are copied in one piece (walking `char`s cost a decode per character).
#[inline(never)]
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let mut last = 0;
    let mut i = 0;
    loop {
        let rest = bytes.get(i..).unwrap_or_default();
        i += super::scan::write_plain(rest);
        let Some(&b) = bytes.get(i) else { break };
        let (esc, len): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            b'<' => (b"\\u003c", 1),
            b'>' => (b"\\u003e", 1),
            b'&' => (b"\\u0026", 1),
            0xE2 => match bytes.get(i + 1..i + 3) {
                Some([0x80, 0xA8]) => (b"\\u2028", 3),
                Some([0x80, 0xA9]) => (b"\\u2029", 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => (b"", 1),
        };
        out.extend_from_slice(bytes.get(last..i).unwrap_or_default());
        if esc.is_empty() {
            // The other control characters, as Go writes them.
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        i += len;
        last = i;
    }
    out.extend_from_slice(bytes.get(last..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    #[test]
    fn a_sized_write_starts_with_its_buffer() {
        let v = parse(br#"{"b":[1,"x"],"a":null}"#).unwrap();
        let plain = v.to_json();
        // A hint of exactly the text's length: one buffer, no regrowth at the last string.
        let sized = v.to_json_bytes(plain.len());
        assert_eq!(sized, plain.as_bytes());
        assert_eq!(
            sized.capacity(),
            plain.len() + super::super::str::WINDOW,
            "one buffer of the hinted size, no regrowth"
        );
        // A hint far above the text (a filter dropped most of the body): the unused buffer
        // is given back, whatever the hint (capped at MAX_PRESIZE anyway).
        for hint in [64 * 1024, usize::MAX] {
            let shrunk = v.to_json_bytes(hint);
            assert_eq!(shrunk, plain.as_bytes());
            assert!(shrunk.capacity() < 4096, "{hint}: {}", shrunk.capacity());
        }
        assert_eq!(
            v.to_json_bytes(4),
            plain.as_bytes(),
            "a short hint only means regrowth"
        );
    }

    #[test]
    fn go_escaping() {
        let mut out = String::new();
        write_string(&mut out, "a<b>&\"\\\n\u{1}\u{2028}é\u{8}");
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\\\n\u0001\u2028é\b""#);
    }

    /// A string the parser marked verbatim comes out exactly as one written from plain text
    /// (which is always scanned), for every kind of byte Go escapes or leaves alone.
    #[test]
    fn parsed_strings_write_like_plain_text() {
        let samples = [
            "",
            "plain",
            "a<b",
            "x>",
            "&",
            "€ U+20AC shares the lead byte 0xE2",
            "\u{2028}",
            "\u{2029}x",
            "\u{2027}",
            "tab\tnew\nline",
            "quote\"back\\",
            "\u{1}\u{1f}",
            "é😀",
            "123456789012345678901",
            "1234567890123456789012<",
        ];
        for text in samples {
            let mut expected = String::new();
            write_string(&mut expected, text);
            // `expected` is also valid JSON for `text`: parse it back and write it again.
            let parsed = parse(expected.as_bytes()).unwrap();
            assert_eq!(parsed.as_str(), Some(text));
            assert_eq!(parsed.to_json(), expected, "{text:?}");
            // The same text unescaped in the input (where JSON allows it raw).
            if !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
                let raw = format!("\"{text}\"");
                assert_eq!(
                    parse(raw.as_bytes()).unwrap().to_json(),
                    expected,
                    "{text:?}"
                );
                let key = format!("{{\"{text}\":1}}");
                let mut want = String::from("{");
                write_string(&mut want, text);
                want.push_str(":1}");
                assert_eq!(parse(key.as_bytes()).unwrap().to_json(), want, "{text:?}");
            }
        }
    }

    #[test]
    fn objects_come_out_sorted_and_compact() {
        let v = parse(br#" { "b" : [1, {"z":null,"a":true}], "a" : "x" } "#).unwrap();
        assert_eq!(v.to_json(), r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#);
    }
}
