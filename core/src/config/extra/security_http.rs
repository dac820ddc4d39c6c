//! The `security/http` namespace (root): host allow-list, HTTPS redirect and the security
//! response headers (KrakenD's krakend-httpsecure, after unrolled/secure).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{checked, Namespace};
use crate::config::decode::Cx;

/// Options of the `security/http` namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SecurityHttp {
    /// Accepted `Host` values; any other host gets 400. Empty: any host.
    pub allowed_hosts: Vec<String>,
    /// Headers that may carry the original host (e.g. `X-Forwarded-Host`), checked first.
    pub host_proxy_headers: Vec<String>,
    /// Redirect plain-HTTP requests to HTTPS.
    pub ssl_redirect: bool,
    /// Host of the HTTPS redirect target (default: the request's host).
    pub ssl_host: String,
    /// Header/value pairs that mean the request arrived over HTTPS (e.g. `X-Forwarded-Proto: https`).
    pub ssl_proxy_headers: BTreeMap<String, String>,
    /// `Strict-Transport-Security: max-age=N` on HTTPS requests (0: not sent).
    pub sts_seconds: u64,
    /// Add `includeSubDomains` to the STS header.
    pub sts_include_subdomains: bool,
    /// Add `preload` to the STS header.
    pub sts_preload: bool,
    /// Send the STS header on plain-HTTP requests too (e.g. behind a TLS terminator).
    pub force_sts_header: bool,
    /// `X-Frame-Options: DENY`.
    pub frame_deny: bool,
    /// `X-Frame-Options` with this value instead (wins over `frame_deny`).
    pub custom_frame_options_value: String,
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_nosniff: bool,
    /// `X-XSS-Protection: 1; mode=block`.
    pub browser_xss_filter: bool,
    /// `Content-Security-Policy` value.
    pub content_security_policy: String,
    /// `Referrer-Policy` value.
    pub referrer_policy: String,
    /// `Public-Key-Pins` value (HPKP, deprecated by browsers; sent as written, HTTPS only).
    pub hpkp_public_key: String,
    /// Development mode: host checks, SSL redirect, STS and HPKP are off.
    pub is_development: bool,
}

// === impl SecurityHttp ===

impl SecurityHttp {
    /// Problems found after decoding, as (key, message).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, value) in [
            (
                "custom_frame_options_value",
                &self.custom_frame_options_value,
            ),
            ("content_security_policy", &self.content_security_policy),
            ("referrer_policy", &self.referrer_policy),
            ("hpkp_public_key", &self.hpkp_public_key),
        ] {
            if http::HeaderValue::from_str(value).is_err() {
                out.push((key, format!("{value:?} is not a valid header value")));
            }
        }
        for h in self
            .host_proxy_headers
            .iter()
            .chain(self.ssl_proxy_headers.keys())
        {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                out.push((
                    "host_proxy_headers",
                    format!("`{h}` is not a valid header name"),
                ));
            }
        }
        out
    }
}

impl Namespace for SecurityHttp {
    type Raw = Self;

    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let problems = raw.problems();
        checked(cx, raw, &problems)
    }
}
