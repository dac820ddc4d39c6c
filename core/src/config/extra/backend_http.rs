//! The `backend/http` namespace: how a failing backend's answer reaches the client, and the
//! redirect policy.

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;

/// Options of the `backend/http` namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BackendHttp {
    /// On failure, add `error_<alias>` with the backend's status and body to the response.
    pub return_error_details: Option<String>,
    /// With a single backend, answer with the backend's status code on failure.
    pub return_error_code: bool,
    /// Manifold extension: do not follow backend redirects at all (the 3xx is then a
    /// backend error, or passes through with `no-op`).
    pub no_redirect: bool,
    /// Manifold extension: follow redirects to other origins too (off by default, so a
    /// backend cannot bounce the gateway to a metadata address). Credentials are still
    /// dropped when the origin changes.
    pub allow_cross_origin_redirects: bool,
}

// === impl BackendHttp ===

impl Namespace for BackendHttp {
    type Raw = Self;

    fn plan(raw: Self, _cx: &mut Cx<'_, '_>) -> Option<Self> {
        Some(raw)
    }
}
