//! Values from the environment, applied to a config text before it is parsed:
//!
//! * `${NAME}` inside a JSON string value is replaced by the variable's value (JSON-escaped, so
//!   any value is safe). `$${` stands for a literal `${`. An undefined variable is an error
//!   with the placeholder's line and column.
//! * `MANIFOLD_PORT`, `MANIFOLD_TIMEOUT`, `MANIFOLD_CACHE_TTL`, `MANIFOLD_LISTEN_IP` and the
//!   server's `MANIFOLD_READ_TIMEOUT`, `_WRITE_TIMEOUT`, `_IDLE_TIMEOUT`, `_READ_HEADER_TIMEOUT`,
//!   `_MAX_HEADER_BYTES` override the root keys of those names; KrakenD's `KRAKEND_*` twins do
//!   the same, and the `MANIFOLD_*` one wins when both are set. They are appended to the root object, where the last duplicate key wins, so the
//!   rest of the text and every line:column in it stay as written.
//!
//! Both take a `lookup` function rather than reading the process environment, so they are pure
//! and testable; pass `|name| std::env::var(name).ok()`.

use std::fmt;
use std::net::IpAddr;

use super::parse_duration;

/// The variables that override root keys: (Manifold's variable, KrakenD's twin, root key).
/// When both are set, Manifold's wins ([`override_notes`] says so).
pub const ROOT_OVERRIDES: &[(&str, &str, &str)] = &[
    ("MANIFOLD_PORT", "KRAKEND_PORT", "port"),
    ("MANIFOLD_TIMEOUT", "KRAKEND_TIMEOUT", "timeout"),
    ("MANIFOLD_CACHE_TTL", "KRAKEND_CACHE_TTL", "cache_ttl"),
    ("MANIFOLD_LISTEN_IP", "KRAKEND_LISTEN_IP", "listen_ip"),
    (
        "MANIFOLD_READ_TIMEOUT",
        "KRAKEND_READ_TIMEOUT",
        "read_timeout",
    ),
    (
        "MANIFOLD_WRITE_TIMEOUT",
        "KRAKEND_WRITE_TIMEOUT",
        "write_timeout",
    ),
    (
        "MANIFOLD_IDLE_TIMEOUT",
        "KRAKEND_IDLE_TIMEOUT",
        "idle_timeout",
    ),
    (
        "MANIFOLD_READ_HEADER_TIMEOUT",
        "KRAKEND_READ_HEADER_TIMEOUT",
        "read_header_timeout",
    ),
    (
        "MANIFOLD_MAX_HEADER_BYTES",
        "KRAKEND_MAX_HEADER_BYTES",
        "max_header_bytes",
    ),
];

/// The overrides set twice (`MANIFOLD_*` and its `KRAKEND_*` twin), as (root key, message):
/// Manifold's variable is the one applied.
pub fn override_notes(lookup: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    ROOT_OVERRIDES
        .iter()
        .filter_map(|(ours, theirs, key)| {
            let (a, b) = (lookup(ours)?, lookup(theirs)?);
            Some((
                *key,
                format!(
                    "{ours}={a:?} overrides `{key}` and wins over {theirs}={b:?}, which is ignored"
                ),
            ))
        })
        .collect()
}

/// A problem with a value taken from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    /// 1-based line of the placeholder (1 for overrides, which have no place in the file).
    pub line: usize,
    /// 1-based column of the placeholder's `$`.
    pub column: usize,
    /// The variable involved.
    pub variable: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for EnvError {}

/// Replace every `${NAME}` inside JSON strings of `text`; all undefined variables are reported.
/// Run-time placeholders (`${env:NAME}`, [`super::runtime_env`]) are left for the platform to
/// resolve at start: `$${env:` stays as written (their own escape) and a value that contains
/// `${env:` has it escaped, so a build-time value never becomes a run-time placeholder.
pub fn expand_placeholders(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<EnvError>> {
    let mut errors = Vec::new();
    let out = rewrite_strings(text, |rest, at| {
        if !at.in_string {
            return None;
        }
        if rest.starts_with("$${env:") {
            return Some((3, "$${".to_owned()));
        }
        if rest.starts_with("$${") {
            return Some((3, "${".to_owned()));
        }
        let end = rest.find('}')?;
        let name = rest.get(2..end).filter(|_| rest.starts_with("${"))?;
        if !is_var_name(name) {
            return None;
        }
        let mut value = String::new();
        match lookup(name) {
            Some(v) => push_json_escaped(&mut value, &v.replace("${env:", "$${env:")),
            None => errors.push(EnvError {
                line: at.line,
                column: at.column,
                variable: name.to_owned(),
                message: format!(
                    "environment variable `{name}` is not set (used as `${{{name}}}`)"
                ),
            }),
        }
        Some((end + 1, value))
    });
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Where a `$` is in the config text.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    /// 1-based line.
    pub(super) line: usize,
    /// 1-based column, in characters.
    pub(super) column: usize,
    /// Whether the `$` is inside a JSON string (a key or a value).
    pub(super) in_string: bool,
}

/// Copy `text`, offering `at` every `$` with the rest of the text from it and its position.
/// `at` returns `None` to copy the `$`, or how many bytes (on one line) it replaces and with
/// what. String boundaries follow JSON: `\"` does not end a string.
pub(super) fn rewrite_strings(
    text: &str,
    mut at: impl FnMut(&str, At) -> Option<(usize, String)>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut line, mut column) = (1, 1);
    let mut in_string = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '$' {
            let here = At {
                line,
                column,
                in_string,
            };
            if let Some((replaced, after, with)) = at(rest, here)
                .and_then(|(len, with)| rest.split_at_checked(len).map(|(r, a)| (r, a, with)))
            {
                out.push_str(&with);
                column += replaced.chars().count();
                rest = after;
                continue;
            }
        }
        let mut len = c.len_utf8();
        match c {
            '"' => in_string = !in_string,
            // An escape: copy it whole so `\"` does not end the string.
            '\\' if in_string => {
                len += rest
                    .get(1..)
                    .and_then(|r| r.chars().next())
                    .map_or(0, char::len_utf8);
            }
            _ => {}
        }
        let (copied, after) = rest.split_at_checked(len).unwrap_or((rest, ""));
        out.push_str(copied);
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += copied.chars().count();
        }
        rest = after;
    }
    out
}

/// Append the `MANIFOLD_*` root overrides that are set to the root object of `text`. Values
/// are checked here so a bad one is reported under its variable's name. A text whose root is
/// not an object is returned unchanged (the parser reports it).
pub fn apply_root_overrides(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<EnvError>> {
    let mut members = Vec::new();
    let mut errors = Vec::new();
    for (ours, theirs, key) in ROOT_OVERRIDES {
        let Some((variable, value)) = lookup(ours)
            .map(|v| (*ours, v))
            .or_else(|| lookup(theirs).map(|v| (*theirs, v)))
        else {
            continue;
        };
        let checked = match *key {
            "port" => value
                .trim()
                .parse::<u16>()
                .map(|p| p.to_string())
                .map_err(|_| "must be a port number (0-65535)".to_owned()),
            "listen_ip" => value
                .trim()
                .parse::<IpAddr>()
                .map(|_| json_string(value.trim()))
                .map_err(|_| "must be an IP address".to_owned()),
            "max_header_bytes" => value
                .trim()
                .parse::<u64>()
                .map(|n| n.to_string())
                .map_err(|_| "must be a number of bytes".to_owned()),
            _ => parse_duration(&value).map(|_| json_string(value.trim())),
        };
        match checked {
            Ok(json) => members.push(format!("\"{key}\": {json}")),
            Err(why) => errors.push(EnvError {
                line: 1,
                column: 1,
                variable: variable.to_owned(),
                message: format!("{variable}={value:?}: {why}"),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let body = text.trim_end();
    let (Some(head), true) = (body.strip_suffix('}'), body.trim_start().starts_with('{')) else {
        return Ok(text.to_owned());
    };
    if members.is_empty() {
        return Ok(text.to_owned());
    }
    let empty_root = head
        .trim_start()
        .strip_prefix('{')
        .is_some_and(|r| r.trim().is_empty());
    let separator = if empty_root { "" } else { ", " };
    Ok(format!("{head}{separator}{}}}\n", members.join(", ")))
}

pub(super) fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    push_json_escaped(&mut out, value);
    out.push('"');
    out
}

/// Escape `value` for the inside of a JSON string.
pub(super) fn push_json_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "API_HOST" => Some("https://api.example".into()),
            "QUOTE" => Some("a\"b\\c\nd".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn placeholders_in_strings_are_replaced() {
        let text = r#"{"host": ["${API_HOST}"], "x": "a-${EMPTY}-b"}"#;
        assert_eq!(
            expand_placeholders(text, env).unwrap(),
            r#"{"host": ["https://api.example"], "x": "a--b"}"#
        );
    }

    #[test]
    fn values_are_json_escaped() {
        let out = expand_placeholders(r#"{"v": "${QUOTE}"}"#, env).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["v"], "a\"b\\c\nd");
    }

    #[test]
    fn undefined_variables_are_all_reported_with_line_and_column() {
        let text = "{\n  \"a\": \"${NOPE}\",\n  \"b\": \"x ${ALSO_NOPE}\"\n}";
        let errors = expand_placeholders(text, env).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].line, errors[0].column), (2, 9));
        assert_eq!(errors[0].variable, "NOPE");
        assert_eq!((errors[1].line, errors[1].column), (3, 11));
        assert!(errors[1]
            .to_string()
            .starts_with("3:11: environment variable `ALSO_NOPE`"));
    }

    #[test]
    fn only_strings_are_touched_and_escapes_work() {
        // Outside strings, `${` is left for the JSON parser to reject; `$${` is a literal.
        let text = r#"{"a": "$${API_HOST}", "b": "\"${API_HOST}\"", "c": "${not a var}"}"#;
        assert_eq!(
            expand_placeholders(text, env).unwrap(),
            r#"{"a": "${API_HOST}", "b": "\"https://api.example\"", "c": "${not a var}"}"#
        );
        assert_eq!(
            expand_placeholders("${API_HOST}", env).unwrap(),
            "${API_HOST}"
        );
    }

    #[test]
    fn runtime_placeholders_survive_the_build() {
        // `${env:..}` and its escape are the run-time pass's; a build value cannot create one.
        let text = r#"{"a": "${env:SECRET}", "b": "$${env:LITERAL}", "c": "${INJECT}"}"#;
        let out = expand_placeholders(text, |n| (n == "INJECT").then(|| "${env:X}".into()));
        assert_eq!(
            out.unwrap(),
            r#"{"a": "${env:SECRET}", "b": "$${env:LITERAL}", "c": "$${env:X}"}"#
        );
    }

    #[test]
    fn columns_count_characters_after_multibyte_text() {
        let errors = expand_placeholders("{\"é\": \"${NOPE}\"}", env).unwrap_err();
        assert_eq!((errors[0].line, errors[0].column), (1, 8));
    }

    fn overrides(name: &str) -> Option<String> {
        match name {
            "MANIFOLD_PORT" => Some("9000".into()),
            "MANIFOLD_TIMEOUT" => Some("3s".into()),
            _ => None,
        }
    }

    #[test]
    fn root_overrides_are_appended_so_they_win() {
        let text = "{\n  \"version\": 3,\n  \"port\": 8080\n}\n";
        let out = apply_root_overrides(text, overrides).unwrap();
        assert!(out.starts_with("{\n  \"version\": 3,\n  \"port\": 8080"));
        let config = crate::parse_config(&out).unwrap();
        assert_eq!(config.port, 9000);
        assert_eq!(config.timeout, std::time::Duration::from_secs(3));
    }

    #[test]
    fn root_overrides_on_an_empty_object_and_without_variables() {
        let out = apply_root_overrides("{ }", overrides).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["port"], 9000);
        assert_eq!(
            apply_root_overrides("{\"a\":1}", |_| None).unwrap(),
            "{\"a\":1}"
        );
        assert_eq!(apply_root_overrides("[1]", overrides).unwrap(), "[1]");
    }

    #[test]
    fn bad_override_values_name_the_variable() {
        let errors = apply_root_overrides("{}", |name| match name {
            "MANIFOLD_PORT" => Some("http".into()),
            "MANIFOLD_TIMEOUT" => Some("soon".into()),
            "MANIFOLD_LISTEN_IP" => Some("localhost".into()),
            _ => None,
        })
        .unwrap_err();
        let vars: Vec<_> = errors.iter().map(|e| e.variable.as_str()).collect();
        assert_eq!(
            vars,
            ["MANIFOLD_PORT", "MANIFOLD_TIMEOUT", "MANIFOLD_LISTEN_IP"]
        );
        assert!(errors[0].message.contains("MANIFOLD_PORT=\"http\""));
    }

    #[test]
    fn krakend_twins_apply_and_manifold_wins_when_both_are_set() {
        let env = |name: &str| match name {
            "KRAKEND_PORT" => Some("7000".into()),
            "KRAKEND_TIMEOUT" => Some("5s".into()),
            "MANIFOLD_TIMEOUT" => Some("3s".into()),
            "KRAKEND_READ_TIMEOUT" => Some("1s".into()),
            _ => None,
        };
        let out = apply_root_overrides("{\"version\": 3}", env).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["port"], 7000);
        assert_eq!(parsed["timeout"], "3s");
        assert_eq!(parsed["read_timeout"], "1s");
        let notes = override_notes(env);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].0, "timeout");
        assert!(
            notes[0].1.contains("MANIFOLD_TIMEOUT=\"3s\"")
                && notes[0].1.contains("KRAKEND_TIMEOUT=\"5s\"")
        );
        let errors =
            apply_root_overrides("{}", |n| (n == "KRAKEND_PORT").then(|| "x".into())).unwrap_err();
        assert_eq!(errors[0].variable, "KRAKEND_PORT");
    }
}
