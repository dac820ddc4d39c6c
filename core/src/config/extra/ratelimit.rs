//! The `qos/ratelimit/router` (endpoint, or root as the default of every endpoint) and
//! `qos/ratelimit/proxy` (backend) namespaces: token buckets.

use std::time::Duration;

use serde::Deserialize;

use super::{checked, Namespace};
use crate::config::decode::Cx;

/// Options of `qos/ratelimit/router`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RouterRateLimit {
    /// Requests per `every` for all clients together; excess gets 503. 0: no limit.
    pub max_rate: f64,
    /// Burst size of the shared bucket (default `max_rate`, at least 1).
    pub capacity: u64,
    /// Requests per `every` for each client; excess gets 429. 0: no limit.
    pub client_max_rate: f64,
    /// Burst size of each client's bucket (default `client_max_rate`, at least 1).
    pub client_capacity: u64,
    /// How a client is identified: `ip` (default), `header`, `param` or `api_key`.
    pub strategy: Strategy,
    /// The header or endpoint parameter name for the `header` / `param` strategies.
    pub key: String,
    /// The period the rates refer to (Go duration, default 1s).
    #[serde(deserialize_with = "super::go_duration")]
    pub every: Option<Duration>,
    /// Manifold extension, default off (KrakenD's answers unchanged): `RateLimit-Limit`,
    /// `RateLimit-Remaining` and `RateLimit-Reset` on every answer, `Retry-After` on a 429.
    pub headers: bool,
}

/// `qos/ratelimit/router.strategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The client's IP address.
    #[default]
    Ip,
    /// The value of the header named by `key`.
    Header,
    /// The value of the endpoint parameter named by `key`.
    Param,
    /// Manifold extension: the identity of the request's API key (`auth/api-keys`).
    #[serde(rename = "api_key")]
    ApiKey,
}

/// Options of `qos/ratelimit/proxy`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProxyRateLimit {
    /// Calls per `every` to this backend; excess fails without calling it.
    pub max_rate: f64,
    /// Burst size (default `max_rate`, at least 1).
    pub capacity: u64,
    /// The period the rate refers to (Go duration, default 1s).
    #[serde(deserialize_with = "super::go_duration")]
    pub every: Option<Duration>,
}

// === impl RouterRateLimit ===

impl RouterRateLimit {
    /// Problems found after decoding, as (key, message).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = rate_problems(self.max_rate, self.every);
        if !self.client_max_rate.is_finite() || self.client_max_rate < 0.0 {
            out.push((
                "client_max_rate",
                "must be a non-negative number".to_owned(),
            ));
        }
        if self.client_max_rate > 0.0 {
            let bad = match self.strategy {
                Strategy::Header => http::HeaderName::from_bytes(self.key.as_bytes()).is_err(),
                Strategy::Param => self.key.is_empty(),
                Strategy::Ip | Strategy::ApiKey => false,
            };
            if bad {
                out.push((
                    "key",
                    "the `header` and `param` strategies need `key` (the header or parameter name)"
                        .to_owned(),
                ));
            }
        }
        out
    }
}

impl Namespace for RouterRateLimit {
    type Raw = Self;

    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let problems = raw.problems();
        checked(cx, raw, &problems)
    }
}

// === impl ProxyRateLimit ===

impl ProxyRateLimit {
    /// Problems found after decoding, as (key, message).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        rate_problems(self.max_rate, self.every)
    }
}

impl Namespace for ProxyRateLimit {
    type Raw = Self;

    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let problems = raw.problems();
        checked(cx, raw, &problems)
    }
}

fn rate_problems(max_rate: f64, every: Option<Duration>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !max_rate.is_finite() || max_rate < 0.0 {
        out.push(("max_rate", "must be a non-negative number".to_owned()));
    }
    if every.is_some_and(|e| e.is_zero()) {
        out.push(("every", "must be longer than zero".to_owned()));
    }
    out
}
