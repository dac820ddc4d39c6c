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
//!   [`MIN_TTL_MS`]), then the next call looks the name up again; one lookup at a time while an
//!   older answer can still serve, the other calls keep using it.
//! * **Failure**: when the DNS server cannot be asked (unreachable, timeout, SERVFAIL), the
//!   last good answer serves for at most [`KEEP_STALE_MS`] past its TTL, with one lookup per
//!   [`RETRY_MS`]; never for longer (KrakenD keeps it forever). Without one, the call fails
//!   (`discovery` in the access log). A name without records is an answer: calls fail at once,
//!   until the negative answer's TTL passes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::DnsDiscovery;
use crate::platform::{Clock, Platform, SrvRecord, SrvResolver};

/// The shortest time an answer is kept (a TTL of 0, as Consul gives by default, would
/// otherwise mean one lookup per call).
pub(crate) const MIN_TTL_MS: u64 = 1_000;
/// How long past its TTL the last good answer still serves while the DNS server fails.
pub(crate) const KEEP_STALE_MS: u64 = 60_000;
/// While a kept answer serves after a failed lookup, the next lookup waits this long.
pub(crate) const RETRY_MS: u64 = 1_000;

/// One backend's service discovery: its current answer and its balancing counter.
pub(crate) struct Discovery {
    cfg: Arc<DnsDiscovery>,
    resolver: Option<Arc<dyn SrvResolver>>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Lookups under way.
    refreshing: AtomicUsize,
    /// Calls balanced so far.
    next: AtomicU64,
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

/// Decrements the lookups under way when the looking-up call ends, even if it is cancelled.
struct Refreshing<'d>(&'d AtomicUsize);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl Discovery ===

impl Discovery {
    /// The discovery of `cfg`, asking the platform's resolver.
    pub(crate) fn new(cfg: Arc<DnsDiscovery>, platform: &Platform) -> Self {
        Self {
            cfg,
            resolver: platform.resolver.clone(),
            clock: platform.clock.clone(),
            state: Mutex::new(State::default()),
            refreshing: AtomicUsize::new(0),
            next: AtomicU64::new(0),
        }
    }

    /// `scheme://target:port` for the next call, or why there is none (a message naming the
    /// SRV name, for the error and the access log).
    pub(crate) async fn host(&self) -> Result<String, String> {
        let targets = self.targets().await?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        targets.pick(n).map(str::to_owned).ok_or_else(|| {
            format!(
                "service discovery: `{}` has no SRV records (no target to call)",
                self.cfg.name
            )
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer to balance over: the kept one while fresh, else a new one.
    async fn targets(&self) -> Result<Arc<Targets>, String> {
        let name = &self.cfg.name;
        let Some(resolver) = &self.resolver else {
            return Err(format!(
                "service discovery: this platform cannot resolve DNS SRV names (`{name}`)"
            ));
        };
        let now = self.clock.now_millis();
        let stale = {
            let s = self.lock();
            if let Some(k) = s.answer.as_ref().filter(|k| now < k.fresh_until_ms) {
                return Ok(k.targets.clone());
            }
            let usable = s
                .answer
                .as_ref()
                .filter(|k| now < k.keep_until_ms)
                .map(|k| k.targets.clone());
            // Someone is asking already, or the server failed a moment ago: keep serving.
            if let Some(t) = &usable {
                if self.refreshing.load(Ordering::Acquire) > 0 || now < s.retry_at_ms {
                    return Ok(t.clone());
                }
            }
            self.refreshing.fetch_add(1, Ordering::AcqRel);
            usable
        };
        let refreshing = Refreshing(&self.refreshing);
        let result = resolver.lookup_srv(name).await;
        let now = self.clock.now_millis();
        let mut s = self.lock();
        drop(refreshing);
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
                let kept = s.answer.as_ref().filter(|k| now < k.keep_until_ms);
                match (stale, kept) {
                    (Some(_), Some(k)) => Ok(k.targets.clone()),
                    _ => Err(format!(
                        "service discovery: DNS SRV lookup of `{name}` failed: {e}"
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
        chosen.sort();
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
