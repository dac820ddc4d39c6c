//! The JWK set shared by `auth/validator` and `auth/signer`: inline keys, or keys fetched from
//! `jwk_url` and cached, with bounded refetching (a flood of unknown `kid`s cannot amplify into
//! outbound traffic) and one fetch in flight at a time.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderValue, Method, StatusCode};

use crate::config::extra::{KeySource, JWK_FETCH_TIMEOUT, MAX_JWK_BYTES};
use crate::jose::{Alg, KeySet};
use crate::platform::Platform;

/// Least time between two fetches of a JWK set that still has fresh keys (a token with an
/// unknown `kid` can trigger one): random `kid`s cannot amplify into outbound traffic.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// Least time between two fetches while no fresh key is held (JWKS down or garbage).
pub const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(5);
/// How often a request waiting for another request's fetch looks again.
const WAIT_STEP: Duration = Duration::from_millis(20);

/// A JWK set from config, or fetched from `jwk_url` and cached.
pub(crate) struct KeyCache {
    source: KeySource,
    alg: Alg,
    platform: Platform,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    keys: Option<Arc<KeySet>>,
    fetched_at_ms: u64,
    last_attempt_ms: Option<u64>,
    in_flight: bool,
}

/// Clears `in_flight` even when the fetching request is dropped mid-fetch.
struct InFlight<'a>(&'a Mutex<CacheState>);

fn lock(m: &Mutex<CacheState>) -> MutexGuard<'_, CacheState> {
    // The state stays consistent at every await point, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(self.0).in_flight = false;
    }
}

impl KeyCache {
    pub(crate) fn new(source: KeySource, alg: Alg, platform: Platform) -> Self {
        Self {
            source,
            alg,
            platform,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// The keys to verify a token with this `kid` against. Fetches when nothing fresh is
    /// held, or when the `kid` is unknown (rotation), within the refetch limits; waits for a
    /// fetch another request already started. `None`: no usable keys (fail closed).
    pub(crate) async fn keys(&self, kid: Option<&str>) -> Option<Arc<KeySet>> {
        let (url, ttl) = match &self.source {
            KeySource::Inline(set) => return Some(set.clone()),
            KeySource::Url { url, ttl } => (url, millis(*ttl)),
        };
        let mut waited = Duration::ZERO;
        loop {
            let now = self.platform.clock.now_millis();
            let fetch = {
                let mut s = lock(&self.state);
                let fresh = s
                    .keys
                    .clone()
                    .filter(|_| now < s.fetched_at_ms.saturating_add(ttl));
                if let Some(k) = &fresh {
                    if kid.is_none_or(|id| k.has_kid(id)) {
                        return fresh;
                    }
                }
                let gap = millis(if fresh.is_some() {
                    MIN_REFETCH
                } else {
                    RETRY_WITHOUT_KEYS
                });
                let may_fetch = s
                    .last_attempt_ms
                    .is_none_or(|last| now >= last.saturating_add(gap));
                if s.in_flight {
                    if waited >= JWK_FETCH_TIMEOUT {
                        return fresh;
                    }
                    false
                } else if may_fetch {
                    s.in_flight = true;
                    s.last_attempt_ms = Some(now);
                    true
                } else {
                    return fresh;
                }
            };
            if fetch {
                let _in_flight = InFlight(&self.state);
                if let Some(set) = self.fetch(url).await {
                    let mut s = lock(&self.state);
                    s.keys = Some(Arc::new(set));
                    s.fetched_at_ms = self.platform.clock.now_millis();
                }
            } else {
                self.platform.sleep.sleep(WAIT_STEP).await;
                waited += WAIT_STEP;
            }
        }
    }

    /// One bounded fetch: timeout, size cap, status 200, a set with at least one usable key.
    async fn fetch(&self, url: &str) -> Option<KeySet> {
        let mut request = http::Request::builder()
            .method(Method::GET)
            .uri(url)
            .body(Bytes::new())
            .ok()?;
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
        let send = self.platform.client.send(request, MAX_JWK_BYTES);
        let response = self.platform.timeout(JWK_FETCH_TIMEOUT, send).await?.ok()?;
        if response.status() != StatusCode::OK || response.body().len() > MAX_JWK_BYTES {
            return None;
        }
        KeySet::parse(response.body(), self.alg)
            .ok()
            .filter(|set| !set.is_empty())
    }
}
