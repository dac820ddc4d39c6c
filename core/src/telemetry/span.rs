//! One backend call as a client span: started when the HTTP backend has built its request,
//! fed by every hop the call makes (each carries `traceparent` with this span's id), ended —
//! recorded into the request's [`Live`] state — when the call is dropped, whether it finished,
//! failed or was cancelled by a deadline. A failure is recorded once, with its first cause.
//!
//! The span lives in the backend call's own future, and each hop is recorded by the code that
//! awaited it (the redirect loop), so the state is neither shared nor the hop's future wrapped.

use std::sync::{Arc, Mutex, PoisonError};

use http::HeaderValue;

use super::trace_context::{self, TRACEPARENT, TRACESTATE};
use crate::config::capability::{when, OPENTELEMETRY};
use crate::config::Backend;
use crate::platform::{
    BackendCall, BackendOverride, BackendRequest, BackendResponse, BoxFuture, ClientError,
    ClientErrorKind, Clock, Failure, FailureKind, HttpClient, Live, Platform, ReadHeaders,
    RequestContext,
};
use crate::platform::{Body, StreamedResponse};

/// A backend call in progress; records itself when dropped. Inert outside a traced request:
/// then nothing is built (no ids, texts or shared state for a record nobody reads).
pub(crate) struct BackendSpan(Option<Traced>);

/// The span of a call in a traced request.
struct Traced {
    live: Arc<Live>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// What the hops of the call found out.
struct State {
    /// Taken when the span ends (a hop still running after that records nothing).
    call: Option<BackendCall>,
    /// Each hop's `traceparent` is made from this text when it is sent.
    traceparent: Option<trace_context::Traceparent>,
    tracestate: Option<HeaderValue>,
}

/// The platform's client for the hops of one call: each carries `traceparent`, and
/// [`SpanClient::record`] notes what it answered.
pub(crate) struct SpanClient<'a> {
    inner: &'a dyn HttpClient,
    state: Option<&'a Mutex<State>>,
    /// The response headers the caller reads.
    read: ReadHeaders,
}

/// What the spans of a backend's calls are made from, compiled once per backend: its hosts and
/// group as shared texts (not copied per call) and its own `backend` layer.
pub(crate) struct SpanSource {
    hosts: Vec<Arc<str>>,
    group: Option<Arc<str>>,
    overrides: Option<Arc<BackendOverride>>,
}

impl SpanSource {
    /// The source of `backend`'s call spans.
    pub(crate) fn new(backend: &Backend) -> Self {
        Self {
            hosts: backend.host.iter().map(|h| Arc::from(h.as_str())).collect(),
            group: backend.group.as_deref().map(Arc::from),
            // Without `opentelemetry` there is no layer to override (and none of its code).
            overrides: when(OPENTELEMETRY, backend.telemetry.as_deref())
                .map(super::backend_override),
        }
    }
}

// === impl BackendSpan ===

impl BackendSpan {
    /// Start the span of a call of `request` to the backend of `source`, named after its
    /// group or its host.
    pub(crate) fn start(
        context: &RequestContext,
        platform: &Platform,
        source: &SpanSource,
        request: &BackendRequest,
    ) -> Self {
        let SpanSource {
            hosts,
            group: name,
            overrides,
        } = source;
        let overrides = overrides.as_ref();
        let Some(live) = context.trace.clone() else {
            return Self(None);
        };
        let parent = live.call_parent();
        let span_id = if overrides.map_or(live.client_spans, |o| o.span) {
            trace_context::span_id(&*platform.random)
        } else {
            // No span of its own: its `traceparent` names the span the call is part of.
            parent
        };
        let report = match overrides {
            Some(own) => own.headers.as_ref(),
            None => live.reports.as_ref().and_then(|r| r.client.as_ref()),
        };
        let uri = request.uri();
        let host = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => {
                let parts = [scheme, "://", authority.as_str()];
                hosts
                    .iter()
                    .find(|h| is_joined(h, &parts))
                    .cloned()
                    .unwrap_or_else(|| joined(&parts))
            }
            _ => Arc::from(""),
        };
        let (traceparent, tracestate) = if live.propagate {
            (
                Some(trace_context::text(&live.ids, &span_id)),
                live.ids
                    .tracestate
                    .as_deref()
                    .and_then(|s| HeaderValue::from_str(s).ok()),
            )
        } else {
            (None, None)
        };
        let call = BackendCall {
            span_id,
            parent,
            // Without a group the name is the host: one shared text.
            name: name.clone().unwrap_or_else(|| host.clone()),
            host,
            path: uri.path().to_owned(),
            method: crate::platform::method_name(request.method()),
            status: None,
            failure: None,
            start_micros: platform.clock.now_micros(),
            duration_micros: 0,
            bytes: 0,
            headers: report.map(|r| r.pick(request.headers())),
            overrides: overrides.cloned(),
        };
        Self(Some(Traced {
            live,
            clock: platform.clock.clone(),
            state: Mutex::new(State {
                call: Some(call),
                traceparent,
                tracestate,
            }),
        }))
    }

    /// `client` for the hops of this span, whose caller reads `read` of each answer's headers.
    pub(crate) fn client<'a>(
        &'a self,
        client: &'a dyn HttpClient,
        read: ReadHeaders,
    ) -> SpanClient<'a> {
        SpanClient {
            inner: client,
            state: self.0.as_ref().map(|t| &t.state),
            read,
        }
    }

    /// The call failed: with `kind`, unless a hop already recorded what went wrong (a refused
    /// connection stays `refused`); `message` is the gateway's words for it, which name the
    /// backend.
    pub(crate) fn fail(&self, kind: FailureKind, message: &str) {
        let Some(traced) = &self.0 else {
            return;
        };
        let mut state = lock(&traced.state);
        let Some(call) = state.call.as_mut() else {
            return;
        };
        let failure = call.failure.get_or_insert_with(|| Failure {
            kind,
            message: String::new(),
        });
        message.clone_into(&mut failure.message);
    }
}

impl Drop for BackendSpan {
    fn drop(&mut self) {
        let Some(Traced { live, clock, state }) = &self.0 else {
            return;
        };
        let Some(mut call) = lock(state).call.take() else {
            return;
        };
        call.duration_micros = clock.now_micros().saturating_sub(call.start_micros);
        if call.status.is_none() && call.failure.is_none() {
            call.failure = Some(Failure {
                kind: FailureKind::Timeout,
                message:
                    "cancelled before an answer (the deadline passed, or a concurrent call won)"
                        .to_owned(),
            });
        }
        live.push(call);
    }
}

/// `parts` joined into one shared text: one allocation (a short host is put together on the
/// stack first).
fn joined(parts: &[&str]) -> Arc<str> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut buf = [0u8; 128];
    if let Some(dst) = buf.get_mut(..len) {
        let mut at = 0;
        for part in parts {
            if let Some(d) = dst.get_mut(at..at + part.len()) {
                d.copy_from_slice(part.as_bytes());
            }
            at += part.len();
        }
        if let Ok(text) = std::str::from_utf8(dst) {
            return Arc::from(text);
        }
    }
    Arc::from(parts.concat())
}

/// Whether `text` is `parts` joined.
fn is_joined(text: &str, parts: &[&str]) -> bool {
    let mut rest = text;
    for part in parts {
        match rest.strip_prefix(part) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest.is_empty()
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

// === impl SpanClient ===

impl<'a> SpanClient<'a> {
    /// `inner` for the hops of a call with no span (tests of the callers).
    #[cfg(test)]
    pub(crate) fn untraced(inner: &'a dyn HttpClient) -> Self {
        Self {
            inner,
            state: None,
            read: ReadHeaders::All,
        }
    }

    /// Send one hop, with this span's `traceparent`.
    pub(crate) fn send(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        self.inner
            .send_reading(self.stamp(request), max_body, self.read)
    }

    /// [`Self::send`], the answer streamed.
    pub(crate) fn send_streaming(
        &self,
        request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<StreamedResponse, ClientError>> {
        self.inner.send_streaming(self.stamp(request), max_body)
    }

    /// `request` with this span's `traceparent` (and the trace's `tracestate`, or none).
    fn stamp(&self, mut request: BackendRequest) -> BackendRequest {
        if let Some(state) = self.state {
            let s = lock(state);
            if let Some(text) = &s.traceparent {
                let headers = request.headers_mut();
                if let Some(v) = trace_context::value(text) {
                    headers.insert(TRACEPARENT, v);
                }
                match &s.tracestate {
                    Some(v) => {
                        headers.insert(TRACESTATE, v.clone());
                    }
                    // Looked for among the request's few names first: a removal by a custom
                    // name hashes it, which costs more than the walk, and there is usually
                    // none to remove.
                    None if headers.keys().any(|name| *name == TRACESTATE) => {
                        headers.remove(&TRACESTATE);
                    }
                    None => {}
                }
            }
        }
        request
    }

    /// Note what a hop answered: its status and body bytes (a streamed body's are not
    /// counted: the span ends with the head), or its failure unless one is already noted.
    pub(crate) fn record<B: BodyLen>(&self, result: &Result<http::Response<B>, ClientError>) {
        let Some(state) = self.state else {
            return;
        };
        let mut s = lock(state);
        let Some(record) = s.call.as_mut() else {
            return;
        };
        match result {
            Ok(response) => {
                record.status = Some(response.status().as_u16());
                record.bytes = record.bytes.saturating_add(response.body().len_known());
            }
            Err(e) => {
                let kind = match e.kind {
                    ClientErrorKind::Connect => FailureKind::Refused,
                    ClientErrorKind::BodyTooLarge => FailureKind::BodyTooLarge,
                    ClientErrorKind::Protocol => FailureKind::Protocol,
                    #[allow(unreachable_patterns)] // kinds added later read as protocol errors
                    _ => FailureKind::Protocol,
                };
                record.failure.get_or_insert(Failure {
                    kind,
                    message: e.message.clone(),
                });
            }
        }
    }
}

/// The body bytes a hop's answer brought, as far as they are known when it is recorded.
pub(crate) trait BodyLen {
    /// The bytes known (a stream's: none yet).
    fn len_known(&self) -> usize;
}

impl BodyLen for bytes::Bytes {
    fn len_known(&self) -> usize {
        self.len()
    }
}

impl BodyLen for Body {
    fn len_known(&self) -> usize {
        self.full().map_or(0, bytes::Bytes::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_host_is_shared_only_when_it_is_exactly_the_joined_parts() {
        let parts = ["http", "://", "api.internal:8080"];
        assert!(is_joined("http://api.internal:8080", &parts));
        for other in [
            "http://api.internal:80",
            "http://api.internal:8080/",
            "https://api.internal:8080",
            "http:/api.internal:8080",
            "",
        ] {
            assert!(!is_joined(other, &parts), "{other}");
        }
        assert_eq!(&*joined(&parts), "http://api.internal:8080");
    }
}
