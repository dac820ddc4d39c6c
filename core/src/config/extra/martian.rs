//! The `modifier/martian` namespace (backend): KrakenD CE's static request and response
//! modifiers, decoded into a [`Martian`] tree once at load time. The message format is
//! martian's: an object with exactly one `package.Type` key whose options carry a `scope`
//! (`["request"]`, `["response"]` or both; absent means every scope the type supports).
//! Filters hold a nested message under `modifier` (and `else`), groups a list of them.
//! An unknown type, a scope the type cannot act in, an invalid header name, base64 body,
//! regular expression or URL part is a config error at its key. The modifiers run in
//! `crate::proxy::martian`.

use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::Namespace;
use crate::config::decode::{near_miss, Cx};

/// A decoded `modifier/martian` message.
#[derive(Debug, Clone)]
pub struct Martian {
    /// The message's one modifier.
    pub root: Modifier,
}

/// One modifier and the phases it acts in.
#[derive(Debug, Clone)]
pub struct Modifier {
    /// Runs on the request sent to the backend.
    pub request: bool,
    /// Runs on the backend's response, before it is decoded.
    pub response: bool,
    /// What it does.
    pub kind: Kind,
}

/// What a modifier does.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `header.Modifier`: set a header, replacing its values.
    HeaderSet(HeaderName, HeaderValue),
    /// `header.Append`: add one more value.
    HeaderAppend(HeaderName, HeaderValue),
    /// `header.Blacklist`: remove these headers.
    HeaderRemove(Vec<HeaderName>),
    /// `header.Copy`: set `to` to the first value of `from`.
    HeaderCopy {
        /// Header read.
        from: HeaderName,
        /// Header written.
        to: HeaderName,
    },
    /// `header.Id`: a new UUID in this header unless it is already set.
    HeaderId(HeaderName),
    /// `querystring.Modifier`: set a query parameter (Go's `Values.Set`, then `Encode`).
    QuerySet(String, String),
    /// `body.Modifier`: replace the body (and its `Content-Type` when given).
    Body {
        /// The decoded `body`.
        body: bytes::Bytes,
        /// `contentType`.
        content_type: Option<HeaderValue>,
    },
    /// `url.Modifier`: replace the URL parts that are given.
    Url(UrlParts),
    /// `port.Modifier`.
    Port(PortChange),
    /// `cookie.Modifier`: a `Cookie` pair on requests, a `Set-Cookie` on responses.
    Cookie(Cookie),
    /// `stash.Modifier`: the request URL in a header (and that header copied to the response).
    Stash(HeaderName),
    /// `fifo.Group`: modifiers in order.
    Fifo {
        /// The modifiers.
        modifiers: Vec<Modifier>,
        /// Keep going after an error and report them all.
        aggregate_errors: bool,
    },
    /// `priority.Group`: modifiers by descending priority (ties: the later one first).
    Priority(Vec<Modifier>),
    /// Every `*.Filter` / `*.RegexFilter`: run `then` when the condition holds, else `otherwise`.
    Filter {
        /// The condition.
        when: Condition,
        /// `modifier`.
        then: Box<Modifier>,
        /// `else`.
        otherwise: Option<Box<Modifier>>,
    },
}

/// The URL parts of `url.Modifier` and `url.Filter` (empty: not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlParts {
    /// `scheme`.
    pub scheme: String,
    /// `host` (with the port).
    pub host: String,
    /// `path`.
    pub path: String,
    /// `query` (raw).
    pub query: String,
}

/// What `port.Modifier` does to the URL's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortChange {
    /// `port`.
    Set(u16),
    /// `defaultForScheme`: 80 for http, 443 for https.
    DefaultForScheme,
    /// `remove`.
    Remove,
}

/// `cookie.Modifier`'s cookie.
#[derive(Debug, Clone)]
pub struct Cookie {
    /// `name`.
    pub name: String,
    /// `value`.
    pub value: String,
    /// The `Set-Cookie` value (Go's `Cookie.String()`), attributes included.
    pub set_cookie: HeaderValue,
}

/// A filter's condition.
#[derive(Debug, Clone)]
pub enum Condition {
    /// `header.Filter`: the header is present (with this value, when given).
    Header(HeaderName, Option<String>),
    /// `header.RegexFilter`: a value of the header matches.
    HeaderRegex(HeaderName, regex_lite::Regex),
    /// `querystring.Filter`: the parameter is present (with this value, when given).
    Query(String, Option<String>),
    /// `cookie.Filter`: the request has the cookie (with this value, when given).
    Cookie(String, Option<String>),
    /// `url.Filter`: every given part matches (the query as exactly these pairs).
    Url(UrlParts),
    /// `url.RegexFilter`: the whole URL matches.
    UrlRegex(regex_lite::Regex),
    /// `port.Filter`: the URL's port (or its scheme's default) is this one.
    Port(u16),
}

/// Every type KrakenD CE documents, with the scopes it can act in (request, response).
const TYPES: &[(&str, bool, bool)] = &[
    ("body.Modifier", true, true),
    ("cookie.Filter", true, false),
    ("cookie.Modifier", true, true),
    ("fifo.Group", true, true),
    ("header.Append", true, true),
    ("header.Blacklist", true, true),
    ("header.Copy", true, true),
    ("header.Filter", true, true),
    ("header.Id", true, false),
    ("header.Modifier", true, true),
    ("header.RegexFilter", true, true),
    ("port.Filter", true, false),
    ("port.Modifier", true, false),
    ("priority.Group", true, true),
    ("querystring.Filter", true, true),
    ("querystring.Modifier", true, false),
    ("stash.Modifier", true, true),
    ("url.Filter", true, true),
    ("url.Modifier", true, false),
    ("url.RegexFilter", true, false),
];

/// Nesting bound for filters and groups (a config, not an attack surface, but no recursion
/// without a bound).
const MAX_DEPTH: usize = 32;

// === impl Martian ===

impl Namespace for Martian {
    /// A martian message: its keys are modifier types, decoded by hand below.
    type Raw = Value;

    fn plan(raw: Value, cx: &mut Cx<'_, '_>) -> Option<Self> {
        message(cx, &raw, 0).map(|root| Self { root })
    }
}

/// One message: exactly one `package.Type` key.
fn message(cx: &mut Cx<'_, '_>, value: &Value, depth: usize) -> Option<Modifier> {
    let Some(object) = value.as_object() else {
        cx.error("a martian modifier is an object with one `package.Type` key");
        return None;
    };
    if depth > MAX_DEPTH {
        cx.error(format!("martian modifiers nested deeper than {MAX_DEPTH}"));
        return None;
    }
    let keys: Vec<&String> = object.keys().filter(|k| !k.starts_with('@')).collect();
    let [name] = keys[..] else {
        cx.error(format!(
            "a martian message must contain exactly one modifier, but it has {}{}; combine several with `fifo.Group`",
            keys.len(),
            if keys.is_empty() { String::new() } else { format!(" ({})", keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")) }
        ));
        return None;
    };
    let mut at = cx.at(name);
    let Some(&(_, can_request, can_response)) = TYPES.iter().find(|(t, _, _)| t == name) else {
        let known: Vec<&str> = TYPES.iter().map(|(t, _, _)| *t).collect();
        let hint = near_miss(name, &known)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        at.error(format!(
            "unknown martian modifier `{name}`{hint}; KrakenD CE's are: {}",
            known.join(", ")
        ));
        return None;
    };
    let options = at_object(&mut at, &object[name.as_str()])?;
    let mark = at.mark();
    let (request, response) = scope(&mut at, options, name, can_request, can_response);
    let kind = kind(&mut at, name, options, depth);
    if at.failed_since(mark) {
        return None;
    }
    Some(Modifier {
        request,
        response,
        kind: kind?,
    })
}

fn at_object<'v>(cx: &mut Cx<'_, '_>, value: &'v Value) -> Option<&'v Map<String, Value>> {
    let object = value.as_object();
    if object.is_none() {
        cx.error("expected an object with the modifier's options");
    }
    object
}

/// `scope`: absent means every scope the type supports (martian's rule).
fn scope(
    cx: &mut Cx<'_, '_>,
    options: &Map<String, Value>,
    name: &str,
    can_request: bool,
    can_response: bool,
) -> (bool, bool) {
    let Some(value) = options.get("scope") else {
        return (can_request, can_response);
    };
    let mut at = cx.at("scope");
    let Some(list) = value.as_array() else {
        at.error("`scope` is a list: [\"request\"], [\"response\"] or both");
        return (false, false);
    };
    let (mut request, mut response) = (false, false);
    for (i, item) in list.iter().enumerate() {
        match item.as_str() {
            Some("request") if can_request => request = true,
            Some("response") if can_response => response = true,
            Some(s @ ("request" | "response")) => at.item(i).error(format!(
                "`{name}` cannot act on the {s}: its scope can only be [\"request\"]"
            )),
            _ => at.item(i).error(format!(
                "invalid scope {item}: not \"request\" or \"response\""
            )),
        }
    }
    if list.is_empty() {
        at.error("an empty `scope` would never run the modifier");
    }
    (request, response)
}

/// The type's own options.
fn kind(cx: &mut Cx<'_, '_>, name: &str, o: &Map<String, Value>, depth: usize) -> Option<Kind> {
    let filter_keys: &[&str] = &["scope", "modifier", "else"];
    let kind = match name {
        "header.Modifier" | "header.Append" => {
            keys(cx, o, &["scope", "name", "value"]);
            let n = header_name(cx, o, "name")?;
            let v = header_value(cx, o, "value")?;
            if name == "header.Modifier" {
                Kind::HeaderSet(n, v)
            } else {
                Kind::HeaderAppend(n, v)
            }
        }
        "header.Blacklist" => {
            keys(cx, o, &["scope", "names"]);
            let Some(list) = o.get("names").and_then(Value::as_array) else {
                cx.at("names")
                    .error("missing `names` (a list of header names)");
                return None;
            };
            let mut names = Vec::new();
            for (i, n) in list.iter().enumerate() {
                match n.as_str().map(|s| HeaderName::from_bytes(s.as_bytes())) {
                    Some(Ok(h)) => names.push(h),
                    _ => cx
                        .at("names")
                        .item(i)
                        .error(format!("invalid header name {n}")),
                }
            }
            Kind::HeaderRemove(names)
        }
        "header.Copy" => {
            keys(cx, o, &["scope", "from", "to"]);
            let from = header_name(cx, o, "from");
            let to = header_name(cx, o, "to");
            Kind::HeaderCopy {
                from: from?,
                to: to?,
            }
        }
        "header.Id" => {
            keys(cx, o, &["scope", "header"]);
            let header = if o.contains_key("header") {
                header_name(cx, o, "header")?
            } else {
                HeaderName::from_static("x-krakend-id")
            };
            Kind::HeaderId(header)
        }
        "querystring.Modifier" => {
            keys(cx, o, &["scope", "name", "value"]);
            let n = string(cx, o, "name", true);
            let v = string(cx, o, "value", true);
            Kind::QuerySet(n?, v?)
        }
        "body.Modifier" => {
            keys(cx, o, &["scope", "body", "contentType"]);
            let text = string(cx, o, "body", true)?;
            let body = match base64_decode(&text) {
                Some(b) => bytes::Bytes::from(b),
                None => {
                    cx.at("body")
                        .error("`body` must be base64 (standard alphabet)");
                    return None;
                }
            };
            let content_type = match o.get("contentType") {
                None => None,
                Some(_) => Some(header_value(cx, o, "contentType")?),
            };
            Kind::Body { body, content_type }
        }
        "url.Modifier" => {
            keys(cx, o, &["scope", "scheme", "host", "path", "query"]);
            Kind::Url(url_parts(cx, o)?)
        }
        "port.Modifier" => {
            keys(cx, o, &["scope", "port", "defaultForScheme", "remove"]);
            let flag = |k: &str| o.get(k).and_then(Value::as_bool) == Some(true);
            let given = [
                o.contains_key("port"),
                flag("defaultForScheme"),
                flag("remove"),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                cx.error("`port.Modifier` needs exactly one of `port`, `defaultForScheme: true`, `remove: true`");
                return None;
            }
            if given[0] {
                Kind::Port(PortChange::Set(port(cx, o)?))
            } else if given[1] {
                Kind::Port(PortChange::DefaultForScheme)
            } else {
                Kind::Port(PortChange::Remove)
            }
        }
        "cookie.Modifier" => {
            keys(
                cx,
                o,
                &[
                    "scope", "name", "value", "path", "domain", "expires", "maxAge", "secure",
                    "httpOnly",
                ],
            );
            Kind::Cookie(cookie(cx, o)?)
        }
        "stash.Modifier" => {
            keys(cx, o, &["scope", "headerName"]);
            Kind::Stash(header_name(cx, o, "headerName")?)
        }
        "fifo.Group" => {
            keys(cx, o, &["scope", "modifiers", "aggregateErrors"]);
            let modifiers = list(cx, o, depth, false)?;
            Kind::Fifo {
                modifiers,
                aggregate_errors: o.get("aggregateErrors").and_then(Value::as_bool) == Some(true),
            }
        }
        "priority.Group" => {
            keys(cx, o, &["scope", "modifiers"]);
            Kind::Priority(list(cx, o, depth, true)?)
        }
        "header.Filter" => {
            keys(cx, o, &[filter_keys, &["name", "value"]].concat());
            let n = header_name(cx, o, "name")?;
            let v = optional_string(cx, o, "value");
            filter(cx, o, depth, Condition::Header(n, v))?
        }
        "header.RegexFilter" => {
            keys(cx, o, &[filter_keys, &["header", "regex"]].concat());
            let n = header_name(cx, o, "header");
            let r = regex(cx, o);
            filter(cx, o, depth, Condition::HeaderRegex(n?, r?))?
        }
        "querystring.Filter" => {
            keys(cx, o, &[filter_keys, &["name", "value"]].concat());
            let n = string(cx, o, "name", true)?;
            let v = optional_string(cx, o, "value");
            filter(cx, o, depth, Condition::Query(n, v))?
        }
        "cookie.Filter" => {
            keys(cx, o, &[filter_keys, &["name", "value"]].concat());
            let n = string(cx, o, "name", true)?;
            let v = optional_string(cx, o, "value");
            filter(cx, o, depth, Condition::Cookie(n, v))?
        }
        "url.Filter" => {
            keys(
                cx,
                o,
                &[filter_keys, &["scheme", "host", "path", "query"]].concat(),
            );
            let parts = url_parts(cx, o)?;
            filter(cx, o, depth, Condition::Url(parts))?
        }
        "url.RegexFilter" => {
            keys(cx, o, &[filter_keys, &["regex"]].concat());
            let r = regex(cx, o)?;
            filter(cx, o, depth, Condition::UrlRegex(r))?
        }
        "port.Filter" => {
            keys(cx, o, &[filter_keys, &["port"]].concat());
            let p = port(cx, o)?;
            filter(cx, o, depth, Condition::Port(p))?
        }
        _ => return None,
    };
    Some(kind)
}

/// Unknown option keys: a near miss is an error, anything else a warning (the config rules).
fn keys(cx: &mut Cx<'_, '_>, o: &Map<String, Value>, known: &[&str]) {
    for key in o.keys().filter(|k| !k.starts_with('@')) {
        if known.contains(&key.as_str()) {
            continue;
        }
        match near_miss(key, known) {
            Some(near) => cx
                .at(key)
                .error(format!("unknown key `{key}` (did you mean `{near}`?)")),
            None => cx
                .at(key)
                .warn(format!("unknown key `{key}`; it has no effect")),
        }
    }
}

fn string(
    cx: &mut Cx<'_, '_>,
    o: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Option<String> {
    match o.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            cx.at(key)
                .error(format!("`{key}` must be a string, not {other}"));
            None
        }
        None => {
            if required {
                cx.at(key).error(format!("missing `{key}`"));
            }
            None
        }
    }
}

fn optional_string(cx: &mut Cx<'_, '_>, o: &Map<String, Value>, key: &str) -> Option<String> {
    string(cx, o, key, false).filter(|s| !s.is_empty())
}

fn header_name(cx: &mut Cx<'_, '_>, o: &Map<String, Value>, key: &str) -> Option<HeaderName> {
    let text = string(cx, o, key, true)?;
    let name = HeaderName::from_bytes(text.as_bytes()).ok();
    if name.is_none() {
        cx.at(key).error(format!("invalid header name `{text}`"));
    }
    name
}

fn header_value(cx: &mut Cx<'_, '_>, o: &Map<String, Value>, key: &str) -> Option<HeaderValue> {
    let text = string(cx, o, key, true)?;
    let value = HeaderValue::from_str(&text).ok();
    if value.is_none() {
        cx.at(key)
            .error("invalid header value (control characters)");
    }
    value
}

fn port(cx: &mut Cx<'_, '_>, o: &Map<String, Value>) -> Option<u16> {
    let port = o
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0);
    if port.is_none() {
        cx.at("port")
            .error("`port` must be a number from 1 to 65535");
    }
    port
}

fn regex(cx: &mut Cx<'_, '_>, o: &Map<String, Value>) -> Option<regex_lite::Regex> {
    let text = string(cx, o, "regex", true)?;
    match regex_lite::Regex::new(&text) {
        Ok(r) => Some(r),
        Err(e) => {
            cx.at("regex")
                .error(format!("invalid regular expression: {e}"));
            None
        }
    }
}

/// `scheme`, `host`, `path`, `query`, each checked so the rebuilt URL stays valid.
fn url_parts(cx: &mut Cx<'_, '_>, o: &Map<String, Value>) -> Option<UrlParts> {
    let mark = cx.mark();
    let mut part = |key: &str, ok: &dyn Fn(&str) -> bool| {
        let text = string(cx, o, key, false).unwrap_or_default();
        if !text.is_empty() && !ok(&text) {
            cx.at(key).error(format!("invalid URL {key} `{text}`"));
        }
        text
    };
    let parts = UrlParts {
        scheme: part("scheme", &|s| matches!(s, "http" | "https")),
        host: part("host", &|h| {
            h.parse::<http::uri::Authority>().is_ok() && !h.contains('@')
        }),
        path: part("path", &|p| {
            p.starts_with('/') && p.parse::<http::uri::PathAndQuery>().is_ok() && !p.contains('?')
        }),
        query: part("query", &|q| {
            http::uri::PathAndQuery::from_maybe_shared(format!("/?{q}")).is_ok()
        }),
    };
    (!cx.failed_since(mark)).then_some(parts)
}

/// A filter's `modifier` (required) and `else`.
fn filter(
    cx: &mut Cx<'_, '_>,
    o: &Map<String, Value>,
    depth: usize,
    when: Condition,
) -> Option<Kind> {
    let Some(then) = o.get("modifier") else {
        cx.at("modifier")
            .error("missing `modifier`: the one the filter runs");
        return None;
    };
    let then = message(&mut cx.at("modifier"), then, depth + 1);
    let otherwise = match o.get("else") {
        None => None,
        Some(v) => Some(Box::new(message(&mut cx.at("else"), v, depth + 1)?)),
    };
    Some(Kind::Filter {
        when,
        then: Box::new(then?),
        otherwise,
    })
}

/// A group's `modifiers` (for `priority.Group`, `{priority, modifier}` items, sorted).
fn list(
    cx: &mut Cx<'_, '_>,
    o: &Map<String, Value>,
    depth: usize,
    prioritised: bool,
) -> Option<Vec<Modifier>> {
    let Some(items) = o.get("modifiers").and_then(Value::as_array) else {
        cx.at("modifiers").error("missing `modifiers` (a list)");
        return None;
    };
    let mark = cx.mark();
    let mut out: Vec<(i64, usize, Modifier)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut at = cx.at("modifiers");
        let mut at = at.item(i);
        if prioritised {
            let priority = item.get("priority").and_then(Value::as_i64);
            if priority.is_none() {
                at.at("priority").error("missing `priority` (an integer)");
            }
            let Some(inner) = item.get("modifier") else {
                at.at("modifier").error("missing `modifier`");
                continue;
            };
            if let (Some(p), Some(m)) =
                (priority, message(&mut at.at("modifier"), inner, depth + 1))
            {
                out.push((p, i, m));
            }
        } else if let Some(m) = message(&mut at, item, depth + 1) {
            out.push((0, i, m));
        }
    }
    if cx.failed_since(mark) {
        return None;
    }
    // Martian's priority group: higher first; a later one with the same priority goes first.
    if prioritised {
        crate::sort::sort_by(&mut out, |a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    }
    Some(out.into_iter().map(|(_, _, m)| m).collect())
}

fn cookie(cx: &mut Cx<'_, '_>, o: &Map<String, Value>) -> Option<Cookie> {
    let name = string(cx, o, "name", true);
    let value = string(cx, o, "value", true);
    let (name, value) = (name?, value?);
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
    };
    if !token(&name) {
        cx.at("name").error(format!("invalid cookie name `{name}`"));
        return None;
    }
    if value
        .bytes()
        .any(|b| !b.is_ascii_graphic() || b"\";\\,".contains(&b))
    {
        cx.at("value")
            .error("invalid cookie value (spaces, quotes, `;`, `,` and `\\` are not allowed)");
        return None;
    }
    // Go's Cookie.String(): name=value; Path; Domain; Expires; Max-Age; HttpOnly; Secure.
    let mut text = format!("{name}={value}");
    if let Some(path) = optional_string(cx, o, "path") {
        text.push_str(&format!("; Path={path}"));
    }
    if let Some(domain) = optional_string(cx, o, "domain") {
        text.push_str(&format!("; Domain={}", domain.trim_start_matches('.')));
    }
    if let Some(expires) = optional_string(cx, o, "expires") {
        match http_date(&expires) {
            Some(date) => text.push_str(&format!("; Expires={date}")),
            None => {
                cx.at("expires")
                    .error("`expires` must be an RFC 3339 date (2025-04-12T23:20:50.52Z)");
                return None;
            }
        }
    }
    match o.get("maxAge").map(Value::as_i64) {
        None => {}
        Some(Some(age)) if age > 0 => text.push_str(&format!("; Max-Age={age}")),
        Some(Some(age)) if age < 0 => text.push_str("; Max-Age=0"),
        Some(Some(_)) => {}
        Some(None) => {
            cx.at("maxAge")
                .error("`maxAge` must be an integer (seconds)");
            return None;
        }
    }
    if o.get("httpOnly").and_then(Value::as_bool) == Some(true) {
        text.push_str("; HttpOnly");
    }
    if o.get("secure").and_then(Value::as_bool) == Some(true) {
        text.push_str("; Secure");
    }
    let Ok(set_cookie) = HeaderValue::from_str(&text) else {
        cx.error("the cookie is not a valid header value");
        return None;
    };
    Some(Cookie {
        name,
        value,
        set_cookie,
    })
}

/// An RFC 3339 date as an HTTP date in GMT (`Mon, 02 Jan 2006 15:04:05 GMT`).
fn http_date(text: &str) -> Option<String> {
    let (date, time) = text.split_once(['T', 't'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let zone_at = time.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = time.split_at(zone_at);
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (c.next()??, c.next()??, c.next()??);
    let offset = if zone.eq_ignore_ascii_case("z") {
        0
    } else {
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (oh, om) = zone.get(1..)?.split_once(':')?;
        sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = crate::time::days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 + s - offset;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, day) = crate::time::civil(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS.get(usize::try_from(days.rem_euclid(7)).ok()?)?;
    let month = MONTHS.get(usize::try_from(mo - 1).ok()?)?;
    Some(format!(
        "{weekday}, {day:02} {month} {y:04} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Standard base64, padded or not (Go's `[]byte` JSON form is padded standard base64).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_expiry_is_an_http_date_in_gmt() {
        assert_eq!(
            http_date("2025-04-12T23:20:50.52Z").as_deref(),
            Some("Sat, 12 Apr 2025 23:20:50 GMT")
        );
        assert_eq!(
            http_date("2025-04-13T01:20:50+02:00").as_deref(),
            Some("Sat, 12 Apr 2025 23:20:50 GMT")
        );
        assert_eq!(http_date("tomorrow"), None);
    }

    #[test]
    fn body_is_standard_base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert!(base64_decode("not base64!").is_none());
    }
}
