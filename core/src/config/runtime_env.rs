//! Run-time placeholders: `${env:NAME}` inside a JSON string is replaced when the gateway
//! *starts*, from the platform's environment (a Worker's vars and secrets, a Lambda function's
//! environment, the process environment of `manifold run`), never when a Worker or a Lambda is
//! built. `${NAME}` ([`super::env`]) is the build-time form; a build leaves `${env:NAME}` in the
//! text it embeds, so a secret set this way is not in the wasm module or the `bootstrap`.
//!
//! * `${env:NAME:-default}` uses `default` (as written, JSON-escaped like the rest of the string)
//!   when `NAME` is unset or empty. An empty value counts as unset because platforms cannot
//!   always unset a variable (a CloudFormation parameter defaults to ""), and an empty secret
//!   is never meant; `${env:NAME:-}` accepts empty.
//! * Only inside JSON strings, so the text stays JSON before it is resolved: a value is always
//!   a string (or part of one). Numbers and booleans cannot come from a placeholder; `port`,
//!   `timeout`, `cache_ttl` and `listen_ip` have the `MANIFOLD_*` overrides, also read at start.
//! * `$${env:` stands for a literal `${env:`.
//! * Before start (build scripts, `manifold check`) an unset placeholder without a default
//!   stands in as [`stand_in`]: an opaque string that is valid wherever any token is (a JWK
//!   `k`, a header value, a host name, a path segment), so the config is validated with the
//!   placeholder in place. A value with a format (a duration, a URL with a port) needs a
//!   default to be checked before start; the error says so.
//!
//! Messages about a resolved text are mapped back (see [`Resolved::restore`]): positions to the
//! text as written, every value of four or more characters to its placeholder, so an invalid
//! secret is reported by name and location, never by value.

use super::env::{is_var_name, push_json_escaped, rewrite_strings, EnvError};
use super::Diagnostic;

/// How a run-time placeholder starts.
pub const PREFIX: &str = "${env:";

/// Values shorter than this are not redacted from messages: replacing a one-letter value would
/// garble every message, and nothing that short is a secret.
const REDACT_MIN: usize = 4;

/// Length of a [`stand_in`]: 88 base64url characters are a 66-byte key, enough for HS512.
const STAND_IN_LEN: usize = 88;

/// One `${env:NAME}` (or `${env:NAME:-default}`) in a config text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The variable.
    pub name: String,
    /// The default as written (JSON string content), if any.
    pub default: Option<String>,
    /// 1-based line of its `$`.
    pub line: usize,
    /// 1-based column of its `$`, in characters.
    pub column: usize,
}

/// What a placeholder with no value and no default becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// An error naming the variable: a gateway is starting.
    Error,
    /// Its [`stand_in`]: the config is validated before start.
    StandIn,
}

/// Where a placeholder's replacement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The environment.
    Value,
    /// Its default.
    Default,
    /// Its [`stand_in`] (not set, no default, validating before start).
    StandIn,
}

/// A text with its run-time placeholders replaced, and how to map messages about it back.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The text, ready to parse.
    pub text: String,
    /// Every placeholder, in order, with where its replacement came from.
    pub placeholders: Vec<(Placeholder, Source)>,
    /// Each replacement, for mapping positions and redacting values.
    replaced: Vec<Replacement>,
}

/// One placeholder's replacement in [`Resolved::text`].
#[derive(Debug, Clone)]
struct Replacement {
    /// Its placeholder in [`Resolved::placeholders`].
    index: usize,
    /// Its first column in the resolved text.
    start: usize,
    /// Its length in characters.
    chars: usize,
    /// The placeholder's length as written, in characters.
    written: usize,
    /// The value messages may quote and must not show (none for a default).
    quoted: Option<String>,
}

/// The opaque string an unset placeholder stands in as before start: the variable's name, a
/// `-` and `A`s, [`STAND_IN_LEN`] characters in all (or a multiple of four above it). Every
/// character is base64url (canonical: a multiple of four), a host-name, header-value and
/// path character, and the name keeps two stand-ins apart.
pub fn stand_in(name: &str) -> String {
    stand_in_with(name, 'A')
}

/// [`stand_in`] filled with `fill` (a base64url character) instead of `A`: a second stand-in,
/// for the build's check that a config compiled in takes its placeholders' values as text
/// ([`super::compiled_env`]).
pub fn stand_in_with(name: &str, fill: char) -> String {
    let mut s = format!("{name}-");
    while s.len() < STAND_IN_LEN || !s.len().is_multiple_of(4) {
        s.push(fill);
    }
    s
}

/// Replace every `${env:NAME}` of `text` with `lookup`'s value, its default, or (per `unset`)
/// its stand-in or an error. All problems are reported, each with its line and column.
pub fn resolve(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    unset: Unset,
) -> Result<Resolved, Vec<EnvError>> {
    let mut errors = Vec::new();
    let mut placeholders = Vec::new();
    let mut replaced = Vec::new();
    // Columns on the current line shift by what earlier replacements on it added.
    let (mut line, mut shift) = (0, 0_isize);
    let text = rewrite_strings(text, |rest, at| {
        if !at.in_string {
            if rest.starts_with(PREFIX) {
                errors.push(error(at.line, at.column, "", "a `${env:NAME}` placeholder must be inside a JSON string: run-time values are strings (numbers and booleans cannot come from one; `port` has MANIFOLD_PORT)".into()));
            }
            return None;
        }
        if rest.starts_with("$${env:") {
            return Some((3, "${".to_owned()));
        }
        if !rest.starts_with(PREFIX) {
            return None;
        }
        let Some((len, name, default)) = parse_at(rest) else {
            errors.push(error(at.line, at.column, "", "malformed run-time placeholder: write `${env:NAME}` or `${env:NAME:-default}` (NAME: letters, digits and `_`, not starting with a digit)".into()));
            return None;
        };
        let placeholder = Placeholder {
            name: name.to_owned(),
            default: default.map(str::to_owned),
            line: at.line,
            column: at.column,
        };
        let value = lookup(name).filter(|v| !v.is_empty());
        let (with, source) = match (&value, default, unset) {
            (Some(v), _, _) => {
                let mut escaped = String::with_capacity(v.len());
                push_json_escaped(&mut escaped, v);
                (escaped, Source::Value)
            }
            (None, Some(d), _) => (d.to_owned(), Source::Default),
            (None, None, Unset::StandIn) => (stand_in(name), Source::StandIn),
            (None, None, Unset::Error) => {
                errors.push(error(at.line, at.column, name, format!("run-time variable `{name}` is not set (used as `${{env:{name}}}`, read when the gateway starts)")));
                (String::new(), Source::Value)
            }
        };
        if line != at.line {
            (line, shift) = (at.line, 0);
        }
        let written = rest.get(..len).map_or(0, |w| w.chars().count());
        let chars = with.chars().count();
        replaced.push(Replacement {
            index: placeholders.len(),
            start: at.column.saturating_add_signed(shift),
            chars,
            written,
            // What messages may quote: the value as the parser decodes it. A default is in
            // the text anyway and stays readable.
            quoted: match source {
                Source::Default => None,
                Source::StandIn => Some(with.clone()),
                Source::Value => value,
            },
        });
        shift += chars as isize - written as isize;
        placeholders.push((placeholder, source));
        Some((len, with))
    });
    if errors.is_empty() {
        Ok(Resolved {
            text,
            placeholders,
            replaced,
        })
    } else {
        Err(errors)
    }
}

impl Resolved {
    /// The placeholders that stood in (validated with [`stand_in`], not a value).
    pub fn standing_in(&self) -> impl Iterator<Item = &Placeholder> {
        self.placeholders
            .iter()
            .filter(|(_, s)| *s == Source::StandIn)
            .map(|(p, _)| p)
    }

    /// A diagnostic about [`Self::text`] as one about the text as written: its column on the
    /// original line (a position inside a replacement is the placeholder's), and every value
    /// and stand-in in its message, context and path replaced by its placeholder. A message
    /// that quoted a stand-in says how to check such a value before start.
    pub fn restore(&self, d: &mut Diagnostic) {
        let mut column = d.column;
        let mut stood_in = Vec::new();
        for r in &self.replaced {
            let Some((p, source)) = self.placeholders.get(r.index) else {
                continue;
            };
            if p.line == d.line && d.column >= r.start {
                column = if d.column < r.start + r.chars {
                    p.column
                } else {
                    (column + r.written).saturating_sub(r.chars)
                };
            }
            let Some(value) = r
                .quoted
                .as_deref()
                .filter(|v| v.chars().count() >= REDACT_MIN)
            else {
                continue;
            };
            let shown = format!("${{env:{}}}", p.name);
            let mut hit = redact(&mut d.message, value, &shown);
            hit |= redact(&mut d.path, value, &shown);
            if let Some(context) = d.context.as_mut() {
                hit |= redact(context, value, &shown);
            }
            if hit && *source == Source::StandIn && !stood_in.contains(&p.name) {
                stood_in.push(p.name.clone());
            }
        }
        d.column = column;
        for name in stood_in {
            d.message.push_str(&format!(" (`${{env:{name}}}` is not set here, so an opaque string stands in for it; to check a value with a format before start, give it a default: `${{env:{name}:-value}}`)"));
        }
    }
}

/// `${env:NAME}` or `${env:NAME:-default}` at the start of `rest` (inside a JSON string):
/// its length in bytes, the name and the default. The default ends at the first `}`; it may
/// hold JSON escapes but not the string's end.
fn parse_at(rest: &str) -> Option<(usize, &str, Option<&str>)> {
    let body = rest.get(PREFIX.len()..)?;
    let mut chars = body.char_indices();
    let end = loop {
        match chars.next()? {
            (i, '}') => break i,
            (_, '"' | '\n') => return None,
            (_, '\\') => {
                chars.next();
            }
            _ => {}
        }
    };
    let inner = body.get(..end)?;
    let (name, default) = match inner.split_once(':') {
        Some((name, default)) => (name, Some(default.strip_prefix('-')?)),
        None => (inner, None),
    };
    is_var_name(name).then_some((PREFIX.len() + end + 1, name, default))
}

/// Replace `value` (as written and as `{:?}` quotes it) in `text` by `shown`; whether it did.
fn redact(text: &mut String, value: &str, shown: &str) -> bool {
    let debug = format!("{value:?}");
    let quoted = debug.get(1..debug.len().saturating_sub(1)).unwrap_or(value);
    let mut hit = false;
    for form in [value, quoted] {
        if text.contains(form) {
            *text = text.replace(form, shown);
            hit = true;
        }
    }
    hit
}

fn error(line: usize, column: usize, variable: &str, message: String) -> EnvError {
    EnvError {
        line,
        column,
        variable: variable.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &str = "s3cr3t\"value";

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET" => Some(SECRET.into()),
            "HOST" => Some("https://api.example".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn resolved(text: &str, unset: Unset) -> Resolved {
        resolve(text, env, unset).unwrap()
    }

    #[test]
    fn values_are_json_escaped_inside_strings() {
        let r = resolved(
            r#"{"k": "${env:SECRET}", "h": ["${env:HOST}/x"]}"#,
            Unset::Error,
        );
        let v: serde_json::Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["k"], SECRET);
        assert_eq!(v["h"][0], "https://api.example/x");
        let sources: Vec<_> = r.placeholders.iter().map(|(_, s)| *s).collect();
        assert_eq!(sources, [Source::Value, Source::Value]);
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let r = resolved(
            r#"{"a": "${env:NOPE:-3s}", "b": "${env:EMPTY:-x\"y}", "c": "${env:NOPE:-}", "d": "${env:HOST:-no}"}"#,
            Unset::Error,
        );
        let v: serde_json::Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(
            (&v["a"], &v["b"], &v["c"], &v["d"]),
            (
                &"3s".into(),
                &"x\"y".into(),
                &"".into(),
                &"https://api.example".into()
            )
        );
        assert_eq!(r.placeholders[0].0.default.as_deref(), Some("3s"));
        assert_eq!(r.placeholders[0].1, Source::Default);
    }

    #[test]
    fn unset_is_an_error_at_start_naming_the_variable() {
        let text = "{\n  \"a\": \"${env:NOPE}\",\n  \"b\": \"${env:EMPTY}\"\n}";
        let errors = resolve(text, env, Unset::Error).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(
            (errors[0].line, errors[0].column, &*errors[0].variable),
            (2, 9, "NOPE")
        );
        assert_eq!(
            (errors[1].line, errors[1].column, &*errors[1].variable),
            (3, 9, "EMPTY")
        );
        assert!(errors[0]
            .to_string()
            .starts_with("2:9: run-time variable `NOPE` is not set"));
    }

    #[test]
    fn unset_stands_in_before_start() {
        let r = resolved(
            r#"{"a": "${env:NOPE}", "b": "${env:SECRET}"}"#,
            Unset::StandIn,
        );
        let v: serde_json::Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["a"], stand_in("NOPE"));
        assert_eq!(v["b"], SECRET);
        let standing: Vec<_> = r.standing_in().map(|p| p.name.as_str()).collect();
        assert_eq!(standing, ["NOPE"]);
    }

    #[test]
    fn stand_ins_are_canonical_base64url_and_distinct() {
        use base64::Engine as _;
        for name in ["A", "JWT_K", "A_VERY_LONG_NAME_THAT_GOES_ON_AND_ON_AND_ON_FOR_QUITE_A_WHILE_LONGER_THAN_88_CHARACTERS_X"] {
            let s = stand_in(name);
            assert!(s.len() >= STAND_IN_LEN && s.len().is_multiple_of(4), "{s}");
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&s).unwrap();
            assert!(key.len() >= 64);
        }
        assert_ne!(stand_in("AB"), stand_in("ABA"));
    }

    #[test]
    fn escapes_outside_strings_and_malformed_forms() {
        let r = resolved(
            r#"{"a": "$${env:SECRET}", "b": "${SECRET}", "c": "\"${env:HOST}"}"#,
            Unset::Error,
        );
        assert_eq!(
            r.text,
            r#"{"a": "${env:SECRET}", "b": "${SECRET}", "c": "\"https://api.example"}"#
        );
        let errors = resolve("{\"port\": ${env:PORT}}", env, Unset::StandIn).unwrap_err();
        assert!(
            errors[0].message.contains("inside a JSON string"),
            "{errors:?}"
        );
        assert_eq!((errors[0].line, errors[0].column), (1, 10));
        for bad in [
            r#"{"a": "${env:}"}"#,
            r#"{"a": "${env:9X}"}"#,
            r#"{"a": "${env:X"}"#,
            r#"{"a": "${env:X:3s}"}"#,
            r#"{"a": "${env:X-Y}"}"#,
        ] {
            let errors = resolve(bad, env, Unset::StandIn).unwrap_err();
            assert!(
                errors[0].message.starts_with("malformed"),
                "{bad}: {errors:?}"
            );
            assert_eq!(errors[0].column, 8, "{bad}");
        }
    }

    fn diagnostic(line: usize, column: usize, message: &str) -> Diagnostic {
        Diagnostic {
            path: "k".into(),
            context: None,
            message: message.into(),
            line,
            column,
        }
    }

    #[test]
    fn positions_map_back_to_the_text_as_written() {
        // Line 2: `"a": "` then the placeholder at column 7.
        let text = "{\n\"a\": \"${env:SECRET}\", \"b\": \"${env:NOPE:-1s}\", \"c\": 1\n}";
        let r = resolved(text, Unset::Error);
        let line = r.text.lines().nth(1).unwrap();
        let at = |needle: &str| line.find(needle).unwrap() + 1; // ASCII: bytes are columns
        let mut after = diagnostic(2, at("\"c\""), "x");
        r.restore(&mut after);
        assert_eq!(
            after.column,
            text.lines().nth(1).unwrap().find("\"c\"").unwrap() + 1
        );
        let mut inside = diagnostic(2, at("s3cr") + 2, "x");
        r.restore(&mut inside);
        assert_eq!(inside.column, 7);
        let mut other_line = diagnostic(3, 1, "x");
        r.restore(&mut other_line);
        assert_eq!(other_line.column, 1);
    }

    #[test]
    fn values_are_redacted_and_stand_ins_explained() {
        let r = resolved(
            r#"{"k": "${env:SECRET}", "t": "${env:TIMEOUT}"}"#,
            Unset::StandIn,
        );
        let mut d = diagnostic(1, 1, &format!("bad key {SECRET:?}, also {SECRET}"));
        r.restore(&mut d);
        assert_eq!(d.message, "bad key \"${env:SECRET}\", also ${env:SECRET}");
        let mut d = diagnostic(1, 1, &format!("invalid duration `{}`", stand_in("TIMEOUT")));
        r.restore(&mut d);
        assert!(
            d.message
                .starts_with("invalid duration `${env:TIMEOUT}` (`${env:TIMEOUT}` is not set here"),
            "{}",
            d.message
        );
        assert!(
            d.message.contains("`${env:TIMEOUT:-value}`"),
            "{}",
            d.message
        );
    }

    #[test]
    fn short_values_are_not_redacted() {
        let r = resolve(r#"{"a": "${env:X}"}"#, |_| Some("a".into()), Unset::Error).unwrap();
        let mut d = diagnostic(1, 1, "a bad value");
        r.restore(&mut d);
        assert_eq!(d.message, "a bad value");
    }
}
