//! The request the endpoint's proxies see: the client's query and headers filtered by the
//! endpoint's `input_query_strings` / `input_headers`, the guards' header overrides, and
//! KrakenD's forwarding headers (`X-Forwarded-For` from the peer, `X-Forwarded-Host`,
//! `User-Agent` / `X-Forwarded-Via`).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HOST, USER_AGENT as UA};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::Endpoint;
use crate::guard::GuardState;
use crate::http_util::{parse_query, HOP_BY_HOP};
use crate::platform::RequestContext;
use crate::proxy::ProxyRequest;
use crate::url::Params;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_VIA: HeaderName = HeaderName::from_static("x-forwarded-via");

/// The request the endpoint's proxies see: query and headers filtered by the endpoint's
/// `input_query_strings` / `input_headers`, plus KrakenD's forwarding headers.
pub(super) fn build(
    endpoint: &Endpoint,
    parts: &Parts,
    state: &GuardState,
    body: Bytes,
    params: &Params,
    context: RequestContext,
) -> ProxyRequest {
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(parse_query)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| endpoint.input_query_strings.allows(k))
        .collect();

    // The client's headers and the three forwarding ones: no growth on the way.
    let mut headers = HeaderMap::with_capacity(parts.headers.len() + 3);
    let connection_named: Vec<String> = parts
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    // The client's own X-Forwarded-For is not trusted: the peer address replaces it below.
    // Left out as the headers are copied (a removal afterwards hashed the name again).
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || connection_named.iter().any(|c| c == n)
            || *name == X_FORWARDED_FOR
        {
            continue;
        }
        // A guard's value (a propagated JWT claim) replaces whatever the client sent.
        if state.headers.iter().any(|(h, _)| h == name) {
            continue;
        }
        if endpoint.input_headers.allows(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    for (name, value) in &state.headers {
        if let Some(value) = value
            .as_ref()
            .filter(|_| endpoint.input_headers.allows(name) && *name != X_FORWARDED_FOR)
        {
            headers.insert(name.clone(), value.clone());
        }
    }
    if let Some(peer) = context.peer {
        // Written by hand, not `to_string` (`fmt` cost more than the rest of the header work).
        let mut text = Vec::with_capacity(15);
        crate::platform::push_ip(&mut text, peer);
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(text)) {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
    let host = parts.headers.get(HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    if headers.contains_key(UA) {
        headers.insert(X_FORWARDED_VIA, HeaderValue::from_static(crate::USER_AGENT));
    } else {
        headers.insert(UA, HeaderValue::from_static(crate::USER_AGENT));
    }
    if let Some(live) = &context.trace {
        // `layers.proxy.report_headers`: what the endpoint passes on, on its span.
        live.proxy_headers(&headers);
    }
    ProxyRequest {
        method: parts.method.clone(),
        target: parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
        params: params.values.clone(),
        // `Arc::default()` of a slice is one shared empty allocation: no allocation per request.
        query: if query.is_empty() {
            Arc::default()
        } else {
            query.into()
        },
        headers: Arc::new(headers),
        body,
        previous: Arc::default(),
        rest: params.rest.clone(),
        jwt: state.jwt.clone(),
        context,
    }
}
