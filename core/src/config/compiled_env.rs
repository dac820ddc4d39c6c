//! `${env:NAME}` placeholders in a config compiled into a Worker ([`super::bake`]). The build
//! decodes the config with each placeholder's stand-in ([`runtime_env::stand_in`]) and
//! writes the plan; [`rewrite`] turns every string literal of that expression holding a
//! stand-in into a call that puts the value in at start ([`Values`]). The values are read when
//! the gateway starts, never at build time, so no secret is in the module.
//!
//! A stand-in that decoding turned into something other than text (a digest, bytes, a number)
//! cannot be put back at start: the build decodes twice, with two different stand-ins, and
//! compiles the config in only when the two plans differ by the stand-ins' text alone
//! (build-support's `prepare`).

use super::bake::Unbakeable;
use super::env::{push_json_escaped, EnvError};
use super::runtime_env::stand_in;

/// Written just before the string literal of a JSON text (a JSON value, a JWK set) in a
/// compiled config: a value put into it at start is JSON-escaped.
pub const JSON_TEXT: &str = "/*json*/";

/// The name of the [`Values`] a compiled config's expression reads (`build-support`).
pub const VALUES: &str = "__env";

/// One placeholder of a compiled config: as written (`${env:NAME}` or
/// `${env:NAME:-default}`), its line and column.
pub type Site = (&'static str, usize, usize);

/// The values of a compiled config's placeholders, read at start.
#[derive(Debug, Default)]
pub struct Values {
    /// Per variable: its stand-in, its value as text and as JSON string content, and a
    /// placeholder as written.
    values: Vec<Value>,
}

/// One variable's value.
#[derive(Debug)]
struct Value {
    stand_in: String,
    text: String,
    json: String,
    written: &'static str,
}

/// `written` (`${env:NAME}` or `${env:NAME:-default}`) as its name and default.
fn parts(written: &str) -> (&str, Option<&str>) {
    let inner = written
        .strip_prefix("${env:")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or(written);
    match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    }
}

impl Values {
    /// Each of `sites` from `lookup`, as the run-time decoder resolves them: an unset or empty
    /// variable takes its default, and without one is an error at its place.
    pub fn resolve(
        sites: &[Site],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Values, Vec<EnvError>> {
        let mut values = Values::default();
        let mut errors = Vec::new();
        for &(written, line, column) in sites {
            let (name, default) = parts(written);
            let value = match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(value), _) => {
                    let mut json = String::new();
                    push_json_escaped(&mut json, &value);
                    (value, json)
                }
                // The default is JSON string content as written.
                (None, Some(default)) => {
                    let quoted = format!("\"{default}\"");
                    let text = match crate::json::parse(quoted.as_bytes()) {
                        Ok(crate::json::Value::String(text)) => text.to_string(),
                        _ => default.to_owned(),
                    };
                    (text, default.to_owned())
                }
                (None, None) => {
                    errors.push(EnvError {
                        line,
                        column,
                        variable: name.to_owned(),
                        message: format!("run-time variable `{name}` is not set (used as `{written}`, read when the gateway starts)"),
                    });
                    continue;
                }
            };
            let stand_in = stand_in(name);
            if values.values.iter().all(|v| v.stand_in != stand_in) {
                let (text, json) = value;
                values.values.push(Value {
                    stand_in,
                    text,
                    json,
                    written,
                });
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(errors)
        }
    }

    /// `literal` with each stand-in replaced by its value.
    pub fn text(&self, literal: &str) -> String {
        self.values.iter().fold(literal.to_owned(), |text, v| {
            text.replace(&v.stand_in, &v.text)
        })
    }

    /// `literal`, a JSON text, with each stand-in replaced by its value, JSON-escaped.
    pub fn json(&self, literal: &str) -> String {
        self.values.iter().fold(literal.to_owned(), |text, v| {
            text.replace(&v.stand_in, &v.json)
        })
    }

    /// `message` with each value (of four characters or more: shorter ones are no secrets and
    /// would garble it) replaced by its placeholder as written: what a compiled config says
    /// at start never shows a value.
    pub fn redact(&self, message: String) -> String {
        self.values
            .iter()
            .filter(|v| v.text.chars().count() >= 4)
            .fold(message, |m, v| m.replace(&v.text, v.written))
    }
}

/// `expr` (a compiled config) with every string literal that holds one of `stand_ins` read
/// through [`VALUES`] at start: `"…"` becomes `&*__env.text("…")`, or `.json(…)` after
/// [`JSON_TEXT`]. A stand-in in a byte string is [`Unbakeable`].
pub fn rewrite(expr: &str, stand_ins: &[String]) -> Result<String, Unbakeable> {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(start) = rest.find('"') {
        let (before, from_quote) = rest.split_at(start);
        let end = literal_end(from_quote).ok_or(Unbakeable("a string literal"))?;
        let (literal, after) = from_quote.split_at(end);
        rest = after;
        if !stand_ins.iter().any(|s| literal.contains(s.as_str())) {
            out.push_str(before);
            out.push_str(literal);
            continue;
        }
        if before.ends_with('b') {
            return Err(Unbakeable("a `${env:NAME}` placeholder in a name"));
        }
        let (before, method) = match before.strip_suffix(JSON_TEXT) {
            Some(before) => (before, "json"),
            None => (before, "text"),
        };
        out.push_str(before);
        out.push_str(&format!("&*{VALUES}.{method}({literal})"));
    }
    out.push_str(rest);
    Ok(out)
}

/// The length of the string literal at the start of `text` (which starts with its `"`),
/// quotes included; `None` when it does not end.
fn literal_end(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn literals_with_a_stand_in_read_the_value_at_start() {
        let key = stand_in("KEY");
        let expr = format!(
            r#"f("plain \"{key}", {JSON_TEXT}"{{\"k\":\"{key}\"}}", "a \"quoted\" one", b"x")"#
        );
        let rewritten = rewrite(&expr, std::slice::from_ref(&key)).unwrap();
        assert_eq!(
            rewritten,
            format!(
                r#"f(&*__env.text("plain \"{key}"), &*__env.json("{{\"k\":\"{key}\"}}"), "a \"quoted\" one", b"x")"#
            )
        );
        let in_bytes = format!(r#"g(b"{key}")"#);
        assert!(rewrite(&in_bytes, &[key]).is_err());
    }

    #[test]
    fn values_are_put_in_as_text_or_json_and_redacted() {
        let sites: &[Site] = &[("${env:KEY}", 3, 9), ("${env:KEY}", 5, 2)];
        let lookup = |name: &str| (name == "KEY").then(|| "se\"cret".to_owned());
        let values = Values::resolve(sites, lookup).unwrap();
        let key = stand_in("KEY");
        assert_eq!(values.text(&format!("a {key} b")), "a se\"cret b");
        assert_eq!(values.json(&format!("\"{key}\"")), "\"se\\\"cret\"");
        assert_eq!(
            values.redact("bad value se\"cret".to_owned()),
            "bad value ${env:KEY}"
        );
        // Unset and empty variables are errors at every place they are used.
        let errors = Values::resolve(sites, |_| Some(String::new())).unwrap_err();
        let places: Vec<_> = errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(places, [(3, 9), (5, 2)]);
        assert!(errors[0]
            .message
            .contains("run-time variable `KEY` is not set"));
    }

    #[test]
    fn an_unset_or_empty_variable_with_a_default_takes_it() {
        // The default as written is JSON string content: `\"` is a quote in the text.
        let sites: &[Site] = &[(r#"${env:MODE:-a\"b}"#, 1, 1)];
        let mode = stand_in("MODE");
        for unset in [None, Some(String::new())] {
            let values = Values::resolve(sites, |_| unset.clone()).unwrap();
            assert_eq!(values.text(&mode), "a\"b");
            assert_eq!(values.json(&mode), "a\\\"b");
        }
        let set = Values::resolve(sites, |_| Some("c".to_owned())).unwrap();
        assert_eq!(set.text(&mode), "c");
    }
}
