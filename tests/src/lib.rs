//! Test support for Manifold's black-box suites: a scripted in-memory backend
//! ([`MockClient`]), virtual time ([`FakeTime`], both `Clock` and `Sleep`), and [`run`], a tiny
//! executor that advances virtual time only when every task is waiting on a timer, so timeout
//! scenarios are exact and take no real time. [`plan`] reads a scenario's `plan.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod plan;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use manifold_core::platform::{
    BackendRequest, BackendResponse, ClientError, ClientErrorKind, MemoryStore, PoolSpec, Rate,
    Store, StoreError, Stores, Taken,
};
use manifold_core::{BoxFuture, Clock, HttpClient, Platform, RequestRecord, Sink, Sleep};

/// Virtual time: a clock plus timers that fire when [`run`] advances the time.
#[derive(Clone, Default)]
pub struct FakeTime {
    inner: Arc<Mutex<TimeState>>,
}

#[derive(Default)]
struct TimeState {
    now_ms: u64,
    timers: Vec<(u64, Arc<Mutex<TimerState>>)>,
}

#[derive(Default)]
struct TimerState {
    fired: bool,
    waker: Option<Waker>,
}

impl std::fmt::Debug for FakeTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeTime({} ms)", self.now_millis())
    }
}

impl FakeTime {
    /// Start at a fixed instant (2026-01-01T00:00:00Z) so outputs are reproducible.
    pub fn new() -> Self {
        let t = Self::default();
        t.inner.lock().unwrap().now_ms = 1_767_225_600_000;
        t
    }

    /// A timer that fires `after` from now.
    pub fn timer(&self, after: Duration) -> BoxFuture<'static, ()> {
        let mut s = self.inner.lock().unwrap();
        let deadline = s.now_ms + u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        let timer = Arc::new(Mutex::new(TimerState::default()));
        s.timers.push((deadline, timer.clone()));
        Box::pin(std::future::poll_fn(move |cx| {
            let mut t = timer.lock().unwrap();
            if t.fired {
                Poll::Ready(())
            } else {
                t.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }))
    }

    /// Move virtual time forward by `by` (a client waiting between requests), firing every
    /// timer due by then.
    pub fn advance_by(&self, by: Duration) {
        let mut s = self.inner.lock().unwrap();
        s.now_ms += u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let now = s.now_ms;
        for (deadline, timer) in &s.timers {
            if *deadline <= now {
                let mut t = timer.lock().unwrap();
                t.fired = true;
                if let Some(w) = t.waker.take() {
                    w.wake();
                }
            }
        }
    }

    /// Jump to the earliest pending timer and fire every timer due by then. False when no
    /// timer is pending.
    fn advance(&self) -> bool {
        let mut s = self.inner.lock().unwrap();
        s.timers
            .retain(|(_, t)| Arc::strong_count(t) > 1 && !t.lock().unwrap().fired);
        let Some(next) = s.timers.iter().map(|(d, _)| *d).min() else {
            return false;
        };
        s.now_ms = s.now_ms.max(next);
        let now = s.now_ms;
        for (deadline, timer) in &s.timers {
            if *deadline <= now {
                let mut t = timer.lock().unwrap();
                t.fired = true;
                if let Some(w) = t.waker.take() {
                    w.wake();
                }
            }
        }
        true
    }
}

impl Clock for FakeTime {
    fn now_millis(&self) -> u64 {
        self.inner.lock().unwrap().now_ms
    }
}

impl Sleep for FakeTime {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.timer(duration)
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Drive `fut` to completion on the current thread. When it is stuck and only timers can
/// make progress, virtual time jumps to the next timer. Panics if it can never finish.
pub fn run<F: Future>(time: &FakeTime, fut: F) -> F::Output {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        if !flag.0.load(Ordering::SeqCst) && !time.advance() {
            panic!("future stalled: nothing to wake it and no timer pending");
        }
    }
}

/// What a scripted backend answers.
#[derive(Debug, Clone, Default)]
pub struct MockReply {
    /// Status code (default 200).
    pub status: u16,
    /// Response headers (several values per name allowed).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Bytes,
    /// Virtual delay before the answer.
    pub delay: Duration,
    /// Fail instead of answering (connection refused).
    pub refuse: bool,
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// Method sent.
    pub method: String,
    /// Full URL sent.
    pub url: String,
    /// Headers sent (lower-case names).
    pub headers: BTreeMap<String, Vec<String>>,
    /// Body sent.
    pub body: Bytes,
}

/// A scripted in-memory backend: replies keyed by URL (exact, including the query), or by URL
/// without the query as a fallback. Unknown URLs get Go's `404 page not found`.
#[derive(Clone, Default)]
pub struct MockClient {
    replies: Arc<Mutex<Vec<(String, MockReply)>>>,
    calls: Arc<Mutex<Vec<RecordedCall>>>,
    time: FakeTime,
}

impl std::fmt::Debug for MockClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockClient").finish_non_exhaustive()
    }
}

impl MockClient {
    /// A mock whose delays run on `time`.
    pub fn new(time: FakeTime) -> Self {
        Self {
            time,
            ..Default::default()
        }
    }

    /// Script the reply for `url` (replacing an earlier script for the same URL).
    pub fn reply(&self, url: &str, reply: MockReply) {
        let mut replies = self.replies.lock().unwrap();
        match replies.iter_mut().find(|(u, _)| u == url) {
            Some(slot) => slot.1 = reply,
            None => replies.push((url.to_owned(), reply)),
        }
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.calls.lock().unwrap().clone()
    }

    fn find(&self, url: &str) -> Option<MockReply> {
        let replies = self.replies.lock().unwrap();
        let no_query = url.split('?').next().unwrap_or(url);
        replies
            .iter()
            .find(|(u, _)| u == url)
            .or_else(|| replies.iter().find(|(u, _)| u == no_query))
            .map(|(_, r)| r.clone())
    }
}

impl HttpClient for MockClient {
    fn send(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let url = request.uri().to_string();
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in request.headers() {
            headers
                .entry(k.as_str().to_owned())
                .or_default()
                .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        self.calls.lock().unwrap().push(RecordedCall {
            method: request.method().to_string(),
            url: url.clone(),
            headers,
            body: request.body().clone(),
        });
        let reply = self.find(&url).unwrap_or_else(|| MockReply {
            status: 404,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: Bytes::from_static(b"404 page not found\n"),
            ..Default::default()
        });
        let delay = (!reply.delay.is_zero()).then(|| self.time.timer(reply.delay));
        Box::pin(async move {
            if let Some(d) = delay {
                d.await;
            }
            if reply.refuse {
                return Err(ClientError::new(
                    ClientErrorKind::Connect,
                    "connection refused",
                ));
            }
            if reply.body.len() > max_body {
                return Err(ClientError::new(
                    ClientErrorKind::BodyTooLarge,
                    "body too large",
                ));
            }
            let mut response = http::Response::new(reply.body);
            *response.status_mut() =
                http::StatusCode::from_u16(if reply.status == 0 { 200 } else { reply.status })
                    .unwrap();
            for (k, v) in reply.headers {
                response.headers_mut().append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(&v).unwrap(),
                );
            }
            Ok(response)
        })
    }
}

/// Ids counted up from 1, so trace, span and request ids in a scenario are predictable: a
/// request's trace id is `…01…02`, its server and proxy spans the next numbers, and so on.
#[derive(Debug, Default)]
pub struct Counter(std::sync::atomic::AtomicU64);

impl manifold_core::Random for Counter {
    fn next_u64(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Shared pools for scenarios: every pool is an in-memory store on virtual time, except a pool
/// whose address starts with `down.`, which never answers (an unreachable Redis), so the
/// failure policy can be tested without a server. The platform's shared HTTP cache (the
/// Cache API on Workers) is one in-memory store for every backend.
#[derive(Clone)]
pub struct TestStores {
    time: FakeTime,
    http_cache: Arc<MemoryStore>,
}

impl std::fmt::Debug for TestStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStores").finish_non_exhaustive()
    }
}

/// The store of a `down.` pool: every operation fails.
struct DownStore;

impl TestStores {
    /// Pools on `time`.
    pub fn new(time: &FakeTime) -> Self {
        let clock = Arc::new(time.clone());
        Self {
            time: time.clone(),
            http_cache: Arc::new(MemoryStore::new(10_000, 1 << 20, clock)),
        }
    }
}

impl Stores for TestStores {
    fn open(&self, pool: &PoolSpec) -> Result<Arc<dyn Store>, StoreError> {
        if pool.address.starts_with("down.") {
            return Ok(Arc::new(DownStore));
        }
        let clock = Arc::new(self.time.clone());
        Ok(Arc::new(MemoryStore::new(10_000, 1 << 20, clock)))
    }

    fn http_cache(&self) -> Option<Arc<dyn Store>> {
        Some(self.http_cache.clone())
    }
}

impl Store for DownStore {
    fn take(&self, _: &str, _: Rate, _: u64) -> BoxFuture<'_, Result<Taken, StoreError>> {
        Box::pin(async { Err(StoreError::new("down")) })
    }

    fn get(&self, _: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        Box::pin(async { Err(StoreError::new("down")) })
    }

    fn put(&self, _: &str, _: Bytes, _: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::new("down")) })
    }
}

/// A sink that keeps every record (the scenarios compare them with `expect.record`).
#[derive(Debug, Clone, Default)]
pub struct Records(Arc<Mutex<Vec<RequestRecord>>>);

impl Records {
    /// The record of the request whose answer carried `request_id`.
    pub fn find(&self, request_id: &str) -> Option<RequestRecord> {
        let records = self.0.lock().unwrap();
        records.iter().find(|r| r.request_id == request_id).cloned()
    }
}

impl Sink for Records {
    fn request(&self, record: &Arc<RequestRecord>) {
        self.0.lock().unwrap().push(RequestRecord::clone(record));
    }
}

/// A platform of a mock client and virtual time, with counted ids, whose shared pools are
/// [`TestStores`].
pub fn platform(client: &MockClient, time: &FakeTime) -> Platform {
    Platform::new(
        Arc::new(client.clone()),
        Arc::new(time.clone()),
        Arc::new(time.clone()),
    )
    .with_random(Arc::new(Counter::default()))
    .with_stores(Arc::new(TestStores::new(time)))
    .with_env(Arc::new(test_env))
}

/// The scenarios' environment: AWS's example credentials (SigV4 test suite) and region, so
/// `backend/lambda` signs deterministically.
fn test_env(name: &str) -> Option<String> {
    let value = match name {
        "AWS_ACCESS_KEY_ID" => "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY" => "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_REGION" => "us-east-1",
        _ => return None,
    };
    Some(value.to_owned())
}
