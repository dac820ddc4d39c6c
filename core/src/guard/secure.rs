//! `security/http`: host allow-list, HTTPS redirect and the security response headers
//! (krakend-httpsecure, after unrolled/secure).

use std::ops::ControlFlow;

use bytes::Bytes;
use http::header::{
    CONTENT_SECURITY_POLICY, HOST, LOCATION, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS, X_XSS_PROTECTION,
};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use super::Inbound;
use crate::config::extra::SecurityHttp;

const PUBLIC_KEY_PINS: HeaderName = HeaderName::from_static("public-key-pins");

/// A compiled `security/http` policy.
#[derive(Debug)]
pub(crate) struct Secure {
    allowed_hosts: Vec<String>,
    host_headers: Vec<HeaderName>,
    ssl_redirect: bool,
    ssl_host: String,
    ssl_headers: Vec<(HeaderName, String)>,
    /// Sent on every response that passed the checks.
    always: HeaderMap,
    /// Sent only on HTTPS requests (STS unless forced, HPKP).
    https_only: HeaderMap,
}

// === impl Secure ===

impl Secure {
    pub(crate) fn new(cfg: &SecurityHttp) -> Self {
        let dev = cfg.is_development;
        let mut always = HeaderMap::new();
        let mut https_only = HeaderMap::new();
        let put = |map: &mut HeaderMap, name: HeaderName, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                map.insert(name, v);
            }
        };
        if cfg.sts_seconds > 0 && !dev {
            let mut v = format!("max-age={}", cfg.sts_seconds);
            if cfg.sts_include_subdomains {
                v.push_str("; includeSubDomains");
            }
            if cfg.sts_preload {
                v.push_str("; preload");
            }
            let target = if cfg.force_sts_header {
                &mut always
            } else {
                &mut https_only
            };
            put(target, STRICT_TRANSPORT_SECURITY, &v);
        }
        if !cfg.custom_frame_options_value.is_empty() {
            put(
                &mut always,
                X_FRAME_OPTIONS,
                &cfg.custom_frame_options_value,
            );
        } else if cfg.frame_deny {
            put(&mut always, X_FRAME_OPTIONS, "DENY");
        }
        if cfg.content_type_nosniff {
            put(&mut always, X_CONTENT_TYPE_OPTIONS, "nosniff");
        }
        if cfg.browser_xss_filter {
            put(&mut always, X_XSS_PROTECTION, "1; mode=block");
        }
        if !cfg.content_security_policy.is_empty() {
            put(
                &mut always,
                CONTENT_SECURITY_POLICY,
                &cfg.content_security_policy,
            );
        }
        if !cfg.referrer_policy.is_empty() {
            put(&mut always, REFERRER_POLICY, &cfg.referrer_policy);
        }
        if !cfg.hpkp_public_key.is_empty() && !dev {
            put(&mut https_only, PUBLIC_KEY_PINS, &cfg.hpkp_public_key);
        }
        Self {
            allowed_hosts: if dev {
                Vec::new()
            } else {
                cfg.allowed_hosts.clone()
            },
            host_headers: cfg
                .host_proxy_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            ssl_redirect: cfg.ssl_redirect && !dev,
            ssl_host: cfg.ssl_host.clone(),
            ssl_headers: cfg
                .ssl_proxy_headers
                .iter()
                .filter_map(|(k, v)| Some((HeaderName::from_bytes(k.as_bytes()).ok()?, v.clone())))
                .collect(),
            always,
            https_only,
        }
    }

    fn is_https(&self, req: &Inbound<'_>) -> bool {
        let parts = req.parts;
        req.context.https
            || parts.uri.scheme_str() == Some("https")
            || self.ssl_headers.iter().any(|(name, want)| {
                parts
                    .headers
                    .get(name)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(want.as_bytes()))
            })
    }

    fn host<'p>(&self, parts: &'p Parts) -> &'p str {
        let from = |name: &HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        self.host_headers
            .iter()
            .find_map(from)
            .or_else(|| from(&HOST))
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default()
    }

    /// Checkpoint: 400 for a host not on the list, 301 to HTTPS for a plain request.
    pub(crate) fn check(&self, req: &Inbound<'_>) -> ControlFlow<Response<Bytes>> {
        let parts = req.parts;
        let host = self.host(parts);
        if !self.allowed_hosts.is_empty()
            && !self
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host))
        {
            let mut r = crate::http_util::text("Bad Host");
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return ControlFlow::Break(r);
        }
        if self.ssl_redirect && !self.is_https(req) {
            let target_host = if self.ssl_host.is_empty() {
                host
            } else {
                &self.ssl_host
            };
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut r = crate::http_util::empty(StatusCode::MOVED_PERMANENTLY);
            if let Ok(v) = HeaderValue::from_str(&format!("https://{target_host}{path}")) {
                r.headers_mut().insert(LOCATION, v);
            }
            return ControlFlow::Break(r);
        }
        ControlFlow::Continue(())
    }

    /// Add the security headers to a response that passed [`Secure::check`].
    pub(crate) fn decorate(&self, req: &Inbound<'_>, response: &mut Response<Bytes>) {
        let h = response.headers_mut();
        for (name, value) in &self.always {
            h.insert(name.clone(), value.clone());
        }
        if self.is_https(req) {
            for (name, value) in &self.https_only {
                h.insert(name.clone(), value.clone());
            }
        }
    }
}
