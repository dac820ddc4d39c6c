//! The `qos/circuit-breaker` namespace (backend).

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;

/// Options of `qos/circuit-breaker` (KrakenD's gobreaker settings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CircuitBreaker {
    /// Seconds after which the consecutive-error count of a closed circuit starts over (0: never).
    pub interval: u64,
    /// Seconds an open circuit waits before letting one probe through (0: 60, gobreaker's default).
    pub timeout: u64,
    /// The circuit opens when the consecutive errors exceed this number (gobreaker's
    /// `ReadyToTrip: ConsecutiveFailures > max_errors`, as KrakenD configures it).
    pub max_errors: u32,
    /// Name used in messages.
    pub name: String,
    /// Accepted for compatibility; the adapters log requests themselves.
    pub log_status_change: bool,
}

// === impl CircuitBreaker ===

impl Namespace for CircuitBreaker {
    type Raw = Self;

    fn plan(raw: Self, _cx: &mut Cx<'_, '_>) -> Option<Self> {
        Some(raw)
    }
}
