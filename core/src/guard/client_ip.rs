//! The client's IP address for rate limiting: the adapter's peer address, or (gin's
//! `ClientIP`) the right-most untrusted address of a forwarding header when the peer is a
//! trusted proxy and `router.forwarded_by_client_ip` is on. A client can therefore never choose
//! its own key by sending `X-Forwarded-For` directly.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName};

use crate::config::extra::{Cidr, RouterOptions};

/// How to find the client IP, compiled from the `router` namespace.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientIp {
    headers: Vec<HeaderName>,
    trusted: Vec<Cidr>,
    /// `router.app_engine`: `X-Appengine-Remote-Addr` first (gin's `AppEngine`).
    app_engine: bool,
}

// === impl ClientIp ===

impl ClientIp {
    pub(crate) fn new(router: &RouterOptions) -> Self {
        if !router.forwarded_by_client_ip {
            return Self {
                app_engine: router.app_engine,
                ..Self::default()
            };
        }
        let headers = if router.remote_ip_headers.is_empty() {
            vec![
                HeaderName::from_static("x-forwarded-for"),
                HeaderName::from_static("x-real-ip"),
            ]
        } else {
            router
                .remote_ip_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect()
        };
        Self {
            headers,
            trusted: router.trusted_proxies.clone(),
            app_engine: router.app_engine,
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// The client address of one request.
    pub(crate) fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if self.app_engine {
            let app_engine = headers
                .get("x-appengine-remote-addr")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            if app_engine.is_some() {
                return app_engine;
            }
        }
        let peer = peer?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        for name in &self.headers {
            let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            let hops: Vec<&str> = value.split(',').map(str::trim).collect();
            let mut found = None;
            // Right to left: every hop a trusted proxy added is skipped; the first one that is
            // not trusted is the client (anything left of it may be forged).
            for (i, hop) in hops.iter().enumerate().rev() {
                let Ok(ip) = hop.parse::<IpAddr>() else {
                    break;
                };
                if i == 0 || !self.trusted(ip) {
                    found = Some(ip);
                    break;
                }
            }
            if found.is_some() {
                return found;
            }
        }
        Some(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(json: &str) -> RouterOptions {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn forwarding_headers_need_a_trusted_peer() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.1.1.1, 9.9.9.9, 10.0.0.2".parse().unwrap(),
        );
        let peer = Some("10.0.0.1".parse().unwrap());
        assert_eq!(ClientIp::new(&router("{}")).resolve(peer, &h), peer);
        let c = ClientIp::new(&router(
            r#"{"forwarded_by_client_ip":true,"trusted_proxies":["10.0.0.0/8"]}"#,
        ));
        assert_eq!(c.resolve(peer, &h), Some("9.9.9.9".parse().unwrap()));
        let untrusted = Some("8.8.8.8".parse().unwrap());
        assert_eq!(c.resolve(untrusted, &h), untrusted);
    }
}
