//! [`Value`] to JSON text exactly as Go's `encoding/json` writes it.

use super::Value;

/// Append the compact JSON of `v` to `out`.
pub fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(n.as_str()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

/// Append `s` as a JSON string with Go's escaping (HTML-safe: `<`, `>`, `&`, U+2028, U+2029).
///
/// Works on bytes: every byte that may need escaping is ASCII, or the lead byte 0xE2 of
/// U+2028/U+2029, so runs of ordinary text are copied in one piece (walking `char`s cost a
/// decode per character, which dominated writing large bodies).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    loop {
        let rest = bytes.get(i..).unwrap_or_default();
        i += super::scan::write_plain(rest);
        let Some(&b) = bytes.get(i) else { break };
        let (esc, len): (&str, usize) = match b {
            b'"' => ("\\\"", 1),
            b'\\' => ("\\\\", 1),
            b'\n' => ("\\n", 1),
            b'\r' => ("\\r", 1),
            b'\t' => ("\\t", 1),
            0x08 => ("\\b", 1),
            0x0c => ("\\f", 1),
            b'<' => ("\\u003c", 1),
            b'>' => ("\\u003e", 1),
            b'&' => ("\\u0026", 1),
            0xE2 => match bytes.get(i + 1..i + 3) {
                Some([0x80, 0xA8]) => ("\\u2028", 3),
                Some([0x80, 0xA9]) => ("\\u2029", 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => ("", 1),
        };
        out.push_str(s.get(last..i).unwrap_or_default());
        if esc.is_empty() {
            // The other control characters, as Go writes them.
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(esc);
        }
        i += len;
        last = i;
    }
    out.push_str(s.get(last..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    #[test]
    fn go_escaping() {
        let mut out = String::new();
        write_string(&mut out, "a<b>&\"\\\n\u{1}\u{2028}é\u{8}");
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\\\n\u0001\u2028é\b""#);
    }

    #[test]
    fn objects_come_out_sorted_and_compact() {
        let v = parse(br#" { "b" : [1, {"z":null,"a":true}], "a" : "x" } "#).unwrap();
        assert_eq!(v.to_json(), r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#);
    }
}
