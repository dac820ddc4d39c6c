//! Safe URL building: `url_pattern` templates whose placeholders can never change the URL's
//! structure, the client path-parameter check (KrakenD's CVE-2022-1561 fix, stricter), and the
//! request target a front end builds from a platform's path.

use std::borrow::Cow;

use percent_encoding::{
    percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC,
};

/// Everything but RFC 3986 unreserved characters is encoded inside a path segment, so a value
/// can never add a `/`, `?` or `#` to the backend URL.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters a platform's path may hold that a URI path must not: controls, WHATWG's path
/// percent-encode set, `|`, `\` and `^`. `%` is not in it: escapes the client sent stay as they
/// are.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^');

/// A placeholder inside a `url_pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// `{name}`: an endpoint path parameter.
    Param(String),
    /// `{resp0_a.b}`: a value from an earlier backend's formatted response (sequential proxy).
    Resp {
        /// Which backend (0-based).
        index: usize,
        /// Dot path inside its data.
        path: Vec<String>,
    },
    /// `{JWT.claim}`: a claim of the validated token.
    Jwt(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(Var),
}

/// A parsed backend `url_pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPattern {
    path: Vec<Piece>,
    query: Option<Vec<Piece>>,
    /// The text as written in the config.
    pub source: String,
}

/// Why a URL could not be built for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// A placeholder had no value for this request.
    Missing(String),
    /// A value would have changed the path structure (`.`/`..`).
    Unsafe(String),
}

// === impl Var ===

impl Var {
    fn parse(name: &str) -> Var {
        if let Some(claim) = name.strip_prefix("JWT.") {
            return Var::Jwt(claim.to_owned());
        }
        if let Some(rest) = name.strip_prefix("resp") {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits > 0 {
                let (n, field) = rest.split_at(digits);
                if let (Ok(index), Some(field)) = (n.parse(), field.strip_prefix('_')) {
                    if !field.is_empty() {
                        let path = field.split('.').map(str::to_owned).collect();
                        return Var::Resp { index, path };
                    }
                }
            }
        }
        Var::Param(name.to_owned())
    }
}

// === impl UrlPattern ===

impl UrlPattern {
    /// Parse a `url_pattern`; it must start with `/` so no value can ever reach the authority.
    pub fn parse(source: &str) -> Result<Self, String> {
        if !source.starts_with('/') {
            return Err(format!("url_pattern {source:?} must start with '/'"));
        }
        if source.contains('#') {
            return Err(format!(
                "url_pattern {source:?} must not contain a fragment ('#')"
            ));
        }
        let (path, query) = match source.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (source, None),
        };
        Ok(UrlPattern {
            path: pieces(path)?,
            query: query.map(pieces).transpose()?,
            source: source.to_owned(),
        })
    }

    /// Every placeholder, in order.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.path
            .iter()
            .chain(self.query.iter().flatten())
            .filter_map(|p| match p {
                Piece::Var(v) => Some(v),
                Piece::Lit(_) => None,
            })
    }

    /// Render path and query (without host). Each value is inserted once, encoded as one
    /// path segment (or one query component), so `{{.Y}}`-style re-expansion cannot happen.
    pub fn render<'a>(
        &self,
        value: impl Fn(&Var) -> Option<Cow<'a, str>>,
    ) -> Result<String, RenderError> {
        let mut out = String::with_capacity(self.source.len() + 16);
        for piece in &self.path {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(v) => {
                    let val = value(v).ok_or_else(|| RenderError::Missing(var_name(v)))?;
                    if val == "." || val == ".." {
                        return Err(RenderError::Unsafe(var_name(v)));
                    }
                    out.extend(utf8_percent_encode(&val, SEGMENT));
                }
            }
        }
        if let Some(query) = &self.query {
            out.push('?');
            for piece in query {
                match piece {
                    Piece::Lit(s) => out.push_str(s),
                    Piece::Var(v) => {
                        let val = value(v).ok_or_else(|| RenderError::Missing(var_name(v)))?;
                        push_query_component(&mut out, &val);
                    }
                }
            }
        }
        Ok(out)
    }
}

fn var_name(v: &Var) -> String {
    match v {
        Var::Param(p) => p.clone(),
        Var::Resp { index, path } => format!("resp{index}_{}", path.join(".")),
        Var::Jwt(c) => format!("JWT.{c}"),
    }
}

fn pieces(text: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let (lit, tail) = rest.split_at(open);
        let close = tail
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in {text:?}"))?;
        let name = tail.get(1..close).unwrap_or_default();
        if name.is_empty() || name.contains('{') {
            return Err(format!("invalid placeholder in {text:?}"));
        }
        if !lit.is_empty() {
            out.push(Piece::Lit(lit.to_owned()));
        }
        out.push(Piece::Var(Var::parse(name)));
        rest = tail.get(close + 1..).unwrap_or_default();
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest.to_owned()));
    }
    Ok(out)
}

/// Append `s` form-encoded as one query key or value (Go's `url.QueryEscape`).
pub fn push_query_component(out: &mut String, s: &str) {
    for chunk in utf8_percent_encode(s, SEGMENT) {
        if chunk == "%20" {
            out.push('+');
        } else {
            out.push_str(chunk);
        }
    }
}

/// Decode and check one raw path parameter from the client. `None` means the request must be
/// refused with `400 error: encoded url params`: the value decodes to something containing
/// `/ ? #` or `\`, control characters or invalid UTF-8, is `.`/`..`, or would decode again
/// (double encoding such as `%252F`).
pub fn decode_param(raw: &str) -> Option<String> {
    if !valid_escapes(raw) {
        return None;
    }
    let decoded = percent_decode_str(raw).decode_utf8().ok()?;
    if decoded == "." || decoded == ".." {
        return None;
    }
    if decoded
        .chars()
        .any(|c| matches!(c, '/' | '?' | '#' | '\\') || c.is_control())
    {
        return None;
    }
    if percent_decode_str(&decoded).decode_utf8().ok()? != decoded {
        return None;
    }
    Some(decoded.into_owned())
}

/// The rest of a wildcard endpoint's path (`a/b%20c` of `/api/*`): every segment passes the
/// same check as a path parameter and is re-encoded as one segment, so the backend path gets
/// exactly these segments and nothing can climb out of the backend's prefix. `None`: refuse
/// with 400. Empty segments (`a//b`) are dropped.
pub fn rest_path(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    for seg in raw.split('/').filter(|s| !s.is_empty()) {
        let decoded = decode_param(seg)?;
        if !out.is_empty() {
            out.push('/');
        }
        out.extend(utf8_percent_encode(&decoded, SEGMENT));
    }
    Some(out)
}

/// The routed path parameters of one request, decoded and checked once: the guards, the
/// parameter check and the request building all read these, so a rate-limit key and the
/// backend URL see the same value (`/p/1` and `/p/%31` are one client value).
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// (declared name, decoded value), in path order. A value that failed the check keeps its
    /// raw text here; the request is refused anyway (see `invalid`). Shared with the
    /// request the proxies see.
    pub(crate) values: std::sync::Arc<[(String, String)]>,
    /// Wildcard endpoints: the rest of the path, checked and re-encoded ([`rest_path`]).
    pub(crate) rest: Option<String>,
    /// Some value failed [`decode_param`]: the answer is `400 error: encoded url params`.
    pub(crate) invalid: bool,
}

impl Params {
    /// Decode the router's raw `(name, value)` pairs.
    pub(crate) fn decode(raw: &[(&str, &str)]) -> Self {
        let mut values = Vec::with_capacity(raw.len());
        let (mut rest, mut invalid) = (None, false);
        for &(name, value) in raw {
            if name == crate::router::REST {
                rest = rest_path(value);
                invalid |= rest.is_none();
                continue;
            }
            let decoded = decode_param(value);
            invalid |= decoded.is_none();
            values.push((name.to_owned(), decoded.unwrap_or_else(|| value.to_owned())));
        }
        Self {
            // An endpoint without parameters shares the one empty slice (no allocation).
            values: if values.is_empty() {
                std::sync::Arc::default()
            } else {
                values.into()
            },
            rest,
            invalid,
        }
    }

    /// The value of the parameter `name` (KrakenD's name comparison, [`param_eq`]).
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| param_eq(k, name))
            .map(|(_, v)| v.as_str())
    }
}

/// The origin-form request target (`/path?query`) for a path and raw query a platform hands over
/// in pieces, the path possibly decoded (AWS API Gateway's REST events do that): what a URI
/// path cannot hold is escaped, escapes already there stay, a missing leading `/` is added and
/// an empty query dropped. `None` if the result is still no URI.
pub fn request_target(path: &str, query: Option<&str>) -> Option<http::Uri> {
    let slash = if path.starts_with('/') { "" } else { "/" };
    let path = utf8_percent_encode(path, PATH);
    let target = match query.filter(|q| !q.is_empty()) {
        Some(query) => format!("{slash}{path}?{query}"),
        None => format!("{slash}{path}"),
    };
    target.parse().ok()
}

/// KrakenD compares placeholder names after upper-casing their first letter; here only an
/// ASCII first letter is compared without case, so the request path needs no Unicode case
/// tables. The config refuses a reference that only a non-ASCII letter's case would match
/// (`config::params`), so both sides agree on every config that loads.
pub fn param_eq(a: &str, b: &str) -> bool {
    let mut ca = a.chars();
    let mut cb = b.chars();
    match (ca.next(), cb.next()) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(&y) && ca.as_str() == cb.as_str(),
        (None, None) => true,
        _ => false,
    }
}

/// Every `%` starts a two-hex-digit escape.
fn valid_escapes(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.iter().enumerate().filter(|(_, &c)| c == b'%').all(|(i, _)| {
        matches!((b.get(i + 1), b.get(i + 2)), (Some(x), Some(y)) if x.is_ascii_hexdigit() && y.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(pattern: &str, val: &str) -> Result<String, RenderError> {
        UrlPattern::parse(pattern)
            .unwrap()
            .render(|_| Some(Cow::Owned(val.to_owned())))
    }

    #[test]
    fn values_are_one_segment() {
        assert_eq!(
            render("/v1/users/{id}/profile", "a/b?c#d").unwrap(),
            "/v1/users/a%2Fb%3Fc%23d/profile"
        );
        assert_eq!(
            render("/v1/users/{id}", "@evil.example").unwrap(),
            "/v1/users/%40evil.example"
        );
        assert_eq!(
            render("/x?user={id}&y=1", "a&b=c d").unwrap(),
            "/x?user=a%26b%3Dc+d&y=1"
        );
        assert_eq!(render("/v1/{id}", "{{.Y}}").unwrap(), "/v1/%7B%7B.Y%7D%7D");
        assert_eq!(
            render("/v1/{id}", "..").unwrap_err(),
            RenderError::Unsafe("id".into())
        );
    }

    #[test]
    fn placeholders_are_classified() {
        let p = UrlPattern::parse("/a/{id}/{resp0_user.hash}/{JWT.http://x/y}?q={Q}").unwrap();
        let vars: Vec<_> = p.vars().cloned().collect();
        assert_eq!(
            vars,
            vec![
                Var::Param("id".into()),
                Var::Resp {
                    index: 0,
                    path: vec!["user".into(), "hash".into()]
                },
                Var::Jwt("http://x/y".into()),
                Var::Param("Q".into()),
            ]
        );
        assert!(UrlPattern::parse("relative/{x}").is_err());
        assert!(UrlPattern::parse("/a/{x").is_err());
        assert!(UrlPattern::parse("/a#frag").is_err());
    }

    #[test]
    fn rest_paths() {
        assert_eq!(rest_path("a/b%20c/").as_deref(), Some("a/b%20c"));
        assert_eq!(rest_path("a//b").as_deref(), Some("a/b"));
        assert_eq!(rest_path("").as_deref(), Some(""));
        for bad in ["a/../b", "..", "a/%2e%2e", "a%2Fb", "%252F"] {
            assert_eq!(rest_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn param_check() {
        assert_eq!(decode_param("foo").as_deref(), Some("foo"));
        assert_eq!(decode_param("foo%20bar").as_deref(), Some("foo bar"));
        assert_eq!(decode_param("%E2%82%AC").as_deref(), Some("€"));
        for bad in [
            "a%2Fb",
            "%2e%2e",
            "%2E%2e",
            ".%2e",
            "%2e",
            "..",
            ".",
            "..%252F..%252Fadmin",
            "%252F",
            "%5C",
            "%00",
            "%0d%0aX:%20y",
            "1%3Fadmin=true",
            "1%23x",
            "%C0%AE%C0%AE",
            "%zz",
            "a%",
            "%4",
        ] {
            assert_eq!(decode_param(bad), None, "{bad}");
        }
    }

    #[test]
    fn request_targets_from_platform_paths() {
        let target = |path, query| request_target(path, query).map(|u| u.to_string());
        assert_eq!(
            target("/hello world", Some("q=1&q=2")).as_deref(),
            Some("/hello%20world?q=1&q=2")
        );
        // Escapes the client sent are kept, not encoded twice.
        assert_eq!(target("/a%20b/%2F", None).as_deref(), Some("/a%20b/%2F"));
        assert_eq!(target("x", Some("")).as_deref(), Some("/x"));
        assert_eq!(target("", None).as_deref(), Some("/"));
        assert_eq!(
            target("/é/\"|^{}`<>#?\u{7}", None).as_deref(),
            Some("/%C3%A9/%22%7C%5E%7B%7D%60%3C%3E%23%3F%07")
        );
    }
}
