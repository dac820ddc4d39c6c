//! Telemetry ports: a source of random ids, and the [`Sink`] that receives one
//! [`RequestRecord`] per answered request. The core builds the record (the access log line and
//! the spans of the request); the adapter chooses where it goes (stderr natively, stdout on
//! Lambda, `console.log` on Workers, an OTLP exporter...).

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::{BoxFuture, MaybeSend, MaybeSync};

/// Random numbers for trace, span and request ids (not for secrets). Natively seeded by the OS,
/// `Math.random()` on Workers, a counter in the tests, so the core itself stays deterministic.
/// Any `Fn() -> u64` closure is one.
pub trait Random: MaybeSend + MaybeSync {
    /// The next random 64-bit number.
    fn next_u64(&self) -> u64;
}

impl<F: Fn() -> u64 + MaybeSend + MaybeSync> Random for F {
    fn next_u64(&self) -> u64 {
        self()
    }
}

/// Where the per-request records go. Called after the answer is complete; it must not block
/// (queue, or write one line).
pub trait Sink: MaybeSend + MaybeSync {
    /// A request arrived (requests in flight); nothing by default.
    fn begin(&self) {}

    /// One answered request, with the backend calls that ended before the answer.
    fn request(&self, record: &RequestRecord);

    /// A backend call that ended after its request was recorded (a shadow call deferred past
    /// the answer): a span of the same trace. Nothing by default.
    fn straggler(&self, trace: &TraceIds, call: &BackendCall) {
        let _ = (trace, call);
    }

    /// Work that must finish before the platform stops this request's execution (a serverless
    /// export): run by the request's after-response facility, or awaited before the answer
    /// where there is none (Lambda). None by default (a sink that writes a line, or whose
    /// exporter runs in the background).
    fn flush(&self) -> Option<BoxFuture<'static, ()>> {
        None
    }
}

/// W3C trace context of one request: the trace it belongs to and its spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    /// The trace id (the client's, when it sent a valid `traceparent`).
    pub trace_id: [u8; 16],
    /// The gateway's server span.
    pub server_span: [u8; 8],
    /// The endpoint's proxy span, parent of the backend spans.
    pub proxy_span: [u8; 8],
    /// The client's span (the parent of the server span), when it sent one.
    pub parent_span: Option<[u8; 8]>,
    /// The trace is sampled (exported).
    pub sampled: bool,
    /// The client's `tracestate`, passed on unchanged.
    pub tracestate: Option<String>,
}

/// One answered request, as the access log and the exporters see it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// When the gateway started on it, microseconds since the Unix epoch (the clock port).
    pub start_micros: u64,
    /// How long the gateway took to answer, in microseconds.
    pub duration_micros: u64,
    /// The request id (the client's valid `X-Request-Id`, or a new one), also in the answer.
    pub request_id: String,
    /// Its trace context.
    pub trace: TraceIds,
    /// The request method.
    pub method: String,
    /// The endpoint template it was routed to (`/users/{id}`); `None` when no endpoint matched.
    pub endpoint: Option<String>,
    /// The request path, without the query (it may carry secrets).
    pub path: String,
    /// The answer's status.
    pub status: u16,
    /// `X-Krakend-Completed` of the answer, when it has one.
    pub completed: Option<bool>,
    /// Bytes of the answer's body.
    pub bytes_out: usize,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// The backend calls that ended before the answer, in the order they ended.
    pub backends: Vec<BackendCall>,
    /// Whether this request belongs in the access log (`router.disable_access_log`,
    /// `router.logger_skip_paths`); metrics and traces see every request.
    pub log: bool,
}

/// One backend call (all the redirects it followed included), a client span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendCall {
    /// The span id sent in `traceparent`.
    pub span_id: [u8; 8],
    /// Its name in `Server-Timing` and metrics: the backend's `group`, else its host.
    pub name: String,
    /// Scheme and authority called (`http://users:8080`).
    pub host: String,
    /// The path called (no query).
    pub path: String,
    /// The method sent.
    pub method: String,
    /// The last status received, if any answer came.
    pub status: Option<u16>,
    /// Why the call failed, if it did (once: the cause, not its consequences).
    pub failure: Option<Failure>,
    /// When it started, microseconds since the Unix epoch.
    pub start_micros: u64,
    /// How long it took, in microseconds.
    pub duration_micros: u64,
    /// Body bytes received (as sent, before any decompression).
    pub bytes: usize,
}

/// Why a backend call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The cause, in words.
    pub message: String,
}

/// The kinds of backend failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No answer before the deadline: the call was cancelled.
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    Refused,
    /// The answer's body was over the limit.
    BodyTooLarge,
    /// The connection broke or the peer broke the protocol.
    Protocol,
    /// The body could not be decoded (bad JSON, bad gzip...).
    BadEncoding,
    /// A status other than 200/201 where data was expected.
    Status,
    /// A redirect that is not followed (another origin, too many).
    Redirect,
}

// === impl FailureKind ===

impl FailureKind {
    /// The name used in the logs and span attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::BodyTooLarge => "body_too_large",
            Self::Protocol => "protocol",
            Self::BadEncoding => "bad_encoding",
            Self::Status => "status",
            Self::Redirect => "redirect",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

// === impl RequestRecord ===

impl RequestRecord {
    /// The record as one JSON object (one line): what Lambda writes to stdout, what Workers
    /// pass to `console.log`, what `--log-format json` shows natively.
    pub fn to_json(&self) -> String {
        let backends: Vec<serde_json::Value> =
            self.backends.iter().map(BackendCall::json).collect();
        let mut object = serde_json::json!({
            "timestamp": crate::time::rfc3339(self.start_micros / 1000, true),
            "level": "INFO",
            "message": "request",
            "request_id": self.request_id,
            "trace_id": hex(&self.trace.trace_id),
            "span_id": hex(&self.trace.server_span),
            "method": self.method,
            "endpoint": self.endpoint,
            "path": self.path,
            "status": self.status,
            "duration_ms": millis(self.duration_micros),
            "completed": self.completed,
            "bytes": self.bytes_out,
            "client": self.client.map(|ip| ip.to_string()),
            "backends": backends,
        });
        if let Some(map) = object.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        object.to_string()
    }

    /// The backend calls as one JSON array (the native text log's `calls` field).
    pub fn backends_json(&self) -> String {
        serde_json::Value::Array(self.backends.iter().map(BackendCall::json).collect()).to_string()
    }
}

/// Microseconds as milliseconds with three decimals.
pub fn millis(micros: u64) -> serde_json::Value {
    let ms = micros as f64 / 1000.0;
    serde_json::Number::from_f64((ms * 1000.0).round() / 1000.0)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

// === impl BackendCall ===

impl BackendCall {
    /// This call as a JSON object.
    pub fn json(&self) -> serde_json::Value {
        let mut object = serde_json::json!({
            "span_id": hex(&self.span_id),
            "host": self.host,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "failure": self.failure.as_ref().map(|f| f.kind.as_str()),
            "error": self.failure.as_ref().map(|f| f.message.as_str()),
            "duration_ms": millis(self.duration_micros),
            "bytes": self.bytes,
        });
        if let Some(map) = object.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        object
    }
}

/// The live state of one request, shared by its backend calls through the
/// [`super::RequestContext`]: ids and the calls that ended so far.
pub(crate) struct Live {
    pub(crate) ids: TraceIds,
    /// Send `traceparent` to the backends.
    pub(crate) propagate: bool,
    /// The endpoint the router chose.
    pub(crate) endpoint: OnceLock<String>,
    calls: Mutex<Vec<BackendCall>>,
    /// The request was recorded: later calls go to the sink on their own.
    recorded: AtomicBool,
    sink: Option<Arc<dyn Sink>>,
}

impl Live {
    pub(crate) fn new(ids: TraceIds, propagate: bool, sink: Option<Arc<dyn Sink>>) -> Self {
        Self {
            ids,
            propagate,
            endpoint: OnceLock::new(),
            calls: Mutex::new(Vec::new()),
            recorded: AtomicBool::new(false),
            sink,
        }
    }

    /// A backend call ended.
    pub(crate) fn push(&self, call: BackendCall) {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        if self.recorded.load(Ordering::Acquire) {
            drop(calls);
            if let Some(sink) = &self.sink {
                sink.straggler(&self.ids, &call);
            }
        } else {
            calls.push(call);
        }
    }

    /// The calls so far; later ones are stragglers.
    pub(crate) fn take(&self) -> Vec<BackendCall> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        self.recorded.store(true, Ordering::Release);
        std::mem::take(&mut *calls)
    }
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}
