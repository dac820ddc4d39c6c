//! Plain-`http` backend connections of our own ([`h1`](super::h1)), kept per backend
//! authority, most recently used first.
//!
//! Why not hyper-util's legacy client for these: per request it computes a pool key, races a
//! pool checkout against a lazily built connect future, and, when the response still has a
//! body to read, spawns a task that waits for the connection to become ready again before it
//! goes back to the pool (bench/profile-notes.md). Here a request takes an idle connection,
//! and the caller puts it back ([`Conn::put_back`]) once it has read the whole body. The
//! behaviour is the legacy client's: the same connector, `Host` set from the URI when
//! missing, origin-form request targets, idle connections expire after `pool_idle_timeout`
//! and at most `pool_max_idle_per_host` are kept. A reused connection that the backend had
//! closed is retried on another one when nothing of the request was written, or, as Go's
//! `http.Transport` does, when no byte of an answer came and the request may be replayed
//! (`GET`, `HEAD`, `OPTIONS`, `TRACE`, or one with an `Idempotency-Key`). `https` (TLS, h2
//! by ALPN) stays with the legacy client.

use std::collections::HashMap;
use std::future::poll_fn;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use http::uri::{Authority, Uri};
use http::{HeaderValue, Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use manifold_core::platform::{Chunks, ClientError, ClientErrorKind, ReadHeaders};
use tokio::time::Instant;
use tower_service::Service;

use super::h1::{Connection, Framing, Head};
use super::{error_chain, ClientOptions, OutBody};

/// The idle HTTP/1.1 connections to plain-`http` backends.
pub(super) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    /// Per authority, oldest first: a checkout takes the newest (still warm, least likely
    /// to have been closed by the backend), expiry trims the front.
    idle: Mutex<IdleMap>,
    connector: HttpConnector,
    idle_timeout: Duration,
    max_idle: usize,
    /// Whether the task that closes expired idle connections runs (started on first use,
    /// inside the runtime).
    reaper: AtomicBool,
}

/// The idle connections by authority.
type IdleMap = HashMap<Key, Backend, BuildHasherDefault<Fx>>;

/// A backend's authority as the pool's key: equal as `Authority` is (ignoring ASCII case), but
/// hashed a word at a time. `Authority` hashes byte by byte, lowercasing each: through std's
/// SipHash that was over a thousand instructions per request, through FNV-1a still about 300
/// per lookup, and a backend call makes two (bench/profile-notes.md).
#[derive(Clone)]
struct Key(Authority);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_str(), other.0.as_str());
        a == b || a.eq_ignore_ascii_case(b)
    }
}

impl Eq for Key {}

/// Bit 5 set in every byte: ASCII letters hash as their lower case (a few other bytes then
/// hash alike, which [`Key`]'s equality tells apart).
const FOLD: u64 = 0x2020_2020_2020_2020;

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let bytes = self.0.as_str().as_bytes();
        state.write_usize(bytes.len());
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0; 8];
            w.copy_from_slice(word);
            state.write_u64(u64::from_le_bytes(w) | FOLD);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0; 8];
            w[..rest.len()].copy_from_slice(rest);
            state.write_u64(u64::from_le_bytes(w) | FOLD);
        }
    }
}

/// What the pool keeps per backend authority.
struct Backend {
    /// Oldest first.
    idle: Vec<Idle>,
    /// The `Host` a request to it gets when it has none: built once, not per request
    /// (formatting it cost about 2,000 instructions per call).
    host: HeaderValue,
}

impl Backend {
    fn new(key: &Key) -> Self {
        Self {
            idle: Vec::new(),
            host: host_value(&key.0),
        }
    }
}

/// rustc's FxHash: a rotate, a xor and a multiply per word. The keys are the config's
/// backend hosts, not a client's input, so a keyed hash buys nothing here.
#[derive(Default)]
struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Idle {
    conn: Connection,
    since: Instant,
}

/// A connection checked out for one exchange; dropped, it closes (unless put back).
pub(super) struct Conn {
    pub(super) io: Connection,
    key: Key,
    shared: Arc<Shared>,
}

impl Pool {
    /// An empty pool connecting with `connector`.
    pub(super) fn new(options: &ClientOptions, connector: HttpConnector) -> Self {
        Self {
            shared: Arc::new(Shared {
                idle: Mutex::new(IdleMap::default()),
                connector,
                idle_timeout: options.pool_idle_timeout,
                max_idle: options.pool_max_idle_per_host,
                reaper: AtomicBool::new(false),
            }),
        }
    }

    /// Send `request` (an absolute `http` URI with an authority) and read the response
    /// head; the connection comes back with it, to be put back after the body.
    pub(super) async fn send(
        &self,
        request: Request<OutBody>,
        authority: Authority,
        read: ReadHeaders,
    ) -> Result<(Head, Conn), ClientError> {
        let key = Key(authority);
        let (host, mut newest) = self.shared.take(&key);
        let (parts, body) = request.into_parts();
        let wire = super::h1::encode(&parts, &host, body);
        let replayable = matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        ) || parts.headers.contains_key("idempotency-key");
        loop {
            let (mut conn, reused) = match newest.take() {
                Some(io) => (self.conn(io, &key), true),
                None => self.connect(&key, &parts.uri).await?,
            };
            match conn.io.exchange(&wire, &parts.method, read).await {
                Ok(head) => return Ok((head, conn)),
                Err(broken) if reused && broken.unanswered && (replayable || broken.unsent) => {
                    newest = self.shared.take(&key).1;
                }
                Err(broken) => return Err(broken.error),
            }
        }
    }

    /// A new connection to `authority` (`false`: not reused).
    async fn connect(&self, key: &Key, uri: &Uri) -> Result<(Conn, bool), ClientError> {
        let mut connector = self.shared.connector.clone();
        let connected = async {
            poll_fn(|cx| connector.poll_ready(cx)).await?;
            connector.call(uri.clone()).await
        };
        let io = connected.await.map_err(|e| {
            ClientError::new(
                ClientErrorKind::Connect,
                format!("client error (Connect): {}", error_chain(&e)),
            )
        })?;
        Ok((self.conn(Connection::new(io.into_inner()), key), false))
    }

    fn conn(&self, io: Connection, key: &Key) -> Conn {
        Conn {
            io,
            key: key.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl Conn {
    /// The exchange is over (the whole response body was read): keep the connection for the
    /// next request to the same backend.
    pub(super) fn put_back(self) {
        if !self.io.reusable() {
            return;
        }
        let shared = self.shared;
        if !shared.reaper.swap(true, Ordering::Relaxed) {
            tokio::spawn(reap(Arc::downgrade(&shared)));
        }
        let now = Instant::now();
        let mut idle = shared.lock();
        let list = &mut match idle.get_mut(&self.key) {
            Some(backend) => backend,
            // Looked up first: the entry API would hash the key twice on the usual path.
            None => idle.entry(self.key).or_insert_with_key(Backend::new),
        }
        .idle;
        expire(list, now, shared.idle_timeout);
        if list.len() < shared.max_idle {
            list.push(Idle {
                conn: self.io,
                since: now,
            });
        }
    }
}

/// The body of a streamed answer on `conn`, read by a task of its own as it arrives (at most
/// one chunk waits unread), as hyper's connection task did. Read only when the consumer asked,
/// a body the backend resets right after sending it is lost, since the kernel drops unread
/// data when the reset arrives: the client would get no answer at all instead of a cut one
/// (the soak test's `/noop-reset` showed it). The connection goes back once the body has
/// ended; a body abandoned half-way closes it.
pub(super) fn stream(mut conn: Conn, mut framing: Framing) -> Chunks {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                () = tx.closed() => return,
                next = conn.io.next_chunk(&mut framing) => next,
            };
            match next {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return conn.put_back(),
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, IdleMap> {
        // The map holds plain values; a panic elsewhere must not stop the pooling.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `Host` for `authority`, and its newest idle connection that has not expired or
    /// closed.
    fn take(&self, key: &Key) -> (HeaderValue, Option<Connection>) {
        let now = Instant::now();
        let mut idle = self.lock();
        // Looked up before inserting: the entry API would clone the key every time.
        let backend = match idle.get_mut(key) {
            Some(backend) => backend,
            None => idle.entry(key.clone()).or_insert_with_key(Backend::new),
        };
        let host = backend.host.clone();
        while let Some(entry) = backend.idle.pop() {
            if now.saturating_duration_since(entry.since) >= self.idle_timeout {
                // The newest has expired, so have all older ones.
                backend.idle.clear();
                return (host, None);
            }
            if entry.conn.idle_ok() {
                return (host, Some(entry.conn));
            }
        }
        (host, None)
    }
}

/// Drop the connections of `list` (oldest first) idle for `timeout` or longer.
fn expire(list: &mut Vec<Idle>, now: Instant, timeout: Duration) {
    let expired = list.partition_point(|i| now.saturating_duration_since(i.since) >= timeout);
    list.drain(..expired);
}

/// How often idle connections are checked at most.
const REAP: Duration = Duration::from_secs(1);

/// Close idle connections as they expire, and those the backend closed, as long as the
/// client exists. Every second at most: an idle connection has no task watching it (hyper's
/// had one each), so a backend's close is seen here, and its socket should not wait for the
/// idle timeout (90 s by default) to be released (the soak test counts open descriptors).
async fn reap(shared: Weak<Shared>) {
    let period = shared
        .upgrade()
        .map_or(REAP, |s| s.idle_timeout)
        .clamp(Duration::from_millis(100), REAP);
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut idle = shared.lock();
        idle.retain(|_, backend| {
            expire(&mut backend.idle, now, shared.idle_timeout);
            backend.idle.retain(|i| i.conn.idle_ok());
            !backend.idle.is_empty()
        });
    }
}

/// The legacy client's `Host`: the authority's host, with the port unless it is the default
/// one.
fn host_value(authority: &Authority) -> HeaderValue {
    let value = match authority.port_u16() {
        Some(80) | None => HeaderValue::from_str(authority.host()),
        Some(port) => HeaderValue::from_str(&format!("{}:{port}", authority.host())),
    };
    // A parsed authority is always a valid header value.
    value.unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn host_is_the_host_with_the_port_unless_it_is_80() {
        let host = |a: &str| host_value(&a.parse::<Authority>().unwrap());
        assert_eq!(host("api.example"), "api.example");
        assert_eq!(host("api.example:80"), "api.example");
        assert_eq!(host("api.example:8080"), "api.example:8080");
        assert_eq!(host("127.0.0.1:0080"), "127.0.0.1");
        assert_eq!(host("[::1]:9000"), "[::1]:9000");
        assert_eq!(host("user:pw@api.example:81"), "api.example:81");
    }

    #[test]
    fn authorities_differing_in_case_share_one_entry() {
        let key = |a: &str| Key(a.parse::<Authority>().unwrap());
        // 16 bytes (whole words), 14 and 9 (a partial last word).
        for (lower, upper, other) in [
            ("api.example:8080", "API.Example:8080", "api.example:8081"),
            ("api.example:81", "API.EXAMPLE:81", "api.example:82"),
            ("localhost", "LocalHost", "localhosu"),
        ] {
            let mut map = IdleMap::default();
            map.insert(key(lower), Backend::new(&key(lower)));
            assert!(map.contains_key(&key(upper)), "{upper}");
            assert!(!map.contains_key(&key(other)), "{other}");
            map.insert(key(upper), Backend::new(&key(upper)));
            assert_eq!(map.len(), 1);
        }
    }
}
