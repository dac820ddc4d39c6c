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
//! Storage is the state port ([`Store`]'s get/put with a time to live), each stored answer
//! encoded as bytes ([`CachedResponse::encode`]); the default is a [`MemoryStore`] of the
//! backend's own, an LRU bounded by entries and stored bytes (head and body), per process /
//! per isolate; with `shared: true`, the platform's shared cache when it has one (the Cache
//! API on Workers). Time comes from the `Clock` port.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{AGE, AUTHORIZATION, CACHE_CONTROL, PRAGMA, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::config::extra::HttpCache;
use crate::platform::{
    BackendRequest, BackendResponse, BoxFuture, ClientError, Clock, HttpClient, MemoryStore,
    Platform, Store,
};

/// One stored backend answer.
#[derive(Debug, Clone, PartialEq)]
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

/// An [`HttpClient`] that answers from, and fills, a [`Store`].
struct CachingClient {
    inner: Arc<dyn HttpClient>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// The store is shared (outside this process): it gets a digest of the key, never the
    /// header values (credentials included) the key is made of.
    digest: bool,
}

/// Statuses a shared cache may store with explicit freshness (RFC 9110 §15.1's heuristically
/// cacheable set, without 206 and 5xx).
const CACHEABLE: &[u16] = &[200, 203, 204, 300, 301, 308, 404, 405, 410, 414];

/// First byte of an encoded entry: the format's version, so a shared store holding entries
/// of another version reads them as misses instead of misreading them.
const FORMAT: u8 = 1;

/// The same ports, with the HTTP client behind a cache configured by `cfg`.
/// With `shared: true` on a platform with a shared HTTP cache (the Workers Cache API) the
/// answers are kept there, for every isolate of the location; else in a store of the backend's
/// own.
pub(crate) fn platform(cfg: &HttpCache, platform: &Platform) -> Platform {
    let mut p = platform.clone();
    // The platform's own shared cache first (the Cache API: on Workers a pool is a Durable
    // Object that keeps buckets only), else the pool `connection_name` names (Redis).
    let shared = cfg
        .shared
        .then(|| {
            let stores = platform.stores.as_ref()?;
            let pool = || stores.pool(cfg.connection_name.as_deref()?);
            stores.http_cache().or_else(pool)
        })
        .flatten();
    let digest = shared.is_some();
    let store = shared.unwrap_or_else(|| {
        Arc::new(MemoryStore::new(
            cfg.items(),
            cfg.size(),
            platform.clock.clone(),
        ))
    });
    p.client = Arc::new(CachingClient {
        inner: platform.client.clone(),
        store,
        clock: platform.clock.clone(),
        digest,
    });
    p
}

// === impl CachedResponse ===

impl CachedResponse {
    /// The entry as bytes: format, status, times, headers (length-prefixed), then the body.
    pub(crate) fn encode(&self) -> Bytes {
        let head: usize = self
            .headers
            .iter()
            .map(|(n, v)| 6 + n.as_str().len() + v.len())
            .sum();
        let mut out = BytesMut::with_capacity(31 + head + self.body.len());
        out.put_u8(FORMAT);
        out.put_u16(self.status.as_u16());
        out.put_u64(self.stored_at_ms);
        out.put_u64(self.initial_age_secs);
        out.put_u64(self.lifetime_secs);
        out.put_u32(u32::try_from(self.headers.len()).unwrap_or(u32::MAX));
        for (name, value) in &self.headers {
            out.put_u16(u16::try_from(name.as_str().len()).unwrap_or(u16::MAX));
            out.put_slice(name.as_str().as_bytes());
            out.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
            out.put_slice(value.as_bytes());
        }
        out.put_slice(&self.body);
        out.freeze()
    }

    /// An entry from [`Self::encode`]'s bytes; `None` for anything else (a miss). The body is
    /// a slice of `bytes`, not a copy.
    pub(crate) fn decode(bytes: &Bytes) -> Option<Self> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(1)?.first() != Some(&FORMAT) {
            return None;
        }
        let status = StatusCode::from_u16(u16::from_be_bytes(r.array()?)).ok()?;
        let stored_at_ms = u64::from_be_bytes(r.array()?);
        let initial_age_secs = u64::from_be_bytes(r.array()?);
        let lifetime_secs = u64::from_be_bytes(r.array()?);
        let count = u32::from_be_bytes(r.array()?);
        let mut headers = HeaderMap::new();
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes(r.array()?));
            let name = HeaderName::from_bytes(r.take(len)?).ok()?;
            let len = usize::try_from(u32::from_be_bytes(r.array()?)).ok()?;
            let value = HeaderValue::from_bytes(r.take(len)?).ok()?;
            headers.append(name, value);
        }
        Some(Self {
            status,
            headers,
            body: bytes.slice(r.at..),
            stored_at_ms,
            initial_age_secs,
            lifetime_secs,
        })
    }
}

/// A cursor over an encoded entry that never reads past its end.
struct Reader<'a> {
    bytes: &'a Bytes,
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(len)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
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
        let key = key.map(|k| if self.digest { shared_key(&k) } else { k });
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
                // A store that cannot answer is a miss: the backend is asked, as without cache.
                let found = store.get(&key).await.ok().flatten();
                if let Some(hit) = found.as_ref().and_then(CachedResponse::decode) {
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
                let fresh_for = lifetime.saturating_sub(entry.initial_age_secs);
                let ttl = Duration::from_secs(fresh_for);
                // A failed put only means the next request asks the backend again.
                let _ = store.put(&key, entry.encode(), ttl).await;
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
    crate::sort::sort_by(&mut headers, |a, b| a.0.cmp(b.0));
    let mut key = format!("{} {}", request.method(), request.uri());
    for (name, value) in headers {
        key.push('\n');
        key.push_str(name);
        key.push_str(": ");
        key.push_str(value);
    }
    Some(key)
}

/// The key in a shared store: `manifold:hc:` and the SHA-256 of the cache key, in hex. A
/// collision-resistant digest, so no request can be made to read another one's entry.
fn shared_key(key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(12 + 64);
    out.push_str("manifold:hc:");
    for b in Sha256::digest(key.as_bytes()) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_bytes() {
        let mut headers = HeaderMap::new();
        headers.append("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-many", HeaderValue::from_static("1"));
        headers.append("x-many", HeaderValue::from_static("2"));
        let entry = CachedResponse {
            status: StatusCode::NOT_FOUND,
            headers,
            body: Bytes::from_static(b"{\"a\":1}"),
            stored_at_ms: 1_700_000_000_123,
            initial_age_secs: 7,
            lifetime_secs: 60,
        };
        let bytes = entry.encode();
        assert_eq!(CachedResponse::decode(&bytes), Some(entry));
        // Truncated or foreign bytes are a miss, never a panic.
        for cut in 0..bytes.len() - 7 {
            let part = bytes.slice(..cut);
            assert_eq!(CachedResponse::decode(&part), None, "cut at {cut}");
        }
        assert_eq!(
            CachedResponse::decode(&Bytes::from_static(b"\x02abc")),
            None
        );
    }

    #[test]
    fn a_shared_store_gets_a_digest_of_the_key_not_the_key() {
        // FIPS 180-2's test vector: SHA-256("abc").
        assert_eq!(
            shared_key("abc"),
            "manifold:hc:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let with_secret = shared_key("GET http://b/x\nauthorization: Bearer s3cret");
        assert!(!with_secret.contains("s3cret"));
        assert_ne!(
            with_secret,
            shared_key("GET http://b/x\nauthorization: Bearer other")
        );
    }
}
