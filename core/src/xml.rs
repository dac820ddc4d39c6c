//! XML in both directions, with KrakenD's (mxj's) mapping: the root element is the one
//! top-level key, attributes become `-name` keys, text next to attributes or children becomes
//! `#text`, repeated elements become arrays, and every value stays a string (no casting).
//! Output reverses it; data with more than one top-level key is wrapped in `<doc>`.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::json::{Map, Value, MAX_DEPTH};

/// One element being built: its name, attributes/children, and text.
struct Open {
    name: String,
    map: Map,
    text: String,
}

/// Decode an XML document into `{"<root>": ...}`.
pub(crate) fn decode(body: &[u8]) -> Result<Map, String> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Map> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("invalid XML from backend: {e}"))?;
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err("invalid XML from backend: nested too deeply".to_owned());
                }
                stack.push(open(&e)?);
            }
            Event::Empty(e) => {
                let el = open(&e)?;
                close(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| "invalid XML from backend: unexpected end tag".to_owned())?;
                close(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| format!("invalid XML from backend: {e}"))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => {
                        return Err(
                            "invalid XML from backend: text outside the root element".to_owned()
                        )
                    }
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("invalid XML from backend: unclosed element".to_owned());
    }
    root.ok_or_else(|| "invalid XML from backend: no root element".to_owned())
}

fn open(e: &BytesStart<'_>) -> Result<Open, String> {
    let bad = |e: &dyn std::fmt::Display| format!("invalid XML from backend: {e}");
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut map = Map::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|e| bad(&e))?;
        let key = format!("-{}", String::from_utf8_lossy(attr.key.as_ref()));
        let value = attr.unescape_value().map_err(|e| bad(&e))?;
        map.insert(key.into(), Value::String(value.into_owned().into()));
    }
    Ok(Open {
        name,
        map,
        text: String::new(),
    })
}

/// Attach a finished element to its parent (a repeated name becomes an array), or make it
/// the document's root.
fn close(stack: &mut [Open], root: &mut Option<Map>, el: Open) -> Result<(), String> {
    let value = if el.map.is_empty() {
        Value::String(el.text.into())
    } else {
        let mut map = el.map;
        if !el.text.is_empty() {
            map.insert("#text".into(), Value::String(el.text.into()));
        }
        Value::Object(map)
    };
    match stack.last_mut() {
        Some(parent) => {
            match parent.map.remove(&el.name) {
                None => parent.map.insert(el.name.into(), value),
                Some(Value::Array(mut items)) => {
                    items.push(value);
                    parent.map.insert(el.name.into(), Value::Array(items))
                }
                Some(first) => parent
                    .map
                    .insert(el.name.into(), Value::Array(vec![first, value])),
            };
            Ok(())
        }
        None if root.is_none() => {
            let mut m = Map::new();
            m.insert(el.name.into(), value);
            *root = Some(m);
            Ok(())
        }
        None => Err("invalid XML from backend: more than one root element".to_owned()),
    }
}

/// Encode response data as XML: the single top-level key is the root element, otherwise
/// `<doc>` wraps everything. Text and attribute values are escaped and element names that
/// XML cannot carry are made safe (`_` replaces the offending characters).
pub(crate) fn encode(data: &Map) -> String {
    let mut out = String::new();
    match data.iter().next() {
        Some((key, value)) if data.len() == 1 && !matches!(value, Value::Array(_)) => {
            element(&mut out, key, value);
        }
        _ => element(&mut out, "doc", &Value::Object(data.clone())),
    }
    out
}

fn element(out: &mut String, name: &str, value: &Value) {
    let name = element_name(name);
    match value {
        Value::Array(items) if items.is_empty() => empty(out, &name, ""),
        Value::Array(items) => {
            for item in items {
                element(out, &name, item);
            }
        }
        Value::Object(m) => {
            let mut attrs = String::new();
            let mut text = None;
            let mut children = String::new();
            for (k, v) in m {
                if let Some(attr) = k.strip_prefix('-').filter(|a| !a.is_empty()) {
                    if let Some(s) = scalar(v) {
                        attrs.push(' ');
                        attrs.push_str(&element_name(attr));
                        attrs.push_str("=\"");
                        escape(&mut attrs, &s, true);
                        attrs.push('"');
                        continue;
                    }
                }
                if k == "#text" {
                    text = scalar(v);
                    continue;
                }
                element(&mut children, k, v);
            }
            if children.is_empty() && text.as_deref().is_none_or(str::is_empty) {
                empty(out, &name, &attrs);
                return;
            }
            out.push('<');
            out.push_str(&name);
            out.push_str(&attrs);
            out.push('>');
            if let Some(t) = text {
                escape(out, &t, false);
            }
            out.push_str(&children);
            close_tag(out, &name);
        }
        other => match scalar(other) {
            Some(s) if !s.is_empty() => {
                out.push('<');
                out.push_str(&name);
                out.push('>');
                escape(out, &s, false);
                close_tag(out, &name);
            }
            _ => empty(out, &name, ""),
        },
    }
}

fn empty(out: &mut String, name: &str, attrs: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str(attrs);
    out.push_str("/>");
}

fn close_tag(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.as_str().to_owned()),
        Value::String(s) => Some(s.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn escape(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
}

/// A name XML accepts: letters, digits, `_ - . :`, not starting with a digit, `-` or `.`.
fn element_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name
        .chars()
        .next()
        .is_none_or(|c| c.is_ascii_digit() || c == '-' || c == '.')
    {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<user type="admin">
  <name>Elliot</name>
  <social>
    <facebook>https://facebook.com</facebook>
    <twitter>https://twitter.com</twitter>
    <youtube>https://youtube.com</youtube>
  </social>
</user>"#;

    #[test]
    fn krakend_ce_user_document_round_trips() {
        let data = decode(USER.as_bytes()).unwrap();
        assert_eq!(
            Value::Object(data.clone()).to_json(),
            r#"{"user":{"-type":"admin","name":"Elliot","social":{"facebook":"https://facebook.com","twitter":"https://twitter.com","youtube":"https://youtube.com"}}}"#
        );
        assert_eq!(
            encode(&data),
            r#"<user type="admin"><name>Elliot</name><social><facebook>https://facebook.com</facebook><twitter>https://twitter.com</twitter><youtube>https://youtube.com</youtube></social></user>"#
        );
    }

    #[test]
    fn repeated_elements_text_and_entities() {
        let data =
            decode(br#"<r><i>1</i><i>2</i><t a="x&amp;y">hi &lt;b&gt;</t><e/></r>"#).unwrap();
        assert_eq!(
            Value::Object(data).to_json(),
            r##"{"r":{"e":"","i":["1","2"],"t":{"#text":"hi \u003cb\u003e","-a":"x\u0026y"}}}"##
        );
    }

    #[test]
    fn broken_documents_are_errors() {
        for bad in [&b"<a><b></a>"[..], b"<a>", b"", b"text", b"<a/><b/>"] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn json_data_becomes_doc() {
        let Value::Object(m) = crate::json::parse(
            br#"{"foo":42,"headers":{"A":["gzip"]},"path":"/p/","query":{},"x y":"<&>"}"#,
        )
        .unwrap() else {
            panic!("object expected")
        };
        assert_eq!(
            encode(&m),
            "<doc><foo>42</foo><headers><A>gzip</A></headers><path>/p/</path><query/><x_y>&lt;&amp;&gt;</x_y></doc>"
        );
        assert_eq!(encode(&Map::new()), "<doc/>");
    }
}
