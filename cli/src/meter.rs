//! What each client request cost at the backends: a wrapper [`HttpClient`] records every
//! outbound call (URL, outcome, bytes, time) into the calling request's [`scope`].
//!
//! The core runs a request's backend calls inside the request's own future (it has no runtime
//! to spawn on), so a tokio task-local set around that future sees all of them, including
//! redirect hops, and calls cancelled by a timeout.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use manifold_core::platform::{
    BackendRequest, BackendResponse, Body, ClientError, ClientErrorKind, ReadHeaders,
    StreamedResponse,
};
use manifold_core::{BoxFuture, HttpClient};
use tokio::time::Instant;

/// One outbound call made while answering a client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendCall {
    /// The method sent.
    pub method: Method,
    /// The full backend URL.
    pub url: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Response body bytes received (as sent by the backend, before any decompression).
    pub bytes: usize,
    /// From sending the request to having the whole body (or to the cancellation).
    pub elapsed: Duration,
}

/// How a backend call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status arrived.
    Status(u16),
    /// No response: the client reported this failure.
    Failed(ClientErrorKind),
    /// Dropped before it finished (the endpoint's deadline passed, or the client went away).
    Cancelled,
}

/// An [`HttpClient`] that records every call into the current request's [`scope`]; outside a
/// scope it only forwards.
pub struct MeteredClient {
    inner: Arc<dyn HttpClient>,
}

/// The calls of one request, shared with the futures that record them.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<BackendCall>>>);

/// Records a call's end; on drop without [`Pending::finish`], records a cancellation.
struct Pending {
    calls: Calls,
    slot: usize,
    start: Instant,
    finished: bool,
}

tokio::task_local! {
    static CALLS: Calls;
}

/// Run `work` (one client request) and return its output with the backend calls it made.
pub async fn scope<F: Future>(work: F) -> (F::Output, Vec<BackendCall>) {
    let calls = Calls::default();
    let output = CALLS.scope(calls.clone(), work).await;
    let recorded = std::mem::take(&mut *calls.lock());
    (output, recorded)
}

// === impl MeteredClient ===

impl MeteredClient {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn HttpClient>) -> Self {
        Self { inner }
    }
}

impl std::fmt::Debug for MeteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredClient").finish_non_exhaustive()
    }
}

impl HttpClient for MeteredClient {
    fn send(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        self.metered(request, |r| self.inner.send(r, max_body), Bytes::len)
    }

    fn send_reading(
        &self,
        request: BackendRequest,
        max_body: usize,
        headers: ReadHeaders,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let call = |r| self.inner.send_reading(r, max_body, headers);
        self.metered(request, call, Bytes::len)
    }

    fn send_streaming(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<StreamedResponse, ClientError>> {
        // A streamed body is not counted: the call ends with its head.
        let len = |b: &Body| b.full().map_or(0, Bytes::len);
        self.metered(request, |r| self.inner.send_streaming(r, max_body), len)
    }
}

impl MeteredClient {
    /// One call through `call`, recorded into the current scope (`len`: its body bytes).
    fn metered<B: Send + 'static>(
        &self,
        request: BackendRequest,
        call: impl FnOnce(BackendRequest) -> BoxFuture<'static, Result<http::Response<B>, ClientError>>,
        len: fn(&B) -> usize,
    ) -> BoxFuture<'static, Result<http::Response<B>, ClientError>> {
        let Ok(calls) = CALLS.try_with(Calls::clone) else {
            return call(request);
        };
        let slot = {
            let mut list = calls.lock();
            list.push(BackendCall {
                method: request.method().clone(),
                url: request.uri().to_string(),
                outcome: Outcome::Cancelled,
                bytes: 0,
                elapsed: Duration::ZERO,
            });
            list.len() - 1
        };
        let call = call(request);
        let mut pending = Pending {
            calls,
            slot,
            start: Instant::now(),
            finished: false,
        };
        Box::pin(async move {
            let result = call.await;
            pending.finish(
                result
                    .as_ref()
                    .map(|r| (r.status().as_u16(), len(r.body())))
                    .map_err(|e| e.kind.clone()),
            );
            result
        })
    }
}

// === impl Calls ===

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<BackendCall>> {
        // A panic elsewhere must not stop the accounting; the data is plain values.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// === impl Pending ===

impl Pending {
    fn finish(&mut self, result: Result<(u16, usize), ClientErrorKind>) {
        self.finished = true;
        let elapsed = self.start.elapsed();
        if let Some(call) = self.calls.lock().get_mut(self.slot) {
            call.elapsed = elapsed;
            match result {
                Ok((status, bytes)) => {
                    call.outcome = Outcome::Status(status);
                    call.bytes = bytes;
                }
                Err(kind) => call.outcome = Outcome::Failed(kind),
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.finished {
            let elapsed = self.start.elapsed();
            if let Some(call) = self.calls.lock().get_mut(self.slot) {
                call.elapsed = elapsed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;

    /// Answers `/ok` with a 3-byte body, `/fail` with a connect error, and never answers
    /// anything else.
    struct Scripted;

    impl HttpClient for Scripted {
        fn send(
            &self,
            request: BackendRequest,
            _max_body: usize,
        ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
            let path = request.uri().path().to_owned();
            Box::pin(async move {
                match path.as_str() {
                    "/ok" => Ok(http::Response::new(Bytes::from_static(b"abc"))),
                    "/fail" => Err(ClientError::new(ClientErrorKind::Connect, "refused")),
                    _ => std::future::pending().await,
                }
            })
        }
    }

    fn get(path: &str) -> BackendRequest {
        http::Request::get(format!("http://backend{path}"))
            .body(Bytes::new())
            .unwrap()
    }

    #[tokio::test]
    async fn records_each_call_of_the_scope() {
        let client = MeteredClient::new(Arc::new(Scripted));
        let ((), calls) = scope(async {
            client.send(get("/ok"), 10).await.unwrap();
            client.send(get("/fail"), 10).await.unwrap_err();
            // A call dropped before it ends, as the endpoint deadline does.
            drop(client.send(get("/hang"), 10));
        })
        .await;
        let outcomes: Vec<_> = calls
            .iter()
            .map(|c| (c.url.as_str(), &c.outcome, c.bytes))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("http://backend/ok", &Outcome::Status(200), 3),
                (
                    "http://backend/fail",
                    &Outcome::Failed(ClientErrorKind::Connect),
                    0
                ),
                ("http://backend/hang", &Outcome::Cancelled, 0),
            ]
        );
    }

    #[tokio::test]
    async fn outside_a_scope_calls_are_only_forwarded() {
        let client = MeteredClient::new(Arc::new(Scripted));
        assert_eq!(client.send(get("/ok"), 10).await.unwrap().body().len(), 3);
        let ((), calls) = scope(async {}).await;
        assert!(calls.is_empty());
    }
}
