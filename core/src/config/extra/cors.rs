//! The `security/cors` namespace (root): which cross-origin requests browsers may make, with
//! KrakenD's (rs/cors) keys and defaults.

use std::time::Duration;

use serde::Deserialize;

use super::{checked, Namespace};
use crate::config::decode::Cx;

/// Options of the `security/cors` namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Cors {
    /// Allowed origins (`scheme://host[:port]`, one `*` wildcard allowed inside a value);
    /// empty or `["*"]` means any origin.
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for (default GET, HEAD, POST).
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may ask for (`Origin` is always added; default Origin,
    /// Accept, Content-Type, X-Requested-With; `*` allows any).
    pub allow_headers: Vec<String>,
    /// Response headers the browser may read (`Access-Control-Expose-Headers`).
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight answer (Go duration, e.g. `"12h"`).
    #[serde(deserialize_with = "super::go_duration")]
    pub max_age: Option<Duration>,
    /// Send `Access-Control-Allow-Credentials: true` (never with a wildcard origin).
    pub allow_credentials: bool,
    /// Let preflight requests reach the router instead of answering them here.
    pub options_passthrough: bool,
    /// Status of an answered preflight (default 204).
    pub options_success_status: Option<u16>,
    /// Accepted for compatibility; the adapters log requests themselves.
    pub debug: bool,
}

// === impl Cors ===

impl Cors {
    /// Whether every origin is allowed (no list, or a `*` entry).
    pub fn any_origin(&self) -> bool {
        self.allow_origins.is_empty() || self.allow_origins.iter().any(|o| o == "*")
    }

    /// Problems found after decoding, as (key, message).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.allow_credentials && self.any_origin() {
            out.push(("allow_credentials", "`allow_credentials: true` cannot be combined with a wildcard origin (`allow_origins` empty or `[\"*\"]`): any site could read credentialed responses; list the allowed origins instead".to_owned()));
        }
        for o in &self.allow_origins {
            if o != "*" && o.matches('*').count() > 1 {
                out.push((
                    "allow_origins",
                    format!("origin `{o}`: at most one `*` wildcard is allowed"),
                ));
            }
        }
        if let Some(s) = self.options_success_status {
            if !(200..=299).contains(&s) {
                out.push((
                    "options_success_status",
                    format!("`{s}` is not a 2xx status"),
                ));
            }
        }
        for m in &self.allow_methods {
            if http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).is_err() {
                out.push(("allow_methods", format!("`{m}` is not a valid HTTP method")));
            }
        }
        for h in self.allow_headers.iter().chain(&self.expose_headers) {
            if h != "*" && http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                out.push(("allow_headers", format!("`{h}` is not a valid header name")));
            }
        }
        out
    }
}

impl Namespace for Cors {
    type Raw = Self;

    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let problems = raw.problems();
        checked(cx, raw, &problems)
    }
}
