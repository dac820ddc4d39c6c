//! The `router` namespace (root level): error rendering and built-in routes.

use std::net::IpAddr;

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;

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
    /// Write no access log (metrics and traces still see every request).
    pub disable_access_log: bool,
    /// Paths left out of the access log (exact match).
    pub logger_skip_paths: Vec<String>,
    /// Manifold extension: a `Server-Timing` header on every answer, one entry per backend
    /// call (`dur` in ms) and the gateway's total (docs/extensions.md).
    pub server_timing: bool,
    /// Take the client IP (rate limiting) from `remote_ip_headers` when the peer is one of
    /// `trusted_proxies` (gin's `ClientIP`); otherwise the peer address is the client.
    pub forwarded_by_client_ip: bool,
    /// Headers read right to left for the client IP (default `X-Forwarded-For`, `X-Real-IP`).
    pub remote_ip_headers: Vec<String>,
    /// Proxies (IPs or CIDRs) whose forwarding headers are believed. Empty: none.
    pub trusted_proxies: Vec<Cidr>,
    /// Largest request body in bytes (KrakenD Enterprise's service-level key); larger ones get
    /// 413 on every platform. Default 10 MiB.
    pub max_payload: Option<u64>,
    /// Answer `OPTIONS` on every endpoint path with `200` and `Allow: <its methods>` (lura's
    /// auto OPTIONS endpoints; a CORS preflight is answered before, by `security/cors`).
    pub auto_options: bool,
    /// Route the cleaned path (`//users///42`, `/a/./b`) instead of redirecting to it (gin's
    /// `RemoveExtraSlash`).
    pub remove_extra_slash: bool,
    /// A known path with another method is 404 instead of 405 (gin's
    /// `HandleMethodNotAllowed` off).
    pub disable_handle_method_not_allowed: bool,
    /// Take the client IP (rate limiting) from `X-Appengine-Remote-Addr` first (gin's
    /// `AppEngine`); only safe behind Google App Engine, which sets that header itself.
    pub app_engine: bool,
    /// Accepted, no effect: Manifold's parameter check is a safety check (see `plan`).
    pub disable_path_decoding: bool,
    /// Accepted, no effect: Manifold does not parse multipart forms.
    pub max_multipart_memory: Option<u64>,
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

/// An IP network (`10.0.0.0/8`, `::1/128`, or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub(crate) addr: IpAddr,
    pub(crate) prefix: u8,
}

// === impl RouterOptions ===

impl Namespace for RouterOptions {
    type Raw = Self;

    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        if raw.disable_path_decoding {
            cx.at("disable_path_decoding").warn("`disable_path_decoding` has no effect: Manifold decodes path parameters once and refuses only values that would change the backend URL (`/ ? # \\`, controls, `.`/`..`, double encoding), which KrakenD's check it turns off does not protect against");
        }
        if raw.max_multipart_memory.is_some() {
            cx.at("max_multipart_memory").warn("`max_multipart_memory` has no effect: Manifold forwards multipart bodies without parsing them (the body limit is `max_payload`)");
        }
        Some(raw)
    }
}

// === impl Cidr ===

impl Cidr {
    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits): (u128, u128, u8) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n).into(), u32::from(i).into(), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.into(), i.into(), 128),
            (IpAddr::V6(n), IpAddr::V4(i)) => (n.into(), i.to_ipv6_mapped().into(), 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u32::from(n).into(), u32::from(i).into(), 32),
                None => return false,
            },
        };
        let host_bits = u32::from(bits - self.prefix.min(bits));
        net.checked_shr(host_bits).unwrap_or(0) == ip.checked_shr(host_bits).unwrap_or(0)
    }

    /// `10.0.0.0/8`, `::1/128`, or a single address.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not an IP address or CIDR");
        let (ip, prefix) = text
            .split_once('/')
            .map_or((text, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
