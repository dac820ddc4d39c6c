//! THE place where the pipeline order is written down (lura's `newStack`). Read top to bottom:
//! the request enters at the top of `endpoint_stack`, each backend's chain is in
//! `backend_stack`, and the endpoint handler (`crate::gateway`) wraps the whole thing with the
//! router checks and rendering.
//!
//! ```text
//! handler:  route → param check → endpoint_guards → request filters → endpoint_stack → render
//! guards:   JWT validator
//! endpoint: signer → json-schema → static → shadow copies → [endpoint deadline] → flatmap → merge | sequential | the single backend
//! backend:  error details → concurrent calls → shape (target→allow/deny→mapping→group) → http (url, send, status, decode)
//! ```

use std::sync::Arc;

use super::{
    backend::HttpBackend, concurrent, deadline, error_details, flatmap, json_schema, jwt, merge,
    sequential, shadow, shape, static_response, SharedGuard, SharedProxy,
};
use crate::config::{Backend, Endpoint};
use crate::platform::Platform;

/// Largest backend body accepted (after decompression) before the call counts as failed.
pub const DEFAULT_MAX_BACKEND_BODY: usize = 16 * 1024 * 1024;

/// The checks that run on the client's request before the endpoint handler, in order.
pub(crate) fn endpoint_guards(endpoint: &Endpoint, platform: &Platform) -> Vec<SharedGuard> {
    let mut guards = Vec::new();
    // KrakenD's handler order (bot detector → JWT → rate limit): a request without a valid
    // token is refused before it can spend anyone's rate-limit budget, and before any
    // backend is called. Its 401/403 carries no X-Krakend headers.
    if let Some(validator) = &endpoint.auth_validator {
        guards.push(jwt::guard(validator.clone(), platform));
    }
    guards
}

/// The proxy for one endpoint.
pub(crate) fn endpoint_stack(endpoint: &Endpoint, platform: &Platform) -> SharedProxy {
    // Fail closed: a declared protection we cannot enforce must never serve the data.
    if let Some(ns) = &endpoint.unenforced {
        let message =
            format!("`{ns}` is declared on this endpoint but not supported by this build");
        return super::proxy_fn(move |_| {
            let message = message.clone();
            Box::pin(async move {
                Err(super::ProxyError::new(
                    super::ErrorSource::Internal,
                    message,
                ))
            })
        });
    }
    let (shadows, answering): (Vec<&Backend>, Vec<&Backend>) =
        endpoint.backend.iter().partition(|b| b.shadow);
    let mut backends: Vec<SharedProxy> = answering
        .iter()
        .map(|b| backend_stack(endpoint, b, platform))
        .collect();
    let mut p = match backends.pop() {
        // A single backend has no merge budget: only the endpoint deadline applies (as KrakenD).
        Some(only) if backends.is_empty() => only,
        Some(last) => {
            backends.push(last);
            if endpoint.sequential {
                sequential::layer(backends, endpoint.timeout, platform.clone())
            } else {
                merge::layer(backends, endpoint.timeout, platform.clone())
            }
        }
        None => super::proxy_fn(|_| {
            Box::pin(async {
                Err(super::ProxyError::new(
                    super::ErrorSource::Internal,
                    "endpoint without backends",
                ))
            })
        }),
    };
    // On the merged data; validation kept it only when more than one backend answers.
    if !endpoint.flatmap_filter.is_empty() {
        p = flatmap::layer(endpoint.flatmap_filter.clone(), p);
    }
    // The deadline stops the calls but not what is outside it: static data still applies.
    p = deadline::layer(endpoint.timeout, p, platform.clone());
    // Shadow copies start with the real calls and are never part of the answer.
    let shadows = shadows
        .iter()
        .map(|b| {
            let timeout = b.shadow_timeout.unwrap_or(endpoint.timeout);
            (backend_stack(endpoint, b, platform), timeout)
        })
        .collect();
    p = shadow::layer(shadows, p, platform.clone());
    // Last, so it also covers a total failure or a timeout (lura: after merge and flatmap).
    if let Some(data) = &endpoint.static_response {
        p = static_response::layer(data.clone(), p);
    }
    // Outside everything that calls a backend (CE's proxy wrappers): an invalid body is
    // refused before any call.
    if let Some(schema) = &endpoint.json_schema {
        p = json_schema::layer(schema.clone(), p);
    }
    // Outside static data, so a static `access_token` gets signed too (KrakenD jwt_4).
    if let Some(signer) = &endpoint.auth_signer {
        p = jwt::signer(signer.clone(), p, platform);
    }
    p
}

/// The chain for one backend, innermost first.
pub(crate) fn backend_stack(
    endpoint: &Endpoint,
    backend: &Backend,
    platform: &Platform,
) -> SharedProxy {
    // The HTTP call: URL building, balancing, filters, send, status check, decode.
    let mut p: SharedProxy = Arc::new(HttpBackend::new(
        backend.clone(),
        platform.clone(),
        DEFAULT_MAX_BACKEND_BODY,
    ));
    // Shaping sees only successful, decoded data.
    p = shape::layer(backend, p);
    // Around the whole fetch-and-parse, so an incomplete or broken answer loses the race; each
    // copy balances its host on its own (lura's concurrent middleware).
    p = concurrent::layer(
        endpoint.concurrent_calls,
        endpoint.timeout,
        p,
        platform.clone(),
    );
    // Outside shaping, so `error_<alias>` is not wrapped by `group` or filtered away.
    if let Some(alias) = &backend.http.return_error_details {
        p = error_details::layer(alias, p);
    }
    p
}
