//! The `router` namespace (root level): error rendering and built-in routes.

use serde::Deserialize;

/// Options of the `router` namespace that Manifold implements.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RouterOptions {
    /// Write the gateway's error text as the body of 500 responses.
    pub return_error_msg: bool,
    /// Send `X-Krakend: Version undefined` instead of the version.
    pub hide_version_header: bool,
    /// Do not serve the health endpoint.
    pub disable_health: bool,
    /// Path of the health endpoint (default `/__health`).
    pub health_path: Option<String>,
    /// Custom bodies for router errors.
    pub error_body: ErrorBodies,
    /// Do not redirect `/path/` to `/path` (or back) when only the other one exists.
    pub disable_redirect_trailing_slash: bool,
    /// Do not redirect a wrongly cased or unclean path (`/StAtic`, `//a/../static`) to the
    /// endpoint it matches.
    pub disable_redirect_fixed_path: bool,
    /// Accepted for compatibility; access logging belongs to the adapter.
    pub disable_access_log: bool,
    /// Accepted for compatibility; access logging belongs to the adapter.
    pub logger_skip_paths: Vec<String>,
}

/// `router.error_body`: custom JSON bodies for 404 and 405.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBodies {
    /// Body for unknown paths.
    #[serde(rename = "404")]
    pub not_found: Option<serde_json::Value>,
    /// Body for known paths with the wrong method.
    #[serde(rename = "405")]
    pub method_not_allowed: Option<serde_json::Value>,
}
