//! `"sd": "dns"` at run time (docs/service-discovery.md): the backend's targets are the SRV
//! records of a name, looked up through the platform's [`SrvResolver`] port.
//!
//! * **Which targets**: the records of the lowest priority present (RFC 2782; as KrakenD),
//!   each called at `sd_scheme://target:port`. A target of `.` ("no service here") is left out.
//! * **Balancing**: by weight, deterministically. Request `n` of the backend takes slot
//!   `n * stride mod W` (W: the weights' sum, the stride coprime with W), and each target owns
//!   as many slots as its weight, so every W consecutive calls reach each target exactly
//!   `weight` times, interleaved rather than in runs. Weights of 0 get no traffic unless all
//!   weights are 0, when the targets share it equally (KrakenD drops them too).
//! * **Refresh**: an answer is kept for its TTL (the smallest of its records, at least
//!   [`MIN_TTL_MS`]), then looked up again, one lookup at a time. While the older answer can
//!   still serve, no call waits for the new one: the lookup runs after the response where the
//!   platform has that (natively: a spawned task), else (Lambda) the call that starts it waits
//!   at most [`STALE_WAIT_MS`] and goes on with the older answer.
//! * **Failure**: when the DNS server cannot be asked (unreachable, no answer within
//!   [`LOOKUP_TIMEOUT_MS`], SERVFAIL), the last good answer serves for at most
//!   [`KEEP_STALE_MS`] past its TTL, with one lookup per [`RETRY_MS`]; never for longer
//!   (KrakenD keeps it forever). Without one, the call fails (`discovery` in the access log).
//!   A name without records is an answer: calls fail at once, until the negative answer's TTL
//!   passes.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::{select, Either};

use crate::config::DnsDiscovery;
use crate::platform::{
    Clock, Defer, Platform, ResolveError, Sleep, SrvAnswer, SrvRecord, SrvResolver,
};

/// The shortest time an answer is kept (a TTL of 0, as Consul gives by default, would
/// otherwise mean one lookup per call).
pub(crate) const MIN_TTL_MS: u64 = 1_000;
/// How long past its TTL the last good answer still serves while the DNS server fails.
pub(crate) const KEEP_STALE_MS: u64 = 60_000;
/// While a kept answer serves after a failed lookup, the next lookup waits this long.
pub(crate) const RETRY_MS: u64 = 1_000;
/// A lookup without an answer by then has failed (half the default endpoint timeout, so the
/// failure is logged as `discovery` rather than as the endpoint's timeout).
pub(crate) const LOOKUP_TIMEOUT_MS: u64 = 1_000;
/// Without after-response work, how long a call waits for a refresh before it goes on with
/// the older answer.
pub(crate) const STALE_WAIT_MS: u64 = 250;

/// One backend's service discovery: its current answer and its balancing counter.
pub(crate) struct Discovery {
    shared: Arc<Shared>,
    resolver: Option<Arc<dyn SrvResolver>>,
    sleep: Arc<dyn Sleep>,
    /// Calls balanced so far.
    next: AtomicU64,
}

/// What a lookup running after the response updates too.
struct Shared {
    cfg: Arc<DnsDiscovery>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Lookups under way.
    refreshing: AtomicUsize,
}

#[derive(Default)]
struct State {
    answer: Option<Kept>,
    /// After a failed lookup: no new one before this (Unix ms) while a kept answer serves.
    retry_at_ms: u64,
}

/// An answer and how long it serves.
struct Kept {
    targets: Arc<Targets>,
    /// Unix ms until which it is used without asking again.
    fresh_until_ms: u64,
    /// Unix ms until which it serves when a new lookup fails.
    keep_until_ms: u64,
}

/// The balancing table of one answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Targets {
    /// `scheme://target:port`, sorted.
    hosts: Vec<String>,
    /// Running sums of the weights: `hosts[i]` owns the slots `ends[i-1]..ends[i]`.
    ends: Vec<u64>,
    /// Coprime with the weights' sum, so `n * stride` visits every slot once per round.
    stride: u64,
}

/// The target service discovery chose for a request (`scheme://host:port`), carried in its
/// extensions: `auth/client-credentials` sends its token to that origin (and keeps it off a
/// redirect to another one), since the backend's `host` is only the SRV name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiscoveredOrigin(pub(crate) String);

/// What a call does with the answer it found.
enum Step {
    /// Fresh, or someone is refreshing it, or the server failed a moment ago.
    Use(Arc<Targets>),
    /// Expired but still serving: refresh it without making the call wait.
    Refresh(Arc<Targets>),
    /// Nothing to serve: the call waits for a lookup.
    Lookup,
}

/// Counts a lookup under way until it ends, even if it is cancelled.
struct Refreshing(Arc<Shared>);

impl Drop for Refreshing {
    fn drop(&mut self) {
        self.0.refreshing.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl Discovery ===

impl Discovery {
    /// The discovery of `cfg`, asking the platform's resolver.
    pub(crate) fn new(cfg: Arc<DnsDiscovery>, platform: &Platform) -> Self {
        Self {
            shared: Arc::new(Shared {
                cfg,
                clock: platform.clock.clone(),
                state: Mutex::new(State::default()),
                refreshing: AtomicUsize::new(0),
            }),
            resolver: platform.resolver.clone(),
            sleep: platform.sleep.clone(),
            next: AtomicU64::new(0),
        }
    }

    /// `scheme://target:port` for the next call, or why there is none (a message naming the
    /// SRV name, for the error and the access log). A refresh goes to `defer` when given.
    pub(crate) async fn host(&self, defer: Option<&Arc<dyn Defer>>) -> Result<String, String> {
        let targets = self.targets(defer).await?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        targets.pick(n).map(str::to_owned).ok_or_else(|| {
            format!(
                "service discovery: `{}` has no SRV records (no target to call)",
                self.shared.cfg.name
            )
        })
    }

    /// The answer to balance over: the kept one while it serves, else a new one.
    async fn targets(&self, defer: Option<&Arc<dyn Defer>>) -> Result<Arc<Targets>, String> {
        let shared = &self.shared;
        let Some(resolver) = &self.resolver else {
            return Err(format!(
                "service discovery: this platform cannot resolve DNS SRV names (`{}`)",
                shared.cfg.name
            ));
        };
        match shared.step() {
            Step::Use(targets) => Ok(targets),
            Step::Lookup => self.lookup(resolver).await,
            Step::Refresh(older) => {
                let lookup = self.lookup(resolver);
                if let Some(defer) = defer {
                    defer.defer(Box::pin(async move {
                        let _ = lookup.await;
                    }));
                    return Ok(older);
                }
                let lookup = std::pin::pin!(lookup);
                let wait = self.sleep.sleep(Duration::from_millis(STALE_WAIT_MS));
                match select(lookup, wait).await {
                    Either::Left((result, _)) => result,
                    Either::Right(_) => {
                        // Cancelled: the next call asks again after RETRY_MS.
                        let now = shared.clock.now_millis();
                        shared.lock().retry_at_ms = now.saturating_add(RETRY_MS);
                        Ok(older)
                    }
                }
            }
        }
    }

    /// One lookup, bounded by [`LOOKUP_TIMEOUT_MS`], its outcome stored; what to call now.
    /// The caller counted it in `refreshing` ([`Shared::step`]).
    fn lookup(
        &self,
        resolver: &Arc<dyn SrvResolver>,
    ) -> impl Future<Output = Result<Arc<Targets>, String>> + 'static {
        let guard = Refreshing(self.shared.clone());
        let call = resolver.lookup_srv(&self.shared.cfg.name);
        let timeout = self.sleep.sleep(Duration::from_millis(LOOKUP_TIMEOUT_MS));
        async move {
            let result = match select(call, timeout).await {
                Either::Left((result, _)) => result,
                Either::Right(_) => Err(ResolveError {
                    message: format!("no answer within {LOOKUP_TIMEOUT_MS} ms"),
                }),
            };
            let outcome = guard.0.store(result);
            drop(guard);
            outcome
        }
    }
}

// === impl Shared ===

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a call does now; a lookup it is to make is counted as under way.
    fn step(&self) -> Step {
        let now = self.clock.now_millis();
        let s = self.lock();
        if let Some(k) = s.answer.as_ref().filter(|k| now < k.fresh_until_ms) {
            return Step::Use(k.targets.clone());
        }
        let usable = s
            .answer
            .as_ref()
            .filter(|k| now < k.keep_until_ms)
            .map(|k| k.targets.clone());
        match usable {
            Some(t) if self.refreshing.load(Ordering::Acquire) > 0 || now < s.retry_at_ms => {
                Step::Use(t)
            }
            Some(t) => {
                self.refreshing.fetch_add(1, Ordering::AcqRel);
                Step::Refresh(t)
            }
            None => {
                self.refreshing.fetch_add(1, Ordering::AcqRel);
                Step::Lookup
            }
        }
    }

    /// Keep what a lookup found; the targets to call now, or why there are none.
    fn store(&self, result: Result<SrvAnswer, ResolveError>) -> Result<Arc<Targets>, String> {
        let now = self.clock.now_millis();
        let mut s = self.lock();
        match result {
            Ok(answer) => {
                let targets = Arc::new(Targets::new(&self.cfg.scheme, &answer.records));
                let ttl = u64::try_from(answer.ttl.as_millis()).unwrap_or(u64::MAX);
                let fresh_until_ms = now.saturating_add(ttl.max(MIN_TTL_MS));
                // An empty answer is not worth keeping past its TTL: there is nothing to call.
                let keep_until_ms = if targets.is_empty() {
                    fresh_until_ms
                } else {
                    fresh_until_ms.saturating_add(KEEP_STALE_MS)
                };
                s.answer = Some(Kept {
                    targets: targets.clone(),
                    fresh_until_ms,
                    keep_until_ms,
                });
                s.retry_at_ms = 0;
                Ok(targets)
            }
            Err(e) => {
                s.retry_at_ms = now.saturating_add(RETRY_MS);
                match s.answer.as_ref().filter(|k| now < k.keep_until_ms) {
                    Some(k) => Ok(k.targets.clone()),
                    None => Err(format!(
                        "service discovery: DNS SRV lookup of `{}` failed: {e}",
                        self.cfg.name
                    )),
                }
            }
        }
    }
}

// === impl Targets ===

impl Targets {
    /// The table of `records`: the lowest priority's, weighted, as `scheme://target:port`.
    pub(crate) fn new(scheme: &str, records: &[SrvRecord]) -> Self {
        let available: Vec<&SrvRecord> = records
            .iter()
            .filter(|r| !r.target.trim_end_matches('.').is_empty())
            .collect();
        let Some(best) = available.iter().map(|r| r.priority).min() else {
            return Self {
                hosts: Vec::new(),
                ends: Vec::new(),
                stride: 1,
            };
        };
        let mut chosen: Vec<(String, u64)> = available
            .iter()
            .filter(|r| r.priority == best)
            .map(|r| {
                let host = r.target.trim_end_matches('.').to_ascii_lowercase();
                (format!("{scheme}://{host}:{}", r.port), u64::from(r.weight))
            })
            .collect();
        // The order of the records in the answer varies (servers rotate them): the table must not.
        crate::sort::sort(&mut chosen);
        if chosen.iter().all(|(_, w)| *w == 0) {
            for (_, w) in &mut chosen {
                *w = 1;
            }
        }
        chosen.retain(|(_, w)| *w > 0);
        let mut total = 0u64;
        let mut hosts = Vec::with_capacity(chosen.len());
        let mut ends = Vec::with_capacity(chosen.len());
        for (host, weight) in chosen {
            total += weight;
            hosts.push(host);
            ends.push(total);
        }
        Self {
            hosts,
            ends,
            stride: stride(total),
        }
    }

    fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The host of call `n`.
    pub(crate) fn pick(&self, n: u64) -> Option<&str> {
        let total = *self.ends.last()?;
        let slot = (u128::from(n % total) * u128::from(self.stride)) % u128::from(total);
        let slot = u64::try_from(slot).unwrap_or(0);
        let i = self.ends.partition_point(|&end| end <= slot);
        self.hosts.get(i).map(String::as_str)
    }
}

/// A step through `0..total` that visits every slot once per round and spreads neighbouring
/// calls apart: the first number from about 0.618 × total up that is coprime with `total`.
fn stride(total: u64) -> u64 {
    let start = u64::try_from(u128::from(total) * 618 / 1000).unwrap_or(1);
    (start.max(1)..total)
        .find(|s| gcd(*s, total) == 1)
        .unwrap_or(1)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests;
