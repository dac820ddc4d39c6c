//! THE place where the pipeline order is written down (lura's `newStack`). Read top to bottom:
//! the request enters at the top of `endpoint_stack`, each backend's chain is in
//! `backend_stack`, and the endpoint handler (`crate::gateway`) wraps the whole thing with the
//! router checks, the endpoint deadline and rendering.
//!
//! ```text
//! handler:  route → param check → request filters → [endpoint deadline] → endpoint_stack → render
//! endpoint: merge (N backends, 85 % budget each) | the single backend
//! backend:  error details → shape (target→allow/deny→mapping→group) → http (url, send, status, decode)
//! ```

use super::{backend::HttpBackend, error_details, merge, shape, SharedProxy};
use crate::config::{Backend, Endpoint};
use crate::platform::Platform;

/// Largest backend body accepted (after decompression) before the call counts as failed.
pub const DEFAULT_MAX_BACKEND_BODY: usize = 16 * 1024 * 1024;

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
    let mut backends: Vec<SharedProxy> = endpoint
        .backend
        .iter()
        .map(|b| backend_stack(b, platform))
        .collect();
    match backends.pop() {
        // A single backend has no merge budget: only the endpoint deadline applies (as KrakenD).
        Some(only) if backends.is_empty() => only,
        Some(last) => {
            backends.push(last);
            merge::layer(backends, endpoint.timeout, platform.clone())
        }
        None => super::proxy_fn(|_| {
            Box::pin(async {
                Err(super::ProxyError::new(
                    super::ErrorSource::Internal,
                    "endpoint without backends",
                ))
            })
        }),
    }
}

/// The chain for one backend, innermost first.
pub(crate) fn backend_stack(backend: &Backend, platform: &Platform) -> SharedProxy {
    // The HTTP call: URL building, balancing, filters, send, status check, decode.
    let mut p: SharedProxy = std::sync::Arc::new(HttpBackend::new(
        backend.clone(),
        platform.clone(),
        DEFAULT_MAX_BACKEND_BODY,
    ));
    // Shaping sees only successful, decoded data.
    p = shape::layer(backend, p);
    // Outside shaping, so `error_<alias>` is not wrapped by `group` or filtered away.
    if let Some(alias) = &backend.http.return_error_details {
        p = error_details::layer(alias, p);
    }
    p
}
