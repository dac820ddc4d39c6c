//! Runs a backend's `modifier/martian` tree (decoded in `config::extra::martian`): on the
//! request as it is about to be sent (after `input_headers`/`input_query_strings`, as
//! KrakenD's martian client does) and on the backend's response before it is decoded.
//! Nothing here fails on a request path: every value was checked when the config loaded.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Uri};
use percent_encoding::percent_decode_str;

use crate::config::extra::{
    Condition, Martian, MartianKind as Kind, Modifier, PortChange, UrlParts,
};
use crate::platform::{hex, BackendRequest, Random};
use crate::url::push_query_component;

/// The phase a modifier runs in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Request,
    Response,
}

/// What the modifiers see and change: the request (always), and the response's headers and
/// body in the response phase.
struct Message<'a> {
    uri: &'a mut Uri,
    request_headers: &'a mut HeaderMap,
    body: &'a mut Bytes,
    /// The response headers (response phase), else `None`.
    response_headers: Option<&'a mut HeaderMap>,
    random: &'a dyn Random,
}

/// Apply the request-scoped modifiers to `request`.
pub(crate) fn modify_request(
    martian: &Martian,
    request: &mut BackendRequest,
    random: &dyn Random,
) -> Result<(), String> {
    let (mut parts, mut body) = std::mem::take(request).into_parts();
    let mut msg = Message {
        uri: &mut parts.uri,
        request_headers: &mut parts.headers,
        body: &mut body,
        response_headers: None,
        random,
    };
    let result = run(&martian.root, Phase::Request, &mut msg);
    *request = http::Request::from_parts(parts, body);
    result
}

/// Apply the response-scoped modifiers to the response's `headers` and `body`; `uri` and
/// `request_headers` are those of the request that was sent (filters look at them).
pub(crate) fn modify_response(
    martian: &Martian,
    uri: &Uri,
    request_headers: &HeaderMap,
    headers: &mut HeaderMap,
    body: &mut Bytes,
    random: &dyn Random,
) -> Result<(), String> {
    let mut uri = uri.clone();
    let mut request_headers = request_headers.clone();
    let mut msg = Message {
        uri: &mut uri,
        request_headers: &mut request_headers,
        body,
        response_headers: Some(headers),
        random,
    };
    run(&martian.root, Phase::Response, &mut msg)
}

/// Whether any modifier of the tree acts on responses (the request is kept for them).
pub(crate) fn has_response(martian: &Martian) -> bool {
    fn any(m: &Modifier) -> bool {
        m.response
            && match &m.kind {
                Kind::Fifo { modifiers, .. } => modifiers.iter().any(any),
                Kind::Priority(modifiers) => modifiers.iter().any(any),
                Kind::Filter {
                    then, otherwise, ..
                } => any(then) || otherwise.as_deref().is_some_and(any),
                _ => true,
            }
    }
    any(&martian.root)
}

fn run(m: &Modifier, phase: Phase, msg: &mut Message<'_>) -> Result<(), String> {
    let active = match phase {
        Phase::Request => m.request,
        Phase::Response => m.response,
    };
    if !active {
        return Ok(());
    }
    match &m.kind {
        Kind::HeaderSet(name, value) => {
            msg.headers(phase).insert(name.clone(), value.clone());
        }
        Kind::HeaderAppend(name, value) => {
            msg.headers(phase).append(name.clone(), value.clone());
        }
        Kind::HeaderRemove(names) => {
            let headers = msg.headers(phase);
            for name in names {
                headers.remove(name);
            }
        }
        Kind::HeaderCopy { from, to } => {
            let headers = msg.headers(phase);
            let value = headers
                .get(from)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static(""));
            headers.insert(to.clone(), value);
        }
        Kind::HeaderId(name) => {
            let id = uuid_v4(msg.random);
            let headers = msg.headers(phase);
            if !headers.contains_key(name) {
                if let Ok(v) = HeaderValue::from_str(&id) {
                    headers.insert(name.clone(), v);
                }
            }
        }
        Kind::QuerySet(name, value) => {
            let mut pairs: Vec<(String, String)> = query_pairs(msg.uri.query().unwrap_or(""))
                .into_iter()
                .filter(|(k, _)| k != name)
                .collect();
            pairs.push((name.clone(), value.clone()));
            set_query(msg.uri, Some(&encode_query(pairs)))?;
        }
        Kind::Body { body, content_type } => {
            *msg.body = body.clone();
            let headers = msg.headers(phase);
            if let Some(ct) = content_type {
                headers.insert(CONTENT_TYPE, ct.clone());
            }
            headers.remove(http::header::CONTENT_ENCODING);
            if phase == Phase::Request || headers.contains_key(CONTENT_LENGTH) {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
        }
        Kind::Url(parts) => set_url(msg.uri, parts)?,
        Kind::Port(change) => set_port(msg.uri, *change)?,
        Kind::Cookie(cookie) => match phase {
            Phase::Request => {
                let pair = format!("{}={}", cookie.name, cookie.value);
                let joined = match msg.request_headers.get(COOKIE).map(HeaderValue::to_str) {
                    Some(Ok(existing)) if !existing.is_empty() => format!("{existing}; {pair}"),
                    _ => pair,
                };
                if let Ok(v) = HeaderValue::from_str(&joined) {
                    msg.request_headers.insert(COOKIE, v);
                }
            }
            Phase::Response => {
                msg.headers(phase)
                    .append(SET_COOKIE, cookie.set_cookie.clone());
            }
        },
        Kind::Stash(name) => match phase {
            Phase::Request => {
                if let Ok(v) = HeaderValue::from_str(&msg.uri.to_string()) {
                    msg.request_headers.insert(name.clone(), v);
                }
            }
            Phase::Response => {
                let value = msg
                    .request_headers
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| HeaderValue::from_static(""));
                msg.headers(phase).insert(name.clone(), value);
            }
        },
        Kind::Fifo {
            modifiers,
            aggregate_errors,
        } => {
            let mut errors = Vec::new();
            for inner in modifiers {
                if let Err(e) = run(inner, phase, msg) {
                    if !aggregate_errors {
                        return Err(e);
                    }
                    errors.push(e);
                }
            }
            if !errors.is_empty() {
                return Err(errors.join("; "));
            }
        }
        Kind::Priority(modifiers) => {
            for inner in modifiers {
                run(inner, phase, msg)?;
            }
        }
        Kind::Filter {
            when,
            then,
            otherwise,
        } => {
            if matches(when, phase, msg) {
                run(then, phase, msg)?;
            } else if let Some(otherwise) = otherwise {
                run(otherwise, phase, msg)?;
            }
        }
    }
    Ok(())
}

impl Message<'_> {
    /// The headers of the message this phase modifies.
    fn headers(&mut self, phase: Phase) -> &mut HeaderMap {
        match (phase, self.response_headers.as_deref_mut()) {
            (Phase::Response, Some(h)) => h,
            _ => self.request_headers,
        }
    }
}

fn matches(when: &Condition, phase: Phase, msg: &mut Message<'_>) -> bool {
    match when {
        Condition::Header(name, value) => {
            let headers = msg.headers(phase);
            match value {
                None => headers.contains_key(name),
                Some(v) => headers
                    .get_all(name)
                    .iter()
                    .any(|h| h.as_bytes() == v.as_bytes()),
            }
        }
        Condition::HeaderRegex(name, regex) => msg
            .headers(phase)
            .get_all(name)
            .iter()
            .any(|h| h.to_str().is_ok_and(|t| regex.is_match(t))),
        Condition::Query(name, value) => query_pairs(msg.uri.query().unwrap_or(""))
            .iter()
            .any(|(k, v)| k == name && value.as_ref().is_none_or(|want| want == v)),
        Condition::Cookie(name, value) => msg
            .request_headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(k, v)| k == name && value.as_ref().is_none_or(|want| want == v)),
        Condition::Url(parts) => url_matches(msg.uri, parts),
        Condition::UrlRegex(regex) => regex.is_match(&msg.uri.to_string()),
        Condition::Port(port) => effective_port(msg.uri) == Some(*port),
    }
}

/// Every given part must match; the query must hold exactly the given pairs (any order).
fn url_matches(uri: &Uri, want: &UrlParts) -> bool {
    if !want.scheme.is_empty() && uri.scheme_str() != Some(want.scheme.as_str()) {
        return false;
    }
    if !want.host.is_empty()
        && !uri
            .authority()
            .is_some_and(|a| host_matches(a.as_str(), &want.host))
    {
        return false;
    }
    if !want.path.is_empty() && decoded(uri.path()) != want.path {
        return false;
    }
    if !want.query.is_empty() {
        let mut have = query_pairs(uri.query().unwrap_or(""));
        let mut need = query_pairs(&want.query);
        crate::sort::sort(&mut have);
        crate::sort::sort(&mut need);
        return have == need;
    }
    true
}

/// Martian's host match: equal, or a `*` label matching any one label.
fn host_matches(host: &str, pattern: &str) -> bool {
    if host.eq_ignore_ascii_case(pattern) {
        return true;
    }
    let h: Vec<&str> = host.split('.').collect();
    let p: Vec<&str> = pattern.split('.').collect();
    h.len() == p.len()
        && h.iter()
            .zip(&p)
            .all(|(a, b)| *b == "*" || a.eq_ignore_ascii_case(b))
}

fn effective_port(uri: &Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })
}

fn set_url(uri: &mut Uri, parts: &UrlParts) -> Result<(), String> {
    let scheme = if parts.scheme.is_empty() {
        uri.scheme_str().unwrap_or("http").to_owned()
    } else {
        parts.scheme.clone()
    };
    let host = if parts.host.is_empty() {
        uri.authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default()
    } else {
        parts.host.clone()
    };
    let path = if parts.path.is_empty() {
        uri.path().to_owned()
    } else {
        parts.path.clone()
    };
    let query = if parts.query.is_empty() {
        uri.query().map(str::to_owned)
    } else {
        Some(parts.query.clone())
    };
    *uri = build(&scheme, &host, &path, query.as_deref())?;
    Ok(())
}

fn set_port(uri: &mut Uri, change: PortChange) -> Result<(), String> {
    let scheme = uri.scheme_str().unwrap_or("http").to_owned();
    let host = uri.host().unwrap_or("").to_owned();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let authority = match change {
        PortChange::Set(p) => format!("{host}:{p}"),
        PortChange::DefaultForScheme => match scheme.as_str() {
            "https" => format!("{host}:443"),
            "http" => format!("{host}:80"),
            _ => return Ok(()),
        },
        PortChange::Remove => host,
    };
    let path = uri.path().to_owned();
    let query = uri.query().map(str::to_owned);
    *uri = build(&scheme, &authority, &path, query.as_deref())?;
    Ok(())
}

fn set_query(uri: &mut Uri, query: Option<&str>) -> Result<(), String> {
    let scheme = uri.scheme_str().unwrap_or("http").to_owned();
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let path = uri.path().to_owned();
    *uri = build(&scheme, &host, &path, query.filter(|q| !q.is_empty()))?;
    Ok(())
}

fn build(scheme: &str, authority: &str, path: &str, query: Option<&str>) -> Result<Uri, String> {
    let mut text = format!("{scheme}://{authority}{path}");
    if let Some(q) = query {
        text.push('?');
        text.push_str(q);
    }
    text.parse::<Uri>()
        .map_err(|e| format!("martian: invalid backend URL {text}: {e}"))
}

/// Go's `url.ParseQuery` (pairs in order; `+` is a space; undecodable pairs skipped).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

fn form_decode(s: &str) -> Option<String> {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn decoded(path: &str) -> String {
    percent_decode_str(path).decode_utf8_lossy().into_owned()
}

/// Go's `Values.Encode`: sorted by key (values keep their order), form-encoded.
fn encode_query(mut pairs: Vec<(String, String)>) -> String {
    crate::sort::sort_by(&mut pairs, |a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        push_query_component(&mut out, &k);
        out.push('=');
        push_query_component(&mut out, &v);
    }
    out
}

/// A random (version 4) UUID, as martian's `header.Id` sets.
fn uuid_v4(random: &dyn Random) -> String {
    let mut b = [0u8; 16];
    let (high, low) = b.split_at_mut(8);
    high.copy_from_slice(&random.next_u64().to_be_bytes());
    low.copy_from_slice(&random.next_u64().to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_with_wildcard_labels() {
        assert!(host_matches("api.example.com", "api.example.com"));
        assert!(host_matches("api.example.com", "*.example.com"));
        assert!(!host_matches("example.com", "*.example.com"));
        assert!(!host_matches("api.example.org", "*.example.com"));
    }

    #[test]
    fn query_set_encodes_like_go() {
        let pairs = vec![
            ("b".to_owned(), "x y".to_owned()),
            ("a".to_owned(), "1&2".to_owned()),
        ];
        assert_eq!(encode_query(pairs), "a=1%262&b=x+y");
        assert_eq!(
            query_pairs("a=1+2&b=%2F&c"),
            vec![
                ("a".to_owned(), "1 2".to_owned()),
                ("b".to_owned(), "/".to_owned()),
                ("c".to_owned(), String::new())
            ]
        );
    }
}
