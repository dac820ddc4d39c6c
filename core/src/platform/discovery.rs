//! The service-discovery port: DNS SRV lookups for backends with `"sd": "dns"`
//! (docs/service-discovery.md). The core decides what to do with an answer (which targets,
//! how long to keep it, how to balance: `proxy::discovery`); the platform only asks DNS.

use std::fmt;
use std::time::Duration;

use super::{BoxFuture, MaybeSend, MaybeSync};

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is preferred: only the lowest priority present receives traffic.
    pub priority: u16,
    /// Relative share of the traffic among the records of one priority.
    pub weight: u16,
    /// The target's port.
    pub port: u16,
    /// The target's host name, as the record gives it (a trailing `.` is allowed); `.` means
    /// "the service is not available here".
    pub target: String,
}

/// A resolver's answer: the records (none: the name has no SRV records, or does not exist)
/// and how long the answer may be kept (the smallest TTL of the records; for an empty answer,
/// the negative-caching TTL the server gave, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvAnswer {
    /// The records, in the order received.
    pub records: Vec<SrvRecord>,
    /// How long the answer may be kept.
    pub ttl: Duration,
}

/// Why a lookup produced no answer (the server could not be reached, timed out, answered
/// SERVFAIL...). A name without records is an answer, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    /// The cause, in words (names the server when it helps).
    pub message: String,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// DNS SRV lookups (natively: hickory-resolver on tokio; the Workers platform has none).
pub trait SrvResolver: MaybeSend + MaybeSync {
    /// The SRV records of `name` (e.g. `_api._tcp.example.service.consul`).
    fn lookup_srv(&self, name: &str) -> BoxFuture<'static, Result<SrvAnswer, ResolveError>>;
}
