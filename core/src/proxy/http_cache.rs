//! `qos/http-cache`: the backend's answers cached by RFC 9111 rules as a shared cache, at the
//! HTTP client (as KrakenD's httpcache transport), so what is stored is the raw backend answer
//! before decoding. Only GET and HEAD; only with explicit freshness (`s-maxage`, else
//! `max-age`, greater than 0); never `no-store`, `private`, `no-cache`, `Vary: *` or
//! `Set-Cookie` answers, never 5xx, and a request carrying `Authorization` only when the
//! backend allows it (`public`, `s-maxage`, `must-revalidate`, RFC 9111 §3.5). The key is the
//! method, the full URL (query included) and every header sent to the backend, so no client
//! input that reaches the backend can make another client's entry answer it. `Expires` is not
//! read and stale entries are not revalidated (they are fetched again).
//!
//! Storage is the [`CacheStore`] port; the default [`MemoryCache`] is an LRU bounded by
//! entries and body bytes, per process / per isolate. Time comes from the `Clock` port.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::header::{AGE, AUTHORIZATION, CACHE_CONTROL, PRAGMA, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::config::extra::HttpCache;
use crate::lru::Lru;
use crate::platform::{
    BackendRequest, BackendResponse, BoxFuture, ClientError, Clock, HttpClient, MaybeSend,
    MaybeSync, Platform,
};

/// One stored backend answer.
#[derive(Debug, Clone)]
pub(crate) struct CachedResponse {
    /// The backend's status.
    pub(crate) status: StatusCode,
    /// The backend's headers.
    pub(crate) headers: HeaderMap,
    /// The backend's body, as received (possibly still compressed).
    pub(crate) body: Bytes,
    /// When it was received (Unix ms, from the `Clock` port).
    pub(crate) stored_at_ms: u64,
    /// Its `Age` when received, in seconds.
    pub(crate) initial_age_secs: u64,
    /// How long it stays fresh, in seconds.
    pub(crate) lifetime_secs: u64,
}

/// Where cached backend answers live. The in-memory [`MemoryCache`] is the default; a
/// platform cache (the Workers Cache API) can implement it too.
pub(crate) trait CacheStore: MaybeSend + MaybeSync {
    /// The entry stored under `key`, if any (fresh or not: the caller decides).
    fn get(&self, key: &str) -> BoxFuture<'_, Option<CachedResponse>>;
    /// Store `entry` under `key`, replacing any previous one.
    fn put(&self, key: String, entry: CachedResponse) -> BoxFuture<'_, ()>;
}

/// An in-memory LRU [`CacheStore`] bounded by entries and body bytes (per process / isolate).
#[derive(Debug)]
pub(crate) struct MemoryCache {
    state: Mutex<(Lru<CachedResponse>, usize)>,
    max_size: usize,
}

/// An [`HttpClient`] that answers from, and fills, a [`CacheStore`].
struct CachingClient {
    inner: Arc<dyn HttpClient>,
    store: Arc<dyn CacheStore>,
    clock: Arc<dyn Clock>,
}

/// Statuses a shared cache may store with explicit freshness (RFC 9110 §15.1's heuristically
/// cacheable set, without 206 and 5xx).
const CACHEABLE: &[u16] = &[200, 203, 204, 300, 301, 308, 404, 405, 410, 414];

/// The same ports, with the HTTP client behind a cache configured by `cfg`.
pub(crate) fn platform(cfg: &HttpCache, platform: &Platform) -> Platform {
    let mut p = platform.clone();
    p.client = Arc::new(CachingClient {
        inner: platform.client.clone(),
        store: Arc::new(MemoryCache::new(cfg.items(), cfg.size())),
        clock: platform.clock.clone(),
    });
    p
}

// === impl MemoryCache ===

impl MemoryCache {
    /// A store of at most `max_items` entries and `max_size` body bytes.
    pub(crate) fn new(max_items: usize, max_size: usize) -> Self {
        Self {
            state: Mutex::new((Lru::new(max_items), 0)),
            max_size,
        }
    }
}

impl CacheStore for MemoryCache {
    fn get(&self, key: &str) -> BoxFuture<'_, Option<CachedResponse>> {
        let hit = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.0.get_mut(key).cloned()
        };
        Box::pin(async move { hit })
    }

    fn put(&self, key: String, entry: CachedResponse) -> BoxFuture<'_, ()> {
        let size = entry.body.len();
        if size <= self.max_size {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (lru, bytes) = &mut *s;
            for old in lru.insert(key, entry) {
                *bytes = bytes.saturating_sub(old.body.len());
            }
            *bytes += size;
            while *bytes > self.max_size {
                match lru.pop_oldest() {
                    Some(old) => *bytes = bytes.saturating_sub(old.body.len()),
                    None => break,
                }
            }
        }
        Box::pin(async {})
    }
}

// === impl CachingClient ===

impl HttpClient for CachingClient {
    fn send(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let request_cc = directives(request.headers().get_all(CACHE_CONTROL));
        let bypass = request_cc.has("no-store");
        let key = if bypass { None } else { key(&request) };
        let Some(key) = key else {
            return self.inner.send(request, max_body);
        };
        let revalidate = request_cc.has("no-cache")
            || request_cc.value("max-age") == Some(0)
            || request
                .headers()
                .get(PRAGMA)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-cache"));
        let with_auth = request.headers().contains_key(AUTHORIZATION);
        let (inner, store, clock) = (self.inner.clone(), self.store.clone(), self.clock.clone());
        Box::pin(async move {
            if !revalidate {
                if let Some(hit) = store.get(&key).await {
                    let age = hit.initial_age_secs
                        + clock.now_millis().saturating_sub(hit.stored_at_ms) / 1000;
                    if age < hit.lifetime_secs {
                        return Ok(served(hit, age));
                    }
                }
            }
            let response = inner.send(request, max_body).await?;
            if let Some(lifetime) = storable(&response, with_auth) {
                let entry = CachedResponse {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: response.body().clone(),
                    stored_at_ms: clock.now_millis(),
                    initial_age_secs: response
                        .headers()
                        .get(AGE)
                        .and_then(|v| v.to_str().ok()?.trim().parse().ok())
                        .unwrap_or(0),
                    lifetime_secs: lifetime,
                };
                store.put(key, entry).await;
            }
            Ok(response)
        })
    }
}

/// The cache key: method, URL and every header sent, sorted by name (values in order). None
/// (do not cache) for other methods or for header values that are not plain text.
fn key(request: &BackendRequest) -> Option<String> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return None;
    }
    let mut headers = Vec::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        headers.push((name.as_str(), value.to_str().ok()?));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut key = format!("{} {}", request.method(), request.uri());
    for (name, value) in headers {
        key.push('\n');
        key.push_str(name);
        key.push_str(": ");
        key.push_str(value);
    }
    Some(key)
}

/// A stored answer as sent to the backend proxy, with its current `Age`.
fn served(hit: CachedResponse, age: u64) -> BackendResponse {
    let mut r = http::Response::new(hit.body);
    *r.status_mut() = hit.status;
    *r.headers_mut() = hit.headers;
    r.headers_mut().insert(AGE, HeaderValue::from(age));
    r
}

/// The freshness lifetime (seconds) when this answer may be stored, else None.
fn storable(response: &BackendResponse, with_auth: bool) -> Option<u64> {
    if !CACHEABLE.contains(&response.status().as_u16()) {
        return None;
    }
    let h = response.headers();
    let cc = directives(h.get_all(CACHE_CONTROL));
    if cc.has("no-store") || cc.has("private") || cc.has("no-cache") {
        return None;
    }
    if h.contains_key(SET_COOKIE) {
        return None;
    }
    if h.get_all(VARY).iter().any(|v| v.as_bytes().contains(&b'*')) {
        return None;
    }
    if with_auth && !(cc.has("public") || cc.has("s-maxage") || cc.has("must-revalidate")) {
        return None;
    }
    cc.value("s-maxage")
        .or_else(|| cc.value("max-age"))
        .filter(|s| *s > 0)
}

/// Parsed `Cache-Control` directives (lower-cased names, optional values).
struct Directives(Vec<(String, Option<String>)>);

impl Directives {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// A numeric value; a malformed one counts as 0 (stale), as RFC 9111 §4.2.1 advises.
    fn value(&self, name: &str) -> Option<u64> {
        let (_, v) = self.0.iter().find(|(n, _)| n == name)?;
        Some(v.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}

fn directives<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> Directives {
    let mut out = Vec::new();
    for value in values {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for part in text.split(',') {
            let (name, v) = part
                .split_once('=')
                .map_or((part, None), |(n, v)| (n, Some(v)));
            let name = name.trim().to_ascii_lowercase();
            if !name.is_empty() {
                out.push((name, v.map(|v| v.trim().trim_matches('"').to_owned())));
            }
        }
    }
    Directives(out)
}
