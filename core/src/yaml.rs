//! YAML output in the layout of Go's `gopkg.in/yaml.v2` (what KrakenD's negotiate render
//! uses): two-space mappings, sequences at their key's indentation, sorted keys, plain
//! scalars unless a string would read back as something else, then double quotes.

use crate::json::{Map, Value};

/// Encode response data as a YAML document.
pub(crate) fn encode(data: &Map) -> String {
    let mut out = String::new();
    if data.is_empty() {
        out.push_str("{}\n");
    } else {
        mapping(&mut out, data, 0, false);
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A block mapping at `indent`; `inline_first` when the first key continues a `- ` line.
fn mapping(out: &mut String, m: &Map, indent: usize, inline_first: bool) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        string(out, k);
        out.push(':');
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                mapping(out, inner, indent + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, indent, false);
            }
            other => {
                out.push(' ');
                scalar(out, other);
                out.push('\n');
            }
        }
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize, inline_first: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => mapping(out, inner, indent + 2, true),
            Value::Array(inner) if !inner.is_empty() => sequence(out, inner, indent + 2, true),
            other => {
                scalar(out, other);
                out.push('\n');
            }
        }
    }
}

fn scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n.as_str()),
        Value::String(s) => string(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `s` can be written without quotes and still read back as the same string.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return false;
    }
    if s.chars().any(char::is_control) {
        return false;
    }
    if "[]{},#&*!|>'\"%@`".contains(first) {
        return false;
    }
    let second = s.chars().nth(1);
    if "-?:".contains(first) && second.is_none_or(char::is_whitespace) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.starts_with("---") {
        return false;
    }
    !reads_as_other_type(s)
}

/// YAML 1.1 (yaml.v2) resolves these plain scalars to bools, nulls or numbers.
fn reads_as_other_type(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) {
        return true;
    }
    if matches!(
        lower.as_str(),
        ".inf" | "-.inf" | "+.inf" | ".nan" | "0x" | "0o" | "0b"
    ) || lower.starts_with("0x")
        || lower.starts_with("0o")
        || lower.starts_with("0b")
    {
        return true;
    }
    let digits = s.trim_start_matches(['+', '-']).replace('_', "");
    !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | ':'))
        && digits
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn yaml(json: &str) -> String {
        let Value::Object(m) = parse(json.as_bytes()).unwrap() else {
            panic!("object expected")
        };
        encode(&m)
    }

    #[test]
    fn krakend_ce_negotiate_plain() {
        assert_eq!(
            yaml(r#"{"user":{"-type":"admin","name":"Elliot","social":{"facebook":"https://facebook.com","twitter":"https://twitter.com","youtube":"https://youtube.com"}}}"#),
            "user:\n  -type: admin\n  name: Elliot\n  social:\n    facebook: https://facebook.com\n    twitter: https://twitter.com\n    youtube: https://youtube.com\n"
        );
    }

    #[test]
    fn sequences_scalars_and_quoting() {
        assert_eq!(
            yaml(r##"{"a":[1,{"b":"x","c":[]},["y"]],"e":{},"n":null,"q":["true","42","","a: b","- x","#c","ok"]}"##),
            "a:\n- 1\n- b: x\n  c: []\n- - \"y\"\ne: {}\n\"n\": null\nq:\n- \"true\"\n- \"42\"\n- \"\"\n- \"a: b\"\n- \"- x\"\n- \"#c\"\n- ok\n"
        );
        assert_eq!(encode(&Map::new()), "{}\n");
    }
}
