//! `qos/circuit-breaker`: gobreaker's state machine as KrakenD configures it. Closed: calls go
//! through and consecutive errors are counted (reset every `interval`). More than `max_errors`
//! in a row: open, every call fails at once without reaching the backend, for `timeout`. Then
//! half-open: exactly one probe goes through; its success closes the circuit, its failure
//! opens it again. An error is any failed call (bad status, transport, decoding, timeout);
//! for `no-op` backends only transport errors, as in KrakenD.
//!
//! Results are tagged with the generation they started in, so a slow call that finishes after
//! the state changed does not count. A call dropped before finishing (a timeout above it)
//! counts as a failure, so a lost probe can never leave the circuit half-open forever.

use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;

use super::{ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::config::extra::CircuitBreaker;
use crate::platform::{BoxFuture, Clock};

/// Error text while the circuit is open (gobreaker's).
pub(crate) const OPEN_STATE: &str = "circuit breaker is open";
/// Error text while the half-open probe is in flight (gobreaker's).
pub(crate) const TOO_MANY_REQUESTS: &str = "too many requests";

/// gobreaker's default open period when `timeout` is 0.
const DEFAULT_TIMEOUT_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    generation: u64,
    /// Calls admitted in this generation (only looked at while half-open).
    requests: u32,
    consecutive_failures: u32,
    /// Closed: when the counts start over (0: never). Open: when it turns half-open.
    expiry_ms: u64,
}

struct Breaker {
    state: Mutex<State>,
    interval_ms: u64,
    timeout_ms: u64,
    max_errors: u32,
    name: String,
    clock: Arc<dyn Clock>,
    next: SharedProxy,
}

/// An admitted call; reports a failure if dropped before [`Ticket::finish`].
struct Ticket<'b> {
    breaker: &'b Breaker,
    generation: u64,
    done: bool,
}

/// Wrap `next` in a circuit breaker.
pub(crate) fn layer(cfg: &CircuitBreaker, next: SharedProxy, clock: Arc<dyn Clock>) -> SharedProxy {
    let interval_ms = cfg.interval.saturating_mul(1000);
    let now = clock.now_millis();
    Arc::new(Breaker {
        state: Mutex::new(State {
            phase: Phase::Closed,
            generation: 0,
            requests: 0,
            consecutive_failures: 0,
            expiry_ms: if interval_ms > 0 {
                now + interval_ms
            } else {
                0
            },
        }),
        interval_ms,
        timeout_ms: if cfg.timeout == 0 {
            DEFAULT_TIMEOUT_MS
        } else {
            cfg.timeout.saturating_mul(1000)
        },
        max_errors: cfg.max_errors,
        name: cfg.name.clone(),
        clock,
        next,
    })
}

// === impl Breaker ===

impl Breaker {
    fn set(&self, s: &mut State, phase: Phase, now: u64) {
        s.phase = phase;
        s.generation += 1;
        s.requests = 0;
        s.consecutive_failures = 0;
        s.expiry_ms = match phase {
            Phase::Closed if self.interval_ms > 0 => now + self.interval_ms,
            Phase::Open => now + self.timeout_ms,
            _ => 0,
        };
    }

    /// Bring the state up to `now` (interval rollover, open → half-open).
    fn current(&self, s: &mut State, now: u64) {
        match s.phase {
            Phase::Closed if s.expiry_ms != 0 && s.expiry_ms <= now => {
                self.set(s, Phase::Closed, now);
            }
            Phase::Open if s.expiry_ms <= now => self.set(s, Phase::HalfOpen, now),
            _ => {}
        }
    }

    fn admit(&self) -> Result<Ticket<'_>, ProxyError> {
        let now = self.clock.now_millis();
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.current(&mut s, now);
        let refused = match s.phase {
            Phase::Open => Some(OPEN_STATE),
            // Exactly one probe: the first call after the open period; the rest fail fast.
            Phase::HalfOpen if s.requests >= 1 => Some(TOO_MANY_REQUESTS),
            _ => None,
        };
        if let Some(message) = refused {
            let mut e = ProxyError::new(ErrorSource::Backend, self.message(message));
            // Seen as a backend answering 503 (what `return_error_code` passes on).
            e.status = Some(StatusCode::SERVICE_UNAVAILABLE);
            return Err(e);
        }
        s.requests += 1;
        Ok(Ticket {
            breaker: self,
            generation: s.generation,
            done: false,
        })
    }

    fn message(&self, text: &str) -> String {
        if self.name.is_empty() {
            text.to_owned()
        } else {
            format!("{text} ({})", self.name)
        }
    }

    fn record(&self, generation: u64, success: bool) {
        let now = self.clock.now_millis();
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.current(&mut s, now);
        if s.generation != generation {
            return;
        }
        match (s.phase, success) {
            (Phase::Closed, true) => s.consecutive_failures = 0,
            (Phase::Closed, false) => {
                s.consecutive_failures += 1;
                if s.consecutive_failures > self.max_errors {
                    self.set(&mut s, Phase::Open, now);
                }
            }
            (Phase::HalfOpen, true) => self.set(&mut s, Phase::Closed, now),
            (Phase::HalfOpen, false) => self.set(&mut s, Phase::Open, now),
            (Phase::Open, _) => {}
        }
    }
}

impl Proxy for Breaker {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let mut ticket = self.admit()?;
            let result = self.next.call(request).await;
            ticket.finish(result.is_ok());
            result
        })
    }
}

// === impl Ticket ===

impl Ticket<'_> {
    fn finish(&mut self, success: bool) {
        self.done = true;
        self.breaker.record(self.generation, success);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.record(self.generation, false);
        }
    }
}
